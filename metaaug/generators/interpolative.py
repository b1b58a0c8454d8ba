"""The shared base of AE, IntAE and AugIntAE: configuration, training loop and sampling.

An :class:`InterpolativeAutoencoder` encodes images onto the unit sphere and
decodes spherical interpolations between the latents of two seeds of a class.
The three methods differ only in the loss of one training step
(:meth:`InterpolativeAutoencoder._generator_loss`) and in whether an LSGAN
critic trains alongside; everything else lives here, including the papers'
adversarial term (LSGAN generator loss weighted by ``k * gamma``,
:meth:`InterpolativeAutoencoder._balanced_adversarial`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, torch_generator, torch_seeded
from metaaug.augment.affine import AffineRanges, apply_params, augmentation_triplets, sample_params
from metaaug.augment.interpolate import check_alpha, slerp
from metaaug.base import MetaaugEstimator, TrainingBudget, check_count, check_request_size
from metaaug.constraints import Interval, Options
from metaaug.data.images import as_images, check_image_shape
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.nets.autoencoders import (
    ARCHITECTURES,
    Encoder,
    Generator,
    check_architecture,
    default_architecture,
    default_latent_dim,
    discriminator,
)
from metaaug.nets.modes import eval_mode

AUGMENTATIONS = ("auto", "characters", "characters-no-shear", "natural", "none")
SINGLE_SEED_MODES = ("error", "augment")

# constraints of the parameters the three autoencoders share
AUTOENCODER_CONSTRAINTS: dict[str, Sequence[Any]] = {
    "latent_dim": [None, Interval(Integral, 1, None)],
    "hidden": [Interval(Integral, 1, None)],
    "architecture": [Options("auto", *ARCHITECTURES)],
    "augmentation": [Options(*AUGMENTATIONS)],
    "epochs": [Interval(Integral, 1, None)],
    "batch_size": [Interval(Integral, 1, None)],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "max_time": [None, Interval(Real, 0, None, closed="neither")],
    "verbose": ["boolean"],
    "random_state": ["random_state"],
    "device": ["device"],
}


class GeneratorStep(NamedTuple):
    """What one step's loss hands to the training loop.

    ``loss`` is the autoencoder's total loss, ``terms`` its named parts as
    they enter it (empty when there is only one), ``fakes`` and ``reals`` the
    images the critic compares next (None without a critic).
    """

    loss: torch.Tensor
    terms: dict[str, torch.Tensor]
    fakes: torch.Tensor | None = None
    reals: torch.Tensor | None = None


class InterpolativeAutoencoder(MetaaugEstimator):
    """Shared base of :class:`~metaaug.AE`, :class:`~metaaug.IntAE` and :class:`~metaaug.AugIntAE`.

    Subclasses implement :meth:`_generator_loss` (one training step's loss
    from a batch of augmentation triplets) and say whether they train a
    critic (:meth:`_uses_adversary`) and whether their adversarial weight
    follows the critic-balance variable ``k`` (:meth:`_uses_k`; only those
    models have the fitted ``k_``).
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = AUTOENCODER_CONSTRAINTS
    _renamed: ClassVar[dict[str, str]] = {"width": "hidden", "loss_history_": "loss_curve_", "n_steps_": "n_iter_"}

    #: decay the learning rate 10x at these fractions of training (non-adversarial models)
    lr_milestones = (0.35, 0.70)

    # attributes every subclass's constructor sets
    latent_dim: int | None
    hidden: int
    architecture: str
    augmentation: str
    epochs: int
    batch_size: int
    lr: float
    max_time: float | None
    verbose: bool
    random_state: RandomState
    device: str
    image_shape_: tuple[int, int, int]

    # ------------------------------------------------------------ configuration
    def _uses_adversary(self) -> bool:
        return False

    def _uses_k(self) -> bool:
        """Whether the adversarial weight is ``k * gamma`` (then ``k`` is tracked and stored as ``k_``)."""
        return False

    def _ranges(self) -> AffineRanges | None:
        """``augmentation`` resolved: AugIntAE's character ranges for 1 channel, its RGB ranges
        (:meth:`AffineRanges.natural`: +-8 px absolute, symmetric padding) otherwise;
        ``"characters-no-shear"``: the character ranges without shear."""
        augmentation = self.augmentation
        if augmentation == "auto":
            augmentation = "characters" if self.image_shape_[0] == 1 else "natural"
        if augmentation == "none":
            return None
        if augmentation == "characters-no-shear":
            return dataclasses.replace(AffineRanges.characters(), shear=(0.0, 0.0))
        return AffineRanges.characters() if augmentation == "characters" else AffineRanges.natural()

    def _build_modules(self) -> None:
        shape = self.image_shape_
        device = self._device()
        self.encoder_ = Encoder(shape, self.latent_dim_, self.architecture_, self.hidden).to(device)
        self.decoder_ = Generator(shape, self.latent_dim_, self.architecture_, self.hidden).to(device)
        if self._uses_adversary():
            self.discriminator_ = discriminator(shape, self.architecture_, self.hidden).to(device)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> InterpolativeAutoencoder:
        """Train on unlabeled images ``X`` (``y`` is ignored).

        Runs ``epochs`` passes of ``batch_size`` (fewer if ``max_time`` runs
        out first) with a tqdm bar when ``verbose``.
        """
        self._validate_params()
        X = as_image_source(X, name="X", min_count=2)
        channels, height, width = (int(s) for s in X.shape[1:])
        shape = (channels, height, width)
        architecture = default_architecture(shape) if self.architecture == "auto" else self.architecture
        check_architecture(architecture, shape)
        for name in self._fitted_names():
            delattr(self, name)
        self.image_shape_ = shape
        self.architecture_ = architecture
        self.latent_dim_ = int(self.latent_dim or default_latent_dim(architecture))
        rng = check_rng(self.random_state)
        with torch_seeded(rng):
            self._init_modules()
            budget, curve, terms = self._train(X.to(self._device()))
        self.loss_curve_ = np.asarray(curve, dtype=np.float32)
        if terms:
            self.loss_terms_ = {name: np.asarray(values, dtype=np.float32) for name, values in terms.items()}
        self.n_iter_ = budget.completed
        self.fit_time_ = budget.elapsed
        if self._uses_k():
            self.k_ = float(self._k)
        return self

    def _train(self, data: ImageSource) -> tuple[TrainingBudget, list[float], dict[str, list[float]]]:
        """The optimisation loop: the budget run, the loss per step and each loss term per step."""
        device = data.device
        batch_size = min(int(self.batch_size), len(data))
        steps_per_epoch = math.ceil(len(data) / batch_size)
        n_steps = int(self.epochs) * steps_per_epoch
        ranges = self._ranges()
        modules = [self.encoder_, self.decoder_]
        optimiser = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=self.lr)
        critic: nn.Module | None = getattr(self, "discriminator_", None)
        critic_optimiser = (
            torch.optim.Adam(critic.parameters(), lr=self.lr, betas=(0.5, 0.999)) if critic is not None else None
        )
        for module in modules + ([critic] if critic is not None else []):
            module.train()
        self._k = 1.0
        decays = 0
        curve: list[float] = []
        terms: dict[str, list[float]] = {}
        budget = TrainingBudget(n_steps, self.max_time, type(self).__name__, self.verbose)
        order = torch.randperm(len(data), device=device)
        for step in budget:
            if critic is None:
                progress = step / n_steps
                if self.max_time is not None:
                    progress = max(progress, budget.elapsed / self.max_time)
                wanted = sum(progress >= m for m in self.lr_milestones)
                while decays < wanted:
                    decays += 1
                    for group in optimiser.param_groups:
                        group["lr"] *= 0.1
            position = step % steps_per_epoch
            if position == 0 and step > 0:
                order = torch.randperm(len(data), device=device)
            batch = data[order[position * batch_size : (position + 1) * batch_size]]
            if ranges is None:
                a = b = c = batch
                alpha = torch.rand(len(batch), device=device)
            else:
                a, b, c, alpha = augmentation_triplets(batch, ranges)
            result = self._generator_loss(a, b, c, alpha)
            optimiser.zero_grad(set_to_none=True)
            result.loss.backward()
            optimiser.step()
            if critic is not None and critic_optimiser is not None:
                assert result.fakes is not None and result.reals is not None, "a critic needs fakes and reals"
                self._critic_step(critic, critic_optimiser, result.reals, result.fakes.detach())
            # one transfer per step for the total and its terms
            values = torch.stack([result.loss.detach(), *(t.detach() for t in result.terms.values())]).tolist()
            curve.append(budget.track(values[0]))
            for name, value in zip(result.terms, values[1:]):
                terms.setdefault(name, []).append(value)
            budget.set_postfix(loss=values[0])
        for module in modules + ([critic] if critic is not None else []):
            module.eval()
            module.zero_grad(set_to_none=True)
        return budget, curve, terms

    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor) -> GeneratorStep:
        """Loss of one step on the triplets ``(a, b, c, alpha)`` (see :func:`metaaug.augment.augmentation_triplets`)."""
        raise NotImplementedError

    def _balanced_adversarial(
        self, fake: torch.Tensor, reconstruction: torch.Tensor, outputs: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The papers' adversarial term: ``k * gamma`` times the LSGAN generator loss of ``fake``.

        ``gamma = ||grad L_recon|| / ||grad L_adv||`` with gradients taken with
        respect to decoded images, so that the adversarial gradient reaching the
        decoder is ``k`` times as strong as the reconstruction's; ``gamma`` is a
        constant to the optimiser. Without ``outputs``, ``reconstruction`` holds
        the per-image reconstruction losses of the rows of ``fake`` and there is
        one ``gamma`` per image. With ``outputs`` (a decoded batch that ``fake``
        is part of, for fakes without a pixel target such as IntAE's
        interpolations), ``reconstruction`` is the scalar reconstruction loss
        and one ``gamma`` is taken over the whole batch.
        """
        adversarial = (self.discriminator_(fake).view(-1) - 1).pow(2)
        if outputs is None:
            grad_recon = torch.autograd.grad(reconstruction.sum(), fake, retain_graph=True)[0]
            grad_adv = torch.autograd.grad(adversarial.sum(), fake, retain_graph=True)[0]
            gamma = grad_recon.flatten(1).norm(dim=1) / grad_adv.flatten(1).norm(dim=1).clamp_min(1e-8)
            return (self._k * gamma.detach() * adversarial).mean()
        loss = adversarial.mean()
        grad_recon = torch.autograd.grad(reconstruction, outputs, retain_graph=True)[0]
        grad_adv = torch.autograd.grad(loss, outputs, retain_graph=True)[0]
        gamma = grad_recon.norm() / grad_adv.norm().clamp_min(1e-8)
        return self._k * gamma.detach() * loss

    def _critic_step(
        self, critic: nn.Module, optimiser: torch.optim.Optimizer, real: torch.Tensor, fake: torch.Tensor
    ) -> None:
        """LSGAN critic update; then (models using k) k <- clip(k - 0.001 (1 - (D(real) - D(fake))), 0, 1)."""
        scores = critic(torch.cat([real, fake])).view(-1)
        real_score, fake_score = scores[: len(real)], scores[len(real) :]
        loss = 0.5 * ((real_score - 1).pow(2).mean() + fake_score.pow(2).mean())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if self._uses_k():
            gap = float((real_score.mean() - fake_score.mean()).detach())
            self._k = min(1.0, max(0.0, self._k - 0.001 * (1.0 - gap)))

    def _restore_fitted(self, fitted: dict) -> None:
        super()._restore_fitted(fitted)
        # files saved before the rename hold a list of per-epoch means under loss_history_
        if isinstance(getattr(self, "loss_curve_", None), list):
            self.loss_curve_ = np.asarray(self.loss_curve_, dtype=np.float32)

    # ----------------------------------------------------------------- sampling
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
