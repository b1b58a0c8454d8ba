"""CelebA attribute tasks (Hsu et al., CACTUs' table): 2-way tasks from conjunctions of 3 attributes.

A sampler (CACTUs, UMTRA or LASIUM) is fitted on the unlabeled CelebA training
images, ProtoNets are meta-trained on its 2-way tasks, and the accuracy is
measured on the attribute tasks of the test split: class 0 has a random
conjunction of 3 of the last 10 attributes, class 1 the opposite values
(:class:`metaaug.datasets.CelebAAttributeTaskSampler`). A row ``supervised``
meta-trains on the attribute tasks of the training split (the first 20
attributes): the reference with labels.

    python -m benchmarks.tables.rgb_celeba_attributes --root ~/data --shots 5 --max-per-class 4

The training images are decoded into memory first; ``--max-per-class`` keeps
that many images per identity (CelebA's training split has 162,770 images,
about 3.4 GB of uint8 at 84 x 84). Threads: ``METAAUG_THREADS`` (default 2).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from benchmarks.tables._shared import env_threads
from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.datasets import CelebAAttributeTaskSampler, load_celeba, to_tensors
from metaaug.fewshot import ProtoNetClassifier


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="CelebA's folder (or its parent, as torchvision's root)")
    parser.add_argument("--download", action="store_true", help="fetch CelebA with torchvision when missing")
    parser.add_argument("--samplers", default="cactus,umtra,lasium,supervised")
    parser.add_argument("--shots", default="5", help="comma-separated k_shot values")
    parser.add_argument("--queries", type=int, default=5, help="query images per class")
    parser.add_argument("--test-tasks", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=30000, help="ProtoNets meta-iterations")
    parser.add_argument("--max-time", type=float, default=None, help="seconds per fit (sampler, then learner)")
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--max-per-class", type=int, default=None, help="training images kept per identity")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=env_threads(2))
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.threads:
        torch.set_num_threads(args.threads)
    train = load_celeba(args.root, "train", image_size=args.image_size, download=args.download)
    test_tasks = CelebAAttributeTaskSampler(load_celeba(args.root, "test", image_size=args.image_size))
    X_train = None
    rows = []
    for name in args.samplers.split(","):
        t0 = time.perf_counter()
        if name == "supervised":
            sampler: Any = CelebAAttributeTaskSampler(train)
        else:
            if X_train is None:
                X_train, _ = to_tensors(train, max_per_class=args.max_per_class, random_state=args.seed)
            if name == "lasium":
                sampler = LASIUM(max_time=args.max_time, random_state=args.seed).fit(X_train)
            elif name == "umtra":
                sampler = UMTRA(random_state=args.seed).fit(X_train)
            elif name == "cactus":
                sampler = CACTUs(random_state=args.seed).fit(X_train)
            else:
                raise SystemExit(f"unknown sampler {name!r} (cactus, umtra, lasium, supervised)")
        fit_time = time.perf_counter() - t0
        for shot in [int(s) for s in args.shots.split(",")]:
            tasks = test_tasks.sample_tasks(args.test_tasks, 2, shot, args.queries, random_state=args.seed)
            clf = ProtoNetClassifier(
                n_ways=2,
                k_shot=shot,
                k_query=args.queries,
                n_iterations=args.iterations,
                max_time=args.max_time,
                random_state=args.seed,
            )
            clf.fit(sampler)
            mean, ci = clf.evaluate(tasks)
            rows.append({"sampler": name, "shot": shot, "accuracy": mean, "ci95": ci, "fit (s)": round(fit_time, 1)})
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    rows = run(parse_args(argv))
    print("| sampler | task | accuracy (%) | sampler fit (s) |")
    print("|---|---|---|---|")
    for r in rows:
        acc = f"{100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f}"
        print(f"| {r['sampler']} | 2-way {r['shot']}-shot | {acc} | {r['fit (s)']} |")
    return rows


if __name__ == "__main__":
    main()
