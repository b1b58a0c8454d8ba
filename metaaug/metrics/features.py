"""Feature spaces for generation metrics, computed offline.

Every metric in :mod:`metaaug.metrics` compares images in a feature space. The
papers use ImageNet networks (Inception-v3 for FID, AlexNet for LPIPS) that
are downloaded at run time; here the default space is a conv4 classifier
trained inside the library on the *training* classes
(:class:`DomainFeatureExtractor`), saved once and reused through
:func:`domain_feature_extractor` so every run compares in the same space.

An ``embed`` argument anywhere in this package may be

* a callable mapping an image batch ``(N, C, H, W)`` to features ``(N, D)``
  (an ``nn.Module``, a function, a :class:`DomainFeatureExtractor`), or
* an object with an ``embed(images)`` method (e.g.
  :class:`metaaug.fewshot.ProtoNetClassifier`).

:func:`compute_features` runs it in batches, without gradients and with
modules in eval mode (their previous mode restored).
"""
from __future__ import annotations

import fcntl
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.base import MetaaugEstimator, TrainingBudget
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.nets.conv4 import Conv4Classifier

Embedder = Union[Callable[[torch.Tensor], torch.Tensor], Any]


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
    for tensor in module.buffers():
        return tensor.device
    return None


@torch.no_grad()
def compute_features(embed: Embedder, images: Any, *, batch_size: int = 512,
                     name: str = "images") -> torch.Tensor:
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
    was_training = module.training if module is not None else False
    device = _module_device(module) if module is not None else None
    if module is not None:
        module.eval()
    try:
        chunks = []
        for start in range(0, len(images), int(batch_size)):
            batch = images[start:start + int(batch_size)]
            if device is not None:
                batch = batch.to(device)
            features = function(batch)
            if not isinstance(features, torch.Tensor):
                features = torch.as_tensor(np.asarray(features))
            chunks.append(features.detach().float().reshape(len(batch), -1).cpu())
    finally:
        if module is not None:
            module.train(was_training)
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
    lr : float, default=1e-3
        Adam learning rate.
    max_shift : int, default=2
        Random translation of up to this many pixels per training image
        (zero-padded), so the features do not key on exact positions.
    max_time : float or None, default=None
        Stop after this many seconds.
    random_state : int, Generator or None, default=None
    device : str, default="auto"
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    image_shape_ : tuple of int
    n_classes_ : int
    network_ : Conv4Classifier
    n_features_ : int
    train_accuracy_ : float
        Accuracy on the training images after fitting.
    fit_time_ : float
        Seconds spent in ``fit``.
    """

    def __init__(self, hidden: int = 64, epochs: int = 8, batch_size: int = 64, lr: float = 1e-3,
                 max_shift: int = 2, max_time: float | None = None, random_state: RandomState = None,
                 device: str = "auto", verbose: bool = False) -> None:
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
        channels, size, _ = self.image_shape_
        self.network_ = Conv4Classifier(self.n_classes_, in_channels=channels, hidden=self.hidden,
                                        image_size=size).to(self._device())

    def fit(self, X: Any, y: Any) -> DomainFeatureExtractor:
        """Train on labeled images of the training classes."""
        X = as_images(X, name="X", min_count=2)
        labels = as_labels(y, len(X), name="y")
        if X.shape[2] != X.shape[3]:
            raise ValueError(f"X images must be square, got {tuple(X.shape[2:])}")
        classes, labels = torch.unique(labels, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y must hold at least 2 classes, got {len(classes)}")
        for name, value in (("epochs", self.epochs), ("batch_size", self.batch_size)):
            if int(value) < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if int(self.max_shift) < 0:
            raise ValueError(f"max_shift must be >= 0, got {self.max_shift}")
        rng = check_rng(self.random_state)
        device = self._device()
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.n_classes_ = int(len(classes))
        start = time.perf_counter()
        with torch_seeded(rng):
            self._init_modules()
            network = self.network_
            optimiser = torch.optim.Adam(network.parameters(), lr=self.lr)
            batches_per_epoch = -(-len(X) // int(self.batch_size))
            budget = TrainingBudget(int(self.epochs) * batches_per_epoch, self.max_time,
                                    desc="DomainFeatureExtractor", verbose=self.verbose)
            X_device, labels_device = X.to(device), labels.to(device)
            order = torch.randperm(len(X), device=device)
            network.train()
            for step in budget:
                position = step % batches_per_epoch
                if position == 0:
                    order = torch.randperm(len(X), device=device)
                index = order[position * int(self.batch_size):(position + 1) * int(self.batch_size)]
                batch = _random_shift(X_device[index], int(self.max_shift))
                loss = nn.functional.cross_entropy(network(batch), labels_device[index])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                budget.set_postfix(loss=float(loss.detach()))
            network.eval()
        self.n_features_ = int(network.features.out_features)
        with torch.no_grad():
            logits = torch.cat([network(X_device[i:i + 512]) for i in range(0, len(X), 512)])
        self.train_accuracy_ = float((logits.argmax(1) == labels_device).float().mean())
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
        was_training = module.training
        module.eval()
        device = self._device()
        # channels-last batches of 128 run conv + max-pool about twice as fast on a CPU as NCHW batches of
        # 512 (measured on 28x28 Omniglot, 1 thread); the features are the same numbers
        batch_size = 128 if device.type == "cpu" else 1024
        module.to(memory_format=torch.channels_last)
        try:
            return torch.cat([module(images[i:i + batch_size].to(device).contiguous(
                memory_format=torch.channels_last)).float().cpu() for i in range(0, len(images), batch_size)])
        finally:
            module.train(was_training)


def _random_shift(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each image by up to ``max_shift`` pixels (zero fill), batched."""
    if max_shift == 0:
        return images
    n, _, height, width = images.shape
    padded = nn.functional.pad(images, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), device=images.device)
    rows = (offsets[:, 0, None] + torch.arange(height, device=images.device))  # (n, H)
    cols = (offsets[:, 1, None] + torch.arange(width, device=images.device))  # (n, W)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # gather (n, C, H, W) from the padded images with per-image row/col offsets
    out = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


def _load_cached(cache_path: Path, image_shape: tuple[int, ...], device: str | None) -> DomainFeatureExtractor:
    try:
        extractor = DomainFeatureExtractor.load(cache_path, device=device)
    except RuntimeError as err:
        raise _StaleCache(
            f"the extractor cached at {cache_path} no longer matches metaaug's conv4 network "
            f"({err}); delete the file to refit"
        ) from err
    if tuple(extractor.image_shape_) != tuple(image_shape):
        raise ValueError(
            f"the cached extractor at {cache_path} was fitted on images of shape "
            f"{tuple(extractor.image_shape_)}, not {tuple(image_shape)}; delete it or pass another cache_path"
        )
    return extractor


class _StaleCache(ValueError):
    """A cached extractor whose network no longer matches the code."""


def domain_feature_extractor(X_train: Any, y_train: Any, cache_path: str | Path | None = None,
                             refit_stale: bool = False, **params: Any) -> DomainFeatureExtractor:
    """Load the shared :class:`DomainFeatureExtractor` from ``cache_path``, or fit and save it.

    Concurrent callers with the same ``cache_path`` fit once: a file lock makes
    the others wait and load the result.

    Parameters
    ----------
    X_train, y_train : array-like
        Labeled images of the training classes (e.g. the dev split's training
        alphabets).
    cache_path : str or Path or None
        Where the fitted extractor is saved; when the file exists it is loaded
        instead of fitting again (``params`` are then ignored), so every run
        uses the same feature space. ``None`` fits without saving.
    refit_stale : bool, default=False
        Refit and overwrite a cache whose network no longer matches metaaug's
        conv4 (instead of raising ``ValueError``).
    **params
        Constructor parameters of :class:`DomainFeatureExtractor`
        (``random_state`` defaults to 0 here, so fits are reproducible).

    Raises
    ------
    ValueError
        If a cached extractor was fitted on images of another shape, or (with
        ``refit_stale=False``) no longer matches the network code.
    """
    params.setdefault("random_state", 0)
    X_train = as_images(X_train, name="X_train", min_count=2)
    if cache_path is None:
        return DomainFeatureExtractor(**params).fit(X_train, y_train)
    cache_path = Path(cache_path)
    cache_path.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_path.with_name(cache_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cache_path.is_file():
            try:
                return _load_cached(cache_path, tuple(X_train.shape[1:]), params.get("device"))
            except _StaleCache as err:
                if not refit_stale:
                    raise
                warnings.warn(f"refitting: {err}", stacklevel=2)
        extractor = DomainFeatureExtractor(**params).fit(X_train, y_train)
        partial = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.partial")
        extractor.save(partial)
        os.replace(partial, cache_path)
    return extractor


def default_cache_dir() -> Path:
    """``$METAAUG_CACHE`` or ``~/.cache/metaaug``: where shared metric models are kept."""
    env = os.environ.get("METAAUG_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "metaaug"


def dev_feature_extractor(root: str | Path | None = None, image_size: int = 28,
                          cache_path: str | Path | None = "default", **params: Any) -> DomainFeatureExtractor:
    """The shared feature space of the Omniglot dev split (fitted once, then loaded).

    Fits a :class:`DomainFeatureExtractor` on the labeled images of the dev
    split's six training alphabets (never Korean or Tagalog) and caches it
    at ``default_cache_dir() / f"dev_features_{image_size}.pt"``, so every
    benchmark and test that calls this compares generated images in the same
    space.

    Parameters
    ----------
    root : str or Path or None
        Omniglot folder; ``None`` uses :func:`metaaug.data.default_omniglot_root`.
    image_size : int
    cache_path : str, Path or None
        ``"default"`` for the shared cache file, ``None`` to fit without saving.
    **params
        Passed to :class:`DomainFeatureExtractor` (only used when fitting).
    """
    from metaaug.data.splits import load_dev_split

    if cache_path == "default":
        cache_path = default_cache_dir() / f"dev_features_{int(image_size)}.pt"
    if cache_path is not None and Path(cache_path).is_file():
        try:  # fast path: no need to load the images
            return _load_cached(Path(cache_path), (1, int(image_size), int(image_size)), params.get("device"))
        except _StaleCache:
            pass  # refitted below, under the cache lock
    (X_train, y_train), _ = load_dev_split(root, image_size=image_size)
    return domain_feature_extractor(X_train, y_train, cache_path=cache_path, refit_stale=True, **params)
