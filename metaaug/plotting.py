"""Pictures of images: tile a batch into one grid and write it as a PNG.

Images follow the library's convention: float tensors ``(C, H, W)`` in
``[0, 1]``; one channel is written as a grey PNG, three as RGB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def tile(blocks: torch.Tensor, pad: int = 2, fill: float = 1.0) -> torch.Tensor:
    """Tile a ``(rows, cols, C, H, W)`` block of images into one ``(C, H', W')`` image.

    Every cell gets ``pad`` pixels of value ``fill`` above and to its left,
    and the grid as a whole a ``pad`` border below and to the right, so cells
    are separated by ``pad`` pixels and framed by ``pad`` pixels.

    Parameters
    ----------
    blocks : torch.Tensor
        ``(rows, cols, C, H, W)`` images.
    pad : int, default=2
        Gap between cells and around the grid, in pixels.
    fill : float, default=1.0
        Value of the gaps (1.0: white for grey images drawn dark on white).

    Returns
    -------
    torch.Tensor
        ``(C, rows * (H + pad) + pad, cols * (W + pad) + pad)``.
    """
    rows, cols, channels, height, width = blocks.shape
    padded = F.pad(blocks, (pad, 0, pad, 0), value=fill)
    grid = padded.permute(2, 0, 3, 1, 4).reshape(channels, rows * (height + pad), cols * (width + pad))
    return F.pad(grid, (0, pad, 0, pad), value=fill)


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
