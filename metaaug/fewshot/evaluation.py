"""Accuracy over many test tasks, reported the papers' way: mean and 95% CI."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from metaaug.data.tasks import Task


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
