"""metaaug: unsupervised meta-learning and few-shot data augmentation with generative models.

Public estimators are imported lazily, so ``import metaaug`` stays fast and a
method's heavy dependencies load only when it is used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "LASIUM": "metaaug.samplers.lasium",
    "UMTRA": "metaaug.samplers.umtra",
    "CACTUs": "metaaug.samplers.cactus",
    "AE": "metaaug.generators.autoencoders",
    "IntAE": "metaaug.generators.autoencoders",
    "AugIntAE": "metaaug.generators.autoencoders",
    "LoFGAN": "metaaug.generators.lofgan",
    "MetaFAVAE": "metaaug.generators.metafavae",
    "PixelMixup": "metaaug.generators.mixup",
    "ProtoNetClassifier": "metaaug.fewshot",
    "MAMLClassifier": "metaaug.fewshot",
    "load": "metaaug.base",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'metaaug' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
