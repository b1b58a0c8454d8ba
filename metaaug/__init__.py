"""metaaug: unsupervised meta-learning and few-shot data augmentation with generative models.

Public estimators are imported lazily, so ``import metaaug`` stays fast and a
method's heavy dependencies load only when it is used.
"""

from __future__ import annotations

from metaaug._lazy import lazy_exports

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
    "PsCo": "metaaug.fewshot.psco",
    "load": "metaaug.base",
}

__all__ = sorted(_PUBLIC)

__getattr__, __dir__ = lazy_exports("metaaug", _PUBLIC, globals())
