"""The main job in one call: unsupervised meta-learning on Omniglot, next to its baselines.

``python -m metaaug demo`` (``make demo``) runs on the Omniglot subset shipped
with the package (:func:`metaaug.data.load_omniglot_subset`, no download): the
unlabeled images of :data:`OMNIGLOT_TRAIN_ALPHABETS` are all LASIUM, UMTRA and
CACTUs see; each builds few-shot tasks from them on which a ProtoNet
meta-trains; every ProtoNet is then tested on 5-way 1-shot tasks of the
held-out :data:`OMNIGLOT_TEST_ALPHABETS`, next to pixel nearest neighbour (no
training) and a supervised reference (ProtoNets meta-trained on the labeled
training classes). It prints a table with 95% confidence intervals and wall
times, and writes two pictures: tasks LASIUM made, and images its generator
produced for a character it never saw.

``data=PATH`` (``--data PATH``) reads the user's Omniglot folder or zip
instead (same alphabets, so the numbers are comparable with
``docs/benchmarks.md``); ``data="digits"`` is a seconds-long smoke run on
scikit-learn's 8x8 digits (five training classes: too few for a ranking).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.data import LabeledTaskSampler, load_digits, load_omniglot, load_omniglot_subset
from metaaug.data.embedded_omniglot import TEST_ALPHABETS, TRAIN_ALPHABETS
from metaaug.fewshot import PixelNearestNeighbor, ProtoNetClassifier

#: Omniglot alphabets the demo trains on (without labels): 3700 images, 185 characters at 28x28,
#: the training part of the split every table in ``docs/benchmarks.md`` uses.
OMNIGLOT_TRAIN_ALPHABETS = TRAIN_ALPHABETS
#: Omniglot alphabets the demo tests on (1140 images, 57 characters), never seen in training.
OMNIGLOT_TEST_ALPHABETS = TEST_ALPHABETS

#: Default budgets: (ProtoNet meta-training iterations at most, LASIUM generator epochs, test tasks,
#: seconds of meta-training per ProtoNet at most). The time limit keeps the whole demo within about
#: two minutes on a 2-core CPU; a faster machine does more iterations within it.
BUDGETS = {"omniglot": (1000, 3, 200, 15.0), "digits": (300, 10, 200, 10.0), "quick": (100, 1, 100, 5.0)}
#: Width of the ProtoNets' conv4 (channels of the first layer); the benchmarks use 64.
HIDDEN = 32
#: Training queries per class of the meta-training tasks (tests use 15), as in ``docs/benchmarks.md``.
TRAIN_QUERIES = 5


@dataclass
class DemoData:
    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    test: LabeledTaskSampler
    kind: str


def _digits() -> DemoData:
    X, y = load_digits()
    train = y < 5
    return DemoData(
        "sklearn digits (train 0-4, test 5-9)", X[train], y[train], LabeledTaskSampler(X[~train], y[~train]), "digits"
    )


def _embedded() -> DemoData:
    X_train, y_train, _ = load_omniglot_subset("train")
    X_test, y_test, _ = load_omniglot_subset("test")
    return DemoData(
        "Omniglot subset shipped with metaaug (6 unlabeled training alphabets; test: Korean + Tagalog)",
        X_train,
        y_train,
        LabeledTaskSampler(X_test, y_test),
        "omniglot",
    )


def _omniglot(root: str) -> DemoData:
    Xtr, ytr = load_omniglot(root, alphabets=list(OMNIGLOT_TRAIN_ALPHABETS), image_size=28)
    Xte, yte = load_omniglot(root, alphabets=list(OMNIGLOT_TEST_ALPHABETS), image_size=28)
    return DemoData(
        f"Omniglot at {root} (6 unlabeled training alphabets; test: Korean + Tagalog)",
        Xtr,
        ytr,
        LabeledTaskSampler(Xte, yte),
        "omniglot",
    )


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


def _save_pictures(lasium: LASIUM, data: DemoData, out_dir: Path, seed: int) -> list[Path]:
    """LASIUM's tasks, and its generator's images for the first test character (3 seeds)."""
    from metaaug.plotting import generated_grid, save_png

    paths = [lasium.plot_tasks(out_dir / "lasium_tasks.png", n_tasks=2, k_query=5, random_state=seed)]
    generator = getattr(lasium, "backend_", None)
    if hasattr(generator, "generate"):
        X_test, y_test = data.test.X, data.test.y
        seeds = X_test[y_test == y_test[0]][:3]
        images = generator.generate(seeds, 30, random_state=seed)  # type: ignore[union-attr]
        paths.append(save_png(generated_grid(seeds, images), out_dir / "generated_new_character.png"))
    return paths


def run_demo(
    data: str | None = None,
    n_test_tasks: int | None = None,
    n_iterations: int | None = None,
    epochs: int | None = None,
    random_state: int = 0,
    verbose: bool = True,
    print_fn: Callable[[str], None] | None = print,
    quick: bool = False,
    out_dir: str | Path | None = "metaaug-demo",
    max_time: float | None = None,
) -> str:
    """Run the demo table (5-way 1-shot, 15 queries) and return it as markdown.

    Parameters
    ----------
    data : str, optional
        ``None``: the Omniglot subset shipped with metaaug (training on
        :data:`OMNIGLOT_TRAIN_ALPHABETS` without labels, testing on
        :data:`OMNIGLOT_TEST_ALPHABETS`); a path: the same split read from an
        Omniglot folder or zip; ``"digits"``: sklearn's digits, classes 0-4 for
        training, 5-9 for testing (a smoke run, not a ranking).
    n_test_tasks : int, optional
        Test episodes per row (accuracy mean and 95% CI over them); default in :data:`BUDGETS`.
    n_iterations : int, optional
        Meta-training iterations of every ProtoNet at most; default in :data:`BUDGETS`.
    epochs : int, optional
        Training epochs of LASIUM's generator; default in :data:`BUDGETS`.
    random_state : int, default=0
        Seeds the test tasks and every fit.
    verbose : bool, default=True
        A line per phase, the progress bars of the fits, and a line per row as it finishes.
    print_fn : callable or None, default=print
        Where the lines and the final table go; ``None`` prints nothing.
    quick : bool, default=False
        The ``"quick"`` budgets of :data:`BUDGETS` (explicit arguments still win).
    out_dir : path or None, default="metaaug-demo"
        Folder for the two pictures (``lasium_tasks.png``,
        ``generated_new_character.png``), created if missing; ``None`` writes none.
    max_time : float, optional
        Seconds of meta-training per ProtoNet at most (``n_iterations`` still
        caps them); default in :data:`BUDGETS`.

    Returns
    -------
    str
        The markdown table and a footer naming the data, the budgets, the
        pictures and the machine.
    """
    start = time.perf_counter()
    if data in (None, "omniglot-subset"):
        demo = _embedded()
    elif data == "digits":
        demo = _digits()
    else:
        demo = _omniglot(str(data))
    default_iterations, default_epochs, default_tasks, default_seconds = BUDGETS["quick" if quick else demo.kind]
    iterations = n_iterations or default_iterations
    seconds = default_seconds if max_time is None else max_time
    n_epochs = epochs or default_epochs
    n_test_tasks = n_test_tasks or default_tasks
    say = print_fn if (verbose and print_fn is not None) else None
    phases = 6 + (out_dir is not None)
    phase = 0

    def announce(text: str) -> None:
        nonlocal phase
        phase += 1
        if say is not None:
            say(f"[{phase}/{phases}] {text}")

    tasks = demo.test.sample_tasks(n_test_tasks, n_ways=5, k_shot=1, k_query=15, random_state=random_state)
    rows: list[dict[str, str]] = []
    done: list[int] = []  # meta-training iterations of each ProtoNet

    def add(label: str, mean_ci: tuple[float, float], seconds: float) -> None:
        rows.append(
            {
                "method": label,
                "5-way 1-shot accuracy (%)": _accuracy(*mean_ci),
                "wall time (s)": f"{seconds:.1f}",
            }
        )
        if say is not None:
            say(f"      {label}: {_accuracy(*mean_ci)} % in {seconds:.1f} s")

    def protonet_row(label: str, make_sampler: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        sampler = make_sampler()
        clf = ProtoNetClassifier(
            n_iterations=iterations,
            k_query=TRAIN_QUERIES,
            hidden=HIDDEN,
            max_time=seconds,
            random_state=random_state,
            verbose=verbose,
        )
        clf.fit(sampler)
        done.append(int(clf.n_iter_))
        add(label, clf.evaluate(tasks), time.perf_counter() - t0)
        return sampler

    announce(f"pixel nearest neighbour on {n_test_tasks} test tasks (no training)")
    t0 = time.perf_counter()
    add("pixel nearest neighbour (no training)", PixelNearestNeighbor().fit().evaluate(tasks), time.perf_counter() - t0)

    announce(f"LASIUM: training its generator ({n_epochs} epochs at most), then meta-training a ProtoNet on its tasks")
    lasium = protonet_row(
        "LASIUM + ProtoNets (unlabeled)",
        lambda: LASIUM(epochs=n_epochs, max_time=seconds, random_state=random_state, verbose=verbose).fit(demo.X_train),
    )
    announce("UMTRA: meta-training a ProtoNet on tasks of augmented unlabeled images")
    protonet_row("UMTRA + ProtoNets (unlabeled)", lambda: UMTRA(random_state=random_state).fit(demo.X_train))
    announce("CACTUs: clustering the unlabeled images (PCA + k-means), then meta-training a ProtoNet")
    protonet_row("CACTUs + ProtoNets (unlabeled)", lambda: CACTUs(random_state=random_state).fit(demo.X_train))
    announce("supervised reference: meta-training a ProtoNet on the labeled training classes")
    protonet_row("ProtoNets on labeled classes (reference)", lambda: LabeledTaskSampler(demo.X_train, demo.y_train))

    pictures: list[Path] = []
    if out_dir is not None:
        announce(f"pictures in {out_dir}")
        pictures = _save_pictures(lasium, demo, Path(out_dir), random_state)
    announce("done")

    table = _markdown(rows)
    footer = (
        f"\n{demo.name}; {n_test_tasks} test tasks of 15 queries per class; ProtoNets (conv4, width {HIDDEN}) "
        f"meta-trained for at most {seconds:g} s or {iterations} iterations each (done: "
        f"{', '.join(map(str, done))}), LASIUM's generator for at most {n_epochs} epochs or {seconds:g} s; total "
        f"{time.perf_counter() - start:.0f} s on {_machine()}\n"
    )
    if demo.kind == "digits":
        footer += (
            "Digits is a smoke test: with 5 training classes every meta-training task has the same classes, "
            "so meta-learners barely beat pixel nearest neighbour; run without --data for the Omniglot subset.\n"
        )
    else:
        footer += (
            "The unsupervised rows never saw a label; the reference row shows what labels add. "
            "Longer budgets: docs/benchmarks.md.\n"
        )
    for path in pictures:
        footer += f"picture: {path}\n"
    if print_fn is not None:
        print_fn(table + footer)
    return table + footer
