"""The installed environment: a fresh interpreter imports torchvision, learn2learn and metaaug in any order, quietly."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest

MODULES = ("torchvision", "learn2learn", "metaaug")


def fresh_interpreter(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


# each order costs a fresh interpreter (about 7 s): torchvision first (the order that used to fail)
# runs in the fast suite, the other five with `pytest -m slow`
FAST_ORDERS = [MODULES]
ORDERS = [
    order if order in FAST_ORDERS else pytest.param(order, marks=pytest.mark.slow)
    for order in itertools.permutations(MODULES)
]


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_imports_in_any_order_quietly(order):
    """Each order imports, torchvision's transforms work on an image, and nothing is printed on stderr."""
    code = "; ".join(f"import {name}" for name in order)
    code += (
        "; import numpy as np; from PIL import Image; from torchvision import datasets, transforms; "
        "t = transforms.Compose([transforms.Resize(14), transforms.ToTensor()]); "
        "print(tuple(t(Image.fromarray(np.zeros((28, 28), np.uint8))).shape))"
    )
    result = fresh_interpreter(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 14, 14)"
    assert "unmaintained" not in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_gym_notice_hook_empties_only_the_notice_table():
    """The start-up hook registers an empty notice table and leaves a loaded gym_notices alone."""
    from pathlib import Path

    hook = Path(__file__).resolve().parent.parent / "scripts" / "gym_notice_startup.py"
    code = (
        f"import runpy, sys; ns = runpy.run_path({str(hook)!r}); ns['register_empty_notices'](); "
        "import gym_notices.notices as n; print(n.notices == {})"
    )
    result = fresh_interpreter(code)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
