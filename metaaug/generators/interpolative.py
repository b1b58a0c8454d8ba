"""The shared base of AE, IntAE and AugIntAE: configuration and training loop (sampling: ``interpolative_sampling``).

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
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment.affine import AffineRanges, augmentation_triplets
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.constraints import Interval, Options
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.distributed import DataParallel, batch_share, current_group, failing_stops_all, split_torch_streams
from metaaug.generators.interpolative_sampling import InterpolativeSampling
from metaaug.nets.autoencoders import (
    ARCHITECTURES,
    Encoder,
    Generator,
    check_architecture,
    default_architecture,
    default_latent_dim,
    discriminator,
)

AUGMENTATIONS = ("auto", "characters", "characters-no-shear", "natural", "none")

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


class InterpolativeAutoencoder(MetaaugEstimator, InterpolativeSampling):
    """Shared base of :class:`~metaaug.AE`, :class:`~metaaug.IntAE` and :class:`~metaaug.AugIntAE`.

    Subclasses implement :meth:`_generator_loss` (one training step's loss
    from a batch of augmentation triplets) and say whether they train a
    critic (:meth:`_uses_adversary`) and whether their adversarial weight
    follows the critic-balance variable ``k`` (:meth:`_uses_k`; only those
    models have the fitted ``k_``).
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = AUTOENCODER_CONSTRAINTS
    _renamed: ClassVar[dict[str, str]] = {"width": "hidden", "loss_history_": "loss_curve_", "n_steps_": "n_iter_"}
    _data_parallel: ClassVar[bool] = True

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
    def _default_latent_dim(self, architecture: str) -> int:
        """The latent size when ``latent_dim`` is None: the papers' (:func:`default_latent_dim`)."""
        return default_latent_dim(architecture)

    def fit(self, X: Any, y: Any = None) -> InterpolativeAutoencoder:
        """Train on unlabeled images ``X`` (``y`` is ignored).

        Runs ``epochs`` passes of ``batch_size`` (fewer if ``max_time`` runs
        out first) with a tqdm bar when ``verbose``.

        When a ``torch.distributed`` process group with several processes is
        running (e.g. under ``torchrun``), call ``fit`` on every rank with the
        same parameters: all ranks share the order of the images, each trains
        on its contiguous share of every batch with augmentations of its own,
        gradients (and the critic's balance statistic) are averaged across
        ranks, and all ranks end with the same networks.
        """
        self._validate_params()
        X = as_image_source(X, name="X", min_count=2)
        group = current_group()
        owner = type(self).__name__
        rng = group.common_rng(self.random_state, owner) if group is not None else check_rng(self.random_state)
        channels, height, width = (int(s) for s in X.shape[1:])
        shape = (channels, height, width)
        architecture = default_architecture(shape) if self.architecture == "auto" else self.architecture
        check_architecture(architecture, shape)
        for name in self._fitted_names():
            delattr(self, name)
        self.image_shape_ = shape
        self.architecture_ = architecture
        self.latent_dim_ = int(self.latent_dim or self._default_latent_dim(architecture))
        with torch_seeded(rng), failing_stops_all(group):
            self._init_modules()
            shared = None
            if group is not None:
                group.check_parameters(self._networks(), owner)
                shared = split_torch_streams(group, rng)
            budget, curve, terms = self._train(X.to(self._device()), group, shared)
            if group is not None:
                group.average_buffers(self._networks())
        self.loss_curve_ = np.asarray(curve, dtype=np.float32)
        if terms:
            self.loss_terms_ = {name: np.asarray(values, dtype=np.float32) for name, values in terms.items()}
        self.n_iter_ = budget.completed
        self.fit_time_ = budget.elapsed
        if self._uses_k():
            self.k_ = float(self._k)
        return self

    def _networks(self) -> list[nn.Module]:
        critic: nn.Module | None = getattr(self, "discriminator_", None)
        return [self.encoder_, self.decoder_] + ([critic] if critic is not None else [])

    @staticmethod
    def _permutation(n: int, device: torch.device, shared: torch.Generator | None) -> torch.Tensor:
        """The order of one epoch: from torch's global RNG, or from ``shared`` (equal on every rank)."""
        if shared is None:
            return torch.randperm(n, device=device)
        return torch.randperm(n, generator=shared).to(device)

    def _train(
        self, data: ImageSource, group: DataParallel | None = None, shared: torch.Generator | None = None
    ) -> tuple[TrainingBudget, list[float], dict[str, list[float]]]:
        """The optimisation loop: the budget run, the loss per step and each loss term per step.

        With a process group, ``shared`` (see :func:`metaaug.distributed.split_torch_streams`)
        draws the epochs' order and each rank trains on its share of every batch.
        """
        device = data.device
        batch_size = min(int(self.batch_size), len(data))
        steps_per_epoch = math.ceil(len(data) / batch_size)
        n_steps = int(self.epochs) * steps_per_epoch
        ranges = self._ranges()
        modules = [self.encoder_, self.decoder_]
        parameters = [p for m in modules for p in m.parameters()]
        optimiser = torch.optim.Adam(parameters, lr=self.lr)
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
        budget = TrainingBudget(n_steps, self.max_time, type(self).__name__, self.verbose, group=group)
        order = self._permutation(len(data), device, shared)
        for step in budget:
            if critic is None:
                progress = step / n_steps
                if self.max_time is not None:
                    elapsed = budget.elapsed / self.max_time
                    if group is not None:  # the ranks' clocks differ: agree on one value
                        (elapsed,) = group.mean([elapsed])
                    progress = max(progress, elapsed)
                wanted = sum(progress >= m for m in self.lr_milestones)
                while decays < wanted:
                    decays += 1
                    for param_group in optimiser.param_groups:
                        param_group["lr"] *= 0.1
            position = step % steps_per_epoch
            if position == 0 and step > 0:
                order = self._permutation(len(data), device, shared)
            indices = order[position * batch_size : (position + 1) * batch_size]
            weight = 1.0
            if group is not None:
                start, stop = batch_share(group, len(indices))
                indices, weight = indices[start:stop], float(stop - start)
            batch = data[indices]
            if ranges is None:
                a = b = c = batch
                alpha = torch.rand(len(batch), device=device)
            else:
                a, b, c, alpha = augmentation_triplets(batch, ranges)
            result = self._generator_loss(a, b, c, alpha)
            optimiser.zero_grad(set_to_none=True)
            result.loss.backward()
            # one transfer per step for the total and its terms
            values = torch.stack([result.loss.detach(), *(t.detach() for t in result.terms.values())]).tolist()
            if group is not None:
                values = group.all_reduce_gradients(parameters, weight, values)
            optimiser.step()
            if critic is not None and critic_optimiser is not None:
                assert result.fakes is not None and result.reals is not None, "a critic needs fakes and reals"
                self._critic_step(critic, critic_optimiser, result.reals, result.fakes.detach(), group, weight)
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
        self,
        critic: nn.Module,
        optimiser: torch.optim.Optimizer,
        real: torch.Tensor,
        fake: torch.Tensor,
        group: DataParallel | None = None,
        weight: float = 1.0,
    ) -> None:
        """LSGAN critic update; then (models using k) k <- clip(k - 0.001 (1 - (D(real) - D(fake))), 0, 1).

        With a process group the critic's gradients and the gap ``D(real) - D(fake)``
        are averaged across ranks (weighted by ``weight``, the share's size), so ``k`` stays equal on all ranks.
        """
        scores = critic(torch.cat([real, fake])).view(-1)
        real_score, fake_score = scores[: len(real)], scores[len(real) :]
        loss = 0.5 * ((real_score - 1).pow(2).mean() + fake_score.pow(2).mean())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        gaps = [float((real_score.mean() - fake_score.mean()).detach())] if self._uses_k() else []
        if group is not None:
            gaps = group.all_reduce_gradients(critic.parameters(), weight, gaps)
        optimiser.step()
        if gaps:
            self._k = min(1.0, max(0.0, self._k - 0.001 * (1.0 - gaps[0])))

    def _restore_fitted(self, fitted: dict) -> None:
        super()._restore_fitted(fitted)
        # files saved before the rename hold a list of per-epoch means under loss_history_
        if isinstance(getattr(self, "loss_curve_", None), list):
            self.loss_curve_ = np.asarray(self.loss_curve_, dtype=np.float32)
