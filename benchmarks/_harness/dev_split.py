"""The Omniglot dev split of every benchmark table: 6 training alphabets vs Korean + Tagalog.

The data is looked up beside the checkout (``../shared/data/omniglot``, or
``shared/`` inside it) or through ``$METAAUG_OMNIGLOT``; the library itself never looks there.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from metaaug.data import load_omniglot

DEV_TRAIN_ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Latin", "Japanese_(katakana)", "Sanskrit")
DEV_TEST_ALPHABETS = ("Korean", "Tagalog")

REPOSITORY = Path(__file__).resolve().parent.parent.parent


def default_omniglot_root() -> Path | None:
    """``$METAAUG_OMNIGLOT``, else ``shared/data/omniglot`` in the checkout or a folder above it, if present."""
    env = os.environ.get("METAAUG_OMNIGLOT")
    if env:
        return Path(env)
    for folder in (REPOSITORY, *REPOSITORY.parents):
        candidate = folder / "shared" / "data" / "omniglot"
        if candidate.is_dir():
            return candidate
    return None


def load_dev_split(
    root: str | Path | None = None, image_size: int = 28
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``((X_train, y_train), (X_test, y_test))``: 6 training alphabets, Korean + Tagalog for test.

    Labels of each part are renumbered from 0; the two parts share no alphabet.

    Parameters
    ----------
    root : str, Path or None
        Omniglot folder or zip; ``None`` uses :func:`default_omniglot_root`.
    image_size : int, default=28

    Raises
    ------
    FileNotFoundError
        If ``root`` is ``None`` and no Omniglot data is found.
    """
    root = root if root is not None else default_omniglot_root()
    if root is None:
        raise FileNotFoundError("no Omniglot data found: pass root= or set METAAUG_OMNIGLOT")
    train = load_omniglot(root, alphabets=list(DEV_TRAIN_ALPHABETS), image_size=image_size)
    test = load_omniglot(root, alphabets=list(DEV_TEST_ALPHABETS), image_size=image_size)
    return train, test
