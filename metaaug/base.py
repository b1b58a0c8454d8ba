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

import copy
import functools
import importlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from metaaug.checksum import CHECKSUM_KEY, payload_checksum  # noqa: F401  (re-exported)
from metaaug.constraints import check_params
from metaaug.nets.layout import to_channels_last
from metaaug.resources import (  # noqa: F401  (re-exported)
    available_memory,
    check_count,
    check_request_size,
    resolve_device,
)
from metaaug.training import (  # noqa: F401  (re-exported)
    _FIT_CONTEXT,
    _FITTING,
    TrainingBudget,
    TrainingDivergedError,
    _fit_deadline,
    _FitContext,
    nested_random_state,
)

FORMAT_VERSION = 1


def _encode(value: Any, key: str) -> Any:
    """Turn a value into something ``torch.load(weights_only=True)`` accepts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    from metaaug.data.sources import ImageSource  # the data layer imports this module

    if isinstance(value, ImageSource):  # the images themselves, uint8 stays uint8 (a Dataset is read in full)
        return {"__images__": value.stored()}
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
        if "__images__" in value:
            from metaaug.data.sources import ArrayImages

            return ArrayImages(value["__images__"], name="saved images")
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


def _atomic_fit(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``fit`` so that, if it raises, the estimator is left exactly as before the call.

    The outermost call snapshots the instance (deep-copying learned state only
    when there is some, e.g. for ``warm_start``), runs ``fit`` with a
    :class:`_FitContext` that nested estimators and training budgets read
    (``max_time`` deadline, ``random_state``), checks that every fitted network
    is finite, and on any exception puts the snapshot back.
    """

    @functools.wraps(fit)
    def wrapper(self: MetaaugEstimator, *args: Any, **kwargs: Any) -> Any:
        if id(self) in _FITTING:  # a subclass's fit calling super().fit: the outer call guards
            return fit(self, *args, **kwargs)
        snapshot = self._snapshot()
        _FITTING.add(id(self))
        token = _FIT_CONTEXT.set(self._fit_context())
        try:
            result = fit(self, *args, **kwargs)
            self._check_finite()
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(snapshot)
            raise
        finally:
            _FIT_CONTEXT.reset(token)
            _FITTING.discard(id(self))
        return result

    wrapper.__metaaug_atomic__ = True  # type: ignore[attr-defined]
    return wrapper


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
    #: whether ``fit`` splits its work across the ranks of a running torch.distributed process group
    _data_parallel: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[_class_key(cls)] = cls
        fit = getattr(cls, "fit", None)  # its own, or one a mixin provides
        if callable(fit) and not getattr(fit, "__metaaug_atomic__", False):
            cls.fit = _atomic_fit(fit)

    def _validate_params(self) -> None:
        """Check every parameter against ``_parameter_constraints``, then :meth:`_validate_relations`.

        A ``device`` parameter is also resolved, so that an unknown or
        unavailable device fails here rather than at first use.
        """
        params = self.get_params(deep=False)
        check_params(type(self).__name__, params, self._parameter_constraints)
        if "device" in params:
            try:
                resolve_device(params["device"])
            except ValueError as err:
                raise ValueError(f"{type(self).__name__}: {err}") from None
        self._validate_relations()

    # ------------------------------------------------------------ atomic fit
    def _snapshot(self) -> dict[str, Any]:
        """The instance's state, copied deeply enough that a failed ``fit`` can put it back."""
        state = dict(vars(self))
        if self._fitted_names():  # fitted modules and arrays may be changed in place (warm_start)
            params = set(self.get_params(deep=False))
            learned = {k: v for k, v in state.items() if k not in params}
            try:
                state.update(copy.deepcopy(learned))
            except Exception:  # pragma: no cover - an attribute that cannot be copied: keep references
                pass
        return state

    def _fit_context(self) -> _FitContext:
        outer = _FIT_CONTEXT.get()
        deadline = None if outer is None else outer.deadline
        max_time = getattr(self, "max_time", None)
        if isinstance(max_time, Real) and not isinstance(max_time, bool) and 0 < float(max_time) < math.inf:
            own = time.perf_counter() + float(max_time)
            deadline = own if deadline is None else min(deadline, own)
        return _FitContext(deadline=deadline, random_state=getattr(self, "random_state", None))

    def _check_finite(self) -> None:
        """Raise :class:`TrainingDivergedError` when a fitted network holds a NaN or infinite parameter."""
        for name in self._fitted_names():
            module = getattr(self, name)
            if not isinstance(module, torch.nn.Module):
                continue
            for pname, param in module.named_parameters():
                if not bool(torch.isfinite(param.detach()).all()):
                    raise TrainingDivergedError(
                        f"{type(self).__name__}: parameter {pname!r} of {name} is NaN or infinite after "
                        "training; training diverged. Try a smaller learning rate (lr), and check that the "
                        "images are in [0, 1]."
                    )

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
    def _from_payload(payload: Any) -> MetaaugEstimator:
        if not isinstance(payload, dict):
            raise ValueError(f"a saved estimator must be a dictionary, got {type(payload).__name__}")
        missing = [key for key in ("class", "params", "fitted") if key not in payload]
        if missing:
            raise ValueError(f"the saved estimator lacks the key(s) {missing} (it needs 'class', 'params', 'fitted')")
        version = payload.get("format", FORMAT_VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
            raise ValueError(f"unknown model file format {version!r}; this metaaug reads formats 1..{FORMAT_VERSION}")
        key = payload["class"]
        if not isinstance(key, str):
            raise ValueError(f"the model file names its class as {key!r}, not a string")
        # only registered estimator classes load: nothing named in the file is ever imported
        if key not in _REGISTRY:
            _import_estimators()
        cls = _REGISTRY.get(key) or _moved_class(key)
        if cls is None:
            raise ValueError(f"cannot load {key!r}: no such metaaug estimator class")
        raw_params, raw_fitted = payload["params"], payload["fitted"]
        for section, value in (("params", raw_params), ("fitted", raw_fitted)):
            if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
                raise ValueError(f"the model file's {section!r} must be a dictionary with string keys")
        params = {cls._renamed.get(k, k): _decode(v) for k, v in raw_params.items()}
        valid = set(cls._get_param_names())
        unknown = sorted(set(params) - valid)
        if unknown:
            raise ValueError(f"{cls.__name__} has no parameter(s) {unknown}; its parameters are {sorted(valid)}")
        est = cls(**params)
        constraints = {k: v for k, v in cls._parameter_constraints.items() if k != "device"}
        check_params(cls.__name__, est.get_params(deep=False), constraints)
        est._restore_fitted(raw_fitted)
        return est

    def _restore_fitted(self, fitted: dict) -> None:
        modules = {}
        fitted = {self._renamed.get(k, k): v for k, v in fitted.items()}
        for key, value in fitted.items():
            if not key.endswith("_") or key.startswith("_"):
                raise ValueError(f"{key!r} is not a fitted attribute (fitted names end with '_')")
            if isinstance(value, dict) and "__module__" in value:
                modules[key] = value["__module__"]
            else:
                setattr(self, key, _decode(value))
        try:
            self._init_modules()
        except Exception:
            if modules:
                raise
            return  # no networks saved and none can be built: a class without networks (the former behaviour)
        built = {k for k, v in vars(self).items() if isinstance(v, torch.nn.Module) and k.endswith("_")}
        absent = sorted(built - set(modules))
        if absent:
            raise ValueError(f"the model file holds no weights for the {type(self).__name__} network(s) {absent}")
        for key, state in modules.items():
            module = getattr(self, key, None)
            if not isinstance(module, torch.nn.Module):
                raise ValueError(f"{type(self).__name__} has no network {key!r} to load saved weights into")
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise ValueError(f"the saved weights of {key!r} must be a dictionary of tensors")
            try:
                module.load_state_dict(state)
            except RuntimeError as err:
                detail = " ".join(str(err).split())
                raise ValueError(f"the saved weights do not fit {type(self).__name__}.{key}: {detail}") from None
            module.to(self._device())
            module.eval()

    def save(self, path: str | Path) -> Path:
        """Save the fitted estimator to ``path`` (readable with ``weights_only=True``).

        The file holds a SHA-256 checksum of its content (every tensor's bytes
        and every value, in a fixed order) that :meth:`load` verifies.
        """
        path = Path(path)
        payload = self._to_payload()
        payload[CHECKSUM_KEY] = payload_checksum(payload)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> MetaaugEstimator:
        """Load an estimator saved with :meth:`save`.

        ``device`` overrides the saved ``device`` parameter (e.g. load a GPU
        model on a CPU machine). Only registered metaaug estimator classes
        load (the file never makes metaaug import a module), the checksum is
        verified when the file has one (files written before it existed have
        none), and every malformed file gives one ``ValueError`` naming what is
        wrong.
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
        if CHECKSUM_KEY in payload:
            stored = payload[CHECKSUM_KEY]
            try:
                actual = payload_checksum(payload)
            except TypeError as err:
                raise ValueError(f"{path} is not a valid metaaug model file: {err}") from None
            if stored != actual:
                raise ValueError(
                    f"{path}: checksum mismatch (the file was changed or corrupted after it was saved); "
                    f"stored {stored!r}, content gives {actual!r}"
                )
        if device is not None and isinstance(payload.get("params"), dict) and "device" in payload["params"]:
            payload["params"]["device"] = device
        try:
            est = MetaaugEstimator._from_payload(payload)
            if not est.__sklearn_is_fitted__():
                raise ValueError("it holds no fitted state (only fitted estimators are saved)")
            est._check_finite()
        except ValueError as err:
            raise ValueError(f"{path} is not a valid metaaug model file: {err}") from None
        except (KeyError, TypeError, AttributeError, IndexError, RuntimeError) as err:
            raise ValueError(f"{path} is not a valid metaaug model file: {type(err).__name__}: {err}") from None
        if cls is not MetaaugEstimator and not isinstance(est, cls):
            raise ValueError(f"{path} holds a {type(est).__name__}, not a {cls.__name__}")
        return est


def load(path: str | Path, device: str | None = None) -> MetaaugEstimator:
    """Load any metaaug estimator saved with ``save`` (whatever its class)."""
    return MetaaugEstimator.load(path, device=device)
