"""Omniglot loading from the official zips or their extracted folders.

Works offline on any folder that holds ``images_background*.zip`` /
``images_evaluation.zip`` (or those archives extracted, as torchvision's
``Omniglot(download=True)`` leaves them under ``omniglot-py/``). Files that
appear in several archives (Greek and Latin are in both "small" background
sets) are read once.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

_SET_PATTERN = re.compile(r"^images_(background|evaluation)\w*$")


def _character_key(parts: tuple[str, ...]) -> tuple[str, str, str] | None:
    """(alphabet, character, file) for ``.../images_X/<alphabet>/<character>/<file>.png``."""
    if len(parts) < 4 or not parts[-1].lower().endswith(".png"):
        return None
    if not _SET_PATTERN.match(parts[-4]):
        return None
    return parts[-3], parts[-2], parts[-1]


def _sources(root: Path) -> list[Path]:
    if not root.exists():
        raise ValueError(f"Omniglot root {root} does not exist")
    if root.is_file():
        return [root]
    found = sorted(p for p in root.rglob("images_*") if _SET_PATTERN.match(p.stem))
    sources = [p for p in found if p.is_dir() or p.suffix == ".zip"]
    # an extracted folder next to its zip: read the folder only
    dirs = {p.stem for p in sources if p.is_dir()}
    return [p for p in sources if p.is_dir() or p.stem not in dirs]


def _scan(root: Path) -> dict[tuple[str, str, str], tuple[Path, str]]:
    """Map each (alphabet, character, file) to where its bytes are."""
    files: dict[tuple[str, str, str], tuple[Path, str]] = {}
    for source in _sources(root):
        if source.is_dir():
            for png in source.rglob("*.png"):
                key = _character_key(png.relative_to(source.parent).parts)
                if key is not None:
                    files.setdefault(key, (png, ""))
        else:
            try:
                with zipfile.ZipFile(source) as archive:
                    for member in archive.namelist():
                        key = _character_key(tuple(member.split("/")))
                        if key is not None:
                            files.setdefault(key, (source, member))
            except zipfile.BadZipFile as err:
                raise ValueError(f"{source} is not a readable zip archive") from err
    if not files:
        raise ValueError(
            f"no Omniglot images found under {root}: expected images_background*.zip / "
            "images_evaluation.zip or their extracted folders (<set>/<alphabet>/<character>/*.png)"
        )
    return files


def omniglot_alphabets(root: str | Path) -> list[str]:
    """Sorted names of the alphabets found under ``root``."""
    return sorted({alphabet for alphabet, _, _ in _scan(Path(root))})


def _decode(data: bytes | Path, image_size: int) -> np.ndarray:
    with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as file:
        img = file.convert("L")
        if img.size != (image_size, image_size):
            img = img.resize((image_size, image_size), Image.Resampling.LANCZOS)
        pixels = np.asarray(img, dtype=np.float32) / 255.0
    return 1.0 - pixels  # Omniglot draws black ink on white: make ink 1.0


@functools.lru_cache(maxsize=8)
def _load_all(root: str, image_size: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    files = _scan(Path(root))
    keys = sorted(files)
    images = np.empty((len(keys), 1, image_size, image_size), dtype=np.float32)
    open_zips: dict[Path, zipfile.ZipFile] = {}
    try:
        for i, key in enumerate(keys):
            path, member = files[key]
            if member:
                if path not in open_zips:
                    open_zips[path] = zipfile.ZipFile(path)
                archive = open_zips[path]
                images[i, 0] = _decode(archive.read(member), image_size)
            else:
                images[i, 0] = _decode(path, image_size)
    finally:
        for archive in open_zips.values():
            archive.close()
    characters = sorted({(a, c) for a, c, _ in keys})
    index = {char: i for i, char in enumerate(characters)}
    labels = torch.tensor([index[(a, c)] for a, c, _ in keys], dtype=torch.int64)
    alphabet_of_image = tuple(a for a, _, _ in keys)
    return torch.from_numpy(images).clamp_(0, 1), labels, alphabet_of_image


def load_omniglot(
    root: str | Path, alphabets: list[str] | None = None, image_size: int = 28
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load Omniglot characters as images and character labels.

    Parameters
    ----------
    root : path
        A folder holding Omniglot zips (``images_background*.zip``,
        ``images_evaluation.zip``) or their extracted folders, e.g.
        torchvision's download folder.
    alphabets : list of str, optional
        Keep only these alphabets (names as in :func:`omniglot_alphabets`).
    image_size : int
        Side of the square output images (Lanczos resampling from 105 px).

    Returns
    -------
    X : torch.Tensor
        ``(N, 1, image_size, image_size)`` float32, ink 1.0, background 0.0.
    y : torch.Tensor
        int64 ``(N,)`` character ids ``0..C-1``, ordered by (alphabet, character)
        among the kept alphabets.
    """
    if int(image_size) < 4:
        raise ValueError(f"image_size must be >= 4, got {image_size}")
    X, y, alphabet_of_image = _load_all(str(Path(root).resolve()), int(image_size))
    if alphabets is not None:
        if isinstance(alphabets, str):
            alphabets = [alphabets]
        known = set(alphabet_of_image)
        unknown = sorted(set(alphabets) - known)
        if unknown:
            raise ValueError(f"unknown alphabet(s) {unknown}; {root} has {sorted(known)}")
        wanted = set(alphabets)
        keep = torch.tensor([a in wanted for a in alphabet_of_image])
        X, y = X[keep], y[keep]
        _, y = torch.unique(y, return_inverse=True)
    return X.clone(), y.clone()


def download_omniglot(root: str | Path, background: bool = True, evaluation: bool = True) -> Path:
    """Download the full Omniglot with torchvision (needs internet).

    Returns the folder to pass to :func:`load_omniglot`.
    """
    from metaaug._compat import import_torchvision

    datasets = import_torchvision().datasets
    root = Path(root)
    if background:
        datasets.Omniglot(str(root), background=True, download=True)
    if evaluation:
        datasets.Omniglot(str(root), background=False, download=True)
    return root
