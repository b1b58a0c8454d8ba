"""Shared data fixtures: real Omniglot from ../shared/data and sklearn digits."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from metaaug.data import default_omniglot_root, load_digits, load_dev_split

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def omniglot_root() -> Path:
    """``../shared/data/omniglot``; in CI (CI=true) its absence is a failure, not a skip."""
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


@pytest.fixture(scope="module")
def single_torch_thread():
    """One torch thread for a module (``pytestmark = pytest.mark.usefixtures("single_torch_thread")``).

    Tiny networks run faster on one thread than on two, and several times faster when the two cores
    are shared with other jobs.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def digits():
    """sklearn digits as (X (1797, 1, 8, 8), y)."""
    return load_digits()


@pytest.fixture(scope="module")
def single_thread():
    """One torch thread for a module: small conv nets run faster so, and far faster on shared cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
