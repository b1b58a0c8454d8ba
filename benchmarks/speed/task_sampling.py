"""Task sampling speed: metaaug's LabeledTaskSampler next to learn2learn's TaskDataset.

Both draw 5-way 1-shot 15-query tasks of 28x28 images from the same tensors
(the dev split's training alphabets). learn2learn's pipeline is NWays,
KShots, LoadData, RemapLabels over a MetaDataset built with
labels_to_indices (its fastest set-up).

    python -m benchmarks.speed.task_sampling [--tasks 2000] [--chunks 100 250] [--no-docs]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.l2l_baseline import learn2learn_taskset
from benchmarks._harness.reporting import command_line, hardware_summary, markdown_table, publish_section
from benchmarks.tables._shared import env_threads
from metaaug.data import LabeledTaskSampler


def tasks_per_second(draw: Callable[[int], None], n_tasks: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        draw(n_tasks)
        best = min(best, time.perf_counter() - t)
    return n_tasks / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument(
        "--chunks", type=int, nargs="+", default=[100, 250], help="tasks per metaaug sample_tasks call (one row each)"
    )
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    (X, y), _ = load_dev_split()
    sampler = LabeledTaskSampler(X, y)

    def metaaug_draw(chunk: int) -> Callable[[int], None]:
        def draw(n: int) -> None:
            for start in range(0, n, chunk):
                sampler.sample_tasks(min(chunk, n - start), 5, 1, 15, random_state=start)

        return draw

    taskset = learn2learn_taskset(X, y)

    def l2l_draw(n: int) -> None:
        for _ in range(n):
            taskset.sample()

    start = time.perf_counter()
    ours = {chunk: tasks_per_second(metaaug_draw(chunk), args.tasks) for chunk in args.chunks}
    theirs = tasks_per_second(l2l_draw, max(200, args.tasks // 10))
    rows = [
        {
            "sampler": f"metaaug LabeledTaskSampler ({chunk} tasks per call)",
            "tasks/s": f"{speed:,.0f}",
            "ratio to learn2learn": f"{speed / theirs:.1f}x",
        }
        for chunk, speed in ours.items()
    ]
    rows.append(
        {
            "sampler": "learn2learn TaskDataset (NWays, KShots, LoadData, RemapLabels), one task per call",
            "tasks/s": f"{theirs:,.0f}",
            "ratio to learn2learn": "1.0x",
        }
    )
    body = (
        "## Task sampling speed\n\n5-way 1-shot 15-query tasks of 28x28 images drawn from the same tensors "
        "(the 3700 training images of the dev split); best of 3 repeats of "
        f"{args.tasks} tasks (learn2learn: {max(200, args.tasks // 10)}). A call returning more than ~100 "
        "tasks allocates a block above glibc's 32 MB mmap threshold, so every call pays fresh page faults: "
        "hence the lower speed of large calls.\n\n"
        + markdown_table(rows)
        + f"\nCommand: `{command_line()}`  \nHardware: {hardware_summary()}  \n"
        f"Wall time: {time.perf_counter() - start:.0f} s\n"
    )
    publish_section("task-sampling", body, write=not args.no_docs)


if __name__ == "__main__":
    torch.set_num_threads(env_threads(2))
    main()
