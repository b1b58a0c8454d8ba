"""Meta-FAVAE: a Reptile-meta-learned adversarial VAE with feedback augmentation.

A few-shot generator (Ying, Phaphuangwittayakul et al.): an outer Reptile loop
learns an initialisation of four networks (encoder, decoder, generator
``G(z, c)``, discriminator) from which a few inner Adam steps on g = 4 images
of a new class give a generator of that class. See :class:`MetaFAVAE`.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, draw_seed, torch_seeded
from metaaug.augment.interpolate import check_alpha, lerp
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.clustering import pseudo_labels
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.nets.favae import FAVAE, FAVAEConfig, favae_downsamplings, favae_preset

GAN_LOSSES = ("standard", "relativistic")
CONDITIONS = ("prior", "encoded")
KL_REDUCTIONS = ("sum", "mean")
_ADAM_BETAS = (0.5, 0.999)
_GENERATE_CHUNK = 1024


# ----------------------------------------------------------------------------- losses and helpers
def mode_seeking_loss(y1: torch.Tensor, y2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor,
                      eps: float = 1e-5) -> torch.Tensor:
    """Mode-seeking regulariser (MSGAN) with L1 distances: ``1 / (d(y1, y2) / d(z1, z2) + eps)``.

    Positive, and smaller the more two outputs of the same code differ
    relative to their noise vectors, so minimising it spreads the outputs.
    """
    ratio = (y1 - y2).abs().mean() / (z1 - z2).abs().mean().clamp_min(1e-12)
    return 1.0 / (ratio + eps)


def feedback_interpolations(images: torch.Tensor, alpha_range: tuple[float, float] = (0.1, 0.9),
                            generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """All ``n^2`` ordered-pair linear interpolations of ``n`` images (feedback augmentation).

    Pair ``(i, j)`` gets ``(1 - a) * images[i] + a * images[j]`` with
    ``a ~ U(alpha_range)``; returns ``(interpolations (n^2, C, H, W), alphas (n^2,))``.
    """
    low, high = (float(a) for a in alpha_range)
    check_alpha(torch.tensor([low, high]), name="feedback_alpha")
    if low > high:
        raise ValueError(f"feedback_alpha must be (low, high) with low <= high, got {alpha_range}")
    n = len(images)
    first = torch.arange(n, device=images.device).repeat_interleave(n)
    second = torch.arange(n, device=images.device).repeat(n)
    alphas = low + (high - low) * torch.rand(n * n, generator=generator, device=images.device)
    return lerp(images[first], images[second], alphas), alphas


def reptile_update(global_module: nn.Module, adapted_module: nn.Module,
                   optimizer: torch.optim.Optimizer) -> None:
    """One Reptile outer step: gradient := (global - adapted), then ``optimizer.step()``.

    With plain SGD of learning rate ``lr`` the global parameters move by
    exactly ``lr * (adapted - global)``, i.e. toward the adapted weights; with
    Adam (the paper's choice) by Adam's step on that gradient.
    """
    with torch.no_grad():
        for glob, adapted in zip(global_module.parameters(), adapted_module.parameters(), strict=True):
            glob.grad = (glob - adapted.to(glob.device)).detach().clone()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params: list[nn.Parameter]) -> None:
    """Gradient step on ``params`` only (other networks in the graph get no gradients)."""
    grads = torch.autograd.grad(loss, params)
    for param, grad in zip(params, grads):
        param.grad = grad
    optimizer.step()


@contextlib.contextmanager
def torch_threads(n_threads: int | None) -> Iterator[None]:
    """Run the block with ``n_threads`` intra-op CPU threads (``None``: unchanged), restored after."""
    previous = torch.get_num_threads()
    if n_threads is not None and n_threads != previous:
        torch.set_num_threads(int(n_threads))
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _seeds_key(seeds: torch.Tensor) -> str:
    data = seeds.detach().cpu().contiguous().numpy()
    return hashlib.sha1(repr(data.shape).encode() + data.tobytes()).hexdigest()


# ----------------------------------------------------------------------------- estimator
class MetaFAVAE(MetaaugEstimator):
    """Meta-FAVAE few-shot generator: Reptile-learned adversarial VAE with feedback augmentation.

    Four networks (:mod:`metaaug.nets.favae`): an encoder giving the mean and
    log-variance of a code ``c``, a decoder ``c -> image``, a generator
    ``G(z, c)`` taking the code concatenated with noise ``z``, and a
    discriminator. Meta-training (the paper's Algorithm 1) repeats: draw one
    class, draw ``n_seeds`` (the paper's g = 4) of its images, copy the global
    parameters ``Phi1`` and adapt the copy for ``inner_iterations`` (K = 10)
    iterations, each ``n_vae_steps`` VAE steps (``L_VAE = sum of squared
    errors / g + beta * KL``), ``n_d_steps`` discriminator steps (the average
    of the losses with ``y1 = G(z1, c)`` and ``y2 = G(z2, c)``) and
    ``n_g_steps`` generator steps (adversarial loss + ``lambda_ms`` times the
    L1 mode-seeking term); with ``feedback=True`` each iteration then
    generates ``n_feedback`` images from the seeds' codes, builds their
    ``n_feedback**2`` linear interpolations with coefficients in
    ``feedback_alpha`` and takes one more VAE step with those interpolations
    added to the encoder's inputs. The adapted copy ``Phi2`` gives the global
    parameters a Reptile update: their gradient is set to ``Phi1 - Phi2`` and
    the outer Adam takes one step, so they move toward ``Phi2``.

    ``generate(seeds, n)`` (Algorithm 2) adapts a copy of the global
    parameters to the seeds with the same inner loop and samples
    ``G(z, c)``; the global parameters never change. Adaptations are cached
    per set of seeds, so an :class:`~metaaug.data.AugmentedDataset` adapts
    each class once.

    Parameters
    ----------
    feedback : bool, default=True
        Feedback augmentation; ``False`` gives Meta-AVAE, the paper's ablation.
    n_iterations : int, default=2000
        Outer (Reptile) iterations, one task each (paper: 100000).
    max_time : float or None, default=540
        Stop meta-training after this many seconds (checked after each outer
        iteration); on one thread the default keeps ``fit`` under 10
        CPU-minutes (measured: 8.9 CPU-minutes, 680 iterations, Omniglot
        dev split at 28x28).
    n_seeds : int, default=4
        Images per meta-training task (the paper's g).
    inner_iterations : int, default=10
        K, inner iterations per task, in meta-training and in ``generate``.
    n_vae_steps, n_d_steps, n_g_steps : int, default=5, 1, 5
        Steps of each kind per inner iteration.
    beta : float, default=10.0
        Weight of the KL term of ``L_VAE``.
    kl_reduction : {"sum", "mean"}, default="mean"
        ``"sum"``: the KL term is summed over latent dimensions and divided by
        the batch size, like the squared error (the ELBO scaling of the
        paper's ``L_VAE``). ``"mean"`` (default): averaged over the latent
        dimensions too, i.e. ``beta / latent_dim`` in ELBO units, as
        LASIUM's authors do for their VAE. With ``"sum"`` and ``beta = 10``
        the posterior collapses on Omniglot (see "Known limitation").
    lambda_ms : float, default=0.03
        Weight of the mode-seeking term of the generator loss (paper: 1; see
        ``lambda_rec``).
    lambda_rec : float, default=10.0
        Weight of an L1 term ``mean |G(z, c) - x|`` in the generator loss,
        where ``c`` is a posterior sample of the code of seed ``x`` and ``z``
        the same noise vectors the adversarial and mode-seeking terms use.
        The paper's equations leave it out; the same authors' FAML code
        trains its generator with this term (``lambda_encoder = 1``, next to
        ``lambda_ms = 1``). Without it ``G`` ignores the class at CPU
        budgets (10% class faithfulness, chance 5%). The balance of the two
        weights trades faithfulness for diversity (240 s fits, about 280
        outer iterations, 3 groups of 20 novel classes, 2 seeds each; real
        held-out drawings 93.8%): ``lambda_rec=10`` with ``lambda_ms`` 0 /
        0.03 / 0.05 / 0.1 / 1 gave 100% (near copies: nearest-seed L1 0.019)
        / 84% / 76% / 58% / 10%; FAML's 1 / 1 gave 7%. ``lambda_rec=0,
        lambda_ms=1`` is the paper's loss.
    gan_loss : {"standard", "relativistic"}, default="standard"
        The paper's equations use the standard (non-saturating) GAN loss, its
        text mentions a relativistic average GAN (as the authors' FAML code
        uses); both are available.
    n_feedback : int, default=4
        Generated images per feedback step (n); ``n**2`` interpolations.
    feedback_alpha : (float, float), default=(0.1, 0.9)
        Range of the interpolation coefficients, within [0, 1].
    inner_lr_vae, inner_lr_gan : float, default=1e-4, 1e-3
        Inner Adam learning rates of encoder/decoder and generator/discriminator.
    outer_lr_vae, outer_lr_gan : float, default=1e-3, 1e-3
        Outer (Reptile) Adam learning rates (paper: 1e-5 and 1e-4; see
        "Differences from the paper").
    condition : {"encoded", "prior"}, default="encoded"
        Code ``c`` given to ``G`` when generating: posterior samples of the
        encoded seeds (the method section) or ``c ~ N(0, I)`` (the paper's
        sampling procedure). ``"encoded"`` is the default because it scored
        better on ``examples/metafavae_omniglot.py`` (Meta-FAVAE defaults,
        680 outer iterations): class faithfulness 94.3% vs 8.6%, FID 16.8 vs
        65.4, downstream gain +12.8 vs +4.1 points. The ``lambda_rec`` term
        ties ``G`` to the seeds' codes, not to samples of the prior.
    latent_dim, noise_dim, hidden_channels, max_channels : int or None
        Network sizes; ``None`` takes :func:`~metaaug.nets.favae.favae_preset`
        for the image size (28x28: 64, 64, 32, 128; 64x64: 128, 128, 48, 256).
    n_clusters : int or None
        Pseudo-classes when ``fit`` gets no labels (default ``len(X) // 20``).
    cache_size : int, default=64
        Adapted models kept (least recently used dropped).
    n_threads : int or None, default=None
        Intra-op CPU threads while fitting and adapting, set only for the
        duration of the call and restored afterwards; ``None`` (default)
        leaves torch's process-wide setting alone. The inner loop runs on
        batches of 4 images, which gain little from threads: on a machine
        shared with other work, ``n_threads=1`` avoids oversubscription.
    verbose : bool, default=True
        tqdm progress bar during ``fit``.
    random_state : None, int or Generator
    device : str, default="auto"

    Attributes
    ----------
    nets_ : FAVAE
        The meta-learned global networks.
    image_shape_ : tuple
        ``(C, H, W)`` of the training images.
    n_classes_ : int
        Classes (or pseudo-classes) with at least ``n_seeds`` images.
    n_iterations_ : int
        Outer iterations run (fewer than ``n_iterations`` when ``max_time`` ran out).
    fit_time_ : float
        Seconds spent meta-training.
    adapt_seed_ : int
        Seeds the adaptation randomness: an adaptation is a deterministic
        function of the global parameters and the seeds, so caching it never
        changes what ``generate`` returns.
    loss_history_ : dict of str to list of float
        Mean inner losses (``vae``, ``d``, ``g``, ``ms``) per outer iteration.

    Differences from the paper
    --------------------------
    * Budget: ``n_iterations=2000`` / ``max_time=540`` s instead of 100000
      iterations, and the outer Adam learning rates raised from 1e-5
      (encoder/decoder) and 1e-4 (generator/discriminator) to 1e-3 so that a
      few hundred Reptile steps move the initialisation at all (Adam steps
      are about ``lr`` per parameter, so 1e-5 x 500 steps is no training).
      Pass ``outer_lr_vae=1e-5, outer_lr_gan=1e-4, n_iterations=100000,
      max_time=None`` for the paper's schedule.
    * Networks: small DCGAN-style stacks without batch normalisation (the
      inner batches have g = 4 images and Reptile cannot average running
      statistics meaningfully); 1.1 M parameters at 28x28, 7.3 M at 64x64
      RGB (paper: 8.3 M). The paper's exact layer list was not available to
      check; the outer/inner Adam betas (0.5, 0.999), the relativistic loss
      option, the L1 mode-seeking ratio ``1 / (ratio + 1e-5)`` and the
      gradient sign of the Reptile step follow the same authors' FAML code.
    * Generator loss: adversarial + ``lambda_ms`` x mode-seeking, plus FAML's
      L1 term to the seeds (``lambda_rec=10``), with the mode-seeking weight
      lowered from 1 to 0.03 to balance it (see ``lambda_rec``); the paper's
      loss is ``lambda_rec=0, lambda_ms=1``.
    * Generator steps train the generator only: the code ``c`` is detached,
      so the encoder learns from ``L_VAE`` alone.
    * Feedback: one extra VAE step per inner iteration on the seeds plus the
      ``n^2`` interpolations (pairs ``(i, i)`` included, so the interpolations
      contain the generated images themselves); the codes of the feedback
      images are the seeds' codes, cycled when ``n_feedback > g``.
    * The inner Adam optimisers start fresh for every task (standard Reptile).
    * ``L_VAE``: the squared error is summed over pixels and divided by the
      batch size (the paper's "mean squared error / g"); the KL term is by
      default averaged over the latent dimensions (``kl_reduction="mean"``),
      which divides the paper's ``beta`` by ``latent_dim``, because the
      summed KL collapses the posterior at CPU budgets.
    * ``generate`` adapts on all the seeds it is given (any number >= 1); its
      adaptation randomness depends on the seeds, not on ``random_state``
      (which drives the sampling), so adaptations can be cached.
    * Without labels, classes are pseudo-labels (PCA + k-means,
      :mod:`metaaug.clustering`); clusters smaller than ``n_seeds`` are skipped.

    Known limitation
    ----------------
    With ``kl_reduction="sum"`` (the paper's scaling) on the Omniglot dev
    split (654 outer iterations, 9 minutes on one thread) the VAE's
    posterior collapses (KL per image about 3e-4 nats, decoder error worse
    than a blank image) and ``G`` ignores ``c`` (swapping codes changes its
    output by about 5e-5); ``"mean"``, the default, keeps the code
    informative. With the paper's generator loss (``lambda_rec=0,
    lambda_ms=1``) ``G`` still does not draw the seeds' class at this budget
    (10.2% class faithfulness for 20 classes, chance 5%), although the
    adapted VAE decoder does (99.6% on posterior samples); the default
    ``lambda_rec=10, lambda_ms=0.03`` reaches 94.3% (real drawings 93.1%).
    See ``docs/metafavae.md``.
    """

    def __init__(self, feedback: bool = True, n_iterations: int = 2000, max_time: float | None = 540.0,
                 n_seeds: int = 4, inner_iterations: int = 10, n_vae_steps: int = 5, n_d_steps: int = 1,
                 n_g_steps: int = 5, beta: float = 10.0, kl_reduction: str = "mean", lambda_ms: float = 0.03,
                 lambda_rec: float = 10.0, gan_loss: str = "standard",
                 n_feedback: int = 4, feedback_alpha: tuple[float, float] = (0.1, 0.9),
                 inner_lr_vae: float = 1e-4, inner_lr_gan: float = 1e-3, outer_lr_vae: float = 1e-3,
                 outer_lr_gan: float = 1e-3, condition: str = "encoded", latent_dim: int | None = None,
                 noise_dim: int | None = None, hidden_channels: int | None = None,
                 max_channels: int | None = None, n_clusters: int | None = None, cache_size: int = 64,
                 n_threads: int | None = None, verbose: bool = True, random_state: RandomState = None,
                 device: str = "auto") -> None:
        self.feedback = feedback
        self.n_iterations = n_iterations
        self.max_time = max_time
        self.n_seeds = n_seeds
        self.inner_iterations = inner_iterations
        self.n_vae_steps = n_vae_steps
        self.n_d_steps = n_d_steps
        self.n_g_steps = n_g_steps
        self.beta = beta
        self.kl_reduction = kl_reduction
        self.lambda_ms = lambda_ms
        self.lambda_rec = lambda_rec
        self.gan_loss = gan_loss
        self.n_feedback = n_feedback
        self.feedback_alpha = feedback_alpha
        self.inner_lr_vae = inner_lr_vae
        self.inner_lr_gan = inner_lr_gan
        self.outer_lr_vae = outer_lr_vae
        self.outer_lr_gan = outer_lr_gan
        self.condition = condition
        self.latent_dim = latent_dim
        self.noise_dim = noise_dim
        self.hidden_channels = hidden_channels
        self.max_channels = max_channels
        self.n_clusters = n_clusters
        self.cache_size = cache_size
        self.n_threads = n_threads
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ validation and construction
    def _validate_params(self) -> None:
        for name in ("n_iterations", "n_seeds", "inner_iterations", "n_vae_steps", "n_g_steps", "n_feedback"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("n_d_steps", "cache_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if self.n_threads is not None and (isinstance(self.n_threads, bool)
                                           or not isinstance(self.n_threads, (int, np.integer)) or self.n_threads < 1):
            raise ValueError(f"n_threads must be None or an integer >= 1, got {self.n_threads!r}")
        for name in ("beta", "lambda_ms", "lambda_rec"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("inner_lr_vae", "inner_lr_gan", "outer_lr_vae", "outer_lr_gan"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if self.gan_loss not in GAN_LOSSES:
            raise ValueError(f"gan_loss must be one of {GAN_LOSSES}, got {self.gan_loss!r}")
        if self.condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.kl_reduction not in KL_REDUCTIONS:
            raise ValueError(f"kl_reduction must be one of {KL_REDUCTIONS}, got {self.kl_reduction!r}")
        self._check_feedback_alpha(self.feedback_alpha)
        for name in ("latent_dim", "noise_dim", "hidden_channels", "max_channels"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}")

    @staticmethod
    def _check_feedback_alpha(alpha_range: Any) -> tuple[float, float]:
        try:
            low, high = (float(a) for a in alpha_range)
        except (TypeError, ValueError) as err:
            raise ValueError(f"feedback_alpha must be a pair (low, high) in [0, 1], got {alpha_range!r}") from err
        check_alpha(torch.tensor([low, high]), name="feedback_alpha")
        if low > high:
            raise ValueError(f"feedback_alpha must be (low, high) with low <= high, got {alpha_range!r}")
        return low, high

    def _config(self) -> FAVAEConfig:
        channels, height, width = self.image_shape_
        preset = favae_preset(height, width)
        sizes = {k: (preset[k] if getattr(self, k) is None else int(getattr(self, k))) for k in preset}
        return FAVAEConfig(channels=channels, height=height, width=width, **sizes)

    def _build_modules(self) -> None:
        self.nets_ = FAVAE(self._config()).to(self._device())

    # ------------------------------------------------------------------ the inner loop (Algorithm 1, lines 4-12)
    def _gan_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                   generator_side: bool) -> torch.Tensor:
        """Adversarial loss for one batch of fakes (discriminator or generator side)."""
        ones, zeros = torch.ones_like, torch.zeros_like
        bce = F.binary_cross_entropy_with_logits
        if self.gan_loss == "relativistic":
            real_rel = real_logits - fake_logits.mean()
            fake_rel = fake_logits - real_logits.mean()
            real_target, fake_target = (zeros, ones) if generator_side else (ones, zeros)
            return (bce(real_rel, real_target(real_rel)) + bce(fake_rel, fake_target(fake_rel))) / 2
        if generator_side:
            return bce(fake_logits, ones(fake_logits))
        return bce(real_logits, ones(real_logits)) + bce(fake_logits, zeros(fake_logits))

    @staticmethod
    def _sample_codes(nets: FAVAE, x: torch.Tensor) -> torch.Tensor:
        """Posterior samples of the codes of ``x``."""
        mean, log_var = nets.encoder(x)
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)

    def _vae_loss(self, nets: FAVAE, x: torch.Tensor) -> torch.Tensor:
        mean, log_var = nets.encoder(x)
        code = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
        reconstruction = nets.decoder(code)
        squared_error = (reconstruction - x).pow(2).sum() / len(x)
        kl_terms = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp())
        kl = kl_terms.sum() / len(x) if self.kl_reduction == "sum" else kl_terms.mean()
        return squared_error + self.beta * kl

    def _inner_loop(self, nets: FAVAE, x: torch.Tensor) -> dict[str, float]:
        """Adapt ``nets`` in place to the images ``x`` of one class; returns mean losses."""
        vae_params = nets.vae_parameters()
        gen_params = list(nets.generator.parameters())
        disc_params = list(nets.discriminator.parameters())
        opt_vae = torch.optim.Adam(vae_params, lr=self.inner_lr_vae, betas=_ADAM_BETAS)
        opt_gen = torch.optim.Adam(gen_params, lr=self.inner_lr_gan, betas=_ADAM_BETAS)
        opt_disc = torch.optim.Adam(disc_params, lr=self.inner_lr_gan, betas=_ADAM_BETAS)
        alpha_range = self._check_feedback_alpha(self.feedback_alpha)
        noise_dim = nets.config.noise_dim
        g = len(x)
        totals = {"vae": 0.0, "d": 0.0, "g": 0.0, "ms": 0.0}
        counts = dict.fromkeys(totals, 0)

        def record(name: str, value: torch.Tensor) -> None:
            totals[name] += float(value.detach())
            counts[name] += 1

        for _ in range(self.inner_iterations):
            for _ in range(self.n_vae_steps):
                loss = self._vae_loss(nets, x)
                _descend(opt_vae, loss, vae_params)
                record("vae", loss)
            for _ in range(self.n_d_steps):
                with torch.no_grad():
                    code = self._sample_codes(nets, x)
                    y1 = nets.generator(torch.randn(g, noise_dim, device=x.device), code)
                    y2 = nets.generator(torch.randn(g, noise_dim, device=x.device), code)
                logits = nets.discriminator(torch.cat([x, y1, y2]))
                real, fake1, fake2 = logits.split(g)
                loss = (self._gan_terms(real, fake1, False) + self._gan_terms(real, fake2, False)) / 2
                _descend(opt_disc, loss, disc_params)
                record("d", loss)
            for _ in range(self.n_g_steps):
                with torch.no_grad():
                    code = self._sample_codes(nets, x)
                z1 = torch.randn(g, noise_dim, device=x.device)
                z2 = torch.randn(g, noise_dim, device=x.device)
                fakes = nets.generator(torch.cat([z1, z2]), torch.cat([code, code]))
                logits = nets.discriminator(torch.cat([x, fakes]))
                real, fake1, fake2 = logits.split(g)
                y1, y2 = fakes.split(g)
                ms = mode_seeking_loss(y1, y2, z1, z2)
                loss = ((self._gan_terms(real, fake1, True) + self._gan_terms(real, fake2, True)) / 2
                        + self.lambda_ms * ms)
                if self.lambda_rec > 0:
                    loss = loss + self.lambda_rec * (fakes - torch.cat([x, x])).abs().mean()
                _descend(opt_gen, loss, gen_params)
                record("g", loss)
                record("ms", ms)
            if self.feedback:
                with torch.no_grad():
                    code = self._sample_codes(nets, x)[torch.arange(self.n_feedback, device=x.device) % g]
                    generated = nets.generator(torch.randn(self.n_feedback, noise_dim, device=x.device), code)
                    interpolations, _ = feedback_interpolations(generated, alpha_range)
                loss = self._vae_loss(nets, torch.cat([x, interpolations]))
                _descend(opt_vae, loss, vae_params)
                record("vae", loss)
        for param in nets.parameters():
            param.grad = None
        return {k: totals[k] / counts[k] for k in totals if counts[k]}

    # ------------------------------------------------------------------ fit (Algorithm 1)
    def _class_members(self, X: torch.Tensor, y: Any, rng: np.random.Generator) -> list[torch.Tensor]:
        if y is None:
            n_clusters = self.n_clusters if self.n_clusters is not None else max(2, len(X) // 20)
            if not 2 <= int(n_clusters) <= len(X):
                raise ValueError(f"n_clusters must be in [2, {len(X)}] for {len(X)} images, got {n_clusters}")
            labels = pseudo_labels(X, int(n_clusters), random_state=draw_seed(rng))
        else:
            labels = as_labels(y, len(X))
        classes, counts = torch.unique(labels, return_counts=True)
        if y is not None and int(counts.min()) < self.n_seeds:
            small = classes[counts < self.n_seeds][:5].tolist()
            raise ValueError(
                f"n_seeds={self.n_seeds} (the paper's g) is larger than the {int(counts.min())} image(s) of "
                f"class(es) {small}; lower n_seeds or drop those classes"
            )
        members = [torch.nonzero(labels == c).flatten() for c, n in zip(classes, counts) if n >= self.n_seeds]
        if not members:
            raise ValueError(
                f"no pseudo-class has n_seeds={self.n_seeds} images; lower n_seeds or n_clusters"
            )
        return members

    def fit(self, X: Any, y: Any = None) -> MetaFAVAE:
        """Meta-train on ``X`` (classes from ``y``, or pseudo-labels when ``y`` is None)."""
        self._validate_params()
        X = as_images(X, name="X", min_count=2)
        favae_downsamplings(X.shape[2], X.shape[3])  # rejects unusable image sizes before any work
        rng = check_rng(self.random_state)
        members = self._class_members(X, y, rng)
        device = self._device()
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_classes_ = len(members)
        self.adapt_seed_ = draw_seed(rng)
        self._adaptations = OrderedDict()
        history: dict[str, list[float]] = {"vae": [], "d": [], "g": [], "ms": []}
        with torch_seeded(rng), torch_threads(self.n_threads):
            self._init_modules()
            nets = self.nets_
            nets.train()
            fast = copy.deepcopy(nets)
            outer = torch.optim.Adam([
                {"params": nets.vae_parameters(), "lr": self.outer_lr_vae},
                {"params": nets.gan_parameters(), "lr": self.outer_lr_gan},
            ], betas=_ADAM_BETAS)
            budget = TrainingBudget(self.n_iterations, self.max_time, desc="MetaFAVAE" if self.feedback
                                    else "MetaAVAE", verbose=self.verbose)
            for _ in budget:
                cls = members[int(rng.integers(len(members)))]
                pick = torch.from_numpy(rng.choice(len(cls), self.n_seeds, replace=False))
                x = X[cls[pick]].to(device)
                fast.load_state_dict(nets.state_dict())
                losses = self._inner_loop(fast, x)
                reptile_update(nets, fast, outer)
                for key in history:
                    history[key].append(losses.get(key, float("nan")))
                budget.set_postfix(**{k: v for k, v in losses.items()})
        nets.eval()
        self.n_iterations_ = budget.completed
        self.fit_time_ = budget.elapsed
        self.loss_history_ = history
        return self

    # ------------------------------------------------------------------ adaptation and generation (Algorithm 2)
    def _check_seeds(self, seeds: Any) -> torch.Tensor:
        self._check_fitted()
        seeds = as_images(seeds, name="seeds", min_count=1)
        check_image_shape(seeds, self.image_shape_, name="seeds")
        return seeds.to(self._device())

    def adapt(self, seeds: Any) -> FAVAE:
        """A copy of the global networks adapted to ``seeds`` (K inner iterations); cached.

        The returned module is shared with the cache: do not modify it.
        """
        seeds = self._check_seeds(seeds)
        return self._adapt(seeds)

    def clear_cache(self) -> None:
        """Forget the cached adaptations (e.g. to time adaptation or free memory)."""
        self._adaptations = OrderedDict()

    def _adapt(self, seeds: torch.Tensor) -> FAVAE:
        key = _seeds_key(seeds)
        cache = getattr(self, "_adaptations", None)
        if cache is None:
            cache = self._adaptations = OrderedDict()
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        adapted = copy.deepcopy(self.nets_)
        adapted.train()
        seed = (int(self.adapt_seed_) ^ int(key[:15], 16)) % (2**63 - 1)
        with torch_seeded(np.random.default_rng(seed)), torch.enable_grad(), torch_threads(self.n_threads):
            self._inner_loop(adapted, seeds)
        adapted.eval()
        for param in adapted.parameters():
            param.requires_grad_(False)
        if self.cache_size > 0:
            cache[key] = adapted
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return adapted

    def generate(self, seeds: Any, n: int, random_state: RandomState = None,
                 condition: str | None = None) -> torch.Tensor:
        """Adapt a copy of the model to ``seeds`` and sample ``n`` images of their class.

        Parameters
        ----------
        seeds : array-like
            ``k >= 1`` images of one class, shaped like the training images.
        n : int
            Images to generate.
        random_state : None, int or Generator
            Drives the sampling of ``z`` and ``c``.
        condition : {"encoded", "prior"} or None
            Overrides the ``condition`` parameter.

        Returns
        -------
        torch.Tensor
            ``(n, C, H, W)`` float32 in [0, 1], on CPU.
        """
        seeds = self._check_seeds(seeds)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        condition = self.condition if condition is None else condition
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
        adapted = self._adapt(seeds)
        rng = check_rng(random_state)
        config = adapted.config
        was_training = adapted.training
        adapted.eval()
        chunks = []
        try:
            with torch.no_grad(), torch_seeded(rng), torch_threads(self.n_threads):
                for start in range(0, int(n), _GENERATE_CHUNK):
                    m = min(_GENERATE_CHUNK, int(n) - start)
                    if condition == "prior":
                        code = torch.randn(m, config.latent_dim, device=seeds.device)
                    else:
                        which = torch.randint(len(seeds), (m,), device=seeds.device)
                        mean, log_var = adapted.encoder(seeds)
                        code = (mean[which] + torch.exp(0.5 * log_var[which])
                                * torch.randn(m, config.latent_dim, device=seeds.device))
                    noise = torch.randn(m, config.noise_dim, device=seeds.device)
                    chunks.append(adapted.generator(noise, code).cpu())
        finally:
            adapted.train(was_training)
        return torch.cat(chunks).clamp_(0.0, 1.0)

    def reconstruct(self, images: Any) -> torch.Tensor:
        """Global encoder-decoder reconstruction through the posterior mean (diagnostics)."""
        images = self._check_seeds(images)
        with torch.no_grad():
            return self.nets_(images).cpu()


def parameter_count(module: nn.Module | Iterable[nn.Parameter]) -> int:
    """Number of scalar parameters of a module (or an iterable of parameters)."""
    params = module.parameters() if isinstance(module, nn.Module) else module
    return sum(p.numel() for p in params)
