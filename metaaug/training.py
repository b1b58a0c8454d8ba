"""The training-step budget every fit shares, and what a running fit hands to the estimators it trains inside."""

from __future__ import annotations

import contextvars
import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

if TYPE_CHECKING:
    from metaaug.distributed import DataParallel


@dataclass(frozen=True)
class _FitContext:
    """What a running ``fit`` hands down to the estimators it trains inside itself."""

    deadline: float | None  # time.perf_counter() value at which every training budget stops
    random_state: Any  # the outer estimator's random_state parameter


_FIT_CONTEXT: contextvars.ContextVar[_FitContext | None] = contextvars.ContextVar("metaaug_fit", default=None)
_FITTING: set[int] = set()  # ids of the estimators whose outermost fit call is running


def nested_random_state(role: str) -> int | None:
    """A seed for an estimator that the running ``fit`` trains inside itself.

    Derived deterministically from the outer estimator's ``random_state``
    (``role`` tells nested estimators of one outer call apart); ``None`` when
    no fit runs or the outer ``random_state`` is None. An int ``random_state``
    is not consumed; a numpy ``Generator`` gives the next draw from it.
    """
    context = _FIT_CONTEXT.get()
    state = None if context is None else context.random_state
    if state is None:
        return None
    if isinstance(state, (int, np.integer)) and not isinstance(state, bool):
        sequence = np.random.SeedSequence([int(state), zlib.crc32(role.encode())])
        return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    if isinstance(state, np.random.Generator):
        return int(state.integers(0, 2**63 - 1))
    if isinstance(state, np.random.RandomState):
        return int(state.randint(0, 2**31 - 1))
    return None


def _fit_deadline() -> float | None:
    context = _FIT_CONTEXT.get()
    return None if context is None else context.deadline


class TrainingBudget:
    """Iterate over training steps until ``n_steps`` or ``max_time`` seconds run out.

    Yields the step index and shows a tqdm bar. ``elapsed`` and ``completed``
    are readable afterwards (the estimators store them as fitted attributes).
    In a data-parallel fit (``group``), the ranks vote after every step so
    that all stop at the same step when the time runs out on any of them, and
    only rank 0 shows the bar.
    Inside an estimator's ``fit`` that has a ``max_time``, the budget also
    stops when that outer ``max_time`` runs out (nested training included);
    at least one step always runs.
    """

    def __init__(
        self,
        n_steps: int,
        max_time: float | None,
        desc: str,
        verbose: bool = True,
        unit: str = "it",
        group: DataParallel | None = None,
    ) -> None:
        if int(n_steps) < 1:
            raise ValueError(f"the training budget must be >= 1 step, got {n_steps}")
        if max_time is not None and max_time <= 0:
            raise ValueError(f"max_time must be > 0 seconds or None, got {max_time}")
        deadline = _fit_deadline()
        if deadline is not None:  # an outer fit's max_time covers this training too (at least one step runs)
            remaining = max(deadline - time.perf_counter(), 1e-9)
            max_time = remaining if max_time is None else min(max_time, remaining)
        self.n_steps = int(n_steps)
        self.max_time = max_time
        self.desc = desc
        self.group = group
        self.verbose = verbose and (group is None or group.is_main)
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
                out_of_time = self.max_time is not None and self.elapsed >= self.max_time
                if self.group is not None and step + 1 < self.n_steps:
                    out_of_time = self.group.any(out_of_time)
                if out_of_time:
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
