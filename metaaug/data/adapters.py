"""The torch Dataset adapters every sampler and augmenter plugs into."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from metaaug._random import RandomState, check_rng, draw_seed
from metaaug.base import check_count
from metaaug.data.images import as_images, as_labels
from metaaug.data.protocols import Augmenter, TaskSampler
from metaaug.data.tasks import Task, check_task_args


def collate_tasks(tasks: Sequence[Task]) -> Task:
    """Stack tasks of one layout into a batched :class:`Task` (leading task axis).

    Use as ``DataLoader(task_dataset, batch_size=4, collate_fn=collate_tasks)``.
    """
    return Task(
        *(torch.stack([getattr(t, f) for t in tasks]) for f in ("support_x", "support_y", "query_x", "query_y"))
    )


class TaskDataset(Dataset):
    """A torch ``Dataset`` of :class:`Task` drawn from any task sampler.

    The tasks are drawn once, on first access, in one ``sample_tasks`` call
    (so sampling is batched and the dataset is deterministic for a given
    ``random_state``); :meth:`resample` draws a fresh set.

    Use ``DataLoader(ds, batch_size=None)`` for one task at a time, or
    ``DataLoader(ds, batch_size=B, collate_fn=collate_tasks)`` for batches.
    """

    def __init__(
        self,
        sampler: TaskSampler,
        n_tasks: int,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 15,
        random_state: RandomState = None,
    ) -> None:
        if not hasattr(sampler, "sample_tasks"):
            raise TypeError(f"sampler must have a sample_tasks method, got {type(sampler).__name__}")
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        # one task now, so that a layout the sampler cannot serve fails here rather than at first access
        sampler.sample_tasks(1, n_ways=n_ways, k_shot=k_shot, k_query=k_query, random_state=0)
        self.sampler = sampler
        self.n_tasks = int(n_tasks)
        self.n_ways = int(n_ways)
        self.k_shot = int(k_shot)
        self.k_query = int(k_query)
        self.random_state = random_state
        self._rng = check_rng(random_state)
        self._tasks: list[Task] | None = None

    collate_fn = staticmethod(collate_tasks)

    def resample(self) -> None:
        """Draw a new set of tasks (e.g. at each epoch)."""
        self._tasks = self.sampler.sample_tasks(
            self.n_tasks,
            n_ways=self.n_ways,
            k_shot=self.k_shot,
            k_query=self.k_query,
            random_state=draw_seed(self._rng),
        )

    def __len__(self) -> int:
        return self.n_tasks

    def __getitem__(self, index: int) -> Task:
        if self._tasks is None:
            self.resample()
        assert self._tasks is not None
        return self._tasks[index]


def _dataset_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """All (images, labels) of a map-style dataset of (image, label) pairs."""
    if isinstance(dataset, tuple) and len(dataset) == 2:
        X, y = dataset
    elif hasattr(dataset, "tensors") and len(dataset.tensors) == 2:
        X, y = dataset.tensors
    else:
        items = [dataset[i] for i in range(len(dataset))]
        if not items:
            raise ValueError("dataset is empty")
        X = torch.stack([torch.as_tensor(x) for x, _ in items])
        y = torch.as_tensor([int(label) for _, label in items])
    X = as_images(X, name="dataset images")
    return X, as_labels(y, len(X), name="dataset labels")


def _shareable(n_bytes: int, folder: str = "/dev/shm") -> bool:
    """Whether a tensor of ``n_bytes`` fits in shared memory with room to spare."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return False
    return n_bytes == 0 or 2 * n_bytes + 2**26 <= free


class AugmentedDataset(Dataset):
    """A torch ``Dataset`` of ``(image, label)`` mixing real and generated items.

    A share ``ratio`` of the items is generated: for each class, the augmenter
    receives that class's real images as ``seeds`` and produces, in one batched
    ``generate`` call, as many new images as the class contributes real ones
    (scaled by ``ratio / (1 - ratio)``); labels are preserved. Real items come
    first (indices ``< n_real``), so a shuffling ``DataLoader`` mixes them.

    Parameters
    ----------
    dataset : Dataset or (X, y)
        Map-style dataset of ``(image, label)``, a ``TensorDataset``, or a tuple.
    augmenter : object with ``generate(seeds, n, random_state)``
        A fitted metaaug generator, :class:`~metaaug.PixelMixup`, or your own.
    ratio : float
        Share of generated items, in ``[0, 1)``.
    max_seeds : int, optional
        Use at most this many random real images of a class as seeds.
    generate_kwargs : dict, optional
        Extra keyword arguments for ``generate`` (e.g. ``{"alpha": 0.5}``).
    random_state : None, int or Generator
        Seeds the generated pool; :meth:`refresh` draws a new pool.

    Notes
    -----
    The pool is generated once, in the constructor (in the main process),
    and held in shared memory when there is room for it in ``/dev/shm``.
    :meth:`refresh` generates a new pool in the calling process and writes it
    into that same memory, so ``DataLoader`` workers, persistent ones
    (``persistent_workers=True``) included, serve the new images from their
    next batch on, and no worker ever generates a pool itself. Call
    :meth:`refresh` between epochs (while no worker is reading); tensors
    previously returned by :attr:`generated` see the new images too. Without
    room in shared memory the pool stays private: worker processes then keep
    the pool they started with (a warning says so at the first
    :meth:`refresh`), while ``num_workers=0`` sees every refresh.
    """

    def __init__(
        self,
        dataset: Any,
        augmenter: Augmenter,
        ratio: float = 0.5,
        max_seeds: int | None = None,
        generate_kwargs: dict | None = None,
        random_state: RandomState = None,
    ) -> None:
        if not hasattr(augmenter, "generate"):
            raise TypeError(f"augmenter must have a generate method, got {type(augmenter).__name__}")
        given: Any = ratio  # checked as it comes, whatever its annotation says
        if isinstance(given, bool) or not isinstance(given, Real) or not 0.0 <= float(given) < 1.0:
            raise ValueError(f"ratio must be a number in [0, 1), got {ratio!r}")
        if max_seeds is not None:
            max_seeds = check_count(max_seeds, "max_seeds")
        if generate_kwargs is not None and not isinstance(generate_kwargs, dict):
            raise ValueError(f"generate_kwargs must be a dict or None, got {type(generate_kwargs).__name__}")
        self.augmenter = augmenter
        self.ratio = float(ratio)
        self.max_seeds = max_seeds
        self.generate_kwargs = dict(generate_kwargs or {})
        self.X, self.y = _dataset_tensors(dataset)
        self._rng = check_rng(random_state)
        classes, counts = torch.unique(self.y, return_counts=True)
        share = self.ratio / (1.0 - self.ratio)
        self._plan = [(int(c), int(round(int(n) * share))) for c, n in zip(classes, counts)]
        self.n_real = len(self.X)
        self.n_generated = sum(n for _, n in self._plan)
        images, labels = self._generate()
        self.shared = _shareable(images.numel() * images.element_size())
        if self.shared and images.numel():  # workers forked or spawned later map the same memory
            images.share_memory_()
        self._generated = (images, labels)

    def refresh(self) -> None:
        """Generate a new pool of images (one batched call per class) and write it over the current one.

        The new images reach ``DataLoader`` workers, persistent ones included,
        through the shared pool (see the class notes).
        """
        images, _ = self._generate()
        if not self.shared and torch.utils.data.get_worker_info() is None:
            warnings.warn(
                "AugmentedDataset: the generated pool is not in shared memory (no room in /dev/shm), so "
                "DataLoader worker processes keep serving the images they started with; use num_workers=0 "
                "or free shared memory to see refreshed images in workers",
                RuntimeWarning,
                stacklevel=2,
            )
        self._generated[0].copy_(images)

    def _generate(self) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for label, n in self._plan:
            if n == 0:
                continue
            seeds = self.X[self.y == label]
            if self.max_seeds is not None and len(seeds) > self.max_seeds:
                pick = self._rng.choice(len(seeds), self.max_seeds, replace=False)
                seeds = seeds[torch.as_tensor(pick)]
            out = self.augmenter.generate(seeds, n, random_state=draw_seed(self._rng), **self.generate_kwargs)
            out = torch.as_tensor(out).detach().float().cpu()
            if out.shape != (n, *self.X.shape[1:]):
                raise ValueError(
                    f"augmenter returned shape {tuple(out.shape)} for n={n}, expected {(n, *self.X.shape[1:])}"
                )
            images.append(out)
            labels.append(torch.full((n,), label, dtype=torch.int64))
        if images:
            return torch.cat(images), torch.cat(labels)
        return self.X[:0].clone(), self.y[:0].clone()

    @property
    def generated(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The current pool of generated ``(images, labels)`` (updated in place by :meth:`refresh`)."""
        return self._generated

    def __len__(self) -> int:
        return self.n_real + self.n_generated

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if index < self.n_real:
            return self.X[index], int(self.y[index])
        images, labels = self.generated
        return images[index - self.n_real], int(labels[index - self.n_real])

    def is_generated(self) -> np.ndarray:
        """Boolean mask over indices: True for generated items."""
        mask = np.zeros(len(self), dtype=bool)
        mask[self.n_real :] = True
        return mask
