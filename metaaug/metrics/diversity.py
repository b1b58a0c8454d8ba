"""Diversity of generated images within a class.

The papers report LPIPS diversity (mean LPIPS distance between pairs of images
generated for one class, with ImageNet AlexNet features). Offline, the same
quantity is measured in the domain feature space: the mean pairwise Euclidean
distance between the features of same-class generated images
(:func:`feature_diversity`). :func:`pairwise_diversity` takes any pairwise
distance, e.g. an LPIPS module the user built from local weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from metaaug._random import RandomState, check_rng
from metaaug.data.images import as_images, as_labels
from metaaug.metrics.features import Embedder, as_features, compute_features


def feature_diversity(features: Any, labels: Any) -> float:
    """Mean pairwise distance between same-class features, averaged over classes.

    Parameters
    ----------
    features : tensor or array, shape (N, D)
    labels : array-like of int, shape (N,)
        Class of each feature vector; every class needs >= 2 samples.

    Returns
    -------
    float
        0 when every class holds copies of one image; each class weighs the same.
    """
    features = as_features(features, "features")
    if features.ndim != 2:
        raise ValueError(f"features must be 2-D (N, D), got shape {tuple(features.shape)}")
    if not bool(torch.isfinite(features).all()):
        raise ValueError("features contain NaN or infinite values")
    labels = as_labels(labels, len(features), name="labels")
    per_class = []
    for label in torch.unique(labels):
        members = features[labels == label]
        if len(members) < 2:
            raise ValueError(f"class {int(label)} has {len(members)} sample; diversity needs >= 2 per class")
        distances = torch.cdist(members, members)
        n = len(members)
        per_class.append(float(distances.sum()) / (n * (n - 1)))
    return float(np.mean(per_class))


def _per_class_sets(generated: Sequence[Any]) -> list[torch.Tensor]:
    if isinstance(generated, torch.Tensor) or not isinstance(generated, Sequence):
        raise ValueError(f"generated must be a list with one image tensor per class, got {type(generated).__name__}")
    sets = [as_images(images, name=f"generated[{i}]", min_count=2) for i, images in enumerate(generated)]
    if not sets:
        raise ValueError("generated holds no class")
    for i, images in enumerate(sets):
        if tuple(images.shape[1:]) != tuple(sets[0].shape[1:]):
            raise ValueError(
                f"generated[{i}] has images of shape {tuple(images.shape[1:])}, "
                f"generated[0] has {tuple(sets[0].shape[1:])}"
            )
    return sets


def diversity(embed: Embedder, generated: Sequence[Any], batch_size: int = 512) -> float:
    """:func:`feature_diversity` of per-class image sets in the feature space of ``embed``.

    ``generated[c]`` holds >= 2 images generated for class ``c``.
    """
    sets = _per_class_sets(generated)
    labels = torch.cat([torch.full((len(s),), i) for i, s in enumerate(sets)])
    return feature_diversity(compute_features(embed, torch.cat(sets), batch_size=batch_size, name="generated"), labels)


def pairwise_diversity(
    distance: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    generated: Sequence[Any],
    max_pairs: int = 50,
    random_state: RandomState = 0,
) -> float:
    """Mean ``distance(a, b)`` over random distinct same-class pairs (LPIPS diversity).

    Parameters
    ----------
    distance : callable
        Maps two image batches ``(P, C, H, W)`` to ``P`` distances, e.g. an
        ``lpips.LPIPS`` module built from local weights (metaaug never
        downloads them). Images are passed in ``[0, 1]``; wrap the callable if
        it expects ``[-1, 1]``.
    generated : list of image arrays
        ``generated[c]`` holds >= 2 images generated for class ``c``.
    max_pairs : int
        Random pairs per class (all evaluated in one batch).
    random_state : int, Generator or None
    """
    if int(max_pairs) < 1:
        raise ValueError(f"max_pairs must be >= 1, got {max_pairs}")
    sets = _per_class_sets(generated)
    rng = check_rng(random_state)
    first, second = [], []
    for images in sets:
        a = rng.integers(0, len(images), int(max_pairs))
        b = (a + rng.integers(1, len(images), int(max_pairs))) % len(images)
        first.append(images[torch.from_numpy(a)])
        second.append(images[torch.from_numpy(b)])
    with torch.no_grad():
        values = distance(torch.cat(first), torch.cat(second))
    values = torch.as_tensor(values).detach().double().reshape(len(sets), int(max_pairs))
    if not bool(torch.isfinite(values).all()):
        raise ValueError("the distance returned NaN or infinite values")
    return float(values.mean())


def nearest_seed_distance(generated: Any, seeds: Any) -> torch.Tensor:
    """Per-image mean absolute pixel difference to the closest seed, ``(N,)``.

    0 means the generated image is a copy of a seed; for reference, real
    held-out Omniglot drawings lie about 0.11 from the other drawings of
    their character. ``generated`` and ``seeds`` are images of one class
    with the same ``(C, H, W)``.
    """
    generated = as_images(generated, name="generated")
    seeds = as_images(seeds, name="seeds")
    if tuple(generated.shape[1:]) != tuple(seeds.shape[1:]):
        raise ValueError(f"generated images have shape {tuple(generated.shape[1:])}, seeds {tuple(seeds.shape[1:])}")
    distances = torch.cdist(generated.flatten(1).double(), seeds.flatten(1).double(), p=1)
    return (distances.min(1).values / generated[0].numel()).float()
