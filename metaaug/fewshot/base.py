"""Shared machinery of the few-shot classifiers: fit on a sampler, predict, evaluate."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch

from metaaug._random import check_rng, draw_seed, torch_seeded
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.constraints import Interval, Options
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.data.prefetch import Prefetcher
from metaaug.data.tasks import LabeledTaskSampler, Task
from metaaug.distributed import check_distinct_tasks, current_group
from metaaug.fewshot.evaluation import mean_ci95, task_accuracies

# constraints of the parameters every meta-learned classifier shares
META_TRAINING_CONSTRAINTS: dict[str, list[Any]] = {
    "n_ways": [Interval(Integral, 2, None)],  # one way has nothing to tell apart: the loss is 0
    "k_shot": [Interval(Integral, 1, None)],
    "k_query": [Interval(Integral, 1, None)],
    "n_iterations": [Interval(Integral, 1, None)],
    "meta_batch_size": [Interval(Integral, 1, None)],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "hidden": [Interval(Integral, 1, None)],
    "max_time": [None, Interval(Real, 0, None, closed="neither")],
    "verbose": ["boolean"],
    "random_state": ["random_state"],
    "device": ["device"],
    "warm_start": ["boolean"],
    "precision": [Options("fp32", "bf16", "fp16")],
    "prefetch": ["boolean"],
}


def as_sampler(data: Any, y: Any = None) -> Any:
    """A task sampler from a sampler, labeled images ``(X, y)``, or a Dataset or folder that carries labels."""
    if hasattr(data, "sample_tasks"):
        if y is not None:
            raise ValueError("pass either a task sampler or (X, y), not a sampler and y")
        return data
    if y is None:
        if isinstance(data, (np.ndarray, torch.Tensor)) or data is None:
            raise ValueError(
                "fit needs a task sampler (an object with sample_tasks, e.g. LASIUM or "
                "LabeledTaskSampler) or labeled images (X, y)"
            )
        return LabeledTaskSampler(X=data)  # a labeled Dataset or folder: it says why when it has no labels
    return LabeledTaskSampler(X=data, y=y)


def check_support(support_x: Any, support_y: Any, query_x: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate one episode given as raw arrays."""
    sx = as_images(support_x, name="support_x")
    sy = as_labels(support_y, len(sx), name="support_y")
    qx = as_images(query_x, name="query_x")
    if sx.shape[1:] != qx.shape[1:]:
        raise ValueError(f"support_x images {tuple(sx.shape[1:])} and query_x images {tuple(qx.shape[1:])} differ")
    n_ways = int(sy.max()) + 1
    if int(sy.min()) < 0 or len(torch.unique(sy)) != n_ways:
        raise ValueError(f"support_y must use every label 0..n_ways-1, got {sorted(torch.unique(sy).tolist())}")
    return sx, sy, qx


def predict_one_task(estimator: Any, support_x: Any, support_y: Any, query_x: Any) -> torch.Tensor:
    """``estimator._predict_task`` on one checked episode, on the estimator's device; labels on the CPU.

    Randomness inside (e.g. test-time adaptation) is seeded from the
    estimator's ``random_state``, so a prediction is repeatable.
    """
    estimator._check_fitted()
    sx, sy, qx = check_support(support_x, support_y, query_x)
    check_image_shape(sx, estimator.image_shape_, name="support_x")
    device = estimator._device()
    with torch_seeded(check_rng(estimator.random_state)):
        return estimator._predict_task(sx.to(device), sy.to(device), qx.to(device)).cpu()


class FewShotClassifier(MetaaugEstimator):
    """Base of the meta-learned classifiers (ProtoNets, MAML).

    Subclasses implement ``_build_modules`` (setting ``model_``),
    ``_make_optimizer``, ``_meta_loss(tasks)`` and ``_predict_task``.
    """

    _renamed: ClassVar[dict[str, str]] = {"n_iterations_done_": "n_iter_"}
    _data_parallel: ClassVar[bool] = True
    image_shape_: tuple[int, ...]
    n_iter_: int
    fit_time_: float
    loss_curve_: np.ndarray
    task_wait_time_: float

    def _task_stream(
        self, sampler: Any, rng: np.random.Generator, meta_batch_size: int, chunk: int
    ) -> Iterator[list[list[Task]]]:
        """Endless chunks of ``chunk`` meta-batches, each one call to the sampler."""
        while True:
            tasks = sampler.sample_tasks(
                chunk * meta_batch_size,
                n_ways=self.n_ways,
                k_shot=self.k_shot,
                k_query=self.k_query,
                random_state=draw_seed(rng),
            )
            yield [tasks[start : start + meta_batch_size] for start in range(0, len(tasks), meta_batch_size)]

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        precision = getattr(self, "precision", "fp32")
        if precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)

    def _validate_relations(self) -> None:
        if getattr(self, "precision", "fp32") == "fp16" and self._device().type != "cuda":
            raise ValueError(
                f"{type(self).__name__}: precision='fp16' needs a CUDA device (the CPU runs float16 slowly "
                "and without loss scaling); use precision='bf16' on the CPU"
            )

    def fit(self, sampler: Any, y: Any = None) -> FewShotClassifier:
        """Meta-train on tasks from ``sampler`` (or from labeled images ``(X, y)``).

        Runs ``n_iterations`` meta-updates of ``meta_batch_size`` tasks each, or
        until ``max_time`` seconds, with a tqdm progress bar. With
        ``warm_start=True`` a fitted model continues from its current weights
        (fresh optimizer state); ``n_iter_``, ``fit_time_`` and
        ``loss_curve_`` then accumulate over the calls. With ``prefetch=True``
        the next tasks are sampled in a background thread while the network
        trains (same tasks, same result). ``task_wait_time_`` is the part of
        ``fit_time_`` the training loop spent waiting for tasks.

        When a ``torch.distributed`` process group with several processes is
        running (e.g. under ``torchrun``), call ``fit`` on every rank with the
        same parameters: each rank draws ``meta_batch_size / world_size``
        tasks per step from a stream of its own, gradients are averaged
        across ranks, and all ranks end with the same network (see the
        distributed guide).
        """
        self._validate_params()
        sampler = as_sampler(sampler, y)
        group = current_group()
        name = type(self).__name__
        rng = group.common_rng(self.random_state, name) if group is not None else check_rng(self.random_state)
        share = (
            group.split(int(self.meta_batch_size), "meta_batch_size", name)
            if group is not None
            else self.meta_batch_size
        )
        probe = sampler.sample_tasks(
            1, n_ways=self.n_ways, k_shot=self.k_shot, k_query=self.k_query, random_state=draw_seed(rng)
        )[0]
        image_shape = tuple(int(s) for s in probe.support_x.shape[1:])
        resume = bool(getattr(self, "warm_start", False)) and hasattr(self, "model_")
        if resume and image_shape != self.image_shape_:
            raise ValueError(
                f"warm_start: the model was fitted on images {self.image_shape_}, the sampler gives {image_shape}"
            )
        previous: tuple[int, float, np.ndarray, float] = (
            (self.n_iter_, self.fit_time_, self.loss_curve_, float(getattr(self, "task_wait_time_", 0.0)))
            if resume
            else (0, 0.0, np.zeros(0, dtype=np.float32), 0.0)
        )
        self.image_shape_ = image_shape
        if resume:  # new tasks, not a replay of the first call's stream
            rng = np.random.default_rng([draw_seed(rng), int(previous[0])])
        device = self._device()
        losses: list[float] = []
        task_bytes = sum(t.element_size() * t.nelement() for t in (probe.support_x, probe.query_x))
        # one sampler call per chunk of up to 8 meta-batches and ~64 MB: small enough that the first wait is
        # short and a prefetched chunk is ready in time, large enough to batch the sampler's work
        chunk = int(max(1, min(8, (64 * 2**20) // max(1, task_bytes * share))))
        scaler = torch.amp.GradScaler(device.type) if getattr(self, "precision", "fp32") == "fp16" else None
        with torch_seeded(rng), contextlib.ExitStack() as stack:
            if not resume:
                self._init_modules()
            self.model_.to(device).train()
            optimizer = self._make_optimizer()
            stream_rng = rng
            if group is not None:
                group.check_parameters([self.model_], name)
                stream_rng = group.rank_rng(rng)
            budget = TrainingBudget(self.n_iterations, self.max_time, name, verbose=self.verbose, group=group)
            chunks: Iterator[list[list[Task]]] = self._task_stream(sampler, stream_rng, share, chunk)
            if getattr(self, "prefetch", False):
                chunks = stack.enter_context(Prefetcher(chunks))
            if group is not None:
                stack.enter_context(group.failing_stops_all())
            batches: Iterator[list[Task]] = (batch for batches in chunks for batch in batches)
            waited = 0.0
            for step in budget:
                start = time.perf_counter()
                tasks = [t.to(device) for t in next(batches)]
                waited += time.perf_counter() - start
                if group is not None and step == 0:
                    check_distinct_tasks(group, tasks[0], name)
                optimizer.zero_grad(set_to_none=True)
                with self._autocast(device):
                    loss = self._meta_loss(tasks)
                (scaler.scale(loss) if scaler is not None else loss).backward()
                value = float(loss.detach())
                if group is not None:
                    (value,) = group.all_reduce_gradients(self.model_.parameters(), values=[value])
                if scaler is not None:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                losses.append(budget.track(value))
                if len(losses) % 20 == 0:
                    budget.set_postfix(loss=float(np.mean(losses[-20:])))
            if group is not None:
                group.average_buffers([self.model_])
        self.model_.eval()
        self.n_iter_ = previous[0] + budget.completed
        self.fit_time_ = previous[1] + budget.elapsed
        self.loss_curve_ = np.concatenate([previous[2], np.asarray(losses, dtype=np.float32)])
        self.task_wait_time_ = (previous[3] if resume else 0.0) + waited
        return self

    def predict(self, support_x: Any, support_y: Any, query_x: Any) -> torch.Tensor:
        """Labels (int64, CPU) of ``query_x`` given one labeled support set."""
        return predict_one_task(self, support_x, support_y, query_x)

    def evaluate(self, tasks: Iterable[Task] | Task) -> tuple[float, float]:
        """Mean query accuracy over ``tasks`` (in [0, 1]) and its 95% CI half-width.

        ``tasks`` is a list of tasks or any iterable of them; an iterator such
        as ``sampler.iter_tasks(1000, ...)`` is read one task at a time, so
        memory does not grow with the number of tasks.
        """
        self._check_fitted()
        return mean_ci95(task_accuracies(self.predict, tasks))
