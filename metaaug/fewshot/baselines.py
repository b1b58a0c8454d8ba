"""Baselines every few-shot table reports: pixel nearest neighbour, training from scratch."""

from __future__ import annotations

from numbers import Integral, Real
from typing import Any, ClassVar

import torch

from metaaug._random import check_rng, torch_seeded
from metaaug.constraints import Interval
from metaaug.fewshot.adaptation import finetune_and_predict
from metaaug.fewshot.base import FewShotClassifier, check_support
from metaaug.nets.conv4 import Conv4Classifier
from metaaug.nets.layout import to_channels_last


class _NoMetaTraining(FewShotClassifier):
    """A classifier whose ``fit`` only records the image shape (no meta-training)."""

    def fit(self, sampler: Any = None, y: Any = None) -> _NoMetaTraining:
        """Record the image shape from ``sampler`` / ``(X, y)`` if given; nothing is learned."""
        self._validate_params()
        shape: tuple[int, ...] | None = None
        if sampler is not None and hasattr(sampler, "sample_tasks"):
            task = sampler.sample_tasks(1, n_ways=1, k_shot=1, k_query=0, random_state=0)[0]
            shape = tuple(task.support_x.shape[1:])
        elif sampler is not None:
            from metaaug.data.images import as_images

            shape = tuple(as_images(sampler).shape[1:])
        self.image_shape_ = shape  # type: ignore[assignment]  # None when fitted without data
        return self


class PixelNearestNeighbor(_NoMetaTraining):
    """1-nearest-neighbour on raw pixels (Euclidean), over all support images."""

    def __init__(self) -> None:
        pass

    def predict(self, support_x: Any, support_y: Any, query_x: Any) -> torch.Tensor:
        self._check_fitted()
        sx, sy, qx = check_support(support_x, support_y, query_x)
        dist = torch.cdist(qx.flatten(1), sx.flatten(1))
        return sy[dist.argmin(1)]


class ScratchClassifier(_NoMetaTraining):
    """Training from scratch: a freshly initialised conv4 + linear head fine-tuned on the support set.

    Every task starts from the same random initialisation (drawn from
    ``random_state``) and takes ``steps`` SGD steps of size ``lr`` on its
    support set, like MAML's evaluation without meta-training.

    Parameters
    ----------
    n_ways : int, default 5
        Outputs of the linear head (ways of the evaluated tasks).
    steps : int, default 50
        SGD steps on the support set of each task (MAML's evaluation setting).
    lr : float, default 0.4
        SGD step size (LASIUM's inner learning rate on Omniglot).
    hidden : int, default 64
        Filters per conv4 block.
    random_state : None, int or Generator
        Seeds the shared initialisation.
    device : "auto", "cpu", "cuda", ...
        Where the fine-tuning runs.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "n_ways": [Interval(Integral, 1, None)],
        "steps": [Interval(Integral, 1, None)],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "hidden": [Interval(Integral, 1, None)],
        "random_state": ["random_state"],
        "device": ["device"],
    }

    def __init__(
        self,
        n_ways: int = 5,
        steps: int = 50,
        lr: float = 0.4,
        hidden: int = 64,
        random_state: Any = None,
        device: str = "auto",
    ) -> None:
        self.n_ways = n_ways
        self.steps = steps
        self.lr = lr
        self.hidden = hidden
        self.random_state = random_state
        self.device = device

    def predict(self, support_x: Any, support_y: Any, query_x: Any) -> torch.Tensor:
        self._check_fitted()
        self._validate_params()  # parameters set after fit are used here, not in fit
        sx, sy, qx = check_support(support_x, support_y, query_x)
        n_ways = max(self.n_ways, int(sy.max()) + 1)
        with torch_seeded(check_rng(self.random_state)):
            model = to_channels_last(Conv4Classifier(n_ways, sx.shape[1], self.hidden, (sx.shape[2], sx.shape[3])))
        device = self._device()
        model.to(device)
        return finetune_and_predict(model, sx.to(device), sy.to(device), qx.to(device), self.lr, self.steps).cpu()


def untrained_protonet(image_shape: tuple[int, int, int], random_state: Any = None) -> Any:
    """A ProtoNetClassifier with random conv4 weights (the 'untrained backbone' reference)."""
    from metaaug.fewshot.protonet import ProtoNetClassifier

    clf = ProtoNetClassifier(random_state=random_state, verbose=False)
    clf.image_shape_ = tuple(image_shape)
    with torch_seeded(check_rng(random_state)):
        clf._init_modules()
    clf.model_.to(clf._device()).eval()
    return clf
