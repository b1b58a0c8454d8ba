"""Pictures of images: grids of images, of few-shot tasks and of training curves, as PNG files.

Every grid goes through one helper, :func:`image_grid` (``torchvision.utils.make_grid``):
one-channel images, whose ink is 1.0 in the library's convention, are drawn as
dark ink on white; small images are enlarged (nearest neighbour) so a 28 px
character fills at least 56 px; chosen cells (the seeds, the support images)
get a coloured frame.

Images follow the library's convention: float tensors ``(C, H, W)`` in ``[0, 1]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from metaaug.data.tasks import Task

#: Smallest side of a cell in a saved grid, in pixels (28 px images are drawn 2x).
MIN_CELL = 56
#: RGB colour of the frame around marked cells (the seeds, the support images).
MARK_COLOUR = (0.85, 0.33, 0.1)


def _make_grid(images: torch.Tensor, nrow: int, padding: int, pad_value: float) -> torch.Tensor:
    from metaaug._compat import import_torchvision

    utils = import_torchvision().utils
    return utils.make_grid(images, nrow=nrow, padding=padding, pad_value=pad_value)


def displayable(
    images: torch.Tensor, *, dark_ink: bool = True, scale: int | None = None, marked: Sequence[int] = ()
) -> torch.Tensor:
    """``(N, 3, H', W')`` images ready to tile: polarity, RGB, enlarged, marked cells framed.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` in [0, 1]; one channel (ink 1.0) or three (RGB).
    dark_ink : bool, default=True
        Draw one-channel images as ``1 - x`` (dark ink on white).
    scale : int, optional
        Enlargement factor; default: the smallest that makes a cell at least
        :data:`MIN_CELL` pixels on its shorter side.
    marked : sequence of int
        Indices of images to frame with :data:`MARK_COLOUR`.
    """
    images = images.detach().cpu().float().clamp(0, 1)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = (1.0 - images if dark_ink else images).expand(-1, 3, -1, -1)
    if scale is None:
        scale = max(1, math.ceil(MIN_CELL / min(images.shape[-2:])))
    if scale > 1:
        images = F.interpolate(images, scale_factor=scale, mode="nearest")
    images = images.clone()
    width = max(1, min(images.shape[-2:]) // 28)  # 2 px at 56 px
    colour = torch.tensor(MARK_COLOUR).view(3, 1, 1)
    for index in marked:
        cell = images[index]
        cell[:, :width, :] = colour
        cell[:, -width:, :] = colour
        cell[:, :, :width] = colour
        cell[:, :, -width:] = colour
    return images


def image_grid(
    images: torch.Tensor,
    nrow: int = 10,
    *,
    dark_ink: bool = True,
    scale: int | None = None,
    marked: Sequence[int] = (),
    padding: int = 2,
    background: float = 1.0,
) -> torch.Tensor:
    """Tile ``(N, C, H, W)`` images into one ``(3, H', W')`` RGB image, ``nrow`` per row.

    See :func:`displayable` for ``dark_ink``, ``scale`` and ``marked``;
    ``padding`` pixels of grey level ``background`` separate the cells and fill
    the last row.
    """
    cells = displayable(images, dark_ink=dark_ink, scale=scale, marked=marked)
    return _make_grid(cells, nrow=max(1, min(nrow, len(cells))), padding=padding, pad_value=background)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """A ``(C, H, W)`` image in [0, 1] as uint8 pixels: ``(H, W)`` for one channel, ``(H, W, 3)`` otherwise.

    Values are clipped to [0, 1] and rounded; of more than three channels the
    first three are kept.
    """
    array = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if array.shape[0] == 1:
        return array[0]
    return np.ascontiguousarray(array[:3].transpose(1, 2, 0))


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Save a ``(C, H, W)`` image in [0, 1] as a PNG (grey for 1 channel, RGB for 3); returns the path.

    Missing parent folders are created.
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image)).save(path)
    return path


def save_image_grid(images: torch.Tensor, path: str | Path, nrow: int = 10, **kwargs: Any) -> Path:
    """Save :func:`image_grid` of ``images`` as a PNG (folders created); returns the path."""
    return save_png(image_grid(images, nrow, **kwargs), path)


def _stack(parts: Sequence[torch.Tensor], gap: int, dim: int, background: float = 1.0) -> torch.Tensor:
    """Concatenate ``(3, H, W)`` images along ``dim`` (1: rows, 2: columns) with ``gap`` blank pixels."""
    other = 3 - dim
    size = max(p.shape[other] for p in parts)
    out: list[torch.Tensor] = []
    for i, part in enumerate(parts):
        missing = size - part.shape[other]
        if missing:
            pad = (0, missing, 0, 0) if other == 2 else (0, 0, 0, missing)
            part = F.pad(part, pad, value=background)
        out.append(part)
        if i < len(parts) - 1 and gap > 0:
            shape = list(part.shape)
            shape[dim] = gap
            out.append(torch.full(shape, background))
    return torch.cat(out, dim=dim)


def generated_grid(seeds: torch.Tensor, images: torch.Tensor, nrow: int = 10, gap: int = 8) -> torch.Tensor:
    """``(3, H, W)``: a row of framed seeds (up to ``nrow``), a gap, then the generated images ``nrow`` a row."""
    size = min(images.shape[-2:])
    scale = max(1, math.ceil(MIN_CELL / size))
    seeds = seeds[:nrow]
    top = image_grid(seeds, nrow, scale=scale, marked=range(len(seeds)))
    return _stack([top, image_grid(images, nrow, scale=scale)], gap, dim=1)


def task_grid(
    tasks: Sequence[Task], pad: int = 2, task_gap: int = 8, query_gap: int = 6, scale: int | None = None
) -> np.ndarray:
    """uint8 ``(H, W, 3)`` image: each task is a block of ``n_ways`` rows.

    A row shows one class: its framed support images, a gap of ``query_gap``
    pixels, then its query images; tasks are separated by ``task_gap`` pixels.
    One-channel images are drawn dark ink on white, enlarged by ``scale``
    (default: cells of at least :data:`MIN_CELL` pixels).
    """
    if not tasks:
        raise ValueError("tasks is empty: nothing to draw")
    blocks = []
    for task in tasks:
        support = _class_major(task.support_x, task.support_y)
        query = _class_major(task.query_x, task.query_y)
        k_shot, k_query = len(support) // task.n_ways, len(query) // task.n_ways
        left = image_grid(support, k_shot, scale=scale, marked=range(len(support)), padding=pad)
        right = image_grid(query, k_query, scale=scale, padding=pad)
        blocks.append(_stack([left, right], query_gap, dim=2))
    grid = _stack(blocks, task_gap, dim=1)
    return to_uint8(grid)


def _class_major(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Images ordered by class (stable), so a grid row is one class."""
    order = torch.sort(y.detach().cpu(), stable=True).indices
    return x.detach().cpu()[order]


def save_task_grid(tasks: Sequence[Task], path: str | Path, scale: int | None = None, **kwargs: Any) -> Path:
    """Save :func:`task_grid` of ``tasks`` as a PNG (folders created); returns the path.

    ``scale`` enlarges every cell that many times (default: cells of at least
    :data:`MIN_CELL` pixels).
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(task_grid(tasks, scale=scale, **kwargs)).save(path)
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
        scale: int | None = None,
    ) -> Path:
        """Sample ``n_tasks`` tasks and save them as a PNG grid, one row per class.

        Each row shows a class's ``k_shot`` support images (framed), a gap,
        then its ``k_query`` query images; tasks are stacked vertically. Line
        drawings are drawn dark on white and enlarged so 28 px images are
        readable (``scale`` overrides the factor). Returns the path.
        """
        tasks = self.sample_tasks(n_tasks, n_ways=n_ways, k_shot=k_shot, k_query=k_query, random_state=random_state)
        return save_task_grid(tasks, path, scale=scale)


def save_loss_curve(loss_curve: Any, path: str | Path, title: str = "training loss") -> Path:
    """Save a training-loss curve (one value per step) as a PNG; returns the path.

    Uses matplotlib when it is installed (axes, labels, a moving average);
    otherwise draws a plain line plot with PIL (the first and last step, the
    lowest and highest loss written at the corners).
    """
    values = np.asarray(loss_curve, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("loss_curve is empty: the estimator recorded no training step")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _plain_curve(values, path, title)
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.arange(1, values.size + 1)
    axes.plot(steps, values, lw=0.8, alpha=0.5, label="per step")
    window = max(1, values.size // 50)
    if window > 1:
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        axes.plot(steps[window - 1 :], smooth, lw=1.6, label=f"mean of {window} steps")
        axes.legend()
    axes.set_xlabel("training step")
    axes.set_ylabel("loss")
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _plain_curve(values: np.ndarray, path: Path, title: str, size: tuple[int, int] = (600, 350)) -> Path:
    from PIL import Image, ImageDraw

    width, height = size
    margin = 30
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = high - low or 1.0
    xs = margin + (width - 2 * margin) * np.arange(values.size) / max(1, values.size - 1)
    ys = height - margin - (height - 2 * margin) * (np.nan_to_num(values, nan=low) - low) / span
    draw.rectangle([margin, margin, width - margin, height - margin], outline=(160, 160, 160))
    draw.line(list(zip(xs.tolist(), ys.tolist())), fill=(31, 119, 180), width=2)
    draw.text((margin, 8), f"{title}: {values.size} steps", fill="black")
    draw.text((4, margin), f"{high:.3g}", fill="black")
    draw.text((4, height - margin - 12), f"{low:.3g}", fill="black")
    draw.text((margin, height - margin + 4), "step 1", fill="black")
    draw.text((width - margin - 60, height - margin + 4), f"step {values.size}", fill="black")
    image.save(path)
    return path
