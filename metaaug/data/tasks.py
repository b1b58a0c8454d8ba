"""Episodes (tasks) and the sampler of real labeled episodes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from metaaug._random import RandomState, check_rng, torch_generator, torch_seeded
from metaaug.base import check_count, check_request_size
from metaaug.data.images import as_labels
from metaaug.data.sources import as_image_source


@dataclass
class Task:
    """One N-way episode.

    Attributes
    ----------
    support_x : torch.Tensor
        ``(n_ways * k_shot, C, H, W)`` images, grouped by class.
    support_y : torch.Tensor
        int64 labels in ``0..n_ways-1``.
    query_x : torch.Tensor
        ``(n_ways * k_query, C, H, W)`` images, grouped by class.
    query_y : torch.Tensor
        int64 labels in ``0..n_ways-1``.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor

    @property
    def n_ways(self) -> int:
        return int(self.support_y.max()) + 1

    def to(self, device: torch.device | str) -> Task:
        return Task(*(t.to(device) for t in (self.support_x, self.support_y, self.query_x, self.query_y)))


def check_task_args(
    n_tasks: int,
    n_ways: int,
    k_shot: int,
    k_query: int,
    image_shape: Sequence[int] | None = None,
    device: torch.device | str = "cpu",
) -> None:
    """Validate the episode layout arguments shared by every sampler.

    With ``image_shape``, a request whose images would not fit in the free
    memory is also refused (see :func:`metaaug.base.check_request_size`).
    """
    for name, value, low in (
        ("n_tasks", n_tasks, 1),
        ("n_ways", n_ways, 1),
        ("k_shot", k_shot, 1),
        ("k_query", k_query, 0),
    ):
        if isinstance(value, bool) or not hasattr(value, "__index__") or isinstance(value, torch.Tensor):
            raise ValueError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if int(value) < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if image_shape is not None:
        images = int(n_tasks) * int(n_ways) * (int(k_shot) + int(k_query))
        check_request_size(images, image_shape, f"sample_tasks({n_tasks} tasks of {n_ways}x{k_shot}+{k_query})", device)


def episode_labels(n_tasks: int, n_ways: int, per_class: int) -> torch.Tensor:
    """``(n_tasks, n_ways * per_class)`` labels 0..n_ways-1 grouped by class."""
    return torch.arange(n_ways).repeat_interleave(per_class).expand(n_tasks, -1)


def episodes_from_blocks(
    support: torch.Tensor, query: torch.Tensor, n_ways: int, k_shot: int, k_query: int
) -> list[Task]:
    """Tasks from ``(n_tasks, n_ways * k_shot, C, H, W)`` support and
    ``(n_tasks, n_ways * k_query, C, H, W)`` query images, each grouped by class.

    The tasks are views of the two blocks (no copy).
    """
    n_tasks = support.shape[0]
    support_y = episode_labels(n_tasks, n_ways, k_shot)
    query_y = episode_labels(n_tasks, n_ways, k_query)
    return [Task(*parts) for parts in zip(support.unbind(0), support_y.unbind(0), query.unbind(0), query_y.unbind(0))]


def split_episodes(images: torch.Tensor, n_ways: int, k_shot: int, k_query: int) -> list[Task]:
    """Cut ``(n_tasks, n_ways, k_shot + k_query, C, H, W)`` images into tasks.

    Within each class the first ``k_shot`` images are the support.
    """
    n_tasks = images.shape[0]
    shape = images.shape[3:]
    support = images[:, :, :k_shot].reshape(n_tasks, n_ways * k_shot, *shape)
    query = images[:, :, k_shot:].reshape(n_tasks, n_ways * k_query, *shape)
    return episodes_from_blocks(support, query, n_ways, k_shot, k_query)


class LabeledTaskSampler:
    """Episodes from real labeled images.

    The images stay where and as they are (uint8 stays uint8, a ``Dataset`` is
    read lazily); the sampler keeps only their labels and an index sorted by
    class. Tasks are planned by index arithmetic on tensors (classes and images
    of up to 256 tasks drawn at once by random keys and argsort) and their
    images gathered, and converted to float, one chunk of tasks at a time.

    Parameters
    ----------
    X : images, Dataset, folder path or ImageSource
        Anything :func:`metaaug.data.as_image_source` accepts.
    y : array-like, optional
        Integer class labels, one per image; optional when ``X`` carries its
        labels (a labeled ``Dataset`` such as torchvision's ``ImageFolder``, a
        learn2learn ``MetaDataset``, a folder with one subfolder per class).

    Examples
    --------
    >>> from metaaug.data import load_digits
    >>> X, y = load_digits()
    >>> sampler = LabeledTaskSampler(X, y)
    >>> sum(1 for _ in sampler.iter_tasks(300, n_ways=5, k_shot=1, k_query=3, random_state=0))
    300
    """

    #: tasks planned per draw of random keys; a call for at most this many
    #: tasks draws them all at once (the layout of earlier versions)
    plan_size = 256
    _STREAM_BYTES = 2**24  # float bytes per materialised batch of iter_tasks

    def __init__(self, X: Any, y: Any = None) -> None:
        self.X = as_image_source(X)
        if y is None:
            labels = self.X.labels
            if labels is None or bool((labels < 0).any()):
                raise ValueError(
                    "LabeledTaskSampler needs class labels: pass y, or images that carry them "
                    "(a Dataset returning (image, label), a folder with one subfolder per class)"
                )
            self.y = labels
        else:
            self.y = as_labels(y, len(self.X))
        classes, inverse, counts = torch.unique(self.y, return_inverse=True, return_counts=True)
        self.classes = classes
        self.counts = counts
        self.starts = torch.cumsum(counts, 0) - counts
        # positions of the images sorted by class: a task's images are gathered through it (no copy of the images)
        self._order = torch.argsort(inverse, stable=True)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def _check_layout(self, n_ways: int, k_shot: int, k_query: int) -> None:
        if n_ways > self.n_classes:
            raise ValueError(f"n_ways={n_ways} but the data has {self.n_classes} classes")
        per_class = k_shot + k_query
        short = (self.counts < per_class).nonzero().flatten()
        if len(short):
            examples = ", ".join(f"class {int(self.classes[i])} has {int(self.counts[i])}" for i in short[:5])
            raise ValueError(
                f"k_shot + k_query = {per_class} images per class are needed but {len(short)} "
                f"class(es) have fewer ({examples}{', ...' if len(short) > 5 else ''})"
            )

    def _plans(
        self, n_tasks: int, n_ways: int, k_shot: int, k_query: int, random_state: RandomState
    ) -> Iterator[torch.Tensor]:
        """Image positions of the tasks, ``(tasks, n_ways, k_shot + k_query)``, up to :attr:`plan_size` tasks
        at a time."""
        gen = torch_generator(check_rng(random_state))
        max_count = int(self.counts.max())
        per_class = k_shot + k_query
        for first in range(0, n_tasks, self.plan_size):
            size = min(self.plan_size, n_tasks - first)
            class_pick = torch.rand(size, self.n_classes, generator=gen).argsort(dim=1)[:, :n_ways]
            keys = torch.rand(size, n_ways, max_count, generator=gen)
            valid = torch.arange(max_count) < self.counts[class_pick].unsqueeze(-1)
            keys = keys.masked_fill(~valid, 2.0)
            offsets = keys.argsort(dim=-1)[..., :per_class]
            yield self._order[self.starts[class_pick].unsqueeze(-1) + offsets]

    def _gather(self, positions: torch.Tensor, k_shot: int, k_query: int) -> list[Task]:
        """The tasks of ``(tasks, n_ways, k_shot + k_query)`` image positions, in one gather."""
        n_tasks, n_ways = positions.shape[:2]
        n_support = n_tasks * n_ways * k_shot
        # one gather straight into the [all supports | all queries] layout: no second copy
        order = torch.cat([positions[..., :k_shot].reshape(-1), positions[..., k_shot:].reshape(-1)])
        flat = self.X.take(order)
        shape = self.X.shape[1:]
        support = flat[:n_support].view(n_tasks, n_ways * k_shot, *shape)
        query = flat[n_support:].view(n_tasks, n_ways * k_query, *shape)
        return episodes_from_blocks(support, query, n_ways, k_shot, k_query)

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
        """Draw ``n_tasks`` episodes of ``n_ways`` distinct classes, as a list.

        For many tasks prefer :meth:`iter_tasks`, which yields the same tasks
        while holding only one chunk of them in memory.

        Raises
        ------
        ValueError
            If ``n_ways`` exceeds the number of classes, or ``k_shot + k_query``
            exceeds the images of some class.
        """
        check_task_args(n_tasks, n_ways, k_shot, k_query, image_shape=self.X.shape[1:])
        self._check_layout(n_ways, k_shot, k_query)
        tasks: list[Task] = []
        for positions in self._plans(n_tasks, n_ways, k_shot, k_query, random_state):
            tasks.extend(self._gather(positions, k_shot, k_query))
        return tasks

    def task_positions(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> Iterator[torch.Tensor]:
        """The tasks :meth:`sample_tasks` would draw, as positions into ``X`` instead of images.

        Yields int64 tensors ``(tasks, n_ways, k_shot + k_query)``, up to
        :attr:`plan_size` tasks each: ``[t, w, :k_shot]`` are the support
        images of class ``w`` (label ``w``) of task ``t``, the rest its
        queries. For methods that embed each image once and score tasks on
        the features (``evaluate_pool``). Arguments are checked when the
        iterator is created.
        """
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        self._check_layout(n_ways, k_shot, k_query)
        return self._plans(n_tasks, n_ways, k_shot, k_query, random_state)

    def iter_tasks(
        self,
        n_tasks: int,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 15,
        random_state: RandomState = None,
        batch_size: int | None = None,
    ) -> Iterator[Task]:
        """Yield the tasks :meth:`sample_tasks` would return, materialising ``batch_size`` at a time.

        Memory stays flat whatever ``n_tasks``: use it for large evaluations,
        ``evaluate(sampler.iter_tasks(1000, ...))``. ``None`` sizes each batch
        to about 16 MB of float images (64 tasks of 5-way 1-shot 15-query at
        28x28, 2 at 84x84x3): blocks that small are reused by the allocator
        instead of being mapped afresh for every batch, which keeps the rate
        of a long stream at that of small calls. The arguments are checked
        when the iterator is created.
        """
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        if batch_size is None:
            task_bytes = 4 * n_ways * (k_shot + k_query) * int(torch.Size(self.X.shape[1:]).numel())
            batch_size = max(1, min(64, self._STREAM_BYTES // task_bytes))
        batch_size = check_count(batch_size, "batch_size")
        check_request_size(
            batch_size * n_ways * (k_shot + k_query), self.X.shape[1:], f"iter_tasks(batch_size={batch_size})"
        )
        self._check_layout(n_ways, k_shot, k_query)

        def generate() -> Iterator[Task]:
            for positions in self._plans(n_tasks, n_ways, k_shot, k_query, random_state):
                for chunk in positions.split(batch_size):
                    yield from self._gather(chunk, k_shot, k_query)

        return generate()


class TransformedTaskSampler:
    """Tasks of another sampler with a batched image transform applied to them.

    Parameters
    ----------
    sampler : object with ``sample_tasks``
        The source of the tasks (e.g. :class:`LabeledTaskSampler`, LASIUM).
    transform : callable
        ``transform(images) -> images`` on ``(n, C, H, W)`` tensors, called
        once per :meth:`sample_tasks` call on all images of all tasks; it
        draws its randomness from torch's global generator, which
        :meth:`sample_tasks` seeds from ``random_state``.
    queries_only : bool, default False
        Transform only the query images (as UMTRA and LASIUM augment).

    Examples
    --------
    >>> from metaaug.augment import soften_strokes
    >>> from metaaug.data import load_digits
    >>> X, y = load_digits()
    >>> sampler = TransformedTaskSampler(LabeledTaskSampler(X, y), soften_strokes)
    >>> len(sampler.sample_tasks(2, n_ways=5, k_shot=1, k_query=3, random_state=0))
    2
    """

    def __init__(self, sampler: Any, transform: Any, queries_only: bool = False) -> None:
        if not callable(getattr(sampler, "sample_tasks", None)):
            raise TypeError(f"sampler must have a sample_tasks method, got {type(sampler).__name__}")
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.sampler = sampler
        self.transform = transform
        self.queries_only = queries_only

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
        """``n_tasks`` tasks of the wrapped sampler, transformed in one batch."""
        rng = check_rng(random_state)
        tasks = self.sampler.sample_tasks(
            n_tasks, n_ways=n_ways, k_shot=k_shot, k_query=k_query, random_state=int(rng.integers(2**31 - 1))
        )
        support = torch.stack([t.support_x for t in tasks])
        query = torch.stack([t.query_x for t in tasks])
        blocks = [query] if self.queries_only else [support, query]
        images = torch.cat([b.flatten(0, 1) for b in blocks])
        with torch_seeded(int(rng.integers(2**31 - 1))):
            changed = torch.as_tensor(self.transform(images))
        if changed.shape != images.shape:
            raise ValueError(f"transform changed the image shape {tuple(images.shape)} -> {tuple(changed.shape)}")
        parts = changed.split([b.shape[0] * b.shape[1] for b in blocks])
        if self.queries_only:
            query = parts[0].view(query.shape)
        else:
            support, query = parts[0].view(support.shape), parts[1].view(query.shape)
        return episodes_from_blocks(support, query, n_ways, k_shot, k_query)
