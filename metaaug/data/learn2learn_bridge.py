"""Hand metaaug tasks to learn2learn, and real data to learn2learn's task sets.

Two routes:

* :class:`L2LTaskSource` wraps any metaaug task sampler as an object whose
  ``sample()`` returns learn2learn's ``(X, y)`` layout (support then query,
  labels ``0..n_ways-1``), the layout ``l2l`` training loops consume.
* :func:`to_l2l_metadataset` builds an ``l2l.data.MetaDataset`` from tensors,
  passing ``labels_to_indices`` so learn2learn skips its slow full pass over
  the data. Build it on one split only: learn2learn's own Omniglot benchmark
  builds its transforms on the full dataset, so its "train" tasks can touch
  test classes; splitting first keeps them disjoint by construction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from metaaug._compat import import_learn2learn
from metaaug._random import RandomState, check_rng, draw_seed
from metaaug.data.images import as_labels
from metaaug.data.protocols import TaskSampler
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.data.tasks import Task, check_task_args


def task_to_l2l(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate support and query into learn2learn's ``(X, y)``."""
    return torch.cat([task.support_x, task.query_x]), torch.cat([task.support_y, task.query_y])


class L2LTaskSource:
    """``sample()`` -> ``(X, y)`` from any metaaug sampler, ``buffer`` tasks at a time.

    The first ``n_ways * k_shot`` rows of ``X`` are the support set.
    """

    def __init__(
        self,
        sampler: TaskSampler,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 15,
        buffer: int = 256,
        random_state: RandomState = None,
    ) -> None:
        check_task_args(buffer, n_ways, k_shot, k_query)
        self.sampler = sampler
        self.n_ways, self.k_shot, self.k_query, self.buffer = n_ways, k_shot, k_query, buffer
        self._rng = check_rng(random_state)
        self._queue: list[Task] = []

    def sample(self) -> tuple[torch.Tensor, torch.Tensor]:
        if not self._queue:
            self._queue = list(
                self.sampler.sample_tasks(
                    self.buffer,
                    n_ways=self.n_ways,
                    k_shot=self.k_shot,
                    k_query=self.k_query,
                    random_state=draw_seed(self._rng),
                )
            )[::-1]
        return task_to_l2l(self._queue.pop())

    def __iter__(self):
        while True:
            yield self.sample()


class _SourceDataset(torch.utils.data.Dataset):
    """``(image, label)`` items of an image source, read when asked for."""

    def __init__(self, images: ImageSource, labels: torch.Tensor) -> None:
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[int(index)], int(self.labels[index])


def to_l2l_metadataset(X: Any, y: Any = None) -> Any:
    """An ``l2l.data.MetaDataset`` over ``(X, y)`` built without a full data pass.

    ``X`` is anything :func:`~metaaug.data.as_image_source` accepts; its
    images are read (and converted to float) one at a time as learn2learn
    asks for them, so uint8 images stay uint8 and a Dataset stays on disk.
    ``y`` may be left out when ``X`` carries its labels.
    """
    l2l = import_learn2learn()
    images = as_image_source(X)
    if y is None and images.labels is None:
        raise ValueError("to_l2l_metadataset needs labels: pass y, or images that carry them")
    labels = as_labels(images.labels if y is None else y, len(images))
    labels_np = labels.numpy()
    labels_to_indices = {int(c): np.flatnonzero(labels_np == c).tolist() for c in np.unique(labels_np)}
    indices_to_labels = {int(i): int(c) for i, c in enumerate(labels_np)}
    dataset = _SourceDataset(images, labels)
    return l2l.data.MetaDataset(dataset, labels_to_indices=labels_to_indices, indices_to_labels=indices_to_labels)
