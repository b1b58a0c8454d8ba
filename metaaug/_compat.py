"""Imports of optional or fragile third-party packages, in one place.

torchvision wheels on the package index are CUDA builds whose compiled ops
(``torchvision._C``) cannot load next to a CPU-only torch. torchvision then
fails at import time, because it registers fake kernels for ``nms``/``qnms``
without checking that the ops exist. metaaug uses only torchvision's pure
Python parts (datasets, transforms v2), so when that happens we declare the
two op schemas (no kernels) and import again: everything metaaug uses works,
and calling ``torchvision.ops.nms`` raises torch's usual "no kernel" error.
"""

from __future__ import annotations

import contextlib
import io
import sys
import warnings
from types import ModuleType

_TORCHVISION_PLACEHOLDER_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_placeholder_library = None


def _forget(prefix: str) -> None:
    for name in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
        del sys.modules[name]


def import_torchvision() -> ModuleType:
    """Import torchvision, working around a CUDA wheel next to a CPU torch."""
    global _placeholder_library
    try:
        import torchvision

        return torchvision
    except RuntimeError as err:
        if "torchvision::nms" not in str(err):
            raise
    import torch

    _forget("torchvision")
    _placeholder_library = torch.library.Library("torchvision", "DEF")
    for schema in _TORCHVISION_PLACEHOLDER_OPS:
        _placeholder_library.define(schema)
    import torchvision

    return torchvision


def import_learn2learn() -> ModuleType:
    """Import learn2learn (quietly), with a clear error when it is missing."""
    import_torchvision()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            import learn2learn
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            "learn2learn is required for MAML and the learn2learn bridge; install "
            "metaaug with `make install`, which builds learn2learn 0.2.0 for this "
            "Python (see scripts/bootstrap.py)"
        ) from err
    return learn2learn
