"""The estimator base shared by every sampler, generator and classifier.

Conventions (scikit-learn):

* ``__init__`` stores its arguments and nothing else; validation happens in
  ``fit``.
* Learned state lives in attributes ending in ``_``; methods that need it call
  :meth:`MetaaugEstimator._check_fitted`, which raises ``NotFittedError``.
* ``random_state`` is turned into generators by :mod:`metaaug._random`.

Persistence. ``save(path)`` writes a plain dictionary of tensors and Python
primitives that ``torch.load(path, weights_only=True)`` reads back, so loading
never unpickles arbitrary objects. Fitted ``nn.Module`` attributes are stored
as state dicts; to rebuild them, a subclass implements
:meth:`~MetaaugEstimator._build_modules`, which creates the (untrained)
modules from the constructor parameters and the non-module fitted attributes.
``fit`` calls the same method, so the two paths cannot drift apart.
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from tqdm.auto import tqdm

from metaaug.constraints import check_params
from metaaug.nets.layout import to_channels_last

FORMAT_VERSION = 1


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as torch reads it."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available")
    return resolved


class TrainingBudget:
    """Iterate over training steps until ``n_steps`` or ``max_time`` seconds run out.

    Yields the step index and shows a tqdm bar. ``elapsed`` and ``completed``
    are readable afterwards (the estimators store them as fitted attributes).
    """

    def __init__(self, n_steps: int, max_time: float | None, desc: str, verbose: bool = True, unit: str = "it") -> None:
        if int(n_steps) < 1:
            raise ValueError(f"the training budget must be >= 1 step, got {n_steps}")
        if max_time is not None and max_time <= 0:
            raise ValueError(f"max_time must be > 0 seconds or None, got {max_time}")
        self.n_steps = int(n_steps)
        self.max_time = max_time
        self.desc = desc
        self.verbose = verbose
        self.unit = unit
        self.completed = 0
        self.elapsed = 0.0
        self.bar: tqdm | None = None

    def __iter__(self) -> Iterator[int]:
        start = time.perf_counter()
        self.bar = tqdm(
            total=self.n_steps,
            desc=self.desc,
            unit=self.unit,
            disable=not self.verbose,
            leave=False,
            dynamic_ncols=True,
        )
        try:
            for step in range(self.n_steps):
                yield step
                self.completed = step + 1
                self.bar.update(1)
                self.elapsed = time.perf_counter() - start
                if self.max_time is not None and self.elapsed >= self.max_time:
                    break
        finally:
            self.elapsed = time.perf_counter() - start
            self.bar.close()

    def set_postfix(self, **values: float) -> None:
        if self.bar is not None and self.verbose:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in values.items()}, refresh=False)

    def track(self, loss: float, name: str = "loss") -> float:
        """Check one step's loss; a non-finite value stops training with a clear error.

        Every training loop calls this once per step with the (float) loss it
        just computed, so that divergence cannot go unnoticed. Returns ``loss``.

        Raises
        ------
        TrainingDivergedError
            When ``loss`` is NaN or infinite; the message names the step.
        """
        if not math.isfinite(loss):
            raise TrainingDivergedError(
                f"{self.desc}: the {name} became {loss} at training step {self.completed + 1}; training "
                "diverged. Try a smaller learning rate (lr), and check that the images are in [0, 1]."
            )
        return loss


class TrainingDivergedError(ValueError):
    """Training produced a non-finite loss or parameter (a ``ValueError``, so the CLI reports it in one line)."""


def _encode(value: Any, key: str) -> Any:
    """Turn a value into something ``torch.load(weights_only=True)`` accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        return {"__ndarray__": torch.from_numpy(np.ascontiguousarray(value))}
    if isinstance(value, torch.nn.Module):
        return {"__module__": {k: v.detach().cpu() for k, v in value.state_dict().items()}}
    if isinstance(value, MetaaugEstimator):
        return {"__estimator__": value._to_payload()}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v, key) for v in value]}
    if isinstance(value, list):
        return [_encode(v, key) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) for k in value):
            raise TypeError(f"cannot save {key!r}: dictionary keys must be str or int")
        return {"__dict__": {k: _encode(v, f"{key}.{k}") for k, v in value.items()}}
    raise TypeError(
        f"cannot save {key!r} of type {type(value).__name__}: metaaug saves tensors, arrays, "
        "modules, estimators and Python primitives only"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return value["__ndarray__"].numpy()
        if "__tuple__" in value:
            return tuple(_decode(v) for v in value["__tuple__"])
        if "__estimator__" in value:
            return MetaaugEstimator._from_payload(value["__estimator__"])
        if "__dict__" in value:
            return {k: _decode(v) for k, v in value["__dict__"].items()}
        if "__module__" in value:
            return value  # handled by _restore_fitted once modules exist
    return value


# estimator classes by "module:qualname": a saved file names its class, and only classes registered here load
_REGISTRY: dict[str, type[MetaaugEstimator]] = {}


def _class_key(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _import_estimators() -> None:
    """Import every module that defines a public estimator, so that all of them are registered."""
    package = importlib.import_module("metaaug")
    for name in getattr(package, "__all__", ()):
        getattr(package, name)
    importlib.import_module("metaaug.fewshot")
    importlib.import_module("metaaug.metrics")


def _moved_class(key: str) -> type[MetaaugEstimator] | None:
    """The metaaug class that ``key`` names, found by its name alone when it moved to another module."""
    qualname = key.rpartition(":")[2]
    matches = [
        cls for known, cls in _REGISTRY.items() if known.startswith("metaaug.") and known.rpartition(":")[2] == qualname
    ]
    return matches[0] if len(matches) == 1 else None


class MetaaugEstimator(BaseEstimator):
    """Base of every metaaug estimator: parameter checks, device, fitted checks, persistence.

    Subclasses declare ``_parameter_constraints`` (see :mod:`metaaug.constraints`)
    for every constructor parameter; :meth:`_validate_params` checks them at
    the start of ``fit``. Rules that tie several parameters together go in
    :meth:`_validate_relations`. ``_renamed`` maps former parameter and fitted
    attribute names to current ones, so model files written before a rename
    still load.
    """

    _parameter_constraints: ClassVar[Mapping[str, Sequence[Any]]] = {}
    _renamed: ClassVar[dict[str, str]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[_class_key(cls)] = cls

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``, then :meth:`_validate_relations`."""
        check_params(type(self).__name__, self.get_params(deep=False), self._parameter_constraints)
        self._validate_relations()

    def _validate_relations(self) -> None:
        """Rules that involve several parameters; raise ``ValueError``. None by default."""

    def _device(self) -> torch.device:
        return resolve_device(getattr(self, "device", "auto"))

    def _fitted_names(self) -> list[str]:
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self._fitted_names())

    def _build_modules(self) -> None:
        """Create the estimator's ``nn.Module`` attributes (untrained).

        Called by ``fit`` after the shape attributes are set, and by ``load``
        before the saved weights are copied in. Estimators without networks
        keep this default.
        """

    def _init_modules(self) -> None:
        """``_build_modules``, then every network attribute stored channels-last (faster on CPU)."""
        self._build_modules()
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                to_channels_last(value)

    # ------------------------------------------------------------ persistence
    def _to_payload(self) -> dict:
        self._check_fitted()
        params = {k: _encode(v, k) for k, v in self.get_params(deep=False).items()}
        fitted = {k: _encode(getattr(self, k), k) for k in self._fitted_names()}
        return {
            "format": FORMAT_VERSION,
            "class": _class_key(type(self)),
            "params": params,
            "fitted": fitted,
        }

    @staticmethod
    def _from_payload(payload: dict) -> MetaaugEstimator:
        key = payload["class"]
        if not isinstance(key, str):
            raise ValueError(f"the model file names its class as {key!r}, not a string")
        if key not in _REGISTRY:
            _import_estimators()
        cls = _REGISTRY.get(key) or _moved_class(key)
        if cls is None:
            raise ValueError(f"cannot load {key!r}: no such metaaug estimator class")
        params = {cls._renamed.get(k, k): _decode(v) for k, v in payload["params"].items()}
        est = cls(**params)
        est._restore_fitted(payload["fitted"])
        return est

    def _restore_fitted(self, fitted: dict) -> None:
        modules = {}
        fitted = {self._renamed.get(k, k): v for k, v in fitted.items()}
        for key, value in fitted.items():
            if isinstance(value, dict) and "__module__" in value:
                modules[key] = value["__module__"]
            else:
                setattr(self, key, _decode(value))
        if modules:
            self._init_modules()
            for key, state in modules.items():
                module = getattr(self, key, None)
                if not isinstance(module, torch.nn.Module):
                    raise ValueError(f"{type(self).__name__}._build_modules did not create {key!r}")
                module.load_state_dict(state)
                module.to(self._device())
                module.eval()

    def save(self, path: str | Path) -> Path:
        """Save the fitted estimator to ``path`` (readable with ``weights_only=True``)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self._to_payload(), path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> MetaaugEstimator:
        """Load an estimator saved with :meth:`save`.

        ``device`` overrides the saved ``device`` parameter (e.g. load a GPU
        model on a CPU machine).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved model at {path}")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise ValueError(f"{path} is not a metaaug model file: {err}") from err
        if not isinstance(payload, dict) or "class" not in payload:
            raise ValueError(f"{path} is not a metaaug model file")
        if device is not None and "device" in payload["params"]:
            payload["params"]["device"] = device
        est = MetaaugEstimator._from_payload(payload)
        if cls is not MetaaugEstimator and not isinstance(est, cls):
            raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}")
        return est


def load(path: str | Path, device: str | None = None) -> MetaaugEstimator:
    """Load any metaaug estimator saved with ``save`` (whatever its class)."""
    return MetaaugEstimator.load(path, device=device)
