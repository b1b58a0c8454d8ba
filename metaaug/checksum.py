"""The checksum saved model files carry."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import torch

CHECKSUM_KEY = "checksum"


def payload_checksum(payload: Mapping[str, Any]) -> str:
    """``"sha256:<hex>"`` over a saved payload (all but its checksum), walked in a fixed order.

    Tensors contribute their dtype, shape and raw bytes; other values their
    ``repr``; every entry is prefixed by its path in the payload.
    """
    digest = hashlib.sha256()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            flat = value.detach().cpu().reshape(-1)
            tensor = torch.empty(flat.numel(), dtype=flat.dtype).copy_(flat)  # dense, stride 1
            digest.update(f"{where}|tensor|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(tensor.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(f"{where}|dict|{len(value)}|".encode())
            for key in sorted(value, key=repr):
                walk(value[key], f"{where}/{key!r}")
        elif isinstance(value, (list, tuple)):
            digest.update(f"{where}|{type(value).__name__}|{len(value)}|".encode())
            for i, item in enumerate(value):
                walk(item, f"{where}/{i}")
        elif value is None or isinstance(value, (bool, int, float, str)):
            digest.update(f"{where}|{type(value).__name__}|{value!r}|".encode())
        else:
            raise TypeError(f"cannot checksum a {type(value).__name__} at {where or '/'}")

    walk({k: v for k, v in payload.items() if k != CHECKSUM_KEY}, "")
    return "sha256:" + digest.hexdigest()
