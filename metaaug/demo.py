"""The main job in one call: few-shot accuracy of every method on one split.

``python -m metaaug demo`` (``make demo``) runs on scikit-learn's embedded
digits (classes 0-4 for training, 5-9 for testing) with no download; with
``data=PATH`` (``--data PATH``) it reads the user's Omniglot folder or zip and
trains on :data:`OMNIGLOT_TRAIN_ALPHABETS`, tests on
:data:`OMNIGLOT_TEST_ALPHABETS`. Unsupervised methods see the training images
without labels.

On digits the table is a smoke test, not a ranking: five 8x8 training classes
give every meta-training task the same five classes, so meta-learners barely
beat (or trail) pixel nearest neighbour there. The Omniglot run
(``--data PATH``) is the meaningful one; see ``docs/benchmarks.md``.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.data import LabeledTaskSampler, load_digits, load_omniglot
from metaaug.fewshot import PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier

#: Omniglot alphabets the demo trains on: the training part of the split every table in
#: ``docs/benchmarks.md`` uses (3700 images, 185 characters at 28x28).
OMNIGLOT_TRAIN_ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Latin", "Japanese_(katakana)", "Sanskrit")
#: Omniglot alphabets the demo tests on (1140 images, 57 characters), never seen in training.
OMNIGLOT_TEST_ALPHABETS = ("Korean", "Tagalog")


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
    return DemoData(
        "digits (train 0-4, test 5-9)",
        X[train],
        y[train],
        LabeledTaskSampler(X[~train], y[~train]),
        iterations=300,
        epochs=10,
    )


def _omniglot(root: str) -> DemoData:
    Xtr, ytr = load_omniglot(root, alphabets=list(OMNIGLOT_TRAIN_ALPHABETS), image_size=28)
    Xte, yte = load_omniglot(root, alphabets=list(OMNIGLOT_TEST_ALPHABETS), image_size=28)
    return DemoData(
        "Omniglot dev split (6 train alphabets, test Korean + Tagalog)",
        Xtr,
        ytr,
        LabeledTaskSampler(Xte, yte),
        iterations=500,
        epochs=5,
    )


def _unsupervised_rows(data: DemoData, seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory of a fitted task sampler) for every unsupervised method."""
    return [
        (
            "LASIUM (default AE backend) + ProtoNets",
            lambda: LASIUM(epochs=data.epochs, random_state=seed, verbose=False).fit(data.X_train),
        ),
        ("UMTRA + ProtoNets", lambda: UMTRA(random_state=seed).fit(data.X_train)),
        ("CACTUs (PCA) + ProtoNets", lambda: CACTUs(embedding="pca", random_state=seed).fit(data.X_train)),
    ]


def _accuracy(mean: float, ci95: float) -> str:
    """``"92.31 ± 0.45"`` (percent)."""
    return f"{100 * mean:.2f} ± {100 * ci95:.2f}"


def _markdown(rows: Sequence[dict[str, str]]) -> str:
    """A markdown table of ``rows`` (columns from the first row)."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    """Cores, torch version and threads, GPU if any, Python version."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, {gpu}, Python {platform.python_version()}"
    )


def run_demo(
    data: str | None = None,
    n_test_tasks: int | None = None,
    n_iterations: int | None = None,
    epochs: int | None = None,
    random_state: int = 0,
    verbose: bool = True,
    print_fn: Callable[[str], None] | None = print,
    quick: bool = False,
) -> str:
    """Run the demo table (5-way 1-shot, 15 queries) and return it as markdown.

    Parameters
    ----------
    data : str, optional
        ``None`` (or ``"digits"``) for sklearn digits, or an Omniglot folder or
        zip: training on :data:`OMNIGLOT_TRAIN_ALPHABETS`, testing on
        :data:`OMNIGLOT_TEST_ALPHABETS`.
    n_test_tasks : int, optional
        Test episodes per row (accuracy mean and 95% CI over them); default 300 (100 if ``quick``).
    n_iterations : int, optional
        Meta-training iterations of every ProtoNet (default: 300 digits, 500 Omniglot; 100 if ``quick``).
    epochs : int, optional
        Training epochs of the generative models behind the unsupervised rows (2 if ``quick``).
    random_state : int, default=0
        Seeds the test tasks and every fit.
    verbose : bool, default=True
        Progress bars, and one line per row as it finishes.
    print_fn : callable or None, default=print
        Where the lines and the final table go; ``None`` prints nothing.
    quick : bool, default=False
        A smoke run: the smaller defaults above (explicit arguments still win).

    Returns
    -------
    str
        The markdown table and a footer naming the data, the budgets and the machine.
    """
    if n_test_tasks is None:
        n_test_tasks = 100 if quick else 300
    if quick:
        n_iterations = n_iterations or 100
        epochs = epochs or 2
    start = time.perf_counter()
    demo = _digits() if data in (None, "digits") else _omniglot(str(data))
    iterations = n_iterations or demo.iterations
    if epochs is not None:
        demo.epochs = epochs
    tasks = demo.test.sample_tasks(n_test_tasks, n_ways=5, k_shot=1, k_query=15, random_state=random_state)
    rows = []

    def add(label: str, run: Callable[[], Any]) -> None:
        t0 = time.perf_counter()
        mean, ci = run()
        rows.append(
            {
                "method": label,
                "5-way 1-shot accuracy (%)": _accuracy(mean, ci),
                "wall time (s)": f"{time.perf_counter() - t0:.1f}",
            }
        )
        if verbose and print_fn is not None:
            print_fn(f"  {label}: {_accuracy(mean, ci)}")

    def protonet_on(sampler_factory: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> tuple[float, float]:
            clf = ProtoNetClassifier(n_iterations=iterations, random_state=random_state, verbose=verbose)
            return clf.fit(sampler_factory()).evaluate(tasks)

        return run

    add("pixel nearest neighbour", lambda: PixelNearestNeighbor().fit().evaluate(tasks))
    add(
        "training from scratch (50 SGD steps)",
        lambda: ScratchClassifier(random_state=random_state).fit().evaluate(tasks[: min(len(tasks), 100)]),
    )
    add(
        "supervised ProtoNets (labeled training classes)",
        protonet_on(lambda: LabeledTaskSampler(demo.X_train, demo.y_train)),
    )
    for label, factory in _unsupervised_rows(demo, random_state):
        add(label, protonet_on(factory))

    table = _markdown(rows)
    footer = (
        f"\n{demo.name}; {n_test_tasks} test tasks (scratch: at most 100); ProtoNets {iterations} "
        f"iterations; total {time.perf_counter() - start:.0f} s on {_machine()}\n"
    )
    if demo.name.startswith("digits"):
        footer += (
            "Digits is a smoke test: with 5 training classes every meta-training task has the same "
            "classes, so meta-learners barely beat pixel-NN; run with --data PATH (Omniglot) "
            "for a meaningful ranking.\n"
        )
    if print_fn is not None:
        print_fn(table + footer)
    return table + footer
