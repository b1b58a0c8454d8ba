"""LASIUM: meta-training tasks from the latent space of a generative model.

Khodadadeh, Zehtabian, Vahidian, Wang, Liu & Bölöni, "Unsupervised
Meta-Learning through Latent-Space Interpolation in Generative Models",
ICLR 2021. Official code: github.com/siavash-khodadadeh/MetaLearning-TF2.0.

This file is the estimator and the paper's sampling algorithm. Training the
backends and their batched encode / decode passes live in
:mod:`metaaug.samplers.lasium_backends`, the class bank of ``class_reuse > 1``
in :mod:`metaaug.samplers.class_bank`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment import AffineRanges, apply_params, sample_params, shift_images
from metaaug.base import MetaaugEstimator
from metaaug.constraints import HasMethods, Interval, Options
from metaaug.data.images import as_images, is_line_drawing
from metaaug.data.tasks import Task, check_task_args, episodes_from_blocks
from metaaug.generators.autoencoders import InterpolativeAutoencoder
from metaaug.nets.blocks import reparameterize
from metaaug.nets.msgan import MSGANGenerator
from metaaug.nets.vae import ConvVAE
from metaaug.samplers import lasium_backends as backends
from metaaug.samplers._common import distinct_indices, fitted, separated
from metaaug.samplers._grid import TaskPlotMixin
from metaaug.samplers.class_bank import ClassBank

BACKENDS = ("vae", "gan", *backends.AUTOENCODER_BACKENDS)
# variance of strategy "N" by latent geometry: VAE / GAN latents spread with a per-dimension std near 1,
# the autoencoders' L2-normalised latents with about 1 / sqrt(latent_dim) (docs/lasium.md, Measured)
SIGMA2_DEFAULTS = {"prior": 0.03, "sphere": 0.001}
STRATEGIES = ("N", "RO", "OC")
QUERY_AUGMENTATIONS = ("shift", "affine", "none")
# parameters that only shape the sampled tasks: changing them needs no refit of the backend
SAMPLING_PARAMS = (
    "strategy",
    "sigma2",
    "alpha",
    "epsilon",
    "query_shift",
    "query_augmentation",
    "binarize",
    "max_redraws",
    "decode_batch_size",
    "class_reuse",
    "bank_size",
)


class LASIUM(TaskPlotMixin, MetaaugEstimator):
    """Unsupervised meta-learning tasks by latent-space interpolation (LASIUM).

    ``fit(X)`` trains a generative model on unlabeled images (or takes a fitted
    one); ``sample_tasks`` then follows the paper's Algorithm 1: draw ``n_ways``
    anchor latents pairwise at least ``epsilon`` apart, derive ``k_shot +
    k_query - 1`` more latents per class with ``strategy``, decode all latents
    of all tasks in one batched pass, and label each class by its anchor.
    Measured effects of the settings: ``docs/lasium.md``, *Measured*.

    Parameters
    ----------
    backend : "ae", "vae", "gan", "intae", "augintae" or a fitted generator, default "ae"
        ``"vae"`` / ``"gan"``: the paper's VAE (:class:`~metaaug.nets.vae.ConvVAE`)
        or mode-seeking GAN (:mod:`metaaug.nets.msgan`). ``"ae"`` / ``"intae"`` /
        ``"augintae"``: a new :class:`metaaug.AE` / ``IntAE`` / ``AugIntAE``
        trained on ``X`` (``epochs``, ``max_time``, ``latent_dim``, ``hidden``
        and ``lr`` passed on when set), sampled in its L2-normalised latent
        space; so is any object with ``encode(images)`` and ``decode(latents)``
        (an unfitted estimator is cloned and fitted on ``X``).
    strategy : "N", "RO" or "OC", default "N"
        In-class latents around an anchor ``z``. ``"N"``: ``z + N(0, sigma2 I)``.
        ``"RO"``: ``z + alpha (v - z)``, ``v`` a fresh out-of-class latent (a
        prior sample for VAE/GAN, else a random training image's latent).
        ``"OC"``: ``z_i + alpha (z_j - z_i)``, ``j`` cycling through the task's
        other anchors (needs ``n_ways >= 2``; prefer "N" or "RO" for 2 ways).
    sigma2 : float or None, default None
        Variance of the "N" noise; ``None``: 0.001 for metaaug autoencoders
        (unit-sphere latents), 0.03 for the other backends.
    alpha : float, default 0.4
        Interpolation ratio of "RO" and "OC", in (0, 1).
    epsilon : float, default 0.0
        Minimum Euclidean distance between a task's anchors; failing tasks are
        redrawn at most ``max_redraws`` times (default 100), then ``ValueError``.
    epochs, max_time, batch_size, lr : training budget of the backend
        ``epochs`` default 20 (VAE) / 10 (GAN); ``max_time`` in seconds,
        default None; ``batch_size`` default 128; Adam ``lr`` default 1e-3
        (VAE) / 3e-4 (GAN).
    latent_dim, hidden : int, optional
        Latent size (default 20 VAE, 128 GAN) and conv filters (default 16).
    beta : float, optional
        VAE KL weight against the summed per-pixel reconstruction loss;
        ``None`` is ``1 / latent_dim`` (the authors' code), 1.0 the ELBO.
    mode_seeking : float, default 1.0
        Weight of the GAN generator's mode-seeking term (Mao et al., 2019).
    query_shift : int or None, default None
        Queries are shifted by up to this many pixels per axis; ``None`` is
        5 px at 28x28 scaled to the image size, 0 none. Supports never are.
    query_augmentation : {"shift", "affine", "none"} or AffineRanges, default "shift"
        ``query_shift`` shifts, a random affine transform with UMTRA's ranges
        (or the given :class:`~metaaug.augment.AffineRanges`, which cannot be
        saved), or none.
    binarize : bool or "auto", default "auto"
        Threshold decoded images at 0.5; ``"auto"``: for a metaaug autoencoder
        backend trained on one-channel line drawings (:func:`~metaaug.data.images.is_line_drawing`).
    max_redraws, decode_batch_size : int, default 100, 4096
        Anchor redraw rounds that enforce ``epsilon``; latents per decoder call.
    class_reuse, bank_size : float, int, default 1.0, 1000
        Tasks served per generated class on average; ``r > 1`` serves classes
        from a bank of ``bank_size`` and renews ``n_tasks * n_ways / r`` of them
        per call, so sampling becomes stateful (``docs/lasium.md``, *Faster sampling*).
    verbose : bool, default True
        Show a tqdm bar while training the backend.
    random_state : None, int or numpy Generator
    device : "auto", "cpu" or "cuda"

    Attributes
    ----------
    backend_ : the trained ``ConvVAE`` / ``MSGANGenerator``, or the fitted generator
    backend_kind_ : ``"vae"``, ``"gan"`` or ``"custom"``
    image_shape_ : ``(C, H, W)``; line_drawings_ : bool (what ``binarize="auto"`` reads)
    anchor_images_ : the training images (empty for the GAN)
    latent_mean_, latent_log_variance_ : their encodings (log-variance ``-inf`` if deterministic)
    loss_curve_, loss_terms_ : VAE / GAN loss per step (the generator's) and its weighted terms
        (``reconstruction``, ``kl``; ``adversarial``, ``mode_seeking``, and ``discriminator``);
        empty for the other backends, which keep their own
    n_iter_, fit_time_ : optimisation steps done (0 for the other backends) and seconds taken

    Notes
    -----
    Differences from the paper:

    * Default backend: a metaaug autoencoder (``"ae"``) with anchors and "N"
      noise on its unit-sphere latents and, for line drawings, thresholded
      decodings; ``"vae"`` and ``"gan"`` are the paper's models.
    * Smaller networks and budgets, for a CPU: ``hidden=16`` (paper: 64 VAE,
      128 GAN), 20 VAE / 10 GAN epochs (paper: 1000 / 500).
    * VAE KL weight ``1 / latent_dim``, as in the authors' code (not the ELBO).
    * ``epsilon`` is Euclidean (the authors': squared) and also applies to the
      VAE's anchors, posterior samples of real images that are their classes'
      first samples (as in the authors' code).
    * "OC" keeps a task's anchors fixed (the authors resample them per sample
      and make every fifth a large Gaussian perturbation); one ``alpha`` serves
      "RO" and "OC" (the authors: 0.4 in the VAE code, 0.2 / 0.6 in the GAN's).
    * GAN: the mode-seeking term pairs ``G(z1), G(z2)`` with ``z1, z2`` (the
      authors' first image comes from the discriminator step's latents); the
      non-saturating loss averages both images' logits (the authors': their
      sum); the discriminator keeps the authors' labels (generated 1, real 0)
      and +U(0, 0.05) label noise.
    * Query shifts pad with zeros (the authors: nearest-neighbour filling);
      ``query_augmentation``, ``binarize`` and ``class_reuse`` are additions.
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "backend": [Options(*BACKENDS), HasMethods("encode", "decode")],
        "strategy": [Options(*STRATEGIES)],
        "sigma2": [None, Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "epsilon": [Interval(Real, 0, None)],
        "epochs": [None, Interval(Integral, 1, None)],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None)],
        "lr": [None, Interval(Real, 0, None, closed="neither")],
        "latent_dim": [None, Interval(Integral, 1, None)],
        "hidden": [None, Interval(Integral, 1, None)],
        "beta": [None, Interval(Real, 0, None)],
        "mode_seeking": [Interval(Real, 0, None)],
        "query_shift": [None, Interval(Integral, 0, None)],
        "query_augmentation": [Options(*QUERY_AUGMENTATIONS), AffineRanges],
        "binarize": ["boolean", Options("auto")],
        "max_redraws": [Interval(Integral, 1, None)],
        "decode_batch_size": [Interval(Integral, 1, None)],
        "class_reuse": [Interval(Real, 1, None)],
        "bank_size": [Interval(Integral, 1, None)],
        "verbose": ["boolean"],
        "random_state": ["random_state"],
        "device": ["device"],
    }
    _renamed: ClassVar[dict[str, str]] = {"epochs_done_": "n_iter_"}

    def __init__(
        self,
        backend: Any = "ae",
        strategy: str = "N",
        sigma2: float | None = None,
        alpha: float = 0.4,
        epsilon: float = 0.0,
        epochs: int | None = None,
        max_time: float | None = None,
        batch_size: int = 128,
        lr: float | None = None,
        latent_dim: int | None = None,
        hidden: int | None = None,
        beta: float | None = None,
        mode_seeking: float = 1.0,
        query_shift: int | None = None,
        query_augmentation: str | AffineRanges = "shift",
        binarize: bool | str = "auto",
        max_redraws: int = 100,
        decode_batch_size: int = 4096,
        class_reuse: float = 1.0,
        bank_size: int = 1000,
        verbose: bool = True,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
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

    def _setting(self, name: str) -> Any:
        """A VAE / GAN setting: the parameter, or the backend's default when it is ``None``."""
        value = getattr(self, name)
        return backends.DEFAULTS[self.backend_kind_][name] if value is None else value

    # ------------------------------------------------------------------ fit
    def _build_modules(self) -> None:
        shape = (self.image_shape_[0], self.image_shape_[1], self.image_shape_[2])
        latent_dim, hidden = self._setting("latent_dim"), self._setting("hidden")
        if self.backend_kind_ == "vae":
            self.backend_: Any = ConvVAE(shape, latent_dim, hidden)
        elif self.backend_kind_ == "gan":
            self.backend_ = MSGANGenerator(shape, latent_dim, hidden)

    def fit(self, X: Any, y: Any = None) -> LASIUM:
        """Train the backend on unlabeled images ``X`` (``y`` is ignored).

        The VAE and custom backends also encode ``X``: its images are the
        anchors of the sampled tasks.
        """
        self._validate_params()
        kind = self.backend if isinstance(self.backend, str) and self.backend in ("vae", "gan") else "custom"
        self.backend_kind_ = kind
        self._class_bank: ClassBank | None = None  # a refit backend makes the banked classes stale
        X = as_images(X, min_count=2)
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        with torch_seeded(check_rng(self.random_state)):
            log = backends.TrainingLog()
            if kind == "custom":
                start = time.perf_counter()
                self.backend_ = self._fitted_custom_backend(X)
                log.fit_time = time.perf_counter() - start
            else:
                self._init_modules()
                self.backend_.to(self._device())
                settings = backends.TrainingSettings(
                    self._setting("epochs"),
                    self.batch_size,
                    self._setting("lr"),
                    self.max_time,
                    self.verbose,
                    self._device(),
                )
                if kind == "vae":
                    beta = 1.0 / self._setting("latent_dim") if self.beta is None else self.beta
                    log = backends.train_vae(self.backend_, X, settings, beta)
                else:
                    log = backends.train_gan(self.backend_, X, settings, self.mode_seeking)
                self.backend_.eval()
            self.loss_curve_, self.loss_terms_ = log.arrays()
            self.n_iter_, self.fit_time_ = log.n_iter, log.fit_time
            self.line_drawings_ = is_line_drawing(X)
            if kind == "gan":
                self.anchor_images_ = torch.zeros(0, *self.image_shape_)
                self.latent_mean_ = self.latent_log_variance_ = torch.zeros(0, self._setting("latent_dim"))
            else:
                self.anchor_images_ = X.cpu()
                self.latent_mean_, self.latent_log_variance_, latent_shape = backends.encode_images(
                    self.backend_, kind, X, self.decode_batch_size, self._device()
                )
                if latent_shape is not None:
                    self.latent_shape_ = latent_shape
        return self

    def _fitted_custom_backend(self, X: torch.Tensor) -> Any:
        if isinstance(self.backend, str):  # "ae", "intae", "augintae": a new metaaug autoencoder
            return backends.fit_autoencoder(
                self.backend,
                X,
                epochs=self.epochs,
                max_time=self.max_time,
                latent_dim=self.latent_dim,
                hidden=self.hidden,
                lr=self.lr,
                verbose=self.verbose,
                device=self.device,
            )
        return fitted(self.backend, X)

    # ------------------------------------------------------------- sampling
    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
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
            anchors) or than ``bank_size``, or an ``epsilon`` that no draw
            satisfies.
        """
        self._check_fitted()
        self._validate_params()
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        if self.strategy == "OC" and n_ways < 2:
            raise ValueError(
                f"strategy 'OC' interpolates toward the task's other classes and needs n_ways >= 2, got n_ways={n_ways}"
            )
        if self.backend_kind_ != "gan" and n_ways > len(self.anchor_images_):
            raise ValueError(
                f"n_ways={n_ways} distinct real anchors are needed but LASIUM was fitted on "
                f"{len(self.anchor_images_)} image(s)"
            )
        if self.class_reuse > 1 and n_ways > self.bank_size:
            raise ValueError(
                f"n_ways={n_ways} distinct classes are needed per task but the class bank holds "
                f"bank_size={self.bank_size}"
            )
        with torch_seeded(check_rng(random_state)):
            if self.class_reuse > 1:
                images = self._banked_classes(n_tasks, n_ways, k_shot + k_query)
            else:
                images = self._generate_classes(n_tasks, n_ways, k_shot + k_query)[0]
            support = images[:, :, :k_shot].reshape(n_tasks, n_ways * k_shot, *self.image_shape_)
            query = images[:, :, k_shot:].reshape(n_tasks * n_ways * k_query, *self.image_shape_)
            if self._augments_queries() and k_query > 0:
                query = self._augment_queries(query)
        return episodes_from_blocks(
            support, query.view(n_tasks, n_ways * k_query, *self.image_shape_), n_ways, k_shot, k_query
        )

    def sample_latents(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> torch.Tensor:
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

    def _generate_classes(self, n_groups: int, n_ways: int, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Fresh classes: images ``(n_groups, n_ways, per_class, C, H, W)`` and anchors ``(n_groups, n_ways, d)``."""
        anchors, anchor_index = self._draw_anchors(n_groups, n_ways)
        new_latents = self._class_latents(anchors, per_class - 1)
        if anchor_index is None:  # GAN: the anchors are decoded too
            latents = torch.cat([anchors.unsqueeze(2), new_latents], dim=2)
            images = self._decode(latents.reshape(-1, latents.shape[-1]))
            return images.view(n_groups, n_ways, per_class, *self.image_shape_), anchors
        first = self.anchor_images_[anchor_index.reshape(-1)].view(n_groups, n_ways, 1, *self.image_shape_)
        if per_class == 1:
            return first, anchors
        decoded = self._decode(new_latents.reshape(-1, new_latents.shape[-1]))
        decoded = decoded.view(n_groups, n_ways, per_class - 1, *self.image_shape_)
        return torch.cat([first, decoded], dim=2), anchors

    # step 1: anchors, pairwise at least epsilon apart
    def _draw_anchors(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Anchors ``(n_tasks, n_ways, d)`` and, except for the GAN, the indices of their real images."""
        return separated(lambda n: self._anchor_candidates(n, n_ways), n_tasks, n_ways, self.epsilon, self.max_redraws)

    def _anchor_candidates(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.backend_kind_ == "gan":
            return torch.randn(n_tasks, n_ways, self._setting("latent_dim")), None
        index = distinct_indices(n_tasks, n_ways, len(self.latent_mean_))
        return reparameterize(self.latent_mean_[index], self.latent_log_variance_[index]), index

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
        """``sigma2``, or its default for the backend's latent geometry (unit sphere or Gaussian prior)."""
        if self.sigma2 is not None:
            return float(self.sigma2)
        on_sphere = isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder)
        return SIGMA2_DEFAULTS["sphere" if on_sphere else "prior"]

    def _out_of_class_latents(self, shape: tuple[int, ...]) -> torch.Tensor:
        """The prior's samples, or (no prior) the latents of random training images."""
        if self.backend_kind_ == "custom":
            return self.latent_mean_[torch.randint(len(self.latent_mean_), shape[:-1])]
        return torch.randn(shape)

    # step 3: decoding, in one batched pass
    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        shape = getattr(self, "latent_shape_", latents.shape[1:])
        images = backends.decode_latents(
            self.backend_, self.backend_kind_, latents, shape, self.decode_batch_size, self._device()
        )
        if self._binarizes():
            images = (images > 0.5).float()
        if tuple(images.shape[1:]) != self.image_shape_:
            images = images.reshape(len(images), *self.image_shape_)
        return images.clamp(0, 1)

    def _binarizes(self) -> bool:
        """``binarize`` resolved: "auto" thresholds autoencoder decodings of line drawings."""
        if self.binarize != "auto":
            return bool(self.binarize)
        if not isinstance(getattr(self, "backend_", None), InterpolativeAutoencoder):
            return False
        if getattr(self, "line_drawings_", None) is None:  # models saved before the attribute existed
            self.line_drawings_ = is_line_drawing(self.anchor_images_)
        return bool(self.line_drawings_)

    # step 4: query augmentation
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

    # class_reuse > 1: classes served from a bank
    def _banked_classes(self, n_tasks: int, n_ways: int, per_class: int) -> torch.Tensor:
        """``(n_tasks, n_ways, per_class, C, H, W)`` classes drawn from the bank, then part of the bank renewed."""

        def generate(n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
            return self._generate_classes(n_groups, n_ways, per_class)

        key = (self.strategy, self.sigma2, self.alpha, self.binarize, self.bank_size, n_ways, per_class)
        bank = getattr(self, "_class_bank", None)
        if bank is None or bank.key != key:
            bank = self._class_bank = ClassBank.filled(key, self.bank_size, n_ways, generate)
        return bank.serve(n_tasks, n_ways, self.class_reuse, generate, self.epsilon, self.max_redraws)
