"""Files of the command line: training data, seed images and array files in; PNG files out.

Every way an input can be wrong (missing, unreadable, not an image, no images
at all) becomes a :class:`~metaaug.cli.errors.UsageError` naming the file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from metaaug.cli.errors import UsageError, one_line
from metaaug.data.sources import ImageSource
from metaaug.plotting import generated_grid, save_png

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ARRAY_SUFFIXES = (".npy", ".npz", ".pt", ".pth")


# --------------------------------------------------------------------- reading
def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """``images`` resized to ``size`` x ``size`` (bilinear, antialiased when shrinking); ``None`` keeps them."""
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    if size < 2:
        raise UsageError(f"--image-size must be >= 2, got {size}")
    return F.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=size < images.shape[-1]
    ).clamp_(0, 1)


def read_image_files(files: Sequence[Path], channels: int | None, size: tuple[int, int] | None) -> torch.Tensor:
    """Read image files into a float ``(N, C, H, W)`` tensor in [0, 1].

    ``channels`` 1 reads grey, 3 RGB, ``None`` grey unless some file has
    colour. ``size`` (H, W) resizes (Lanczos); ``None`` takes the first file's size.
    """
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for file in files:
        try:
            with Image.open(file) as opened:
                opened.load()
                if channels is None:
                    channels = 1 if opened.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
                img = opened.convert("L" if channels == 1 else "RGB")
                if size is None:
                    size = (img.height, img.width)
                if (img.height, img.width) != tuple(size):
                    img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS)
                pixels = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as err:
            raise UsageError(f"cannot read image {file}: {one_line(err)}") from err
        arrays.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    if not arrays:
        raise UsageError("no image files to read")
    return torch.from_numpy(np.stack(arrays)).clamp_(0, 1)


def image_files(paths: Sequence[str]) -> list[Path]:
    """Image files named directly or found (sorted) in the given folders."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {raw}")
    return files


def read_array_file(path: Path) -> tuple[Any, Any]:
    """``X`` (and ``y`` when present) from a ``.npy`` / ``.npz`` / ``.pt`` file."""
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                x_key = "X" if "X" in keys else ("x" if "x" in keys else keys[0] if len(keys) == 1 else None)
                if x_key is None:
                    raise UsageError(f"{path} holds arrays {keys}; name the images X (and labels y)")
                y_key = "y" if "y" in keys else None
                return archive[x_key], (archive[y_key] if y_key else None)
        content = torch.load(path, map_location="cpu", weights_only=True)
    except UsageError:
        raise
    except Exception as err:  # any unreadable or malformed file is a user error here
        raise UsageError(f"cannot read {path}: {one_line(err)}") from err
    if isinstance(content, torch.Tensor):
        return content, None
    if isinstance(content, dict) and "X" in content:
        return content["X"], content.get("y")
    if isinstance(content, dict) and "support_x" in content:
        return content["support_x"].flatten(0, 1), None
    raise UsageError(f"{path} holds no images: expected a tensor or a dict with 'X' (and 'y')")


def _alphabets(text: str) -> list[str]:
    """``--alphabets``: ``dev-train`` / ``dev-test`` (the demo's split) or comma-separated names."""
    from metaaug.demo import OMNIGLOT_TEST_ALPHABETS, OMNIGLOT_TRAIN_ALPHABETS

    presets = {"dev-train": list(OMNIGLOT_TRAIN_ALPHABETS), "dev-test": list(OMNIGLOT_TEST_ALPHABETS)}
    return presets.get(text) or [a.strip() for a in text.split(",") if a.strip()]


def load_training_data(
    data: str, image_size: int | None, alphabets: str | None, skip_invalid: bool = False
) -> tuple[torch.Tensor | ImageSource, torch.Tensor | None, str]:
    """``(X, y, description)`` for ``--data``: digits, the embedded Omniglot subset, Omniglot, images or an array file.

    ``y`` is ``None`` for unlabeled data. A folder whose images sit in
    subfolders is labeled by subfolder.
    """
    from metaaug.data import as_images, as_labels, load_digits, load_omniglot

    if data == "omniglot-subset":
        from metaaug.data import load_omniglot_subset

        X, y, class_alphabets = load_omniglot_subset("all")
        if alphabets:
            wanted = _alphabets(alphabets)
            unknown = sorted(set(wanted) - set(class_alphabets))
            if unknown:
                raise UsageError(f"--alphabets: unknown alphabet(s) {unknown}; known: {sorted(set(class_alphabets))}")
            keep_class = torch.tensor([a in wanted for a in class_alphabets])
            keep = keep_class[y]
            X, y = X[keep], torch.unique(y[keep], return_inverse=True)[1]
        X = resize(X, image_size)
        return X, y, f"the Omniglot subset shipped with metaaug ({len(X)} images, {int(y.max()) + 1} characters)"
    if data == "digits":
        if alphabets:
            raise UsageError("--alphabets applies to Omniglot data, not digits")
        X, y = load_digits()
        X = resize(X, image_size)
        return X, y, f"sklearn digits ({len(X)} images)"
    path = Path(data)
    if not path.exists():
        raise UsageError(f"--data {data}: no such file or folder (give a path or 'digits')")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--data {data} is not readable")
    if path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        if alphabets:
            raise UsageError("--alphabets applies to Omniglot data")
        images, raw_labels = read_array_file(path)
        X = resize(as_images(images, name=str(path)), image_size)
        labels = None if raw_labels is None else as_labels(raw_labels, len(X), name=f"{path} labels")
        return X, labels, f"{path} ({len(X)} images)"

    chosen = _alphabets(alphabets) if alphabets else None
    try:
        X, y = load_omniglot(path, alphabets=chosen, image_size=image_size or 28)
        return X, y, f"Omniglot at {path} ({len(X)} images, {int(y.max()) + 1} characters)"
    except ValueError as err:
        if "no Omniglot images" not in str(err) or chosen is not None:
            raise
    if not path.is_dir():
        raise UsageError(
            f"--data {data} is neither 'digits', an Omniglot zip/folder, an image folder "
            f"nor a {'/'.join(ARRAY_SUFFIXES)} array file"
        )
    return _read_image_folder(path, image_size, skip_invalid)


def _read_image_folder(
    root: Path, image_size: int | None, skip_invalid: bool = False
) -> tuple[ImageSource, torch.Tensor | None, str]:
    """A lazy source over an image folder (files are decoded batch by batch during training)."""
    from metaaug.data.sources import as_image_source

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            source = as_image_source(root, image_size=image_size, skip_invalid=skip_invalid, num_workers=2)
        for warning in caught:
            print(f"warning: {warning.message}", flush=True)
    except ValueError as err:
        raise UsageError(one_line(err).replace("pass image_size=(H, W)", "pass --image-size N")) from None
    labels = source.labels
    if labels is not None and bool((labels < 0).any()):
        labels = None
    if labels is None:
        return source, None, f"{root} ({len(source)} unlabeled images, read lazily)"
    return source, labels, f"{root} ({len(source)} images, {int(labels.max()) + 1} classes, read lazily)"


def read_seeds(
    paths: Sequence[str], shape: tuple[int, int, int] | None, invert: str, notes: list[str] | None = None
) -> tuple[torch.Tensor, bool]:
    """Seed images for ``generate`` in the model's (C, H, W); returns ``(images, inverted)``.

    Grey images drawn dark on light (like Omniglot's files) are inverted so ink
    is 1.0, the library's convention, when ``invert`` is ``"auto"``. A line
    for the user is appended to ``notes`` when the seeds are resized.
    """
    from metaaug.data import as_images
    from metaaug.data.images import looks_inverted

    arrays = [Path(p) for p in paths if Path(p).is_file() and Path(p).suffix.lower() in ARRAY_SUFFIXES]
    if arrays:
        if len(arrays) != len(paths):
            raise UsageError("--seeds takes either image files/folders or one array file, not both")
        if len(arrays) > 1:
            raise UsageError("--seeds takes one array file")
        images = as_images(read_array_file(arrays[0])[0], name=str(arrays[0]))
        if shape is not None and images.shape[1] == shape[0] and tuple(images.shape[-2:]) != shape[1:]:
            _note_resize(notes, tuple(images.shape[-2:]), shape[1:])
            images = resize(images, shape[1])
        inverted = invert == "yes" or (invert == "auto" and looks_inverted(images))
        return (1.0 - images if inverted else images), inverted
    files = image_files(paths)
    if not files:
        raise UsageError(f"no image files in {' '.join(paths)}")
    channels = shape[0] if shape is not None and shape[0] in (1, 3) else None
    original = read_image_files(files[:1], channels, None).shape[-2:]  # a broken file is reported here
    if shape is not None and tuple(original) != shape[1:]:
        _note_resize(notes, tuple(original), shape[1:])
    images = read_image_files(files, channels, None if shape is None else (shape[1], shape[2]))
    inverted = invert == "yes" or (invert == "auto" and images.shape[1] == 1 and float(images.mean()) > 0.5)
    return (1.0 - images if inverted else images), inverted


def _note_resize(notes: list[str] | None, source: tuple[int, ...], target: tuple[int, ...]) -> None:
    if notes is not None:
        notes.append(
            f"seeds resized from {source[0]}x{source[1]} to {target[0]}x{target[1]}, the size the model was trained on"
        )


# --------------------------------------------------------------------- writing
def check_writable(path: Path, option: str = "--out", folder: bool = False) -> None:
    """Raise :class:`UsageError` unless ``path`` can be written (checked before any work).

    ``folder`` says whether ``path`` is meant to be a folder. A file that
    exists must be writable; otherwise a temporary file is created (and
    removed) in the nearest existing parent folder, which also catches
    file systems that refuse new files (``/sys``, read-only mounts).
    """
    import tempfile

    if path.exists():
        if folder and not path.is_dir():
            raise UsageError(f"{option} {path} exists and is not a folder")
        if not folder and path.is_dir():
            raise UsageError(f"{option} {path} is a folder; give a file name")
    target = path if (folder and path.is_dir()) else None
    if not folder and path.is_file():
        try:
            with open(path, "r+b"):
                pass
        except OSError as err:
            raise UsageError(f"{option} {path} cannot be written: {err.strerror or one_line(err)}") from err
        return
    if target is None:
        target = path.parent
        while not target.exists() and target != target.parent:
            target = target.parent
        if not target.is_dir():
            raise UsageError(f"{option} {path}: {target} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=target):
            pass
    except OSError as err:
        raise UsageError(f"{option} {path} cannot be written ({target}: {err.strerror or one_line(err)})") from err


def displayed(images: torch.Tensor, inverted: bool) -> torch.Tensor:
    """Images as the user sees them: ink dark on white when the inputs were drawn that way."""
    return 1.0 - images if inverted else images


def save_generated_grid(seeds: torch.Tensor, images: torch.Tensor, path: Path) -> None:
    """One PNG: the seeds (up to 10, framed), a gap, then the generated images 10 a row.

    ``seeds`` and ``images`` follow the library's convention (ink 1.0); grey
    images are drawn dark on white and enlarged (see :mod:`metaaug.plotting`).
    """
    save_png(generated_grid(seeds, images), path)


def save_generated_files(images: torch.Tensor, folder: Path) -> None:
    """``generated_0000.png``, ``generated_0001.png``, ... in ``folder`` (created if missing)."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {folder} exists and is not a folder; give a folder or a .png name")
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        save_png(image, folder / f"generated_{index:04d}.png")
