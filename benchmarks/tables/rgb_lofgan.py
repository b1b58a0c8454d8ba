"""LoFGAN on its RGB benchmarks (the LoFGAN paper's table): Flowers102 (85 / 17) and Animal Faces (119 / 30).

LoFGAN is trained on the labeled images of the seen classes, then generates
``--n-generate`` images for every unseen class from ``--k-shot`` (3) seeds of
that class. Reported: FID and KID between the generated and all real unseen
images, in the feature space of a conv4 classifier trained on the seen classes
(:class:`metaaug.metrics.DomainFeatureExtractor`, the offline stand-in for
Inception features: not the paper's numbers), and the mean L1 distance of each
generated image to its nearest seed (0 = a copy).

    python -m benchmarks.tables.rgb_lofgan --dataset flowers --root ~/data --download --preset paper
    python -m benchmarks.tables.rgb_lofgan --dataset animal_faces --root ~/data/animal_faces --max-time 36000

The estimators fit on image tensors: the seen images are decoded into memory
first (Flowers102: 6,877 images, 340 MB of uint8 at 128 x 128).
Threads: ``METAAUG_THREADS`` (default 2).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from benchmarks.tables._shared import env_threads
from metaaug import LoFGAN
from metaaug.datasets import load_animal_faces, load_flowers102, to_tensors
from metaaug.metrics import DomainFeatureExtractor, fid, kid, nearest_seed_distance


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=("flowers", "animal_faces"), required=True)
    parser.add_argument("--root", required=True, help="the folder holding the dataset's files")
    parser.add_argument("--download", action="store_true", help="fetch Flowers102 with torchvision when missing")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--preset", choices=("small", "paper"), default="small")
    parser.add_argument("--k-shot", type=int, default=3, help="seeds per generated image (3 in LoFGAN)")
    parser.add_argument("--epochs", type=float, default=2.0, help="LoFGAN training epochs")
    parser.add_argument("--max-time", type=float, default=None, help="seconds per fit")
    parser.add_argument("--n-generate", type=int, default=128, help="images generated per unseen class")
    parser.add_argument("--max-per-class", type=int, default=None, help="seen images kept per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=env_threads(2))
    return parser.parse_args(argv)


def load(args: argparse.Namespace, split: str) -> Any:
    if args.dataset == "flowers":
        return load_flowers102(args.root, split, image_size=args.image_size, download=args.download)
    return load_animal_faces(args.root, split, image_size=args.image_size)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    X_seen, y_seen = to_tensors(load(args, "seen"), max_per_class=args.max_per_class, random_state=args.seed)
    X_unseen, y_unseen = to_tensors(load(args, "unseen"))
    t0 = time.perf_counter()
    gan = LoFGAN(
        k_shot=args.k_shot, preset=args.preset, epochs=args.epochs, max_time=args.max_time, random_state=args.seed
    ).fit(X_seen, y_seen)
    fit_time = time.perf_counter() - t0
    judge = DomainFeatureExtractor(max_time=args.max_time, random_state=args.seed).fit(X_seen, y_seen)
    rng = np.random.default_rng(args.seed)
    generated, distances = [], []
    for c in torch.unique(y_unseen).tolist():
        members = np.flatnonzero(y_unseen.numpy() == c)
        seeds = X_unseen[torch.as_tensor(rng.choice(members, min(args.k_shot, len(members)), replace=False))]
        images = gan.generate(seeds, args.n_generate, random_state=int(rng.integers(2**31 - 1)))
        generated.append(images)
        distances.append(nearest_seed_distance(images, seeds.float() / 255.0).mean())
    fake = torch.cat(generated)
    real = X_unseen.float() / 255.0
    kid_mean, kid_std = kid(judge, real, fake)
    return {
        "dataset": args.dataset,
        "seen classes": int(len(torch.unique(y_seen))),
        "unseen classes": int(len(torch.unique(y_unseen))),
        "FID (domain features)": fid(judge, real, fake),
        "KID": kid_mean,
        "KID std": kid_std,
        "nearest-seed L1": float(torch.stack(distances).mean()),
        "LoFGAN fit (s)": round(fit_time, 1),
        "steps": gan.n_iter_,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    result = run(parse_args(argv))
    print("| " + " | ".join(result) + " |")
    print("|" + "---|" * len(result))
    print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in result.values()) + " |")
    return result


if __name__ == "__main__":
    main()
