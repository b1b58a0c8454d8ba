"""A least-recently-used store of networks adapted to sets of seed images.

Adapting a meta-learned model to a class costs far more than sampling from
the adapted copy, and an augmented dataset asks for the same class again and
again. The cache keys an adaptation by the exact bytes (and shape) of its
seed images, so it can only be reused for the very same seeds.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)


def seeds_key(seeds: torch.Tensor) -> str:
    """A hex digest of the seed images' shape and values (SHA-1)."""
    data = seeds.detach().cpu().contiguous().numpy()
    return hashlib.sha1(repr(data.shape).encode() + data.tobytes()).hexdigest()


class AdaptationCache(Generic[ModuleT]):
    """Adapted networks by seeds key; the least recently used is dropped first."""

    def __init__(self) -> None:
        self._entries: OrderedDict[str, ModuleT] = OrderedDict()

    def get(self, key: str) -> ModuleT | None:
        """The network stored under ``key`` (now the most recently used), or ``None``."""
        module = self._entries.get(key)
        if module is not None:
            self._entries.move_to_end(key)
        return module

    def put(self, key: str, module: ModuleT, max_size: int) -> None:
        """Store ``module`` under ``key``, keeping at most ``max_size`` entries (0 stores nothing)."""
        if max_size <= 0:
            return
        self._entries[key] = module
        while len(self._entries) > max_size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
