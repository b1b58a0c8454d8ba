"""FID and KID between a real and a generated image set, in any feature space.

The distances themselves come from torchmetrics
(``FrechetInceptionDistance`` / ``KernelInceptionDistance``), fed with
features computed once per set by :func:`~metaaug.metrics.compute_features`
(torchmetrics' custom-feature path, with an identity "network"), so the
numerics are the maintained ones: float64 moments and the eigenvalue form of
the trace of the matrix square root for FID; the unbiased polynomial-kernel
MMD over random subsets for KID.

The scores are comparable only within one feature space: FID in the conv4
domain space of a :class:`~metaaug.metrics.DomainFeatureExtractor` is not the
Inception FID of the papers (see :func:`inception_feature_extractor` for that,
with locally supplied weights).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.data.images import as_images
from metaaug.metrics.features import (
    Embedder,
    as_features,
    check_feature_sets,
    check_same_image_shape,
    compute_features,
)
from metaaug.metrics.inception import fidelity_inception


def _torchmetrics_image() -> tuple[type, type]:
    # torchmetrics.image imports torchvision, which needs metaaug's CPU-torch workaround first
    from metaaug._compat import import_torchvision

    import_torchvision()
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    return FrechetInceptionDistance, KernelInceptionDistance


class _Precomputed(nn.Module):
    """Identity 'feature network' so torchmetrics consumes features we computed once."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


def frechet_distance(real_features: Any, generated_features: Any) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula).

    Parameters
    ----------
    real_features, generated_features : tensor or array, shape (N, D) and (M, D)
        Features of the real and generated images; ``N, M >= 2``.

    Returns
    -------
    float
        ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``; 0 for
        identical sets up to rounding (tiny negative values are clipped to 0).
    """
    real = as_features(real_features, "real_features")
    generated = as_features(generated_features, "generated_features")
    check_feature_sets(real, generated)
    for name, features in (("real_features", real), ("generated_features", generated)):
        if len(features) < 2:
            raise ValueError(f"{name} has {len(features)} sample(s); FID needs at least 2 per set")
    fid_class, _ = _torchmetrics_image()
    metric = fid_class(feature=_Precomputed(real.shape[1]))
    metric.update(real, real=True)
    metric.update(generated, real=False)
    return max(0.0, float(metric.compute()))


def kernel_distance(
    real_features: Any,
    generated_features: Any,
    subsets: int = 100,
    subset_size: int | None = None,
    degree: int = 3,
    gamma: float | None = None,
    coef: float = 1.0,
    random_state: RandomState = 0,
) -> tuple[float, float]:
    """Kernel (Inception) distance: unbiased polynomial-kernel MMD² over random subsets.

    Parameters
    ----------
    real_features, generated_features : tensor or array, shape (N, D) and (M, D)
    subsets : int, default=100
        Number of random subsets averaged.
    subset_size : int or None, default=None
        Samples per subset. ``None`` uses ``min(1000, N, M)`` (the usual 1000,
        reduced automatically for small sets); an explicit value larger than
        ``N`` or ``M`` raises ``ValueError``.
    degree, gamma, coef : kernel ``(gamma <x, y> + coef) ** degree``;
        ``gamma=None`` means ``1 / D``.
    random_state : int, Generator or None, default=0
        Draws the subsets; fixed by default so scores are reproducible.

    Returns
    -------
    (mean, std) : tuple of float
        Mean and standard deviation of the MMD² over the subsets.
    """
    real = as_features(real_features, "real_features")
    generated = as_features(generated_features, "generated_features")
    check_feature_sets(real, generated)
    smallest = min(len(real), len(generated))
    if subset_size is None:
        subset_size = min(1000, smallest)
    if int(subset_size) < 2:
        raise ValueError(
            f"KID needs subsets of at least 2 samples; got subset_size={subset_size} "
            f"(sets of {len(real)} real and {len(generated)} generated features)"
        )
    if int(subset_size) > smallest:
        raise ValueError(
            f"subset_size={subset_size} is larger than the feature sets ({len(real)} real, "
            f"{len(generated)} generated); pass subset_size <= {smallest} or None for automatic reduction"
        )
    if int(subsets) < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    _, kid_class = _torchmetrics_image()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = kid_class(
            feature=_Precomputed(real.shape[1]),
            subsets=int(subsets),
            subset_size=int(subset_size),
            degree=degree,
            gamma=gamma,
            coef=coef,
        )
    metric.update(real, real=True)
    metric.update(generated, real=False)
    with torch_seeded(check_rng(random_state)):
        mean, std = metric.compute()
    return float(mean), float(std)


def _image_features(embed: Embedder, real: Any, generated: Any, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    real = as_images(real, name="real")
    generated = as_images(generated, name="generated")
    check_same_image_shape(real, generated)
    return (
        compute_features(embed, real, batch_size=batch_size, name="real"),
        compute_features(embed, generated, batch_size=batch_size, name="generated"),
    )


def fid(embed: Embedder, real: Any, generated: Any, batch_size: int = 512) -> float:
    """FID between image sets ``real`` and ``generated`` in the feature space of ``embed``.

    ``embed`` is a feature map (see :mod:`metaaug.metrics.features`), e.g. a
    fitted :class:`~metaaug.metrics.DomainFeatureExtractor`. Raises
    ``ValueError`` for NaN images or sets of different image shapes.
    """
    return frechet_distance(*_image_features(embed, real, generated, batch_size))


def kid(embed: Embedder, real: Any, generated: Any, batch_size: int = 512, **kernel_params: Any) -> tuple[float, float]:
    """KID ``(mean, std)`` between image sets; ``kernel_params`` go to :func:`kernel_distance`."""
    return kernel_distance(*_image_features(embed, real, generated, batch_size), **kernel_params)


def inception_feature_extractor(weights_path: str | Path | None = None) -> nn.Module:
    """The standard FID Inception-v3 (2048-d pool features) from a local weights file.

    torch-fidelity's port of the 2015 TensorFlow graph
    (:func:`~metaaug.metrics.perceptual.fidelity_inception`), which needs the
    optional ``torch-fidelity`` package. ``weights_path`` is torch-fidelity's
    ``weights-inception-2015-12-05-6726825d.pth``; ``None`` looks in
    ``<torch hub dir>/checkpoints/``. Nothing is downloaded: a missing file
    raises ``FileNotFoundError`` naming the path and the URL. The returned
    module takes metaaug images (``[0, 1]``, grey or RGB, any size; grey
    repeated to RGB) and can be passed as ``embed`` to :func:`fid`/:func:`kid`.
    """
    return fidelity_inception("2048", weights_path)
