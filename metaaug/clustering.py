"""Unsupervised pseudo-labels: embed images, then k-means (CACTUs' recipe).

Shared by CACTUs and by the generators that need classes but may get no
labels (LoFGAN, Meta-FAVAE with ``y=None``).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from metaaug._random import RandomState, check_rng, draw_seed


def pca_embedding(X: torch.Tensor, n_components: int = 64, random_state: RandomState = None) -> np.ndarray:
    """PCA of the flattened pixels (whitened), ``min(n_components, N, D)`` dims."""
    flat = X.reshape(len(X), -1).cpu().numpy().astype(np.float64)
    k = min(n_components, flat.shape[0], flat.shape[1])
    pca = PCA(n_components=k, whiten=True, random_state=draw_seed(check_rng(random_state)) % (2**32))
    return pca.fit_transform(flat).astype(np.float32)


def embed(X: torch.Tensor, embedding: str | Callable[[torch.Tensor], Any] = "pca",
          random_state: RandomState = None, **kwargs: Any) -> np.ndarray:
    """Embed images with ``"pca"`` or a callable mapping images to ``(N, D)`` features."""
    if callable(embedding):
        out = embedding(X)
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
        if out.ndim != 2 or out.shape[0] != len(X):
            raise ValueError(f"the embedding callable must return (N, D) = ({len(X)}, D) features, got {out.shape}")
        return out.astype(np.float32)
    if embedding == "pca":
        return pca_embedding(X, random_state=random_state, **kwargs)
    raise ValueError(f"embedding must be 'pca' or a callable, got {embedding!r}")


def kmeans_labels(features: np.ndarray, n_clusters: int, random_state: RandomState = None,
                  n_init: int = 1, max_iter: int = 100) -> np.ndarray:
    """k-means cluster ids of ``features`` (int64)."""
    if not 2 <= n_clusters <= len(features):
        raise ValueError(f"n_clusters must be in [2, {len(features)}] for {len(features)} images, got {n_clusters}")
    km = KMeans(n_clusters=n_clusters, n_init=n_init, max_iter=max_iter,
                random_state=draw_seed(check_rng(random_state)) % (2**32))
    return km.fit_predict(features).astype(np.int64)


def pseudo_labels(X: torch.Tensor, n_clusters: int, embedding: str | Callable = "pca",
                  random_state: RandomState = None) -> torch.Tensor:
    """One k-means partition of the embedded images, as int64 labels."""
    rng = check_rng(random_state)
    features = embed(X, embedding, random_state=draw_seed(rng))
    return torch.from_numpy(kmeans_labels(features, n_clusters, random_state=draw_seed(rng)))
