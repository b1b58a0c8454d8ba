"""New images of a class the generator never saw, from a handful of seeds, saved as a PNG grid.

A generator is fitted (without labels) on images of some classes. For each
of a few *other* classes, ``k`` real images serve as seeds and
``generate(seeds, n)`` returns ``n`` new images of that class. The PNG has one
row per class: the seeds, a gap, then the generated images. Any generator with
``fit`` and ``generate`` works the same way: AugIntAE (the default), IntAE, AE
or PixelMixup here; LoFGAN and MetaFAVAE take labeled training images.

Data: scikit-learn's digits (fit on 0-4, seeds from 5-9), or an Omniglot
folder (``--omniglot PATH``: seeds from the last two alphabets).

    python examples/new_class_from_seeds.py                      # writes new_classes.png
    python examples/new_class_from_seeds.py --generator mixup --out mixup.png
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

import metaaug
from metaaug.data import Task, load_digits, load_omniglot, omniglot_alphabets
from metaaug.samplers import save_task_grid


def load_split(omniglot: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training images (labels unused), and the images of the new classes with their labels."""
    if omniglot is None:
        X, y = load_digits()
        return X[y < 5], X[y >= 5], y[y >= 5] - 5
    alphabets = omniglot_alphabets(omniglot)
    X_train, _ = load_omniglot(omniglot, alphabets=alphabets[:-2])
    X_new, y_new = load_omniglot(omniglot, alphabets=alphabets[-2:])
    return X_train, X_new, y_new


def make_generator(name: str, epochs: int, seed: int) -> Any:
    """An unfitted generator by name."""
    if name == "mixup":
        return metaaug.PixelMixup()
    estimator = {"augintae": metaaug.AugIntAE, "intae": metaaug.IntAE, "ae": metaaug.AE}[name]
    return estimator(epochs=epochs, random_state=seed)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--omniglot", default=None, help="an Omniglot folder (default: scikit-learn digits)")
    parser.add_argument("--generator", choices=["augintae", "intae", "ae", "mixup"], default="augintae")
    parser.add_argument("--epochs", type=int, default=30, help="training epochs of the autoencoders")
    parser.add_argument("--classes", type=int, default=5, help="new classes to show")
    parser.add_argument("--k", type=int, default=3, help="seed images per class")
    parser.add_argument("--n", type=int, default=10, help="generated images per class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("new_classes.png"))
    args = parser.parse_args(argv)
    X_train, X_new, y_new = load_split(args.omniglot)
    generator = make_generator(args.generator, args.epochs, args.seed).fit(X_train)

    rng = torch.Generator().manual_seed(args.seed)
    classes = y_new.unique()[torch.randperm(len(y_new.unique()), generator=rng)[: args.classes]]
    seeds, generated = [], []
    for i, label in enumerate(classes):
        members = X_new[y_new == label]
        seeds.append(members[torch.randperm(len(members), generator=rng)[: args.k]])
        generated.append(generator.generate(seeds[-1], args.n, random_state=args.seed + i).cpu())

    # a Task holds one row per class: support = the seeds, query = the generated images
    rows = torch.arange(len(classes))
    grid = Task(torch.cat(seeds), rows.repeat_interleave(args.k), torch.cat(generated), rows.repeat_interleave(args.n))
    path = save_task_grid([grid], args.out, scale=4 if X_new.shape[-1] < 16 else 2)
    print(f"wrote {path}: {len(classes)} new classes, {args.k} seeds | {args.n} {args.generator} images each")
    return path


if __name__ == "__main__":
    main()
