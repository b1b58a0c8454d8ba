"""The dev split of the Omniglot data shipped beside the project (../shared/data)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from metaaug.data.omniglot import load_omniglot

DEV_TRAIN_ALPHABETS = ("Balinese", "Early_Aramaic", "Greek", "Latin", "Japanese_(katakana)", "Sanskrit")
DEV_TEST_ALPHABETS = ("Korean", "Tagalog")


def default_omniglot_root() -> Path | None:
    """``$METAAUG_OMNIGLOT`` or ``../shared/data/omniglot`` next to the checkout, if present."""
    env = os.environ.get("METAAUG_OMNIGLOT")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "data" / "omniglot"
        if candidate.is_dir():
            return candidate
    return None


def load_dev_split(root: str | Path | None = None, image_size: int = 28
                   ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``((X_train, y_train), (X_test, y_test))``: 6 training alphabets, Korean + Tagalog for test.

    Labels of each part are renumbered from 0; the two parts share no alphabet.
    """
    root = root if root is not None else default_omniglot_root()
    if root is None:
        raise FileNotFoundError("no Omniglot data found: pass root= or set METAAUG_OMNIGLOT")
    train = load_omniglot(root, alphabets=list(DEV_TRAIN_ALPHABETS), image_size=image_size)
    test = load_omniglot(root, alphabets=list(DEV_TEST_ALPHABETS), image_size=image_size)
    return train, test
