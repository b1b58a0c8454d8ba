"""Unsupervised pseudo-labels: embed images, then k-means (CACTUs' recipe).

CACTUs clusters with :func:`embed` and :func:`kmeans_labels`; the generators
that need classes but may get no labels (LoFGAN, Meta-FAVAE with
``y=None``) take their classes from :func:`pseudo_labels`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from metaaug._random import RandomState, check_rng, draw_seed
from metaaug.data.sources import ImageSource


def pca_embedding(X: torch.Tensor, n_components: int = 64, random_state: RandomState = None) -> np.ndarray:
    """PCA of the flattened pixels (whitened), ``min(n_components, N, D)`` dims."""
    flat = X.reshape(len(X), -1).cpu().numpy().astype(np.float64)
    k = min(n_components, flat.shape[0], flat.shape[1])
    pca = PCA(n_components=k, whiten=True, random_state=draw_seed(check_rng(random_state)) % (2**32))
    return pca.fit_transform(flat).astype(np.float32)


def embed(
    X: torch.Tensor | ImageSource,
    embedding: str | Callable[[torch.Tensor], Any] = "pca",
    random_state: RandomState = None,
    **kwargs: Any,
) -> np.ndarray:
    """Embed images with ``"pca"`` or a callable mapping images to ``(N, D)`` features.

    ``X`` is a float tensor or an :class:`~metaaug.data.sources.ImageSource`,
    read in full (PCA and the callable see all images at once).
    """
    if isinstance(X, ImageSource):
        X = X.tensor()
    if callable(embedding):
        out = embedding(X)
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        if out.ndim != 2 or out.shape[0] != len(X):
            raise ValueError(f"the embedding callable must return (N, D) = ({len(X)}, D) features, got {out.shape}")
        return out.astype(np.float32)
    if embedding == "pca":
        return pca_embedding(X, random_state=random_state, **kwargs)
    raise ValueError(f"embedding must be 'pca' or a callable, got {embedding!r}")


def kmeans_labels(
    features: np.ndarray, n_clusters: int, random_state: RandomState = None, n_init: int = 1, max_iter: int = 100
) -> np.ndarray:
    """k-means cluster ids of ``features`` (int64)."""
    if not 2 <= n_clusters <= len(features):
        raise ValueError(f"n_clusters must be in [2, {len(features)}] for {len(features)} images, got {n_clusters}")
    km = KMeans(
        n_clusters=n_clusters,
        n_init=n_init,
        max_iter=max_iter,
        random_state=draw_seed(check_rng(random_state)) % (2**32),
    )
    return km.fit_predict(features).astype(np.int64)


def default_n_clusters(n_images: int) -> int:
    """``max(2, n_images // 20)``: 20 images per cluster on average, the size of an Omniglot class."""
    return max(2, int(n_images) // 20)


def pseudo_labels(
    X: torch.Tensor | ImageSource,
    n_clusters: int | None = None,
    embedding: str | Callable = "pca",
    random_state: RandomState = None,
) -> torch.Tensor:
    """Pseudo-classes of unlabeled images: one k-means partition of their embedding, as int64 labels.

    Parameters
    ----------
    X : torch.Tensor
        ``(N, C, H, W)`` images.
    n_clusters : int or None, default=None
        Clusters, in ``[2, N]``; ``None`` takes :func:`default_n_clusters`.
    embedding : "pca" or callable, default="pca"
        What k-means clusters (see :func:`embed`).
    random_state : None, int or Generator
        Seeds the embedding, then k-means (one draw each, in that order).

    Returns
    -------
    torch.Tensor
        ``(N,)`` int64 cluster ids.
    """
    n_clusters = default_n_clusters(len(X)) if n_clusters is None else int(n_clusters)
    if not 2 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters must be in [2, {len(X)}] for {len(X)} images, got {n_clusters}")
    rng = check_rng(random_state)
    features = embed(X, embedding, random_state=draw_seed(rng))
    return torch.from_numpy(kmeans_labels(features, n_clusters, random_state=draw_seed(rng)))
