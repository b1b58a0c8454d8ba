"""PsCo: unsupervised meta-learning by pseudo-supervised contrast on few-shot pseudo-tasks.

Jang, Lee & Shin, "Unsupervised Meta-Learning via Few-shot Pseudo-supervised
Contrastive Learning", ICLR 2023 (official code: github.com/alinlab/PsCo).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.constraints import Interval, Options
from metaaug.data.images import as_images, check_image_shape
from metaaug.data.sources import ImageSource, as_image_source
from metaaug.data.tasks import Task
from metaaug.distributed import DistributedTrainingError, current_group
from metaaug.fewshot.base import predict_one_task
from metaaug.fewshot.evaluation import PoolEvaluation, chunks, iter_checked_tasks, mean_ci95
from metaaug.fewshot.psco_training import adapted_heads, train_on_pseudo_tasks
from metaaug.fewshot.pseudo_tasks import PSEUDO_LABELS
from metaaug.nets.modes import eval_mode
from metaaug.nets.psco import BACKBONES, PsCoNetwork

#: the paper's settings per dataset (official code's defaults and README commands)
PSCO_PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "omniglot": {"backbone": "conv4", "pseudo_shots": 1},
    "miniimagenet": {"backbone": "conv5", "pseudo_shots": 4},
}


def cosine_prototype_logits(prototypes: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of unit ``(..., Q, D)`` queries to the normalised ``(..., W, D)`` class means."""
    return queries @ F.normalize(prototypes, dim=-1).transpose(-1, -2)


def cosine_labels(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Labels of unit ``query`` features: the class whose normalised mean of unit ``support`` features is nearest."""
    prototypes = torch.zeros(int(support_y.max()) + 1, support.shape[1], device=support.device, dtype=support.dtype)
    prototypes.index_add_(0, support_y, support)  # sums: the normalisation makes them means
    return cosine_prototype_logits(prototypes, query).argmax(1)


class PsCo(PoolEvaluation, MetaaugEstimator):
    """Pseudo-supervised Contrast (PsCo): a few-shot learner meta-trained on unlabeled images.

    Every training step treats each image of a batch as one way of a
    pseudo-task. Its query is a strongly augmented view through the online
    encoder (backbone, projector, predictor); its ``pseudo_shots`` support
    shots are keys of earlier batches, held in a queue and computed by a
    momentum encoder (an exponential average of the online one), matched to
    the batch's weakly augmented views by a Sinkhorn transport plan. The
    loss is the supervised-contrastive loss of the pseudo-task plus MoCo's
    loss. At test time a query goes through the predictor, the support
    through the projector, and the query takes the class of the nearest
    normalised class mean (cosine similarity).

    Parameters
    ----------
    backbone : {"auto", "conv4", "conv5"}, default "auto"
        ``"conv4"`` (the paper's Omniglot network: 4 blocks of 64 filters,
        pooling rounded up, 256-d features at 28 px) or ``"conv5"`` (its
        mini-ImageNet network: 5 blocks, 256-d at 84 px); ``"auto"`` picks
        conv4 below 64 px and conv5 from 64 px.
    hidden : int, default 64
        Filters per conv block.
    projection_dim, mlp_hidden : int, default 256, 4096
        Widths of the projector and predictor MLPs (output, hidden).
    momentum : float, default 0.99
        Weight of the old momentum parameters in each update; 0 makes the
        momentum encoder a copy of the online one (no momentum network).
    queue_size : int, default 16384
        Keys kept from previous batches; at least ``batch_size``.
    pseudo_shots : "auto" or int, default "auto"
        Support shots per way of a pseudo-task: the paper's 1 for one-channel
        images (Omniglot), 4 for RGB (mini-ImageNet).
    pseudo_labels : {"sinkhorn", "nearest", "none"}, default "sinkhorn"
        How the shots are chosen: the Sinkhorn plan's largest entries (the
        paper), the most similar keys, or no pseudo-task at all (MoCo alone).
    temperature, supcon_temperature : float, default 0.2, 1.0
        Temperatures of the MoCo loss and of the pseudo-task loss.
    sinkhorn_iterations, sinkhorn_epsilon : int, float, default 3, 0.05
    batch_size : int, default 256
    epochs : int, default 400
    lr : float, default 0.03
        SGD learning rate for a batch of 256 (scaled linearly with
        ``batch_size``), momentum 0.9, annealed to 0 on a cosine schedule
        over the run (over ``max_time`` when that ends it first).
    weight_decay : float, default 5e-4
    finetune_steps : int, default 0
        Test-time adaptation: SGD steps on each task's support set that tune a
        copy of the projector and predictor with the supervised-contrastive
        loss before classifying (the paper's cross-domain protocol uses 50);
        0 classifies with the meta-trained heads.
    finetune_lr : float, default 0.01
    view_transform : callable, optional
        Maps a batch of images ``(n, C, H, W)`` in [0, 1] to new images of the
        same shape (a custom augmentation of that branch); applied
        to the momentum branch's images before their crop, so the pseudo-task
        shots and MoCo keys come from the transformed images. A model with a
        ``view_transform`` cannot be saved.
    max_time : float, optional
        Stop training after this many seconds.
    verbose : bool, default True
    random_state : None, int or numpy Generator
    device : "auto", "cpu" or "cuda"

    Attributes
    ----------
    network_ : PsCoNetwork
        Online and momentum encoders and the queue.
    image_shape_ : tuple
    backbone_ : str
    pseudo_shots_ : int
    pixel_mean_, pixel_std_ : float
        The training images' pixel statistics; inputs are standardised with them.
    n_iter_ : int
    fit_time_ : float
    loss_curve_ : numpy.ndarray

    Notes
    -----
    Differences from the paper:

    * Inputs are standardised with the training pixels' mean and standard
      deviation (the official code: fixed constants per dataset).
    * The crops, flips and colour distortion run batched as affine
      resampling: a crop side that would exceed the image is clipped (not
      rejection-sampled) and the colour jitter has a fixed order.
    * When ``max_time`` ends the run first, the cosine schedule follows the
      elapsed share of ``max_time``.
    * One process: ``fit`` refuses a running ``torch.distributed`` group (the
      official code gathers the keys of all GPUs into the queue).

    The guide page (``docs/psco.md``) has the details and measured results.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "backbone": [Options("auto", *BACKBONES)],
        "hidden": [Interval(Integral, 1, None)],
        "projection_dim": [Interval(Integral, 1, None)],
        "mlp_hidden": [Interval(Integral, 1, None)],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "queue_size": [Interval(Integral, 1, None)],
        "pseudo_shots": [Options("auto"), Interval(Integral, 1, None)],
        "pseudo_labels": [Options(*PSEUDO_LABELS)],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "supcon_temperature": [Interval(Real, 0, None, closed="neither")],
        "sinkhorn_iterations": [Interval(Integral, 1, None)],
        "sinkhorn_epsilon": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None)],
        "epochs": [Interval(Integral, 1, None)],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "finetune_steps": [Interval(Integral, 0, None)],
        "finetune_lr": [Interval(Real, 0, None, closed="neither")],
        "view_transform": [None, "callable"],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "verbose": ["boolean"],
        "random_state": ["random_state"],
        "device": ["device"],
    }

    def __init__(
        self,
        backbone: str = "auto",
        hidden: int = 64,
        projection_dim: int = 256,
        mlp_hidden: int = 4096,
        momentum: float = 0.99,
        queue_size: int = 16384,
        pseudo_shots: str | int = "auto",
        pseudo_labels: str = "sinkhorn",
        temperature: float = 0.2,
        supcon_temperature: float = 1.0,
        sinkhorn_iterations: int = 3,
        sinkhorn_epsilon: float = 0.05,
        batch_size: int = 256,
        epochs: int = 400,
        lr: float = 0.03,
        weight_decay: float = 5e-4,
        finetune_steps: int = 0,
        finetune_lr: float = 0.01,
        view_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        max_time: float | None = None,
        verbose: bool = True,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
        self.backbone = backbone
        self.hidden = hidden
        self.projection_dim = projection_dim
        self.mlp_hidden = mlp_hidden
        self.momentum = momentum
        self.queue_size = queue_size
        self.pseudo_shots = pseudo_shots
        self.pseudo_labels = pseudo_labels
        self.temperature = temperature
        self.supcon_temperature = supcon_temperature
        self.sinkhorn_iterations = sinkhorn_iterations
        self.sinkhorn_epsilon = sinkhorn_epsilon
        self.batch_size = batch_size
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.finetune_steps = finetune_steps
        self.finetune_lr = finetune_lr
        self.view_transform = view_transform
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device

    @classmethod
    def paper_preset(cls, dataset: str, **params: Any) -> PsCo:
        """An unfitted PsCo with the paper's setting for ``dataset``.

        ``"omniglot"``: conv4, 1 pseudo-shot per way; ``"miniimagenet"`` (also
        for other 84 px RGB sets): conv5, 4 pseudo-shots. Both: batch 256,
        400 epochs, SGD lr 0.03 with cosine decay and weight decay 5e-4,
        momentum 0.99, queue 16384, temperatures 0.2 and 1, 3 Sinkhorn
        iterations at epsilon 0.05 (the official code's defaults and its
        README's commands). ``params`` replace any of them.
        """
        key = dataset.lower().replace("-", "").replace("_", "")
        if key not in PSCO_PAPER_PRESETS:
            raise ValueError(f"no PsCo preset for {dataset!r}; presets: {sorted(PSCO_PAPER_PRESETS)}")
        return cls(**{**PSCO_PAPER_PRESETS[key], **params})

    # ------------------------------------------------------------------ fitting
    def _validate_relations(self) -> None:
        if self.queue_size < self.batch_size:
            raise ValueError(
                f"PsCo: queue_size={self.queue_size} is smaller than batch_size={self.batch_size}; the queue "
                "must hold at least one batch of keys"
            )
        shots = self.pseudo_shots if isinstance(self.pseudo_shots, Integral) else 4
        if shots > self.queue_size:
            raise ValueError(f"PsCo: pseudo_shots={shots} exceeds queue_size={self.queue_size}")

    def _build_modules(self) -> None:
        self.network_ = PsCoNetwork(
            self.backbone_,
            self.image_shape_,  # type: ignore[arg-type]
            self.hidden,
            self.projection_dim,
            self.mlp_hidden,
            self.queue_size,
        )

    def fit(self, X: Any, y: Any = None) -> PsCo:
        """Meta-train on unlabeled images ``X`` (``y`` is ignored).

        Runs ``epochs`` passes of ``batch_size`` images, or until
        ``max_time`` seconds, with a progress bar when ``verbose``. ``X`` is
        anything :func:`metaaug.data.as_image_source` accepts (arrays,
        tensors, Datasets, folders), float in [0, 1] or uint8.

        Raises
        ------
        DistributedTrainingError
            When a ``torch.distributed`` group with several processes is
            running: PsCo trains in one process.
        """
        self._validate_params()
        if current_group() is not None:
            raise DistributedTrainingError(
                "PsCo trains in one process: its queue and Sinkhorn matching are not split across ranks; "
                "fit it outside torchrun (or in a group of one process)"
            )
        source = as_image_source(X, name="X", min_count=2)
        shape = tuple(int(s) for s in source.shape[1:])
        rng = check_rng(self.random_state)
        for name in self._fitted_names():
            delattr(self, name)
        self.image_shape_ = shape
        self.backbone_ = self.backbone if self.backbone != "auto" else ("conv4" if min(shape[1:]) < 64 else "conv5")
        self.pseudo_shots_ = int(self.pseudo_shots) if self.pseudo_shots != "auto" else (1 if shape[0] == 1 else 4)
        device = self._device()
        with torch_seeded(rng):
            sample = source[torch.randperm(len(source))[:4096]]
            self.pixel_mean_ = float(sample.mean())
            self.pixel_std_ = float(sample.std().clamp_min(1e-3))
            self._init_modules()
            self.network_.to(device)
            budget, curve = self._train(source.to(device))
        self.network_.eval()
        self.loss_curve_ = np.asarray(curve, dtype=np.float32)
        self.n_iter_ = budget.completed
        self.fit_time_ = budget.elapsed
        return self

    def _standardise(self, images: torch.Tensor) -> torch.Tensor:
        return (images - self.pixel_mean_) / self.pixel_std_

    def _train(self, data: ImageSource) -> tuple[TrainingBudget, list[float]]:
        return train_on_pseudo_tasks(self, data)

    # --------------------------------------------------------------- inference
    def _check_images(self, images: Any, name: str) -> torch.Tensor:
        X = as_images(images, name=name)
        check_image_shape(X, self.image_shape_, name=name)
        return X

    def embed(self, images: Any, batch_size: int = 1024) -> torch.Tensor:
        """Backbone features of ``images`` (``(N, D)`` on the CPU), batched, no grad."""
        self._check_fitted()
        X = self._check_images(images, "images")
        device = self._device()
        backbone = self.network_.backbone
        with torch.inference_mode(), eval_mode(backbone):
            return torch.cat(
                [
                    backbone(self._standardise(X[i : i + batch_size].to(device))).cpu()
                    for i in range(0, len(X), batch_size)
                ]
            )

    def encode(self, images: Any) -> torch.Tensor:
        """The same as :meth:`embed`: lets a fitted PsCo be CACTUs' ``embedding``."""
        return self.embed(images)

    def _heads(
        self, images: torch.Tensor, projector: nn.Module | None = None, predictor: nn.Module | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Support-side (projector) and query-side (predictor) unit features of standardised images.

        ``projector`` and ``predictor`` replace the fitted heads (test-time adaptation).
        """
        projector = self.network_.projector if projector is None else projector
        predictor = self.network_.predictor if predictor is None else predictor
        projected = projector(self.network_.backbone(images))
        return F.normalize(projected, dim=1), F.normalize(predictor(projected), dim=1)

    def _classify(self, sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor) -> torch.Tensor:
        """Predicted labels of standardised ``qx`` from the standardised support ``sx, sy``."""
        heads: tuple[nn.Module, nn.Module] | tuple[None, None] = (None, None)
        if self.finetune_steps > 0:
            with torch.inference_mode(False), torch.enable_grad():
                heads = adapted_heads(self, sx.clone(), sy.clone())
        with torch.inference_mode(), eval_mode(self.network_):
            support, query = self._heads(torch.cat([sx, qx]), *heads)
            return cosine_labels(support[: len(sx)], sy, query[len(sx) :])

    def _predict_task(self, sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor) -> torch.Tensor:
        return self._classify(self._standardise(sx), sy, self._standardise(qx))

    def predict(self, support_x: Any, support_y: Any, query_x: Any) -> torch.Tensor:
        """Labels (int64, CPU) of ``query_x`` given one labeled support set."""
        return predict_one_task(self, support_x, support_y, query_x)

    def evaluate(self, tasks: Iterable[Task] | Task, chunk: int = 32) -> tuple[float, float]:
        """Mean query accuracy over ``tasks`` (in [0, 1]) and its 95% CI half-width.

        ``tasks`` is a list or any iterable of tasks (an iterator is read a
        group of ``chunk`` tasks at a time). Without test-time adaptation the
        images of a group go through the network together.
        """
        self._check_fitted()
        accs: list[float] = []
        device = self._device()
        for group in chunks(iter_checked_tasks(tasks), chunk):
            if not accs:
                check_image_shape(group[0].support_x, self.image_shape_, name="task images")
            if self.finetune_steps > 0:
                for task in group:
                    predicted = self.predict(task.support_x, task.support_y, task.query_x)
                    accs.append(float((predicted == task.query_y.cpu()).float().mean()))
                continue
            images = torch.cat([x for t in group for x in (t.support_x, t.query_x)]).to(device)
            with torch.inference_mode(), eval_mode(self.network_):
                support, query = self._heads(self._standardise(images))
            offset = 0
            for task in group:
                n_support, n_query = len(task.support_x), len(task.query_x)
                queries = query[offset + n_support : offset + n_support + n_query]
                predicted = cosine_labels(support[offset : offset + n_support], task.support_y.to(device), queries)
                accs.append(float((predicted.cpu() == task.query_y.cpu()).float().mean()))
                offset += n_support + n_query
        return mean_ci95(accs)

    def _pool_applies(self) -> bool:
        return self.finetune_steps == 0  # adapted heads change per task

    def _pool_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._heads(self._standardise(images))

    def _pool_logits(self, prototypes: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        return cosine_prototype_logits(prototypes, queries)

    def _pool_modules(self) -> list[torch.nn.Module]:
        return [self.network_]
