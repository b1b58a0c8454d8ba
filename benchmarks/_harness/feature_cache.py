"""The shared feature space of the generation tables, fitted once and cached on disk.

Every FID, KID and diversity number of the benchmark tables is measured in the
space of one :class:`metaaug.metrics.DomainFeatureExtractor` fitted on the
dev split's training alphabets. :func:`dev_feature_extractor` fits it on the
first call and saves it under :func:`default_cache_dir`; later calls (and
concurrent processes, kept apart by a file lock) load the same file, so
every table compares images in the same space.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import exclusive_lock
from metaaug.data import as_images
from metaaug.metrics import DomainFeatureExtractor


class _StaleCacheError(ValueError):
    """A cached extractor whose network no longer matches the code."""


def default_cache_dir() -> Path:
    """``$METAAUG_CACHE`` or ``~/.cache/metaaug``: where the benchmarks keep fitted models."""
    env = os.environ.get("METAAUG_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "metaaug"


def _load_cached(cache_path: Path, image_shape: tuple[int, ...], device: str | None) -> DomainFeatureExtractor:
    try:
        extractor = DomainFeatureExtractor.load(cache_path, device=device)
    except RuntimeError as err:
        raise _StaleCacheError(
            f"the extractor cached at {cache_path} no longer matches metaaug's conv4 network "
            f"({err}); delete the file to refit"
        ) from err
    if tuple(extractor.image_shape_) != tuple(image_shape):
        raise ValueError(
            f"the cached extractor at {cache_path} was fitted on images of shape "
            f"{tuple(extractor.image_shape_)}, not {tuple(image_shape)}; delete it or pass another cache_path"
        )
    return extractor


def domain_feature_extractor(
    X_train: Any, y_train: Any, cache_path: str | Path | None = None, refit_stale: bool = False, **params: Any
) -> DomainFeatureExtractor:
    """Load the :class:`~metaaug.metrics.DomainFeatureExtractor` cached at ``cache_path``, or fit and save it.

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
        Constructor parameters of the extractor (``random_state`` defaults to
        0 here, so fits are reproducible).

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
    with exclusive_lock(cache_path.with_name(cache_path.name + ".lock")):
        if cache_path.is_file():
            try:
                return _load_cached(cache_path, tuple(X_train.shape[1:]), params.get("device"))
            except _StaleCacheError as err:
                if not refit_stale:
                    raise
                warnings.warn(f"refitting: {err}", stacklevel=2)
        extractor = DomainFeatureExtractor(**params).fit(X_train, y_train)
        partial = cache_path.with_name(f"{cache_path.name}.{os.getpid()}.partial")
        extractor.save(partial)
        os.replace(partial, cache_path)
    return extractor


def dev_feature_extractor(
    root: str | Path | None = None, image_size: int = 28, cache_path: str | Path | None = "default", **params: Any
) -> DomainFeatureExtractor:
    """The shared feature space of the Omniglot dev split (fitted once, then loaded).

    Fits a :class:`~metaaug.metrics.DomainFeatureExtractor` on the labeled
    images of the dev split's six training alphabets (never Korean or Tagalog)
    and caches it at ``default_cache_dir() / f"dev_features_{image_size}.pt"``,
    so every benchmark and test that calls this compares generated images in
    the same space.

    Parameters
    ----------
    root : str or Path or None
        Omniglot folder; ``None`` uses
        :func:`benchmarks._harness.dev_split.default_omniglot_root`.
    image_size : int
    cache_path : str, Path or None
        ``"default"`` for the shared cache file, ``None`` to fit without saving.
    **params
        Passed to the extractor (only used when fitting).
    """
    if cache_path == "default":
        cache_path = default_cache_dir() / f"dev_features_{int(image_size)}.pt"
    if cache_path is not None and Path(cache_path).is_file():
        try:  # fast path: no need to load the images
            return _load_cached(Path(cache_path), (1, int(image_size), int(image_size)), params.get("device"))
        except _StaleCacheError:
            pass  # refitted below, under the cache lock
    (X_train, y_train), _ = load_dev_split(root, image_size=image_size)
    return domain_feature_extractor(X_train, y_train, cache_path=cache_path, refit_stale=True, **params)
