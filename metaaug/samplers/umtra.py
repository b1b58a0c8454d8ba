"""UMTRA: unsupervised meta-learning tasks from random images and their augmentations.

Khodadadeh, Bölöni & Shah, "Unsupervised Meta-Learning for Few-Shot Image
Classification", NeurIPS 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import Any, ClassVar

import torch

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.augment import AffineRanges, apply_params, sample_params
from metaaug.base import MetaaugEstimator
from metaaug.constraints import Interval, Options
from metaaug.data.images import as_images
from metaaug.data.sources import as_image_source
from metaaug.data.tasks import Task, check_task_args, split_episodes
from metaaug.samplers._common import distinct_indices
from metaaug.samplers._grid import TaskPlotMixin

_PRESETS = {"characters": AffineRanges.characters, "natural": AffineRanges.natural}


class UMTRA(TaskPlotMixin, MetaaugEstimator):
    """Tasks whose classes are random unlabeled images (UMTRA).

    Each task draws ``n_ways`` distinct training images; each image is a class.
    Its support is the original image (plus ``k_shot - 1`` augmentations when
    ``k_shot > 1``); its queries are ``k_query`` augmentations. With many more
    images than ways, the chance that two images of one task share a true
    class is small, which is the paper's argument.

    Parameters
    ----------
    augmentation : None, "characters", "natural", AffineRanges or callable, default None
        How in-class samples are made. ``None`` picks ``"characters"`` (random
        rotation, translation, scale, shear: :meth:`AffineRanges.characters`)
        for one-channel images and ``"natural"`` (AugIntAE's RGB ranges: half
        the rotation/shear, shifts of +-8 px at any image size, scale changes
        that act as crops, colour jitter, symmetric padding:
        :meth:`AffineRanges.natural`) for RGB.
        An :class:`~metaaug.augment.AffineRanges` sets the ranges; both run
        batched. A callable (e.g. a torchvision v2 ``Compose``) is applied to
        one ``(C, H, W)`` image at a time, so its random parameters differ per
        image; it is slower.
    pixel_dropout : float, default 0.0
        Probability of zeroing each pixel of an augmented image after the
        transform (UMTRA's Omniglot augmentation zeroes random pixels).
    random_state : None, int or numpy Generator
        Unused by ``fit`` (kept for the shared estimator interface).
    device : "auto", "cpu" or "cuda"
        Where augmentation runs; tasks are returned on the CPU.

    Attributes
    ----------
    images_ : torch.Tensor
        The training images.
    image_shape_ : tuple
        ``(C, H, W)``.

    Notes
    -----
    Differences from the paper:

    * The default augmentation is a random affine transform with AugIntAE's
      character ranges (rotation +-20 deg, shift +-4 px at 28 px, scale
      0.8-1.2, shear +-6 deg); the paper's Omniglot augmentation is random
      pixel zeroing plus shifts (``pixel_dropout`` and an ``AffineRanges`` with
      only translation reproduce it). Augmentations run on the fly, batched,
      rather than through a data pipeline.
    * ``k_shot > 1`` (not in the paper): the extra support samples are
      augmentations of the original.
    * Saving requires ``augmentation`` to be ``None`` or a preset name.
    """

    _parameter_constraints: ClassVar[dict[str, Sequence[Any]]] = {
        "augmentation": [None, Options(*_PRESETS), AffineRanges, "callable"],
        "pixel_dropout": [Interval(Real, 0, 1, closed="left")],
        "random_state": ["random_state"],
        "device": ["device"],
    }

    def __init__(
        self,
        augmentation: None | str | AffineRanges | Callable = None,
        pixel_dropout: float = 0.0,
        random_state: RandomState = None,
        device: str = "auto",
    ) -> None:
        self.augmentation = augmentation
        self.pixel_dropout = pixel_dropout
        self.random_state = random_state
        self.device = device

    def _ranges(self) -> AffineRanges | Callable:
        """``augmentation`` resolved: ranges for the affine path, or the callable."""
        augmentation = self.augmentation
        if augmentation is None:
            return AffineRanges.characters() if self.image_shape_[0] == 1 else AffineRanges.natural()
        if isinstance(augmentation, str):
            return _PRESETS[augmentation]()
        return augmentation

    def fit(self, X: Any, y: Any = None) -> UMTRA:
        """Store the unlabeled images ``X`` (``y`` is ignored)."""
        self._validate_params()
        X = as_image_source(X, min_count=2)
        self.image_shape_ = tuple(int(s) for s in X.shape[1:])
        self.images_ = X.cpu()  # uint8 images stay uint8; a Dataset stays on disk
        return self

    def augment(self, images: Any, random_state: RandomState = None) -> torch.Tensor:
        """One random augmentation of each image (the in-class samples of UMTRA)."""
        self._check_fitted()
        images = as_images(images, name="images")
        with torch_seeded(check_rng(random_state)):
            return self._augment(images)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        ranges = self._ranges()
        if isinstance(ranges, AffineRanges):
            device = self._device()
            params = sample_params(len(images), ranges, images.shape[-1])
            out = apply_params(images.to(device), params.to(device), ranges.padding_mode).cpu()
        else:
            out = torch.stack([torch.as_tensor(ranges(image)).float() for image in images])
            if out.shape != images.shape:
                raise ValueError(
                    f"the augmentation callable must keep the image shape {tuple(images.shape[1:])}, "
                    f"got {tuple(out.shape[1:])}"
                )
            out = out.clamp(0, 1)
        if self.pixel_dropout > 0:
            keep = torch.rand(len(out), 1, *out.shape[2:]) >= self.pixel_dropout
            out = out * keep
        return out

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 5, k_shot: int = 1, k_query: int = 15, random_state: RandomState = None
    ) -> list[Task]:
        """Draw ``n_tasks`` tasks of ``n_ways`` distinct random images (classes).

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            Bad layout arguments or ``n_ways`` larger than the number of images.
        """
        self._check_fitted()
        check_task_args(n_tasks, n_ways, k_shot, k_query, image_shape=self.image_shape_, device=self._device())
        if n_ways > len(self.images_):
            raise ValueError(f"n_ways={n_ways} but UMTRA was fitted on {len(self.images_)} image(s)")
        per_class = k_shot + k_query
        with torch_seeded(check_rng(random_state)):
            index = distinct_indices(n_tasks, n_ways, len(self.images_))
            originals = self.images_[index.reshape(-1)]
            images = originals.unsqueeze(1).repeat(1, per_class, 1, 1, 1)
            if per_class > 1:
                augmented = self._augment(images[:, 1:].reshape(-1, *self.image_shape_))
                images[:, 1:] = augmented.view(len(originals), per_class - 1, *self.image_shape_)
        return split_episodes(images.view(n_tasks, n_ways, per_class, *self.image_shape_), n_ways, k_shot, k_query)
