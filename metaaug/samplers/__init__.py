"""Unsupervised task samplers: LASIUM, UMTRA, CACTUs (one method a file).

Every sampler has ``fit(X)`` on unlabeled images and
``sample_tasks(n_tasks, n_ways=5, k_shot=1, k_query=15, random_state=None)``,
plus ``plot_tasks(path, ...)`` for a PNG grid of sampled tasks.
Imports are lazy so that using one sampler does not load the others.
"""

from __future__ import annotations

from metaaug._lazy import lazy_exports

_PUBLIC = {
    "LASIUM": "metaaug.samplers.lasium",
    "UMTRA": "metaaug.samplers.umtra",
    "CACTUs": "metaaug.samplers.cactus",
    "GeneratorAdapter": "metaaug.samplers.generator_backend",
    "save_task_grid": "metaaug.samplers._grid",
    "task_grid": "metaaug.samplers._grid",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports("metaaug.samplers", _PUBLIC, globals())
