"""Accuracy over many test tasks, reported the papers' way: mean and 95% CI."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from metaaug.data.tasks import Task


def mean_ci95(values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Mean and 95% confidence half-width ``1.96 * std / sqrt(n)`` (population std)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("cannot summarise an empty list of accuracies")
    return float(arr.mean()), float(1.96 * arr.std() / np.sqrt(arr.size))


def check_tasks(tasks: Sequence[Task]) -> list[Task]:
    """Validate a list of tasks for evaluation."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    tasks = list(tasks)
    if not tasks:
        raise ValueError("tasks is empty: pass at least one Task")
    for i, task in enumerate(tasks):
        if not isinstance(task, Task):
            raise ValueError(f"tasks[{i}] is a {type(task).__name__}, not a metaaug Task")
        if len(task.query_y) == 0:
            raise ValueError(f"tasks[{i}] has no query images to evaluate on")
    return tasks


def task_accuracies(predict: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
                    tasks: Sequence[Task]) -> np.ndarray:
    """Per-task query accuracy of ``predict(support_x, support_y, query_x)``."""
    accs = []
    for task in check_tasks(tasks):
        pred = predict(task.support_x, task.support_y, task.query_x)
        accs.append(float((pred.cpu() == task.query_y.cpu()).float().mean()))
    return np.asarray(accs)
