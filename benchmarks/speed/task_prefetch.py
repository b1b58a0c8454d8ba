"""How long meta-training waits for LASIUM's tasks, with and without prefetching.

A LASIUM sampler at its defaults (AE backend, strategy N) is fitted briefly
on the Omniglot dev split's training images (the decoder's cost does not
depend on how long it trained), then ``ProtoNetClassifier()`` (defaults:
5-way 1-shot, ``k_query=5``, 4 tasks per step) meta-trains on its tasks for
``--steps`` meta-updates with ``prefetch=False`` (sampling and training take
turns) and ``prefetch=True`` (the next chunk of meta-batches is decoded in a
background thread). The wait is the fit's ``task_wait_time_`` (time the
training loop spent getting its next meta-batch) as a share of ``fit_time_``.

    python -m benchmarks.speed.task_prefetch --write benchmarks/results/speed/task_prefetch.md
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import docstring_paragraph, markdown_table, publish_report, report_text
from benchmarks.tables._shared import env_threads
from metaaug import LASIUM, ProtoNetClassifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=192, help="meta-updates per run (3 chunks of 64)")
    parser.add_argument("--lasium-time", type=float, default=30.0, help="seconds to fit LASIUM's AE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--write", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    torch.set_num_threads(env_threads(1))
    start = time.perf_counter()
    (X, _), _ = load_dev_split()
    sampler = LASIUM(max_time=args.lasium_time, verbose=False, random_state=args.seed).fit(X)
    rows = []
    for prefetch in (False, True):
        model = ProtoNetClassifier(n_iterations=args.steps, prefetch=prefetch, random_state=args.seed, verbose=False)
        model.fit(sampler)
        rows.append(
            {
                "prefetch": prefetch,
                "ms per meta-update": f"{1000 * model.fit_time_ / model.n_iter_:.0f}",
                "waiting for tasks (ms per update)": f"{1000 * model.task_wait_time_ / model.n_iter_:.1f}",
                "share of the step": f"{100 * model.task_wait_time_ / model.fit_time_:.1f}%",
            }
        )
        print(rows[-1], flush=True)
    wall = time.perf_counter() - start
    text = report_text(
        "Waiting for LASIUM's tasks during meta-training", docstring_paragraph(__doc__), wall, markdown_table(rows)
    )
    publish_report(text, args.write)


if __name__ == "__main__":
    main()
