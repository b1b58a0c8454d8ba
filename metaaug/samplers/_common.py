"""Index and anchor arithmetic, query augmentation and fitting user-given encoders, shared by the task samplers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from metaaug.augment import AffineRanges, apply_params, sample_params, shift_images
from metaaug.base import MetaaugEstimator, nested_random_state
from metaaug.data.sources import ImageSource

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


def fitted(model: Any, X: Any, role: str = "nested") -> Any:
    """``model`` itself when fitted (or not an estimator), else a clone of it fitted on ``X``.

    The user's estimator is never fitted in place. Called inside an outer
    estimator's ``fit``, a clone whose ``random_state`` is None gets one
    derived from the outer ``random_state`` (:func:`metaaug.base.nested_random_state`,
    ``role`` naming the nested estimator), and the outer ``max_time`` bounds
    its training (every :class:`~metaaug.base.TrainingBudget` reads it).
    ``X`` may be an :class:`~metaaug.data.sources.ImageSource`: a metaaug
    estimator reads it batch by batch, any other estimator gets its images as
    one float tensor.
    """
    if callable(getattr(model, "fit", None)) and hasattr(model, "get_params"):
        try:
            check_is_fitted(model)
        except NotFittedError:
            copy = clone(model)
            if "random_state" in copy.get_params(deep=False) and copy.get_params(deep=False)["random_state"] is None:
                copy.set_params(random_state=nested_random_state(role))
            if isinstance(X, ImageSource) and not isinstance(copy, MetaaugEstimator):
                X = X.tensor()
            return copy.fit(X)
        except TypeError:
            pass
    return model


def default_query_shift(query_shift: int | None, image_shape: tuple[int, ...]) -> int:
    """Pixels of the query shifts: ``query_shift``, or 5 px at 28 px scaled to the image size."""
    if query_shift is not None:
        return int(query_shift)
    return max(1, round(5 * min(image_shape[1:]) / 28))


def augment_queries(images: torch.Tensor, augmentation: Any, shift: int) -> torch.Tensor:
    """Query-only augmentation: integer shifts of up to ``shift`` px (the authors' code) or a random affine transform.

    ``augmentation`` is ``"shift"``, ``"affine"`` (UMTRA's ranges for the
    image kind) or an :class:`~metaaug.augment.AffineRanges`.
    """
    if augmentation == "shift":
        return shift_images(images, torch.randint(-shift, shift + 1, (len(images), 2)))
    ranges = augmentation
    if not isinstance(ranges, AffineRanges):
        ranges = AffineRanges.characters() if images.shape[1] == 1 else AffineRanges.natural()
    params = sample_params(len(images), ranges, images.shape[-1])
    return apply_params(images, params, ranges.padding_mode)
