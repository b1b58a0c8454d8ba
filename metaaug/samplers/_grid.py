"""PNG grids of sampled tasks (one row per class), shared by every task sampler."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from metaaug.data.tasks import Task


def task_grid(tasks: Sequence[Task], pad: int = 2, task_gap: int = 8, query_gap: int = 6) -> np.ndarray:
    """uint8 ``(H, W, 3)`` image: each task is a block of ``n_ways`` rows.

    A row shows one class: its support images, a gap, then its query images.
    Pixel values are drawn as ink = dark (1.0 -> black) for one-channel images.
    """
    if not tasks:
        raise ValueError("tasks is empty: nothing to draw")
    blocks = []
    for task in tasks:
        n_ways = task.n_ways
        support = task.support_x.detach().cpu().float().view(n_ways, -1, *task.support_x.shape[1:])
        query = task.query_x.detach().cpu().float().view(n_ways, -1, *task.query_x.shape[1:])
        rows = []
        for way in range(n_ways):
            cells = [_cell(img, pad) for img in support[way]]
            cells.append(np.full((cells[0].shape[0], query_gap, 3), 255, np.uint8))
            cells += [_cell(img, pad) for img in query[way]]
            rows.append(np.concatenate(cells, axis=1))
        blocks.append(np.concatenate(rows, axis=0))
    width = max(b.shape[1] for b in blocks)
    out = []
    for i, block in enumerate(blocks):
        if block.shape[1] < width:
            block = np.pad(block, ((0, 0), (0, width - block.shape[1]), (0, 0)), constant_values=255)
        out.append(block)
        if i < len(blocks) - 1:
            out.append(np.full((task_gap, width, 3), 255, np.uint8))
    return np.concatenate(out, axis=0)


def _cell(image: torch.Tensor, pad: int) -> np.ndarray:
    channels = image.shape[0]
    array = image.clamp(0, 1).numpy()
    if channels == 1:
        array = np.repeat(1.0 - array, 3, axis=0)  # ink (1.0) drawn dark on white
    elif channels != 3:
        array = np.repeat(array[:1], 3, axis=0)
    array = (array.transpose(1, 2, 0) * 255).round().astype(np.uint8)
    return np.pad(array, ((pad, pad), (pad, pad), (0, 0)), constant_values=200)


def save_task_grid(tasks: Sequence[Task], path: str | Path, scale: int = 2, **kwargs: Any) -> Path:
    """Save :func:`task_grid` of ``tasks`` as a PNG, enlarged ``scale`` times."""
    from PIL import Image

    grid = task_grid(tasks, **kwargs)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    return path


class _SamplesTasks(Protocol):
    def sample_tasks(
        self, n_tasks: int, n_ways: int = ..., k_shot: int = ..., k_query: int = ..., random_state: Any = ...
    ) -> list[Task]: ...


class TaskPlotMixin:
    """Adds ``plot_tasks`` to a sampler that has ``sample_tasks``."""

    def plot_tasks(
        self: _SamplesTasks,
        path: str | Path,
        n_tasks: int = 2,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 5,
        random_state: Any = None,
        scale: int = 2,
    ) -> Path:
        """Sample ``n_tasks`` tasks and save them as a PNG grid, one row per class.

        Each row shows a class's ``k_shot`` support images, a gap, then its
        ``k_query`` query images; tasks are stacked vertically. Returns the path.
        """
        tasks = self.sample_tasks(n_tasks, n_ways=n_ways, k_shot=k_shot, k_query=k_query, random_state=random_state)
        return save_task_grid(tasks, path, scale=scale)
