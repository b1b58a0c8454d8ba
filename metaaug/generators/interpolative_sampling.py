"""The sampling side of AE, IntAE and AugIntAE: encode, decode, interpolate, generate (batched, no grad)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, torch_generator
from metaaug.augment.affine import AffineRanges, apply_params, sample_params
from metaaug.augment.interpolate import check_alpha, slerp
from metaaug.data.images import as_images, check_image_shape
from metaaug.nets.autoencoders import Encoder, Generator
from metaaug.nets.modes import eval_mode
from metaaug.resources import check_count, check_request_size

SINGLE_SEED_MODES = ("error", "augment")


class InterpolativeSampling:
    """What a fitted interpolative autoencoder does with images: mixed into ``InterpolativeAutoencoder``."""

    image_shape_: tuple[int, ...]
    latent_dim_: int
    encoder_: Encoder
    decoder_: Generator
    batch_size: int

    if TYPE_CHECKING:  # provided by MetaaugEstimator and InterpolativeAutoencoder

        def _check_fitted(self) -> None: ...

        def _device(self) -> torch.device: ...

        def _ranges(self) -> AffineRanges | None: ...

    def _check_images(self, images: Any, name: str) -> torch.Tensor:
        self._check_fitted()
        images = as_images(images, name=name)
        check_image_shape(images, self.image_shape_, name=name)
        return images

    def _batched(self, module: nn.Module, inputs: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        device = self._device()
        size = batch_size or max(1024, int(self.batch_size))
        with torch.no_grad(), eval_mode(module):
            outs = [module(inputs[i : i + size].to(device)) for i in range(0, len(inputs), size)]
        return torch.cat(outs)

    def encode(self, images: Any) -> torch.Tensor:
        """Unit-norm latents ``(N, latent_dim_)`` of ``images`` (batched, no grad)."""
        images = self._check_images(images, "images")
        return self._batched(self.encoder_, images)

    def decode(self, latents: Any) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in [0, 1] from latents (projected onto the unit sphere first)."""
        self._check_fitted()
        latents = torch.as_tensor(latents, dtype=torch.float32)
        if latents.ndim != 2 or latents.shape[1] != self.latent_dim_:
            raise ValueError(f"latents must be shaped (N, {self.latent_dim_}), got {tuple(latents.shape)}")
        if len(latents) == 0:
            raise ValueError("latents is empty")
        if not bool(torch.isfinite(latents).all()):
            raise ValueError("latents contain NaN or infinite values")
        return self._batched(self.decoder_, F.normalize(latents, dim=1))

    def reconstruct(self, images: Any) -> torch.Tensor:
        """``decode(encode(images))``."""
        return self.decode(self.encode(images))

    def reconstruction_error(self, images: Any, metric: str = "l1") -> float:
        """Mean per-pixel reconstruction error (``"l1"``: absolute, ``"l2"``: squared)."""
        if metric not in ("l1", "l2"):
            raise ValueError(f"metric must be 'l1' or 'l2', got {metric!r}")
        images = self._check_images(images, "images")
        diff = self.reconstruct(images).cpu() - images.cpu()
        return float(diff.abs().mean() if metric == "l1" else diff.pow(2).mean())

    def interpolate(self, a: Any, b: Any, alphas: Any) -> torch.Tensor:
        """Decoded spherical interpolations between each ``a[i]`` and ``b[i]``.

        Returns ``(N, len(alphas), C, H, W)``; ``alphas`` in [0, 1], 0 gives
        (the reconstruction of) ``a``, 1 gives ``b``.
        """
        a = self._check_images(a, "a")
        b = self._check_images(b, "b")
        if len(a) != len(b):
            raise ValueError(f"a has {len(a)} images but b has {len(b)}")
        alphas = torch.as_tensor(alphas, dtype=torch.float32).reshape(-1)
        if len(alphas) == 0:
            raise ValueError("alphas is empty")
        check_alpha(alphas, "alphas")
        za, zb = self.encode(a), self.encode(b)
        m = len(alphas)
        z = slerp(za.repeat_interleave(m, 0), zb.repeat_interleave(m, 0), alphas.to(za.device).repeat(len(a)))
        return self.decode(z).reshape(len(a), m, *self.image_shape_)

    def generate(
        self,
        seeds: Any,
        n: int,
        random_state: RandomState = None,
        alpha: float | None = None,
        single_seed: str = "error",
    ) -> torch.Tensor:
        """``n`` new images of the class shown by ``seeds``, shape ``(n, C, H, W)``.

        Each image decodes ``slerp(E(s_i), E(s_j), alpha)`` for a random pair of
        distinct seeds; ``alpha`` is drawn from U(0, 1) per image unless given
        (the paper's data hallucination uses 0.5). All pairs are encoded and
        decoded in batches under ``no_grad``.

        Parameters
        ----------
        seeds : images
            At least 2 images of one class (1 with ``single_seed="augment"``).
        n : int
            Number of images, >= 1.
        random_state : None, int or Generator
        alpha : float in [0, 1], optional
        single_seed : "error" or "augment"
            With one seed, ``"augment"`` interpolates between two random
            augmentations of it (the AugIntAE training views) instead of
            raising.
        """
        seeds = self._check_images(seeds, "seeds")
        n = check_count(n, "n")
        check_request_size(n, self.image_shape_, f"{type(self).__name__}.generate", self._device())
        if single_seed not in SINGLE_SEED_MODES:
            raise ValueError(f"single_seed must be one of {SINGLE_SEED_MODES}, got {single_seed!r}")
        if alpha is not None:
            check_alpha(alpha)
        n = int(n)
        gen = torch_generator(check_rng(random_state))
        device = self._device()
        if len(seeds) < 2:
            if single_seed == "error":
                raise ValueError(
                    "generate needs at least 2 seeds to interpolate, got 1; pass "
                    "single_seed='augment' to interpolate between augmentations of the one seed"
                )
            ranges = self._ranges() or AffineRanges.characters()
            views = seeds.expand(2 * n, *seeds.shape[1:]).contiguous()
            params = sample_params(2 * n, ranges, seeds.shape[-1], gen)
            views = apply_params(views, params, ranges.padding_mode)
            start, end = self.encode(views).chunk(2)
        else:
            latents = self.encode(seeds)
            first = torch.randint(len(seeds), (n,), generator=gen)
            other = (first + torch.randint(1, len(seeds), (n,), generator=gen)) % len(seeds)
            start, end = latents[first.to(latents.device)], latents[other.to(latents.device)]
        weights = torch.rand(n, generator=gen) if alpha is None else torch.full((n,), float(alpha))
        return self.decode(slerp(start, end, weights.to(device)))
