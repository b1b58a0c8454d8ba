"""The code in the guide and the README runs: each snippet executed on digits with tiny settings.

The snippets are read from the Markdown files themselves (the python block
under a given heading), then shrunk by plain text substitutions (training
lengths, image size, Omniglot replaced by digits), so a snippet that drifts
from the API fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import metaaug.data
from metaaug.data import load_digits

ROOT = Path(__file__).resolve().parent.parent

# training lengths -> a few steps; Omniglot's 28x28 -> digits' 8x8
TINY = [
    ("metaaug.LASIUM()", "metaaug.LASIUM(epochs=1, hidden=8, latent_dim=4)"),
    ("metaaug.AugIntAE()", "metaaug.AugIntAE(epochs=1, hidden=8, verbose=False)"),
    ("image_size=28", "image_size=8"),
    ("range(1000)", "range(2)"),
    ("range(30)", "range(2)"),
    ("range(50)", "range(2)"),
    ("sample_tasks(200,", "sample_tasks(3,"),
    ("n_iterations=200,", "n_iterations=2, hidden=8, verbose=False,"),
    ("max_time=300, random_state=0)", "epochs=1, mlp_hidden=16, projection_dim=8, verbose=False)"),
    ("n_tasks=1000, n_ways=20", "n_tasks=10, n_ways=5"),
    ("iter_tasks(1000,", "iter_tasks(10,"),
]


def python_block(path: Path, heading: str) -> str:
    """The first fenced python block after the line ``heading``, which must precede any other heading."""
    text = path.read_text()
    start = text.index(heading + "\n") + len(heading)
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"no python block under {heading!r} in {path.name}"
    assert not re.search(r"\n#{1,6} ", text[start : match.start()]), f"{heading!r} has no python block of its own"
    return match.group(1)


def shrink(code: str) -> str:
    for old, new in TINY:
        code = code.replace(old, new)
    return code


TEST_ALPHABETS = {"Korean", "Tagalog"}


@pytest.fixture
def omniglot_as_digits(monkeypatch):
    """``load_omniglot(root, alphabets)`` -> digits 5-9 for Korean/Tagalog, else digits 0-4 (labels from 0);
    ``load_omniglot_subset(split)`` likewise ("test": digits 5-9)."""
    X, y = load_digits()

    def fake_load_omniglot(root, alphabets=None, image_size=28):
        keep = y >= 5 if TEST_ALPHABETS & set(alphabets or ()) else y < 5
        return X[keep], y[keep] - int(y[keep].min())

    def fake_load_omniglot_subset(split="all"):
        X_split, y_split = fake_load_omniglot(None, ["Korean"] if split == "test" else None)
        return X_split, y_split, ["digits"] * (int(y_split.max()) + 1)

    monkeypatch.setattr(metaaug.data, "load_omniglot", fake_load_omniglot)
    monkeypatch.setattr(metaaug.data, "load_omniglot_subset", fake_load_omniglot_subset)
    return fake_load_omniglot


@pytest.mark.parametrize(
    "path, heading",
    [
        ("docs/guide.md", "### Your own learn2learn MAML loop fed by LASIUM tasks"),
        ("docs/guide.md", "### A plain PyTorch classifier loop fed by `AugmentedDataset`"),
        ("README.md", "### LASIUM tasks -> learn2learn MAML"),
        ("README.md", "### AugIntAE -> `AugmentedDataset`"),
        ("docs/distributed.md", "## The Python API"),
        ("docs/psco.md", "## Quick start"),
    ],
)
def test_snippet_runs_on_digits(path, heading, omniglot_as_digits, capsys, tmp_path, monkeypatch):
    """The snippet executes without error on digits (the guide's ones also print an accuracy)."""
    code = shrink(python_block(ROOT / path, heading))
    assert "image_size=28" not in code and "range(1000)" not in code
    torch.manual_seed(0)
    monkeypatch.chdir(tmp_path)  # where a snippet saves its model
    exec(compile(code, f"{path}: {heading}", "exec"), {"__name__": "docs_snippet"})
