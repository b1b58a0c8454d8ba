"""CIFAR-FS: CIFAR-100 with the class split of Bertinetto et al. (2019), 64 / 16 / 20 classes.

Built on torchvision's CIFAR-100 files (``cifar-100-python/{train,test,meta}``,
fetched by ``torchvision.datasets.CIFAR100(download=True)``): every class
keeps its 600 images (the 500 of CIFAR-100's training set, then its 100 test
images).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metaaug.datasets.folder import ArrayImageDataset, check_split, require_file

# Bertinetto et al.'s split: train and test as torchmeta ships them (assets/cifar100/cifar-fs/*.json),
# validation the 16 CIFAR-100 classes in neither
CIFAR_FS_SPLITS: dict[str, tuple[str, ...]] = {
    "train": (
        "dolphin", "seal", "aquarium_fish", "ray", "trout", "orchid", "sunflower", "tulip", "bottle",
        "bowl", "can", "cup", "plate", "apple", "mushroom", "orange", "pear", "clock", "keyboard",
        "chair", "couch", "bee", "caterpillar", "cockroach", "bear", "lion", "tiger", "wolf", "bridge",
        "castle", "house", "road", "skyscraper", "cloud", "forest", "mountain", "elephant", "kangaroo",
        "porcupine", "possum", "raccoon", "skunk", "lobster", "spider", "boy", "girl", "dinosaur",
        "lizard", "snake", "turtle", "hamster", "mouse", "rabbit", "shrew", "squirrel", "oak_tree",
        "palm_tree", "pine_tree", "willow_tree", "bus", "train", "lawn_mower", "streetcar", "tank",
    ),
    "val": (
        "beaver", "beetle", "butterfly", "camel", "cattle", "crab", "crocodile", "flatfish", "lamp",
        "maple_tree", "motorcycle", "otter", "sea", "shark", "television", "tractor",
    ),
    "test": (
        "whale", "poppy", "rose", "sweet_pepper", "telephone", "bed", "table", "wardrobe", "leopard",
        "plain", "chimpanzee", "fox", "snail", "worm", "baby", "man", "woman", "bicycle", "pickup_truck",
        "rocket",
    ),
}  # fmt: skip

_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_HOW_TO_GET = (
    "Pass download=True to fetch CIFAR-100 with torchvision (torchvision.datasets.CIFAR100), "
    "or put its python version (cifar-100-python/train, test, meta) under root."
)


def _read_pickle(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as file:
            content = pickle.load(file, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError) as err:
        raise ValueError(f"CIFAR-FS: cannot read {path}: {err}. {_HOW_TO_GET}") from None
    if not isinstance(content, dict):
        raise ValueError(f"CIFAR-FS: {path} is not a CIFAR-100 pickle. {_HOW_TO_GET}")
    return content


def load_cifar_fs(
    root: str | Path,
    split: str = "train",
    image_size: int | None = 32,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> ArrayImageDataset:
    """CIFAR-FS, one split of Bertinetto et al.'s 64 / 16 / 20 CIFAR-100 classes.

    Parameters
    ----------
    root : path
        The folder that holds (or will hold) ``cifar-100-python/``, as for
        ``torchvision.datasets.CIFAR100(root)``.
    split : {"train", "val", "test"}
        ``"validation"`` is accepted for ``"val"``.
    image_size : int or None, default 32
        Resize to ``image_size x image_size`` when read (32 is CIFAR's own size).
    transform : callable, optional
        Applied to each ``(3, H, W)`` uint8 image tensor.
    download : bool, default False
        Fetch CIFAR-100 with torchvision's own download code when missing.

    Returns
    -------
    ArrayImageDataset
        ``(image, label)`` items; ``classes`` are CIFAR-100 fine class names in
        the split's order. CIFAR-100 stores its images as one array, which is
        held in memory (180 MB).

    Raises
    ------
    ValueError
        For an unknown split or missing / unreadable files.
    """
    split = check_split(split, _SPLITS, "CIFAR-FS")
    root = Path(root).expanduser()
    base = root / "cifar-100-python"
    if download and not (base / "meta").is_file():
        from torchvision.datasets import CIFAR100

        for train in (True, False):
            CIFAR100(str(root), train=train, download=True)
    for name in ("meta", "train", "test"):
        require_file(base / name, "CIFAR-FS", _HOW_TO_GET)
    names = list(_read_pickle(base / "meta")["fine_label_names"])
    parts = [_read_pickle(base / name) for name in ("train", "test")]
    try:
        images = np.concatenate([np.asarray(p["data"], dtype=np.uint8).reshape(-1, 3, 32, 32) for p in parts])
        labels = np.concatenate([np.asarray(p["fine_labels"], dtype=np.int64) for p in parts])
    except (KeyError, ValueError) as err:
        raise ValueError(f"CIFAR-FS: the CIFAR-100 files under {base} are malformed: {err}") from None
    images = images.transpose(0, 2, 3, 1)
    classes = [name for name in CIFAR_FS_SPLITS[split] if name in names]
    lookup = {names.index(name): i for i, name in enumerate(classes)}
    indices = np.array([i for c in sorted(lookup, key=lookup.__getitem__) for i in np.flatnonzero(labels == c)])
    targets = np.array([lookup[int(labels[i])] for i in indices], dtype=np.int64)
    return ArrayImageDataset(images, targets, classes, split, image_size, transform, indices=indices)
