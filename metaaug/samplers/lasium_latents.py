"""LASIUM's steps in latent space: anchors at least ``epsilon`` apart, then in-class latents by strategy.

Mixed into :class:`metaaug.samplers.lasium.LASIUM`; the rest of the sampling
(decoding, query augmentation, task assembly) is in that file.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from metaaug.generators.autoencoders import InterpolativeAutoencoder
from metaaug.nets.blocks import reparameterize
from metaaug.samplers import generator_backend as gb
from metaaug.samplers._common import distinct_indices, separated

# variance of strategy "N" by anchor source and latent geometry (docs/lasium.md, Measured): encoded real
# images of the VAE / a custom encoder ("data"), prior draws ("prior"), unit-sphere autoencoder latents
SIGMA2_DEFAULTS = {"data": 0.03, "prior": 0.25, "sphere": 0.001}


class LASIUMLatents:
    """Anchors and in-class latents of LASIUM's tasks (strategies N, RO and OC)."""

    strategy: str
    sigma2: float | None
    alpha: float
    epsilon: float
    max_redraws: int
    prior: Any
    latent_mean_: torch.Tensor
    latent_log_variance_: torch.Tensor
    backend_kind_: str

    if TYPE_CHECKING:  # provided by LASIUM and LASIUMBackend

        def _anchor_mode(self, kind: str | None = None) -> str: ...

        def _setting(self, name: str) -> Any: ...

    # step 1: anchors, pairwise at least epsilon apart
    def _draw_anchors(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Anchors ``(n_tasks, n_ways, d)`` and, for ``"data"`` anchors, the indices of their real images."""
        return separated(lambda n: self._anchor_candidates(n, n_ways), n_tasks, n_ways, self.epsilon, self.max_redraws)

    def _anchor_candidates(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._anchor_mode() == "prior":
            return self._prior_latents((n_tasks, n_ways, self._latent_size())), None
        index = distinct_indices(n_tasks, n_ways, len(self.latent_mean_))
        return reparameterize(self.latent_mean_[index], self.latent_log_variance_[index]), index

    def _latent_size(self) -> int:
        return int(self.latent_dim_) if hasattr(self, "latent_dim_") else int(self._setting("latent_dim"))

    def _prior_latents(self, shape: tuple[int, ...]) -> torch.Tensor:
        return gb.sample_prior(self.prior, shape)

    # step 2: in-class latents by strategy
    def _class_latents(self, anchors: torch.Tensor, n_new: int) -> torch.Tensor:
        """``(T, N, n_new, d)`` in-class latents around ``anchors`` ``(T, N, d)``."""
        n_tasks, n_ways, dim = anchors.shape
        z = anchors.unsqueeze(2)
        shape = (n_tasks, n_ways, n_new, dim)
        if self.strategy == "N":
            return z + math.sqrt(self._sigma2()) * torch.randn(shape)
        if self.strategy == "RO":
            return z + self.alpha * (self._out_of_class_latents(shape) - z)
        # OC: the m-th new sample of class i moves toward anchor (i + 1 + m mod (N - 1)) mod N
        ways = torch.arange(n_ways).unsqueeze(1)
        steps = torch.arange(n_new).unsqueeze(0) % (n_ways - 1)
        targets = anchors[:, (ways + 1 + steps) % n_ways]
        return z + self.alpha * (targets - z)

    def _sigma2(self) -> float:
        """``sigma2``, or its default for the latent geometry: unit sphere, prior draws or encoded images."""
        if self.sigma2 is not None:
            return float(self.sigma2)
        if isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder):
            return SIGMA2_DEFAULTS["sphere"]
        return SIGMA2_DEFAULTS[self._anchor_mode()]

    def _out_of_class_latents(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The prior's samples, or (a codec's encoded anchors) the latents of random training images."""
        if self.backend_kind_ == "custom" and self._anchor_mode() == "data":
            return self.latent_mean_[torch.randint(len(self.latent_mean_), shape[:-1])]
        return self._prior_latents(shape)
