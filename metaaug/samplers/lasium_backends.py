"""LASIUM's backends: training the paper's VAE and GAN, fitting an autoencoder, encoding and decoding.

:class:`metaaug.samplers.lasium.LASIUM` calls these; they hold the
optimisation loops, the backends' training losses and the batched
encode / decode passes, so that the estimator's file reads as the paper's
sampling algorithm. A backend is ``"vae"`` (a
:class:`~metaaug.nets.vae.ConvVAE`), ``"gan"`` (a
:class:`~metaaug.nets.msgan.MSGANGenerator`) or the user's (``"custom"``, with
``encode``, such as a metaaug autoencoder; ``"generator"``, decoder only),
whose decoding is in :mod:`metaaug.samplers.generator_backend`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from metaaug.base import TrainingBudget
from metaaug.data.sources import ImageSource
from metaaug.distributed import DataParallel, batch_share
from metaaug.generators.autoencoders import AE, AugIntAE, IntAE
from metaaug.losses import mode_seeking_term
from metaaug.nets import eval_mode
from metaaug.nets.msgan import MSGANGenerator, msgan_discriminator
from metaaug.nets.vae import ConvVAE

AUTOENCODER_BACKENDS = {"ae": AE, "intae": IntAE, "augintae": AugIntAE}
DEFAULTS = {  # the VAE's and GAN's settings when LASIUM's are None (the paper's, but smaller networks and budgets)
    "vae": {"latent_dim": 20, "hidden": 16, "lr": 1e-3, "epochs": 20},
    "gan": {"latent_dim": 128, "hidden": 16, "lr": 3e-4, "epochs": 10},
}
# the "natural" networks' departures from those: the authors' latent size for mini-ImageNet / CelebA
NATURAL_DEFAULTS = {"vae": {"latent_dim": 512}, "gan": {"latent_dim": 512}}


@dataclass
class TrainingSettings:
    """The backend's training budget and optimiser settings, resolved from LASIUM's parameters.

    In a data-parallel fit, ``group`` is the process group and ``order`` the
    torch generator, equal on every rank, that shuffles the epochs (see
    :func:`metaaug.distributed.split_torch_streams`); each rank then trains
    on its share of every batch.
    """

    epochs: int
    batch_size: int
    lr: float
    max_time: float | None
    verbose: bool
    device: torch.device
    group: DataParallel | None = None
    order: torch.Generator | None = None


@dataclass
class TrainingLog:
    """What a training loop reports: per-step losses, the named terms, steps done and seconds taken."""

    loss_curve: list[float] = field(default_factory=list)
    loss_terms: dict[str, list[float]] = field(default_factory=dict)
    n_iter: int = 0
    fit_time: float = 0.0

    def record(self, loss: torch.Tensor, **terms: torch.Tensor | float) -> None:
        self.loss_curve.append(float(loss.detach()))
        for name, value in terms.items():
            number = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            self.loss_terms.setdefault(name, []).append(number)

    def arrays(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``loss_curve`` and ``loss_terms`` as float32 arrays (the fitted attributes' form)."""
        terms = {name: np.asarray(values, dtype=np.float32) for name, values in self.loss_terms.items()}
        return np.asarray(self.loss_curve, dtype=np.float32), terms


def training_budget(
    X: torch.Tensor | ImageSource, settings: TrainingSettings, desc: str
) -> tuple[TrainingBudget, Iterator[torch.Tensor]]:
    """The step budget (``epochs`` over ``X`` or ``max_time``) and an endless stream of shuffled batches.

    In a data-parallel fit each batch is this rank's share of the batch all ranks drew together.
    """
    n_batches = math.ceil(len(X) / settings.batch_size)
    group = settings.group
    budget = TrainingBudget(
        settings.epochs * n_batches, settings.max_time, desc, verbose=settings.verbose, unit="batch", group=group
    )

    def batches() -> Iterator[torch.Tensor]:
        while True:
            for index in torch.randperm(len(X), generator=settings.order).split(settings.batch_size):
                if group is not None:
                    index = index[slice(*batch_share(group, len(index)))]
                yield X[index].to(settings.device)

    return budget, batches()


def _all_reduce(
    group: DataParallel,
    network: torch.nn.Module,
    share: int,
    loss: torch.Tensor,
    terms: dict[str, torch.Tensor | float],
) -> tuple[torch.Tensor, dict[str, torch.Tensor | float]]:
    """Average ``network``'s gradients, ``loss`` and ``terms`` across ranks, weighted by each rank's ``share``."""
    values = [float(loss.detach()), *(float(t.detach()) if isinstance(t, torch.Tensor) else t for t in terms.values())]
    averaged = group.all_reduce_gradients(network.parameters(), weight=share, values=values)
    return torch.tensor(averaged[0]), dict(zip(terms, averaged[1:]))


# ------------------------------------------------------------------- the VAE
def vae_loss_terms(vae: ConvVAE, images: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The VAE's summed per-pixel BCE and ``beta`` times its KL divergence, each averaged over the batch."""
    reconstruction, mean, log_variance = vae(images)
    bce = F.binary_cross_entropy(reconstruction, images, reduction="sum") / len(images)
    kl = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum(1).mean()
    return bce, beta * kl


def train_vae(vae: ConvVAE, X: torch.Tensor | ImageSource, settings: TrainingSettings, beta: float) -> TrainingLog:
    """Train ``vae`` on ``X`` by minimising its (``beta``-weighted) negative ELBO."""
    vae.train()
    optimizer = torch.optim.Adam(vae.parameters(), lr=settings.lr)
    budget, batches = training_budget(X, settings, "LASIUM VAE")
    log = TrainingLog()
    for _ in budget:
        images = next(batches)
        bce, kl = vae_loss_terms(vae, images, beta)
        loss = bce + kl
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        terms: dict[str, torch.Tensor | float] = {"reconstruction": bce, "kl": kl}
        if settings.group is not None:
            loss, terms = _all_reduce(settings.group, vae, len(images), loss, terms)
        optimizer.step()
        budget.track(float(loss.detach()))
        log.record(loss, **terms)
        if len(log.loss_curve) % 10 == 0:
            budget.set_postfix(loss=float(np.mean(log.loss_curve[-10:])))
    log.n_iter, log.fit_time = budget.completed, budget.elapsed
    return log


# ------------------------------------------------------------------- the GAN
def discriminator_loss(discriminator: torch.nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """The authors' convention (generated -> 1, real -> 0) with +U(0, 0.05) label noise."""
    n = len(real)
    device = real.device
    logits = discriminator(torch.cat([fake, real]))
    labels = torch.cat([torch.ones(n, device=device), torch.zeros(n, device=device)])
    labels = labels + 0.05 * torch.rand(2 * n, device=device)
    return F.binary_cross_entropy_with_logits(logits, labels)


def train_gan(
    generator: MSGANGenerator, X: torch.Tensor | ImageSource, settings: TrainingSettings, mode_seeking: float
) -> TrainingLog:
    """Train ``generator`` against a new discriminator, with Mao et al.'s mode-seeking term.

    The generator's loss is the non-saturating loss on two images ``G(z1)``,
    ``G(z2)`` plus ``mode_seeking`` times the mode-seeking term computed on
    the very latents ``z1``, ``z2`` that produced them.
    """
    device, latent_dim = settings.device, generator.latent_dim
    generator.train()
    discriminator = msgan_discriminator(generator).to(device)
    g_optimizer = torch.optim.Adam(generator.parameters(), lr=settings.lr)
    d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=settings.lr)
    budget, batches = training_budget(X, settings, "LASIUM GAN")
    log = TrainingLog()
    for _ in budget:
        real = next(batches)
        n = len(real)
        with torch.no_grad():
            fake = generator(torch.randn(n, latent_dim, device=device))
        d_loss = discriminator_loss(discriminator, fake, real)
        d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        if settings.group is not None:
            d_loss, _ = _all_reduce(settings.group, discriminator, n, d_loss, {})
        d_optimizer.step()

        z1 = torch.randn(n, latent_dim, device=device)
        z2 = torch.randn(n, latent_dim, device=device)
        images = generator(torch.cat([z1, z2]))
        g_logits = discriminator(images)
        adversarial = F.binary_cross_entropy_with_logits(g_logits, torch.zeros_like(g_logits))
        g_loss = adversarial
        seeking: torch.Tensor | float = 0.0
        if mode_seeking > 0:
            x1, x2 = images.chunk(2)
            seeking = mode_seeking * mode_seeking_term(x1, x2, z1, z2, ratio="sample")
            g_loss = g_loss + seeking
        g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        terms: dict[str, torch.Tensor | float] = {"adversarial": adversarial, "mode_seeking": seeking}
        if settings.group is not None:
            g_loss, terms = _all_reduce(settings.group, generator, n, g_loss, terms)
        g_optimizer.step()
        budget.track(float(g_loss.detach()), "generator loss")
        budget.track(float(d_loss.detach()), "discriminator loss")
        log.record(g_loss, **terms, discriminator=d_loss)
        if len(log.loss_curve) % 10 == 0:
            budget.set_postfix(g_loss=float(np.mean(log.loss_curve[-10:])), d_loss=float(d_loss.detach()))
    log.n_iter, log.fit_time = budget.completed, budget.elapsed
    return log


# ------------------------------------------------------------ autoencoder backends
def fit_autoencoder(
    name: str,
    X: torch.Tensor | ImageSource,
    *,
    epochs: int | None,
    max_time: float | None,
    latent_dim: int | None,
    hidden: int | None,
    lr: float | None,
    verbose: bool,
    device: Any,
    architecture: str | None = None,
) -> Any:
    """A new metaaug autoencoder (``"ae"``, ``"intae"`` or ``"augintae"``) trained on ``X``.

    It keeps its own defaults except for the settings that are not ``None``.
    Its seed is drawn from torch's global RNG, which the caller seeds.
    """
    cls = AUTOENCODER_BACKENDS[name]
    settings = {
        "epochs": epochs,
        "max_time": max_time,
        "latent_dim": latent_dim,
        "hidden": hidden,
        "lr": lr,
        "architecture": architecture,
    }
    autoencoder = cls(
        verbose=verbose,
        device=device,
        random_state=int(torch.randint(2**31 - 1, ())),
        **{k: v for k, v in settings.items() if v is not None},
    )
    return autoencoder.fit(X)


# ------------------------------------------------------------ encoding and decoding
@torch.no_grad()
def encode_images(
    backend: Any, kind: str, X: torch.Tensor | ImageSource, batch_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, ...] | None]:
    """Latent means and log-variances ``(N, d)`` of ``X`` on the CPU, and a custom encoder's latent shape.

    A custom encoder (deterministic, or returning ``(mean, log_variance)``) gets its batches on ``device`` (its own)
    and in eval mode when it is a module; a deterministic one's log-variance is ``-inf``;
    latents are flattened, and the returned shape (``None`` for the VAE)
    restores them for decoding.
    """
    means, log_variances = [], []
    latent_shape = None
    with eval_mode(backend if isinstance(backend, torch.nn.Module) else None):
        for start in range(0, len(X), batch_size):
            batch = X[start : start + batch_size]
            if kind == "vae":
                mean, log_variance = backend.encode(batch.to(device))
            else:
                encoded = backend.encode(batch.to(device))
                if isinstance(encoded, (tuple, list)) and len(encoded) == 2:  # a VAE-like (mean, log-variance)
                    mean, log_variance = (torch.as_tensor(e).float().reshape(len(batch), -1) for e in encoded)
                    latent_shape = tuple(torch.as_tensor(encoded[0]).shape[1:])
                else:
                    mean = torch.as_tensor(encoded).float()
                    latent_shape = tuple(mean.shape[1:])
                    mean = mean.reshape(len(batch), -1)
                    log_variance = torch.full_like(mean, -math.inf)
            means.append(mean.cpu())
            log_variances.append(log_variance.cpu())
    return torch.cat(means), torch.cat(log_variances), latent_shape


def decode_latents(
    backend: Any, kind: str, latents: torch.Tensor, batch_size: int, device: torch.device
) -> torch.Tensor:
    """Decode ``(N, d)`` latents with the VAE's decoder or the GAN, in chunks, in eval mode, without gradients.

    Returns the images on the CPU as float32 (not yet clamped). Generators and
    codecs of the user decode through :mod:`metaaug.samplers.generator_backend`.
    """
    decode = backend.decode if kind == "vae" else backend
    with eval_mode(backend), torch.no_grad():
        parts = [decode(chunk.to(device)).float().cpu() for chunk in latents.split(batch_size)]
    return torch.cat(parts)
