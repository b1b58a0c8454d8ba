"""Keep ``import learn2learn`` quiet: no "Gym has been unmaintained" notice on stderr.

learn2learn imports gym at its top level, and gym prints a notice to stderr at
import (read from the ``gym_notices`` package) that says nothing about
learn2learn's meta-learning code, which metaaug uses. ``make install`` copies
this file into the environment's site-packages with a ``.pth`` line that
imports it at interpreter start-up.

At start-up it adds a finder to ``sys.meta_path`` and imports nothing else.
The first time a program imports gym, the finder registers an empty notice
table as ``gym_notices.notices`` (unless that module is already loaded),
removes itself and lets the normal import go on. Nothing else about gym changes.
"""

from __future__ import annotations

import importlib.abc
import sys
import types
from typing import Any


def register_empty_notices() -> None:
    """Make ``gym_notices.notices.notices`` an empty dict, unless gym_notices is already imported."""
    if "gym_notices.notices" in sys.modules:
        return
    package = sys.modules.get("gym_notices")
    if package is None:
        package = types.ModuleType("gym_notices")
        package.__path__ = []
        sys.modules["gym_notices"] = package
    notices = types.ModuleType("gym_notices.notices")
    notices.notices = {}  # type: ignore[attr-defined]
    package.notices = notices  # type: ignore[attr-defined]
    sys.modules["gym_notices.notices"] = notices


class _GymFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname == "gym":
            sys.meta_path.remove(self)
            register_empty_notices()
        return None  # the regular finders import gym itself


if not any(type(finder).__name__ == "_GymFinder" for finder in sys.meta_path):
    sys.meta_path.insert(0, _GymFinder())
