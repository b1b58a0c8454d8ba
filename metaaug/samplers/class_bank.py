"""The bank of generated classes behind LASIUM's ``class_reuse > 1``.

Generating a class (decoding its in-class samples) is LASIUM's whole
sampling cost. A :class:`ClassBank` keeps ``size`` generated classes; tasks
draw their classes from it, and each call replaces a share of the bank with
fresh classes, so on average each generated class serves ``class_reuse``
tasks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

import torch

from metaaug.samplers._common import distinct_indices, separated

#: ``generate(n_groups)`` -> images ``(n_groups, n_ways, per_class, C, H, W)`` and anchors ``(n_groups, n_ways, d)``
Generate = Callable[[int], tuple[torch.Tensor, torch.Tensor]]


class ClassBank:
    """``size`` generated classes: ``images`` ``(size, per_class, C, H, W)`` and their ``anchors`` ``(size, d)``.

    ``key`` describes what the classes were generated with (sampling
    parameters and task layout); a bank whose key differs from the current
    one is stale and must be refilled.
    """

    def __init__(self, key: Hashable, images: torch.Tensor, anchors: torch.Tensor) -> None:
        self.key = key
        self.images = images
        self.anchors = anchors

    @classmethod
    def filled(cls, key: Hashable, size: int, n_ways: int, generate: Generate) -> ClassBank:
        """A bank of ``size`` classes generated in groups of ``n_ways``."""
        images, anchors = generate(math.ceil(size / n_ways))
        return cls(key, images.flatten(0, 1)[:size], anchors.flatten(0, 1)[:size])

    @property
    def size(self) -> int:
        return len(self.images)

    def candidates(self, n_tasks: int, n_ways: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchors ``(n_tasks, n_ways, d)`` of random classes, distinct within a task, and their bank indices."""
        index = distinct_indices(n_tasks, n_ways, self.size)
        return self.anchors[index], index

    def serve(
        self, n_tasks: int, n_ways: int, reuse: float, generate: Generate, epsilon: float, max_redraws: int
    ) -> torch.Tensor:
        """Images ``(n_tasks, n_ways, per_class, C, H, W)`` of bank classes, then ``n_tasks * n_ways / reuse`` renewed.

        A task's classes are distinct, and their anchors at least ``epsilon`` apart (see
        :func:`~metaaug.samplers._common.separated`).
        """
        _, index = separated(lambda n: self.candidates(n, n_ways), n_tasks, n_ways, epsilon, max_redraws)
        assert index is not None  # bank candidates always come with their indices
        images = self.images[index]
        self.renew(n_tasks * n_ways / reuse, n_ways, generate)
        return images

    def renew(self, expected: float, n_ways: int, generate: Generate) -> None:
        """Replace ``expected`` random classes (stochastically rounded) with freshly generated ones."""
        # stochastic rounding keeps the average renewal at exactly ``expected``
        n_new = min(self.size, int(expected) + int(torch.rand(()) < expected - int(expected)))
        if not n_new:
            return
        fresh_images, fresh_anchors = generate(math.ceil(n_new / n_ways))
        slots = torch.randperm(self.size)[:n_new]
        self.images[slots] = fresh_images.flatten(0, 1)[:n_new]
        self.anchors[slots] = fresh_anchors.flatten(0, 1)[:n_new]
