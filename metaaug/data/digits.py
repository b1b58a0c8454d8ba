"""scikit-learn's embedded digits: real data that needs no download."""

from __future__ import annotations

import torch
from sklearn import datasets


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1797 8x8 handwritten digits shipped inside scikit-learn.

    Returns
    -------
    X : torch.Tensor
        ``(1797, 1, 8, 8)`` float32 in [0, 1] (ink 1.0).
    y : torch.Tensor
        int64 digit labels 0..9.
    """
    bunch = datasets.load_digits()
    X = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.as_tensor(bunch.target, dtype=torch.int64)
    return X, y
