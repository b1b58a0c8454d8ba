"""Data-parallel fits and their failures, on each of 2 processes (the ``two_ranks`` fixture, or torchrun).

Writes ``rank<r>.pt`` into the folder given as the only argument: the tasks
each rank drew, the networks it ended with, and the error each bad-input case
raised on it.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from metaaug import MAMLClassifier, ProtoNetClassifier
from metaaug.cli import main as cli_main
from metaaug.data.digits import load_digits
from metaaug.data.tasks import LabeledTaskSampler
from metaaug.distributed import init_from_environment

try:  # run as a script: its folder is on sys.path
    from _distributed_generator_cases import generator_cases
except ImportError:  # pragma: no cover
    from tests._distributed_generator_cases import generator_cases

SMALL = {"hidden": 8, "n_ways": 3, "k_shot": 1, "k_query": 2, "meta_batch_size": 4, "verbose": False}


class RecordingSampler:
    """A LabeledTaskSampler that keeps every list of tasks it returns."""

    def __init__(self, X: Any, y: Any) -> None:
        self.inner = LabeledTaskSampler(X, y)
        self.calls: list[list[Any]] = []

    def sample_tasks(self, n_tasks: int, **kwargs: Any) -> list[Any]:
        tasks = self.inner.sample_tasks(n_tasks, **kwargs)
        self.calls.append(tasks)
        return tasks


class FixedSampler:
    """Ignores random_state: every rank gets the same tasks."""

    def __init__(self, X: Any, y: Any) -> None:
        self.inner = LabeledTaskSampler(X, y)

    def sample_tasks(self, n_tasks: int, **kwargs: Any) -> list[Any]:
        kwargs["random_state"] = 0
        return self.inner.sample_tasks(n_tasks, **kwargs)


class FailingProtoNet(ProtoNetClassifier):
    """Raises on rank 1 at the third meta-training step."""

    def _meta_loss(self, tasks: list[Any]) -> torch.Tensor:
        self._calls = getattr(self, "_calls", 0) + 1
        if dist.get_rank() == 1 and self._calls == 3:
            raise RuntimeError("injected failure on rank 1")
        return super()._meta_loss(tasks)


def error_of(fit: Any) -> str:
    try:
        fit()
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return ""


def cli_case(out: Path) -> dict[str, Any]:
    """``metaaug fit protonet`` inside the running group: every rank trains, rank 0 prints and saves."""
    printed = io.StringIO()
    args = ["fit", "protonet", "--data", "digits", "--out", str(out / "cli.pt"), "--quiet", "--seed", "0"]
    with contextlib.redirect_stdout(printed):
        code = cli_main([*args, "--param", "n_iterations=3", "--param", "hidden=8", "--param", "k_query=2"])
    dist.barrier()  # rank 0 has saved by now
    return {"code": code, "stdout": printed.getvalue(), "saved": (out / "cli.pt").exists()}


def main(out: Path) -> None:
    assert init_from_environment(timeout=60)
    rank = dist.get_rank()
    torch.set_num_threads(1)
    X, y = load_digits()
    X, y = X[:600], y[:600]
    result: dict[str, Any] = {}
    for name, cls, params in [
        ("protonet", ProtoNetClassifier, {"n_iterations": 6}),
        ("maml", MAMLClassifier, {"n_iterations": 3, "adaptation_steps": 2}),
    ]:
        sampler = RecordingSampler(X, y)
        model = cls(random_state=0, **SMALL, **params).fit(sampler)
        result[name] = {
            "calls": sampler.calls,
            "state": model.model_.state_dict(),
            "n_iter": model.n_iter_,
            "loss_curve": model.loss_curve_,
        }
    result["random_state"] = error_of(lambda: ProtoNetClassifier(random_state=rank, **SMALL).fit(X, y))
    result["odd_meta_batch"] = error_of(
        lambda: ProtoNetClassifier(random_state=0, **{**SMALL, "meta_batch_size": 3}).fit(X, y)
    )
    result["same_tasks"] = error_of(lambda: ProtoNetClassifier(random_state=0, **SMALL).fit(FixedSampler(X, y)))
    result["cli"] = cli_case(out)
    result["generators"] = generator_cases()
    # last: the failure leaves the process group (a new one would need a new rendezvous)
    start = time.perf_counter()
    result["failure"] = error_of(lambda: FailingProtoNet(random_state=0, n_iterations=50, **SMALL).fit(X, y))
    result["failure_seconds"] = time.perf_counter() - start
    torch.save(result, out / f"rank{rank}.pt")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
