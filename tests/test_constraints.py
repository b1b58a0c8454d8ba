"""The declarative parameter constraints (metaaug.constraints) and their check in the estimator base."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from metaaug.base import MetaaugEstimator
from metaaug.constraints import HasMethods, Interval, Options, check_params, describe, satisfies


@given(st.integers(-(10**6), 10**6))
def test_integral_interval_matches_the_bounds(value):
    closed = Interval(Integral, -5, 5)
    open_ = Interval(Integral, -5, 5, closed="neither")
    assert closed.is_satisfied_by(value) == (-5 <= value <= 5)
    assert open_.is_satisfied_by(value) == (-5 < value < 5)
    assert Interval(Integral, 0, None).is_satisfied_by(np.int64(value)) == (value >= 0)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_real_interval_refuses_non_finite_values(value):
    interval = Interval(Real, 0, None, closed="neither")
    assert interval.is_satisfied_by(value) == (math.isfinite(value) and value > 0)


@pytest.mark.parametrize("value", [True, False, "1", None, [1], torch.tensor(1.0)])
def test_numbers_refuse_bools_strings_and_containers(value):
    assert not Interval(Integral, None, None).is_satisfied_by(value)
    assert not Interval(Real, None, None).is_satisfied_by(value)


def test_integral_interval_refuses_floats_and_real_interval_takes_ints():
    assert not Interval(Integral, 0, None).is_satisfied_by(2.0)
    assert Interval(Real, 0, None).is_satisfied_by(2)
    assert Interval(Integral, 0, None).is_satisfied_by(10**400)


def test_options_compare_type_and_value():
    options = Options("N", "RO", True)
    assert options.is_satisfied_by("RO") and options.is_satisfied_by(True)
    assert not options.is_satisfied_by("n") and not options.is_satisfied_by(1)


def test_named_constraints():
    assert satisfies(None, ["random_state"]) and satisfies(3, ["random_state"])
    assert satisfies(np.random.default_rng(0), ["random_state"])
    assert not satisfies(-1, ["random_state"]) and not satisfies("0", ["random_state"])
    assert satisfies(True, ["boolean"]) and not satisfies(1, ["boolean"])
    assert satisfies("cpu", ["device"]) and satisfies(torch.device("cpu"), ["device"])
    assert not satisfies(0, ["device"])
    assert satisfies(len, ["callable"]) and not satisfies(3, ["callable"])
    assert satisfies(None, [None]) and satisfies(3, [int]) and not satisfies("3", [int])
    assert HasMethods("encode", "decode").is_satisfied_by(type("M", (), {"encode": len, "decode": len})())


def test_unknown_constraint_is_a_programming_error():
    with pytest.raises(ValueError, match="cannot read"):
        satisfies(1, ["no-such-shorthand"])


def test_describe_says_what_is_allowed():
    assert describe([None, Interval(Real, 0, None, closed="neither")]) == "None or a finite number > 0"
    assert describe([Interval(Integral, 1, 10)]) == "an int >= 1 and <= 10"
    assert describe([Options("a", "b")]) == "one of 'a', 'b'"


def test_check_params_names_the_parameter_and_the_value():
    constraints = {"lr": [Interval(Real, 0, None, closed="neither")], "n": [Interval(Integral, 1, None)]}
    check_params("Thing", {"lr": 0.1, "n": 2}, constraints)
    with pytest.raises(ValueError, match=r"Thing: lr must be a finite number > 0, got inf"):
        check_params("Thing", {"lr": float("inf"), "n": 2}, constraints)
    with pytest.raises(ValueError, match=r"Thing: n must be an int >= 1, got 'abc'"):
        check_params("Thing", {"lr": 0.1, "n": "abc"}, constraints)


class _Toy(MetaaugEstimator):
    """A toy estimator for the base class's parameter check."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "steps": [Interval(Integral, 1, None)],
        "low": [Interval(Real, None, None)],
        "high": [Interval(Real, None, None)],
    }

    def __init__(self, steps: int = 1, low: float = 0.0, high: float = 1.0) -> None:
        self.steps = steps
        self.low = low
        self.high = high

    def _validate_relations(self) -> None:
        if self.low >= self.high:
            raise ValueError(f"low must be below high, got {self.low} and {self.high}")


def test_base_class_checks_declared_constraints_then_relations():
    _Toy()._validate_params()
    with pytest.raises(ValueError, match="_Toy: steps must be an int >= 1, got 0"):
        _Toy(steps=0)._validate_params()
    with pytest.raises(ValueError, match="low must be below high"):
        _Toy(low=2.0)._validate_params()
