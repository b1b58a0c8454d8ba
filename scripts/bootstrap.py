"""Install metaaug's dependencies into the current interpreter's environment.

Run by ``make install`` inside ``.venv``. Steps, each skipped when already done:

1. torch (``METAAUG_TORCH``, default ``torch==2.13.0``) unless one is installed;
2. the torchvision release that matches the installed torch (0.{minor + 15});
3. learn2learn 0.2.0 from the registry's sdist: its shipped C files were made by
   an old Cython and fail to compile on Python >= 3.11 (learnables/learn2learn#413),
   so they are regenerated from the shipped ``.pyx`` with a current Cython, and the
   package is installed with ``--no-deps`` (its declared requirements drag in
   gsutil, qpth and cvxpy and pin numpy to 1.x) plus what ``import learn2learn``
   really needs: gym, requests, scipy, tqdm;
4. metaaug itself, editable, with the extras named on the command line;
5. when this environment's torchvision cannot be imported (a CUDA build of
   torchvision next to a CPU-only torch: the registry offers no matching CPU
   pair), a start-up hook (``scripts/torchvision_startup.py``) that lets
   ``import torchvision`` (and so ``import learn2learn``) work in any program
   run by this interpreter;
6. a start-up hook (``scripts/gym_notice_startup.py``) that keeps gym's
   "unmaintained" notice from printing when learn2learn imports gym.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LEARN2LEARN = "learn2learn==0.2.0"
LEARN2LEARN_RUNTIME = ["gym", "requests", "scipy", "tqdm"]
# declared by learn2learn but used only by parts metaaug does not import; pip would report them missing
LEARN2LEARN_UNUSED_REQUIREMENTS = ("gsutil", "qpth")
STARTUP_MODULE = "metaaug_torchvision_startup"
GYM_STARTUP_MODULE = "metaaug_gym_startup"
CYTHON_SOURCES = ["meta_dataset", "task_dataset", "transforms"]


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def ensure_torch() -> None:
    if installed("torch"):
        return
    pip("install", os.environ.get("METAAUG_TORCH", "torch==2.13.0"))


def ensure_torchvision() -> None:
    if installed("torchvision"):
        return
    out = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    major, minor = (int(p) for p in out.split("+")[0].split(".")[:2])
    if major != 2:
        raise SystemExit(f"metaaug needs torch 2.x, found {out}")
    # --no-deps: torchvision pins torch exactly; letting pip resolve it again can
    # replace a local CPU build of torch by the registry's CUDA build.
    pip("install", "--no-deps", f"torchvision==0.{minor + 15}.*")


def ensure_learn2learn() -> None:
    if installed("learn2learn"):
        return
    pip("install", "cython>=3.0", "setuptools>=64", "wheel")
    with tempfile.TemporaryDirectory() as tmp:
        # only learn2learn itself as source: with ":all:" pip would also compile its build requirements
        pip("download", "--no-deps", "--no-binary", "learn2learn", "-d", tmp, LEARN2LEARN)
        archive = next(Path(tmp).glob("learn2learn-*.tar.gz"))
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data") if sys.version_info >= (3, 12) else tar.extractall(tmp)
        src = next(p for p in Path(tmp).iterdir() if p.is_dir() and p.name.startswith("learn2learn-"))
        pyx = [str(src / "learn2learn" / "data" / f"{name}.pyx") for name in CYTHON_SOURCES]
        subprocess.run([sys.executable, "-m", "cython", "-3", *pyx], check=True)
        drop_requirements(src / "setup.py", LEARN2LEARN_UNUSED_REQUIREMENTS)
        pip("install", "--no-deps", "--no-build-isolation", str(src))


def drop_requirements(setup_py: Path, names: tuple[str, ...]) -> None:
    """Remove ``names`` from the ``install_requires`` of an unpacked sdist's ``setup.py``."""
    text = setup_py.read_text()
    for name in names:
        text = re.sub(rf"^\s*['\"]{re.escape(name)}[^'\"]*['\"],?\s*\n", "", text, flags=re.M)
    setup_py.write_text(text)


def torchvision_imports() -> bool:
    """Whether a fresh interpreter of this environment can ``import torchvision``."""
    result = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True)
    return result.returncode == 0


def ensure_torchvision_imports() -> None:
    """Install the start-up hook when torchvision's compiled operators cannot load next to this torch."""
    if torchvision_imports():
        return
    path = install_startup_hook("torchvision_startup.py", STARTUP_MODULE)
    if not torchvision_imports():
        raise SystemExit("torchvision still fails to import after installing the start-up hook")
    print(
        f"note: this torchvision build cannot load its compiled operators next to this torch, so "
        f"{path} now declares them at interpreter start-up; "
        "torchvision's datasets, transforms and models work, its detection operators (nms) do not"
    )


def install_startup_hook(source: str, module: str) -> Path:
    """Copy ``scripts/<source>`` into site-packages as ``<module>.py`` with a ``.pth`` line importing it."""
    site_packages = Path(site.getsitepackages()[0])
    shutil.copyfile(Path(__file__).resolve().parent / source, site_packages / f"{module}.py")
    (site_packages / f"{module}.pth").write_text(f"import {module}\n")
    return site_packages / f"{module}.py"


def learn2learn_prints() -> str:
    """What a fresh interpreter of this environment prints on stderr for ``import learn2learn``."""
    result = subprocess.run([sys.executable, "-c", "import learn2learn"], capture_output=True, text=True)
    return result.stderr.strip()


def ensure_quiet_learn2learn() -> None:
    """Install the gym start-up hook when ``import learn2learn`` prints gym's notice."""
    if "unmaintained" not in learn2learn_prints():
        return
    path = install_startup_hook("gym_notice_startup.py", GYM_STARTUP_MODULE)
    print(f"note: {path} keeps gym's 'unmaintained' notice from printing when learn2learn imports gym")


def main(argv: list[str]) -> None:
    extras = ",".join(argv)
    ensure_torch()
    ensure_torchvision()
    root = Path(__file__).resolve().parent.parent
    target = f"{root}[{extras}]" if extras else str(root)
    pip("install", "-e", target)
    pip("install", *LEARN2LEARN_RUNTIME)
    ensure_learn2learn()
    ensure_torchvision_imports()
    ensure_quiet_learn2learn()


if __name__ == "__main__":
    main(sys.argv[1:])
