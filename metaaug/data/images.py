"""Validation and conversion of images to metaaug's convention.

Images are ``torch.float32`` tensors shaped ``(N, C, H, W)`` with values in
``[0, 1]``. :func:`as_images` also accepts numpy arrays or tensors shaped
``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``, as uint8 (0..255), bool or
float in [0, 1], and raises ``ValueError`` naming the problem otherwise.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch


def as_images(X: Any, *, name: str = "X", min_count: int = 1) -> torch.Tensor:
    """Validate ``X`` and return it as a float32 ``(N, C, H, W)`` tensor in [0, 1].

    Parameters
    ----------
    X : array-like, list of PIL images, Dataset or folder path
        Arrays and tensors: ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``;
        uint8, bool or float. Channels (1 = grey, 3 = RGB) are read from axis 1
        when it has 1 or 3 entries, else from the last axis. Anything else
        :func:`metaaug.data.as_image_source` accepts is read in full.
    name : str
        How error messages refer to the argument.
    min_count : int
        Smallest acceptable ``N``.

    Returns
    -------
    torch.Tensor
        float32 on the input's device (CPU for numpy input), contiguous, never
        sharing memory with ``X``. For large sets prefer
        :func:`~metaaug.data.as_image_source`, which keeps uint8 images uint8
        and converts per batch.
    """
    from metaaug.data.sources import as_image_source

    return as_image_source(X, name=name, min_count=min_count).tensor()


def as_labels(y: Any, n: int, *, name: str = "y") -> torch.Tensor:
    """Validate integer class labels for ``n`` images; returns int64 ``(n,)``."""
    if isinstance(y, torch.Tensor):
        labels = y.detach().cpu()
    else:
        try:
            labels = torch.as_tensor(np.asarray(y))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a 1-D array of integer labels") from err
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        if labels.is_floating_point() and bool((labels == labels.round()).all()):
            labels = labels.long()
        else:
            raise ValueError(f"{name} must hold integer class labels, got dtype {labels.dtype}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} labels for {n} images")
    return labels.long().contiguous()


def check_image_shape(images: torch.Tensor, expected: tuple[int, ...], *, name: str = "seeds") -> None:
    """Raise ``ValueError`` if images are not ``(N, *expected)``."""
    if tuple(images.shape[1:]) != tuple(expected):
        raise ValueError(
            f"{name} have shape (C, H, W) = {tuple(images.shape[1:])} but the model was fitted on "
            f"{tuple(expected)}; resize or convert them first"
        )


def is_line_drawing(images: torch.Tensor, tolerance: float = 0.1, share: float = 0.85) -> bool:
    """Whether ``(N, C, H, W)`` images in [0, 1] are one-channel, nearly binary drawings.

    True when there is one channel and at least ``share`` of all pixels lie
    within ``tolerance`` of 0 or 1 (Omniglot at 28x28: 91%; the soft 8x8
    sklearn digits: 65%; photographs: far less).
    """
    if images.ndim != 4 or images.shape[1] != 1 or images.numel() == 0:
        return False
    near_binary = (images <= tolerance) | (images >= 1 - tolerance)
    return bool(near_binary.float().mean() >= share)


def looks_inverted(images: torch.Tensor, threshold: float = 0.5) -> bool:
    """Whether one-channel ``(N, 1, H, W)`` images in [0, 1] look drawn dark on a light background.

    The library's convention for line drawings is ink 1.0 on background 0.0;
    torchvision's and learn2learn's Omniglot, and most scanned drawings, are
    the other way round. True when the images have one channel and both their
    mean and the mean of their one-pixel border (the background of a centred
    drawing) are above ``threshold``. Colour images are never flagged.
    """
    if images.ndim != 4 or images.shape[1] != 1 or images.numel() == 0 or min(images.shape[-2:]) < 3:
        return False
    border = torch.cat(
        [images[..., 0, :].flatten(), images[..., -1, :].flatten(), images[..., 0].flatten(), images[..., -1].flatten()]
    )
    return bool(float(images.float().mean()) > threshold and float(border.float().mean()) > threshold)


def warn_if_inverted(images: torch.Tensor, *, name: str = "X", stacklevel: int = 3) -> bool:
    """Warn (``UserWarning``) when :func:`looks_inverted` holds; returns whether it warned.

    The message names the fix: pass ``1 - X`` (the command line's
    ``--invert yes`` does the same for files).
    """
    if not looks_inverted(images):
        return False
    warnings.warn(
        f"{name} looks like dark ink on a light background (mean {float(images.mean()):.2f}), but metaaug "
        f"expects line drawings with ink 1.0 on background 0.0; pass 1 - {name} instead (on the command "
        "line: --invert yes), or ignore this warning if the images are photographs",
        UserWarning,
        stacklevel=stacklevel,
    )
    return True
