"""Conversion of one image or one array to metaaug's layout, and their checks (used by :mod:`metaaug.data.sources`)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

CHANNEL_COUNTS = (1, 3)  # grey or RGB
RANGE_TOLERANCE = 1e-4
SCAN_CHUNK = 4096  # images per step when scanning a whole array (range checks, statistics)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        pair = (int(size), int(size))
    elif isinstance(size, Sequence) and len(size) == 2 and all(isinstance(s, (int, np.integer)) for s in size):
        pair = (int(size[0]), int(size[1]))
    else:
        raise ValueError(f"image_size must be an int or (height, width), got {size!r}")
    if min(pair) < 2:
        raise ValueError(f"image_size must be at least 2 pixels a side, got {size!r}")
    return pair


def _storage_tensor(data: Any, name: str) -> torch.Tensor:
    """``data`` as an ``(N, C, H, W)`` tensor in its storage dtype (uint8 or float32), checked, without copying
    uint8 data."""
    if isinstance(data, np.ndarray):
        if data.dtype == object:
            raise ValueError(f"{name} has dtype object; expected uint8 or float images")
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        with warnings.catch_warnings():  # a read-only memmap: torch never writes into it
            warnings.simplefilter("ignore", UserWarning)
            tensor = torch.from_numpy(data)
    elif isinstance(data, torch.Tensor):
        tensor = data.detach()
    else:
        raise ValueError(f"{name} must be a numpy array or torch tensor of images, got {type(data).__name__}")
    if tensor.ndim not in (3, 4):
        raise ValueError(
            f"{name} must have 3 dims (N, H, W) or 4 dims (N, C, H, W) / (N, H, W, C); got shape {tuple(tensor.shape)}"
        )
    if tensor.shape[0] < 1 or tensor.numel() == 0:
        raise ValueError(f"{name} is empty or too small: shape {tuple(tensor.shape)}, need at least 1 image(s)")
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8) * 255
    elif tensor.is_floating_point():
        tensor = tensor.float()
        lo, hi = _check_float_range(tensor, name)
        if lo < 0 or hi > 1:  # rounding errors within the tolerance
            tensor = tensor.clamp(0.0, 1.0)
    elif tensor.dtype != torch.uint8:
        raise ValueError(f"{name} has dtype {tensor.dtype}; expected uint8, bool or float images")
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(1)
    elif tensor.shape[1] not in CHANNEL_COUNTS and tensor.shape[-1] in CHANNEL_COUNTS:
        tensor = tensor.permute(0, 3, 1, 2)
    elif tensor.shape[1] not in CHANNEL_COUNTS:
        raise ValueError(
            f"{name} with shape {tuple(tensor.shape)} has no channel axis of size 1 or 3 "
            "at position 1 (N, C, H, W) or -1 (N, H, W, C)"
        )
    return tensor


def _check_float_range(tensor: torch.Tensor, name: str) -> tuple[float, float]:
    """Refuse NaN, infinite values and values outside [0, 1], scanning in chunks (no full-size temporary)."""
    lo, hi, bad = math.inf, -math.inf, 0
    for chunk in tensor.split(SCAN_CHUNK):
        finite = torch.isfinite(chunk)
        if not bool(finite.all()):
            bad += int((~finite).sum())
            continue
        lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        hint = (
            "; they look normalised with a mean and standard deviation: undo it (X * std + mean) before passing them"
            if lo < -RANGE_TOLERANCE
            else ""
        )
        raise ValueError(
            f"{name} has float values in [{lo:.4g}, {hi:.4g}], outside [0, 1]; "
            f"pass uint8 (0..255) or floats scaled to [0, 1]{hint}"
        )
    return lo, hi


def _is_pil(value: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency of torchvision
        return False
    return isinstance(value, Image.Image)


def _pil_array(image: Any, index: int, name: str, channels: int | None) -> np.ndarray:
    if not _is_pil(image):
        raise ValueError(f"{name}[{index}] is a {type(image).__name__}; a list must hold only PIL images")
    mode = "L" if (channels == 1 or (channels is None and image.mode in ("1", "L", "LA", "I", "F"))) else "RGB"
    pixels = np.asarray(image.convert(mode), dtype=np.uint8)
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def _item_image(item: Any, index: int, where: str, channels: int | None) -> torch.Tensor:
    """The image of a dataset item as a ``(C, H, W)`` uint8 or float32 tensor, checked."""
    image = item[0] if isinstance(item, (tuple, list)) else item
    if isinstance(item, dict):
        raise ValueError(f"{where} is a dict; the dataset must return an image or an (image, label) tuple")
    if _is_pil(image):
        array = _pil_array(image, index, where, channels)
        return torch.from_numpy(np.ascontiguousarray(array))
    if isinstance(image, np.ndarray) and image.dtype != object:
        tensor = torch.from_numpy(np.ascontiguousarray(image))
        if tensor.ndim == 3 and tensor.shape[0] not in CHANNEL_COUNTS and tensor.shape[-1] in CHANNEL_COUNTS:
            tensor = tensor.permute(2, 0, 1)
    elif isinstance(image, torch.Tensor):
        tensor = image.detach().cpu()
    else:
        raise ValueError(
            f"{where} returned a {type(image).__name__}, not an image: the dataset must return a PIL image, a numpy "
            "array (H, W) / (H, W, C) or a tensor (C, H, W), alone or first in an (image, label) tuple"
        )
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3 or tensor.shape[0] not in CHANNEL_COUNTS or min(tensor.shape[1:]) < 2:
        raise ValueError(f"{where} is not an image: shape {tuple(tensor.shape)}, expected (C, H, W) with C 1 or 3")
    if tensor.dtype == torch.bool:
        tensor = tensor.to(torch.uint8) * 255
    elif tensor.is_floating_point():
        tensor = tensor.float()
        lo, hi = float(tensor.min()), float(tensor.max())
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{where} contains NaN or infinite values")
        if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
            raise ValueError(
                f"{where} has values in [{lo:.4g}, {hi:.4g}], outside [0, 1]; the dataset's transform seems to "
                "normalise with a mean and standard deviation: drop transforms.Normalize (metaaug expects images "
                "in [0, 1], e.g. from transforms.ToTensor()) or return uint8 / PIL images"
            )
        tensor = tensor.clamp(0.0, 1.0)
    elif tensor.dtype != torch.uint8:
        raise ValueError(f"{where} has dtype {tensor.dtype}; expected uint8, bool or float images")
    if channels is not None and tensor.shape[0] != channels:
        tensor = _convert_channels(tensor, channels)
    return tensor


def _convert_channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if channels == 3:
        return image.expand(3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)  # ITU-R 601 luma, as PIL's convert("L")
    grey = (image.float() * weights).sum(0, keepdim=True)
    return grey.round().clamp(0, 255).to(torch.uint8) if image.dtype == torch.uint8 else grey


def _resize(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A ``(C, H, W)`` image resized to ``size`` (bilinear, antialiased when shrinking), in its own dtype."""
    shrink = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(image[None].float(), size=size, mode="bilinear", align_corners=False, antialias=shrink)[0]
    if image.dtype == torch.uint8:
        return out.round().clamp(0, 255).to(torch.uint8)
    return out.clamp(0.0, 1.0)


def _to_float(image: torch.Tensor) -> torch.Tensor:
    return image.float().div_(255.0) if image.dtype == torch.uint8 else image.float()


def _known_labels(dataset: Any) -> torch.Tensor | None:
    """Labels a dataset lists without decoding its images, or ``None``."""
    mapping = getattr(dataset, "indices_to_labels", None)  # learn2learn MetaDataset
    if isinstance(mapping, dict) and len(mapping) == len(dataset):
        return torch.tensor([int(mapping[i]) for i in range(len(dataset))], dtype=torch.int64)
    for attribute in ("targets", "labels", "_labels"):
        values = getattr(dataset, attribute, None)
        if values is None or isinstance(values, str):
            continue
        try:
            labels = torch.as_tensor(np.asarray(values))
        except (TypeError, ValueError):
            continue
        if labels.ndim == 1 and len(labels) == len(dataset) and not labels.is_floating_point():
            return None if bool((labels < 0).all()) else labels.long()
    return None


def _item_path(dataset: Any, index: int) -> str | None:
    samples = getattr(dataset, "samples", None) or getattr(dataset, "imgs", None)
    if isinstance(samples, list) and 0 <= index < len(samples):
        entry = samples[index]
        return str(entry[0] if isinstance(entry, (tuple, list)) else entry)
    return None
