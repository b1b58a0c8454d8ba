"""Speed of AugIntAE: generation throughput and training epoch time on the dev split.

Targets (issue): ``generate`` >= 5000 28x28 images/s on 2 cores; one training
epoch over the 3700 dev-split training images <= 30 s on 2 cores at the
default width; a default fit <= 10 CPU-minutes. Run with both cores to itself:

    python -m benchmarks.speed.autoencoders --models-dir /tmp/metaaug_models

Generation uses the cached default AugIntAE of
``benchmarks/tables/autoencoder_generalisation.py`` (fitted here if missing);
the default-fit CPU time is read from that table's fit statistics.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import markdown_table, publish_section, section_text
from benchmarks.tables._shared import default_models_dir, env_threads, fit_stats_path, load_or_fit_models
from metaaug import AugIntAE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument("--n", type=int, default=20000, help="images per timed generate call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the timed fit")
    parser.add_argument("--threads", type=int, default=env_threads(2))
    parser.add_argument("--update-docs", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, _), (X_novel, y_novel) = load_dev_split()
    model = load_or_fit_models(["AugIntAE"], X_train, 20, 32, args.models_dir)[0]["AugIntAE"]
    seeds = X_novel[y_novel == y_novel[0]][:2]
    model.generate(seeds, 1000, random_state=0)  # warm-up
    times = []
    for repeat in range(args.repeats):
        tic = time.perf_counter()
        images = model.generate(seeds, args.n, random_state=repeat)
        times.append(time.perf_counter() - tic)
    assert images.shape == (args.n, 1, 28, 28)
    rate = args.n / min(times)

    fresh = AugIntAE(epochs=args.epochs, verbose=False, random_state=0)
    wall, cpu = time.perf_counter(), time.process_time()
    fresh.fit(X_train)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    epoch_s = wall / args.epochs

    stats_file = fit_stats_path(args.models_dir, "AugIntAE", 20, 32)
    default_fit = json.loads(stats_file.read_text()) if stats_file.is_file() else None
    rows = [
        {
            "measure": f"generate {args.n} images from 2 seeds (best of {args.repeats})",
            "result": f"{rate:,.0f} images/s ({min(times):.2f} s)",
            "target": ">= 5000 images/s",
            "threads": args.threads,
            "met": "yes" if rate >= 5000 else "no",
        },
        {
            "measure": f"AugIntAE training epoch, {len(X_train)} images, width 32, batch 64 "
            f"({args.epochs}-epoch fit incl. setup)",
            "result": f"{epoch_s:.1f} s/epoch (CPU {cpu / args.epochs:.1f} s)",
            "target": "<= 30 s",
            "threads": args.threads,
            "met": "yes" if epoch_s <= 30 else "no",
        },
    ]
    if default_fit is not None:
        cpu_min = float(default_fit["fit CPU s"]) / 60
        rows.append(
            {
                "measure": "AugIntAE().fit(X) at the defaults (20 epochs), from the generalisation run",
                "result": f"{cpu_min:.1f} CPU-min ({float(default_fit['fit wall s']) / 60:.1f} min wall)",
                "target": "<= 10 CPU-min",
                "threads": default_fit.get("threads", 1),
                "met": "yes" if cpu_min <= 10 else "no",
            }
        )
    body = section_text(
        "AugIntAE: speed", f"{time.perf_counter() - start:.0f} s", markdown_table(rows), note="both cores to itself"
    )
    publish_section("autoencoders-speed", body, write=args.update_docs)


if __name__ == "__main__":
    main()
