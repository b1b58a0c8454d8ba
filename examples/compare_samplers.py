"""Which unsupervised task construction suits your images? LASIUM vs UMTRA vs CACTUs, with ProtoNets.

Each sampler is fitted on the *unlabeled* images of some classes and builds
5-way 1-shot training tasks from them; a Prototypical Network meta-trains on
those tasks and is tested on labeled 5-way 1-shot tasks of the other classes
(the same test tasks for every row). Pixel nearest neighbour (no training) is
the floor. The result is a markdown table of mean accuracy with its 95%
confidence interval. On digits (8x8 pixels, five training classes) pixel
nearest neighbour leads and the table is only a smoke test; on real images
(e.g. Omniglot characters, see ``docs/benchmarks.md``) the samplers win.

Data: your own folder of class subfolders (``--folder PATH``, grey or colour
images of any size in ``PATH/<class>/``, resized to ``--size``; the first half
of the classes, sorted by name, train without labels, the second half test), or scikit-learn's digits (train
on 0-4, test on 5-9).

    python examples/compare_samplers.py               # about a minute on 2 CPU cores
    python examples/compare_samplers.py --folder ~/my_images --size 28 --iterations 1000
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import metaaug
from metaaug.data import LabeledTaskSampler, as_image_source, load_digits
from metaaug.fewshot import PixelNearestNeighbor, ProtoNetClassifier


def load_folder(root: str, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Images of ``root/<class>/*`` resized to ``size`` x ``size`` (grey or RGB, as the files are), and labels."""
    source = as_image_source(Path(root).expanduser(), image_size=size)
    if source.labels is None or int(source.labels.max()) + 1 < 10:
        raise SystemExit(f"{root} needs at least 10 class folders: 5-way tests and training")
    return source.tensor(), source.labels


def load_split(folder: str | None, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unlabeled training images, and the test images with their labels (disjoint classes)."""
    X, y = load_digits() if folder is None else load_folder(folder, size)
    train = y < (int(y.max()) + 1) // 2
    return X[train], X[~train], y[~train]


def main(argv: list[str] | None = None) -> list[dict[str, str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=None, help="a folder of class subfolders (default: scikit-learn digits)")
    parser.add_argument("--size", type=int, default=28, help="image side for --folder")
    parser.add_argument("--epochs", type=int, default=10, help="training epochs of LASIUM's autoencoder")
    parser.add_argument("--iterations", type=int, default=300, help="ProtoNets meta-training iterations")
    parser.add_argument("--test-tasks", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    X_train, X_test, y_test = load_split(args.folder, args.size)
    test_tasks = LabeledTaskSampler(X_test, y_test).sample_tasks(
        args.test_tasks, n_ways=5, k_shot=1, k_query=15, random_state=args.seed
    )
    samplers = {
        "LASIUM (autoencoder latents)": lambda: metaaug.LASIUM(epochs=args.epochs, random_state=args.seed),
        "UMTRA (augmented copies)": lambda: metaaug.UMTRA(random_state=args.seed),
        "CACTUs (k-means on PCA features)": lambda: metaaug.CACTUs(random_state=args.seed),
    }
    rows = []
    mean, ci95 = PixelNearestNeighbor().fit().evaluate(test_tasks)
    rows.append(
        {
            "tasks from": "none: pixel nearest neighbour",
            "accuracy (%)": f"{100 * mean:.1f} ± {100 * ci95:.1f}",
            "seconds": "0",
        }
    )
    for name, make in samplers.items():
        start = time.perf_counter()
        sampler = make().fit(X_train)
        learner = ProtoNetClassifier(
            n_ways=5, k_shot=1, k_query=5, n_iterations=args.iterations, random_state=args.seed
        ).fit(sampler)
        mean, ci95 = learner.evaluate(test_tasks)
        rows.append(
            {
                "tasks from": name,
                "accuracy (%)": f"{100 * mean:.1f} ± {100 * ci95:.1f}",
                "seconds": f"{time.perf_counter() - start:.0f}",
            }
        )
        print(rows[-1], flush=True)
    print(f"\n5-way 1-shot, {args.test_tasks} test tasks of held-out classes:\n")
    print("| " + " | ".join(rows[0]) + " |\n|" + "---|" * len(rows[0]))
    for row in rows:
        print("| " + " | ".join(row.values()) + " |")
    return rows


if __name__ == "__main__":
    main()
