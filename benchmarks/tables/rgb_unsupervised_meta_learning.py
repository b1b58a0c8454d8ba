"""Unsupervised meta-learning on the RGB benchmarks (LASIUM's tables): mini-ImageNet, CIFAR-FS, CelebA.

A sampler (LASIUM, UMTRA or CACTUs) is fitted on the *unlabeled* images of the
training classes, ProtoNets are meta-trained on its tasks, and the accuracy on
labeled 5-way tasks of the test classes is reported with its 95% CI:
mini-ImageNet and CIFAR-FS on their 20 test classes, CelebA on the identities
of its official test split (LASIUM's protocol, 84 x 84).

The data are the user's files (see docs/datasets.md for the layouts)::

    python -m benchmarks.tables.rgb_unsupervised_meta_learning --dataset mini_imagenet --root ~/data/mini-imagenet
    python -m benchmarks.tables.rgb_unsupervised_meta_learning --dataset celeba --root ~/data --samplers lasium,umtra
    python -m benchmarks.tables.rgb_unsupervised_meta_learning --dataset cifar_fs --root ~/data --download

The samplers fit on the datasets as they are, read lazily (a batch of files
decoded at a time); ``--max-per-class`` instead decodes that many images of
each class into memory first (uint8). Test tasks are streamed from the lazy
test split with ``iter_tasks``, so memory does not grow with ``--test-tasks``.
Threads: ``METAAUG_THREADS`` (default 2).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks.tables._shared import env_threads
from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.data import LabeledTaskSampler
from metaaug.datasets import load_celeba, load_cifar_fs, load_mini_imagenet, to_tensors
from metaaug.fewshot import ProtoNetClassifier

DATASETS = ("mini_imagenet", "cifar_fs", "celeba")
PAPER_SIZE = {"mini_imagenet": 84, "cifar_fs": 32, "celeba": 84}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=DATASETS, required=True)
    parser.add_argument("--root", required=True, help="the folder holding the dataset's files")
    parser.add_argument("--download", action="store_true", help="fetch the files where the loader can")
    parser.add_argument("--samplers", default="lasium,umtra,cactus", help="comma-separated: lasium, umtra, cactus")
    parser.add_argument("--shots", default="1,5", help="comma-separated k_shot values of the 5-way test tasks")
    parser.add_argument("--n-ways", type=int, default=5)
    parser.add_argument("--queries", type=int, default=15, help="query images per class (test and meta-training)")
    parser.add_argument("--test-tasks", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=30000, help="ProtoNets meta-iterations")
    parser.add_argument("--epochs", type=int, default=None, help="LASIUM generator epochs (estimator default)")
    parser.add_argument("--max-time", type=float, default=None, help="seconds per fit (sampler, then learner)")
    parser.add_argument("--image-size", type=int, default=None, help="default: the paper's size")
    parser.add_argument("--max-per-class", type=int, default=None, help="training images kept per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=env_threads(2))
    parser.add_argument("--out", default=None, help="write the rows as JSON to this file")
    return parser.parse_args(argv)


def load_split(args: argparse.Namespace, split: str, min_images: int = 1) -> Any:
    size = args.image_size or PAPER_SIZE[args.dataset]
    if args.dataset == "mini_imagenet":
        return load_mini_imagenet(args.root, split, image_size=size, download=args.download)
    if args.dataset == "cifar_fs":
        return load_cifar_fs(args.root, split, image_size=size, download=args.download)
    return load_celeba(args.root, split, image_size=size, min_images_per_class=min_images, download=args.download)


def make_sampler(name: str, args: argparse.Namespace) -> Any:
    params: dict[str, Any] = {"random_state": args.seed, "max_time": args.max_time}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    if name == "lasium":
        return LASIUM(**params)
    if name == "umtra":
        return UMTRA(random_state=args.seed)
    if name == "cactus":
        return CACTUs(random_state=args.seed)
    raise SystemExit(f"unknown sampler {name!r} (lasium, umtra, cactus)")


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.threads:
        torch.set_num_threads(args.threads)
    shots = [int(s) for s in args.shots.split(",")]
    train = load_split(args, "train")
    X_train: Any = train
    if args.max_per_class is not None:
        X_train, _ = to_tensors(train, max_per_class=args.max_per_class, random_state=args.seed)
    test_sampler = LabeledTaskSampler(load_split(args, "test", min_images=max(shots) + args.queries))
    rows = []
    for name in args.samplers.split(","):
        t0 = time.perf_counter()
        sampler = make_sampler(name, args).fit(X_train)
        fit_time = time.perf_counter() - t0
        for shot in shots:
            tasks = test_sampler.iter_tasks(
                args.test_tasks, n_ways=args.n_ways, k_shot=shot, k_query=args.queries, random_state=args.seed
            )
            clf = ProtoNetClassifier(
                n_ways=args.n_ways,
                k_shot=shot,
                k_query=args.queries,
                n_iterations=args.iterations,
                max_time=args.max_time,
                random_state=args.seed,
            )
            t1 = time.perf_counter()
            clf.fit(sampler)
            train_time = time.perf_counter() - t1
            mean, ci = clf.evaluate(tasks)
            rows.append(
                {
                    "dataset": args.dataset,
                    "sampler": name,
                    "task": f"{args.n_ways}-way {shot}-shot",
                    "accuracy": mean,
                    "ci95": ci,
                    "test tasks": args.test_tasks,
                    "sampler fit (s)": round(fit_time, 1),
                    "meta-train (s)": round(train_time, 1),
                    "iterations": clf.n_iter_,
                }
            )
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse_args(argv)
    rows = run(args)
    print("| dataset | sampler | task | accuracy (%) | test tasks | sampler fit (s) | meta-train (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['sampler']} | {r['task']} | {100 * r['accuracy']:.1f} ± {100 * r['ci95']:.1f} "
            f"| {r['test tasks']} | {r['sampler fit (s)']} | {r['meta-train (s)']} |"
        )
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
