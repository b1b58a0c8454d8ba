"""Switching networks to evaluation mode for a block of code."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def eval_mode(*modules: nn.Module | None) -> Iterator[None]:
    """Put ``modules`` in eval mode for the block, then restore each module's own train/eval mode.

    ``None`` entries are skipped, so callers can pass an optional module.
    Every sampling, generation and evaluation path of metaaug uses this one
    helper (together with ``torch.no_grad`` or ``torch.inference_mode``).
    """
    present = [m for m in modules if m is not None]
    # a module's submodules may be in mixed modes; restore every one of them
    previous = [(sub, sub.training) for m in present for sub in m.modules()]
    for module in present:
        module.eval()
    try:
        yield
    finally:
        for sub, training in previous:
            sub.training = training
