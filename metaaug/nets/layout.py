"""Memory layout of the networks' weights.

oneDNN, torch's CPU backend for convolutions, runs 2-D convolutions and
transposed convolutions 1.4-1.9x faster when the weights are stored
channels-last (NHWC): measured on this project's networks at 28x28 on one
CPU thread (conv4 training step 1.6x, ProtoNet embedding 1.7x, VAE decoding
1.9x, MSGAN generator 1.5x; ``benchmarks/bench_channels_last.py``). Activations
follow the weights' layout, values are unchanged up to float rounding, and
parameters keep that layout through ``load_state_dict``, ``deepcopy``,
``.to(device)`` and optimiser steps.
"""
from __future__ import annotations

import torch
from torch import nn


def to_channels_last(module: nn.Module) -> nn.Module:
    """Store ``module``'s 4-D parameters and buffers channels-last, in place; returns ``module``."""
    return module.to(memory_format=torch.channels_last)
