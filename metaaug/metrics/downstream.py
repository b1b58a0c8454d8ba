"""Downstream usefulness of an augmenter: a small classifier trained with and without it.

The data-hallucination protocol of the AugIntAE paper (its Table 3): a conv
classifier learns the novel classes from a few labeled images each; with an
augmenter, part of every batch (half by default) is generated from same-class
seeds with the label kept. The score is test accuracy over several seeds with a
95% confidence interval, so augmenters can be ranked against "no augmentation".
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from metaaug._random import RandomState, check_rng, draw_seed, torch_seeded
from metaaug.base import resolve_device
from metaaug.data.adapters import AugmentedDataset
from metaaug.data.images import as_images, as_labels
from metaaug.fewshot.evaluation import mean_ci95
from metaaug.nets.conv4 import Conv4Classifier
from metaaug.nets.layout import to_channels_last


def labeled_split(
    X: Any, y: Any, n_labeled: int, random_state: RandomState = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split each class into ``n_labeled`` training images and the rest for testing.

    Returns ``(X_train, y_train, X_test, y_test)``. Every class needs more than
    ``n_labeled`` images so that it is also tested.
    """
    X = as_images(X)
    y = as_labels(y, len(X))
    if int(n_labeled) < 1:
        raise ValueError(f"n_labeled must be >= 1, got {n_labeled}")
    classes, counts = torch.unique(y, return_counts=True)
    if int(counts.min()) <= n_labeled:
        small = int(classes[counts.argmin()])
        raise ValueError(f"class {small} has {int(counts.min())} images; n_labeled={n_labeled} leaves none for testing")
    rng = check_rng(random_state)
    # a random key per image, ranked within its class: the n_labeled lowest go to training
    keys = rng.random(len(y))
    order = np.lexsort((keys, y.numpy()))
    sorted_y = y.numpy()[order]
    starts = np.searchsorted(sorted_y, sorted_y, side="left")
    rank_in_class = np.arange(len(y)) - starts
    train_mask = np.zeros(len(y), dtype=bool)
    train_mask[order[rank_in_class < n_labeled]] = True
    train = torch.from_numpy(train_mask)
    return X[train], y[train], X[~train], y[~train]


def _accuracy(
    model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, device: torch.device, batch_size: int = 512
) -> float:
    was_training = model.training
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(X), batch_size):
            logits = model(X[start : start + batch_size].to(device))
            correct += int((logits.argmax(1).cpu() == y[start : start + batch_size]).sum())
    model.train(was_training)
    return correct / len(X)


def _train_one_seed(
    augmenter: Any,
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
    n_classes: int,
    ratio: float,
    epochs: int,
    batch_size: int,
    lr: float,
    hidden: int,
    generate_kwargs: dict,
    refresh_every: int,
    seed: int,
    device: torch.device,
) -> float:
    rng = check_rng(seed)
    augmented = None
    if augmenter is not None and ratio > 0:
        augmented = AugmentedDataset(
            (X_train, y_train), augmenter, ratio=ratio, generate_kwargs=generate_kwargs, random_state=draw_seed(rng)
        )
        n_real_batch = max(1, int(round(batch_size * (1 - ratio))))
    else:
        n_real_batch = batch_size
    n_fake_batch = batch_size - n_real_batch if augmented is not None else 0
    with torch_seeded(rng):
        model = to_channels_last(Conv4Classifier(n_classes, X_train.shape[1], hidden, X_train.shape[-1])).to(device)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        # same number of steps and images per step with or without an augmenter (fair compute)
        steps_per_epoch = math.ceil(len(X_train) / batch_size)
        n_needed = epochs * steps_per_epoch * n_real_batch
        real_stream = torch.cat([torch.randperm(len(X_train)) for _ in range(math.ceil(n_needed / len(X_train)))])
        for epoch in range(epochs):
            if augmented is not None and refresh_every > 0 and epoch > 0 and epoch % refresh_every == 0:
                augmented.refresh()
            fake_x, fake_y = augmented.generated if augmented is not None else (X_train[:0], y_train[:0])
            for step in range(steps_per_epoch):
                offset = (epoch * steps_per_epoch + step) * n_real_batch
                idx = real_stream[offset : offset + n_real_batch]
                xb, yb = X_train[idx], y_train[idx]
                if n_fake_batch > 0 and len(fake_x) > 0:
                    pick = torch.randint(len(fake_x), (n_fake_batch,))
                    xb = torch.cat([xb, fake_x[pick]])
                    yb = torch.cat([yb, fake_y[pick]])
                loss = F.cross_entropy(model(xb.to(device)), yb.to(device))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
        return _accuracy(model, X_test, y_test, device)


def downstream_accuracy(
    augmenter: Any,
    X_train: Any,
    y_train: Any,
    X_test: Any,
    y_test: Any,
    n_seeds: int = 5,
    ratio: float = 0.5,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    hidden: int = 32,
    generate_kwargs: dict | None = None,
    refresh_every: int = 1,
    random_state: RandomState = None,
    device: str | torch.device = "auto",
) -> dict[str, Any]:
    """Test accuracy of a conv classifier trained on few labeled images, with an augmenter.

    For each of ``n_seeds`` runs, a fresh :class:`~metaaug.nets.Conv4Classifier`
    is trained with Adam on ``(X_train, y_train)``. With an augmenter, every
    batch holds ``batch_size * (1 - ratio)`` real images and ``batch_size *
    ratio`` generated ones, drawn from an :class:`~metaaug.data.AugmentedDataset`
    pool (each class's real images as seeds, labels preserved) regenerated every
    ``refresh_every`` epochs. An epoch is ``ceil(len(X_train) / batch_size)``
    steps of ``batch_size`` images whatever the augmenter, so every row of a
    comparison gets the same compute (without an augmenter the real images are
    simply seen more often).

    Parameters
    ----------
    augmenter : object with ``generate(seeds, n, random_state)``, or None
        ``None`` trains on the real images only (the "no augmentation" row).
    X_train, y_train : images and int labels
        The few labeled images of the (novel) classes.
    X_test, y_test : images and int labels
        Held-out images of the same classes.
    n_seeds : int
        Independent runs (classifier init, batches, generated pool); >= 1.
    ratio : float
        Share of each batch that is generated, in ``[0, 1)``.
    epochs, batch_size, lr, hidden : training settings
        ``hidden`` is the conv width (32 keeps a run to seconds on 2 CPU cores).
    generate_kwargs : dict, optional
        Passed to ``generate`` (e.g. ``{"alpha": 0.5}``, the paper's setting).
    refresh_every : int
        Regenerate the pool every this many epochs; 0 keeps the first pool.
    random_state : None, int or Generator
        Same value, same results.
    device : "auto", "cpu", "cuda", ...

    Returns
    -------
    dict
        ``mean`` and ``ci95`` (accuracy in [0, 1]; CI half-width ``1.96 * std /
        sqrt(n)`` with the sample std), ``std``, ``per_seed`` (list), ``n_seeds``,
        ``seconds`` (wall time of all runs).
    """
    X_train = as_images(X_train, name="X_train")
    y_train = as_labels(y_train, len(X_train), name="y_train")
    X_test = as_images(X_test, name="X_test")
    y_test = as_labels(y_test, len(X_test), name="y_test")
    if X_train.shape[1:] != X_test.shape[1:]:
        raise ValueError(
            f"X_train images are {tuple(X_train.shape[1:])} but X_test images are {tuple(X_test.shape[1:])}"
        )
    if int(n_seeds) < 1:
        raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
    if not 0.0 <= float(ratio) < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("hidden", hidden)):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if int(refresh_every) < 0:
        raise ValueError(f"refresh_every must be >= 0, got {refresh_every}")
    if augmenter is not None and not hasattr(augmenter, "generate"):
        raise TypeError(f"augmenter must be None or have a generate method, got {type(augmenter).__name__}")
    classes = torch.unique(y_train)
    unknown = torch.unique(y_test[~torch.isin(y_test, classes)])
    if len(unknown):
        raise ValueError(f"y_test has classes {unknown[:5].tolist()} that y_train lacks")
    # classes renumbered 0..C-1 for the classifier head
    y_train_idx = torch.searchsorted(classes, y_train)
    y_test_idx = torch.searchsorted(classes, y_test)
    dev = resolve_device(device)
    X_train, X_test = X_train.cpu(), X_test.cpu()

    rng = check_rng(random_state)
    run_seeds = [draw_seed(rng) for _ in range(int(n_seeds))]
    start = time.perf_counter()
    per_seed = [
        _train_one_seed(
            augmenter,
            X_train,
            y_train_idx,
            X_test,
            y_test_idx,
            len(classes),
            float(ratio),
            int(epochs),
            int(batch_size),
            float(lr),
            int(hidden),
            dict(generate_kwargs or {}),
            int(refresh_every),
            seed,
            dev,
        )
        for seed in run_seeds
    ]
    mean, ci95 = mean_ci95(per_seed)
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0
    return {
        "mean": mean,
        "ci95": ci95,
        "std": std,
        "per_seed": per_seed,
        "n_seeds": len(per_seed),
        "seconds": time.perf_counter() - start,
    }
