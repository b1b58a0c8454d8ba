"""mini-ImageNet with the class split of Ravi & Larochelle (2017): 64 / 16 / 20 classes.

Three layouts are read, the first found under ``root`` wins:

* the pickles learn2learn downloads: ``mini-imagenet-cache-{train,validation,test}.pkl``
  (``val`` instead of ``validation`` is accepted), each a dict with
  ``image_data`` (``(N, 84, 84, 3)`` uint8) and ``class_dict`` (wnid -> list of row indices);
* Ravi & Larochelle's csv files ``{train,val,test}.csv`` (``filename,label`` rows, the
  label a WordNet id) with the images in ``images/``;
* one folder per split with one folder per class: ``{train,val,test}/<wnid>/*.jpg``.
"""

from __future__ import annotations

import csv
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metaaug.datasets.folder import (
    IMAGE_EXTENSIONS,
    ArrayImageDataset,
    ImageListDataset,
    check_split,
    require_file,
)

# Ravi & Larochelle's split, as in their train.csv / val.csv / test.csv and in the learn2learn pickles
MINI_IMAGENET_SPLITS: dict[str, tuple[str, ...]] = {
    "train": (
        "n01532829", "n01558993", "n01704323", "n01749939", "n01770081", "n01843383", "n01910747",
        "n02074367", "n02089867", "n02091831", "n02101006", "n02105505", "n02108089", "n02108551",
        "n02108915", "n02111277", "n02113712", "n02120079", "n02165456", "n02457408", "n02606052",
        "n02687172", "n02747177", "n02795169", "n02823428", "n02966193", "n03017168", "n03047690",
        "n03062245", "n03207743", "n03220513", "n03337140", "n03347037", "n03400231", "n03476684",
        "n03527444", "n03676483", "n03838899", "n03854065", "n03888605", "n03908618", "n03924679",
        "n03998194", "n04067472", "n04243546", "n04251144", "n04258138", "n04275548", "n04296562",
        "n04389033", "n04435653", "n04443257", "n04509417", "n04515003", "n04596742", "n04604644",
        "n04612504", "n06794110", "n07584110", "n07697537", "n07747607", "n09246464", "n13054560",
        "n13133613",
    ),
    "val": (
        "n01855672", "n02091244", "n02114548", "n02138441", "n02174001", "n02950826", "n02971356",
        "n02981792", "n03075370", "n03417042", "n03535780", "n03584254", "n03770439", "n03773504",
        "n03980874", "n09256479",
    ),
    "test": (
        "n01930112", "n01981276", "n02099601", "n02110063", "n02110341", "n02116738", "n02129165",
        "n02219486", "n02443484", "n02871525", "n03127925", "n03146219", "n03272010", "n03544143",
        "n03775546", "n04146614", "n04149813", "n04418357", "n04522168", "n07613480",
    ),
}  # fmt: skip

_SPLITS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_PICKLE_NAMES = {"train": ("train",), "val": ("validation", "val"), "test": ("test",)}
# where learn2learn's MiniImagenet(download=True) fetches the pickles
_PICKLE_URLS = {
    "train": "https://zenodo.org/record/7978538/files/mini-imagenet-cache-train.pkl",
    "val": "https://zenodo.org/record/7978538/files/mini-imagenet-cache-validation.pkl",
    "test": "https://zenodo.org/record/7978538/files/mini-imagenet-cache-test.pkl",
}
_HOW_TO_GET = (
    "Expected under root one of: mini-imagenet-cache-{train,validation,test}.pkl (pass download=True "
    "to fetch them as learn2learn does), {train,val,test}.csv with an images/ folder (Ravi & Larochelle), "
    "or {train,val,test}/<wnid>/*.jpg folders."
)


def _split_classes(split: str, found: list[str], where: Path) -> list[str]:
    """The split's classes present in the files, in the split's order; foreign classes are refused."""
    allowed = MINI_IMAGENET_SPLITS[split]
    foreign = sorted(set(found) - set(allowed))
    if foreign:
        raise ValueError(
            f"mini-ImageNet: {where} holds classes that are not in Ravi & Larochelle's {split!r} split "
            f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); check the split's files"
        )
    present = set(found)
    return [wnid for wnid in allowed if wnid in present]


def _from_pickle(path: Path, split: str, image_size: int | None, transform: Any) -> ArrayImageDataset:
    try:
        with open(path, "rb") as file:
            content = pickle.load(file)
        images = np.asarray(content["image_data"])
        class_dict = dict(content["class_dict"])
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError) as err:
        raise ValueError(
            f"mini-ImageNet: {path} is not a mini-ImageNet pickle (a dict with 'image_data' and 'class_dict'): {err}"
        ) from None
    classes = _split_classes(split, list(class_dict), path)
    rows = [np.asarray(class_dict[wnid], dtype=np.int64) for wnid in classes]
    indices = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    targets = np.repeat(np.arange(len(classes)), [len(r) for r in rows])
    return ArrayImageDataset(images, targets, classes, split, image_size, transform, indices=indices)


def _from_csv(root: Path, csv_path: Path, split: str, image_size: int | None, transform: Any) -> ImageListDataset:
    images = require_file(root / "images", "mini-ImageNet", _HOW_TO_GET)
    with open(csv_path, newline="") as file:
        rows = [row for row in csv.reader(file) if row]
    if rows and rows[0][:2] == ["filename", "label"]:
        rows = rows[1:]
    if any(len(row) < 2 for row in rows):
        raise ValueError(f"mini-ImageNet: {csv_path} must hold 'filename,label' rows")
    classes = _split_classes(split, sorted({row[1] for row in rows}), csv_path)
    index = {wnid: i for i, wnid in enumerate(classes)}
    rows.sort(key=lambda row: (index[row[1]], row[0]))
    return ImageListDataset(
        [images / row[0] for row in rows], [index[row[1]] for row in rows], classes, split, image_size, transform
    )


def _from_folders(folder: Path, split: str, image_size: int | None, transform: Any) -> ImageListDataset:
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    classes = _split_classes(split, found, folder)
    paths, targets = [], []
    for label, wnid in enumerate(classes):
        files = sorted(p for p in (folder / wnid).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += files
        targets += [label] * len(files)
    return ImageListDataset(paths, targets, classes, split, image_size, transform)


def _download_pickle(root: Path, split: str) -> Path:
    from learn2learn.data.utils import download_file  # the download learn2learn's MiniImagenet uses

    root.mkdir(parents=True, exist_ok=True)
    url = _PICKLE_URLS[split]
    target = root / url.rsplit("/", 1)[1]
    download_file(url, str(target))
    return target


def load_mini_imagenet(
    root: str | Path,
    split: str = "train",
    image_size: int | None = 84,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> ArrayImageDataset | ImageListDataset:
    """mini-ImageNet, one split of Ravi & Larochelle's 64 / 16 / 20 classes.

    Parameters
    ----------
    root : path
        A folder holding the pickles ``mini-imagenet-cache-{train,validation,test}.pkl``,
        or ``{train,val,test}.csv`` with an ``images/`` folder, or
        ``{train,val,test}/<wnid>/`` image folders.
    split : {"train", "val", "test"}
        ``"validation"`` is accepted for ``"val"``.
    image_size : int or None, default 84
        Images are resized to ``image_size x image_size`` (bicubic) when read;
        84 is the size of the pickles and of the LASIUM / UMTRA / CACTUs papers.
    transform : callable, optional
        Applied to each ``(3, H, W)`` uint8 image tensor.
    download : bool, default False
        When no layout is found, fetch the split's pickle into ``root`` from
        the address learn2learn's ``MiniImagenet(download=True)`` uses.

    Returns
    -------
    Dataset
        ``(image, label)`` items, image a ``(3, H, W)`` uint8 tensor; ``targets``
        (labels), ``classes`` (the WordNet ids, ``classes[label]``). Classes of
        the split missing from the files are left out. Image files are read
        lazily; a pickle stores its split as one array and is loaded whole.

    Raises
    ------
    ValueError
        For an unknown split, missing files (the message lists the layouts),
        or files that hold classes of another split.

    Examples
    --------
    >>> from metaaug.datasets import load_mini_imagenet  # doctest: +SKIP
    >>> test = load_mini_imagenet("~/data/mini-imagenet", split="test")  # doctest: +SKIP
    >>> len(test.classes), test[0][0].shape  # doctest: +SKIP
    (20, torch.Size([3, 84, 84]))
    """
    split = check_split(split, _SPLITS, "mini-ImageNet")
    root = Path(root).expanduser()
    for name in _PICKLE_NAMES[split]:
        if (root / f"mini-imagenet-cache-{name}.pkl").is_file():
            return _from_pickle(root / f"mini-imagenet-cache-{name}.pkl", split, image_size, transform)
    if (root / f"{split}.csv").is_file():
        return _from_csv(root, root / f"{split}.csv", split, image_size, transform)
    if (root / split).is_dir():
        return _from_folders(root / split, split, image_size, transform)
    if download:
        return _from_pickle(_download_pickle(root, split), split, image_size, transform)
    raise ValueError(f"mini-ImageNet: no {split!r} split found under {root}. {_HOW_TO_GET}")
