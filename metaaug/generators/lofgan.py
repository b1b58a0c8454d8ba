"""LoFGAN: few-shot image generation by local fusion (Gu, Li, Gao, Shi; ICCV 2021).

The estimator; its training step and task sampler are in
:mod:`metaaug.generators.lofgan_training`, the networks and the local fusion
module in :mod:`metaaug.nets.lofgan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch

from metaaug._random import RandomState, check_rng, draw_seed, torch_generator, torch_seeded
from metaaug.base import MetaaugEstimator, check_count, check_request_size
from metaaug.clustering import pseudo_labels
from metaaug.constraints import Constraint, Interval, Options
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.distributed import current_group, failing_stops_all, split_torch_streams
from metaaug.generators.lofgan_training import (
    ClassTaskSampler,
    keep_classes,
    lofgan_train_step,
    to_tanh_range,
    train_lofgan,
)
from metaaug.nets.lofgan import (
    PRESETS,
    FusionPlan,
    LoFGANDiscriminator,
    LoFGANGenerator,
    check_image_size,
    draw_fusion_plan,
    kaiming_init,
    preset_config,
)
from metaaug.nets.modes import eval_mode

_GENERATE_CHUNK = 256


def from_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """LoFGAN's tanh output in [-1, 1] -> metaaug's [0, 1]."""
    return ((images + 1.0) * 0.5).clamp(0.0, 1.0)


class _Channels(Constraint):
    """A non-empty sequence of ints >= 1."""

    def is_satisfied_by(self, value: Any) -> bool:
        if not isinstance(value, (tuple, list, np.ndarray)) or len(value) == 0:
            return False
        return all(Interval(Integral, 1, None).is_satisfied_by(v) for v in value)

    def __str__(self) -> str:
        return "a non-empty tuple of ints >= 1"


_POSITIVE_INT = Interval(Integral, 1, None)
_NON_NEGATIVE = Interval(Real, 0, None)


class LoFGAN(MetaaugEstimator):
    """Few-shot generator that fuses local features of ``k`` seed images of a class.

    Each training step draws ``meta_batch_size`` tasks (one class, ``k_shot``
    images each). The generator encodes the seeds, runs the local fusion module
    (LFM) on the deepest feature map (a random base, ``k - 1`` references,
    random mixing weights ``alpha``; ``int(eta * h * w)`` base positions are
    replaced by the ``alpha``-weighted mix of their most cosine-similar
    reference positions), and decodes. Losses, as the official code:

    * discriminator: hinge loss on real and generated images, cross-entropy of
      the auxiliary class head on real images, and a gradient penalty (weight
      ``lambda_gp``) on real images;
    * generator: hinge generator loss, cross-entropy of the class head on the
      generated images (weight ``lambda_cls``), and the local reconstruction
      loss (weight ``lambda_local``): L1 between the generated image and the
      LFM's choices replayed on the seed images, both at the feature grid size.

    One discriminator step then one generator step per batch of tasks; Adam
    (lr ``lr``, coupled weight decay ``weight_decay``), learning rate decayed
    linearly to zero over the second half of training.

    With ``y=None``, :meth:`fit` derives pseudo-classes by k-means on an
    unsupervised embedding (CACTUs' recipe, :mod:`metaaug.clustering`), so
    LoFGAN joins the unsupervised family.

    Parameters
    ----------
    k_shot : int, default=3
        Images per training task (the official ``n_sample_train``); >= 2.
        :meth:`generate` accepts any number (>= 2) of seeds.
    eta : float, default=0.5
        Share of base positions fused (the official ``rate``), in (0, 1].
    preset : {"small", "paper"}, default="small"
        Network widths. ``"paper"``: the official 128x128 configuration
        (encoder 32-64-128-128-128, discriminator 64 base channels, 4 residual
        blocks up to 1024 channels; 8x8 LFM grid at 128 px); with the other
        defaults (``k_shot=3``, ``eta=0.5``, ``meta_batch_size=8``, ``lr``,
        ``weight_decay`` and loss weights) it is the paper's setting on
        3x128x128 images, only the run length (``epochs``) is yours. The
        widths do not depend on the image size: at other sizes the encoder
        still downsamples 4 times, so the LFM grid is ``ceil(side / 16)``
        (6x6 at 84 px, 4x4 at 64 px, 2x2 at 28 px), coarser relative to
        small images. ``"small"``: encoder 32-64
        (14x14 grid at 28 px, 16x16 at 32 px), discriminator 16 base
        channels, 2 blocks up to 64; trains on a 2-core CPU. Its grid is
        finer, relative to the image, than the paper's (1/2 of the image
        side against 1/16): with the paper's proportion (encoder 32-64-64,
        7x7 at 28 px) a CPU budget left broken strokes on Omniglot where the
        finer grid draws clean ones (measured in ``docs/lofgan.md``, "The
        small preset's grid").
    gen_channels : tuple of int, optional
        Encoder channels, overriding the preset; the decoder mirrors them. Each
        entry after the first adds a stride-2 downsampling.
    disc_channels, disc_blocks, disc_max_channels : int, optional
        Discriminator base width, residual blocks and width cap, overriding the preset.
    meta_batch_size : int, default=8
        Tasks per training step (the official ``batch_size``).
    epochs : float, default=2.0
        Training length. As in the official data loader, one epoch is as many
        tasks as there are training images, i.e. ``ceil(n_images / meta_batch_size)``
        steps.
    max_time : float, optional
        Stop training after this many seconds.
    lr : float, default=1e-4
        Adam learning rate of both networks.
    weight_decay : float, default=1e-4
        Adam's (L2) weight decay, as the official configuration.
    lambda_cls : float, default=1.0
        Weight of the auxiliary classification losses.
    lambda_local : float, default=0.5
        Weight of the local reconstruction loss.
    lambda_gp : float, default=10.0
        Weight of the gradient penalty on real images.
    n_clusters : int or "auto", default="auto"
        Pseudo-classes when ``y`` is None; ``"auto"`` is ``n_images // 20``
        (20 images per cluster on average, the size of an Omniglot class).
    embedding : "pca", "ae" or callable, default="pca"
        Embedding that k-means clusters when ``y`` is None: whitened PCA of
        the pixels, the bottleneck of a :class:`metaaug.AE` fitted on ``X``, or
        your own ``images -> (N, D)`` function.
    random_state : None, int or Generator
    device : str, default="auto"
    verbose : bool, default=True
        Show a progress bar.

    Attributes
    ----------
    generator_ : LoFGANGenerator
    discriminator_ : LoFGANDiscriminator
    image_shape_ : tuple (C, H, W)
    classes_ : ndarray
        The class labels trained on (the discriminator's class ``i`` is ``classes_[i]``).
    labels_ : ndarray
        The (pseudo-)label of every training image, ``-1`` for images skipped
        because their class had fewer than ``k_shot`` images.
    n_iter_ : int
        Training steps done (each: one discriminator and one generator update).
    fit_time_ : float
        Seconds spent in the training loop.
    loss_curve_ : ndarray of shape (n_iter_,), float32
        The generator's total loss per training step (``loss_terms_["loss_g"]``).
    loss_terms_ : dict of str to ndarray of shape (n_iter_,), float32
        Every loss term per step: the discriminator's total ``loss_d`` and its
        hinge ``adv_d``, class ``cls_d`` and gradient-penalty ``gp`` terms; the
        generator's total ``loss_g`` and its hinge ``adv_g``, class ``cls_g``
        and local-reconstruction ``local`` terms (unweighted).

    Notes
    -----
    Differences from the paper:

    * The base image is drawn per task, not once per batch (the official code
      uses one ``random.choice`` for the whole batch).
    * The ``"small"`` preset fuses on a grid half the image side (14x14 at
      28 px), finer than the paper's 8x8 at 128 px (see ``preset``).
    * The local reconstruction target is computed on the feature grid the LFM
      ran on; the official code hard-codes an 8x8 grid, which gives targets at
      positions that do not correspond to the fused ones for any image size
      other than 128 px.
    * The official fusion module builds a 1x1 conv + batch norm that it never
      uses; it is left out (the generator has 781,443 parameters at the paper
      preset, exactly the official count without that dead layer).
    * Upsampling goes to the encoder's size at each depth (exactly x2 for sizes
      divisible by ``2 ** depth``, the official case), so any image size works.
    * The gradient penalty is, as in the official code, the squared gradient
      w.r.t. the real images of the batch-mean logit of each image's true class
      (class head, not adversarial head), summed and divided by the batch size.
    * The generator step does not run the discriminator on the real images
      (the official code does, and never uses the result), and the
      discriminator losses are summed into one backward pass instead of three;
      the gradients are identical. Discriminator weights get no gradient in the
      generator step (the official code computes and then zeroes them).
    * Works with a batch of a single task (the official ``y.squeeze()`` breaks).
    * Images are [0, 1] at the interface, mapped to the official [-1, 1] inside.
    * Pseudo-labels (``y=None``) are an extension; the paper needs labels.

    Measured quality, downstream gains and speed are in ``docs/lofgan.md``.
    """

    _data_parallel: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "k_shot": [Interval(Integral, 2, None)],
        "eta": [Interval(Real, 0, 1, closed="right")],
        "preset": [Options(*PRESETS)],
        "gen_channels": [None, _Channels()],
        "disc_channels": [None, _POSITIVE_INT],
        "disc_blocks": [None, Interval(Integral, 0, None)],
        "disc_max_channels": [None, _POSITIVE_INT],
        "meta_batch_size": [_POSITIVE_INT],
        "epochs": [Interval(Real, 0, None, closed="neither")],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [_NON_NEGATIVE],
        "lambda_cls": [_NON_NEGATIVE],
        "lambda_local": [_NON_NEGATIVE],
        "lambda_gp": [_NON_NEGATIVE],
        "n_clusters": [Options("auto"), Interval(Integral, 2, None)],
        "embedding": [Options("pca", "ae"), "callable"],
        "random_state": ["random_state"],
        "device": ["device"],
        "verbose": ["boolean"],
    }
    _renamed: ClassVar[dict[str, str]] = {"history_": "loss_terms_"}

    def __init__(
        self,
        k_shot: int = 3,
        eta: float = 0.5,
        preset: str = "small",
        gen_channels: tuple[int, ...] | None = None,
        disc_channels: int | None = None,
        disc_blocks: int | None = None,
        disc_max_channels: int | None = None,
        meta_batch_size: int = 8,
        epochs: float = 2.0,
        max_time: float | None = None,
        lr: float = 1e-4,
        weight_decay: float = 1e-4,
        lambda_cls: float = 1.0,
        lambda_local: float = 0.5,
        lambda_gp: float = 10.0,
        n_clusters: int | str = "auto",
        embedding: str | Callable = "pca",
        random_state: RandomState = None,
        device: str = "auto",
        verbose: bool = True,
    ) -> None:
        self.k_shot = k_shot
        self.eta = eta
        self.preset = preset
        self.gen_channels = gen_channels
        self.disc_channels = disc_channels
        self.disc_blocks = disc_blocks
        self.disc_max_channels = disc_max_channels
        self.meta_batch_size = meta_batch_size
        self.epochs = epochs
        self.max_time = max_time
        self.lr = lr
        self.weight_decay = weight_decay
        self.lambda_cls = lambda_cls
        self.lambda_local = lambda_local
        self.lambda_gp = lambda_gp
        self.n_clusters = n_clusters
        self.embedding = embedding
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    # ----------------------------------------------------------------- config
    def _network_config(self) -> dict:
        """The preset's network sizes, with the ones given as parameters replacing them."""
        config = preset_config(self.preset)
        for key in ("gen_channels", "disc_channels", "disc_blocks", "disc_max_channels"):
            value = getattr(self, key)
            if value is not None:
                config[key] = tuple(int(v) for v in value) if key == "gen_channels" else int(value)
        return config

    def _build_modules(self) -> None:
        config = self._network_config()
        channels = self.image_shape_[0]
        self.generator_ = LoFGANGenerator(channels, config["gen_channels"]).to(self._device())
        self.discriminator_ = LoFGANDiscriminator(
            channels, len(self.classes_), config["disc_channels"], config["disc_blocks"], config["disc_max_channels"]
        ).to(self._device())

    # ------------------------------------------------------------------ labels
    def _embedding(self, X: ImageSource, rng: np.random.Generator) -> str | Callable:
        """``embedding``, with ``"ae"`` replaced by the encoder of a :class:`metaaug.AE` fitted on ``X``."""
        if not isinstance(self.embedding, str) or self.embedding != "ae":
            return self.embedding
        from metaaug.generators.ae import AE

        return AE(random_state=draw_seed(rng), device=self.device, verbose=False).fit(X).encode

    def _labels(self, X: ImageSource, y: Any, rng: np.random.Generator) -> np.ndarray:
        """``y`` as labels, or pseudo-labels of ``X`` when ``y`` is None."""
        if y is not None:
            labels = as_labels(y, len(X)).numpy()
            if len(labels) and labels.min() < 0:
                raise ValueError(
                    f"y must hold class labels >= 0 (LoFGAN marks skipped images with -1), got {int(labels.min())}"
                )
            return labels
        n_clusters = None if self.n_clusters == "auto" else int(self.n_clusters)
        return pseudo_labels(X, n_clusters, self._embedding(X, rng), random_state=rng).numpy()

    # --------------------------------------------------------------------- fit
    def fit(self, X: Any, y: Any = None) -> LoFGAN:
        """Train on images ``X`` with class labels ``y`` (or k-means pseudo-labels when ``y`` is None).

        When a ``torch.distributed`` process group with several processes is
        running (e.g. under ``torchrun``), call ``fit`` on every rank with the
        same parameters: each rank draws ``meta_batch_size / world_size``
        tasks per step from a stream of its own, both networks' gradients are
        averaged across ranks, and all ranks end with the same networks.
        """
        self._validate_params()
        X = as_image_source(X, min_count=2)
        group = current_group()
        rng = group.common_rng(self.random_state, "LoFGAN") if group is not None else check_rng(self.random_state)
        share = group.split(int(self.meta_batch_size), "meta_batch_size", "LoFGAN") if group is not None else None
        self.classes_, self.labels_ = keep_classes(self._labels(X, y, rng), int(self.k_shot))
        config = self._network_config()
        check_image_size(X.shape[2:], len(config["gen_channels"]) - 1, config["disc_blocks"])
        self.image_shape_ = (int(X.shape[1]), int(X.shape[2]), int(X.shape[3]))
        device = self._device()
        keep = torch.from_numpy(self.labels_ >= 0)
        class_ids = torch.from_numpy(np.searchsorted(self.classes_, self.labels_[keep.numpy()]))
        n_steps = max(1, math.ceil(float(self.epochs) * int(keep.sum()) / self.meta_batch_size))
        with torch_seeded(rng), failing_stops_all(group):
            self._init_modules()
            kaiming_init(self.generator_)
            kaiming_init(self.discriminator_)
            if group is not None:
                group.check_parameters([self.generator_, self.discriminator_], "LoFGAN")
                split_torch_streams(group, rng)  # tasks and fusion plans from this rank's stream
            positions = keep.nonzero().flatten()
            sampler = ClassTaskSampler(X.to(device), class_ids.to(device), int(self.k_shot), positions)
            budget, history = train_lofgan(self, sampler, n_steps, group, share)
            if group is not None:
                group.average_buffers([self.generator_, self.discriminator_])
        self.n_iter_ = budget.completed
        self.fit_time_ = budget.elapsed
        self.loss_terms_: dict[str, np.ndarray] = {
            key: np.asarray(values, dtype=np.float32) for key, values in history.items()
        }
        self.loss_curve_ = self.loss_terms_["loss_g"].copy()
        self.generator_.eval()
        self.discriminator_.eval()
        return self

    def _restore_fitted(self, fitted: dict) -> None:
        super()._restore_fitted(fitted)
        # files saved before loss_curve_ existed hold lists under history_ (now loss_terms_)
        self.loss_terms_ = {k: np.asarray(v, dtype=np.float32) for k, v in self.loss_terms_.items()}
        if not hasattr(self, "loss_curve_"):
            self.loss_curve_ = self.loss_terms_["loss_g"].copy()

    # ---------------------------------------------------------------- generate
    def generate(self, seeds: Any, n: int, random_state: RandomState = None) -> torch.Tensor:
        """``n`` new images of the class shown by ``seeds`` (``k >= 2`` images), in [0, 1].

        Each output gets its own base seed, mixing weights and fused positions;
        the seeds are encoded once and all outputs are fused and decoded in
        batches.
        """
        self._check_fitted()
        seeds = as_images(seeds, name="seeds")
        check_image_shape(seeds, self.image_shape_, name="seeds")
        if len(seeds) < 2:
            raise ValueError(f"LoFGAN needs at least 2 seeds (a base and a reference), got {len(seeds)}")
        n = check_count(n, "n")
        device = self._device()
        check_request_size(n, self.image_shape_, "LoFGAN.generate", device)
        gen = self.generator_
        grid = gen.feature_grid(self.image_shape_[1:])
        plan_rng = torch_generator(check_rng(random_state))
        plan = draw_fusion_plan(int(n), len(seeds), grid[0] * grid[1], float(self.eta), generator=plan_rng)
        outputs = []
        with eval_mode(gen), torch.no_grad():
            features = gen.encoder(to_tanh_range(seeds.to(device)))
            for start in range(0, int(n), _GENERATE_CHUNK):
                part = slice(start, start + _GENERATE_CHUNK)
                chunk = FusionPlan(
                    plan.alpha[part].to(device), plan.base_index[part].to(device), plan.base_positions[part].to(device)
                )
                batch = features.unsqueeze(0).expand(len(chunk.alpha), *features.shape)
                images, _ = gen.fuse_and_decode(batch, chunk, self.image_shape_[1:])
                outputs.append(from_tanh_range(images))
        return torch.cat(outputs).cpu()


__all__ = ["LoFGAN", "from_tanh_range", "lofgan_train_step", "to_tanh_range"]
