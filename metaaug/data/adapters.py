"""The torch Dataset adapters every sampler and augmenter plugs into."""

from __future__ import annotations

import shutil
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from metaaug._random import RandomState, check_rng, draw_seed
from metaaug.base import check_count
from metaaug.data.images import as_labels
from metaaug.data.protocols import Augmenter, TaskSampler
from metaaug.data.sources import ImageSource, as_image_source
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

    Tasks are drawn ``chunk_size`` at a time (one batched ``sample_tasks``
    call per chunk) when first asked for, and only the last two chunks are
    kept, so memory does not grow with ``n_tasks``. Task ``i`` is always the
    same for a given ``random_state`` (until :meth:`resample` draws a fresh
    set), whatever the order of access; read it in order (``shuffle=False``,
    the tasks are random already), or every access out of order redraws a
    chunk.

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
        chunk_size: int = 64,
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
        self.chunk_size = check_count(chunk_size, "chunk_size")
        self.random_state = random_state
        self._rng = check_rng(random_state)
        self._seed = draw_seed(self._rng)
        self._chunks: OrderedDict[int, list[Task]] = OrderedDict()

    collate_fn = staticmethod(collate_tasks)

    def resample(self) -> None:
        """Draw a new set of tasks (e.g. at each epoch)."""
        self._seed = draw_seed(self._rng)
        self._chunks.clear()

    def _chunk(self, number: int) -> list[Task]:
        if number not in self._chunks:
            first = number * self.chunk_size
            self._chunks[number] = self.sampler.sample_tasks(
                min(self.chunk_size, self.n_tasks - first),
                n_ways=self.n_ways,
                k_shot=self.k_shot,
                k_query=self.k_query,
                random_state=np.random.default_rng([self._seed, number]),
            )
            while len(self._chunks) > 2:
                self._chunks.popitem(last=False)
        return self._chunks[number]

    def __len__(self) -> int:
        return self.n_tasks

    def __getitem__(self, index: int) -> Task:
        if index < 0:
            index += self.n_tasks
        if not 0 <= index < self.n_tasks:
            raise IndexError(f"task index {index} out of range for {self.n_tasks} tasks")
        return self._chunk(index // self.chunk_size)[index % self.chunk_size]


def _dataset_source(dataset: Any) -> tuple[ImageSource, torch.Tensor]:
    """The images (read lazily where they come from a Dataset) and labels of a labeled dataset."""
    if isinstance(dataset, tuple) and len(dataset) == 2:
        X, y = dataset
    elif hasattr(dataset, "tensors") and len(dataset.tensors) == 2:
        X, y = dataset.tensors
    else:
        X, y = dataset, None
    source = as_image_source(X, name="dataset images")
    if y is None:
        y = source.labels
        if y is None:
            raise ValueError("dataset must give (image, label) pairs or be an (X, y) tuple; its items have no label")
    return source, as_labels(y, len(source), name="dataset labels")


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
    dataset : Dataset, (X, y) or folder path
        Map-style dataset of ``(image, label)`` (read lazily, item by item),
        a ``TensorDataset``, an ``(X, y)`` tuple, or a folder with one
        subfolder of images per class.
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
    transform : callable, optional
        Applied to every image ``__getitem__`` returns, real or generated (a
        float32 ``(C, H, W)`` tensor in [0, 1]), e.g. torchvision transforms
        on tensors or your normalisation.

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
        transform: Callable[[torch.Tensor], Any] | None = None,
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
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be callable or None, got {type(transform).__name__}")
        self.generate_kwargs = dict(generate_kwargs or {})
        self.transform = transform
        self.X, self.y = _dataset_source(dataset)
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
            members = (self.y == label).nonzero().flatten()
            if self.max_seeds is not None and len(members) > self.max_seeds:
                pick = self._rng.choice(len(members), self.max_seeds, replace=False)
                members = members[torch.as_tensor(pick)]
            seeds = self.X.take(members)
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
        return torch.empty((0, *self.X.shape[1:])), self.y[:0].clone()

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
            image, label = self.X[index], int(self.y[index])
        else:
            images, labels = self.generated
            image, label = images[index - self.n_real], int(labels[index - self.n_real])
        return (image if self.transform is None else self.transform(image)), label

    def is_generated(self) -> np.ndarray:
        """Boolean mask over indices: True for generated items."""
        mask = np.zeros(len(self), dtype=bool)
        mask[self.n_real :] = True
        return mask
