"""Declarative parameter constraints, checked once by the estimator base class.

Every estimator declares, next to its constructor, what each parameter may be::

    _parameter_constraints = {
        "epochs": [Interval(Integral, 1, None)],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "strategy": [Options("N", "RO", "OC")],
        "sigma2": [None, Interval(Real, 0, None, closed="neither")],
        "verbose": ["boolean"],
        "random_state": ["random_state"],
        "device": ["device"],
    }

A value is valid when it satisfies any constraint of its list.
:meth:`metaaug.base.MetaaugEstimator._validate_params` checks them all at the
start of ``fit`` and raises one ``ValueError`` that names the parameter, what
it may be and what it got. Real-valued intervals refuse ``nan`` and
infinities, and numeric constraints refuse ``bool``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch

__all__ = [
    "Constraint",
    "HasMethods",
    "Integral",
    "Interval",
    "Options",
    "Real",
    "check_params",
    "describe",
    "make_constraint",
    "satisfies",
]


class Constraint:
    """A condition one parameter value must meet."""

    def is_satisfied_by(self, value: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def __str__(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError


class Interval(Constraint):
    """A finite number of type ``kind`` (``Integral`` or ``Real``) between ``left`` and ``right``.

    ``None`` for a bound means unbounded on that side; ``closed`` is
    ``"both"``, ``"left"``, ``"right"`` or ``"neither"``.
    """

    def __init__(self, kind: type, left: float | None, right: float | None, closed: str = "both") -> None:
        if kind not in (Integral, Real):
            raise ValueError(f"kind must be numbers.Integral or numbers.Real, got {kind!r}")
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed must be 'both', 'left', 'right' or 'neither', got {closed!r}")
        self.kind, self.left, self.right, self.closed = kind, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        raw: Any = value
        number: float = int(raw) if self.kind is Integral else float(raw)
        if isinstance(number, float) and not math.isfinite(number):
            return False
        if self.left is not None:
            if number < self.left or (number == self.left and self.closed in ("right", "neither")):
                return False
        if self.right is not None:
            if number > self.right or (number == self.right and self.closed in ("left", "neither")):
                return False
        return True

    def __str__(self) -> str:
        noun = "an int" if self.kind is Integral else "a finite number"
        lower = "" if self.left is None else f"{'>=' if self.closed in ('both', 'left') else '>'} {self.left}"
        upper = "" if self.right is None else f"{'<=' if self.closed in ('both', 'right') else '<'} {self.right}"
        return " ".join(part for part in (noun, lower, "and" if lower and upper else "", upper) if part)


class Options(Constraint):
    """One of the given values (compared with ``==`` among values of the same type)."""

    def __init__(self, *values: Any) -> None:
        self.values = values

    def is_satisfied_by(self, value: Any) -> bool:
        return any(type(value) is type(option) and value == option for option in self.values)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


class HasMethods(Constraint):
    """An object with every named method (a string never counts: ``str.encode`` is no encoder)."""

    def __init__(self, *methods: str) -> None:
        self.methods = methods

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, (str, bytes)):
            return False
        return all(callable(getattr(value, name, None)) for name in self.methods)

    def __str__(self) -> str:
        return "an object with " + " and ".join(f"{m}()" for m in self.methods)


class _Named(Constraint):
    """The string shorthands: "boolean", "random_state", "device", "callable"."""

    def __init__(self, name: str) -> None:
        self.name = name

    def is_satisfied_by(self, value: Any) -> bool:
        if self.name == "boolean":
            return isinstance(value, (bool, np.bool_))
        if self.name == "callable":
            return callable(value)
        if self.name == "random_state":
            if value is None or isinstance(value, (np.random.Generator, np.random.RandomState)):
                return True
            return isinstance(value, Integral) and not isinstance(value, bool) and int(value) >= 0
        if self.name == "device":
            if isinstance(value, torch.device) or value == "auto":
                return True
            try:
                return isinstance(value, str) and torch.device(value).type in ("cpu", "cuda", "mps")
            except (RuntimeError, ValueError):
                return False
        raise ValueError(f"unknown constraint {self.name!r}")

    def __str__(self) -> str:
        return {
            "boolean": "True or False",
            "callable": "a callable",
            "random_state": "None, an int >= 0 or a numpy Generator",
            "device": "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device",
        }[self.name]


class _IsNone(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def __str__(self) -> str:
        return "None"


class _InstanceOf(Constraint):
    def __init__(self, kind: type) -> None:
        self.kind = kind

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, self.kind)

    def __str__(self) -> str:
        name = self.kind.__name__
        return f"{'an' if name[0].lower() in 'aeiou' else 'a'} {name}"


NAMED = ("boolean", "callable", "random_state", "device")


def make_constraint(spec: Any) -> Constraint:
    """A :class:`Constraint` from a declaration entry (``None``, a shorthand string, a type or a Constraint)."""
    if isinstance(spec, Constraint):
        return spec
    if spec is None:
        return _IsNone()
    if isinstance(spec, str) and spec in NAMED:
        return _Named(spec)
    if isinstance(spec, type):
        return _InstanceOf(spec)
    raise ValueError(f"cannot read the parameter constraint {spec!r}")


def satisfies(value: Any, specs: Sequence[Any]) -> bool:
    """Whether ``value`` meets any of ``specs``."""
    return any(make_constraint(spec).is_satisfied_by(value) for spec in specs)


def describe(specs: Sequence[Any]) -> str:
    """What ``specs`` allow, in words."""
    return " or ".join(str(make_constraint(spec)) for spec in specs)


def check_params(owner: str, params: Mapping[str, Any], constraints: Mapping[str, Sequence[Any]]) -> None:
    """Raise ``ValueError`` naming the first parameter of ``params`` that breaks its constraints."""
    for name, specs in constraints.items():
        if name not in params:
            continue
        value = params[name]
        if not satisfies(value, specs):
            raise ValueError(f"{owner}: {name} must be {describe(specs)}, got {value!r}")
