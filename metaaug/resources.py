"""Devices, counts and memory: refusing requests that cannot fit before any work."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch


def available_memory(device: torch.device | str = "cpu") -> int | None:
    """Bytes of memory free for new tensors on ``device`` (None when it cannot be read)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        on_device, _ = torch.cuda.mem_get_info(device)
        return int(on_device)
    free: int | None = None
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if free is None:
        try:
            free = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    try:  # a container's memory limit (cgroup v2) can be tighter than the machine's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            free = min(free, max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return free


def check_count(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; bools, floats, strings and None give a ``ValueError``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_request_size(
    n_items: int, item_shape: Sequence[int], what: str, device: torch.device | str = "cpu", bytes_per_value: int = 4
) -> None:
    """Refuse up front a request whose result alone would not fit in the free memory.

    ``n_items`` results shaped ``item_shape`` of ``bytes_per_value`` bytes
    each are compared with :func:`available_memory` of the CPU (where results
    are returned) and, for CUDA, of ``device``.
    """
    needed = int(n_items) * int(np.prod([int(s) for s in item_shape], dtype=np.float64)) * bytes_per_value
    devices = [torch.device("cpu")] + ([torch.device(device)] if torch.device(device).type == "cuda" else [])
    for place in devices:
        free = available_memory(place)
        if free is not None and needed > free:
            raise ValueError(
                f"{what}: {n_items} results of shape {tuple(int(s) for s in item_shape)} need about "
                f"{needed / 2**30:.3g} GiB, more than the {free / 2**30:.3g} GiB free on {place}; "
                "ask for fewer at a time"
            )


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    return resolved
