"""The Omniglot subset shipped inside the package (metaaug.data.load_omniglot_subset)."""

from __future__ import annotations

import runpy
import zipfile
from importlib import resources
from pathlib import Path

import pytest
import torch

from metaaug.data import load_omniglot, load_omniglot_subset
from metaaug.data.embedded_omniglot import TEST_ALPHABETS, TRAIN_ALPHABETS

ROOT = Path(__file__).resolve().parent.parent
EMBEDDED = resources.files("metaaug.data").joinpath("_embedded")


@pytest.mark.parametrize(
    ("split", "images", "characters", "alphabets"),
    [("all", 4840, 242, 8), ("train", 3700, 185, 6), ("test", 1140, 57, 2)],
)
def test_documented_counts(split, images, characters, alphabets):
    X, y, class_alphabets = load_omniglot_subset(split)
    assert X.shape == (images, 1, 28, 28) and X.dtype == torch.float32
    assert y.dtype == torch.int64 and sorted(y.unique().tolist()) == list(range(characters))
    assert len(class_alphabets) == characters and len(set(class_alphabets)) == alphabets
    assert torch.bincount(y).eq(20).all()  # 20 drawers per character
    assert float(X.min()) == 0.0 and float(X.max()) == 1.0
    assert float(X.mean()) < 0.25  # ink 1.0 on background 0.0


def test_splits_are_disjoint_and_documented():
    _, _, train = load_omniglot_subset("train")
    _, _, test = load_omniglot_subset("test")
    assert set(train) == set(TRAIN_ALPHABETS) and set(test) == set(TEST_ALPHABETS)
    assert not set(train) & set(test)


def test_same_images_as_the_loader_on_the_published_zips(omniglot_root):
    """The embedded images are the loader's 28x28 images, stored as uint8."""
    X, y, _ = load_omniglot_subset("test")
    X_ref, y_ref = load_omniglot(omniglot_root, alphabets=list(TEST_ALPHABETS), image_size=28)
    assert torch.equal(y, y_ref)
    assert float((X - X_ref).abs().max()) <= 0.5 / 255 + 1e-6


def test_bad_split_names_the_choices():
    with pytest.raises(ValueError, match="split must be one of 'all', 'train', 'test'"):
        load_omniglot_subset("validation")


def test_licence_and_size_are_packaged():
    licence = EMBEDDED.joinpath("LICENSE").read_text()
    assert "MIT License" in licence and "Brenden Lake" in licence
    assert "Science, 350(6266)" in EMBEDDED.joinpath("README.md").read_text()  # the citation
    archive = EMBEDDED.joinpath("omniglot_small.npz")
    with resources.as_file(archive) as path:
        assert path.stat().st_size < 3_000_000
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    patterns = package_data["metaaug.data"]
    assert {"_embedded/*.npz", "_embedded/LICENSE", "_embedded/README.md"} <= set(patterns)


def test_build_script_rebuilds_the_shipped_bytes(omniglot_root, tmp_path):
    """The script is deterministic: rebuilt from the published zips, the archive equals the shipped one."""
    build = runpy.run_path(str(ROOT / "scripts" / "build_embedded_omniglot.py"))["build"]
    rebuilt = build(Path(omniglot_root), tmp_path)
    with resources.as_file(EMBEDDED.joinpath("omniglot_small.npz")) as shipped:
        assert rebuilt.read_bytes() == shipped.read_bytes()
    with zipfile.ZipFile(rebuilt) as archive:
        assert all(info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())


def test_inverted_line_drawings_are_detected_and_warned_about():
    """``1 - X`` (dark ink on light paper, as torchvision's Omniglot) warns with the fix; X does not."""
    import warnings

    from metaaug.data import load_digits
    from metaaug.data.images import looks_inverted, warn_if_inverted

    X, _, _ = load_omniglot_subset("test")
    digits, _ = load_digits()
    for images in (X, digits):
        assert not looks_inverted(images) and looks_inverted(1 - images)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert warn_if_inverted(images) is False
    with pytest.warns(UserWarning, match=r"dark ink on a light background.*pass 1 - X"):
        assert warn_if_inverted(1 - X)
    assert not looks_inverted(torch.ones(4, 3, 28, 28))  # colour images are never flagged
