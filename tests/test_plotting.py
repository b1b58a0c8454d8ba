"""Image grids and PNG files (metaaug.plotting)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from metaaug.plotting import save_png, tile, to_uint8


def test_tile_layout():
    blocks = torch.zeros(2, 3, 1, 4, 5)
    grid = tile(blocks, pad=1)
    assert grid.shape == (1, 2 * 5 + 1, 3 * 6 + 1)
    assert float(grid.sum()) == grid.numel() - 2 * 3 * 4 * 5  # everything but the cells is white


def test_tile_places_cells_row_by_row():
    blocks = torch.arange(6, dtype=torch.float32).view(2, 3, 1, 1, 1).expand(2, 3, 3, 2, 2)
    grid = tile(blocks, pad=2, fill=-1.0)
    assert grid.shape == (3, 2 * 4 + 2, 3 * 4 + 2)
    assert float(grid[0, 2, 2]) == 0 and float(grid[0, 2, 6]) == 1 and float(grid[0, 6, 2]) == 3
    assert float(grid[1, 0, 0]) == -1 and float(grid[2, -1, -1]) == -1


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
