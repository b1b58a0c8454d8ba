"""Data-parallel fits on torch.distributed: two gloo processes under torchrun, and the pieces in one process."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from metaaug import MAMLClassifier, ProtoNetClassifier
from metaaug.data.prefetch import Prefetcher
from metaaug.distributed import DataParallel, DistributedTrainingError, current_group, init_from_environment
from metaaug.training import TrainingBudget


class ReplaySampler:
    """Gives a single process the union of the ranks' tasks, in the order a meta-batch of the whole group has them."""

    def __init__(self, ranks: list[list[list[Any]]], share: int) -> None:
        self.probe = ranks[0][0]
        chunks = zip(*(calls[1:] for calls in ranks))  # call 0 is each rank's one-task probe
        self.chunks = []
        for per_rank in chunks:
            merged: list[Any] = []
            for start in range(0, len(per_rank[0]), share):
                for tasks in per_rank:
                    merged.extend(tasks[start : start + share])
            self.chunks.append(merged)
        self.calls = 0

    def sample_tasks(self, n_tasks: int, **kwargs: Any) -> list[Any]:
        self.calls += 1
        if self.calls == 1:
            return self.probe
        merged = self.chunks[self.calls - 2]
        assert len(merged) == n_tasks
        return merged


SMALL = {"hidden": 8, "n_ways": 3, "k_shot": 1, "k_query": 2, "meta_batch_size": 4, "verbose": False}


@pytest.mark.parametrize(
    ("name", "cls", "params"),
    [
        ("protonet", ProtoNetClassifier, {"n_iterations": 6}),
        ("maml", MAMLClassifier, {"n_iterations": 3, "adaptation_steps": 2}),
    ],
)
def test_two_ranks_end_identical_and_match_one_process(
    two_ranks: list[dict[str, Any]], name: str, cls: type, params: dict[str, Any]
) -> None:
    rank0, rank1 = (r[name] for r in two_ranks)
    assert rank0["n_iter"] == rank1["n_iter"] == params["n_iterations"]
    np.testing.assert_array_equal(rank0["loss_curve"], rank1["loss_curve"])
    for key, value in rank0["state"].items():
        assert torch.equal(value, rank1["state"][key]), f"{key} differs across ranks"
    # the ranks drew different tasks from streams of their own
    assert not torch.equal(rank0["calls"][1][0].support_x, rank1["calls"][1][0].support_x)
    # one process, meta-batch 4, on the same 4 tasks per step: the same networks up to float rounding
    replay = ReplaySampler([rank0["calls"], rank1["calls"]], share=2)
    single = cls(random_state=0, prefetch=False, **SMALL, **params).fit(replay)
    np.testing.assert_allclose(single.loss_curve_, rank0["loss_curve"], rtol=1e-5, atol=1e-6)
    # Skipped: the conv biases. Batch norm follows them, so their true gradient is 0 and what they get is
    # rounding noise, which Adam scales up to full-size steps; the sum order differs between the runs.
    bad = []
    for key, value in single.model_.named_parameters():
        if key.endswith(".0.bias"):
            continue
        if not torch.allclose(value.detach(), rank0["state"][key], rtol=1e-4, atol=1e-5):
            bad.append((key, float((value.detach() - rank0["state"][key]).abs().max())))
    assert not bad, bad


def test_bad_setups_are_refused_on_every_rank(two_ranks: list[dict[str, Any]]) -> None:
    for result in two_ranks:
        assert "random_state differs across the 2 processes" in result["random_state"]
        assert "meta_batch_size=3 cannot be split evenly across 2 processes" in result["odd_meta_batch"]
        assert "same first task on all 2 processes" in result["same_tasks"]


def test_cli_fit_trains_on_every_rank_and_rank_0_writes(two_ranks: list[dict[str, Any]]) -> None:
    rank0, rank1 = (r["cli"] for r in two_ranks)
    assert rank0["code"] == rank1["code"] == 0
    assert "on 2 processes (data-parallel)" in rank0["stdout"] and "fitted ProtoNetClassifier" in rank0["stdout"]
    assert rank1["stdout"] == ""  # only rank 0 prints
    assert rank0["saved"] and rank1["saved"]  # the one file rank 0 wrote, seen from both ranks


def test_a_failing_rank_stops_the_others_without_waiting(two_ranks: list[dict[str, Any]]) -> None:
    assert two_ranks[1]["failure"] == "RuntimeError: injected failure on rank 1"
    assert two_ranks[0]["failure"].startswith("DistributedTrainingError: the process group failed")
    assert two_ranks[0]["failure_seconds"] < 30


# ------------------------------------------------------------------ one process


def test_single_process_has_no_group() -> None:
    assert current_group() is None
    assert init_from_environment() is False  # no torchrun variables here


def test_shares_cover_the_work() -> None:
    for world in (2, 3, 4):
        for total in (1, 5, 64, 101):
            bounds = [DataParallel(r, world).bounds(total) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == total
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            assert max(b - a for a, b in bounds) - min(b - a for a, b in bounds) <= 1
    assert DataParallel(1, 4).split(8, "meta_batch_size", "X") == 2
    with pytest.raises(DistributedTrainingError, match="meta_batch_size=6 cannot be split evenly across 4"):
        DataParallel(0, 4).split(6, "meta_batch_size", "X")


def test_rank_streams_differ_and_repeat() -> None:
    draws = [DataParallel(r, 2).rank_rng(np.random.default_rng(3)).integers(0, 2**30, 4) for r in (0, 1, 0)]
    assert not np.array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[0], draws[2])


class _VotingGroup(DataParallel):
    """A stand-in group whose other rank runs out of time at step ``stop_at``."""

    def __init__(self, stop_at: int) -> None:
        super().__init__(rank=1, world_size=2)
        self.stop_at = stop_at
        self.votes = 0

    def any(self, flag: bool, what: str = "") -> bool:
        self.votes += 1
        return flag or self.votes >= self.stop_at


def test_budget_stops_when_any_rank_runs_out_of_time() -> None:
    group = _VotingGroup(stop_at=3)
    budget = TrainingBudget(10, None, "test", verbose=True, group=group)
    assert [step for step in budget] == [0, 1, 2]
    assert budget.completed == 3 and not budget.verbose  # rank 1 shows no progress bar


def test_prefetcher_keeps_order_and_raises_where_the_source_failed() -> None:
    with Prefetcher(iter(range(50)), depth=3) as items:
        assert list(items) == list(range(50))

    def failing() -> Any:
        yield 1
        raise ValueError("bad item")

    items = Prefetcher(failing())
    assert next(items) == 1
    with pytest.raises(ValueError, match="bad item"):
        next(items)
    with pytest.raises(ValueError, match="depth"):
        Prefetcher(iter([]), depth=0)


def test_prefetch_and_precision_options(digits: Any) -> None:
    X, y = digits
    plain = ProtoNetClassifier(random_state=0, prefetch=False, n_iterations=4, **SMALL).fit(X, y)
    ahead = ProtoNetClassifier(random_state=0, prefetch=True, n_iterations=4, **SMALL).fit(X, y)
    np.testing.assert_array_equal(plain.loss_curve_, ahead.loss_curve_)
    bf16 = ProtoNetClassifier(random_state=0, precision="bf16", n_iterations=4, **SMALL).fit(X, y)
    assert next(bf16.model_.parameters()).dtype == torch.float32  # autocast leaves the weights in float32
    assert np.isfinite(bf16.loss_curve_).all() and not np.array_equal(bf16.loss_curve_, plain.loss_curve_)
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        ProtoNetClassifier(precision="fp16", device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="precision"):
        MAMLClassifier(precision="half").fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cuda(digits: Any, precision: str) -> None:
    X, y = digits
    model = MAMLClassifier(random_state=0, precision=precision, device="cuda", n_iterations=3, **SMALL).fit(X, y)
    assert np.isfinite(model.loss_curve_).all()
    assert next(model.model_.parameters()).dtype == torch.float32
