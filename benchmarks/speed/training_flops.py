"""FLOP rate of the ProtoNet and MAML meta-training steps against a matrix multiply, on one CPU thread.

Measured in one process, one torch thread:

* a reference: float32 ``torch.mm`` of square matrices (512 and 1024), FLOPs
  ``2 n^3``, the best of several calls after a warm-up; the best size is the
  reference;
* the meta-training step of ``ProtoNetClassifier()`` (conv4, 5-way 1-shot,
  4 tasks per meta-batch, with its default ``k_query=5`` and with 15) and of
  ``MAMLClassifier()`` (second-order learn2learn MAML, 5 adaptation steps):
  ``zero_grad``, the estimator's meta-training loss (written out here with
  the public API), ``backward``, Adam's ``step``,
  the network built by a one-step ``fit`` (as ``fit`` builds it, channels-last),
  on real 28x28 tasks of the embedded Omniglot subset (a pool of meta-batches
  drawn beforehand and cycled, so task sampling is not timed);
* ProtoNet's step with a batched variant of its loss: one forward pass over
  the whole meta-batch instead of the estimator's one pass per task (same
  loss formula; batch-norm statistics over the meta-batch instead of per task).

FLOPs of one step come from ``torch.utils.flop_counter.FlopCounterMode``
(forward, backward, and for MAML the inner-loop gradients and the second-order
backward through them): the FLOPs of matrix multiplies and convolutions only;
batch norm, ReLU, pooling and the optimizer's element-wise updates are not
counted. Step time: mean of ``--steps`` steps after ``--warmup`` steps, best of
``--repeats`` repeats.

    python -m benchmarks.speed.training_flops --write benchmarks/results/speed/training_flops.md

Threads: ``METAAUG_THREADS`` (default 1).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from benchmarks._harness.reporting import command_line, hardware_summary, markdown_table
from benchmarks.tables._shared import env_threads
from metaaug.data.embedded_omniglot import load_omniglot_subset
from metaaug.data.tasks import LabeledTaskSampler, Task
from metaaug.fewshot.base import FewShotClassifier
from metaaug.fewshot.maml import MAMLClassifier
from metaaug.fewshot.protonet import ProtoNetClassifier, prototype_logits

LossFn = Callable[[list[Task]], torch.Tensor]


@dataclass
class Case:
    """One timed training step: a name, its loss over a meta-batch, its optimizer and a pool of meta-batches."""

    name: str
    work: str
    loss: LossFn
    optimizer: torch.optim.Optimizer
    batches: list[list[Task]]


@dataclass
class Result:
    name: str
    work: str
    seconds: float
    flops: int
    loss_flops: int


def matmul_gflops(n: int, calls: int) -> float:
    """Best GFLOP/s of ``calls`` float32 ``n x n`` matrix multiplies (``2 n^3`` FLOPs each) after two warm-ups."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    for _ in range(2):
        torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def batched_protonet_loss(model: nn.Module) -> LossFn:
    """ProtoNet's meta-batch loss with one forward pass over all tasks (batch-norm statistics over the meta-batch)."""

    def loss(tasks: list[Task]) -> torch.Tensor:
        features = model(torch.cat([t.support_x for t in tasks] + [t.query_x for t in tasks]))
        n_support = [len(t.support_y) for t in tasks]
        supports = features[: sum(n_support)].split(n_support)
        queries = features[sum(n_support) :].split([len(t.query_y) for t in tasks])
        losses = [
            F.cross_entropy(prototype_logits(s, t.support_y, q, t.n_ways), t.query_y)
            for s, q, t in zip(supports, queries, tasks)
        ]
        return torch.stack(losses).mean()

    return loss


def prepared(estimator: FewShotClassifier, sampler: LabeledTaskSampler) -> torch.optim.Optimizer:
    """Build ``estimator``'s network as ``fit`` does (a one-step fit), in training mode, with a fresh Adam."""
    estimator.set_params(n_iterations=1, prefetch=False).fit(sampler)
    estimator.model_.train()
    return torch.optim.Adam(estimator.model_.parameters(), lr=estimator.lr)


def per_task_protonet_loss(model: nn.Module) -> LossFn:
    """``ProtoNetClassifier``'s meta-training loss: one forward pass per task (batch-norm statistics per task)."""

    def loss(tasks: list[Task]) -> torch.Tensor:
        losses = []
        for task in tasks:
            features = model(torch.cat([task.support_x, task.query_x]))
            support, query = features[: len(task.support_y)], features[len(task.support_y) :]
            losses.append(F.cross_entropy(prototype_logits(support, task.support_y, query, task.n_ways), task.query_y))
        return torch.stack(losses).mean()

    return loss


def maml_loss(estimator: MAMLClassifier) -> LossFn:
    """``MAMLClassifier``'s meta-training loss through learn2learn: adapt a clone per task, query loss."""
    import learn2learn as l2l

    maml = l2l.algorithms.MAML(estimator.model_, lr=estimator.inner_lr, first_order=estimator.first_order)

    def loss(tasks: list[Task]) -> torch.Tensor:
        losses = []
        for task in tasks:
            learner = maml.clone()
            for _ in range(estimator.adaptation_steps):
                learner.adapt(F.cross_entropy(learner(task.support_x), task.support_y))
            losses.append(F.cross_entropy(learner(task.query_x), task.query_y))
        return torch.stack(losses).mean()

    return loss


def meta_batches(
    sampler: LabeledTaskSampler, estimator: FewShotClassifier, n_batches: int, seed: int
) -> list[list[Task]]:
    """``n_batches`` meta-batches of ``estimator``'s task layout."""
    size = estimator.meta_batch_size
    tasks = sampler.sample_tasks(
        n_batches * size,
        n_ways=estimator.n_ways,
        k_shot=estimator.k_shot,
        k_query=estimator.k_query,
        random_state=seed,
    )
    return [tasks[i : i + size] for i in range(0, len(tasks), size)]


def training_step(case: Case) -> Callable[[], None]:
    """One meta-update of ``case`` per call, on the next meta-batch of its pool."""
    batches = itertools.cycle(case.batches)

    def step() -> None:
        case.optimizer.zero_grad(set_to_none=True)
        case.loss(next(batches)).backward()
        case.optimizer.step()

    return step


def step_flops(case: Case) -> tuple[int, int]:
    """FLOPs of one meta-update of ``case``: in the loss (with any inner loop), and in all (loss and backward)."""
    case.optimizer.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as forward:
        loss = case.loss(case.batches[0])
    with FlopCounterMode(display=False) as backward:
        loss.backward()
    case.optimizer.step()
    return forward.get_total_flops(), forward.get_total_flops() + backward.get_total_flops()


def seconds_per_step(step: Callable[[], None], warmup: int, steps: int, repeats: int) -> float:
    """Mean seconds per call over ``steps`` calls after ``warmup`` calls, best of ``repeats`` repeats."""
    for _ in range(warmup):
        step()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def build_cases(n_batches: int) -> list[Case]:
    """The ProtoNet (batched and per-task loss, ``k_query`` 5 and 15) and MAML steps, on embedded Omniglot."""
    X, y, _ = load_omniglot_subset("train")
    sampler = LabeledTaskSampler(X, y)
    cases = []
    for k_query in (5, 15):
        for per_task in (False, True):
            torch.manual_seed(0)
            protonet = ProtoNetClassifier(k_query=k_query, verbose=False)
            optimizer = prepared(protonet, sampler)
            images = protonet.meta_batch_size * protonet.n_ways * (protonet.k_shot + k_query)
            variant = "one forward per task (the estimator's)" if per_task else "one forward per meta-batch"
            cases.append(
                Case(
                    name=f"ProtoNet k_query={k_query}, {variant}",
                    work=f"{images} images" + (f" in {protonet.meta_batch_size} passes" if per_task else ""),
                    loss=(per_task_protonet_loss if per_task else batched_protonet_loss)(protonet.model_),
                    optimizer=optimizer,
                    batches=meta_batches(sampler, protonet, n_batches, seed=k_query),
                )
            )
    torch.manual_seed(0)
    maml = MAMLClassifier(verbose=False)
    optimizer = prepared(maml, sampler)
    support, query = maml.n_ways * maml.k_shot, maml.n_ways * maml.k_query
    cases.append(
        Case(
            name=f"MAML k_query={maml.k_query}, second order, {maml.adaptation_steps} adaptation steps",
            work=f"{maml.meta_batch_size} x ({maml.adaptation_steps} x {support} support + {query} query) images",
            loss=maml_loss(maml),
            optimizer=optimizer,
            batches=meta_batches(sampler, maml, n_batches, seed=1),
        )
    )
    return cases


def result_rows(results: list[Result], reference: float) -> list[dict[str, str]]:
    rows = []
    for r in results:
        gflops = r.flops / r.seconds / 1e9
        rows.append(
            {
                "training step": r.name,
                "work per step": r.work,
                "ms/step": f"{1e3 * r.seconds:.1f}",
                "GFLOP/step": f"{r.flops / 1e9:.2f}",
                "of which in the loss": f"{r.loss_flops / 1e9:.2f}",
                "GFLOP/s": f"{gflops:.1f}",
                "% of matmul": f"{100 * gflops / reference:.0f}%",
            }
        )
    return rows


def per_task_lines(results: list[Result]) -> list[str]:
    """One line per ``k_query``: the step time of the per-task loss (the estimator's) against the batched one."""
    lines = []
    for batched, per_task in zip(results[0:4:2], results[1:4:2]):
        k_query = batched.name.split(",")[0].removeprefix("ProtoNet ")
        lines.append(
            f"ProtoNet {k_query}: batched {1e3 * batched.seconds:.1f} ms/step, per task "
            f"{1e3 * per_task.seconds:.1f} ms/step; the per-task variant runs at "
            f"{batched.seconds / per_task.seconds:.2f}x the batched speed."
        )
    return lines


def report(matmul: dict[int, float], table: str, lines: list[str], wall: float, args: argparse.Namespace) -> str:
    reference = max(matmul.values())
    sizes = ", ".join(f"{n}: {g:.1f}" for n, g in matmul.items())
    return "\n".join(
        [
            "# Meta-training step FLOP rate on the CPU",
            "",
            f"The meta-training steps of `ProtoNetClassifier()` and `MAMLClassifier()` (defaults: conv4, 5-way "
            f"1-shot, 4 tasks per meta-batch, 28x28 tasks of the embedded Omniglot subset; ProtoNet with "
            f"`k_query` 5 and 15, MAML second order with 5 adaptation steps) on {torch.get_num_threads()} torch "
            "thread(s): `zero_grad`, the meta-training loss, `backward`, Adam `step`, the network built by `fit`. "
            f"Time: mean of {args.steps} steps after {args.warmup} warm-up steps, best of {args.repeats} repeats. "
            "FLOPs: `torch.utils.flop_counter.FlopCounterMode` over one step (matrix multiplies and convolutions "
            "of the forward pass, the backward pass and, for MAML, the inner-loop gradients and the second-order "
            "backward; batch norm, ReLU, pooling and Adam are not counted). Reference: the best float32 "
            f"`torch.mm` rate of square n x n matrices in the same run (n = {sizes} GFLOP/s; reference "
            f"{reference:.1f} GFLOP/s). The batched ProtoNet rows replace the estimator's one forward pass "
            "per task with one pass over the whole meta-batch (same loss; batch-norm statistics over the meta-batch).",
            "",
            f"Command: `{command_line()}`  ",
            f"Hardware: {hardware_summary()}  ",
            f"Torch: {torch.__version__}, {torch.get_num_threads()} thread(s)  ",
            f"Wall time: {wall:.0f} s",
            "",
            table.rstrip(),
            "",
            *(f"- {line}" for line in lines),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before the timed repeats")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (the best is reported)")
    parser.add_argument("--pool", type=int, default=8, help="meta-batches drawn beforehand and cycled")
    parser.add_argument("--matmul-calls", type=int, default=10, help="timed calls per matrix size")
    parser.add_argument("--write", type=Path, default=None, help="write the markdown report to this path")
    args = parser.parse_args()
    start = time.perf_counter()
    torch.set_num_threads(env_threads(1))
    matmul = {n: matmul_gflops(n, args.matmul_calls) for n in (512, 1024)}
    reference = max(matmul.values())
    print(
        f"matmul reference ({torch.get_num_threads()} thread(s)): "
        + ", ".join(f"n={n}: {g:.1f} GFLOP/s" for n, g in matmul.items()),
        flush=True,
    )
    results = []
    for case in build_cases(args.pool):
        loss_flops, flops = step_flops(case)
        seconds = seconds_per_step(training_step(case), args.warmup, args.steps, args.repeats)
        results.append(Result(case.name, case.work, seconds, flops, loss_flops))
        print(f"{case.name}: {1e3 * seconds:.1f} ms/step, {flops / seconds / 1e9:.1f} GFLOP/s", flush=True)
    table = markdown_table(result_rows(results, reference))
    lines = per_task_lines(results)
    print()
    print(table)
    print("\n".join(lines))
    wall = time.perf_counter() - start
    print(f"wall time {wall:.0f} s")
    if args.write is not None:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(report(matmul, table, lines, wall, args))
        print(f"wrote {args.write}")


if __name__ == "__main__":
    main()
