"""Accuracy over many test tasks, reported the papers' way: mean and 95% CI."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from metaaug._random import RandomState
from metaaug.data.images import check_image_shape
from metaaug.data.tasks import LabeledTaskSampler, Task
from metaaug.nets.modes import eval_mode


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval.

    The half-width is ``1.96 * s / sqrt(n)`` with ``s`` the *sample* standard
    deviation (``ddof=1``, the unbiased variance), the normal approximation
    the few-shot papers report. With one value the half-width is 0.

    Parameters
    ----------
    values : sequence of float
        Per-task accuracies, per-seed results, ...

    Returns
    -------
    mean, ci95 : float
    """
    arr = np.asarray(values, dtype=np.float64).ravel()
    if arr.size == 0:
        raise ValueError("cannot summarise an empty list of values")
    if arr.size == 1:
        return float(arr[0]), 0.0
    return float(arr.mean()), float(1.96 * arr.std(ddof=1) / np.sqrt(arr.size))


def iter_checked_tasks(tasks: Iterable[Task] | Task) -> Iterator[Task]:
    """Yield the tasks of a list or any iterable (e.g. ``sampler.iter_tasks(...)``), each checked as it comes.

    Raises ``ValueError`` when ``tasks`` is not a Task or an iterable of
    Tasks, when an item is not a Task, has no query images or holds NaN, and
    when there is no task at all.
    """
    if isinstance(tasks, Task):
        tasks = [tasks]
    if isinstance(tasks, (str, bytes, torch.Tensor, np.ndarray)) or not hasattr(tasks, "__iter__"):
        raise ValueError(f"tasks must be a Task, a list of Tasks or an iterator of Tasks, got {type(tasks).__name__}")
    count = 0
    for i, task in enumerate(tasks):
        if not isinstance(task, Task):
            raise ValueError(f"tasks[{i}] is a {type(task).__name__}, not a metaaug Task")
        if len(task.query_y) == 0:
            raise ValueError(f"tasks[{i}] has no query images to evaluate on")
        for name in ("support_x", "query_x"):
            if not bool(torch.isfinite(getattr(task, name)).all()):
                raise ValueError(f"tasks[{i}].{name} contains NaN or infinite values")
        count += 1
        yield task
    if count == 0:
        raise ValueError("tasks is empty: pass at least one Task")


def check_tasks(tasks: Iterable[Task] | Task) -> list[Task]:
    """Validate tasks for evaluation; returns them as a list."""
    return list(iter_checked_tasks(tasks))


def chunks(tasks: Iterable[Task], size: int | None = None, max_pixels: int | None = None) -> Iterator[list[Task]]:
    """Consecutive lists of tasks, read lazily from ``tasks``.

    A list ends after ``size`` tasks, or once its images hold ``max_pixels``
    pixels (height x width, summed over all images of its tasks), whichever
    comes first; each list holds at least one task.
    """
    group: list[Task] = []
    pixels = 0
    for task in tasks:
        group.append(task)
        pixels += (len(task.support_x) + len(task.query_x)) * int(task.support_x.shape[-2] * task.support_x.shape[-1])
        if (size is not None and len(group) >= size) or (max_pixels is not None and pixels >= max_pixels):
            yield group
            group, pixels = [], 0
    if group:
        yield group


def task_accuracies(
    predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], tasks: Iterable[Task] | Task
) -> np.ndarray:
    """Per-task query accuracy of ``predict(support_x, support_y, query_x)``.

    ``tasks`` may be a list or an iterator (read once, one task at a time).
    """
    accs = []
    for task in iter_checked_tasks(tasks):
        pred = predict(task.support_x, task.support_y, task.query_x)
        accs.append(float((pred.cpu() == task.query_y.cpu()).float().mean()))
    return np.asarray(accs)


def pool_accuracies(
    positions: Iterable[torch.Tensor],
    k_shot: int,
    support_features: torch.Tensor,
    query_features: torch.Tensor,
    logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> np.ndarray:
    """Per-task query accuracy of tasks given as positions into precomputed features.

    Parameters
    ----------
    positions : iterable of torch.Tensor
        int64 ``(tasks, n_ways, k_shot + k_query)`` blocks, as
        :meth:`metaaug.data.LabeledTaskSampler.task_positions` yields them.
    k_shot : int
        The first ``k_shot`` positions of each class are its support.
    support_features, query_features : torch.Tensor
        ``(N, D)`` features of every image of the pool, as support and as
        query (the same tensor for methods with one embedding).
    logits : callable
        ``logits(prototypes, queries)`` with class means ``(tasks, n_ways, D)``
        and queries ``(tasks, n_ways * k_query, D)`` returns
        ``(tasks, n_ways * k_query, n_ways)`` scores.

    Returns
    -------
    numpy.ndarray
        One accuracy per task.
    """
    accs = []
    for block in positions:
        block = block.to(support_features.device)
        n_tasks, n_ways, per_class = block.shape
        prototypes = support_features[block[..., :k_shot]].mean(dim=2)
        queries = query_features[block[..., k_shot:].reshape(n_tasks, -1)]
        labels = torch.arange(n_ways, device=block.device).repeat_interleave(per_class - k_shot)
        predicted = logits(prototypes, queries).argmax(dim=-1)
        accs.append((predicted == labels).float().mean(dim=1).cpu())
    return torch.cat(accs).numpy().astype(np.float64)


def evaluate_on_pool(
    X: Any,
    y: Any,
    featurize: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    logits: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    n_tasks: int,
    n_ways: int,
    k_shot: int,
    k_query: int,
    random_state: RandomState,
    device: torch.device,
    image_shape: tuple[int, ...],
    batch_size: int = 512,
) -> tuple[float, float]:
    """Mean accuracy and 95% CI over tasks drawn from a labeled pool, each image embedded once.

    The tasks are those ``LabeledTaskSampler(X, y).iter_tasks(n_tasks, n_ways,
    k_shot, k_query, random_state)`` yields; ``featurize(images)`` returns an
    image batch's ``(support_features, query_features)`` and ``logits`` scores
    queries against class means (see :func:`pool_accuracies`). For methods
    whose features of an image do not depend on the rest of its task.
    ``image_shape`` is the shape the method was fitted on; ``X`` must match it.
    """
    sampler = LabeledTaskSampler(X, y)
    check_image_shape(sampler.X[:1], image_shape, name="X")
    positions = sampler.task_positions(n_tasks, n_ways, k_shot, k_query, random_state)
    support_parts, query_parts = [], []
    for batch in sampler.X.batches(batch_size):
        support, query = featurize(batch.to(device))
        support_parts.append(support)
        query_parts.append(query)
    accs = pool_accuracies(positions, k_shot, torch.cat(support_parts), torch.cat(query_parts), logits)
    return mean_ci95(accs)


class PoolEvaluation:
    """Adds ``evaluate_pool`` to a few-shot classifier whose image features do not depend on the task.

    The class provides ``_pool_features(images) -> (support, query)``
    features, ``_pool_logits(prototypes, queries)``, ``_pool_modules()`` (the
    networks to put in evaluation mode) and ``_pool_applies()`` (False when
    the features change per task, e.g. with test-time adaptation: then
    ``evaluate`` scores the same tasks one by one).
    """

    image_shape_: tuple[int, ...]

    def evaluate_pool(
        self,
        X: Any,
        y: Any,
        n_tasks: int = 1000,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 15,
        random_state: RandomState = None,
    ) -> tuple[float, float]:
        """Mean accuracy and 95% CI on ``n_tasks`` tasks drawn from labeled images, each image embedded once.

        Scores the tasks ``LabeledTaskSampler(X, y).iter_tasks(n_tasks,
        n_ways, k_shot, k_query, random_state)`` yields, with the accuracy
        :meth:`evaluate` gives on them, but runs the network once per image of
        ``X`` rather than once per image of every task (in evaluation mode an
        image's features do not depend on its task). For 1000 20-way 5-shot
        tasks on a pool of a thousand images that is 400 times fewer forward
        passes.

        Parameters
        ----------
        X, y : images and labels
            Anything :class:`~metaaug.data.LabeledTaskSampler` accepts.
        n_tasks, n_ways, k_shot, k_query : int
            The tasks' layout (15 queries per class, as the papers evaluate).
        random_state : None, int or numpy Generator
            Which tasks are drawn.
        """
        self._check_fitted()  # type: ignore[attr-defined]
        if not self._pool_applies():
            sampler = LabeledTaskSampler(X, y)
            tasks = sampler.iter_tasks(n_tasks, n_ways, k_shot, k_query, random_state=random_state)
            return self.evaluate(tasks)  # type: ignore[attr-defined]
        with torch.inference_mode(), eval_mode(*self._pool_modules()):
            return evaluate_on_pool(
                X,
                y,
                self._pool_features,
                self._pool_logits,
                n_tasks=n_tasks,
                n_ways=n_ways,
                k_shot=k_shot,
                k_query=k_query,
                random_state=random_state,
                device=self._device(),  # type: ignore[attr-defined]
                image_shape=self.image_shape_,
            )

    def _pool_applies(self) -> bool:
        return True

    def _pool_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _pool_logits(self, prototypes: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _pool_modules(self) -> list[torch.nn.Module]:
        raise NotImplementedError
