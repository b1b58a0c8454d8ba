"""Meta-FAVAE's training: its losses, the inner adaptation loop and the Reptile outer loop.

The paper's Algorithm 1: the inner loop (:func:`adapt_in_place`, lines 4-12)
adapts a copy of the four networks to ``g`` images of one class; the outer
loop (:func:`meta_train`) moves the global networks toward each adapted copy
with a Reptile step (:func:`reptile_update`). :class:`MetaFAVAE
<metaaug.generators.metafavae.MetaFAVAE>` runs both; ``generate`` reuses the
inner loop to adapt to new seeds (Algorithm 2).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug.augment.interpolate import lerp
from metaaug.base import TrainingBudget
from metaaug.constraints import Constraint
from metaaug.distributed import DataParallel
from metaaug.losses import mode_seeking_term
from metaaug.nets.blocks import reparameterize
from metaaug.nets.favae import FAVAE

ADAM_BETAS = (0.5, 0.999)
LOSS_TERMS = ("vae", "d", "g", "ms")


# ----------------------------------------------------------------------------- losses
def vae_loss(nets: FAVAE, x: torch.Tensor, beta: float, kl_reduction: str) -> torch.Tensor:
    """``L_VAE``: summed squared error / batch size + ``beta`` x KL (summed / batch size, or averaged)."""
    mean, log_var = nets.encoder(x)
    reconstruction = nets.decoder(reparameterize(mean, log_var))
    squared_error = (reconstruction - x).pow(2).sum() / len(x)
    kl_terms = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp())
    kl = kl_terms.sum() / len(x) if kl_reduction == "sum" else kl_terms.mean()
    return squared_error + beta * kl


def gan_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, generator_side: bool, kind: str = "standard"
) -> torch.Tensor:
    """Adversarial loss for one batch of fakes, discriminator or generator side.

    ``kind="standard"``: the non-saturating GAN loss; ``"relativistic"``: the
    relativistic average GAN loss (each logit against the other side's mean).
    """
    ones, zeros = torch.ones_like, torch.zeros_like
    bce = F.binary_cross_entropy_with_logits
    if kind == "relativistic":
        real_rel = real_logits - fake_logits.mean()
        fake_rel = fake_logits - real_logits.mean()
        real_target, fake_target = (zeros, ones) if generator_side else (ones, zeros)
        return (bce(real_rel, real_target(real_rel)) + bce(fake_rel, fake_target(fake_rel))) / 2
    if generator_side:
        return bce(fake_logits, ones(fake_logits))
    return bce(real_logits, ones(real_logits)) + bce(fake_logits, zeros(fake_logits))


def sample_codes(nets: FAVAE, x: torch.Tensor) -> torch.Tensor:
    """Posterior samples of the codes of ``x``."""
    return reparameterize(*nets.encoder(x))


class AlphaRange(Constraint):
    """A pair ``(low, high)`` of numbers with ``0 <= low <= high <= 1`` (the range of ``feedback_alpha``)."""

    def is_satisfied_by(self, value: Any) -> bool:
        try:
            low, high = (float(a) for a in value)
        except (TypeError, ValueError):
            return False
        return 0.0 <= low <= high <= 1.0  # nan fails every comparison

    def __str__(self) -> str:
        return "a pair (low, high) with 0 <= low <= high <= 1"


def feedback_interpolations(
    images: torch.Tensor, alpha_range: tuple[float, float] = (0.1, 0.9), generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``n^2`` ordered-pair linear interpolations of ``n`` images (feedback augmentation).

    Pair ``(i, j)`` gets ``lerp(images[i], images[j], a)`` with
    ``a ~ U(alpha_range)``; returns ``(interpolations (n^2, C, H, W), alphas (n^2,))``.
    """
    if not AlphaRange().is_satisfied_by(alpha_range):
        raise ValueError(f"feedback_alpha must be {AlphaRange()}, got {alpha_range!r}")
    low, high = (float(a) for a in alpha_range)
    n = len(images)
    first = torch.arange(n, device=images.device).repeat_interleave(n)
    second = torch.arange(n, device=images.device).repeat(n)
    alphas = low + (high - low) * torch.rand(n * n, generator=generator, device=images.device)
    return lerp(images[first], images[second], alphas), alphas


# ----------------------------------------------------------------------------- the inner loop
@dataclass(frozen=True)
class InnerLoop:
    """The settings of the inner loop; each field is the :class:`MetaFAVAE` parameter of that name."""

    inner_iterations: int
    n_vae_steps: int
    n_d_steps: int
    n_g_steps: int
    beta: float
    kl_reduction: str
    lambda_ms: float
    lambda_rec: float
    gan_loss: str
    feedback: bool
    n_feedback: int
    feedback_alpha: tuple[float, float]
    inner_lr_vae: float
    inner_lr_gan: float

    @classmethod
    def of(cls, estimator: Any) -> InnerLoop:
        """The settings read from an estimator's parameters."""
        return cls(**{f.name: getattr(estimator, f.name) for f in fields(cls)})


def _descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
    """Gradient step on ``params`` only (other networks in the graph get no gradients)."""
    grads = torch.autograd.grad(loss, params)
    for param, grad in zip(params, grads):
        param.grad = grad
    optimizer.step()


def adapt_in_place(nets: FAVAE, x: torch.Tensor, loop: InnerLoop) -> dict[str, float]:
    """Adapt ``nets`` in place to the images ``x`` of one class; returns the mean of each loss term.

    Each of the ``inner_iterations`` takes ``n_vae_steps`` VAE steps,
    ``n_d_steps`` discriminator steps, ``n_g_steps`` generator steps and, with
    ``feedback``, one VAE step on ``x`` plus interpolations of generated
    images. Fresh Adam optimisers; torch's global RNG supplies the noise.
    """
    vae_params = nets.vae_parameters()
    gen_params = list(nets.generator.parameters())
    disc_params = list(nets.discriminator.parameters())
    opt_vae = torch.optim.Adam(vae_params, lr=loop.inner_lr_vae, betas=ADAM_BETAS)
    opt_gen = torch.optim.Adam(gen_params, lr=loop.inner_lr_gan, betas=ADAM_BETAS)
    opt_disc = torch.optim.Adam(disc_params, lr=loop.inner_lr_gan, betas=ADAM_BETAS)
    alpha_range = (float(loop.feedback_alpha[0]), float(loop.feedback_alpha[1]))
    noise_dim = nets.config.noise_dim
    g = len(x)
    totals = dict.fromkeys(LOSS_TERMS, 0.0)
    counts = dict.fromkeys(LOSS_TERMS, 0)

    def record(name: str, value: torch.Tensor) -> None:
        totals[name] += float(value.detach())
        counts[name] += 1

    def noise(n: int) -> torch.Tensor:
        return torch.randn(n, noise_dim, device=x.device)

    for _ in range(loop.inner_iterations):
        for _ in range(loop.n_vae_steps):
            loss = vae_loss(nets, x, loop.beta, loop.kl_reduction)
            _descend(opt_vae, loss, vae_params)
            record("vae", loss)
        for _ in range(loop.n_d_steps):
            with torch.no_grad():
                code = sample_codes(nets, x)
                y1 = nets.generator(noise(g), code)
                y2 = nets.generator(noise(g), code)
            real, fake1, fake2 = nets.discriminator(torch.cat([x, y1, y2])).split(g)
            loss = (gan_loss(real, fake1, False, loop.gan_loss) + gan_loss(real, fake2, False, loop.gan_loss)) / 2
            _descend(opt_disc, loss, disc_params)
            record("d", loss)
        for _ in range(loop.n_g_steps):
            with torch.no_grad():
                code = sample_codes(nets, x)
            z1, z2 = noise(g), noise(g)
            fakes = nets.generator(torch.cat([z1, z2]), torch.cat([code, code]))
            real, fake1, fake2 = nets.discriminator(torch.cat([x, fakes])).split(g)
            y1, y2 = fakes.split(g)
            ms = mode_seeking_term(y1, y2, z1, z2, ratio="batch")
            loss = (
                gan_loss(real, fake1, True, loop.gan_loss) + gan_loss(real, fake2, True, loop.gan_loss)
            ) / 2 + loop.lambda_ms * ms
            if loop.lambda_rec > 0:
                loss = loss + loop.lambda_rec * (fakes - torch.cat([x, x])).abs().mean()
            _descend(opt_gen, loss, gen_params)
            record("g", loss)
            record("ms", ms)
        if loop.feedback:
            with torch.no_grad():
                code = sample_codes(nets, x)[torch.arange(loop.n_feedback, device=x.device) % g]
                generated = nets.generator(noise(loop.n_feedback), code)
                interpolations, _ = feedback_interpolations(generated, alpha_range)
            loss = vae_loss(nets, torch.cat([x, interpolations]), loop.beta, loop.kl_reduction)
            _descend(opt_vae, loss, vae_params)
            record("vae", loss)
    for param in nets.parameters():
        param.grad = None
    return {k: totals[k] / counts[k] for k in totals if counts[k]}


# ----------------------------------------------------------------------------- the outer loop
def class_members(labels: torch.Tensor, n_seeds: int, refuse_small: bool = False) -> list[torch.Tensor]:
    """Indices of the images of each class that has at least ``n_seeds`` images (the others are skipped).

    ``refuse_small=True`` (given labels) raises ``ValueError`` instead of
    skipping a class; with pseudo-labels small clusters are simply skipped.
    """
    classes, counts = torch.unique(labels, return_counts=True)
    if refuse_small and int(counts.min()) < n_seeds:
        small = classes[counts < n_seeds][:5].tolist()
        raise ValueError(
            f"n_seeds={n_seeds} (the paper's g) is larger than the {int(counts.min())} image(s) of "
            f"class(es) {small}; lower n_seeds or drop those classes"
        )
    members = [torch.nonzero(labels == c).flatten() for c, n in zip(classes, counts) if n >= n_seeds]
    if not members:
        raise ValueError(f"no pseudo-class has n_seeds={n_seeds} images; lower n_seeds or n_clusters")
    return members


def reptile_update(
    global_module: nn.Module,
    adapted_module: nn.Module,
    optimizer: torch.optim.Optimizer,
    group: DataParallel | None = None,
) -> None:
    """One Reptile outer step: gradient := (global - adapted), then ``optimizer.step()``.

    With plain SGD of learning rate ``lr`` the global parameters move by
    exactly ``lr * (adapted - global)``, i.e. toward the adapted weights; with
    Adam (the paper's choice) by Adam's step on that gradient. With a process
    ``group`` the gradient is the mean over the ranks' adapted copies
    (batched Reptile: one task per rank).
    """
    with torch.no_grad():
        for glob, adapted in zip(global_module.parameters(), adapted_module.parameters(), strict=True):
            glob.grad = (glob - adapted.to(glob.device)).detach().clone()
    if group is not None:
        group.all_reduce_gradients(global_module.parameters())
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def meta_train(
    nets: FAVAE,
    draw_task: Callable[[], torch.Tensor],
    loop: InnerLoop,
    outer_lr_vae: float,
    outer_lr_gan: float,
    budget: TrainingBudget,
    group: DataParallel | None = None,
) -> dict[str, np.ndarray]:
    """Reptile meta-training of ``nets`` in place, one task from ``draw_task()`` per step of ``budget``.

    Returns the mean inner loss of each term per outer iteration (``nan``
    where a term had no step), as float32 arrays keyed by :data:`LOSS_TERMS`.
    With a process ``group`` each rank adapts to its own task, the outer step
    follows the mean direction and the losses are the ranks' means.
    """
    nets.train()
    fast = copy.deepcopy(nets)
    outer = torch.optim.Adam(
        [
            {"params": nets.vae_parameters(), "lr": outer_lr_vae},
            {"params": nets.gan_parameters(), "lr": outer_lr_gan},
        ],
        betas=ADAM_BETAS,
    )
    history: dict[str, list[float]] = {key: [] for key in LOSS_TERMS}
    for _ in budget:
        x = draw_task()
        fast.load_state_dict(nets.state_dict())
        losses = adapt_in_place(fast, x, loop)
        if group is not None:  # the same terms on every rank: the inner loop's settings are equal
            losses = dict(zip(losses, group.mean(list(losses.values()))))
        reptile_update(nets, fast, outer, group)
        for key, value in losses.items():
            budget.track(value, key)
        for key in history:
            history[key].append(losses.get(key, float("nan")))
        budget.set_postfix(**losses)
    nets.eval()
    return {key: np.asarray(values, dtype=np.float32) for key, values in history.items()}
