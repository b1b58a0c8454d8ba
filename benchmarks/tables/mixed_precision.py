"""bf16 autocast against float32 for meta-training on the CPU: speed and accuracy on the Omniglot dev split.

Supervised ProtoNets (defaults, ``k_query=15`` in meta-training as the
published baseline rows) trained for the same ``--max-time`` seconds on the 6
training alphabets with ``precision="fp32"`` and ``precision="bf16"``, then
evaluated in float32 on the same ``--test-tasks`` 5-way 1-shot 15-query tasks
of Korean + Tagalog. Speed is meta-updates per second of the training loop. A third row trains
float32 for as many meta-updates as bf16 managed, to compare the arithmetic
at equal work.

    python -m benchmarks.tables.mixed_precision --max-time 300 --write benchmarks/results/mixed_precision.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import (
    docstring_paragraph,
    format_accuracy,
    markdown_table,
    publish_report,
    report_text,
)
from benchmarks.tables._shared import env_threads
from metaaug import ProtoNetClassifier
from metaaug.data import LabeledTaskSampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-time", type=float, default=300.0, help="seconds of meta-training per precision")
    parser.add_argument("--test-tasks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(env_threads(1))
    start = time.perf_counter()
    (Xtr, ytr), (Xte, yte) = load_dev_split()
    train, test = LabeledTaskSampler(Xtr, ytr), LabeledTaskSampler(Xte, yte)
    tasks = test.sample_tasks(args.test_tasks, 5, 1, 15, random_state=args.seed)
    rows = []
    budgets: list[tuple[str, int, float | None]] = [
        ("fp32", 1_000_000, args.max_time),
        ("bf16", 1_000_000, args.max_time),
    ]
    for index in range(3):
        if index == 2:  # float32 again, for as many meta-updates as bf16 managed: the numerics at equal work
            budgets.append(("fp32", int(rows[1]["meta-updates"]), None))
        precision, n_iterations, max_time = budgets[index]
        model = ProtoNetClassifier(
            k_query=15,
            n_iterations=n_iterations,
            max_time=max_time,
            precision=precision,
            random_state=args.seed,
            verbose=False,
        ).fit(train)
        mean, ci95 = model.evaluate(tasks)
        rows.append(
            {
                "precision": precision,
                "budget": f"{max_time:.0f} s" if max_time is not None else f"{n_iterations} updates",
                "meta-updates": model.n_iter_,
                "train (s)": f"{model.fit_time_:.0f}",
                "updates/s": f"{model.n_iter_ / model.fit_time_:.2f}",
                "5-way 1-shot (%)": format_accuracy(mean, ci95),
            }
        )
        print(rows[-1], flush=True)
    ratio = float(rows[1]["updates/s"]) / float(rows[0]["updates/s"])
    wall = time.perf_counter() - start
    text = report_text(
        "bf16 autocast against float32 (ProtoNets, Omniglot dev split)",
        docstring_paragraph(__doc__),
        wall,
        markdown_table(rows),
        f"bf16 runs {ratio:.2f}x as many meta-updates per second as float32.",
    )
    publish_report(text, args.write)


if __name__ == "__main__":
    main()
