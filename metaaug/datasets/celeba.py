"""CelebA: identities (LASIUM's N-way protocol) and the attribute 2-way tasks of CACTUs.

Both read torchvision's CelebA layout (``torchvision.datasets.CelebA(download=True)``
writes it under ``root/celeba``)::

    celeba/img_align_celeba/000001.jpg ...
    celeba/identity_CelebA.txt        "000001.jpg 2880"
    celeba/list_eval_partition.txt    "000001.jpg 0"     (0 train, 1 val, 2 test)
    celeba/list_attr_celeba.txt       image count, the 40 attribute names, "000001.jpg -1 1 ..."

Splits follow CelebA's official partition (``list_eval_partition.txt``), whose
identities are disjoint across train / val / test: the split the LASIUM code
(MetaLearning-TF2.0, ``CelebADatabase``) builds its identity tasks from, and
the image split of CACTUs' attribute tasks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metaaug._random import RandomState, check_rng
from metaaug.data.tasks import Task, check_task_args, episodes_from_blocks
from metaaug.datasets.folder import ImageListDataset, check_split, require_file

_SPLITS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test", "all": "all"}
_PARTITION = {"train": 0, "val": 1, "test": 2}
_HOW_TO_GET = (
    "Pass download=True to fetch CelebA with torchvision (torchvision.datasets.CelebA), or put "
    "img_align_celeba/, identity_CelebA.txt, list_attr_celeba.txt and list_eval_partition.txt "
    "under root or root/celeba."
)

# CACTUs (Hsu et al., 2019, code kylehkhsu/cactus-maml utils.get_data): the 40 attributes in the file's
# (alphabetical) order, the first 20 for meta-training, the next 10 for validation, the last 10 for testing
CACTUS_ATTRIBUTE_SPLITS: dict[str, slice] = {"train": slice(0, 20), "val": slice(20, 30), "test": slice(30, 40)}


class CelebADataset(ImageListDataset):
    """CelebA images of one split, labeled by identity, with their 40 attributes.

    Returned by :func:`load_celeba`; on top of :class:`ImageListDataset`:

    Attributes
    ----------
    attributes : ndarray
        ``(N, 40)`` bool, ``attributes[i, j]`` whether image ``i`` has attribute ``j``.
    attribute_names : list of str
        The 40 names, in the order of ``list_attr_celeba.txt``.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        targets: np.ndarray,
        classes: Sequence[str],
        attributes: np.ndarray,
        attribute_names: Sequence[str],
        split: str,
        image_size: int | None,
        transform: Callable[[Any], Any] | None,
    ) -> None:
        super().__init__(paths, targets, classes, split, image_size, transform)
        self.attributes = attributes
        self.attribute_names = list(attribute_names)


def _celeba_folder(root: Path, download: bool) -> Path:
    for folder in (root, root / "celeba"):
        if (folder / "identity_CelebA.txt").is_file():
            return folder
    if download:
        from torchvision.datasets import CelebA

        CelebA(str(root), split="all", target_type=["identity", "attr"], download=True)
        return root / "celeba"
    return root / "celeba" if (root / "celeba").is_dir() else root


def _read_pairs(path: Path) -> dict[str, str]:
    pairs = {}
    with open(path) as file:
        for line in file:
            parts = line.split()
            if len(parts) == 2:
                pairs[parts[0]] = parts[1]
    if not pairs:
        raise ValueError(f"CelebA: {path} holds no '<image> <value>' lines. {_HOW_TO_GET}")
    return pairs


def _read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    with open(path) as file:
        file.readline()  # the image count
        names = file.readline().split()
        rows = {}
        for line in file:
            parts = line.split()
            if len(parts) == len(names) + 1:
                rows[parts[0]] = np.array([int(v) > 0 for v in parts[1:]], dtype=bool)
    if not names or not rows:
        raise ValueError(f"CelebA: {path} is not CelebA's attribute list. {_HOW_TO_GET}")
    return names, rows


def load_celeba(
    root: str | Path,
    split: str = "train",
    image_size: int | None = 84,
    transform: Callable[[Any], Any] | None = None,
    min_images_per_class: int = 1,
    download: bool = False,
) -> CelebADataset:
    """CelebA faces of one official split, labeled by identity (LASIUM's CelebA protocol).

    Parameters
    ----------
    root : path
        The folder holding CelebA's files, or its parent (torchvision's
        ``root``, with the files under ``root/celeba``).
    split : {"train", "val", "test", "all"}
        CelebA's official partition; its identities are disjoint across splits.
    image_size : int or None, default 84
        Resize to ``image_size x image_size`` when read (84 as in LASIUM; the
        aligned images are 178 x 218, so resizing squashes them slightly).
    transform : callable, optional
        Applied to each ``(3, H, W)`` uint8 image tensor.
    min_images_per_class : int, default 1
        Drop identities with fewer images (N-way K-shot tasks with Q queries
        need ``K + Q``: 16 for LASIUM's 1-shot, 15-query evaluation).
    download : bool, default False
        Fetch CelebA with torchvision's own download code when missing.

    Returns
    -------
    CelebADataset
        ``(image, identity label)`` items; ``classes`` are the identity ids
        (``classes[label]``); ``attributes`` / ``attribute_names`` hold the 40
        attributes of every image. Images are read lazily.

    Raises
    ------
    ValueError
        For an unknown split or missing files (the message names the file
        and how to get the data).
    """
    split = check_split(split, _SPLITS, "CelebA")
    if isinstance(min_images_per_class, bool) or not isinstance(min_images_per_class, (int, np.integer)):
        raise ValueError(f"min_images_per_class must be a positive int, got {min_images_per_class!r}")
    if min_images_per_class < 1:
        raise ValueError(f"min_images_per_class must be a positive int, got {min_images_per_class!r}")
    folder = _celeba_folder(Path(root).expanduser(), download)
    files = {
        name: require_file(folder / name, "CelebA", _HOW_TO_GET)
        for name in ("img_align_celeba", "identity_CelebA.txt", "list_eval_partition.txt", "list_attr_celeba.txt")
    }
    identity = _read_pairs(files["identity_CelebA.txt"])
    partition = _read_pairs(files["list_eval_partition.txt"])
    attribute_names, attribute_rows = _read_attributes(files["list_attr_celeba.txt"])
    wanted = None if split == "all" else str(_PARTITION[split])
    names = sorted(n for n in identity if (wanted is None or partition.get(n) == wanted) and n in attribute_rows)
    ids = np.array([int(identity[n]) for n in names], dtype=np.int64)
    kept_ids, counts = np.unique(ids, return_counts=True)
    kept_ids = kept_ids[counts >= min_images_per_class]
    keep = np.isin(ids, kept_ids)
    names = [n for n, k in zip(names, keep) if k]
    targets = np.searchsorted(kept_ids, ids[keep])
    order = np.argsort(targets, kind="stable")
    names = [names[i] for i in order]
    attributes = np.stack([attribute_rows[n] for n in names]) if names else np.zeros((0, len(attribute_names)), bool)
    return CelebADataset(
        [files["img_align_celeba"] / n for n in names],
        targets[order],
        [str(i) for i in kept_ids],
        attributes,
        attribute_names,
        split,
        image_size,
        transform,
    )


class CelebAAttributeTaskSampler:
    """2-way tasks from conjunctions of CelebA attributes (the protocol of Hsu et al., CACTUs).

    A task picks ``order`` attributes and a value (present / absent) for each:
    class 0 holds images whose attributes take those values, class 1 images
    whose attributes all take the opposite values. Only conjunctions for which
    both classes have ``k_shot + k_query`` images are drawn, uniformly. As in
    CACTUs, each split uses its own attributes: the first 20 of CelebA's 40
    (in file order) for ``train``, the next 10 for ``val``, the last 10 for
    ``test``; images come from the dataset's split.

    Parameters
    ----------
    dataset : CelebADataset
        From :func:`load_celeba`; give it an ``image_size`` (84 in CACTUs)
        so that a task's images share one size.
    attributes : sequence of str, optional
        The attribute names to draw from; default the CACTUs attributes of
        ``dataset.split`` (all 40 for ``split="all"``).
    order : int, default 3
        Attributes per conjunction (3 in CACTUs).

    Notes
    -----
    Only the images of the requested tasks are decoded, one ``dataset[i]``
    each. Counts of every conjunction are computed once, at construction.

    Differences from the paper:

    - CACTUs requires a fixed number of images per class for all its tasks;
      here the conjunctions available depend on the ``k_shot + k_query`` of
      each call.
    """

    def __init__(self, dataset: Any, attributes: Sequence[str] | None = None, order: int = 3) -> None:
        if not hasattr(dataset, "attributes") or not hasattr(dataset, "attribute_names"):
            raise ValueError("dataset must come from metaaug.datasets.load_celeba (it needs attributes)")
        names = list(dataset.attribute_names)
        if attributes is None:
            split = getattr(dataset, "split", "all")
            attributes = names[CACTUS_ATTRIBUTE_SPLITS[split]] if split in CACTUS_ATTRIBUTE_SPLITS else names
        unknown = [a for a in attributes if a not in names]
        if unknown:
            raise ValueError(f"unknown attribute(s) {unknown}; CelebA's are {names}")
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or not 1 <= order <= len(attributes):
            raise ValueError(f"order must be an int in 1..{len(attributes)} (the attributes given), got {order!r}")
        self.dataset = dataset
        self.attributes = list(attributes)
        self.order = int(order)
        columns = [names.index(a) for a in self.attributes]
        self._values = np.asarray(dataset.attributes, dtype=bool)[:, columns]
        self.combinations = np.array(list(itertools.combinations(range(len(columns)), self.order)), dtype=np.int64)
        weights = 1 << np.arange(self.order)
        # counts[c, p]: images whose attributes of combination c spell the bit pattern p
        self.counts = np.stack(
            [np.bincount(self._values[:, combo] @ weights, minlength=2**self.order) for combo in self.combinations]
        )

    def _codes(self, combination: int) -> np.ndarray:
        return self._values[:, self.combinations[combination]] @ (1 << np.arange(self.order))

    def sample_tasks_with_conjunctions(
        self, n_tasks: int, n_ways: int = 2, k_shot: int = 5, k_query: int = 5, random_state: RandomState = None
    ) -> tuple[list[Task], list[dict[str, bool]]]:
        """Like :meth:`sample_tasks`, also returning each task's conjunction.

        Returns
        -------
        tasks : list of Task
        conjunctions : list of dict
            For each task, attribute name -> value that class 0 has; class 1
            has the opposite value of every one.
        """
        check_task_args(n_tasks, n_ways, k_shot, k_query)
        if n_ways != 2:
            raise ValueError(f"CelebA attribute tasks are 2-way (n_ways=2), got n_ways={n_ways}")
        per_class = k_shot + k_query
        full = 2**self.order - 1
        patterns = np.arange(2**self.order)
        valid = (self.counts >= per_class) & (self.counts[:, full - patterns] >= per_class)
        choices = np.argwhere(valid)
        if len(choices) == 0:
            raise ValueError(
                f"no conjunction of {self.order} attributes has {per_class} images (k_shot + k_query) "
                "with it and with its opposite; lower k_shot / k_query or order"
            )
        rng = check_rng(random_state)
        picks = choices[rng.integers(len(choices), size=n_tasks)]
        support, query, conjunctions = [], [], []
        for combination, pattern in picks:
            codes = self._codes(int(combination))
            classes = [
                rng.choice(np.flatnonzero(codes == p), per_class, replace=False) for p in (pattern, full - pattern)
            ]
            images = torch.stack([self._image(int(i)) for i in np.concatenate(classes)])
            images = images.view(2, per_class, *images.shape[1:])
            support.append(images[:, :k_shot].flatten(0, 1))
            query.append(images[:, k_shot:].flatten(0, 1))
            conjunctions.append(
                {
                    self.attributes[a]: bool(pattern >> bit & 1)
                    for bit, a in enumerate(self.combinations[int(combination)].tolist())
                }
            )
        tasks = episodes_from_blocks(torch.stack(support), torch.stack(query), 2, k_shot, k_query)
        return tasks, conjunctions

    def sample_tasks(
        self, n_tasks: int, n_ways: int = 2, k_shot: int = 5, k_query: int = 5, random_state: RandomState = None
    ) -> list[Task]:
        """Draw ``n_tasks`` 2-way attribute tasks.

        Parameters
        ----------
        n_tasks : int
        n_ways : int, default 2
            Must be 2.
        k_shot, k_query : int
            Support and query images per class.
        random_state : None, int or Generator

        Returns
        -------
        list of Task
            float32 images in ``[0, 1]``; label 0 the conjunction, 1 its opposite.

        Raises
        ------
        ValueError
            If ``n_ways != 2`` or no conjunction has enough images.
        """
        return self.sample_tasks_with_conjunctions(n_tasks, n_ways, k_shot, k_query, random_state)[0]

    def _image(self, index: int) -> torch.Tensor:
        image = torch.as_tensor(self.dataset[index][0])
        return image.float() / 255.0 if image.dtype == torch.uint8 else image.float()
