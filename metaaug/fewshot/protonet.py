"""Prototypical Networks (Snell et al., 2017) on the conv4 backbone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from metaaug.data.images import as_images, check_image_shape
from metaaug.data.tasks import Task
from metaaug.fewshot.base import META_TRAINING_CONSTRAINTS, FewShotClassifier
from metaaug.fewshot.evaluation import PoolEvaluation, chunks, iter_checked_tasks, mean_ci95
from metaaug.fewshot.maml import _preset_params
from metaaug.nets.conv4 import Conv4
from metaaug.nets.modes import eval_mode


def pooled_prototype_logits(prototypes: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Negative squared Euclidean distances of ``(T, Q, D)`` queries to ``(T, W, D)`` class means."""
    return -torch.cdist(queries, prototypes).pow(2)


def prototype_logits(support: torch.Tensor, support_y: torch.Tensor, query: torch.Tensor, n_ways: int) -> torch.Tensor:
    """Negative squared Euclidean distances from query features to class means."""
    one_hot = F.one_hot(support_y, n_ways).to(support.dtype)
    prototypes = (one_hot.T @ support) / one_hot.sum(0).unsqueeze(1)
    return -torch.cdist(query, prototypes).pow(2)


#: LASIUM's ProtoNet settings per dataset (see :meth:`ProtoNetClassifier.paper_preset`)
PROTONET_PAPER_PRESETS: dict[str, dict[str, Any]] = {
    "omniglot": {"n_ways": 5, "k_shot": 1, "k_query": 5, "meta_batch_size": 4, "lr": 1e-3, "hidden": 64},
    "miniimagenet": {"n_ways": 5, "k_shot": 1, "k_query": 5, "meta_batch_size": 4, "lr": 1e-3, "hidden": 32},
}
PROTONET_PAPER_PRESETS["celeba"] = dict(PROTONET_PAPER_PRESETS["miniimagenet"])


class ProtoNetClassifier(PoolEvaluation, FewShotClassifier):
    """Prototypical Networks meta-trained on any task sampler.

    Parameters
    ----------
    n_ways, k_shot, k_query : int
        Layout of the meta-training tasks. ``k_query=5`` query images per
        class, LASIUM's K_val in meta-training (Tables 5-6); evaluate on tasks
        with 15, as the papers do (``LabeledTaskSampler.sample_tasks`` and
        ``iter_tasks`` default to 15).
    n_iterations : int
        Meta-updates (each on ``meta_batch_size`` tasks).
    meta_batch_size : int
        Tasks per update (LASIUM's setting: 4).
    lr : float
        Adam learning rate (1e-3).
    hidden : int
        Filters per conv4 block (64).
    max_time : float, optional
        Stop meta-training after this many seconds.
    verbose : bool
        Show a progress bar.
    random_state : None, int or Generator
    device : "auto", "cpu" or "cuda"
    warm_start : bool
        If True, ``fit`` on a fitted model continues meta-training from its
        current weights instead of starting over (sklearn's convention).
    precision : {"fp32", "bf16", "fp16"}, default "fp32"
        Arithmetic of the meta-training forward passes: ``"bf16"`` runs them
        under bfloat16 autocast (CPU and CUDA), ``"fp16"`` under float16
        autocast with loss scaling (CUDA only). Weights stay float32;
        prediction and evaluation run in float32.
    prefetch : bool, default True
        Sample the next meta-batches in a background thread while the network
        trains. The tasks and the result are the same either way.

    Notes
    -----
    Differences from the paper: none in the model; the papers train Omniglot
    ProtoNets with 60-way episodes, here the training layout is whatever the
    sampler is asked for (``n_ways``), as in LASIUM's tables.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = dict(META_TRAINING_CONSTRAINTS)

    def __init__(
        self,
        n_ways: int = 5,
        k_shot: int = 1,
        k_query: int = 5,
        n_iterations: int = 2000,
        meta_batch_size: int = 4,
        lr: float = 1e-3,
        hidden: int = 64,
        max_time: float | None = None,
        verbose: bool = True,
        random_state: Any = None,
        device: str = "auto",
        warm_start: bool = False,
        precision: str = "fp32",
        prefetch: bool = True,
    ) -> None:
        self.n_ways = n_ways
        self.k_shot = k_shot
        self.k_query = k_query
        self.n_iterations = n_iterations
        self.meta_batch_size = meta_batch_size
        self.lr = lr
        self.hidden = hidden
        self.max_time = max_time
        self.verbose = verbose
        self.random_state = random_state
        self.device = device
        self.warm_start = warm_start
        self.precision = precision
        self.prefetch = prefetch

    @classmethod
    def paper_preset(cls, dataset: str, **params: Any) -> ProtoNetClassifier:
        """An unfitted classifier with LASIUM's ProtoNet setting for ``dataset``.

        LASIUM (Khodadadeh, Ghadar, Bölöni & Shah, ICLR 2021, appendix Tables
        5 and 6, and the authors' code): 5-way 1-shot meta-training tasks with
        ``k_query=5`` query images per class (K_val in meta-training), 4 tasks
        per meta-batch, Adam with lr 1e-3; conv4 with 64 filters for Omniglot
        (``"omniglot"``), 32 for the 84 px RGB sets (``"miniimagenet"``,
        ``"celeba"``). Evaluate on tasks with ``k_query=15``. ``n_iterations``
        and ``max_time`` are not part of the preset.

        Parameters
        ----------
        dataset : {"omniglot", "miniimagenet", "celeba"}
            Whose setting ("mini-imagenet" and "mini_imagenet" are accepted).
        **params
            Constructor parameters that replace the preset's.

        Returns
        -------
        ProtoNetClassifier
            Unfitted.
        """
        return cls(**_preset_params(PROTONET_PAPER_PRESETS, dataset, params))

    def _build_modules(self) -> None:
        channels, height, width = self.image_shape_
        self.model_ = Conv4(channels, self.hidden, (height, width))

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model_.parameters(), lr=self.lr)

    def _meta_loss(self, tasks: list[Task]) -> torch.Tensor:
        # one forward pass per task: batch-norm statistics per task (as in the papers), and on the CPU
        # 1.3-1.4x faster per meta-batch than one pass over the whole meta-batch (docs/benchmarks.md)
        losses = []
        for task in tasks:
            features = self.model_(torch.cat([task.support_x, task.query_x]))
            support, query = features[: len(task.support_y)], features[len(task.support_y) :]
            losses.append(F.cross_entropy(prototype_logits(support, task.support_y, query, task.n_ways), task.query_y))
        return torch.stack(losses).mean()

    def _predict_task(self, sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():  # labels only leave here; embed() keeps no_grad, its features may be trained on
            features = self.model_(torch.cat([sx, qx]))
            logits = prototype_logits(features[: len(sx)], sy, features[len(sx) :], int(sy.max()) + 1)
        return logits.argmax(1)

    def embed(self, images: Any, batch_size: int = 1024) -> torch.Tensor:
        """Conv4 features of ``images`` (``(N, D)`` on CPU), batched, no grad."""
        self._check_fitted()
        X = as_images(images, name="images")
        check_image_shape(X, self.image_shape_, name="images")
        device = self._device()
        with torch.no_grad(), eval_mode(self.model_):
            return torch.cat(
                [self.model_(X[i : i + batch_size].to(device)).cpu() for i in range(0, len(X), batch_size)]
            )

    def evaluate(self, tasks: Iterable[Task] | Task, chunk: int = 32, max_pixels: int = 2**19) -> tuple[float, float]:
        """Mean query accuracy and 95% CI, embedding up to ``chunk`` tasks per forward pass.

        ``tasks`` is a list or any iterable of tasks; an iterator (e.g.
        ``sampler.iter_tasks(1000, ...)``) is read one group of tasks at a
        time, so memory does not grow with the number of tasks. A group also
        stops adding tasks once their images hold ``max_pixels`` pixels (32
        tasks of 80 28x28 images are 2 million, one task of 80 84x84 images
        0.56 million), and its images go through the network at most
        ``max_pixels / 4`` pixels at a time (the network is in evaluation
        mode, so this changes no feature), which bounds the activations'
        memory at large image sizes.
        """
        self._check_fitted()
        accs: list[float] = []
        device = self._device()
        with torch.inference_mode(), eval_mode(self.model_):
            for group in chunks(iter_checked_tasks(tasks), chunk, max_pixels):
                if not accs:
                    check_image_shape(group[0].support_x, self.image_shape_, name="task images")
                images = torch.cat([x for t in group for x in (t.support_x, t.query_x)]).to(device)
                per_pass = max(1, max_pixels // (4 * images.shape[-2] * images.shape[-1]))
                features = torch.cat([self.model_(images[i : i + per_pass]) for i in range(0, len(images), per_pass)])
                sizes = [n for t in group for n in (len(t.support_x), len(t.query_x))]
                parts = features.split(sizes)
                for i, task in enumerate(group):
                    sy = task.support_y.to(device)
                    logits = prototype_logits(parts[2 * i], sy, parts[2 * i + 1], int(sy.max()) + 1)
                    accs.append(float((logits.argmax(1).cpu() == task.query_y.cpu()).float().mean()))
        return mean_ci95(accs)

    def _pool_features(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model_(images)
        return features, features

    def _pool_logits(self, prototypes: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        return pooled_prototype_logits(prototypes, queries)

    def _pool_modules(self) -> list[torch.nn.Module]:
        return [self.model_]
