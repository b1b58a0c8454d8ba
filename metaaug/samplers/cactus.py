"""CACTUs: tasks from k-means pseudo-labels of unsupervised embeddings.

Hsu, Levine & Finn, "Unsupervised Learning via Meta-Learning", ICLR 2019.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from metaaug._random import RandomState, check_rng, draw_seed, torch_generator
from metaaug.base import MetaaugEstimator
from metaaug.clustering import embed, kmeans_labels
from metaaug.data.images import as_images
from metaaug.data.tasks import Task, check_task_args, split_episodes
from metaaug.samplers._grid import TaskPlotMixin


class CACTUs(TaskPlotMixin, MetaaugEstimator):
    """Clustering to Automatically Construct Tasks for Unsupervised meta-learning.

    ``fit(X)`` embeds the unlabeled images, then runs ``n_partitions`` k-means
    clusterings (each on a randomly rescaled copy of the embedding, so the
    partitions differ). A task picks one partition, ``n_ways`` of its clusters
    that have at least ``k_shot + k_query`` members, and that many images of
    each; the cluster is the class.

    Parameters
    ----------
    embedding : "pca", "ae", callable or fitted encoder, default "pca"
        ``"pca"``: whitened PCA of the pixels (``n_components`` dims).
        ``"ae"``: metaaug's :class:`~metaaug.AE` trained on ``X``, its latent
        codes as features. A callable maps images ``(N, C, H, W)`` to
        ``(N, D)`` features. An object with ``encode(images)`` (e.g. a fitted
        :class:`~metaaug.AE` or :class:`~metaaug.AugIntAE`) is used as is; an
        unfitted estimator with ``fit`` is cloned and fitted on ``X``.
    n_clusters : int, optional
        Clusters per partition; default ``len(X) // 20`` (about one per
        Omniglot character), at least 2.
    n_partitions : int, default 20
        Number of k-means partitions.
    n_components : int, default 64
        PCA dimensions for ``embedding="pca"``.
    scale_dims : bool, default True
        Multiply each embedding dimension by a U(0, 1) factor, drawn afresh
        for each partition, before clustering.
    random_state : None, int or numpy Generator
    device : "auto", "cpu" or "cuda"
        Unused (sampling is index arithmetic on the CPU).

    Attributes
    ----------
    images_ : torch.Tensor
    image_shape_ : tuple
    partitions_ : torch.Tensor
        ``(n_partitions, N)`` int64 cluster ids.
    cluster_sizes_ : torch.Tensor
        ``(n_partitions, n_clusters)`` members per cluster.

    Notes
    -----
    Differences from the paper: the paper embeds with BiGAN / ACAI / DeepCluster
    features and uses 100 partitions of 500 clusters on the full Omniglot
    background set; here the embedding is PCA by default (or metaaug's AE,
    or any encoder) and the defaults are sized for a few thousand images.
    """

    def __init__(self, embedding: str | Callable | Any = "pca", n_clusters: int | None = None,
                 n_partitions: int = 20, n_components: int = 64, scale_dims: bool = True,
                 random_state: RandomState = None, device: str = "auto") -> None:
        self.embedding = embedding
        self.n_clusters = n_clusters
        self.n_partitions = n_partitions
        self.n_components = n_components
        self.scale_dims = scale_dims
        self.random_state = random_state
        self.device = device

    def _features(self, X: torch.Tensor, rng: np.random.Generator) -> np.ndarray:
        emb = self.embedding
        if isinstance(emb, str):
            if emb == "pca":
                return embed(X, "pca", random_state=draw_seed(rng), n_components=self.n_components)
            if emb == "ae":
                try:
                    from metaaug.generators.autoencoders import AE
                except ImportError as err:
                    raise ValueError("embedding='ae' needs metaaug.generators.autoencoders.AE, which is not "
                                     "available here; use embedding='pca' or pass an encoder") from err
                encoder = AE(verbose=False, random_state=draw_seed(rng), device=self.device).fit(X)
                return self._encode(encoder, X)
            raise ValueError(f"embedding must be 'pca', 'ae', a callable or an object with encode(), got {emb!r}")
        if callable(getattr(emb, "encode", None)):
            encoder = emb
            if callable(getattr(emb, "fit", None)) and hasattr(emb, "get_params"):
                try:
                    check_is_fitted(emb)
                except NotFittedError:
                    encoder = clone(emb).fit(X)
                except TypeError:
                    pass
            return self._encode(encoder, X)
        if callable(emb):
            return embed(X, emb)
        raise ValueError(f"embedding must be 'pca', 'ae', a callable or an object with encode(), "
                         f"got {type(emb).__name__}")

    @staticmethod
    def _encode(encoder: Any, X: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
        with torch.no_grad():
            parts = [torch.as_tensor(encoder.encode(X[i:i + batch_size])).float().reshape(len(X[i:i + batch_size]), -1)
                     for i in range(0, len(X), batch_size)]
        return torch.cat(parts).cpu().numpy()

    def fit(self, X: Any, y: Any = None) -> CACTUs:
        """Embed and cluster the unlabeled images ``X`` (``y`` is ignored)."""
        X = as_images(X, min_count=4)
        n_clusters = max(2, len(X) // 20) if self.n_clusters is None else self.n_clusters
        if not isinstance(n_clusters, (int, np.integer)) or not 2 <= n_clusters <= len(X):
            raise ValueError(f"n_clusters must be an int in [2, {len(X)}] for {len(X)} images, got {n_clusters!r}")
        if not isinstance(self.n_partitions, (int, np.integer)) or self.n_partitions < 1:
            raise ValueError(f"n_partitions must be an int >= 1, got {self.n_partitions!r}")
        if not isinstance(self.n_components, (int, np.integer)) or self.n_components < 1:
            raise ValueError(f"n_components must be an int >= 1, got {self.n_components!r}")
        rng = check_rng(self.random_state)
        features = self._features(X, rng)
        if features.ndim != 2 or len(features) != len(X) or not np.isfinite(features).all():
            raise ValueError(f"the embedding must give finite (N, D) = ({len(X)}, D) features, got {features.shape}")
        partitions = []
        for _ in range(self.n_partitions):
            scale = rng.uniform(0.0, 1.0, features.shape[1]).astype(np.float32) if self.scale_dims else 1.0
            partitions.append(kmeans_labels(features * scale, int(n_clusters), random_state=draw_seed(rng)))
        self.images_ = X.cpu()
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.partitions_ = torch.from_numpy(np.stack(partitions))
        self.cluster_sizes_ = torch.stack([torch.bincount(p, minlength=int(n_clusters)) for p in self.partitions_])
        return self

    def sample_tasks(self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15,
                     random_state: RandomState = None) -> list[Task]:
        """Draw ``n_tasks`` tasks whose classes are clusters of one random partition.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            Bad layout arguments, or no partition has ``n_ways`` clusters with
            ``k_shot + k_query`` members.
        """
        self._check_fitted()
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        per_class = k_shot + k_query
        eligible = self.cluster_sizes_ >= per_class
        usable = (eligible.sum(1) >= n_ways).nonzero().flatten()
        if len(usable) == 0:
            raise ValueError(
                f"no partition has n_ways={n_ways} clusters with k_shot + k_query = {per_class} members "
                f"(at most {int(eligible.sum(1).max())} such clusters in a partition); use fewer ways or "
                "queries, or fewer n_clusters"
            )
        gen = torch_generator(check_rng(random_state))
        chosen = usable[torch.randint(len(usable), (n_tasks,), generator=gen)]
        indices = torch.empty(n_tasks, n_ways, per_class, dtype=torch.long)
        max_size = int(self.cluster_sizes_.max())
        for partition in chosen.unique():
            rows = (chosen == partition).nonzero().flatten()
            labels = self.partitions_[partition]
            order = torch.argsort(labels, stable=True)
            sizes = self.cluster_sizes_[partition]
            starts = torch.cumsum(sizes, 0) - sizes
            keys = torch.rand(len(rows), len(sizes), generator=gen).masked_fill(~eligible[partition], -1.0)
            clusters = keys.topk(n_ways, dim=1).indices
            member_keys = torch.rand(len(rows), n_ways, max_size, generator=gen)
            member_keys = member_keys.masked_fill(torch.arange(max_size) >= sizes[clusters].unsqueeze(-1), -1.0)
            offsets = member_keys.topk(per_class, dim=-1).indices
            indices[rows] = order[starts[clusters].unsqueeze(-1) + offsets]
        images = self.images_[indices.reshape(-1)].view(n_tasks, n_ways, per_class, *self.image_shape_)
        return split_episodes(images, n_ways, k_shot, k_query)
