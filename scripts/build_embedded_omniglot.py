"""Build the Omniglot subset that ships inside the package (``metaaug.data.load_omniglot_subset``).

Reads the two "small background" sets of Omniglot (``images_background_small1.zip``
and ``images_background_small2.zip``, MIT licensed, Lake et al.) from a folder,
downsamples every drawing to 28x28 with metaaug's own loader (Lanczos, ink 1.0),
stores it as uint8 and writes ``metaaug/data/_embedded/omniglot_small.npz``
next to the dataset's licence. The output is byte-for-byte deterministic (fixed
order, fixed zip timestamps), so rebuilding it changes nothing in git.

Usage::

    python scripts/build_embedded_omniglot.py [OMNIGLOT_FOLDER]   # default: ../shared/data/omniglot
"""

from __future__ import annotations

import io
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "metaaug" / "data" / "_embedded"
ARCHIVE = "omniglot_small.npz"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
LIMIT_BYTES = 3_000_000


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like ``np.savez_compressed`` but with fixed member timestamps (reproducible bytes)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, _npy_bytes(array), compresslevel=9)


def build(source: Path, out: Path = OUT) -> Path:
    sys.path.insert(0, str(ROOT))
    from metaaug.data import load_omniglot, omniglot_alphabets

    zips = sorted(source.glob("images_background_small*.zip"))
    if len(zips) != 2:
        raise SystemExit(f"expected images_background_small1.zip and _small2.zip in {source}, found {zips}")
    images, labels, class_alphabet, class_name = [], [], [], []
    alphabets = omniglot_alphabets(source)
    for a, alphabet in enumerate(alphabets):
        X, y = load_omniglot(source, alphabets=[alphabet], image_size=28)
        images.append(np.round(X[:, 0].numpy() * 255).astype(np.uint8))
        labels.append(y.numpy() + len(class_alphabet))
        n_classes = int(y.max()) + 1
        class_alphabet += [a] * n_classes
        class_name += [f"{alphabet}/character{c + 1:02d}" for c in range(n_classes)]
    X_all = np.concatenate(images)
    y_all = np.concatenate(labels).astype(np.int16)
    out.mkdir(parents=True, exist_ok=True)
    target = out / ARCHIVE
    write_npz(
        target,
        {
            "X": X_all,
            "y": y_all,
            "class_alphabet": np.asarray(class_alphabet, dtype=np.int16),
            "alphabets": np.asarray(alphabets),
        },
    )
    shutil.copyfile(source / "LICENSE", out / "LICENSE")
    size = target.stat().st_size
    if size > LIMIT_BYTES:
        raise SystemExit(f"{target} is {size} bytes, over the {LIMIT_BYTES} byte limit")
    print(f"{target}: {len(X_all)} images, {len(class_alphabet)} characters, {len(alphabets)} alphabets, {size} bytes")
    return target


if __name__ == "__main__":
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "omniglot")
