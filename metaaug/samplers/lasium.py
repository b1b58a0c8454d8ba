"""LASIUM: meta-training tasks from the latent space of a generative model.

Khodadadeh, Zehtabian, Vahidian, Wang, Liu & Bölöni, "Unsupervised
Meta-Learning through Latent-Space Interpolation in Generative Models",
ICLR 2021. Official code: github.com/siavash-khodadadeh/MetaLearning-TF2.0.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment import AffineRanges, apply_params, sample_params, shift_images
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.data.images import as_images, is_line_drawing
from metaaug.data.tasks import Task, check_task_args, episodes_from_blocks
from metaaug.generators.autoencoders import AE, AugIntAE, InterpolativeAutoencoder, IntAE
from metaaug.nets.msgan import MSGANDiscriminator, MSGANGenerator, mode_seeking_term
from metaaug.nets.vae import ConvVAE
from metaaug.samplers._common import distinct_indices
from metaaug.samplers._grid import TaskPlotMixin

AUTOENCODER_BACKENDS = {"ae": AE, "intae": IntAE, "augintae": AugIntAE}
BACKENDS = ("vae", "gan", *AUTOENCODER_BACKENDS)
# variance of strategy "N": VAE / GAN latents spread with a per-dimension std near 1, the autoencoders'
# L2-normalised latents with about 1 / sqrt(latent_dim); both values were tuned on the Omniglot dev split
SIGMA2_DEFAULTS = {"prior": 0.03, "sphere": 0.001}
STRATEGIES = ("N", "RO", "OC")
QUERY_AUGMENTATIONS = ("shift", "affine", "none")
# parameters that only shape the sampled tasks: changing them needs no refit of the backend
SAMPLING_PARAMS = ("strategy", "sigma2", "alpha", "epsilon", "query_shift", "query_augmentation", "binarize",
                   "max_redraws", "decode_batch_size", "class_reuse", "bank_size")
_DEFAULTS = {  # per backend: latent_dim, hidden, lr, epochs
    "vae": {"latent_dim": 20, "hidden": 16, "lr": 1e-3, "epochs": 20},
    "gan": {"latent_dim": 128, "hidden": 16, "lr": 3e-4, "epochs": 10},
}


class LASIUM(TaskPlotMixin, MetaaugEstimator):
    """Unsupervised meta-learning tasks by latent-space interpolation (LASIUM).

    ``fit(X)`` trains a generative model on unlabeled images (or takes a fitted
    one); ``sample_tasks`` then follows the paper's Algorithm 1: draw ``n_ways``
    anchor latents that are pairwise at least ``epsilon`` apart, derive
    ``k_shot + k_query - 1`` more latents per class with the chosen strategy,
    decode all latents of all tasks in one batched pass, and label each class
    by its anchor.

    Parameters
    ----------
    backend : "ae", "vae", "gan", "intae", "augintae" or a fitted generator, default "ae"
        ``"vae"``: the paper's convolutional VAE (:class:`~metaaug.nets.vae.ConvVAE`).
        ``"gan"``: the paper's mode-seeking GAN (:mod:`metaaug.nets.msgan`).
        ``"ae"``, ``"intae"``, ``"augintae"``: a new :class:`metaaug.AE`,
        :class:`~metaaug.IntAE` or :class:`~metaaug.AugIntAE` trained on ``X``
        with its own defaults, except that ``epochs``, ``max_time``,
        ``latent_dim``, ``hidden`` (its ``width``) and ``lr`` are passed on
        when set; LASIUM then samples in its L2-normalised latent space (not
        in the paper: an interpolative latent space, see ``docs/lasium.md``).
        Any object with ``encode(images) -> latents`` and ``decode(latents) ->
        images`` (e.g. :class:`metaaug.AE` or :class:`metaaug.AugIntAE`) is
        used as an interpolative latent space; an unfitted metaaug/sklearn
        estimator is cloned and fitted on ``X`` first.
    strategy : "N", "RO" or "OC", default "N"
        How in-class latents are derived from a class anchor ``z``.
        ``"N"``: ``z + N(0, sigma2 I)``. ``"RO"``: ``z + alpha (v - z)`` with a
        fresh random out-of-class latent ``v`` per sample (from the prior for
        VAE/GAN, the latent of a random training image for other backends).
        ``"OC"``: ``z_i + alpha (z_j - z_i)`` toward the task's other anchors,
        cycling through them. With ``n_ways=2`` there is only one other anchor,
        so every generated sample of a class sits at the same latent (for the
        VAE and GAN the class's decoded samples are then identical; the real
        anchor image still differs): prefer "N" or "RO" for 2-way tasks.
        ``n_ways=1`` is refused for "OC".
    sigma2 : float or None, default None
        Variance of the "N" strategy's Gaussian noise (> 0). ``None``: 0.03
        for the VAE, the GAN and custom generators, 0.001 for metaaug
        autoencoders, whose L2-normalised latents spread about six times
        less per dimension (32 dimensions on the unit sphere; on the dev
        split 0.001 and 0.004 gave 85.6% and 84.8% with the AE). The latent codes
        of the 20-epoch VAE on Omniglot spread with a per-dimension std of
        about 0.85, so 0.03 (std 0.17) keeps samples recognisably in their
        class; on the Omniglot dev split 0.03, 0.1, 0.5 and 1.0 gave 81.6%,
        80.0%, 78.6% and 76.1% (ProtoNets, 500 iterations, query shifts on).
    alpha : float, default 0.4
        Interpolation ratio of "RO" and "OC", in (0, 1).
    epsilon : float, default 0.0
        Minimum Euclidean distance between the anchors of a task. Anchors are
        redrawn (for the failing tasks only) until it holds, at most
        ``max_redraws`` times; then a ``ValueError`` reports the largest minimum
        distance seen. The authors' Omniglot GAN used 246.1 on *squared*
        distances in a 128-d latent space, i.e. ``epsilon ~= 15.7`` here.
    epochs : int, optional
        Training epochs of the backend (default: 20 for the VAE, 10 for the GAN).
    max_time : float, optional
        Stop training the backend after this many seconds.
    batch_size : int, default 128
        Training batch size (the paper's).
    lr : float, optional
        Adam learning rate (default: 1e-3 VAE, 3e-4 GAN, the paper's).
    latent_dim : int, optional
        Latent size (default: 20 VAE, 128 GAN, the paper's).
    hidden : int, optional
        Filters of the backend's conv layers (default 16 for both; the paper
        uses 64 for the VAE and 128 for the GAN, see below).
    beta : float, optional
        Weight of the VAE's KL term relative to the summed per-pixel
        reconstruction loss. ``None`` (default) is ``1 / latent_dim``, what
        the authors' code does by averaging the KL over latent dimensions
        (about 20x weaker than the ELBO); 1.0 is the true ELBO, whose
        posterior collapses to the mean image on short CPU budgets.
    mode_seeking : float, default 1.0
        Weight of the GAN generator's mode-seeking term (Mao et al., 2019).
    query_shift : int or None, default None
        If > 0, query images are shifted by a random integer number of pixels
        in ``[-query_shift, query_shift]`` along each axis, as the authors'
        code does (up to 5 px on 28x28 Omniglot). ``None`` is 5 px scaled to
        the image size (``round(5 * min(H, W) / 28)``, at least 1); 0 turns
        the shifts off. Support images are never shifted. On the Omniglot dev
        split the shifts are worth about 17 points of ProtoNet accuracy (see
        ``docs/benchmarks.md``).
    query_augmentation : {"shift", "affine", "none"} or AffineRanges, default "shift"
        How query images are augmented. ``"shift"``: integer shifts of up to
        ``query_shift`` pixels (the authors' code). ``"affine"``: a random
        affine transform per query, UMTRA's default ranges
        (:meth:`AffineRanges.characters` for one channel, ``natural`` for
        RGB); an :class:`~metaaug.augment.AffineRanges` sets the ranges
        (saving then needs a string). ``"none"``: queries are left as decoded.
        Not in the paper; on Omniglot the affine transforms score no better
        than the shifts (``docs/lasium.md``, tuning table).
    binarize : bool or "auto", default "auto"
        Threshold decoded images at 0.5. The decoders output per-pixel
        means, i.e. soft strokes; for nearly binary data such as handwritten
        characters, thresholding makes generated samples look like the real
        (sharp) images a meta-learner meets at test time. ``"auto"``:
        threshold when the backend is a metaaug autoencoder *and* the
        training images are one-channel line drawings
        (:func:`metaaug.data.images.is_line_drawing`). On the Omniglot dev
        split this lifts LASIUM-N with the AE from 87.6% to 89.3% (5-way
        1-shot, ProtoNets, 300 s), while the 20-epoch VAE's faint strokes
        break up when thresholded, so "auto" leaves the VAE and GAN alone.
    max_redraws : int, default 100
        Bound on the anchor redraw rounds that enforce ``epsilon``.
    decode_batch_size : int, default 4096
        Latents decoded per forward pass (bounds memory for large requests).
    class_reuse : float, default 1.0
        How many tasks, on average, each generated class serves. 1.0 (the
        paper's Algorithm 1): every task's classes are generated afresh.
        ``r > 1``: a bank of ``bank_size`` generated classes (anchor image
        plus ``k_shot + k_query - 1`` decoded samples each) is filled on the
        first call; every call then draws its tasks' classes from the bank
        (``epsilon`` applied to the bank anchors) and replaces
        ``n_tasks * n_ways / r`` random bank classes with fresh ones, so it
        decodes ``r`` times fewer images. Query augmentation stays fresh per
        task. Sampling is then stateful: the same ``random_state`` gives
        different tasks on later calls. The bank holds
        ``bank_size * (k_shot + k_query)`` images in memory; it is rebuilt
        when the task layout or a sampling parameter changes. With "OC" a
        bank class keeps the interpolations toward the anchors of the group
        it was generated with, which need not be its task's other classes.
    bank_size : int, default 1000
        Classes kept by the bank of ``class_reuse > 1``.
    verbose : bool, default False
        Show a tqdm progress bar while training the backend.
    random_state : None, int or numpy Generator
    device : "auto", "cpu" or "cuda"

    Attributes
    ----------
    backend_ : nn.Module or object
        The trained ``ConvVAE`` / ``MSGANGenerator``, or the fitted generator.
    backend_kind_ : str
        ``"vae"``, ``"gan"`` or ``"custom"``.
    image_shape_ : tuple
        ``(C, H, W)`` of the training images.
    line_drawings_ : bool
        Whether the training images are one-channel line drawings (what
        ``binarize="auto"`` looks at).
    anchor_images_ : torch.Tensor
        The training images (anchors of the VAE and custom backends; empty for the GAN).
    latent_mean_, latent_log_variance_ : torch.Tensor
        Encoder outputs for ``anchor_images_`` (the log-variance is all
        ``-inf`` for deterministic custom encoders).
    loss_curve_ : ndarray
        Training loss per step (the generator loss for the GAN).
    fit_time_ : float
        Seconds spent training the backend.

    Notes
    -----
    Differences from the paper:

    * Default backend: a plain autoencoder of this library (``"ae"``,
      :class:`metaaug.AE`, trained on augmentation-mixed images as in the
      IntAE papers) instead of the paper's VAE or GAN, with anchors and
      Gaussian noise ("N") on its unit-sphere latents, and its decodings of
      line drawings thresholded (``binarize="auto"``); it scored 4.4 points
      higher than the VAE at the same budget. ``backend="vae"`` and
      ``backend="gan"`` are the paper's models.

    * Default sizes are smaller so that training fits a 2-core CPU budget:
      ``hidden=16`` filters (paper: 64 VAE, 128 GAN) and 20 VAE / 10 GAN
      epochs (paper: 1000 VAE, 500 GAN epochs on the full Omniglot).
      ``hidden=64, epochs=1000`` (VAE) or ``hidden=128, latent_dim=128,
      epochs=500`` (GAN) reproduce the paper's networks and budgets.
    * VAE KL weight: the default ``beta=1/latent_dim`` follows the authors'
      code, not the paper's ELBO (``beta=1.0``).
    * VAE anchors: as in the authors' code, an anchor is a latent sampled from
      the posterior of a random real image, and that real image is the first
      sample of its class. Here the epsilon test also applies to these
      anchors (the authors apply it to the GAN only), and "OC" keeps the
      anchors fixed within a task (the authors resample them from the
      posterior for every in-class sample, and make every fifth sample a
      large Gaussian perturbation instead).
    * "RO" for the VAE uses ``alpha=0.4`` toward a prior sample, as the
      authors' VAE code; their GAN code uses 0.2 ("RO") and 0.6 ("OC"). One
      ``alpha`` serves both here.
    * GAN training: the mode-seeking term compares ``G(z1), G(z2)`` with the
      latents ``z1, z2`` that produced them (the authors' code generates the
      first image from the discriminator step's latents). The generator's
      non-saturating loss is the mean over both images' logits (the authors
      apply it to the sum of the two logits). The discriminator keeps the
      authors' label convention and +U(0, 0.05) label noise.
    * Query shifts (on by default, up to 5 px as in the authors' code) use
      zero padding (the authors shift with nearest-neighbour filling).
    """

    def __init__(self, backend: Any = "ae", strategy: str = "N", sigma2: float | None = None, alpha: float = 0.4,
                 epsilon: float = 0.0, epochs: int | None = None, max_time: float | None = None,
                 batch_size: int = 128, lr: float | None = None, latent_dim: int | None = None,
                 hidden: int | None = None, beta: float | None = None, mode_seeking: float = 1.0,
                 query_shift: int | None = None, query_augmentation: str | AffineRanges = "shift",
                 binarize: bool | str = "auto", max_redraws: int = 100,
                 decode_batch_size: int = 4096, class_reuse: float = 1.0, bank_size: int = 1000,
                 verbose: bool = False, random_state: RandomState = None, device: str = "auto") -> None:
        self.backend = backend
        self.strategy = strategy
        self.sigma2 = sigma2
        self.alpha = alpha
        self.epsilon = epsilon
        self.epochs = epochs
        self.max_time = max_time
        self.batch_size = batch_size
        self.lr = lr
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.beta = beta
        self.mode_seeking = mode_seeking
        self.query_shift = query_shift
        self.query_augmentation = query_augmentation
        self.binarize = binarize
        self.max_redraws = max_redraws
        self.decode_batch_size = decode_batch_size
        self.class_reuse = class_reuse
        self.bank_size = bank_size
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------ parameters
    def _kind(self) -> str:
        if isinstance(self.backend, str):
            if self.backend not in BACKENDS:
                raise ValueError(f"backend must be one of {BACKENDS} or a fitted generator with "
                                 f"encode/decode, got {self.backend!r}")
            return "custom" if self.backend in AUTOENCODER_BACKENDS else self.backend
        missing = [m for m in ("encode", "decode") if not callable(getattr(self.backend, m, None))]
        if missing:
            raise ValueError(f"backend must be one of {BACKENDS} or an object with encode() and decode(); "
                             f"{type(self.backend).__name__} has no {' or '.join(missing)}()")
        return "custom"

    def _setting(self, name: str) -> Any:
        value = getattr(self, name)
        return _DEFAULTS[self.backend_kind_][name] if value is None else value

    def _validate_params(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.sigma2 is not None and not (isinstance(self.sigma2, (int, float)) and math.isfinite(self.sigma2)
                                            and self.sigma2 > 0):
            raise ValueError(f"sigma2 (the variance of strategy 'N') must be None or a finite number > 0, "
                             f"got {self.sigma2!r}")
        if not (isinstance(self.alpha, (int, float)) and 0 < self.alpha < 1):
            raise ValueError(f"alpha (the interpolation ratio of 'RO'/'OC') must be in (0, 1), got {self.alpha!r}")
        if not (isinstance(self.epsilon, (int, float)) and math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")
        for name, low in (("batch_size", 2), ("max_redraws", 1), ("decode_batch_size", 1), ("bank_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        for name in ("epochs", "latent_dim", "hidden"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{name} must be None or an int >= 1, got {value!r}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if (self.beta is not None and not self.beta >= 0) or not self.mode_seeking >= 0:
            raise ValueError(f"beta and mode_seeking must be >= 0, got {self.beta!r} and {self.mode_seeking!r}")
        if self.query_shift is not None and (not isinstance(self.query_shift, (int, np.integer))
                                             or self.query_shift < 0):
            raise ValueError(f"query_shift must be None or an int >= 0 (pixels), got {self.query_shift!r}")
        if self.binarize not in (True, False, "auto"):
            raise ValueError(f"binarize must be True, False or 'auto', got {self.binarize!r}")
        if not (isinstance(self.class_reuse, (int, float)) and math.isfinite(self.class_reuse)
                and self.class_reuse >= 1):
            raise ValueError(f"class_reuse (tasks served per generated class) must be a finite number >= 1, "
                             f"got {self.class_reuse!r}")
        if not (isinstance(self.query_augmentation, AffineRanges) or self.query_augmentation in QUERY_AUGMENTATIONS):
            raise ValueError(f"query_augmentation must be one of {QUERY_AUGMENTATIONS} or an AffineRanges, "
                             f"got {self.query_augmentation!r}")

    # ------------------------------------------------------------------ fit
    def _build_modules(self) -> None:
        if self.backend_kind_ == "vae":
            self.backend_ = ConvVAE(self.image_shape_, self._setting("latent_dim"), self._setting("hidden"))
        elif self.backend_kind_ == "gan":
            self.backend_ = MSGANGenerator(self.image_shape_, self._setting("latent_dim"), self._setting("hidden"))

    def fit(self, X: Any, y: Any = None) -> LASIUM:
        """Train the backend on unlabeled images ``X`` (``y`` is ignored).

        The VAE and custom backends also encode ``X``: its images are the
        anchors of the sampled tasks.
        """
        self._validate_params()
        self.backend_kind_ = self._kind()
        self._class_bank = None  # a refit backend invalidates the classes banked by class_reuse > 1
        X = as_images(X, min_count=2)
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        rng = check_rng(self.random_state)
        device = self._device()
        with torch_seeded(rng):
            if self.backend_kind_ == "custom":
                self.backend_ = self._fitted_custom_backend(X)
                self.loss_curve_, self.fit_time_ = np.zeros(0, np.float32), 0.0
            else:
                self._init_modules()
                self.backend_.to(device)
                train = self._train_vae if self.backend_kind_ == "vae" else self._train_gan
                losses, budget = train(X, device)
                self.backend_.eval()
                self.loss_curve_ = np.asarray(losses, dtype=np.float32)
                self.fit_time_ = budget.elapsed
                self.epochs_done_ = budget.completed / max(1, math.ceil(len(X) / self.batch_size))
            self.line_drawings_ = is_line_drawing(X)
            if self.backend_kind_ == "gan":
                self.anchor_images_ = torch.zeros(0, *self.image_shape_)
                self.latent_mean_ = self.latent_log_variance_ = torch.zeros(0, self._setting("latent_dim"))
            else:
                self.anchor_images_ = X.cpu()
                self.latent_mean_, self.latent_log_variance_ = self._encode_all(X)
        return self

    def _fitted_custom_backend(self, X: torch.Tensor) -> Any:
        backend = self.backend
        if isinstance(backend, str):  # "ae", "intae", "augintae": a new metaaug autoencoder, trained here
            settings = {"epochs": self.epochs, "max_time": self.max_time, "latent_dim": self.latent_dim,
                        "width": self.hidden, "lr": self.lr}
            autoencoder = AUTOENCODER_BACKENDS[backend](verbose=self.verbose, device=self.device,
                                                        random_state=int(torch.randint(2**31 - 1, ())),
                                                        **{k: v for k, v in settings.items() if v is not None})
            return autoencoder.fit(X)
        if callable(getattr(backend, "fit", None)) and hasattr(backend, "get_params"):
            try:
                check_is_fitted(backend)
            except NotFittedError:
                return clone(backend).fit(X)
            except TypeError:
                pass
        return backend

    def _training_loop(self, X: torch.Tensor, device: torch.device, desc: str
                       ) -> tuple[TrainingBudget, Iterator[torch.Tensor]]:
        """The step budget (``epochs`` over ``X`` or ``max_time``) and an endless stream of shuffled batches."""
        n_batches = math.ceil(len(X) / self.batch_size)
        budget = TrainingBudget(self._setting("epochs") * n_batches, self.max_time, desc,
                                verbose=self.verbose, unit="batch")

        def batches() -> Iterator[torch.Tensor]:
            while True:
                for index in torch.randperm(len(X)).split(self.batch_size):
                    yield X[index].to(device)

        return budget, batches()

    def _train_vae(self, X: torch.Tensor, device: torch.device) -> tuple[list[float], TrainingBudget]:
        vae = self.backend_
        vae.train()
        optimizer = torch.optim.Adam(vae.parameters(), lr=self._setting("lr"))
        budget, batches = self._training_loop(X, device, "LASIUM VAE")
        losses: list[float] = []
        for _ in budget:
            images = next(batches)
            reconstruction, mean, log_variance = vae(images)
            bce = F.binary_cross_entropy(reconstruction, images, reduction="sum") / len(images)
            kl = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum(1).mean()
            beta = 1.0 / self._setting("latent_dim") if self.beta is None else self.beta
            loss = bce + beta * kl
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            if len(losses) % 10 == 0:
                budget.set_postfix(loss=float(np.mean(losses[-10:])))
        return losses, budget

    def _train_gan(self, X: torch.Tensor, device: torch.device) -> tuple[list[float], TrainingBudget]:
        generator = self.backend_
        generator.train()
        discriminator = MSGANDiscriminator(self.image_shape_).to(device)
        lr = self._setting("lr")
        g_optimizer = torch.optim.Adam(generator.parameters(), lr=lr)
        d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=lr)
        latent_dim = self._setting("latent_dim")
        budget, batches = self._training_loop(X, device, "LASIUM GAN")
        losses: list[float] = []
        for _ in budget:
            real = next(batches)
            n = len(real)
            # discriminator: the authors' convention (generated -> 1, real -> 0) with label noise
            with torch.no_grad():
                fake = generator(torch.randn(n, latent_dim, device=device))
            logits = discriminator(torch.cat([fake, real]))
            labels = torch.cat([torch.ones(n, device=device), torch.zeros(n, device=device)])
            labels = labels + 0.05 * torch.rand(2 * n, device=device)
            d_loss = F.binary_cross_entropy_with_logits(logits, labels)
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            # generator: non-saturating loss on two images + mode seeking on the same latents
            z1 = torch.randn(n, latent_dim, device=device)
            z2 = torch.randn(n, latent_dim, device=device)
            images = generator(torch.cat([z1, z2]))
            g_logits = discriminator(images)
            g_loss = F.binary_cross_entropy_with_logits(g_logits, torch.zeros_like(g_logits))
            if self.mode_seeking > 0:
                x1, x2 = images.chunk(2)
                g_loss = g_loss + self.mode_seeking * mode_seeking_term(z1, z2, x1, x2)
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            losses.append(float(g_loss.detach()))
            if len(losses) % 10 == 0:
                budget.set_postfix(g_loss=float(np.mean(losses[-10:])), d_loss=float(d_loss.detach()))
        return losses, budget

    @torch.no_grad()
    def _encode_all(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device = self._device()
        means, log_variances = [], []
        if self.backend_kind_ == "vae":
            self.backend_.eval()
        for start in range(0, len(X), self.decode_batch_size):
            batch = X[start:start + self.decode_batch_size]
            if self.backend_kind_ == "vae":
                mean, log_variance = self.backend_.encode(batch.to(device))
            else:
                mean = torch.as_tensor(self.backend_.encode(batch)).float()
                self.latent_shape_ = tuple(mean.shape[1:])
                mean = mean.reshape(len(batch), -1)
                log_variance = torch.full_like(mean, -math.inf)
            means.append(mean.cpu())
            log_variances.append(log_variance.cpu())
        return torch.cat(means), torch.cat(log_variances)

    # ------------------------------------------------------------- sampling
    def sample_tasks(self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15,
                     random_state: RandomState = None) -> list[Task]:
        """Draw ``n_tasks`` synthetic ``n_ways``-way tasks (Algorithm 1 of the paper).

        Within a class the first ``k_shot`` images are the support. For the
        VAE and custom backends the class's first image is the real training
        image whose latent is the anchor; the rest are decoded.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            Bad layout arguments, ``strategy="OC"`` with ``n_ways < 2``,
            ``n_ways`` larger than the number of training images (VAE/custom
            anchors), or an ``epsilon`` that no draw satisfies.
        """
        self._check_fitted()
        self._validate_params()
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        if self.strategy == "OC" and n_ways < 2:
            raise ValueError(f"strategy 'OC' interpolates toward the task's other classes and needs n_ways >= 2, "
                             f"got n_ways={n_ways}")
        if self.backend_kind_ != "gan" and n_ways > len(self.anchor_images_):
            raise ValueError(f"n_ways={n_ways} distinct real anchors are needed but LASIUM was fitted on "
                             f"{len(self.anchor_images_)} image(s)")
        if self.class_reuse > 1 and n_ways > self.bank_size:
            raise ValueError(f"n_ways={n_ways} distinct classes are needed per task but the class bank holds "
                             f"bank_size={self.bank_size}")
        with torch_seeded(check_rng(random_state)):
            if self.class_reuse > 1:
                images = self._banked_classes(n_tasks, n_ways, k_shot + k_query)
            else:
                images = self._generate_classes(n_tasks, n_ways, k_shot + k_query)[0]
            support = images[:, :, :k_shot].reshape(n_tasks, n_ways * k_shot, *self.image_shape_)
            query = images[:, :, k_shot:].reshape(n_tasks * n_ways * k_query, *self.image_shape_)
            if self._augments_queries() and k_query > 0:
                query = self._augment_queries(query)
        return episodes_from_blocks(support, query.view(n_tasks, n_ways * k_query, *self.image_shape_),
                                    n_ways, k_shot, k_query)

    def _generate_classes(self, n_groups: int, n_ways: int, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh classes: images ``(n_groups, n_ways, per_class, C, H, W)`` and anchors ``(n_groups, n_ways, d)``."""
        anchors, anchor_index = self._draw_anchors(n_groups, n_ways)
        new_latents = self._class_latents(anchors, per_class - 1)
        if self.backend_kind_ == "gan":
            latents = torch.cat([anchors.unsqueeze(2), new_latents], dim=2)
            images = self._decode(latents.reshape(-1, latents.shape[-1]))
            return images.view(n_groups, n_ways, per_class, *self.image_shape_), anchors
        first = self.anchor_images_[anchor_index.reshape(-1)].view(n_groups, n_ways, 1, *self.image_shape_)
        if per_class == 1:
            return first, anchors
        decoded = self._decode(new_latents.reshape(-1, new_latents.shape[-1]))
        decoded = decoded.view(n_groups, n_ways, per_class - 1, *self.image_shape_)
        return torch.cat([first, decoded], dim=2), anchors

    def _banked_classes(self, n_tasks: int, n_ways: int, per_class: int) -> torch.Tensor:
        """``(n_tasks, n_ways, per_class, C, H, W)`` classes drawn from the bank, then part of the bank renewed."""
        key = (self.strategy, self.sigma2, self.alpha, self.binarize, self.bank_size, n_ways, per_class)
        bank = getattr(self, "_class_bank", None)
        if bank is None or bank[0] != key:
            images, anchors = self._generate_classes(math.ceil(self.bank_size / n_ways), n_ways, per_class)
            bank = (key, images.flatten(0, 1)[:self.bank_size], anchors.flatten(0, 1)[:self.bank_size])
            self._class_bank = bank
        _, bank_images, bank_anchors = bank

        def candidates(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            index = distinct_indices(n, n_ways, self.bank_size)
            return bank_anchors[index], index

        _, index = self._separated(candidates, n_tasks, n_ways)
        images = bank_images[index]
        # stochastic rounding keeps the average renewal at exactly n_tasks * n_ways / class_reuse
        expected = n_tasks * n_ways / self.class_reuse
        n_new = min(self.bank_size, int(expected) + int(torch.rand(()) < expected - int(expected)))
        if n_new:
            fresh_images, fresh_anchors = self._generate_classes(math.ceil(n_new / n_ways), n_ways, per_class)
            slots = torch.randperm(self.bank_size)[:n_new]
            bank_images[slots] = fresh_images.flatten(0, 1)[:n_new]
            bank_anchors[slots] = fresh_anchors.flatten(0, 1)[:n_new]
        return images

    def sample_latents(self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15,
                       random_state: RandomState = None) -> torch.Tensor:
        """The latents behind :meth:`sample_tasks` with the same arguments.

        ``(n_tasks, n_ways, k_shot + k_query, latent_dim)``; index 0 of each
        class is its anchor (the real image's latent for the VAE and custom
        backends, where that image, not the decoded anchor, is shown). With
        ``class_reuse > 1`` the tasks come from the class bank, which these
        fresh latents do not describe.
        """
        self._check_fitted()
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        with torch_seeded(check_rng(random_state)):
            anchors, _ = self._draw_anchors(n_tasks, n_ways)
            new_latents = self._class_latents(anchors, k_shot + k_query - 1)
        return torch.cat([anchors.unsqueeze(2), new_latents], dim=2)

    def _anchor_candidates(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.backend_kind_ == "gan":
            return torch.randn(n_tasks, n_ways, self._setting("latent_dim")), None
        index = distinct_indices(n_tasks, n_ways, len(self.latent_mean_))
        mean = self.latent_mean_[index]
        std = torch.exp(0.5 * self.latent_log_variance_[index])
        return mean + std * torch.randn_like(mean), index

    def _draw_anchors(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._separated(lambda n: self._anchor_candidates(n, n_ways), n_tasks, n_ways)

    def _separated(self, candidates: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]], n_tasks: int,
                   n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Anchors ``(n_tasks, n_ways, d)`` from ``candidates(n)``, the tasks closer than epsilon redrawn."""
        anchors, index = candidates(n_tasks)
        if self.epsilon <= 0 or n_ways < 2:
            return anchors, index
        off_diagonal = ~torch.eye(n_ways, dtype=torch.bool)

        def min_distance(z: torch.Tensor) -> torch.Tensor:
            return torch.cdist(z, z)[:, off_diagonal].min(dim=1).values

        distance = min_distance(anchors)
        best = float(distance.max())
        for _ in range(self.max_redraws):
            failing = (distance < self.epsilon).nonzero().flatten()
            if len(failing) == 0:
                return anchors, index
            retry, retry_index = candidates(len(failing))
            anchors[failing] = retry
            if index is not None:
                index[failing] = retry_index
            distance[failing] = min_distance(retry)
            best = max(best, float(distance[failing].max()))
        if bool((distance < self.epsilon).any()):
            raise ValueError(
                f"epsilon={self.epsilon} is too large: after {self.max_redraws} redraws some of the "
                f"{n_tasks} tasks still had {n_ways} anchors closer than epsilon; the largest minimum "
                f"pairwise anchor distance seen was {best:.4g}. Use a smaller epsilon (or fewer n_ways)."
            )
        return anchors, index

    def _binarizes(self) -> bool:
        """``binarize`` resolved: "auto" thresholds autoencoder decodings of line drawings."""
        if self.binarize != "auto":
            return bool(self.binarize)
        if not isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder):
            return False
        if getattr(self, "line_drawings_", None) is None:  # models saved before the attribute existed
            self.line_drawings_ = is_line_drawing(self.anchor_images_)
        return bool(self.line_drawings_)

    def _sigma2(self) -> float:
        """``sigma2``, or its default for the backend's latent geometry (unit sphere or Gaussian prior)."""
        if self.sigma2 is not None:
            return float(self.sigma2)
        on_sphere = isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder)
        return SIGMA2_DEFAULTS["sphere" if on_sphere else "prior"]

    def _out_of_class_latents(self, shape: tuple[int, ...]) -> torch.Tensor:
        if self.backend_kind_ == "custom":
            index = torch.randint(len(self.latent_mean_), shape[:-1])
            return self.latent_mean_[index]
        return torch.randn(shape)

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
        target_index = (ways + 1 + steps) % n_ways
        targets = anchors[:, target_index]
        return z + self.alpha * (targets - z)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        device = self._device()
        module = self.backend_ if isinstance(self.backend_, torch.nn.Module) else None
        was_training = module.training if module is not None else False
        if module is not None:
            module.eval()
        try:
            with torch.no_grad():
                decode = (module.decode if self.backend_kind_ == "vae" else module) if module is not None \
                    else self.backend_.decode
                shape = getattr(self, "latent_shape_", latents.shape[1:])
                parts = [torch.as_tensor(decode(chunk.view(len(chunk), *shape).to(device))).float().cpu()
                         for chunk in latents.split(self.decode_batch_size)]
        finally:
            if module is not None:
                module.train(was_training)
        images = torch.cat(parts)
        if self._binarizes():
            images = (images > 0.5).float()
        if tuple(images.shape[1:]) != self.image_shape_:
            images = images.reshape(len(images), *self.image_shape_)
        return images.clamp(0, 1)

    def _query_shift(self) -> int:
        """Pixels of the query shifts: ``query_shift``, or 5 px at 28 px scaled to the image size."""
        if self.query_shift is not None:
            return int(self.query_shift)
        return max(1, round(5 * min(self.image_shape_[1:]) / 28))

    def _augments_queries(self) -> bool:
        if self.query_augmentation == "shift":
            return self._query_shift() > 0
        return self.query_augmentation != "none"

    def _augment_queries(self, images: torch.Tensor) -> torch.Tensor:
        """Query-only augmentation: integer shifts (the authors' code) or a random affine transform."""
        if self.query_augmentation == "shift":
            shift = self._query_shift()
            return shift_images(images, torch.randint(-shift, shift + 1, (len(images), 2)))
        ranges = self.query_augmentation
        if not isinstance(ranges, AffineRanges):
            ranges = AffineRanges.characters() if self.image_shape_[0] == 1 else AffineRanges.natural()
        params = sample_params(len(images), ranges, images.shape[-1])
        return apply_params(images, params)
