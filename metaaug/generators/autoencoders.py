"""AE, IntAE and AugIntAE: interpolative autoencoders as few-shot generators and augmenters.

All three share :class:`InterpolativeAutoencoder`: an encoder onto the unit
sphere, a generator, batched training on augmentation triplets (see
:func:`metaaug.augment.augmentation_triplets`) and the same sampling API.
New images of a class are decoded spherical interpolations between the
latents of two of its seeds.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, draw_seed, torch_generator, torch_seeded
from metaaug.augment.affine import AffineRanges, augmentation_triplets, sample_params, apply_params
from metaaug.augment.interpolate import check_alpha, slerp
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.data.images import as_images, check_image_shape
from metaaug.nets.autoencoders import (
    Encoder,
    Generator,
    check_architecture,
    default_architecture,
    default_latent_dim,
    discriminator,
)

AUGMENTATIONS = ("auto", "characters", "natural", "none")
SINGLE_SEED_MODES = ("error", "augment")


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_non_negative(value: Any, name: str) -> float:
    if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


class _EvalMode:
    """Put modules in eval mode for a block and restore each one's previous mode."""

    def __init__(self, *modules: nn.Module) -> None:
        self.modules = [m for m in modules if m is not None]

    def __enter__(self) -> None:
        self.previous = [m.training for m in self.modules]
        for m in self.modules:
            m.eval()

    def __exit__(self, *exc: object) -> None:
        for m, mode in zip(self.modules, self.previous):
            m.train(mode)


class InterpolativeAutoencoder(MetaaugEstimator):
    """Shared base of :class:`AE`, :class:`IntAE` and :class:`AugIntAE`.

    Subclasses implement :meth:`_generator_loss` (one training step's loss
    from a batch of triplets) and say whether they train a discriminator.
    """

    #: decay the learning rate 10x at these fractions of training (non-adversarial models)
    lr_milestones = (0.35, 0.70)

    # ------------------------------------------------------------ configuration
    def _uses_adversary(self) -> bool:
        return False

    def _ranges(self) -> AffineRanges | None:
        augmentation = self.augmentation
        if augmentation == "auto":
            augmentation = "characters" if self.image_shape_[0] == 1 else "natural"
        if augmentation == "none":
            return None
        return AffineRanges.characters() if augmentation == "characters" else AffineRanges.natural()

    def _check_params(self) -> None:
        _check_positive_int(self.epochs, "epochs")
        _check_positive_int(self.batch_size, "batch_size")
        _check_positive_int(self.width, "width")
        if self.latent_dim is not None:
            _check_positive_int(self.latent_dim, "latent_dim")
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(f"lr must be a number > 0, got {self.lr!r}")
        if self.max_time is not None and not (isinstance(self.max_time, (int, float)) and self.max_time > 0):
            raise ValueError(f"max_time must be None or > 0 seconds, got {self.max_time!r}")
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, got {self.augmentation!r}")
        if self.architecture != "auto" and self.architecture not in ("infogan", "dcgan"):
            raise ValueError(f"architecture must be 'auto', 'infogan' or 'dcgan', got {self.architecture!r}")

    def _build_modules(self) -> None:
        shape = tuple(self.image_shape_)
        device = self._device()
        self.encoder_ = Encoder(shape, self.latent_dim_, self.architecture_, self.width).to(device)
        self.decoder_ = Generator(shape, self.latent_dim_, self.architecture_, self.width).to(device)
        if self._uses_adversary():
            self.discriminator_ = discriminator(shape, self.architecture_, self.width).to(device)

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> InterpolativeAutoencoder:
        """Train on unlabeled images ``X`` (``y`` is ignored).

        Runs ``epochs`` passes of ``batch_size`` (fewer if ``max_time`` runs
        out first) with a tqdm bar when ``verbose``.
        """
        self._check_params()
        X = as_images(X, name="X", min_count=2)
        shape = tuple(int(s) for s in X.shape[1:])
        architecture = default_architecture(shape) if self.architecture == "auto" else self.architecture
        check_architecture(architecture, shape)
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)
        self.image_shape_ = shape
        self.architecture_ = architecture
        self.latent_dim_ = int(self.latent_dim or default_latent_dim(architecture))
        rng = check_rng(self.random_state)
        device = self._device()
        data = X.to(device)
        batch_size = min(int(self.batch_size), len(X))
        steps_per_epoch = math.ceil(len(X) / batch_size)
        n_steps = int(self.epochs) * steps_per_epoch
        ranges = self._ranges()
        with torch_seeded(rng):
            self._init_modules()
            modules = [self.encoder_, self.decoder_]
            optimiser = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=self.lr)
            critic = getattr(self, "discriminator_", None)
            critic_optimiser = (torch.optim.Adam(critic.parameters(), lr=self.lr, betas=(0.5, 0.999))
                                if critic is not None else None)
            for m in modules + ([critic] if critic is not None else []):
                m.train()
            self._k = 1.0
            decays = 0
            epoch_losses: list[float] = []
            running, count = 0.0, 0
            budget = TrainingBudget(n_steps, self.max_time, type(self).__name__, self.verbose)
            order = torch.randperm(len(X), device=device)
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
                    order = torch.randperm(len(X), device=device)
                batch = data[order[position * batch_size:(position + 1) * batch_size]]
                if ranges is None:
                    a = b = c = batch
                    alpha = torch.rand(len(batch), device=device)
                else:
                    a, b, c, alpha = augmentation_triplets(batch, ranges)
                loss, fake, real = self._generator_loss(a, b, c, alpha)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                if critic is not None:
                    self._critic_step(critic, critic_optimiser, real, fake.detach())
                running += float(loss.detach())
                count += 1
                if position == steps_per_epoch - 1:
                    epoch_losses.append(running / count)
                    running, count = 0.0, 0
                budget.set_postfix(loss=float(loss.detach()))
            if count:
                epoch_losses.append(running / count)
        for m in (self.encoder_, self.decoder_, critic):
            if m is not None:
                m.eval()
                m.zero_grad(set_to_none=True)
        self.loss_history_ = epoch_losses
        self.n_steps_ = budget.completed
        self.fit_time_ = budget.elapsed
        self.k_ = float(self._k)
        return self

    def _generator_loss(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, alpha: torch.Tensor
                        ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Loss of one step; also the fakes and reals for the critic (None without one)."""
        raise NotImplementedError

    def _critic_step(self, critic: nn.Module, optimiser: torch.optim.Optimizer, real: torch.Tensor,
                     fake: torch.Tensor) -> None:
        """LSGAN critic update; then k <- clip(k - 0.001 (1 - (D(real) - D(fake))), 0, 1)."""
        scores = critic(torch.cat([real, fake])).view(-1)
        real_score, fake_score = scores[:len(real)], scores[len(real):]
        loss = 0.5 * ((real_score - 1).pow(2).mean() + fake_score.pow(2).mean())
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        gap = float((real_score.mean() - fake_score.mean()).detach())
        self._k = min(1.0, max(0.0, self._k - 0.001 * (1.0 - gap)))

    def _autoperceptual(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """L1 between the frozen current encoder's feature maps of ``output`` and ``target``.

        The encoder's parameters are detached (gradients reach ``output`` only)
        and it runs in eval mode, so the feature extractor is not trained by
        this term and its BatchNorm statistics stay untouched.
        """
        frozen = {f"encoder.{name}": p.detach() for name, p in self.encoder_.named_parameters()}
        with _EvalMode(self.encoder_):
            maps = torch.func.functional_call(_FeatureView(self.encoder_), frozen,
                                              (torch.cat([output, target]),), strict=False)
        return sum((fo - ft.detach()).abs().mean() for fo, ft in (m.chunk(2) for m in maps)) / len(maps)

    def _adversarial_term(self, fake: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
        """k * gamma * LSGAN generator loss, gamma = ||grad L_recon|| / ||grad L_adv|| per image.

        ``reconstruction`` holds the per-image reconstruction losses of ``fake``.
        """
        critic = self.discriminator_
        adversarial = (critic(fake).view(-1) - 1).pow(2)
        grad_recon = torch.autograd.grad(reconstruction.sum(), fake, retain_graph=True)[0]
        grad_adv = torch.autograd.grad(adversarial.sum(), fake, retain_graph=True)[0]
        gamma = grad_recon.flatten(1).norm(dim=1) / grad_adv.flatten(1).norm(dim=1).clamp_min(1e-8)
        return (self._k * gamma.detach() * adversarial).mean()

    # ----------------------------------------------------------------- sampling
    def _check_images(self, images: Any, name: str) -> torch.Tensor:
        self._check_fitted()
        images = as_images(images, name=name)
        check_image_shape(images, tuple(self.image_shape_), name=name)
        return images

    def _batched(self, module: nn.Module, inputs: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        device = self._device()
        size = batch_size or max(1024, int(self.batch_size))
        with torch.no_grad(), _EvalMode(module):
            outs = [module(inputs[i:i + size].to(device)) for i in range(0, len(inputs), size)]
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

    def generate(self, seeds: Any, n: int, random_state: RandomState = None, alpha: float | None = None,
                 single_seed: str = "error") -> torch.Tensor:
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
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        if single_seed not in SINGLE_SEED_MODES:
            raise ValueError(f"single_seed must be one of {SINGLE_SEED_MODES}, got {single_seed!r}")
        if alpha is not None:
            check_alpha(alpha)
        n = int(n)
        gen = torch_generator(check_rng(random_state))
        device = self._device()
        if len(seeds) < 2:
            if single_seed == "error":
                raise ValueError("generate needs at least 2 seeds to interpolate, got 1; pass "
                                 "single_seed='augment' to interpolate between augmentations of the one seed")
            ranges = self._ranges() or AffineRanges.characters()
            views = seeds.expand(2 * n, *seeds.shape[1:]).contiguous()
            params = sample_params(2 * n, ranges, seeds.shape[-1], gen)
            views = apply_params(views, params)
            start, end = self.encode(views).chunk(2)
        else:
            latents = self.encode(seeds)
            first = torch.randint(len(seeds), (n,), generator=gen)
            other = (first + torch.randint(1, len(seeds), (n,), generator=gen)) % len(seeds)
            start, end = latents[first.to(latents.device)], latents[other.to(latents.device)]
        weights = torch.rand(n, generator=gen) if alpha is None else torch.full((n,), float(alpha))
        return self.decode(slerp(start, end, weights.to(device)))

    def _more_tags(self) -> dict:
        return {"requires_positive_X": False}


class _FeatureView(nn.Module):
    """Calls an encoder's ``features`` as ``forward`` (for ``functional_call``)."""

    def __init__(self, encoder: Encoder) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.encoder.features(x)


class AE(InterpolativeAutoencoder):
    """Plain autoencoder baseline of the IntAE / AugIntAE papers.

    Reconstructs (L1) the alpha-mixed augmented image ``C`` of each training
    triplet, so it sees the same augmented data as AugIntAE but is never asked
    to interpolate. New images are still decoded latent interpolations.

    Parameters
    ----------
    latent_dim : int or None, default None
        Latent size; None picks the paper's (32 for "infogan", 512 for "dcgan").
    width : int, default 32
        Base channel count (the paper's InfoGAN layout is ``width=64``).
    architecture : {"auto", "infogan", "dcgan"}, default "auto"
        "auto": "infogan" up to 28 px, "dcgan" beyond (32, 64, 128 px).
    augmentation : {"auto", "characters", "natural", "none"}, default "auto"
        Ranges of the training augmentations (:class:`metaaug.augment.AffineRanges`);
        "auto" is "characters" for one channel, "natural" otherwise.
    epochs : int, default 20
        Passes over ``X``.
    batch_size : int, default 64
    lr : float, default 1e-3
        Adam learning rate.
    max_time : float or None, default None
        Stop after this many seconds.
    verbose : bool, default True
        Show a tqdm progress bar.
    random_state : None, int or Generator
    device : "auto", "cpu", "cuda", ...

    Attributes
    ----------
    image_shape_ : (C, H, W)
    architecture_, latent_dim_ : the resolved layout and latent size
    encoder_, decoder_ : the trained networks (``metaaug.nets.autoencoders``)
    loss_history_ : list of float, mean training loss per epoch
    n_steps_, fit_time_ : optimisation steps run and seconds taken

    Differences from the paper
    --------------------------
    * Default ``width=32`` (half the InfoGAN widths) and ``epochs=20`` so that a
      fit takes minutes on a 2-core CPU; ``width=64`` gives the paper's layout.
    * Interpolation always uses SLERP on unit-norm latents for all three models.

    Examples
    --------
    >>> from metaaug import AE
    >>> model = AE(epochs=1, verbose=False).fit(X_unlabeled)          # doctest: +SKIP
    >>> images = model.generate(seeds, n=10, random_state=0)          # doctest: +SKIP
    """

    def __init__(self, latent_dim: int | None = None, width: int = 32, architecture: str = "auto",
                 augmentation: str = "auto", epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                 max_time: float | None = None, verbose: bool = True, random_state: RandomState = None,
                 device: str = "auto") -> None:
        self.latent_dim = latent_dim
        self.width = width
        self.architecture = architecture
        self.augmentation = augmentation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    def _generator_loss(self, a, b, c, alpha):
        output = self.decoder_(self.encoder_(c))
        return (output - c).abs().mean(), None, None


class IntAE(InterpolativeAutoencoder):
    """Interpolative autoencoder: reconstruction plus realistic decoded interpolations.

    Each step encodes two augmented views ``A`` and ``B`` of an image,
    reconstructs both (L1) and decodes ``slerp(E(A), E(B), 1 - alpha)``; an LSGAN
    critic (the encoder layout with one output) scores those interpolations
    against real augmented images ``C``. Loss: ``L_recon / 2 + adversarial_weight
    * L_interp`` with ``L_recon`` the sum of the two reconstruction errors (L1
    summed over the pixels of an image, averaged over the batch) and
    ``L_interp`` the LSGAN generator loss. ``loss_history_`` reports this loss
    divided by the number of pixels per image (per-pixel units, like the other
    models).

    Parameters
    ----------
    adversarial_weight : float, default 1.0
        Weight of the adversarial interpolation loss.
    latent_dim, width, architecture, augmentation, epochs, batch_size, lr, max_time, verbose, random_state, device
        As for :class:`AE`.

    Attributes
    ----------
    image_shape_, architecture_, latent_dim_, encoder_, decoder_, loss_history_, n_steps_, fit_time_
        As for :class:`AE`.
    discriminator_ : the LSGAN critic
    k_ : float, final value of the critic-balance variable

    Differences from the paper
    --------------------------
    * Default ``width=32``, ``epochs=20`` (CPU budget); ``width=64`` is the paper's.
    * The critic uses Adam (lr as the autoencoder, betas 0.5 / 0.999); being
      adversarial, the model keeps a constant learning rate.
    * The reconstruction term is read as a per-image pixel sum (so at the
      default ``adversarial_weight=1`` the adversarial term is ``1 / (C H W)``
      of a per-pixel L1): with a per-pixel mean weighed 1:1 against the LSGAN
      loss, training on Omniglot collapsed to decoding noise.
    """

    def __init__(self, adversarial_weight: float = 1.0, latent_dim: int | None = None, width: int = 32,
                 architecture: str = "auto", augmentation: str = "auto", epochs: int = 20,
                 batch_size: int = 64, lr: float = 1e-3, max_time: float | None = None, verbose: bool = True,
                 random_state: RandomState = None, device: str = "auto") -> None:
        self.adversarial_weight = adversarial_weight
        self.latent_dim = latent_dim
        self.width = width
        self.architecture = architecture
        self.augmentation = augmentation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        _check_non_negative(self.adversarial_weight, "adversarial_weight")

    def _uses_adversary(self) -> bool:
        return True

    def _generator_loss(self, a, b, c, alpha):
        n = len(a)
        za, zb = self.encoder_(torch.cat([a, b])).split(n)
        decoded = self.decoder_(torch.cat([za, zb, slerp(za, zb, 1 - alpha)]))
        reconstruction, interpolation = decoded[:2 * n], decoded[2 * n:]
        recon_loss = (reconstruction - torch.cat([a, b])).abs().mean()  # = (L_A + L_B) / 2 per pixel
        adversarial = (self.discriminator_(interpolation).view(-1) - 1).pow(2).mean()
        # L_recon is a per-image *sum* of absolute errors; dividing the adversarial term by the pixel
        # count instead keeps the loss per pixel with the same gradients up to a factor Adam ignores.
        # Weighing a per-pixel mean against it 1:1 lets the critic swamp reconstruction (the model
        # decoded noise on the dev split).
        pixels = a[0].numel()
        return recon_loss + self.adversarial_weight * adversarial / pixels, interpolation, c


class AugIntAE(InterpolativeAutoencoder):
    """Augmentation-interpolative autoencoder (Wertheimer, Poursaeed & Hariharan).

    Each training image ``x`` gives a triplet ``A = f(x; rho1)``, ``B = f(x;
    rho2)``, ``C = f(x; alpha rho1 + (1 - alpha) rho2)``; the model learns to
    decode the latent mix into the mixed augmentation:
    ``L = |C - G(slerp(E(A), E(B), 1 - alpha))|_1`` (the latent weight ``1 -
    alpha`` matches ``alpha`` on ``A``'s parameters). Because interpolating
    latents then means smoothly changing a view of the same object, decoded
    interpolations between two seeds of a never-seen class stay in that class.

    Parameters
    ----------
    reconstruction_weight : float, default 0.0
        Weight of an extra L1 reconstruction of ``A`` and ``B``. 0 is the
        papers' interpolation-only loss. With 1.0 the decoder draws strokes
        more exactly: nearest-prototype class faithfulness of images generated
        from 2 novel Omniglot seeds rises from 88.8% to 92.2% (real drawings
        91.9%; ``examples/autoencoder_faithfulness.py``, docs/augintae.md) for
        a 1.7x longer fit.
    adversarial : bool, default False
        Add an LSGAN term on the decoded interpolations with the paper's
        dynamic weight ``k * gamma``: ``gamma = ||grad L_recon|| / ||grad
        L_adv||`` per image (gradients with respect to the decoded image) and
        ``k <- clip(k - 0.001 (1 - (D(real) - D(fake))), 0, 1)``, ``k`` from 1.
    perceptual : bool, default False
        Add the "autoperceptual" loss: L1 between the frozen current encoder's
        feature maps of output and target, weighted equally with the pixel L1.
    latent_dim, width, architecture, augmentation, epochs, batch_size, lr, max_time, verbose, random_state, device
        As for :class:`AE`.

    Attributes
    ----------
    image_shape_, architecture_, latent_dim_, encoder_, decoder_, loss_history_, n_steps_, fit_time_
        As for :class:`AE`.
    discriminator_ : the LSGAN critic (only with ``adversarial=True``)
    k_ : float, final value of ``k``

    Differences from the paper
    --------------------------
    * Default ``width=32`` (half the InfoGAN widths) and ``epochs=20`` so a fit
      takes minutes on a 2-core CPU; ``width=64`` is the paper's layout.
    * The autoperceptual features are the encoder's intermediate block outputs,
      averaged over blocks.
    * The critic uses Adam (betas 0.5 / 0.999); with ``adversarial=True`` the
      learning rate stays constant (the 10x drops at 35% / 70% apply only to
      non-adversarial training, as in the paper).
    * ``generate`` draws ``alpha ~ U(0, 1)`` by default; pass ``alpha=0.5`` (e.g.
      through ``AugmentedDataset(..., generate_kwargs={"alpha": 0.5})``) for the
      paper's hallucination setting.

    Examples
    --------
    >>> from torch.utils.data import DataLoader
    >>> from metaaug import AugIntAE
    >>> from metaaug.data import AugmentedDataset
    >>> model = AugIntAE().fit(X_unlabeled)                                  # doctest: +SKIP
    >>> loader = DataLoader(AugmentedDataset((X, y), model, generate_kwargs={"alpha": 0.5}),
    ...                     batch_size=64, shuffle=True)                     # doctest: +SKIP
    """

    def __init__(self, reconstruction_weight: float = 0.0, adversarial: bool = False, perceptual: bool = False,
                 latent_dim: int | None = None, width: int = 32, architecture: str = "auto",
                 augmentation: str = "auto", epochs: int = 20, batch_size: int = 64, lr: float = 1e-3,
                 max_time: float | None = None, verbose: bool = True, random_state: RandomState = None,
                 device: str = "auto") -> None:
        self.reconstruction_weight = reconstruction_weight
        self.adversarial = adversarial
        self.perceptual = perceptual
        self.latent_dim = latent_dim
        self.width = width
        self.architecture = architecture
        self.augmentation = augmentation
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    def _check_params(self) -> None:
        super()._check_params()
        _check_non_negative(self.reconstruction_weight, "reconstruction_weight")
        for name in ("adversarial", "perceptual"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")

    def _uses_adversary(self) -> bool:
        return bool(self.adversarial)

    def _generator_loss(self, a, b, c, alpha):
        n = len(a)
        za, zb = self.encoder_(torch.cat([a, b])).split(n)
        mixed = slerp(za, zb, 1 - alpha)
        with_recon = self.reconstruction_weight > 0
        decoded = self.decoder_(torch.cat([mixed, za, zb]) if with_recon else mixed)
        interpolation = decoded[:n]
        per_image = (interpolation - c).abs().flatten(1).mean(1)
        loss = per_image.mean()
        if self.perceptual:
            loss = loss + self._autoperceptual(interpolation, c)
        if with_recon:
            reconstruction = decoded[n:]
            recon_loss = (reconstruction - torch.cat([a, b])).abs().mean()
            if self.perceptual:
                recon_loss = recon_loss + self._autoperceptual(reconstruction, torch.cat([a, b]))
            loss = loss + self.reconstruction_weight * recon_loss
        if not self.adversarial:
            return loss, None, None
        loss = loss + self._adversarial_term(interpolation, per_image)
        return loss, interpolation, c
