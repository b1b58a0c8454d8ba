"""Meta-FAVAE (Ying, Phaphuangwittayakul et al.): a Reptile-meta-learned adversarial VAE with feedback augmentation.

The estimator; its losses and training loops are in
:mod:`metaaug.generators.metafavae_training`, its networks in :mod:`metaaug.nets.favae`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch

from metaaug._random import RandomState, check_rng, draw_seed, torch_seeded
from metaaug._threads import torch_threads
from metaaug.base import MetaaugEstimator, TrainingBudget, check_count, check_request_size
from metaaug.clustering import pseudo_labels
from metaaug.constraints import Interval, Options
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.data.sources import as_image_source
from metaaug.distributed import current_group, failing_stops_all, split_torch_streams
from metaaug.generators.adaptation_cache import AdaptationCache, seeds_key
from metaaug.generators.metafavae_training import AlphaRange, InnerLoop, adapt_in_place, class_members, meta_train
from metaaug.nets.blocks import reparameterize
from metaaug.nets.favae import FAVAE, FAVAEConfig, favae_downsamplings, favae_preset
from metaaug.nets.modes import eval_mode

GAN_LOSSES = ("standard", "relativistic")
CONDITIONS = ("prior", "encoded")
KL_REDUCTIONS = ("sum", "mean")
_GENERATE_CHUNK = 1024
_POSITIVE_INT = Interval(Integral, 1, None)
_POSITIVE = Interval(Real, 0, None, closed="neither")


class MetaFAVAE(MetaaugEstimator):
    """Meta-FAVAE few-shot generator: Reptile-learned adversarial VAE with feedback augmentation.

    Four networks (:mod:`metaaug.nets.favae`): an encoder giving the mean and
    log-variance of a code ``c``, a decoder ``c -> image``, a generator
    ``G(z, c)`` of the code and noise ``z``, and a discriminator. ``fit``
    (the paper's Algorithm 1) repeats: draw ``n_seeds`` images of one class,
    adapt a copy of the global networks to them for ``inner_iterations``
    iterations of VAE, discriminator, generator and (with ``feedback``)
    feedback-augmented VAE steps, then move the global networks toward the
    adapted copy with a Reptile step (both loops:
    :mod:`metaaug.generators.metafavae_training`). ``generate(seeds, n)``
    (Algorithm 2) adapts a copy to the seeds with the same inner loop and
    samples ``G(z, c)``; the global networks never change, and adaptations
    are cached per set of seeds, so an :class:`~metaaug.data.AugmentedDataset`
    adapts each class once. ``docs/metafavae.md`` describes the method step
    by step and holds the measurements ("Measured", "Why these defaults").

    Parameters
    ----------
    feedback : bool, default=True
        Feedback augmentation; ``False`` gives Meta-AVAE, the paper's ablation.
    n_iterations : int, default=2000
        Outer (Reptile) iterations, one task each (paper: 100000).
    max_time : float or None, default=540
        Stop meta-training after this many seconds (checked after each outer
        iteration); on one thread the default keeps ``fit`` under 10
        CPU-minutes on the Omniglot dev split.
    n_seeds : int, default=4
        Images per meta-training task (the paper's g).
    inner_iterations : int, default=10
        K, inner iterations per task, in meta-training and in ``generate``.
    n_vae_steps, n_d_steps, n_g_steps : int, default=5, 1, 5
        Steps of each kind per inner iteration (``n_d_steps`` may be 0).
    beta : float, default=10.0
        Weight of the KL term of ``L_VAE = sum of squared errors / g + beta * KL``.
    kl_reduction : {"sum", "mean"}, default="mean"
        ``"sum"``: the KL is summed over latent dimensions and divided by the
        batch size (the paper's ELBO scaling; its posterior collapses on
        Omniglot). ``"mean"``: averaged over the latent dimensions too, i.e.
        ``beta / latent_dim`` in ELBO units, as LASIUM's authors do.
    lambda_ms : float, default=0.03
        Weight of the L1 mode-seeking term of the generator loss (paper: 1).
    lambda_rec : float, default=10.0
        Weight of an L1 term ``mean |G(z, c) - x|`` in the generator loss,
        ``c`` a posterior sample of the code of seed ``x``. Not in the paper's
        equations; the same authors' FAML code trains with it. Without it
        ``G`` ignores the class at CPU budgets; against ``lambda_ms`` it
        trades faithfulness for diversity (``lambda_ms=0``: near copies).
        ``lambda_rec=0, lambda_ms=1`` is the paper's loss.
    gan_loss : {"standard", "relativistic"}, default="standard"
        The non-saturating GAN loss of the paper's equations, or the
        relativistic average GAN its text (and the FAML code) mentions.
    n_feedback : int, default=4
        Generated images per feedback step (n); ``n**2`` interpolations.
    feedback_alpha : (float, float), default=(0.1, 0.9)
        Range ``(low, high)`` within [0, 1] of the weights ``alpha`` of the
        feedback interpolations ``lerp(a, b, alpha)``.
    inner_lr_vae, inner_lr_gan : float, default=1e-4, 1e-3
        Inner Adam learning rates of encoder/decoder and generator/discriminator.
    outer_lr_vae, outer_lr_gan : float, default=1e-3, 1e-3
        Outer (Reptile) Adam learning rates (paper: 1e-5 and 1e-4).
    condition : {"encoded", "prior"}, default="encoded"
        Code ``c`` given to ``G`` when generating: posterior samples of the
        encoded seeds (the method section; far more faithful, since
        ``lambda_rec`` ties ``G`` to the seeds' codes) or ``c ~ N(0, I)``
        (the paper's sampling procedure).
    latent_dim, noise_dim, hidden, max_channels : int or None
        Sizes of the code and the noise, filters of the first convolution
        (doubled at each downsampling) and their cap; ``None`` takes
        :func:`~metaaug.nets.favae.favae_preset` for the image size. Any
        image sides >= 8 work (1x28x28, 1x105x105, 3x84x84, 3x128x128,
        non-square; :func:`~metaaug.nets.favae.favae_downsamplings`).
    n_clusters : int or None
        Pseudo-classes when ``fit`` gets no labels (default ``len(X) // 20``,
        at least 2).
    cache_size : int, default=64
        Adapted models kept (least recently used dropped; 0 keeps none).
    n_threads : int or None, default=None
        Intra-op CPU threads while fitting and adapting, restored afterwards;
        ``None`` leaves torch's setting alone. The inner batches of 4 images
        gain little from threads: ``n_threads=1`` avoids oversubscription.
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
    n_iter_ : int
        Outer iterations run (fewer than ``n_iterations`` when ``max_time`` ran out).
    fit_time_ : float
        Seconds spent meta-training.
    adapt_seed_ : int
        Seeds the adaptation randomness, so an adaptation depends only on the
        global networks and the seeds, and caching it never changes ``generate``.
    loss_curve_ : ndarray of shape (n_iter_,), float32
        The generator's total loss per outer iteration, averaged over the
        inner generator steps of that iteration's task (``loss_terms_["g"]``).
    loss_terms_ : dict of str to ndarray of shape (n_iter_,), float32
        Mean inner losses per outer iteration: ``vae`` (feedback steps
        included), ``d`` (``nan`` when ``n_d_steps=0``), ``g`` and ``ms``
        (the mode-seeking term).

    Notes
    -----
    Differences from the paper:

    * Budget: 2000 iterations or 540 s instead of 100000 iterations, and
      outer learning rates raised from 1e-5 / 1e-4 to 1e-3 so that a few
      hundred Reptile steps move the initialisation at all (an Adam step is
      about ``lr`` per parameter). ``outer_lr_vae=1e-5, outer_lr_gan=1e-4,
      n_iterations=100000, max_time=None`` is the paper's schedule.
    * Networks: small DCGAN-style stacks without batch normalisation (inner
      batches of g = 4 images; Reptile cannot average running statistics);
      1.1 M parameters at 28x28, 7.3 M at 64x64 RGB (paper: 8.3 M). The
      Adam betas (0.5, 0.999), the relativistic option, the mode-seeking
      ratio ``1 / (ratio + 1e-5)`` and the Reptile gradient sign follow the
      authors' FAML code.
    * Generator loss: FAML's L1 term to the seeds added (``lambda_rec=10``)
      and the mode-seeking weight lowered from 1 to 0.03 to balance it; the
      paper's loss (``lambda_rec=0, lambda_ms=1``) leaves ``G`` blind to the
      class at this budget, although the adapted decoder draws it.
    * Generator steps train the generator only (the code ``c`` is detached).
    * Feedback: one extra VAE step per inner iteration on the seeds plus the
      ``n^2`` interpolations (pairs ``(i, i)`` included); the feedback images
      use the seeds' codes, cycled when ``n_feedback > g``.
    * Fresh inner Adam optimisers for every task (standard Reptile).
    * ``L_VAE``: the squared error is summed over pixels and divided by the
      batch size (the paper's "mean squared error / g"); the KL is averaged
      over the latent dimensions by default, because the summed KL (the
      paper's scaling) collapses the posterior at CPU budgets and ``G`` then
      ignores ``c``.
    * ``generate`` adapts on all its seeds (any number >= 1) with randomness
      drawn from the seeds, not from ``random_state`` (which drives the
      sampling), so adaptations can be cached.
    * Without labels, classes are pseudo-labels
      (:func:`metaaug.clustering.pseudo_labels`); clusters smaller than
      ``n_seeds`` are skipped.
    * Data-parallel (``torch.distributed`` with ``W`` processes): each outer
      iteration adapts to ``W`` tasks, one per process, and steps along the
      mean of their Reptile directions (batched Reptile, Nichol et al. 2018);
      the paper's outer loop takes one task per iteration.
    """

    _data_parallel: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        **dict.fromkeys(
            ("n_iterations", "n_seeds", "inner_iterations", "n_vae_steps", "n_g_steps", "n_feedback"), [_POSITIVE_INT]
        ),
        **dict.fromkeys(("n_d_steps", "cache_size"), [Interval(Integral, 0, None)]),
        **dict.fromkeys(("beta", "lambda_ms", "lambda_rec"), [Interval(Real, 0, None)]),
        **dict.fromkeys(("inner_lr_vae", "inner_lr_gan", "outer_lr_vae", "outer_lr_gan"), [_POSITIVE]),
        **dict.fromkeys(("latent_dim", "noise_dim", "hidden", "max_channels", "n_threads"), [None, _POSITIVE_INT]),
        "max_time": [None, _POSITIVE],
        "kl_reduction": [Options(*KL_REDUCTIONS)],
        "gan_loss": [Options(*GAN_LOSSES)],
        "condition": [Options(*CONDITIONS)],
        "feedback_alpha": [AlphaRange()],
        "n_clusters": [None, Interval(Integral, 2, None)],
        "feedback": ["boolean"],
        "verbose": ["boolean"],
        "random_state": ["random_state"],
        "device": ["device"],
    }
    _renamed: ClassVar[dict[str, str]] = {
        "hidden_channels": "hidden",
        "n_iterations_": "n_iter_",
        "loss_history_": "loss_terms_",
    }

    def __init__(
        self,
        feedback: bool = True,
        n_iterations: int = 2000,
        max_time: float | None = 540.0,
        n_seeds: int = 4,
        inner_iterations: int = 10,
        n_vae_steps: int = 5,
        n_d_steps: int = 1,
        n_g_steps: int = 5,
        beta: float = 10.0,
        kl_reduction: str = "mean",
        lambda_ms: float = 0.03,
        lambda_rec: float = 10.0,
        gan_loss: str = "standard",
        n_feedback: int = 4,
        feedback_alpha: tuple[float, float] = (0.1, 0.9),
        inner_lr_vae: float = 1e-4,
        inner_lr_gan: float = 1e-3,
        outer_lr_vae: float = 1e-3,
        outer_lr_gan: float = 1e-3,
        condition: str = "encoded",
        latent_dim: int | None = None,
        noise_dim: int | None = None,
        hidden: int | None = None,
        max_channels: int | None = None,
        n_clusters: int | None = None,
        cache_size: int = 64,
        n_threads: int | None = None,
        verbose: bool = True,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
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
        self.hidden = hidden
        self.max_channels = max_channels
        self.n_clusters = n_clusters
        self.cache_size = cache_size
        self.n_threads = n_threads
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ construction
    def _config(self) -> FAVAEConfig:
        channels, height, width = self.image_shape_
        preset = favae_preset(height, width)
        sizes = {k: (preset[k] if getattr(self, k) is None else int(getattr(self, k))) for k in preset}
        return FAVAEConfig(channels=channels, height=height, width=width, **sizes)

    def _build_modules(self) -> None:
        self.nets_ = FAVAE(self._config()).to(self._device())

    # ------------------------------------------------------------------ fit (Algorithm 1)
    def fit(self, X: Any, y: Any = None) -> MetaFAVAE:
        """Meta-train on ``X`` (classes from ``y``, or pseudo-labels when ``y`` is None).

        When a ``torch.distributed`` process group with ``W`` processes is
        running (e.g. under ``torchrun``), call ``fit`` on every rank with the
        same parameters. The paper's outer loop takes one task per iteration,
        which cannot be split; instead each rank adapts to a task of its own
        (drawn from a stream of its own) and the global networks take one
        Reptile step along the mean of the ``W`` directions ``global -
        adapted``: an outer meta-batch of ``W`` tasks (batched Reptile). So
        ``n_iterations`` outer steps see ``W`` times as many tasks as in one
        process, in about the same time. All ranks end with the same networks.
        """
        self._validate_params()
        X = as_image_source(X, name="X", min_count=2)
        favae_downsamplings(X.shape[2], X.shape[3])  # rejects unusable image sizes before any work
        group = current_group()
        rng = group.common_rng(self.random_state, "MetaFAVAE") if group is not None else check_rng(self.random_state)
        if y is None:
            members = class_members(pseudo_labels(X, self.n_clusters, random_state=draw_seed(rng)), self.n_seeds)
        else:
            members = class_members(as_labels(y, len(X)), self.n_seeds, refuse_small=True)
        device = self._device()
        self.image_shape_ = (int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
        self.n_classes_ = len(members)
        self.adapt_seed_ = draw_seed(rng)
        self._adaptations = AdaptationCache[FAVAE]()
        task_rng = group.rank_rng(rng) if group is not None else rng

        def draw_task() -> torch.Tensor:
            cls = members[int(task_rng.integers(len(members)))]
            pick = torch.from_numpy(task_rng.choice(len(cls), self.n_seeds, replace=False))
            return X[cls[pick]].to(device)

        budget = TrainingBudget(
            self.n_iterations,
            self.max_time,
            desc="MetaFAVAE" if self.feedback else "MetaAVAE",
            verbose=self.verbose,
            group=group,
        )
        with torch_seeded(rng), torch_threads(self.n_threads), failing_stops_all(group):
            self._init_modules()
            if group is not None:
                group.check_parameters([self.nets_], "MetaFAVAE")
                split_torch_streams(group, rng)  # the inner loops' noise from this rank's stream
            self.loss_terms_: dict[str, np.ndarray] = meta_train(
                self.nets_, draw_task, InnerLoop.of(self), self.outer_lr_vae, self.outer_lr_gan, budget, group
            )
        self.loss_curve_ = self.loss_terms_["g"].copy()
        self.n_iter_ = budget.completed
        self.fit_time_ = budget.elapsed
        return self

    def _restore_fitted(self, fitted: dict) -> None:
        super()._restore_fitted(fitted)
        # files saved before loss_curve_ existed hold lists under loss_history_ (now loss_terms_)
        self.loss_terms_ = {k: np.asarray(v, dtype=np.float32) for k, v in self.loss_terms_.items()}
        if not hasattr(self, "loss_curve_"):
            self.loss_curve_ = self.loss_terms_["g"].copy()

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
        return self._adapt(self._check_seeds(seeds))

    def clear_cache(self) -> None:
        """Forget the cached adaptations (e.g. to time adaptation or free memory)."""
        self._adaptations = AdaptationCache[FAVAE]()

    def _adapt(self, seeds: torch.Tensor) -> FAVAE:
        cache = getattr(self, "_adaptations", None)
        if cache is None:
            cache = self._adaptations = AdaptationCache[FAVAE]()
        key = seeds_key(seeds)
        cached = cache.get(key)
        if cached is not None:
            return cached
        adapted = copy.deepcopy(self.nets_)
        adapted.train()
        seed = (int(self.adapt_seed_) ^ int(key[:15], 16)) % (2**63 - 1)
        with torch_seeded(np.random.default_rng(seed)), torch.enable_grad(), torch_threads(self.n_threads):
            adapt_in_place(adapted, seeds, InnerLoop.of(self))
        adapted.eval()
        adapted.requires_grad_(False)
        cache.put(key, adapted, self.cache_size)
        return adapted

    def generate(
        self, seeds: Any, n: int, random_state: RandomState = None, condition: str | None = None
    ) -> torch.Tensor:
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
        n = check_count(n, "n")
        check_request_size(n, self.image_shape_, "MetaFAVAE.generate", self._device())
        condition = self.condition if condition is None else condition
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {CONDITIONS}, got {condition!r}")
        adapted = self._adapt(seeds)
        rng = check_rng(random_state)
        config = adapted.config
        chunks = []
        with eval_mode(adapted), torch.no_grad(), torch_seeded(rng), torch_threads(self.n_threads):
            for start in range(0, int(n), _GENERATE_CHUNK):
                m = min(_GENERATE_CHUNK, int(n) - start)
                if condition == "prior":
                    code = torch.randn(m, config.latent_dim, device=seeds.device)
                else:
                    which = torch.randint(len(seeds), (m,), device=seeds.device)
                    mean, log_var = adapted.encoder(seeds)
                    code = reparameterize(mean[which], log_var[which])
                noise = torch.randn(m, config.noise_dim, device=seeds.device)
                chunks.append(adapted.generator(noise, code).cpu())
        return torch.cat(chunks).clamp_(0.0, 1.0)

    def reconstruct(self, images: Any) -> torch.Tensor:
        """Global encoder-decoder reconstruction through the posterior mean (diagnostics)."""
        images = self._check_seeds(images)
        with torch.no_grad():
            return self.nets_(images).cpu()
