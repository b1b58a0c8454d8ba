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

from metaaug.base import check_count, check_request_size

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


def _decode(data: bytes | Path, image_size: int, where: str) -> np.ndarray:
    try:
        with Image.open(data if isinstance(data, Path) else io.BytesIO(data)) as file:
            img = file.convert("L")
            if img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.Resampling.LANCZOS)
            pixels = np.asarray(img, dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as err:  # PIL's UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read the Omniglot image {where}: {err}") from None
    return 1.0 - pixels  # Omniglot draws black ink on white: make ink 1.0


_Signature = tuple[tuple[tuple[str, str, str], str, str, int, int], ...]


def _signature(root: Path) -> _Signature:
    """Every image's key and location with the size and modification time of the file holding it.

    The decoded images are cached under this signature, so images added,
    removed or changed in the folder are seen by the next call.
    """
    stats: dict[Path, tuple[int, int]] = {}
    entries = []
    for key, (path, member) in sorted(_scan(root).items()):
        if path not in stats:
            info = path.stat()
            stats[path] = (info.st_mtime_ns, info.st_size)
        entries.append((key, str(path), member, *stats[path]))
    return tuple(entries)


def _load_all(root: str, image_size: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    return _decode_all(_signature(Path(root)), image_size)


@functools.lru_cache(maxsize=8)
def _decode_all(signature: _Signature, image_size: int) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    files = {key: (Path(path), member) for key, path, member, _, _ in signature}
    keys = sorted(files)
    check_request_size(len(keys), (1, image_size, image_size), f"load_omniglot(image_size={image_size})")
    images = np.empty((len(keys), 1, image_size, image_size), dtype=np.float32)
    open_zips: dict[Path, zipfile.ZipFile] = {}
    try:
        for i, key in enumerate(keys):
            path, member = files[key]
            if member:
                if path not in open_zips:
                    open_zips[path] = zipfile.ZipFile(path)
                archive = open_zips[path]
                images[i, 0] = _decode(archive.read(member), image_size, f"{path}:{member}")
            else:
                images[i, 0] = _decode(path, image_size, str(path))
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
        Side of the square output images (Lanczos resampling from 105 px),
        >= 4.

    Notes
    -----
    Decoded images are cached per process under the list of image files with
    their sizes and modification times, so a second call on the same folder is
    fast and still sees images added, removed or changed since. An unreadable
    image file raises a ``ValueError`` naming it.

    Returns
    -------
    X : torch.Tensor
        ``(N, 1, image_size, image_size)`` float32, ink 1.0, background 0.0.
    y : torch.Tensor
        int64 ``(N,)`` character ids ``0..C-1``, ordered by (alphabet, character)
        among the kept alphabets.
    """
    image_size = check_count(image_size, "image_size", minimum=4)
    if alphabets is not None:
        if isinstance(alphabets, str):
            alphabets = [alphabets]
        if not isinstance(alphabets, (list, tuple, set, frozenset)):
            raise ValueError(f"alphabets must be None or a list of alphabet names, got {alphabets!r}")
        alphabets = list(alphabets)
        if not alphabets:
            raise ValueError("alphabets is empty: pass None for every alphabet, or a list of alphabet names")
        if not all(isinstance(a, str) for a in alphabets):
            raise ValueError(f"alphabets must be alphabet names (strings), got {alphabets!r}")
    X, y, alphabet_of_image = _load_all(str(Path(root).resolve()), image_size)
    if alphabets is not None:
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
