"""Data-parallel training on ``torch.distributed``: what a ``fit`` does when a process group is running.

When the default process group is initialised (typically by ``torchrun``)
with more than one process, every ``fit`` that supports it splits its work:
each rank draws its share of the meta-batch (or data batch) from a random
stream of its own derived from ``random_state``, computes the loss of that
share, and the gradients are averaged across ranks with one explicit
all-reduce per optimiser step before every rank applies the same update.
Explicit all-reduces (rather than ``DistributedDataParallel``'s hooks) work
with learn2learn's ``clone``/``adapt`` and with the two-network steps of the
GANs. Only rank 0 shows progress bars; the caller decides who writes files
(:func:`is_main_process`).

Nothing here starts a process group: launch with ``torchrun`` and call
``torch.distributed.init_process_group`` (the CLI does so itself), or use
:func:`init_from_environment`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from metaaug._random import check_rng, draw_seed

__all__ = [
    "DataParallel",
    "DistributedTrainingError",
    "current_group",
    "init_from_environment",
    "is_main_process",
]


class DistributedTrainingError(RuntimeError):
    """A data-parallel fit cannot go on: ranks disagree, the work cannot be split, or a rank failed."""


def _launched_by_torchrun() -> bool:
    return all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"))


def init_from_environment(backend: str | None = None, timeout: float = 600.0) -> bool:
    """Initialise the default process group from ``torchrun``'s environment variables.

    Does nothing (returns False) when the variables are absent, the group is
    already initialised, or ``WORLD_SIZE`` is 1. ``backend`` defaults to
    ``"nccl"`` when CUDA is available and ``"gloo"`` otherwise; ``timeout``
    (seconds) bounds how long a collective waits for a rank that stopped
    answering. With CUDA, the process uses the GPU ``LOCAL_RANK``.
    """
    if not dist.is_available() or dist.is_initialized() or not _launched_by_torchrun():
        return False
    if int(os.environ["WORLD_SIZE"]) < 2:
        return False
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=float(timeout)))
    return True


def current_group() -> DataParallel | None:
    """The running data-parallel group, or None when training is single-process."""
    if not dist.is_available() or not dist.is_initialized():
        return None
    world_size = dist.get_world_size()
    if world_size < 2:
        return None
    return DataParallel(rank=dist.get_rank(), world_size=world_size)


def is_main_process() -> bool:
    """True on rank 0 of a process group and in a single-process run: the process that writes files."""
    group = current_group()
    return group is None or group.is_main


def _state_fingerprint(random_state: Any) -> int:
    """A number equal on two processes exactly when their ``random_state`` values would draw the same stream."""
    if random_state is None:
        return -1
    if isinstance(random_state, np.random.Generator):
        text = repr(random_state.bit_generator.state)
    elif isinstance(random_state, np.random.RandomState):
        text = repr(random_state.get_state(legacy=False))
    else:
        text = repr(int(random_state))
    return zlib.crc32(text.encode())


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    data = tensor.detach().to("cpu").contiguous().reshape(-1)
    return data.view(torch.uint8).numpy().tobytes() if data.numel() else b""


def _parameter_fingerprint(modules: Iterable[nn.Module]) -> int:
    checksum = 0
    for module in modules:
        for tensor in module.state_dict().values():
            if isinstance(tensor, torch.Tensor):
                checksum = zlib.crc32(_tensor_bytes(tensor), checksum)
    return checksum


class DataParallel:
    """This process's place in a data-parallel fit: its rank, the world size and the collectives a fit needs.

    Parameters
    ----------
    rank : int
        This process's rank in the default process group.
    world_size : int
        Number of processes in the group (>= 2).
    """

    def __init__(self, rank: int, world_size: int) -> None:
        self.rank = int(rank)
        self.world_size = int(world_size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, world_size={self.world_size})"

    # ------------------------------------------------------------ the work split
    def split(self, total: int, what: str, owner: str) -> int:
        """This rank's share of ``total`` items that must split evenly (e.g. the tasks of a meta-batch)."""
        if total % self.world_size:
            raise DistributedTrainingError(
                f"{owner}: {what}={total} cannot be split evenly across {self.world_size} processes; use a multiple "
                f"of {self.world_size} (each process trains on {what} / {self.world_size} per step)"
            )
        return total // self.world_size

    def bounds(self, total: int) -> tuple[int, int]:
        """Start and stop of this rank's contiguous share of ``total`` items (shares differ by at most one)."""
        return (self.rank * total) // self.world_size, ((self.rank + 1) * total) // self.world_size

    def rank_rng(self, rng: np.random.Generator) -> np.random.Generator:
        """A random stream of this rank's own, derived from ``rng`` (one draw from it, the same on every rank)."""
        return np.random.default_rng([draw_seed(rng), self.rank])

    # ------------------------------------------------------------ agreement checks
    def _device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")

    def gather_ints(self, value: int) -> list[int]:
        """``value`` of every rank, in rank order."""
        mine = torch.tensor([int(value)], dtype=torch.int64, device=self._device())
        everyone = [torch.zeros_like(mine) for _ in range(self.world_size)]
        with self._collective("a start-up check"):
            dist.all_gather(everyone, mine)
        return [int(t.item()) for t in everyone]

    def check_same(self, value: int, what: str, owner: str) -> None:
        """Refuse (on every rank) when ``value`` differs across ranks."""
        values = self.gather_ints(value)
        if len(set(values)) > 1:
            differing = [rank for rank, v in enumerate(values) if v != values[0]]
            raise DistributedTrainingError(
                f"{owner}: {what} differs across the {self.world_size} processes (ranks {differing} differ "
                "from rank 0); every process of a data-parallel fit must be given the same estimator, "
                "parameters and random_state"
            )

    def common_rng(self, random_state: Any, owner: str) -> np.random.Generator:
        """The generator every rank shares: ``random_state`` checked equal across ranks.

        ``random_state=None`` draws a fresh seed on rank 0 and hands it to
        the others, so every rank still starts from the same networks.
        """
        self.check_same(_state_fingerprint(random_state), "random_state", owner)
        if random_state is None:
            seed = self.gather_ints(int(np.random.default_rng().integers(0, 2**62)) if self.is_main else 0)[0]
            return np.random.default_rng(seed)
        return check_rng(random_state)

    def check_parameters(self, modules: Sequence[nn.Module], owner: str) -> None:
        """Refuse when the networks' parameters and buffers differ across ranks."""
        self.check_same(_parameter_fingerprint(modules), "the networks' starting parameters", owner)

    # ------------------------------------------------------------ per-step collectives
    @contextlib.contextmanager
    def _collective(self, what: str) -> Iterator[None]:
        try:
            yield
        except RuntimeError as err:
            if dist.is_initialized():  # the group cannot be used after a lost peer: leave it
                with contextlib.suppress(Exception):
                    dist.destroy_process_group()
            raise DistributedTrainingError(
                f"the process group failed during {what} on rank {self.rank}: another process stopped or "
                f"failed (its own error says why). Underlying error: {str(err).splitlines()[0][:200]}"
            ) from err

    def all_reduce_gradients(
        self, parameters: Iterable[torch.Tensor], weight: float = 1.0, values: Sequence[float] = ()
    ) -> list[float]:
        """Replace each parameter's gradient by the ``weight``-weighted mean across ranks.

        ``weight`` is the size of this rank's share when shares differ (each
        rank's loss being a mean over its share, the result is the gradient of
        the mean over all shares). A gradient that is None on every rank stays
        None. ``values`` (e.g. the loss) are averaged with the same weights and
        returned. One all-reduce of one flat buffer.
        """
        params = [p for p in parameters if p.requires_grad]
        if not params:
            return list(values)
        device = params[0].device
        dtype = torch.float32 if params[0].dtype in (torch.float16, torch.bfloat16) else params[0].dtype
        pieces = [
            (
                p.grad.detach().reshape(-1).to(dtype)
                if p.grad is not None
                else torch.zeros(p.numel(), dtype=dtype, device=device)
            )
            for p in params
        ]
        present = torch.tensor([p.grad is not None for p in params], dtype=dtype, device=device)
        extras = torch.tensor([1.0, *values], dtype=dtype, device=device)
        buffer = torch.cat([*pieces, present, extras]) * float(weight)
        with self._collective("a gradient all-reduce"):
            dist.all_reduce(buffer)
        n_values = sum(p.numel() for p in params)
        total_weight = buffer[n_values + len(params)]
        buffer = buffer / total_weight
        offset = 0
        for param, presence in zip(params, buffer[n_values : n_values + len(params)].tolist()):
            size = param.numel()
            if presence > 0:
                grad = buffer[offset : offset + size].view_as(param).to(param.dtype)
                if param.grad is None:
                    param.grad = grad.clone()
                else:
                    param.grad.copy_(grad)
            offset += size
        return buffer[n_values + len(params) + 1 :].tolist()

    def mean(self, values: Sequence[float], weight: float = 1.0) -> list[float]:
        """The ``weight``-weighted mean across ranks of each of ``values``."""
        buffer = torch.tensor([1.0, *values], dtype=torch.float64, device=self._device()) * float(weight)
        with self._collective("an all-reduce of training statistics"):
            dist.all_reduce(buffer)
        return (buffer[1:] / buffer[0]).tolist()

    def any(self, flag: bool, what: str = "the stopping vote") -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        buffer = torch.tensor([1 if flag else 0], dtype=torch.int32, device=self._device())
        with self._collective(what):
            dist.all_reduce(buffer, op=dist.ReduceOp.MAX)
        return bool(buffer.item())

    def average_buffers(self, modules: Iterable[nn.Module]) -> None:
        """Average floating-point buffers (batch-norm running statistics) across ranks, so all ranks end equal."""
        buffers = [b for m in modules for b in m.buffers() if b.is_floating_point()]
        if not buffers:
            return
        flat = torch.cat([b.detach().reshape(-1).float() for b in buffers]) / self.world_size
        with self._collective("the final averaging of batch-norm statistics"):
            dist.all_reduce(flat)
        offset = 0
        for b in buffers:
            b.copy_(flat[offset : offset + b.numel()].view_as(b).to(b.dtype))
            offset += b.numel()

    @contextlib.contextmanager
    def failing_stops_all(self) -> Iterator[None]:
        """Run a training loop so that a failure on this rank stops the other ranks instead of leaving them waiting.

        On an error raised by this rank's own work the process group is
        destroyed: the other ranks' next collective then fails at once (gloo)
        or after the group's timeout (nccl) with a
        :class:`DistributedTrainingError` (and they leave the group too), and
        this rank re-raises its error. A new fit on the same processes then
        needs a new ``init_process_group``.
        """
        try:
            yield
        except DistributedTrainingError:
            raise
        except BaseException:
            if dist.is_initialized():
                with contextlib.suppress(Exception):
                    dist.destroy_process_group()
            raise


def check_distinct_tasks(group: DataParallel, task: Any, owner: str) -> None:
    """Refuse a sampler that gives every rank the same tasks (it ignores ``random_state``): the work cannot be split."""
    fingerprint = zlib.crc32(_tensor_bytes(task.support_x))
    values = group.gather_ints(fingerprint)
    if len(set(values)) == 1:
        raise DistributedTrainingError(
            f"{owner}: the sampler gave the same first task on all {group.world_size} processes, so the work "
            "cannot be split across them: its sample_tasks must draw different tasks for different "
            "random_state values (each process passes a seed of its own)"
        )


def split_torch_streams(group: DataParallel, rng: np.random.Generator) -> torch.Generator:
    """Split torch's randomness of a fit into a stream all ranks share and one of this rank's own.

    Call it inside ``torch_seeded(rng)`` once the networks are initialised
    (identically on every rank) and ``rng`` is the common generator
    (:meth:`DataParallel.common_rng`). Returns a CPU ``torch.Generator``
    seeded from ``rng``, equal on every rank (for what all ranks must agree
    on, such as the order of the data), and reseeds torch's global RNG from
    this rank's own stream (:meth:`DataParallel.rank_rng`): augmentations,
    noise and task draws then differ across ranks. ``torch_seeded`` restores
    the caller's global RNG afterwards.
    """
    shared = torch.Generator()
    shared.manual_seed(draw_seed(rng))
    torch.manual_seed(draw_seed(group.rank_rng(rng)))
    return shared


def batch_share(group: DataParallel, total: int, minimum: int = 2) -> tuple[int, int]:
    """Start and stop of this rank's contiguous share of a data batch of ``total`` items.

    A batch too small to give every rank ``minimum`` items (batch
    normalisation needs 2 in training mode), such as a short last batch of an
    epoch, is processed whole by every rank instead, each with its own
    random stream; since every rank then weighs it equally, the averaged
    gradient is the mean over the ranks' draws.
    """
    if total < minimum * group.world_size:
        return 0, total
    return group.bounds(total)


def failing_stops_all(group: DataParallel | None) -> contextlib.AbstractContextManager[None]:
    """``group.failing_stops_all()``, or a context that does nothing in a single-process fit (``group`` None)."""
    return group.failing_stops_all() if group is not None else contextlib.nullcontext()
