"""A small Omniglot subset shipped inside the package: real few-shot data with no download.

The two "small background" sets of Omniglot (Lake, Salakhutdinov & Tenenbaum,
2015; MIT licence, in ``metaaug/data/_embedded/LICENSE``) at 28x28: 8 alphabets,
242 characters, 20 drawings each (4840 images, under 1 MB compressed). Built by
``scripts/build_embedded_omniglot.py``.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np
import torch

#: Alphabets of the ``"train"`` split (185 characters, 3700 images): the unlabeled
#: meta-training data of every table in ``docs/benchmarks.md``.
TRAIN_ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Latin", "Japanese_(katakana)", "Sanskrit")
#: Alphabets of the ``"test"`` split (57 characters, 1140 images), never seen in training.
TEST_ALPHABETS = ("Korean", "Tagalog")

_SPLITS = ("all", "train", "test")


@functools.lru_cache(maxsize=1)
def _arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    package = resources.files("metaaug.data").joinpath("_embedded", "omniglot_small.npz")
    with resources.as_file(package) as path, np.load(path, allow_pickle=False) as archive:
        return (
            archive["X"],
            archive["y"].astype(np.int64),
            archive["class_alphabet"].astype(np.int64),
            tuple(str(a) for a in archive["alphabets"]),
        )


def load_omniglot_subset(split: str = "all") -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The embedded Omniglot subset (28x28), whole or one side of its alphabet split.

    Parameters
    ----------
    split : {"all", "train", "test"}, default="all"
        ``"train"``: the alphabets in :data:`TRAIN_ALPHABETS` (185 characters,
        3700 images); ``"test"``: those in :data:`TEST_ALPHABETS` (57 characters,
        1140 images), disjoint from training; ``"all"``: the 8 alphabets (242
        characters, 4840 images).

    Returns
    -------
    X : torch.Tensor
        ``(N, 1, 28, 28)`` float32 in [0, 1], ink 1.0 on background 0.0.
    y : torch.Tensor
        int64 ``(N,)`` character ids ``0..C-1`` within the split, ordered by
        (alphabet, character).
    class_alphabets : list of str
        Length ``C``: the alphabet of each character id.

    Examples
    --------
    >>> from metaaug.data import load_omniglot_subset
    >>> X, y, class_alphabets = load_omniglot_subset("test")
    >>> tuple(X.shape), int(y.max()) + 1, sorted(set(class_alphabets))
    ((1140, 1, 28, 28), 57, ['Korean', 'Tagalog'])
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {', '.join(map(repr, _SPLITS))}, got {split!r}")
    images, labels, class_alphabet, alphabets = _arrays()
    wanted = {"all": alphabets, "train": TRAIN_ALPHABETS, "test": TEST_ALPHABETS}[split]
    keep_class = np.isin(np.asarray(alphabets)[class_alphabet], list(wanted))
    keep = keep_class[labels]
    kept_classes = np.flatnonzero(keep_class)
    new_id = np.full(len(class_alphabet), -1, dtype=np.int64)
    new_id[kept_classes] = np.arange(len(kept_classes))
    X = torch.from_numpy(images[keep].astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(new_id[labels[keep]])
    return X, y, [alphabets[class_alphabet[c]] for c in kept_classes]
