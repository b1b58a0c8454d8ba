"""Feature spaces for generation metrics, computed offline.

Every metric in :mod:`metaaug.metrics` compares images in a feature space. The
papers use ImageNet networks (Inception-v3 for FID, AlexNet for LPIPS) that
are downloaded at run time; here the default space is a conv4 classifier
trained inside the library on the *training* classes
(:class:`DomainFeatureExtractor`). Fit it once, save it and load it again
(``extractor.save(path)`` / ``metaaug.load(path)``) so every comparison uses
the same space.

An ``embed`` argument anywhere in this package may be

* a callable mapping an image batch ``(N, C, H, W)`` to features ``(N, D)``
  (an ``nn.Module``, a function, a :class:`DomainFeatureExtractor`), or
* an object with an ``embed(images)`` method (e.g.
  :class:`metaaug.fewshot.ProtoNetClassifier`).

:func:`compute_features` runs it in batches, without gradients and with
modules in eval mode (their previous mode restored).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment import random_shift
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.constraints import Interval
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.nets.conv4 import Conv4Classifier
from metaaug.nets.layout import to_channels_last
from metaaug.nets.modes import eval_mode

Embedder = Callable[[torch.Tensor], torch.Tensor] | Any


def _embed_function(embed: Embedder) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(embed, nn.Module) or (callable(embed) and not hasattr(embed, "embed")):
        return embed
    method = getattr(embed, "embed", None)
    if callable(method):
        return method
    raise ValueError(
        f"embed must be a callable images -> features or an object with an embed(images) method, "
        f"got {type(embed).__name__}"
    )


def _module_device(module: nn.Module) -> torch.device | None:
    for tensor in module.parameters():
        return tensor.device
    for buffer in module.buffers():
        return buffer.device
    return None


@torch.no_grad()
def compute_features(embed: Embedder, images: Any, *, batch_size: int = 512, name: str = "images") -> torch.Tensor:
    """Embed ``images`` in batches; returns float32 CPU features ``(N, D)``.

    Parameters
    ----------
    embed : callable or object with ``embed``
        The feature map (see the module docstring).
    images : array-like
        Any image input :func:`metaaug.data.as_images` accepts.
    batch_size : int
        Images per forward pass.
    name : str
        How error messages refer to ``images``.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    images = as_images(images, name=name)
    function = _embed_function(embed)
    module = function if isinstance(function, nn.Module) else None
    device = _module_device(module) if module is not None else None
    chunks = []
    with eval_mode(module):
        for start in range(0, len(images), int(batch_size)):
            batch = images[start : start + int(batch_size)]
            if device is not None:
                batch = batch.to(device)
            features = function(batch)
            if not isinstance(features, torch.Tensor):
                features = torch.as_tensor(np.asarray(features))
            chunks.append(features.detach().float().reshape(len(batch), -1).cpu())
    features = torch.cat(chunks)
    if not bool(torch.isfinite(features).all()):
        raise ValueError(f"the feature map returned NaN or infinite features for {name}")
    return features


def as_features(features: Any, name: str) -> torch.Tensor:
    """A float64 CPU ``(N, D)`` tensor from a tensor or array of features."""
    if isinstance(features, np.ndarray):
        features = torch.from_numpy(np.asarray(features))
    if not isinstance(features, torch.Tensor):
        raise ValueError(f"{name} must be a (N, D) tensor or array of features, got {type(features).__name__}")
    if not (features.is_floating_point() or features.dtype in (torch.int32, torch.int64)):
        raise ValueError(f"{name} must hold real numbers, got dtype {features.dtype}")
    return features.detach().cpu().double()


def check_feature_sets(real: torch.Tensor, generated: torch.Tensor) -> None:
    """Raise ``ValueError`` unless both are finite 2-D feature sets of the same width."""
    for name, features in (("real features", real), ("generated features", generated)):
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            shape = tuple(features.shape) if hasattr(features, "shape") else type(features).__name__
            raise ValueError(f"{name} must be a 2-D tensor (N, D), got {shape}")
        if not bool(torch.isfinite(features).all()):
            raise ValueError(f"{name} contain NaN or infinite values")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(
            f"real features have {real.shape[1]} dimensions but generated features have "
            f"{generated.shape[1]}: they come from different feature maps"
        )


def check_same_image_shape(real: torch.Tensor, generated: torch.Tensor) -> None:
    """Raise ``ValueError`` when two image sets differ in ``(C, H, W)``."""
    if tuple(real.shape[1:]) != tuple(generated.shape[1:]):
        raise ValueError(
            f"real images have shape (C, H, W) = {tuple(real.shape[1:])} but generated images have "
            f"{tuple(generated.shape[1:])}; metrics compare images of one size"
        )


class DomainFeatureExtractor(MetaaugEstimator):
    """A conv4 classifier trained on the training classes; its features are the metric space.

    The offline stand-in for the Inception-v3 features of FID: the four conv
    blocks of :class:`metaaug.nets.Conv4Classifier` are trained with
    cross-entropy to recognise the (labeled) training characters, and
    :meth:`embed` returns the flattened output of the last block (64
    dimensions for 28x28 images). Characters of novel alphabets are embedded
    with the same network, as Inception embeds classes it never saw.

    Parameters
    ----------
    hidden : int, default=64
        Filters per conv block.
    epochs : int, default=8
        Passes over the training images.
    batch_size : int, default=64
        Images per optimisation step.
    lr : float, default=1e-3
        Adam learning rate.
    max_shift : int, default=2
        Random translation of up to this many pixels per training image
        (zero-padded, :func:`metaaug.augment.random_shift`), so the features
        do not key on exact positions.
    max_time : float or None, default=None
        Stop after this many seconds.
    random_state : int, Generator or None, default=None
        Seeds the initialisation, the batch order and the shifts.
    device : str, default="auto"
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    verbose : bool, default=True
        Show a progress bar while fitting.

    Attributes
    ----------
    image_shape_ : tuple of int
        ``(C, H, W)`` of the training images.
    n_classes_ : int
        Number of training classes.
    network_ : Conv4Classifier
        The trained classifier; ``network_.features`` is the embedding.
    n_features_ : int
        Dimension of the features.
    train_accuracy_ : float
        Accuracy on the training images after fitting.
    loss_curve_ : ndarray of float32, shape (n_iter_,)
        Cross-entropy of each optimisation step.
    n_iter_ : int
        Optimisation steps done.
    fit_time_ : float
        Seconds spent in ``fit``.
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "hidden": [Interval(Integral, 1, None)],
        "epochs": [Interval(Integral, 1, None)],
        "batch_size": [Interval(Integral, 1, None)],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "max_shift": [Interval(Integral, 0, None)],
        "max_time": [None, Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
        "device": ["device"],
        "verbose": ["boolean"],
    }

    def __init__(
        self,
        hidden: int = 64,
        epochs: int = 8,
        batch_size: int = 64,
        lr: float = 1e-3,
        max_shift: int = 2,
        max_time: float | None = None,
        random_state: RandomState = None,
        device: str = "auto",
        verbose: bool = True,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_shift = max_shift
        self.max_time = max_time
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _build_modules(self) -> None:
        channels, height, width = self.image_shape_
        self.network_ = Conv4Classifier(
            self.n_classes_, in_channels=channels, hidden=self.hidden, image_size=(height, width)
        ).to(self._device())

    def fit(self, X: Any, y: Any) -> DomainFeatureExtractor:
        """Train on labeled images of the training classes.

        Parameters
        ----------
        X : array-like
            Images of the training classes, of any size, square or not (any input
            :func:`metaaug.data.as_images` accepts).
        y : array-like of int
            Their labels; at least 2 classes.

        Returns
        -------
        DomainFeatureExtractor
            ``self``, fitted.
        """
        self._validate_params()
        X = as_images(X, name="X", min_count=2)
        labels = as_labels(y, len(X), name="y")
        classes, labels = torch.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y must hold at least 2 classes, got {len(classes)}")
        rng = check_rng(self.random_state)
        device = self._device()
        channels, height, width = (int(s) for s in X.shape[1:])
        self.image_shape_ = (channels, height, width)
        self.n_classes_ = int(len(classes))
        start = time.perf_counter()
        losses: list[float] = []
        with torch_seeded(rng):
            self._init_modules()
            network = self.network_
            optimiser = torch.optim.Adam(network.parameters(), lr=self.lr)
            batches_per_epoch = -(-len(X) // self.batch_size)
            budget = TrainingBudget(
                self.epochs * batches_per_epoch, self.max_time, desc="DomainFeatureExtractor", verbose=self.verbose
            )
            X_device, labels_device = X.to(device), labels.to(device)
            order = torch.randperm(len(X), device=device)
            network.train()
            for step in budget:
                position = step % batches_per_epoch
                if position == 0:
                    order = torch.randperm(len(X), device=device)
                index = order[position * self.batch_size : (position + 1) * self.batch_size]
                batch = random_shift(X_device[index], int(self.max_shift))
                loss = nn.functional.cross_entropy(network(batch), labels_device[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                losses.append(budget.track(float(loss.detach())))
                budget.set_postfix(loss=losses[-1])
            network.eval()
        self.n_features_ = int(network.features.out_features)
        with torch.no_grad():
            logits = torch.cat([network(X_device[i : i + 512]) for i in range(0, len(X), 512)])
        self.train_accuracy_ = float((logits.argmax(1) == labels_device).float().mean())
        self.loss_curve_ = np.asarray(losses, dtype=np.float32)
        self.n_iter_ = budget.completed
        self.fit_time_ = time.perf_counter() - start
        return self

    def embed(self, images: Any) -> torch.Tensor:
        """Features ``(N, n_features_)`` of ``images`` (float32, CPU)."""
        self._check_fitted()
        return self._forward(self.network_.features, images)

    def __call__(self, images: Any) -> torch.Tensor:
        return self.embed(images)

    def predict(self, images: Any) -> torch.Tensor:
        """Index (0..n_classes_-1, in sorted label order) of the most likely training class."""
        self._check_fitted()
        return self._forward(self.network_, images).argmax(1)

    @torch.no_grad()
    def _forward(self, module: nn.Module, images: Any) -> torch.Tensor:
        images = as_images(images, name="images")
        check_image_shape(images, self.image_shape_, name="images")
        device = self._device()
        # channels-last batches of 128 run conv + max-pool about twice as fast on a CPU as NCHW batches of
        # 512 (measured on 28x28 Omniglot, 1 thread); the features are the same numbers
        batch_size = 128 if device.type == "cpu" else 1024
        to_channels_last(module)
        with eval_mode(module):
            return torch.cat(
                [
                    module(images[i : i + batch_size].to(device).contiguous(memory_format=torch.channels_last))
                    .float()
                    .cpu()
                    for i in range(0, len(images), batch_size)
                ]
            )
