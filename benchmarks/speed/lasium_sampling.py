"""Task-sampling speed: LASIUM (VAE / GAN / AE backends, with and without class reuse) vs UMTRA, CACTUs, labeled tasks.

Speed does not depend on how well the backend is trained, so each LASIUM is
"fitted" for a single batch (``max_time``) on the Omniglot dev training
images; all of them decode 28x28 images. Reports tasks/s and generated (decoded or augmented)
images/s for 5-way 1-shot 15-query tasks, sampled ``--n-tasks`` at a time
(LASIUM: 256 per call, what a meta-learner asks for; 32 for the paper-width
backends), one batched decoder pass per call. Threads: ``METAAUG_THREADS``
(default 2).

    python -m benchmarks.speed.lasium_sampling [--n-tasks 200] [--update-docs]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import markdown_table, publish_section, section_text
from benchmarks.tables._shared import env_threads
from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.data import LabeledTaskSampler

NOTE = (
    "5-way 1-shot 15-query tasks of 28x28 images from the dev split's training images. A LASIUM task "
    "decodes 75 images (the support is the real anchor image for the VAE; the GAN decodes all 80), so "
    "LASIUM's speed is the decoder's: at the default width (16 filters, about 6 million multiply-adds per "
    "28x28 image, most of them in the transposed convolutions at full 28x28 resolution) {threads} CPU "
    "thread(s) decode about {images_per_s} images/s, with the networks' weights stored channels-last "
    "(``metaaug.nets.layout``). Compare the default rows with and without query shifts for their cost. "
    "With ``class_reuse=r`` a bank of 1000 generated classes serves the tasks and r times fewer "
    "images are decoded per task (the first call fills the bank; the rate is over the calls after it); the "
    "paper's sampling is ``class_reuse=1``, the default. \"defaults\" are each backend's default settings; "
    "LASIUM's "
    "default backend is the AE (thresholded decodings on these line drawings)."
)


def backend_width(las: LASIUM) -> str:
    """``hidden=N`` of the fitted backend: the autoencoder's parameter, else the decoder's first channel count."""
    backend = las.backend_
    if hasattr(backend, "get_params"):
        return f"hidden={backend.get_params()['hidden']}"
    return f"hidden={getattr(backend, 'decoder', backend).start[0]}"


def rate(sampler: Any, n_tasks: int, repeats: int) -> float:
    sampler.sample_tasks(min(n_tasks, 8), random_state=0)  # warm-up
    start = time.perf_counter()
    for r in range(repeats):
        sampler.sample_tasks(n_tasks, n_ways=5, k_shot=1, k_query=15, random_state=r)
    return repeats * n_tasks / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-tasks", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2, help="calls per sampler (after a warm-up call)")
    p.add_argument("--update-docs", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(env_threads(2))
    wall = time.perf_counter()
    (X, y), _ = load_dev_split()
    rows = []
    samplers = [("LabeledTaskSampler (real labeled images)", LabeledTaskSampler(X, y), 0)]
    samplers.append(("UMTRA (batched affine)", UMTRA(device="cpu").fit(X), 75))
    samplers.append(("CACTUs (PCA, 5 partitions)", CACTUs(n_partitions=5, random_state=0).fit(X), 0))
    variants = (
        ("vae", None, {}, "defaults"),
        ("vae", None, {"query_shift": 0}, "defaults, no query shift"),
        ("vae", None, {"class_reuse": 10}, "class_reuse=10"),
        ("vae", None, {"class_reuse": 20}, "class_reuse=20"),
        ("vae", 64, {}, "paper width"),
        ("gan", None, {}, "defaults"),
        ("gan", None, {"class_reuse": 20}, "class_reuse=20"),
        ("gan", 128, {}, "paper width"),
        ("ae", None, {}, "defaults"),
        ("ae", None, {"class_reuse": 20}, "class_reuse=20"),
    )
    for backend, hidden, extra, note in variants:
        las = LASIUM(backend=backend, hidden=hidden, max_time=1e-3, random_state=0, device="cpu", **extra).fit(X)
        decoded = (80 if backend == "gan" else 75) / extra.get("class_reuse", 1)
        label = f"LASIUM-{las.strategy} {backend.upper()} {backend_width(las)} ({note})"
        samplers.append((label, las, decoded))
    for name, sampler, generated in samplers:
        # LASIUM: as many tasks per call as a meta-learner asks for (256); fewer for the slow paper widths
        n_tasks = args.n_tasks if generated == 0 or "UMTRA" in name else (32 if "paper" in name else 256)
        tasks_per_s = rate(sampler, n_tasks, args.repeats if "class_reuse" not in name else 4 * args.repeats)
        rows.append(
            {
                "sampler": name,
                "tasks/s": f"{tasks_per_s:,.0f}",
                "generated images/s": f"{tasks_per_s * generated:,.0f}" if generated else "-",
                "tasks per call": n_tasks,
                "threads": torch.get_num_threads(),
            }
        )
        print(rows[-1], flush=True)
    wall = time.perf_counter() - wall
    table = markdown_table(rows)
    default_vae = next(r for r in rows if "VAE" in r["sampler"] and r["sampler"].endswith("(defaults)"))
    note = NOTE.format(threads=torch.get_num_threads(), images_per_s=default_vae["generated images/s"])
    publish_section(
        "lasium-sampling-speed",
        section_text("LASIUM task sampling speed", f"{wall:.0f} s", note, table),
        write=args.update_docs,
    )


if __name__ == "__main__":
    main()
