"""Images addressed by index, from any source, converted to float per batch.

Every ``fit``, :class:`~metaaug.data.LabeledTaskSampler`,
:class:`~metaaug.data.AugmentedDataset` and the command line read their images
through an :class:`ImageSource`:

* numpy arrays (memmaps included) and tensors are kept as given: uint8 images
  stay uint8 (a quarter of the memory of float32), and a memmap is read only
  where it is indexed;
* a list of PIL images is converted once to one uint8 array;
* any map-style torch ``Dataset`` returning an image or ``(image, label, ...)``
  (torchvision's ``ImageFolder`` and ``datasets.*``, a learn2learn
  ``MetaDataset``) is read lazily, item by item, when a batch asks for it;
* a folder path is read lazily like ``ImageFolder`` (one subfolder per class,
  or image files directly in it), with its files checked up front.

Indexing a source (``source[index]`` with an int, a slice, a list or an
integer tensor) returns float32 ``(n, C, H, W)`` images in [0, 1], the
library's convention; :func:`as_image_source` builds one from any of the above.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metaaug.data.image_conversion import (
    CHANNEL_COUNTS,
    SCAN_CHUNK,
    _is_pil,
    _item_image,
    _item_path,
    _known_labels,
    _pair,
    _pil_array,
    _resize,
    _storage_tensor,
    _to_float,
)
from metaaug.data.image_folder import ImageFolderDataset
from metaaug.data.images import as_labels

__all__ = ["ArrayImages", "DatasetImages", "ImageFolderDataset", "ImageSource", "InvertedImages", "as_image_source"]


class ImageSource:
    """Images addressed by index; float32 ``(n, C, H, W)`` in [0, 1] per batch.

    Subclasses store the images (:class:`ArrayImages`) or read them on demand
    (:class:`DatasetImages`). A source behaves like a read-only image tensor
    for the operations the library needs: ``len``, ``shape``, ``device``,
    indexing and ``to(device)``.

    Attributes
    ----------
    shape : torch.Size
        ``(N, C, H, W)``.
    device : torch.device
        Where indexed batches are returned.
    """

    shape: torch.Size
    device: torch.device = torch.device("cpu")

    def __len__(self) -> int:
        return int(self.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``."""
        return (int(self.shape[1]), int(self.shape[2]), int(self.shape[3]))

    @property
    def labels(self) -> torch.Tensor | None:
        """int64 ``(N,)`` class labels when the source carries them, else ``None``."""
        return None

    def take(self, index: torch.Tensor) -> torch.Tensor:
        """Images at the int64 positions ``index`` (1-D), float32 ``(len(index), C, H, W)`` on :attr:`device`."""
        raise NotImplementedError

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, slice):
            positions = torch.arange(len(self))[index]
        elif isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            if not -len(self) <= int(index) < len(self):
                raise IndexError(f"image index {int(index)} out of range for {len(self)} images")
            return self.take(torch.tensor([int(index) % len(self)]))[0]
        else:
            positions = torch.as_tensor(np.asarray(index.cpu() if isinstance(index, torch.Tensor) else index))
            if positions.dtype == torch.bool:
                positions = positions.nonzero().flatten()
            positions = positions.long().flatten()
            if len(positions) and (int(positions.min()) < -len(self) or int(positions.max()) >= len(self)):
                raise IndexError(f"image index out of range for {len(self)} images")
            positions = positions % max(len(self), 1)
        return self.take(positions)

    def to(self, device: torch.device | str) -> ImageSource:
        """This source with batches returned on ``device`` (a shallow copy; the images are not copied)."""
        clone = self.__class__.__new__(self.__class__)
        clone.__dict__.update(self.__dict__)
        clone.device = torch.device(device)
        return clone

    def cpu(self) -> ImageSource:
        return self.to("cpu")

    def batches(self, batch_size: int = 1024) -> Iterator[torch.Tensor]:
        """All images in order, ``batch_size`` at a time."""
        for start in range(0, len(self), batch_size):
            yield self.take(torch.arange(start, min(start + batch_size, len(self))))

    def tensor(self) -> torch.Tensor:
        """All images as one float32 tensor on :attr:`device` (allocates ``4 * N * C * H * W`` bytes)."""
        out = torch.empty(tuple(self.shape), dtype=torch.float32, device=self.device)
        start = 0
        for batch in self.batches(SCAN_CHUNK):
            out[start : start + len(batch)] = batch
            start += len(batch)
        return out

    def stored(self) -> torch.Tensor:
        """All images in their storage type (uint8 or float32, ``(N, C, H, W)``, CPU), e.g. to save them."""
        return self.tensor().cpu()

    def preview(self, n: int = 2048) -> torch.Tensor:
        """Up to ``n`` images spread evenly over the source, float32 on CPU (for statistics)."""
        if len(self) <= n:
            return self.cpu().take(torch.arange(len(self)))
        return self.cpu().take(torch.linspace(0, len(self) - 1, n).long())

    def inverted(self) -> ImageSource:
        """This source with every image replaced by ``1 - image`` (dark-on-light drawings to ink 1.0), lazily."""
        return InvertedImages(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={tuple(self.shape)})"


class InvertedImages(ImageSource):
    """``1 - image`` of another source, computed per batch."""

    def __init__(self, base: ImageSource) -> None:
        self.base = base
        self.shape = base.shape
        self.device = base.device

    @property
    def labels(self) -> torch.Tensor | None:
        return self.base.labels

    def take(self, index: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.base.to(self.device).take(index)


class ArrayImages(ImageSource):
    """Images held in an array or tensor, in their own dtype and layout.

    uint8 images stay uint8 and bool images are held as uint8 0/255; floats are
    held as float32. Channels-last input is kept as a permuted view. A numpy
    memmap stays on disk and is read where indexed.

    Parameters
    ----------
    data : numpy.ndarray or torch.Tensor
        ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``.
    labels : array-like, optional
        Class labels, one per image.
    name : str
        How error messages refer to the images.
    """

    def __init__(self, data: Any, labels: Any = None, *, name: str = "X") -> None:
        self._data = _storage_tensor(data, name)
        self.shape = self._data.shape
        self._labels = None if labels is None else as_labels(labels, len(self._data), name="labels")
        self.device = torch.device("cpu") if self._data.device.type == "cpu" else self._data.device

    @property
    def labels(self) -> torch.Tensor | None:
        return self._labels

    @property
    def dtype(self) -> torch.dtype:
        """The storage dtype: ``torch.uint8`` or ``torch.float32``."""
        return self._data.dtype

    def __getitem__(self, index: Any) -> torch.Tensor:
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):  # one image: no gather
            image = self._data[int(index)]
            image = image.float().div_(255.0) if image.dtype == torch.uint8 else image.clone()
            return image.to(self.device)
        return super().__getitem__(index)

    def take(self, index: torch.Tensor) -> torch.Tensor:
        index = index.to(self._data.device)
        picked = torch.index_select(self._data, 0, index)
        picked = picked.float().div_(255.0) if picked.dtype == torch.uint8 else picked.float()
        return picked.to(self.device).contiguous()

    def to(self, device: torch.device | str) -> ImageSource:
        device = torch.device(device)
        clone = super().to(device)
        if device.type != "cpu":  # the stored images travel with it (uint8 stays uint8 there too)
            assert isinstance(clone, ArrayImages)
            clone._data = self._data.to(device)
        return clone

    def tensor(self) -> torch.Tensor:
        if self._data.dtype == torch.float32:  # a copy: callers may write into it
            return self._data.to(self.device).clone(memory_format=torch.contiguous_format)
        return super().tensor()

    def stored(self) -> torch.Tensor:
        return self._data.detach().cpu().contiguous()


class DatasetImages(ImageSource):
    """Images read lazily from a map-style ``Dataset``, one item at a time, when a batch asks for them.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        ``dataset[i]`` returns an image or a tuple whose first entry is the
        image (and second the label). An image is a PIL image, a numpy array
        ``(H, W)`` / ``(H, W, C)`` or a tensor ``(C, H, W)``, uint8 or float
        in [0, 1].
    image_size : int or (int, int), optional
        Resize every image to this size (bilinear, antialiased); by default
        all images must have the size of the first.
    channels : {1, 3}, optional
        Convert to grey (1) or RGB (3); by default the first image's.
    num_workers : int, default=0
        Threads that read and decode the items of a batch (PIL releases the
        interpreter lock while decoding, so threads speed up JPEG folders).
    name : str
        How error messages refer to the dataset.
    """

    def __init__(
        self,
        dataset: Any,
        *,
        image_size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        num_workers: int = 0,
        name: str = "X",
    ) -> None:
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise ValueError(f"{name} must be a map-style Dataset (with __getitem__ and __len__)")
        if len(dataset) == 0:
            raise ValueError(f"{name} is an empty dataset: it holds no images")
        if channels is not None and channels not in CHANNEL_COUNTS:
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
        self.dataset = dataset
        self.name = name
        self.size = None if image_size is None else _pair(image_size)
        self.num_workers = num_workers
        first = _item_image(dataset[0], 0, self._describe(0), channels)
        self.channels = int(first.shape[0]) if channels is None else channels
        height, width = self.size or (int(first.shape[1]), int(first.shape[2]))
        self.shape = torch.Size((len(dataset), self.channels, height, width))
        self._first = (0, int(first.shape[1]), int(first.shape[2]))
        self._labels: torch.Tensor | None = _known_labels(dataset)

    @property
    def labels(self) -> torch.Tensor | None:
        """The dataset's labels: from ``targets``, ``labels`` or a learn2learn ``indices_to_labels`` when it has
        one, else read from its items (once; this decodes every image)."""
        if self._labels is None:
            self._labels = self._read_labels()
        return self._labels

    def _read_labels(self) -> torch.Tensor | None:
        labels = []
        for i in range(len(self.dataset)):
            item = self.dataset[i]
            if not isinstance(item, (tuple, list)) or len(item) < 2:
                return None
            labels.append(int(item[1]))
        return torch.tensor(labels, dtype=torch.int64)

    def _describe(self, index: int) -> str:
        """``name[index]``, with the file it comes from when the dataset lists its files."""
        path = _item_path(self.dataset, index)
        return f"{self.name}[{index}]" + (f" ({path})" if path else "")

    def _read(self, index: int) -> torch.Tensor:
        image = _item_image(self.dataset[index], index, self._describe(index), self.channels)
        size = (int(image.shape[1]), int(image.shape[2]))
        if self.size is not None:
            if size != self.size:
                image = _resize(image, self.size)
        elif size != tuple(self.shape[2:]):
            first = self._describe(self._first[0])
            raise ValueError(
                f"{self.name} holds images of different sizes: {first} is {self._first[1]}x{self._first[2]} but "
                f"{self._describe(index)} is {size[0]}x{size[1]}; pass image_size=(H, W) to "
                "metaaug.data.as_image_source to resize them all"
            )
        return image

    def take(self, index: torch.Tensor) -> torch.Tensor:
        positions = index.cpu().tolist()
        unique = sorted(set(positions))
        if self.num_workers > 0 and len(unique) > 1:
            with ThreadPoolExecutor(self.num_workers) as pool:
                images = list(pool.map(self._read, unique))
        else:
            images = [self._read(i) for i in unique]
        if not images:
            return torch.empty((0, *self.image_shape), dtype=torch.float32, device=self.device)
        block = torch.stack([_to_float(image) for image in images])
        if len(unique) != len(positions):
            where = {p: i for i, p in enumerate(unique)}
            block = block[torch.tensor([where[p] for p in positions])]
        return block.to(self.device)

    def stored(self) -> torch.Tensor:
        """All images as uint8 when the dataset gives uint8 images (PIL, uint8 arrays), else float32."""
        probe = _item_image(self.dataset[0], 0, self._describe(0), self.channels)
        if probe.dtype != torch.uint8:
            return self.tensor().cpu()
        out = torch.empty(tuple(self.shape), dtype=torch.uint8)
        for i in range(len(self)):
            image = self._read(i)
            out[i] = image if image.dtype == torch.uint8 else (image * 255).round().to(torch.uint8)
        return out


def as_image_source(
    X: Any,
    *,
    name: str = "X",
    min_count: int = 1,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    skip_invalid: bool = False,
    num_workers: int = 0,
) -> ImageSource:
    """An :class:`ImageSource` over ``X``, checked.

    Parameters
    ----------
    X : array, tensor, list of PIL images, Dataset, learn2learn MetaDataset, folder path or ImageSource
        See the module notes. Arrays and tensors: ``(N, H, W)``, ``(N, H, W, C)``
        or ``(N, C, H, W)``; uint8 (0..255), bool or float in [0, 1].
    name : str
        How error messages refer to ``X``.
    min_count : int
        Smallest acceptable number of images.
    image_size, channels, skip_invalid, num_workers
        For datasets and folders only: resize to ``image_size`` (H, W or one
        int for square), convert to 1 or 3 ``channels``, skip unreadable files
        of a folder with a warning, read with ``num_workers`` threads.

    Raises
    ------
    ValueError
        One message naming the problem: wrong type or shape, values outside
        [0, 1] (normalised images: undo the normalisation first), NaN, files
        that cannot be read, images of different sizes, too few images.
    """
    if isinstance(X, ImageSource):
        source = X
    elif isinstance(X, (str, os.PathLike)):
        source = DatasetImages(
            ImageFolderDataset(Path(X), image_size=image_size, channels=channels, skip_invalid=skip_invalid),
            num_workers=num_workers,
            name=str(X),
        )
    elif isinstance(X, (np.ndarray, torch.Tensor)):
        source = ArrayImages(X, name=name)
    elif isinstance(X, (list, tuple)) and X and _is_pil(X[0]):
        arrays = [_pil_array(image, i, name, channels) for i, image in enumerate(X)]
        sizes = {a.shape[1:] for a in arrays}
        if len(sizes) > 1 and image_size is None:
            first = arrays[0].shape[1:]
            other = next(i for i, a in enumerate(arrays) if a.shape[1:] != first)
            raise ValueError(
                f"{name} holds images of different sizes: {name}[0] is {first[0]}x{first[1]} but {name}[{other}] is "
                f"{arrays[other].shape[1]}x{arrays[other].shape[2]}; pass image_size=(H, W) to as_image_source"
            )
        if image_size is not None:
            size = _pair(image_size)
            arrays = [_resize(torch.from_numpy(a), size).numpy() for a in arrays]
        source = ArrayImages(np.stack(arrays), name=name)
    elif isinstance(X, (list, tuple)):
        kind = type(X[0]).__name__ if X else "nothing"
        raise ValueError(
            f"{name} is a {type(X).__name__} of {kind}; pass a numpy array or torch tensor of images, a list of "
            "PIL images, a torch Dataset or a folder path"
        )
    elif hasattr(X, "__getitem__") and hasattr(X, "__len__"):
        source = DatasetImages(X, image_size=image_size, channels=channels, num_workers=num_workers, name=name)
    else:
        raise ValueError(
            f"{name} must be images: a numpy array or torch tensor, a list of PIL images, a map-style torch "
            f"Dataset or a folder path; got {type(X).__name__}"
        )
    if len(source) < min_count:
        raise ValueError(f"{name} is empty or too small: {len(source)} image(s), need at least {min_count}")
    if min(source.shape[2:]) < 2:
        raise ValueError(f"{name} images are too small: shape {tuple(source.shape)}")
    return source
