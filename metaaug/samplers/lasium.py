"""LASIUM: meta-training tasks from the latent space of a generative model.

Khodadadeh, Zehtabian, Vahidian, Wang, Liu & Bölöni, "Unsupervised
Meta-Learning through Latent-Space Interpolation in Generative Models",
ICLR 2021. Official code: github.com/siavash-khodadadeh/MetaLearning-TF2.0.

This file is the estimator and the paper's sampling algorithm; its steps in
latent space (anchors, in-class latents by strategy) are in
:mod:`metaaug.samplers.lasium_latents`. Resolving,
fitting and decoding with the backend is in :mod:`metaaug.samplers.lasium_fit`
(training loops: :mod:`metaaug.samplers.lasium_backends`; a user's generator:
:mod:`metaaug.samplers.generator_backend`), saving a user's generator in
:mod:`metaaug.samplers.lasium_io`, the class bank of ``class_reuse > 1`` in
:mod:`metaaug.samplers.class_bank`.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment import AffineRanges
from metaaug.base import MetaaugEstimator
from metaaug.constraints import HasMethods, Interval, Options
from metaaug.data.tasks import Task, check_task_args, episodes_from_blocks
from metaaug.nets.autoencoders import ARCHITECTURES as AE_ARCHITECTURES
from metaaug.nets.vae import LASIUM_ARCHITECTURES
from metaaug.samplers import generator_backend as gb
from metaaug.samplers import lasium_backends as backends
from metaaug.samplers._common import augment_queries, default_query_shift
from metaaug.samplers._grid import TaskPlotMixin
from metaaug.samplers.class_bank import ClassBank
from metaaug.samplers.lasium_fit import LASIUMBackend
from metaaug.samplers.lasium_io import GeneratorPersistence
from metaaug.samplers.lasium_latents import SIGMA2_DEFAULTS, LASIUMLatents  # noqa: F401  (SIGMA2_DEFAULTS: re-exported)

BACKENDS = ("vae", "gan", *backends.AUTOENCODER_BACKENDS)
ANCHORS = ("auto", "prior", "data")
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


class LASIUM(LASIUMLatents, LASIUMBackend, GeneratorPersistence, TaskPlotMixin, MetaaugEstimator):
    """Unsupervised meta-learning tasks by latent-space interpolation (LASIUM).

    ``fit(X)`` trains a generative model on unlabeled images (or takes a fitted
    one); ``sample_tasks`` then follows the paper's Algorithm 1: draw ``n_ways``
    anchor latents pairwise at least ``epsilon`` apart, derive ``k_shot +
    k_query - 1`` more latents per class with ``strategy``, decode all latents
    of all tasks in one batched pass, and label each class by its anchor.
    Measured effects of the settings: ``docs/lasium.md``, *Measured*.

    Parameters
    ----------
    backend : "ae", "vae", "gan", "intae", "augintae", a generator or a codec, default "ae"
        ``"vae"`` / ``"gan"``: the paper's VAE (:class:`~metaaug.nets.vae.ConvVAE`)
        or mode-seeking GAN (:mod:`metaaug.nets.msgan`). ``"ae"`` / ``"intae"`` /
        ``"augintae"``: a new :class:`metaaug.AE` / ``IntAE`` / ``AugIntAE``
        trained on ``X`` (``epochs``, ``max_time``, ``latent_dim``, ``hidden``
        and ``lr`` passed on when set), sampled in its L2-normalised latent
        space. A generator (an ``nn.Module`` or callable ``latents -> images``,
        e.g. a pretrained GAN; see :class:`~metaaug.samplers.GeneratorAdapter`)
        is used as it is; a codec (also with ``encode(images)``; its
        ``decode``, not ``forward``, decodes) likewise, and an unfitted
        estimator is cloned and fitted on ``X``.
    anchors : "auto", "prior" or "data", default "auto"
        ``"prior"``: the paper's GAN path, anchors drawn from ``prior`` and
        decoded. ``"data"``: its VAE path, anchors are encoded training images,
        shown as the classes' first images (needs ``encode``). ``"auto"``:
        ``"prior"`` for ``"gan"`` and generators, ``"data"`` otherwise.
    prior : "normal", "uniform", "truncated_normal" or callable, default "normal"
        Latent prior of the ``"prior"`` anchors and of "RO"'s out-of-class
        latents: N(0, I), U(-1, 1), N(0, I) truncated to [-2, 2], or
        ``prior(shape) -> tensor`` drawing from torch's global RNG (not saved).
    output_range : "auto" or (low, high), default "auto"
        Range of a generator's or codec's outputs, mapped to [0, 1]; ``"auto"``
        reads it (``[-1, 1]`` or ``[0, 1]``) from a probe batch at ``fit``.
    image_size, channels : int or None, default None
        Size and channels the decoded images are converted to (bilinear
        resizing; RGB to grey by luma, grey to RGB by repetition); ``None``:
        those of ``X``, or the generator's own when ``fit()`` gets no images.
    strategy : "N", "RO" or "OC", default "N"
        In-class latents around an anchor ``z``. ``"N"``: ``z + N(0, sigma2 I)``.
        ``"RO"``: ``z + alpha (v - z)``, ``v`` a fresh out-of-class latent (a
        prior draw; a random training image's latent for codecs' "data" anchors).
        ``"OC"``: ``z_i + alpha (z_j - z_i)``, ``j`` cycling through the task's
        other anchors (needs ``n_ways >= 2``; prefer "N" or "RO" for 2 ways).
    sigma2 : float or None, default None
        Variance of the "N" noise; ``None``: 0.001 for metaaug autoencoders
        (unit-sphere latents), else by anchor source (``SIGMA2_DEFAULTS``:
        ``"prior"``, the paper's GAN range, or ``"data"``; docs/lasium.md).
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
        Latent size (default 20 VAE, 128 GAN, 512 for the "natural" networks)
        and conv filters (default 16); an autoencoder backend keeps its own
        defaults (32 or 512, and 32).
    architecture : str, default "auto"
        The backend's networks. For ``"vae"`` and ``"gan"``: ``"characters"``,
        the authors' Omniglot networks, or ``"natural"``, their
        mini-ImageNet / CelebA networks (:mod:`metaaug.nets.lasium_natural`:
        one more convolution block, more channels, latent 512); ``"auto"`` is
        ``"natural"`` for RGB images with both sides >= 64 (e.g. 84x84x3) and
        ``"characters"`` otherwise. For ``"ae"``, ``"intae"`` and ``"augintae"``:
        ``"infogan"`` or ``"dcgan"``, passed on to the autoencoder, whose
        ``"auto"`` is ``"infogan"`` up to 28 px and ``"dcgan"`` beyond (any
        sides >= 16, e.g. 84x84 and 105x105). Every built-in backend works at
        1x28x28, 1x105x105, 3x32x32, 3x64x64, 3x84x84, 3x128x128 and
        non-square sizes.
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
    backend_ : the trained ``ConvVAE`` / ``MSGANGenerator``, or the user's (fitted) generator or codec
    backend_kind_ : ``"vae"``, ``"gan"``, ``"custom"`` (a codec) or ``"generator"`` (no ``encode``)
    latent_dim_, output_range_ : a generator's or codec's latent size and output range
    image_shape_ : ``(C, H, W)``; line_drawings_ : bool (what ``binarize="auto"`` reads)
    architecture_ : the VAE's or GAN's resolved ``architecture`` (``"characters"`` or ``"natural"``)
    anchor_images_ : the training images (empty for the GAN and without ``X``)
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
    * Query shifts pad with zeros, as the authors' code does
      (``tfa.image.transform``: nearest-neighbour interpolation, constant zero
      fill); ``query_augmentation``, ``binarize`` and ``class_reuse`` are additions.
    * ``sigma2`` of prior anchors is one value for every generator (the
      paper tunes it per dataset in 0.25-1.0).
    """

    #: every backend it trains (VAE, GAN, the autoencoders) trains data-parallel; a fitted one needs no training
    _data_parallel: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "backend": [Options(*BACKENDS), HasMethods("encode", "decode"), "callable"],
        "anchors": [Options(*ANCHORS)],
        "prior": [Options(*gb.PRIORS), "callable"],
        "output_range": [Options("auto"), tuple],
        "image_size": [None, Interval(Integral, 1, None)],
        "channels": [None, Interval(Integral, 1, None)],
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
        "architecture": [Options("auto", *LASIUM_ARCHITECTURES, *AE_ARCHITECTURES)],
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
        architecture: str = "auto",
        beta: float | None = None,
        mode_seeking: float = 1.0,
        query_shift: int | None = None,
        query_augmentation: str | AffineRanges = "shift",
        binarize: bool | str = "auto",
        max_redraws: int = 100,
        decode_batch_size: int = 4096,
        class_reuse: float = 1.0,
        bank_size: int = 1000,
        anchors: str = "auto",
        prior: Any = "normal",
        output_range: str | tuple[float, float] = "auto",
        image_size: int | None = None,
        channels: int | None = None,
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
        self.architecture = architecture
        self.beta = beta
        self.mode_seeking = mode_seeking
        self.query_shift = query_shift
        self.query_augmentation = query_augmentation
        self.binarize = binarize
        self.max_redraws = max_redraws
        self.decode_batch_size = decode_batch_size
        self.class_reuse = class_reuse
        self.bank_size = bank_size
        self.anchors = anchors
        self.prior = prior
        self.output_range = output_range
        self.image_size = image_size
        self.channels = channels
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------- sampling
    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
        """Draw ``n_tasks`` synthetic ``n_ways``-way tasks (Algorithm 1 of the paper).

        Within a class the first ``k_shot`` images are the support. With
        ``"data"`` anchors the class's first image is the real training image
        whose latent is the anchor; the rest are decoded.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            Bad layout arguments, ``strategy="OC"`` with ``n_ways < 2``,
            ``n_ways`` larger than the number of training images (``"data"``
            anchors) or than ``bank_size``, an ``epsilon`` that no draw
            satisfies, or a generator whose outputs are not images.
        """
        self._check_fitted()
        self._validate_params()
        check_task_args(n_tasks, n_ways, k_shot, k_query, image_shape=self.image_shape_)
        if self.strategy == "OC" and n_ways < 2:
            raise ValueError(
                f"strategy 'OC' interpolates toward the task's other classes and needs n_ways >= 2, got n_ways={n_ways}"
            )
        if self._anchor_mode() == "data" and n_ways > len(self.anchor_images_):
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
                query = augment_queries(query, self.query_augmentation, self._query_shift())
        return episodes_from_blocks(
            support, query.view(n_tasks, n_ways * k_query, *self.image_shape_), n_ways, k_shot, k_query
        )

    def sample_latents(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> torch.Tensor:
        """The latents behind :meth:`sample_tasks` with the same arguments.

        ``(n_tasks, n_ways, k_shot + k_query, latent_dim)``; index 0 of each
        class is its anchor (with ``"data"`` anchors the real image's latent,
        where that image, not the decoded anchor, is shown). With
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
        if anchor_index is None:  # prior anchors: they are decoded too
            latents = torch.cat([anchors.unsqueeze(2), new_latents], dim=2)
            images = self._decode(latents.reshape(-1, latents.shape[-1]))
            return images.view(n_groups, n_ways, per_class, *self.image_shape_), anchors
        first = self.anchor_images_[anchor_index.reshape(-1)].view(n_groups, n_ways, 1, *self.image_shape_)
        if per_class == 1:
            return first, anchors
        decoded = self._decode(new_latents.reshape(-1, new_latents.shape[-1]))
        decoded = decoded.view(n_groups, n_ways, per_class - 1, *self.image_shape_)
        return torch.cat([first, decoded], dim=2), anchors

    # step 4: query augmentation
    def _query_shift(self) -> int:
        return default_query_shift(self.query_shift, self.image_shape_)

    def _augments_queries(self) -> bool:
        if self.query_augmentation == "shift":
            return self._query_shift() > 0
        return self.query_augmentation != "none"

    # class_reuse > 1: classes served from a bank
    def _banked_classes(self, n_tasks: int, n_ways: int, per_class: int) -> torch.Tensor:
        """``(n_tasks, n_ways, per_class, C, H, W)`` classes drawn from the bank, then part of the bank renewed."""

        def generate(n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
            return self._generate_classes(n_groups, n_ways, per_class)

        key = (
            self.strategy,
            self.sigma2,
            self.alpha,
            self.binarize,
            self.bank_size,
            n_ways,
            per_class,
            self.anchors,
            self.prior,
        )
        bank = getattr(self, "_class_bank", None)
        if bank is None or bank.key != key:
            bank = self._class_bank = ClassBank.filled(key, self.bank_size, n_ways, generate)
        return bank.serve(n_tasks, n_ways, self.class_reuse, generate, self.epsilon, self.max_redraws)
