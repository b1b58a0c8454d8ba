"""Index arithmetic shared by the task samplers."""
from __future__ import annotations

import torch


def distinct_indices(n_tasks: int, n_ways: int, n_items: int, generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """``(n_tasks, n_ways)`` indices into ``n_items``, distinct within each row (random keys + argsort)."""
    if n_ways > n_items:
        raise ValueError(f"n_ways={n_ways} distinct items are needed per task but only {n_items} are available")
    keys = torch.rand(n_tasks, n_items, generator=generator, device=device)
    return keys.topk(n_ways, dim=1).indices
