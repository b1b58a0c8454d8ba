"""New classes from old ones by quarter-turn rotation (the standard Omniglot class augmentation).

Vinyals et al. (2016) and Snell et al. (2017) meta-train on Omniglot with every
character also rotated by 90, 180 and 270 degrees, each rotation counted as a
class of its own: a rotated character is a different symbol, so the class
count grows fourfold without new drawings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from metaaug.data.images import as_images, as_labels


def add_rotated_classes(X: Any, y: Any, quarter_turns: Sequence[int] = (1, 2, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """Append each class rotated by the given quarter turns, as new classes.

    Parameters
    ----------
    X : array-like
        Square images (see :func:`metaaug.data.as_images`).
    y : array-like
        Integer class labels, one per image.
    quarter_turns : sequence of int
        Counter-clockwise rotations in multiples of 90 degrees, each in 1..3,
        no repeats. The originals are always kept (turn 0).

    Returns
    -------
    X_out, y_out : torch.Tensor
        ``(len(X) * (1 + len(quarter_turns)), C, H, W)`` images: the originals
        first, then one rotated copy of all of them per turn; labels of turn
        ``t`` (its position in ``quarter_turns``, from 1) are
        ``y + t * (y.max() + 1)``, so no two rotations share a class.

    Raises
    ------
    ValueError
        If the images are not square, a turn is outside 1..3 or repeated, or
        a label is negative.
    """
    images = as_images(X)
    labels = as_labels(y, len(images))
    turns = [int(turn) for turn in quarter_turns]
    if any(turn not in (1, 2, 3) for turn in turns) or len(set(turns)) != len(turns):
        raise ValueError(f"quarter_turns must be distinct values in 1..3, got {list(quarter_turns)}")
    if images.shape[2] != images.shape[3]:
        raise ValueError(f"rotated classes need square images, got {images.shape[2]}x{images.shape[3]}")
    if len(labels) and int(labels.min()) < 0:
        raise ValueError("class labels must be non-negative to offset the rotated classes")
    stride = int(labels.max()) + 1 if len(labels) else 0
    rotated = [torch.rot90(images, turn, dims=(2, 3)) for turn in turns]
    offsets = [labels + (position + 1) * stride for position in range(len(turns))]
    return torch.cat([images, *rotated]).contiguous(), torch.cat([labels, *offsets])
