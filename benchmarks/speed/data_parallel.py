"""Data-parallel meta-training on torch.distributed: 2 processes x 1 thread against 1 process x 1 thread.

The same total work in both runs: ``--steps`` meta-updates of
``meta_batch_size=4`` 5-way 1-shot 15-query tasks of the Omniglot dev split's
training images (28x28); with 2 processes each rank trains on 2 tasks per
step and the gradients are all-reduced (gloo). Prefetching is off, so that
one process uses one core. Throughput is tasks per second
of the fit's training loop (``n_iter_ * 4 / fit_time_`` on rank 0), so process
start-up and data loading are not counted. Each configuration runs in a fresh
process (for 2 processes, with the environment variables ``torchrun`` sets
but without its agent process, which would poll on the same 2 cores) with
``OMP_NUM_THREADS=1``; the fastest of ``--repeats`` runs of each is kept. The ceiling: two
single-process fits run at the same time without a process group (no
communication at all; both start training once both have loaded the data),
their throughputs summed, against one alone.

    python -m benchmarks.speed.data_parallel --write benchmarks/results/speed/data_parallel.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness.reporting import docstring_paragraph, markdown_table, publish_report, report_text

METHODS = ("protonet", "maml")


def worker(method: str, steps: int, seed: int) -> None:
    """Fit one classifier (inside torchrun or alone) and print rank 0's timing as JSON."""
    import torch

    from benchmarks._harness.dev_split import load_dev_split
    from metaaug import MAMLClassifier, ProtoNetClassifier
    from metaaug.data import LabeledTaskSampler
    from metaaug.distributed import init_from_environment, is_main_process

    torch.set_num_threads(1)
    init_from_environment()
    (X, y), _ = load_dev_split()
    wait_for_the_others()
    cls = ProtoNetClassifier if method == "protonet" else MAMLClassifier
    # no prefetch thread: one process must use one core, so the comparison is of the training alone
    model = cls(k_query=15, n_iterations=steps, prefetch=False, verbose=False, random_state=seed)
    model.fit(LabeledTaskSampler(X, y))
    if is_main_process():
        print(json.dumps({"n_iter": model.n_iter_, "fit_time": model.fit_time_, "wait": model.task_wait_time_}))


def wait_for_the_others() -> None:
    """Independent runs start their fits together (after loading the data), as a process group's ranks do."""
    folder, count = os.environ.get("METAAUG_BENCH_BARRIER", ""), int(os.environ.get("METAAUG_BENCH_COUNT", "0"))
    if not folder:
        return
    Path(folder, str(os.getpid())).touch()
    while len(list(Path(folder).iterdir())) < count:
        time.sleep(0.01)


def run(method: str, processes: int, steps: int, seed: int, independent: bool = False) -> dict[str, Any]:
    """One configuration in fresh processes; rank 0's JSON line.

    ``independent=True`` runs ``processes`` single-process fits at the same
    time, without a process group, and sums their throughput: what the
    machine gives two processes that never communicate.
    """
    module = ["-m", "benchmarks.speed.data_parallel", "--worker", method, "--steps", str(steps), "--seed", str(seed)]
    command = [sys.executable, *module]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    barrier = tempfile.TemporaryDirectory()
    if independent:
        env.update({"METAAUG_BENCH_BARRIER": barrier.name, "METAAUG_BENCH_COUNT": str(processes)})
    if processes > 1 and not independent:  # what torchrun sets, without its agent polling on the same cores
        env.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(29400 + os.getpid() % 500)})
        env.update({"WORLD_SIZE": str(processes)})
    ranks = [
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)} if "WORLD_SIZE" in env else env,
        )
        for rank in range(processes)
    ]
    outputs = [process.communicate() for process in ranks]
    barrier.cleanup()
    for process, (_, stderr) in zip(ranks, outputs):
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    results = []
    for stdout, _ in outputs if independent else outputs[:1]:
        result = json.loads([text for text in stdout.splitlines() if text.startswith("{")][-1])
        result["tasks_per_s"] = result["n_iter"] * 4 / result["fit_time"]
        results.append(result)
    return {**results[0], "tasks_per_s": sum(r["tasks_per_s"] for r in results)}


def speed(result: dict[str, Any]) -> float:
    return float(result["tasks_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=0, help="meta-updates per run (default: 60 ProtoNet, 16 MAML)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=2, help="runs per configuration; the fastest is kept")
    parser.add_argument("--write", type=Path, help="also write the markdown report here")
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.seed)
        return
    start = time.perf_counter()
    rows = []
    for method in METHODS:
        steps = args.steps or (60 if method == "protonet" else 16)
        single = max((run(method, 1, steps, args.seed) for _ in range(args.repeats)), key=speed)
        double = max((run(method, 2, steps, args.seed) for _ in range(args.repeats)), key=speed)
        apart = max((run(method, 2, steps, args.seed, independent=True) for _ in range(args.repeats)), key=speed)
        rows.append(
            {
                "method": "ProtoNets" if method == "protonet" else "MAML (second order)",
                "steps": steps,
                "1 process x 1 thread (tasks/s)": f"{single['tasks_per_s']:.1f}",
                "2 processes x 1 thread (tasks/s)": f"{double['tasks_per_s']:.1f}",
                "speed-up": f"{double['tasks_per_s'] / single['tasks_per_s']:.2f}x",
                "2 independent processes (tasks/s, summed)": f"{apart['tasks_per_s']:.1f}",
                "the machine's ceiling": f"{apart['tasks_per_s'] / single['tasks_per_s']:.2f}x",
            }
        )
    wall = time.perf_counter() - start
    text = report_text(
        "Data-parallel meta-training: 2 processes against 1",
        docstring_paragraph(__doc__),
        wall,
        markdown_table(rows),
        threads=False,
    )
    publish_report(text, args.write)


if __name__ == "__main__":
    main()
