"""CACTUs: tasks from k-means pseudo-labels of unsupervised embeddings.

Hsu, Levine & Finn, "Unsupervised Learning via Meta-Learning", ICLR 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any, ClassVar

import numpy as np
import torch

from metaaug._random import RandomState, check_rng, draw_seed, torch_generator
from metaaug.base import MetaaugEstimator
from metaaug.clustering import default_n_clusters, embed, kmeans_labels
from metaaug.constraints import HasMethods, Interval, Options
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.data.tasks import Task, check_task_args, split_episodes
from metaaug.samplers._common import fitted
from metaaug.samplers._grid import TaskPlotMixin


class _Encoder(HasMethods):
    """An object with ``encode()``; not a string (whose ``str.encode`` is no image encoder)."""

    def __init__(self) -> None:
        super().__init__("encode")

    def is_satisfied_by(self, value: Any) -> bool:
        return not isinstance(value, str) and super().is_satisfied_by(value)


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
        Where the ``"ae"`` embedding trains (sampling is index arithmetic on the CPU).

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
    Differences from the paper:

    * The embedding is PCA by default (or metaaug's AE, or any encoder); the
      paper embeds with BiGAN / ACAI / DeepCluster features.
    * The defaults are sized for a few thousand images: 20 partitions of
      ``len(X) // 20`` clusters (paper: 100 partitions of 500 clusters on the
      full Omniglot background set).

    Measured results are in ``docs/umtra_cactus.md``, *Measured*.
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "embedding": [Options("pca", "ae"), _Encoder(), "callable"],
        "n_clusters": [None, Interval(Integral, 2, None)],
        "n_partitions": [Interval(Integral, 1, None)],
        "n_components": [Interval(Integral, 1, None)],
        "scale_dims": ["boolean"],
        "random_state": ["random_state"],
        "device": ["device"],
    }

    def __init__(
        self,
        embedding: str | Callable | Any = "pca",
        n_clusters: int | None = None,
        n_partitions: int = 20,
        n_components: int = 64,
        scale_dims: bool = True,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
        self.embedding = embedding
        self.n_clusters = n_clusters
        self.n_partitions = n_partitions
        self.n_components = n_components
        self.scale_dims = scale_dims
        self.random_state = random_state
        self.device = device

    def _features(self, X: ImageSource, rng: np.random.Generator) -> np.ndarray:
        """``(N, D)`` features of ``X`` from ``embedding``."""
        emb = self.embedding
        if isinstance(emb, str):  # "pca" or "ae"
            if emb == "pca":
                return embed(X, "pca", random_state=draw_seed(rng), n_components=self.n_components)
            from metaaug.generators.autoencoders import AE

            return self._encode(AE(verbose=False, random_state=draw_seed(rng), device=self.device).fit(X), X)
        if callable(getattr(emb, "encode", None)):
            return self._encode(fitted(emb, X), X)
        return embed(X, emb)

    @staticmethod
    def _encode(encoder: Any, X: ImageSource, batch_size: int = 1024) -> np.ndarray:
        with torch.no_grad():
            parts = [
                torch.as_tensor(encoder.encode(batch)).float().reshape(len(batch), -1)
                for batch in X.batches(batch_size)
            ]
        return torch.cat(parts).cpu().numpy()

    def fit(self, X: Any, y: Any = None) -> CACTUs:
        """Embed and cluster the unlabeled images ``X`` (``y`` is ignored)."""
        self._validate_params()
        X = as_image_source(X, min_count=4)
        n_clusters = default_n_clusters(len(X)) if self.n_clusters is None else self.n_clusters
        if n_clusters > len(X):  # a rule between the parameter and the data
            raise ValueError(f"n_clusters must be an int in [2, {len(X)}] for {len(X)} images, got {n_clusters!r}")
        rng = check_rng(self.random_state)
        features = self._features(X, rng)
        if features.ndim != 2 or len(features) != len(X) or not np.isfinite(features).all():
            raise ValueError(f"the embedding must give finite (N, D) = ({len(X)}, D) features, got {features.shape}")
        partitions = []
        for _ in range(self.n_partitions):
            scaled = features
            if self.scale_dims:
                scaled = features * np.asarray(rng.uniform(0.0, 1.0, features.shape[1]), dtype=np.float32)
            partitions.append(kmeans_labels(scaled, int(n_clusters), random_state=draw_seed(rng)))
        self.images_ = X.cpu()
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.partitions_ = torch.from_numpy(np.stack(partitions))
        self.cluster_sizes_ = torch.stack([torch.bincount(p, minlength=int(n_clusters)) for p in self.partitions_])
        return self

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
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
        check_task_args(n_tasks, n_ways, k_shot, k_query, image_shape=self.image_shape_)
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
