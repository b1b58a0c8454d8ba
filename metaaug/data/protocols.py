"""The two duck-typed roles every component plugs into."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

    from metaaug.data.tasks import Task


@runtime_checkable
class TaskSampler(Protocol):
    """Anything that builds N-way episodes (LASIUM, UMTRA, CACTUs, labeled data)."""

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: Any = None
    ) -> list[Task]: ...


@runtime_checkable
class Augmenter(Protocol):
    """Anything that makes ``n`` new images of the class shown by ``seeds``."""

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor: ...
