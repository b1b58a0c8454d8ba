"""The lazy map-style datasets every benchmark loader returns, and their shared checks.

Two kinds of storage, one interface:

* :class:`ImageListDataset`: a list of image files, each opened only when
  its item is read (mini-ImageNet folders, CelebA, Flowers102, Animal Faces);
* :class:`ArrayImageDataset`: an ``(N, H, W, 3)`` uint8 array that the file
  format itself stores in one piece (the mini-ImageNet pickles, CIFAR-100).

Both return ``(image, label)`` with ``image`` a ``torch.uint8`` tensor
``(3, H, W)`` (before ``transform``) and expose ``targets`` (one int label
per item, known without decoding any image), ``classes`` (the class names,
``classes[label]``), ``split``, ``image_size`` and ``transform``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from metaaug._random import RandomState, check_rng

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


# the split names of the generation benchmarks (LoFGAN's seen / unseen classes) and their aliases
SEEN_UNSEEN_SPLITS = {"seen": "seen", "train": "seen", "unseen": "unseen", "test": "unseen", "all": "all"}


def check_split(split: str, allowed: dict[str, str], dataset: str) -> str:
    """The canonical split name for ``split`` (``allowed`` maps accepted names to canonical ones)."""
    if not isinstance(split, str) or split not in allowed:
        names = ", ".join(repr(name) for name in allowed)
        raise ValueError(f"{dataset}: split must be one of {names}, got {split!r}")
    return allowed[split]


def check_image_size(image_size: int | None) -> int | None:
    if image_size is None:
        return None
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be None or a positive int, got {image_size!r}")
    return int(image_size)


def require_file(path: Path, dataset: str, how_to_get: str) -> Path:
    """``path`` if it exists, else one ``ValueError`` naming it and how to get the data."""
    if not path.exists():
        raise ValueError(f"{dataset}: missing {path}. {how_to_get}")
    return path


def to_uint8_chw(image: Image.Image, image_size: int | None) -> torch.Tensor:
    """An RGB ``(3, H, W)`` uint8 tensor, resized to ``image_size`` squared when given."""
    image = image.convert("RGB")
    if image_size is not None and image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


class _LabeledImages(Dataset):
    """Shared bookkeeping of the two storage kinds."""

    def __init__(
        self,
        targets: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        split: str,
        image_size: int | None,
        transform: Callable[[Any], Any] | None,
    ) -> None:
        self.targets = np.asarray(targets, dtype=np.int64)
        self.classes = list(classes)
        self.split = split
        self.image_size = check_image_size(image_size)
        if transform is not None and not callable(transform):
            raise ValueError(f"transform must be None or callable, got {type(transform).__name__}")
        self.transform = transform
        if len(self.targets) and (self.targets.min() < 0 or self.targets.max() >= len(self.classes)):
            raise ValueError("labels must lie in 0..len(classes)-1")

    def __len__(self) -> int:
        return len(self.targets)

    def _image(self, index: int) -> torch.Tensor:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple[Any, int]:
        index = int(index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} images")
        image: Any = self._image(index % len(self))
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[index])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(split={self.split!r}, images={len(self)}, classes={len(self.classes)}, "
            f"image_size={self.image_size})"
        )


class ImageListDataset(_LabeledImages):
    """Images stored as files, one file per item, opened only when read.

    Parameters
    ----------
    paths : sequence of path
        One image file per item.
    targets : sequence of int
        The label of each item, in ``0..len(classes)-1``.
    classes : sequence of str
        Class names.
    split : str
        The split these items belong to (kept as ``split``).
    image_size : int, optional
        Resize every image to ``image_size x image_size`` (bicubic); ``None``
        keeps the file's size.
    transform : callable, optional
        Applied to the ``(3, H, W)`` uint8 tensor of each item.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        targets: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        split: str = "all",
        image_size: int | None = None,
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__(targets, classes, split, image_size, transform)
        self.paths = [Path(p) for p in paths]
        if len(self.paths) != len(self.targets):
            raise ValueError(f"{len(self.paths)} paths but {len(self.targets)} labels")

    def _image(self, index: int) -> torch.Tensor:
        path = self.paths[index]
        try:
            with Image.open(path) as file:
                return to_uint8_chw(file, self.image_size)
        except (OSError, ValueError, SyntaxError) as err:  # PIL's UnidentifiedImageError is an OSError
            raise ValueError(f"cannot read the image {path}: {err}") from None


class ArrayImageDataset(_LabeledImages):
    """Images held in one ``(N, H, W, 3)`` uint8 array (formats that store them so).

    Parameters
    ----------
    images : ndarray
        ``(N, H, W, 3)`` uint8 images; the array is kept, not copied, so a
        subset is best passed with ``indices``.
    indices : sequence of int, optional
        The rows of ``images`` that make up this dataset (default: all).
    targets, classes, split, image_size, transform
        As in :class:`ImageListDataset`; resizing happens per item, when read.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: Sequence[int] | np.ndarray,
        classes: Sequence[str],
        split: str = "all",
        image_size: int | None = None,
        transform: Callable[[Any], Any] | None = None,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        super().__init__(targets, classes, split, image_size, transform)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be an (N, H, W, 3) uint8 array, got {images.dtype} {images.shape}")
        self.images = images
        self.indices = np.arange(len(images)) if indices is None else np.asarray(indices, dtype=np.int64)
        if len(self.indices) != len(self.targets):
            raise ValueError(f"{len(self.indices)} images but {len(self.targets)} labels")

    def _image(self, index: int) -> torch.Tensor:
        pixels = self.images[self.indices[index]]
        if self.image_size is None or pixels.shape[:2] == (self.image_size, self.image_size):
            return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1).contiguous()
        return to_uint8_chw(Image.fromarray(pixels), self.image_size)


def to_tensors(
    dataset: Any, max_per_class: int | None = None, random_state: RandomState = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a dataset of ``(image, label)`` into ``(X, y)`` tensors.

    Parameters
    ----------
    dataset : Dataset
        A map-style dataset of ``(image, label)`` with uint8 ``(C, H, W)``
        images of one size (e.g. any loader of :mod:`metaaug.datasets` with
        ``image_size`` set).
    max_per_class : int, optional
        Keep at most this many random images of each class (read from
        ``dataset.targets`` when present, so the others are never decoded).
    random_state : None, int or Generator
        Picks the images kept by ``max_per_class``.

    Returns
    -------
    X : torch.Tensor
        ``(N, C, H, W)`` uint8 images, in dataset order.
    y : torch.Tensor
        int64 labels.
    """
    targets = getattr(dataset, "targets", None)
    if targets is None:
        targets = [int(dataset[i][1]) for i in range(len(dataset))]
    labels = np.asarray(targets, dtype=np.int64)
    keep = np.arange(len(labels))
    if max_per_class is not None:
        if isinstance(max_per_class, bool) or not isinstance(max_per_class, (int, np.integer)) or max_per_class < 1:
            raise ValueError(f"max_per_class must be None or a positive int, got {max_per_class!r}")
        rng = check_rng(random_state)
        picked = [rng.permutation(np.flatnonzero(labels == c))[:max_per_class] for c in np.unique(labels).tolist()]
        keep = np.sort(np.concatenate(picked)) if picked else keep[:0]
    if len(keep) == 0:
        raise ValueError("the dataset has no images")
    images = [torch.as_tensor(dataset[int(i)][0]) for i in keep]
    shapes = {tuple(im.shape) for im in images}
    if len(shapes) > 1:
        raise ValueError(f"images of several sizes {sorted(shapes)[:3]}: build the dataset with image_size=")
    return torch.stack(images), torch.from_numpy(labels[keep])
