"""Index and anchor arithmetic, and fitting user-given encoders, shared by the task samplers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

#: ``candidates(n)`` -> ``n`` rows of anchors ``(n, n_ways, d)`` and, when they have one, their indices ``(n, n_ways)``
Candidates = Callable[[int], tuple[torch.Tensor, torch.Tensor | None]]


def distinct_indices(
    n_tasks: int,
    n_ways: int,
    n_items: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``(n_tasks, n_ways)`` indices into ``n_items``, distinct within each row (random keys + argsort)."""
    if n_ways > n_items:
        raise ValueError(f"n_ways={n_ways} distinct items are needed per task but only {n_items} are available")
    keys = torch.rand(n_tasks, n_items, generator=generator, device=device)
    return keys.topk(n_ways, dim=1).indices


def separated(
    candidates: Candidates, n_tasks: int, n_ways: int, epsilon: float, max_redraws: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Anchors ``(n_tasks, n_ways, d)`` from ``candidates``, pairwise at least ``epsilon`` apart within a task.

    The tasks whose closest pair of anchors is nearer than ``epsilon`` are
    redrawn (those tasks only), at most ``max_redraws`` times; then a
    ``ValueError`` reports the largest minimum distance seen. Returns the
    anchors and their indices (``None`` when ``candidates`` gives none).
    """
    anchors, index = candidates(n_tasks)
    if epsilon <= 0 or n_ways < 2:
        return anchors, index
    off_diagonal = ~torch.eye(n_ways, dtype=torch.bool)

    def min_distance(z: torch.Tensor) -> torch.Tensor:
        return torch.cdist(z, z)[:, off_diagonal].min(dim=1).values

    distance = min_distance(anchors)
    best = float(distance.max())
    for _ in range(max_redraws):
        failing = (distance < epsilon).nonzero().flatten()
        if len(failing) == 0:
            return anchors, index
        retry, retry_index = candidates(len(failing))
        anchors[failing] = retry
        if index is not None and retry_index is not None:
            index[failing] = retry_index
        distance[failing] = min_distance(retry)
        best = max(best, float(distance[failing].max()))
    if bool((distance < epsilon).any()):
        raise ValueError(
            f"epsilon={epsilon} is too large: after {max_redraws} redraws some of the "
            f"{n_tasks} tasks still had {n_ways} anchors closer than epsilon; the largest minimum "
            f"pairwise anchor distance seen was {best:.4g}. Use a smaller epsilon (or fewer n_ways)."
        )
    return anchors, index


def fitted(model: Any, X: torch.Tensor) -> Any:
    """``model`` itself when fitted (or not an estimator), else a clone of it fitted on ``X``.

    The user's estimator is never fitted in place.
    """
    if callable(getattr(model, "fit", None)) and hasattr(model, "get_params"):
        try:
            check_is_fitted(model)
        except NotFittedError:
            return clone(model).fit(X)
        except TypeError:
            pass
    return model
