"""Let torchvision import next to a CPU-only torch (installed by metaaug's ``make install``).

The package registry's torchvision wheels are CUDA builds. Next to a CPU-only
torch their compiled operators (``torchvision._C``) cannot load, and
``import torchvision`` then fails with "operator torchvision::nms does not
exist", because torchvision registers Python kernels for ``nms``/``qnms``
without checking that the operators exist. ``make install`` copies this file
into the environment's site-packages, with a ``.pth`` line that imports it at
interpreter start-up, only when it finds that failure.

At start-up it adds a finder to ``sys.meta_path`` and imports nothing else.
The first time a program imports torchvision, the finder declares the two
operator schemas (without kernels), removes itself and lets the normal import
go on: torchvision's datasets, transforms and models then work, and calling
``torchvision.ops.nms`` raises torch's usual "no kernel" error.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_LIBRARIES: list[Any] = []  # the torch.library handle must stay alive


def declare_placeholder_ops() -> None:
    """Declare ``torchvision::nms`` and ``torchvision::qnms`` unless they exist."""
    import torch

    try:
        torch._C._get_schema("torchvision::nms", "")
        return  # torchvision's own operators are there
    except RuntimeError:
        pass
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _LIBRARIES.append(library)


class _TorchvisionFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            declare_placeholder_ops()
        return None  # the regular finders import torchvision itself


if not any(isinstance(finder, _TorchvisionFinder) for finder in sys.meta_path):
    sys.meta_path.insert(0, _TorchvisionFinder())
