"""Saving and loading a LASIUM whose backend is a generator the user brought.

Model files are read with ``weights_only=True``, so a user's generator is
never pickled. It is either stored as its ``state_dict`` plus a constructor
reference (``"package.module:Class"`` and keyword arguments made of Python
primitives), which :func:`rebuild` imports only from modules the loader
allows, or left out (``include_backend=False``) and supplied again at load.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import importlib
import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from metaaug.base import MetaaugEstimator

if TYPE_CHECKING:
    _Base = MetaaugEstimator
else:
    _Base = object

ENTRY = "user_backend_"  # the fitted-section key of the saved generator (the params hold a placeholder)
TRUSTED = ("metaaug.",)  # the library's own modules are always importable

# what LASIUM.load passes to the restoring estimator: the user's generator and the allowed modules
_LOAD_OPTIONS: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("lasium_load", default=None)


def is_external(backend: Any) -> bool:
    """A backend that metaaug's own persistence cannot store (not a name, not a metaaug estimator)."""
    return not isinstance(backend, (str, MetaaugEstimator))


def _primitive(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_primitive(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _primitive(v) for k, v in value.items())
    return False


def backend_entry(backend: Any, include: bool, kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """The saved form of an external backend: a reference and its weights, or only the note that it was left out."""
    name = type(backend).__name__
    if not include:
        return {"included": False, "class": name}
    cls = type(backend)
    reference = f"{cls.__module__}:{cls.__qualname__}"
    problem = ""
    if not isinstance(backend, nn.Module):
        problem = f"it is a {name}, not an nn.Module with a state_dict"
    elif cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        problem = f"its class {reference} cannot be imported from another program"
    if kwargs is None and not problem:
        kwargs = getattr(backend, "init_kwargs", None)
        required = [
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if kwargs is None and required:
            problem = f"its constructor needs {', '.join(required)}: pass save(path, backend_kwargs={{...}})"
    if not problem and not _primitive(kwargs or {}):
        problem = "backend_kwargs must hold Python primitives only (numbers, strings, tuples, lists, dicts)"
    if problem:
        raise ValueError(
            f"cannot save the generator: {problem}. Save without it, save(path, include_backend=False), "
            "and pass it again at LASIUM.load(path, backend=generator)"
        )
    state = {k: v.detach().cpu() for k, v in backend.state_dict().items()}
    return {"included": True, "class": reference, "kwargs": dict(kwargs or {}), "state": state}


@contextlib.contextmanager
def load_options(backend: Any, allowed_modules: Sequence[str]) -> Iterator[None]:
    token = _LOAD_OPTIONS.set({"backend": backend, "allowed": tuple(allowed_modules)})
    try:
        yield
    finally:
        _LOAD_OPTIONS.reset(token)


def restored_backend(entry: Any, device: torch.device) -> Any:
    """The generator of a loaded LASIUM: the one passed to ``load``, or the saved one rebuilt; else an error.

    ``None`` when the file has no generator of the user's (``entry`` is ``None``).
    """
    options = _LOAD_OPTIONS.get() or {"backend": None, "allowed": ()}
    given = options["backend"]
    if entry is None:
        if given is not None:
            raise ValueError(
                "backend= is only for LASIUM files with a generator of the user's; this one has its own backend"
            )
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
        raise ValueError(f"the model file's {ENTRY!r} entry must describe a generator")
    if given is not None:
        return given
    if not entry.get("included"):
        raise ValueError(
            f"this LASIUM was saved without its generator (a {entry['class']}, include_backend=False): "
            "pass it again with LASIUM.load(path, backend=generator)"
        )
    return rebuild(entry, options["allowed"], device)


def rebuild(entry: dict[str, Any], allowed: Sequence[str], device: torch.device) -> nn.Module:
    """Import the saved constructor (only from ``allowed`` modules or metaaug), build it and load its weights."""
    module_name, _, qualname = str(entry["class"]).partition(":")
    permitted = [*TRUSTED, *allowed]
    if not any(module_name == p.rstrip(".") or module_name.startswith(p.rstrip(".") + ".") for p in permitted):
        raise ValueError(
            f"the saved generator's class {entry['class']} is not in the allowed modules: load with "
            f"LASIUM.load(path, allowed_modules=[{module_name!r}]) if you trust it, or pass backend=generator"
        )
    target: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    module = target(**entry["kwargs"])
    module.load_state_dict(entry["state"])
    return module.to(device).eval()


class GeneratorPersistence(_Base):
    """``save`` / ``load`` of LASIUM that also handle a generator of the user's (a mixin of LASIUM)."""

    backend: Any
    backend_: Any

    def save(self, path: str | Path, include_backend: bool = True, backend_kwargs: dict | None = None) -> Path:
        """Save the fitted LASIUM to ``path`` (readable with ``weights_only=True``).

        A user's generator is saved as its ``state_dict`` and a reference to
        its class, rebuilt at load as ``Class(**backend_kwargs)`` (default: the
        module's ``init_kwargs`` attribute, else no arguments); its module must
        then be allowed at :meth:`load`. ``include_backend=False`` leaves it
        out: pass it again to :meth:`load`. A generator that cannot be rebuilt
        (a callable, a class defined in ``__main__`` or in a function) raises
        ``ValueError`` unless left out.
        """
        self._save_options = (include_backend, backend_kwargs)
        try:
            return super().save(path)
        finally:
            del self._save_options

    def _to_payload(self) -> dict:
        if not is_external(self.backend):
            return super()._to_payload()
        self._check_fitted()
        include, kwargs = getattr(self, "_save_options", (True, None))
        entry = backend_entry(self.backend, include, kwargs)
        shadow = copy.copy(self)
        shadow.backend = "gan"  # a placeholder: the entry holds (or names) the user's generator
        del shadow.backend_
        payload = MetaaugEstimator._to_payload(shadow)
        payload["fitted"][ENTRY] = entry
        return payload

    @classmethod
    def load(
        cls, path: str | Path, device: str | None = None, backend: Any = None, allowed_modules: Sequence[str] = ()
    ) -> MetaaugEstimator:
        """Load a LASIUM saved with :meth:`save`.

        ``backend``: the generator of a file saved with
        ``include_backend=False`` (or one to use instead of the saved one).
        ``allowed_modules``: module names (or their packages) from which a
        saved generator's class may be imported; metaaug's own are always
        allowed, nothing else is imported without being named here.
        """
        with load_options(backend, allowed_modules):
            return super().load(path, device=device)

    def _restore_fitted(self, fitted: dict) -> None:
        fitted = dict(fitted)
        entry = fitted.pop(ENTRY, None)
        backend = restored_backend(entry, self._device())
        super()._restore_fitted(fitted)
        if backend is not None:
            self.backend = self.backend_ = backend
