"""One place that turns ``random_state`` into generators.

Every public call that consumes randomness takes ``random_state`` (``None``, an
int, or a ``numpy.random.Generator``) and passes it through :func:`check_rng`.
Torch randomness inside such a call runs under :func:`torch_seeded`, which
forks torch's global RNG and seeds it from the numpy generator, so the same
``random_state`` gives the same output without touching the caller's RNG state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

RandomState = None | int | np.integer | np.random.Generator | np.random.RandomState


def check_rng(random_state: RandomState) -> np.random.Generator:
    """Return a ``numpy.random.Generator`` for ``random_state``."""
    if random_state is None or isinstance(random_state, (int, np.integer)):
        if random_state is not None and int(random_state) < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return np.random.default_rng(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise ValueError(f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}")


def draw_seed(rng: np.random.Generator) -> int:
    """Draw a 63-bit seed from ``rng`` for torch or a nested call."""
    return int(rng.integers(0, 2**63 - 1))


def torch_generator(rng: np.random.Generator, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded from ``rng``."""
    gen = torch.Generator(device=device)
    gen.manual_seed(draw_seed(rng))
    return gen


@contextlib.contextmanager
def torch_seeded(rng: np.random.Generator | int) -> Iterator[None]:
    """Run the block with torch's global RNG (CPU and CUDA) seeded from ``rng``.

    ``rng`` is a numpy generator (a seed is drawn from it) or the seed itself.
    The caller's RNG state is restored afterwards.
    """
    seed = int(rng) if isinstance(rng, (int, np.integer)) else draw_seed(rng)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
