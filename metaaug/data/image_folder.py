"""A folder of images read lazily as a torch ``Dataset`` (one subfolder per class, or image files)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metaaug.data.image_conversion import CHANNEL_COUNTS, _pair


class ImageFolderDataset(torch.utils.data.Dataset):
    """The images of a folder, read lazily: one subfolder per class, or image files directly in it.

    All files are opened once at construction to read their size and colour
    mode (headers only, no decoding), so that a folder of mixed sizes, a file
    that is not an image or an empty class folder is reported before any
    training starts.

    Parameters
    ----------
    root : str or Path
    image_size : int or (int, int), optional
        Resize every image to this size; without it, all files must have the same size.
    channels : {1, 3}, optional
        1 reads grey, 3 RGB; by default RGB when any file has colour, else grey.
    skip_invalid : bool, default=False
        Skip files that cannot be read as images (with one warning naming them)
        instead of raising an error.

    Attributes
    ----------
    samples : list of (Path, int)
        The files and their class index (``-1`` for a folder without class subfolders).
    targets : list of int
    classes : list of str
        Class subfolder names (empty for a flat folder).
    """

    def __init__(
        self,
        root: str | Path,
        image_size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        skip_invalid: bool = False,
    ) -> None:
        from PIL import Image, UnidentifiedImageError

        root = Path(root)
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder of images")
        if channels is not None and channels not in CHANNEL_COUNTS:
            raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
        top = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
        subfolders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        candidates: list[tuple[Path, int]] = []
        self.classes: list[str] = []
        if subfolders:
            for label, folder in enumerate(subfolders):
                files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
                if not files:
                    raise ValueError(
                        f"class folder {folder} is empty; remove it or put its images in it "
                        "(each subfolder of the image folder is one class)"
                    )
                self.classes.append(folder.name)
                candidates.extend((f, label) for f in files)
        else:
            candidates = [(f, -1) for f in top]
        if not candidates:
            raise ValueError(f"no images found under {root}: expected image files or one subfolder of images per class")
        samples: list[tuple[Path, int]] = []
        sizes: dict[tuple[int, int], Path] = {}
        colour = False
        invalid: list[str] = []
        for path, label in candidates:
            try:
                with Image.open(path) as opened:
                    size = (opened.height, opened.width)
                    colour = (
                        colour
                        or opened.mode not in ("1", "L", "LA", "I", "I;16", "F", "P")
                        or (opened.mode == "P" and _palette_has_colour(opened))
                    )
            except (UnidentifiedImageError, OSError) as err:
                if not skip_invalid:
                    raise ValueError(
                        f"cannot read {path} as an image ({type(err).__name__}: {err}); remove it, or pass "
                        "skip_invalid=True to skip such files with a warning"
                    ) from None
                invalid.append(str(path))
                continue
            sizes.setdefault(size, path)
            samples.append((path, label))
        if invalid:
            shown = ", ".join(invalid[:3]) + (f" and {len(invalid) - 3} more" if len(invalid) > 3 else "")
            warnings.warn(f"skipped {len(invalid)} file(s) that are not readable images: {shown}", stacklevel=2)
        if not samples:
            raise ValueError(f"no readable images under {root}")
        if subfolders:
            present = {label for _, label in samples}
            emptied = [self.classes[i] for i in range(len(self.classes)) if i not in present]
            if emptied:
                raise ValueError(f"class folder(s) {emptied} under {root} hold no readable image")
        self.size = None if image_size is None else _pair(image_size)
        if self.size is None and len(sizes) > 1:
            (size_a, file_a), (size_b, file_b) = list(sizes.items())[:2]
            raise ValueError(
                f"the images under {root} have different sizes: {file_a} is {size_a[0]}x{size_a[1]} and {file_b} is "
                f"{size_b[0]}x{size_b[1]} ({len(sizes)} sizes in all); pass image_size=(H, W) to resize them all"
            )
        self.root = root
        self.samples = samples
        self.targets = [label for _, label in samples]
        self.channels = channels or (3 if colour else 1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        try:
            with Image.open(path) as opened:
                image = opened.convert("L" if self.channels == 1 else "RGB")
                if self.size is not None and (image.height, image.width) != self.size:
                    image = image.resize((self.size[1], self.size[0]), Image.Resampling.BILINEAR)
                pixels = np.array(image, dtype=np.uint8)  # a writable copy: torch warns on read-only arrays
        except OSError as err:
            raise ValueError(f"cannot decode {path}: {err}") from None
        array = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(array)), label


def _palette_has_colour(image: Any) -> bool:
    try:
        return image.convert("RGB").getextrema() != image.convert("L").convert("RGB").getextrema()
    except OSError:
        return True
