"""Accuracy over many test tasks, reported the papers' way: mean and 95% CI."""

from __future__ import annotations

from collections.abc import Callable, Sequence

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


def check_tasks(tasks: Sequence[Task]) -> list[Task]:
    """Validate a list of tasks for evaluation."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    if isinstance(tasks, (str, bytes, torch.Tensor, np.ndarray)) or not hasattr(tasks, "__iter__"):
        raise ValueError(f"tasks must be a Task or a list of Tasks, got {type(tasks).__name__}")
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty: pass at least one Task")
    for i, task in enumerate(tasks):
        if not isinstance(task, Task):
            raise ValueError(f"tasks[{i}] is a {type(task).__name__}, not a metaaug Task")
        if len(task.query_y) == 0:
            raise ValueError(f"tasks[{i}] has no query images to evaluate on")
        for name in ("support_x", "query_x"):
            if not bool(torch.isfinite(getattr(task, name)).all()):
                raise ValueError(f"tasks[{i}].{name} contains NaN or infinite values")
    return tasks


def task_accuracies(
    predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor], tasks: Sequence[Task]
) -> np.ndarray:
    """Per-task query accuracy of ``predict(support_x, support_y, query_x)``."""
    accs = []
    for task in check_tasks(tasks):
        pred = predict(task.support_x, task.support_y, task.query_x)
        accs.append(float((pred.cpu() == task.query_y.cpu()).float().mean()))
    return np.asarray(accs)
