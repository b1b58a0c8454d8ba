"""The main job in one call: few-shot accuracy of every method on one split.

``python -m metaaug demo`` (``make demo``) runs on scikit-learn's embedded
digits (classes 0-4 for training, 5-9 for testing) with no download; with
``data=PATH`` it runs on Omniglot (the dev split of ``../shared/data``).
Unsupervised methods see the training images without labels.

On digits the table is a smoke test, not a ranking: five 8x8 training classes
give every meta-training task the same five classes, so meta-learners barely
beat (or trail) pixel nearest neighbour there. The Omniglot run
(``--data PATH``) is the meaningful one; see ``docs/benchmarks.md``.
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from metaaug.data import LabeledTaskSampler, load_digits, load_dev_split
from metaaug.fewshot import PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier
from metaaug.reporting import format_accuracy, hardware_summary, markdown_table


@dataclass
class DemoData:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    test: LabeledTaskSampler
    iterations: int
    epochs: int


def _digits() -> DemoData:
    X, y = load_digits()
    train = y < 5
    return DemoData("digits (train 0-4, test 5-9)", X[train], y[train], LabeledTaskSampler(X[~train], y[~train]),
                    iterations=300, epochs=10)


def _omniglot(root: str) -> DemoData:
    (Xtr, ytr), (Xte, yte) = load_dev_split(root)
    return DemoData("Omniglot dev split (6 train alphabets, test Korean + Tagalog)", Xtr, ytr,
                    LabeledTaskSampler(Xte, yte), iterations=500, epochs=5)


def _optional(module: str, name: str) -> Any | None:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _unsupervised_rows(data: DemoData, seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory of a fitted task sampler) for every landed unsupervised method."""
    rows = []
    LASIUM = _optional("metaaug.samplers.lasium", "LASIUM")
    if LASIUM is not None:
        rows.append(("LASIUM (default AE backend) + ProtoNets",
                     lambda: LASIUM(epochs=data.epochs, random_state=seed, verbose=False).fit(data.X_train)))
    UMTRA = _optional("metaaug.samplers.umtra", "UMTRA")
    if UMTRA is not None:
        rows.append(("UMTRA + ProtoNets", lambda: UMTRA(random_state=seed).fit(data.X_train)))
    CACTUs = _optional("metaaug.samplers.cactus", "CACTUs")
    if CACTUs is not None:
        rows.append(("CACTUs (PCA) + ProtoNets",
                     lambda: CACTUs(embedding="pca", random_state=seed).fit(data.X_train)))
    return rows


def run_demo(data: str | None = None, n_test_tasks: int | None = None, n_iterations: int | None = None,
             epochs: int | None = None, random_state: int = 0, verbose: bool = True,
             print_fn: Callable[[str], None] | None = print, quick: bool = False) -> str:
    """Run the demo table (5-way 1-shot, 15 queries) and return it as markdown.

    Parameters
    ----------
    data : str, optional
        ``None`` for sklearn digits, or an Omniglot folder (dev split).
    n_test_tasks : int, optional
        Test episodes per row (accuracy mean and 95% CI over them); default 300 (100 if ``quick``).
    n_iterations : int, optional
        Meta-training iterations of every ProtoNet (default: 300 digits, 500 Omniglot; 100 if ``quick``).
    epochs : int, optional
        Training epochs of the generative models behind the unsupervised rows (2 if ``quick``).
    quick : bool
        A smoke run: the smaller defaults above (explicit arguments still win).
    """
    if n_test_tasks is None:
        n_test_tasks = 100 if quick else 300
    if quick:
        n_iterations = n_iterations or 100
        epochs = epochs or 2
    start = time.perf_counter()
    demo = _digits() if data in (None, "digits") else _omniglot(data)
    iterations = n_iterations or demo.iterations
    if epochs is not None:
        demo.epochs = epochs
    tasks = demo.test.sample_tasks(n_test_tasks, n_ways=5, k_shot=1, k_query=15, random_state=random_state)
    rows = []

    def add(label: str, run: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        mean, ci = run()
        rows.append({"method": label, "5-way 1-shot accuracy (%)": format_accuracy(mean, ci),
                     "wall time (s)": f"{time.perf_counter() - t0:.1f}"})
        if verbose and print_fn is not None:
            print_fn(f"  {label}: {format_accuracy(mean, ci)}")

    def protonet_on(sampler_factory: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> tuple[float, float]:
            clf = ProtoNetClassifier(n_iterations=iterations, random_state=random_state, verbose=verbose)
            return clf.fit(sampler_factory()).evaluate(tasks)
        return run

    add("pixel nearest neighbour", lambda: PixelNearestNeighbor().fit().evaluate(tasks))
    add("training from scratch (50 SGD steps)",
        lambda: ScratchClassifier(random_state=random_state).fit().evaluate(tasks[:min(len(tasks), 100)]))
    add("supervised ProtoNets (labeled training classes)",
        protonet_on(lambda: LabeledTaskSampler(demo.X_train, demo.y_train)))
    for label, factory in _unsupervised_rows(demo, random_state):
        add(label, protonet_on(factory))

    table = markdown_table(rows)
    footer = (f"\n{demo.name}; {n_test_tasks} test tasks (scratch: at most 100); ProtoNets {iterations} "
              f"iterations; total {time.perf_counter() - start:.0f} s on {hardware_summary()}\n")
    if demo.name.startswith("digits"):
        footer += ("Digits is a smoke test: with 5 training classes every meta-training task has the same "
                   "classes, so meta-learners barely beat pixel-NN; run with --data PATH (Omniglot) "
                   "for a meaningful ranking.\n")
    if print_fn is not None:
        print_fn(table + footer)
    return table + footer
