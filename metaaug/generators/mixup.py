"""Pixel-space interpolation between two images of a class (the MixUp baseline)."""
from __future__ import annotations

from typing import Any

import torch

from metaaug._random import RandomState, check_rng, torch_generator
from metaaug.augment.interpolate import check_alpha, lerp
from metaaug.data.images import as_images


class PixelMixup:
    """Make new images of a class by mixing pixels of two random seeds.

    The AugIntAE paper's MixUp baseline for data hallucination: ``x = (1 -
    alpha) a + alpha b`` for random seed pairs ``a != b``. Needs no fitting.

    Parameters
    ----------
    alpha : float or None
        Mixing weight; ``None`` draws ``alpha ~ U(0, 1)`` per image.
    """

    def __init__(self, alpha: float | None = None) -> None:
        self.alpha = alpha

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"alpha": self.alpha}

    def set_params(self, **params: Any) -> PixelMixup:
        for key, value in params.items():
            if key != "alpha":
                raise ValueError(f"invalid parameter {key!r} for PixelMixup")
            self.alpha = value
        return self

    def fit(self, X: Any = None, y: Any = None) -> PixelMixup:
        return self

    def generate(self, seeds: Any, n: int, random_state: RandomState = None,
                 alpha: float | None = None) -> torch.Tensor:
        """``n`` mixes of random seed pairs, shape ``(n, C, H, W)``."""
        seeds = as_images(seeds, name="seeds")
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if len(seeds) < 2:
            raise ValueError(f"PixelMixup needs at least 2 seeds to interpolate, got {len(seeds)}")
        alpha = self.alpha if alpha is None else alpha
        gen = torch_generator(check_rng(random_state))
        first = torch.randint(len(seeds), (n,), generator=gen)
        other = (first + torch.randint(1, len(seeds), (n,), generator=gen)) % len(seeds)
        if alpha is None:
            weights = torch.rand(n, generator=gen)
        else:
            check_alpha(alpha)
            weights = torch.full((n,), float(alpha))
        return lerp(seeds[first], seeds[other], weights)
