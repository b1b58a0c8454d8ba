"""Shared data fixtures: real Omniglot (found by the benchmark harness) and sklearn digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks._harness.dev_split import default_omniglot_root, load_dev_split
from metaaug.data import load_digits

# The test networks are tiny: one thread runs them faster than two, and far faster on shared cores.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    """``$METAAUG_OMNIGLOT`` or ``../shared/data/omniglot``; in CI (CI=true) its absence is a failure, not a skip."""
    root = default_omniglot_root()
    if root is None or not root.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("../shared/data/omniglot is missing in CI")
        pytest.skip("Omniglot data (../shared/data/omniglot) not available")
    return root


@pytest.fixture(scope="session")
def dev_split(omniglot_root):
    """((X_train, y_train), (X_test, y_test)) at 28x28: 6 training alphabets vs Korean + Tagalog."""
    return load_dev_split(omniglot_root)


@pytest.fixture(scope="session")
def digits():
    """sklearn digits as (X (1797, 1, 8, 8), y)."""
    return load_digits()
