"""Shared data fixtures: real Omniglot (found by the benchmark harness) and sklearn digits."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

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


DISTRIBUTED_WORKER = Path(__file__).with_name("_distributed_worker.py")


@pytest.fixture(scope="session")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Run tests/_distributed_worker.py on 2 CPU processes (gloo), once; each rank's results.

    The processes get the environment variables ``torchrun`` would set; its
    agent process is left out, so that it does not compete for the 2 cores.
    """
    out = tmp_path_factory.mktemp("distributed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "WORLD_SIZE": "2"}
    env.update({"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"})
    ranks = [
        subprocess.Popen(
            [sys.executable, str(DISTRIBUTED_WORKER), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=DISTRIBUTED_WORKER.parent.parent,
            env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
        )
        for rank in range(2)
    ]
    outputs = [process.communicate(timeout=240) for process in ranks]
    for process, (stdout, stderr) in zip(ranks, outputs):
        assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]
