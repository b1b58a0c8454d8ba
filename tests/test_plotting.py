"""Pictures: image grids, task grids, generated grids and loss curves (metaaug.plotting)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from metaaug.data import Task
from metaaug.plotting import (
    MARK_COLOUR,
    MIN_CELL,
    generated_grid,
    image_grid,
    save_loss_curve,
    save_png,
    save_task_grid,
    task_grid,
    to_uint8,
)


def ink(n: int, size: int = 28) -> torch.Tensor:
    """``n`` one-channel drawings: a vertical stroke of ink 1.0 on background 0.0."""
    images = torch.zeros(n, 1, size, size)
    images[:, :, 4:-4, size // 2] = 1.0
    return images


def test_image_grid_draws_dark_ink_on_white_and_enlarges():
    grid = image_grid(ink(3), nrow=3, padding=2)
    scale = MIN_CELL // 28
    assert grid.shape == (3, 28 * scale + 4, 3 * (28 * scale + 2) + 2)
    cell = grid[:, 2 : 2 + 28 * scale, 2 : 2 + 28 * scale]
    assert float(cell[:, 0, 0].min()) == 1.0  # background white
    assert float(cell[:, 10 * scale, 14 * scale].max()) == 0.0  # ink black


def test_image_grid_frames_marked_cells_only():
    grid = image_grid(ink(2), nrow=2, marked=[0], padding=0)
    width = grid.shape[-1] // 2
    colour = torch.tensor(MARK_COLOUR)
    assert torch.allclose(grid[:, 0, 0], colour) and torch.allclose(grid[:, 0, width - 1], colour)
    assert float(grid[:, 0, width:].min()) == 1.0  # the unmarked cell has no frame


def test_rgb_images_keep_their_colours_and_bad_shapes_are_refused():
    red = torch.zeros(1, 3, 28, 28)
    red[:, 0] = 1.0
    assert torch.equal(image_grid(red, padding=0)[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="images must be"):
        image_grid(torch.zeros(2, 2, 8, 8))


def test_task_grid_has_one_row_per_class_with_support_left():
    support_x, query_x = ink(3), ink(6)
    task = Task(support_x, torch.arange(3), query_x, torch.arange(3).repeat(2))
    grid = task_grid([task, task], pad=2, task_gap=8, query_gap=6)
    cell = 28 * (MIN_CELL // 28)
    assert grid.dtype == np.uint8 and grid.shape[2] == 3
    assert grid.shape[0] == 2 * (3 * (cell + 2) + 2) + 8
    assert grid.shape[1] == (cell + 4) + 6 + (2 * (cell + 2) + 2)
    assert tuple(grid[2, 2]) == tuple(round(255 * c) for c in MARK_COLOUR)  # the support image is framed


def test_save_task_grid_and_generated_grid_are_readable(tmp_path):
    task = Task(ink(2), torch.arange(2), ink(4), torch.arange(2).repeat(2))
    with Image.open(save_task_grid([task], tmp_path / "sub" / "tasks.png")) as image:
        assert image.mode == "RGB" and image.height >= 2 * MIN_CELL
    grid = generated_grid(ink(3, size=12), ink(25, size=12))
    assert grid.shape[0] == 3 and grid.shape[1] >= 4 * MIN_CELL  # seeds + 3 rows of 12 px images, enlarged
    assert float(grid.min()) == 0.0 and float(grid.max()) == 1.0


def test_to_uint8_rounds_clips_and_orders_channels():
    grey = torch.tensor([[[0.0, 0.5, 1.2]]])
    assert to_uint8(grey).tolist() == [[0, 128, 255]]
    rgb = torch.stack([torch.full((2, 2), v) for v in (0.0, 0.5, 1.0)])
    assert to_uint8(rgb).shape == (2, 2, 3) and to_uint8(rgb)[0, 0].tolist() == [0, 128, 255]


def test_save_png_writes_grey_and_rgb(tmp_path):
    grey = torch.rand(1, 6, 7, generator=torch.Generator().manual_seed(0))
    path = save_png(grey, tmp_path / "sub" / "grey.png")
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == (7, 6)
        assert np.array_equal(np.asarray(img), to_uint8(grey))
    with Image.open(save_png(torch.rand(3, 4, 4), tmp_path / "rgb.png")) as img:
        assert img.mode == "RGB"


def test_loss_curve_png(tmp_path):
    curve = np.exp(-np.linspace(0, 3, 200)).astype(np.float32)
    with Image.open(save_loss_curve(curve, tmp_path / "a" / "loss.png")) as image:
        assert image.mode in ("RGB", "RGBA") and image.width > image.height > 100
    with pytest.raises(ValueError, match="loss_curve is empty"):
        save_loss_curve([], tmp_path / "empty.png")
