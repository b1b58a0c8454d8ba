"""Pixel-space interpolation between two images of a class (the MixUp baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState, check_rng, torch_generator
from metaaug.augment.interpolate import check_alpha, lerp
from metaaug.base import MetaaugEstimator, check_count, check_request_size
from metaaug.constraints import Interval
from metaaug.data.images import as_images


class PixelMixup(MetaaugEstimator):
    """Make new images of a class by mixing pixels of two random seeds.

    The AugIntAE paper's MixUp baseline for data hallucination:
    ``lerp(a, b, alpha) = (1 - alpha) a + alpha b`` for random seed pairs
    ``a != b``. Needs no fitting: ``fit`` only checks the parameters.

    Parameters
    ----------
    alpha : float in [0, 1] or None, default None
        Mixing weight; ``None`` draws ``alpha ~ U(0, 1)`` per image. Checked by
        ``fit`` and, being usable unfitted, by each ``generate`` call.

    Examples
    --------
    >>> from metaaug import PixelMixup
    >>> images = PixelMixup().generate(seeds, n=10, random_state=0)   # doctest: +SKIP
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {"alpha": [None, Interval(Real, 0, 1)]}

    def __init__(self, alpha: float | None = None) -> None:
        self.alpha = alpha

    def fit(self, X: Any = None, y: Any = None) -> PixelMixup:
        """Check the parameters; ``X`` and ``y`` are ignored."""
        self._validate_params()
        return self

    def generate(
        self, seeds: Any, n: int, random_state: RandomState = None, alpha: float | None = None
    ) -> torch.Tensor:
        """``n`` mixes of random seed pairs, shape ``(n, C, H, W)``.

        Parameters
        ----------
        seeds : images
            At least 2 images of one class.
        n : int
            Number of images, >= 1.
        random_state : None, int or Generator
        alpha : float in [0, 1], optional
            Overrides the ``alpha`` parameter for this call.
        """
        seeds = as_images(seeds, name="seeds")
        n = check_count(n, "n")
        check_request_size(n, seeds.shape[1:], "PixelMixup.generate")
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
