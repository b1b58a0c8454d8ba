"""Oxford Flowers102 with LoFGAN's split: 85 seen classes for training, 17 unseen for generation.

Reads torchvision's Flowers102 layout (``torchvision.datasets.Flowers102(download=True)``
writes it under ``root/flowers-102``)::

    flowers-102/jpg/image_00001.jpg ...
    flowers-102/imagelabels.mat       "labels": (1, 8189) class numbers 1..102
    flowers-102/setid.mat             (not needed: the split is by class)

LoFGAN's code (github edward3862/LoFGAN-pytorch, ``dataset.py``) takes the first
``num_for_seen = 85`` classes of its preprocessed array ``flower_c8189_s128_data_rgb.npy``
(from F2GAN / DAGAN) as seen and the remaining 17 as unseen, at 128 x 128. That
array's class order is not published with the code; we take it to be the
label order of ``imagelabels.mat``: labels 1..85 are seen, 86..102 unseen.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metaaug.datasets.folder import SEEN_UNSEEN_SPLITS, ImageListDataset, check_split, require_file

N_SEEN_FLOWERS = 85
_SPLITS = SEEN_UNSEEN_SPLITS
_HOW_TO_GET = (
    "Pass download=True to fetch Flowers102 with torchvision (torchvision.datasets.Flowers102), "
    "or put jpg/ and imagelabels.mat under root or root/flowers-102."
)


def load_flowers102(
    root: str | Path,
    split: str = "seen",
    image_size: int | None = 128,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> ImageListDataset:
    """Flowers102, LoFGAN's seen (classes 1-85) or unseen (86-102) classes.

    Parameters
    ----------
    root : path
        The folder holding ``jpg/`` and ``imagelabels.mat``, or its parent
        (torchvision's ``root``, files under ``root/flowers-102``).
    split : {"seen", "unseen", "all"}
        ``"train"`` / ``"test"`` are accepted for ``"seen"`` / ``"unseen"``.
    image_size : int or None, default 128
        Resize to ``image_size x image_size`` when read (128 as LoFGAN's data).
    transform : callable, optional
        Applied to each ``(3, H, W)`` uint8 image tensor.
    download : bool, default False
        Fetch Flowers102 with torchvision's own download code when missing.

    Returns
    -------
    ImageListDataset
        ``(image, label)`` items, labels ``0..`` in class-number order;
        ``classes`` are the class numbers as strings (``"1"`` .. ``"102"``).

    Raises
    ------
    ValueError
        For an unknown split or missing files.
    """
    split = check_split(split, _SPLITS, "Flowers102")
    root = Path(root).expanduser()
    folder = root if (root / "imagelabels.mat").is_file() else root / "flowers-102"
    if download and not (folder / "imagelabels.mat").is_file():
        from torchvision.datasets import Flowers102

        Flowers102(str(root), split="train", download=True)
        folder = root / "flowers-102"
    require_file(folder / "imagelabels.mat", "Flowers102", _HOW_TO_GET)
    require_file(folder / "jpg", "Flowers102", _HOW_TO_GET)
    from scipy.io import loadmat

    try:
        labels = np.asarray(loadmat(str(folder / "imagelabels.mat"))["labels"], dtype=np.int64).ravel()
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"Flowers102: cannot read {folder / 'imagelabels.mat'}: {err}") from None
    numbers = np.arange(1, 103)
    if split == "seen":
        numbers = numbers[:N_SEEN_FLOWERS]
    elif split == "unseen":
        numbers = numbers[N_SEEN_FLOWERS:]
    numbers = numbers[np.isin(numbers, labels)]
    images = np.flatnonzero(np.isin(labels, numbers))
    images = images[np.argsort(labels[images], kind="stable")]
    paths = [folder / "jpg" / f"image_{i + 1:05d}.jpg" for i in images]
    targets = np.searchsorted(numbers, labels[images])
    return ImageListDataset(paths, targets, [str(n) for n in numbers], split, image_size, transform)
