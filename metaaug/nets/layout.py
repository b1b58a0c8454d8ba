"""Memory layout of the networks' weights.

oneDNN, torch's CPU backend for convolutions, runs 2-D convolutions and
transposed convolutions faster when the weights are stored channels-last
(NHWC); every network an estimator builds is stored so
(:meth:`metaaug.base.MetaaugEstimator._init_modules`). Activations follow the
weights' layout, values are unchanged up to float rounding, and parameters
keep that layout through ``load_state_dict``, ``deepcopy``, ``.to(device)``
and optimiser steps. The measured speed-ups are in the user guide's
"Performance" section (``python -m benchmarks.speed.channels_last``).
"""

from __future__ import annotations

import torch
from torch import nn


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store ``module``'s 4-D parameters and buffers channels-last, in place; returns ``module``."""
    # nn.Module.to accepts memory_format at run time; its type stubs do not list it
    return module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
