"""Whole-pixel translations with zero fill, batched, by indexing (no resampling).

Used for LASIUM's query shifts and the feature extractor's training jitter.
"""

from __future__ import annotations

from numbers import Integral

import torch


def shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Translate each image by whole pixels with zero fill, by indexing (no resampling).

    Parameters
    ----------
    images : torch.Tensor
        ``(n, C, H, W)``.
    shifts : torch.Tensor
        ``(n, 2)`` integer ``(dx, dy)``: content moves right / down for
        positive values, as a translation of :func:`apply_params` does.

    Returns
    -------
    torch.Tensor
        ``(n, C, H, W)``; equal to ``apply_params`` with the same integer
        translation, several times faster because no grid is interpolated.
    """
    n, _, height, width = images.shape
    shifts = shifts.to(device=images.device, dtype=torch.long)
    if shifts.shape != (n, 2):
        raise ValueError(f"shifts must have shape ({n}, 2), got {tuple(shifts.shape)}")
    # group the images by offset: one slice copy per distinct (dx, dy), no resampling
    span = 2 * (int(shifts.abs().max()) if n else 0) + 1
    keys = shifts[:, 1] * span + shifts[:, 0]
    order = torch.argsort(keys)
    grouped = images[order]
    moved = torch.zeros_like(grouped)
    counts = torch.unique_consecutive(keys[order], return_counts=True)[1].tolist()
    start = 0
    for count in counts:
        dx, dy = shifts[order[start]].tolist()
        if abs(dx) < width and abs(dy) < height:  # otherwise shifted out entirely: stays zero
            moved[start : start + count, :, max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = (
                grouped[start : start + count, :, max(-dy, 0) : height - max(dy, 0), max(-dx, 0) : width - max(dx, 0)]
            )
        start += count
    out = torch.empty_like(images)
    out[order] = moved
    return out


def random_shift(images: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Translate each image by a random whole-pixel offset of at most ``max_shift`` per axis (zero fill).

    Parameters
    ----------
    images : torch.Tensor
        ``(n, C, H, W)``.
    max_shift : int
        Largest offset in pixels, >= 0; each image's vertical and horizontal
        offsets are drawn uniformly from ``-max_shift .. max_shift``.
    generator : torch.Generator, optional
        Draws the offsets; it must live on ``images``' device (torch's
        default generator of that device when None).

    Returns
    -------
    torch.Tensor
        ``(n, C, H, W)``; ``images`` itself when ``max_shift`` is 0 (nothing
        is drawn then).
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, Integral) or max_shift < 0:
        raise ValueError(f"max_shift must be an int >= 0, got {max_shift!r}")
    max_shift = int(max_shift)
    if max_shift == 0:
        return images
    # one draw per image of (row, column) crop offsets into the zero-padded image; a crop offset o moves the
    # content by max_shift - o (the order and meaning of the draws are fixed: fitted models depend on them)
    offsets = torch.randint(0, 2 * max_shift + 1, (len(images), 2), device=images.device, generator=generator)
    shifts = max_shift - offsets.flip(1)
    return shift_images(images, shifts)
