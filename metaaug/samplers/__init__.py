"""Unsupervised task samplers: LASIUM, UMTRA, CACTUs (one method a file).

Every sampler has ``fit(X)`` on unlabeled images and
``sample_tasks(n_tasks, n_ways=5, k_shot=1, k_query=15, random_state=None)``,
plus ``plot_tasks(path, ...)`` for a PNG grid of sampled tasks.
Imports are lazy so that using one sampler does not load the others.
"""
from __future__ import annotations

import importlib
from typing import Any

_PUBLIC = {
    "LASIUM": "metaaug.samplers.lasium",
    "UMTRA": "metaaug.samplers.umtra",
    "CACTUs": "metaaug.samplers.cactus",
    "save_task_grid": "metaaug.samplers._grid",
    "task_grid": "metaaug.samplers._grid",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'metaaug.samplers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
