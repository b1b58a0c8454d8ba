"""How to report few-shot accuracy: fixed test tasks, mean with a 95% confidence interval, paired differences.

The protocol of the papers and of ``docs/benchmarks.md``:

1. draw the test tasks once, from classes no model trained on, with a fixed
   seed, and give every method the *same* tasks;
2. report the mean query accuracy over the tasks with the half-width of its
   95% confidence interval, ``1.96 * std / sqrt(n_tasks)``
   (:func:`metaaug.fewshot.mean_ci95`); more tasks give a narrower interval;
3. to compare two methods, take the per-task differences
   (:func:`metaaug.fewshot.task_accuracies`) and report their mean and
   interval: a difference whose interval excludes 0 is one the test tasks
   resolve.

Methods: pixel nearest neighbour (no training) and ProtoNets meta-trained on
the labeled training classes. Data: scikit-learn's digits (train on 0-4,
test on 5-9); on these 8x8 images the pixel baseline wins, and the paired
interval shows by how much.

    python examples/evaluate_protocol.py                     # about a minute on 2 CPU cores
    python examples/evaluate_protocol.py --shots 1,5 --tasks 100,400,1600
"""

from __future__ import annotations

import argparse

import numpy as np

from metaaug.data import LabeledTaskSampler, load_digits
from metaaug.fewshot import PixelNearestNeighbor, ProtoNetClassifier, mean_ci95, task_accuracies


def percent(values: np.ndarray) -> str:
    mean, ci95 = mean_ci95(values)
    return f"{100 * mean:5.1f} ± {100 * ci95:.1f}"


def main(argv: list[str] | None = None) -> dict[str, np.ndarray]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=300, help="ProtoNets meta-training iterations")
    parser.add_argument("--tasks", default="50,200,800", help="comma-separated numbers of test tasks")
    parser.add_argument("--shots", default="1", help="comma-separated k_shot values, e.g. 1,5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.tasks.split(",")]
    X, y = load_digits()
    train, test = y < 5, y >= 5
    test_sampler = LabeledTaskSampler(X[test], y[test])

    accuracies: dict[str, np.ndarray] = {}
    for k_shot in (int(k) for k in args.shots.split(",")):
        # 1. the test tasks: drawn once, seeded, shared by every method
        tasks = test_sampler.sample_tasks(max(counts), n_ways=5, k_shot=k_shot, k_query=15, random_state=args.seed)
        methods = {
            "pixel nearest neighbour": PixelNearestNeighbor().fit(),
            "ProtoNets (labeled training classes)": ProtoNetClassifier(
                k_shot=k_shot, n_iterations=args.iterations, random_state=args.seed
            ).fit(X[train], y[train]),
        }
        print(f"\n5-way {k_shot}-shot, 15 queries per class; accuracy (%) over the first n test tasks:")
        print(f"{'method':40s}" + "".join(f"{f'n = {n}':>16s}" for n in counts))
        per_task = {}
        for name, method in methods.items():
            per_task[name] = task_accuracies(method.predict, tasks)  # one accuracy per task
            accuracies[f"{name}, {k_shot}-shot"] = per_task[name]
            # 2. mean and 95% CI; the interval shrinks like 1 / sqrt(n)
            print(f"{name:40s}" + "".join(f"{percent(per_task[name][:n]):>16s}" for n in counts))
        # 3. paired difference on the same tasks
        first, second = per_task.values()
        print(
            f"{'difference (ProtoNets - pixel), paired':40s}"
            + "".join(f"{percent(second[:n] - first[:n]):>16s}" for n in counts)
        )
    return accuracies


if __name__ == "__main__":
    main()
