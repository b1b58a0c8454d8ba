"""Task sampling speed: metaaug's LabeledTaskSampler next to learn2learn's TaskDataset.

Both draw 5-way 1-shot 15-query tasks of 28x28 images from the same tensors
(the dev split's training alphabets). learn2learn's pipeline is NWays,
KShots, LoadData, RemapLabels over a MetaDataset built with
labels_to_indices (its fastest set-up).

    python benchmarks/bench_task_sampling.py [--tasks 2000] [--no-docs]
"""
from __future__ import annotations

import argparse
import time

import torch

from metaaug._compat import import_learn2learn
from metaaug.data import LabeledTaskSampler, load_dev_split, to_l2l_metadataset
from metaaug.reporting import command_line, hardware_summary, markdown_table, update_benchmarks_doc


def tasks_per_second(draw, n_tasks: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        draw(n_tasks)
        best = min(best, time.perf_counter() - t)
    return n_tasks / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=250, help="tasks per metaaug sample_tasks call")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    l2l = import_learn2learn()
    (X, y), _ = load_dev_split()
    sampler = LabeledTaskSampler(X, y)

    def metaaug_draw(n: int) -> None:
        for start in range(0, n, args.chunk):
            sampler.sample_tasks(min(args.chunk, n - start), 5, 1, 15, random_state=start)

    meta = to_l2l_metadataset(X, y)
    taskset = l2l.data.TaskDataset(meta, task_transforms=[
        l2l.data.transforms.NWays(meta, 5), l2l.data.transforms.KShots(meta, 16),
        l2l.data.transforms.LoadData(meta), l2l.data.transforms.RemapLabels(meta)], num_tasks=-1)

    def l2l_draw(n: int) -> None:
        for _ in range(n):
            taskset.sample()

    ours = tasks_per_second(metaaug_draw, args.tasks)
    theirs = tasks_per_second(l2l_draw, max(200, args.tasks // 10))
    rows = [
        {"sampler": f"metaaug LabeledTaskSampler ({args.chunk} tasks per call)", "tasks/s": f"{ours:,.0f}"},
        {"sampler": "learn2learn TaskDataset (NWays, KShots, LoadData, RemapLabels)", "tasks/s": f"{theirs:,.0f}"},
    ]
    body = ("## Task sampling speed\n\n5-way 1-shot 15-query tasks of 28x28 images (3700 training images). "
            f"Ratio metaaug / learn2learn: {ours / theirs:.1f}x.\n\n" + markdown_table(rows)
            + f"\nCommand: `{command_line()}`  \nHardware: {hardware_summary()}\n")
    print(body)
    if not args.no_docs:
        update_benchmarks_doc("task-sampling", body)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
