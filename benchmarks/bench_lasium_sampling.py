"""Task-sampling speed: LASIUM (VAE / GAN backends of several widths) vs UMTRA, CACTUs, labeled tasks.

Speed does not depend on how well the backend is trained, so each LASIUM is
"fitted" for a single batch (``max_time``) on the Omniglot dev training
images; all of them decode 28x28 images. Reports tasks/s and generated
images/s for 5-way 1-shot 15-query tasks, sampled ``--n-tasks`` at a time
(one batched decoder pass per call, chunked by ``decode_batch_size``).

    python benchmarks/bench_lasium_sampling.py [--n-tasks 200] [--update-docs]
"""
from __future__ import annotations

import argparse
import time

import torch

from metaaug import CACTUs, LASIUM, UMTRA
from metaaug.data import LabeledTaskSampler, load_dev_split
from metaaug.reporting import command_line, hardware_summary, markdown_table, update_benchmarks_doc


def rate(sampler, n_tasks: int, repeats: int) -> float:
    sampler.sample_tasks(min(n_tasks, 8), random_state=0)  # warm-up
    start = time.perf_counter()
    for r in range(repeats):
        sampler.sample_tasks(n_tasks, n_ways=5, k_shot=1, k_query=15, random_state=r)
    return repeats * n_tasks / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-tasks", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--update-docs", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(2)
    wall = time.perf_counter()
    (X, y), _ = load_dev_split()
    rows = []
    samplers = [("LabeledTaskSampler (real labeled images)", LabeledTaskSampler(X, y), 0)]
    samplers.append(("UMTRA (batched affine)", UMTRA(device="cpu").fit(X), 75))
    samplers.append(("CACTUs (PCA, 20 partitions)", CACTUs(n_partitions=20, random_state=0).fit(X), 0))
    for backend, hidden, note in (("vae", 16, "default"), ("vae", 64, "paper width"), ("gan", 16, "default"),
                                  ("gan", 128, "paper width")):
        las = LASIUM(backend=backend, hidden=hidden, max_time=1e-3, random_state=0, device="cpu").fit(X)
        decoded = 75 if backend == "vae" else 80
        samplers.append((f"LASIUM-N {backend.upper()} hidden={hidden} ({note})", las, decoded))
    for name, sampler, generated in samplers:
        n_tasks = args.n_tasks if generated == 0 or "UMTRA" in name else max(4, args.n_tasks // 8)
        tasks_per_s = rate(sampler, n_tasks, args.repeats)
        rows.append({"sampler": name, "tasks/s": f"{tasks_per_s:,.0f}",
                     "generated images/s": f"{tasks_per_s * generated:,.0f}" if generated else "-",
                     "tasks per call": n_tasks})
        print(rows[-1], flush=True)
    wall = time.perf_counter() - wall
    table = markdown_table(rows)
    print(table)
    if args.update_docs:
        body = (f"### Task sampling speed (5-way 1-shot 15-query, 28x28)\n\nCommand: `{command_line()}`\n\n"
                f"Hardware: {hardware_summary()}\n\nWall time: {wall:.0f} s\n\n{table}")
        update_benchmarks_doc("lasium-sampling-speed", body)


if __name__ == "__main__":
    main()
