"""Omniglot loading from the shipped zips (real files, offline)."""

import zipfile

import pytest
import torch

from benchmarks._harness.dev_split import DEV_TEST_ALPHABETS, DEV_TRAIN_ALPHABETS, load_dev_split
from metaaug._compat import import_torchvision
from metaaug.data import download_omniglot, load_omniglot, omniglot_alphabets


def test_union_of_small_zips_is_deduplicated(omniglot_root):
    X, y = load_omniglot(omniglot_root)
    assert X.shape == (4840, 1, 28, 28)
    assert int(y.max()) + 1 == 242 and len(torch.unique(y)) == 242
    assert len(omniglot_alphabets(omniglot_root)) == 8
    assert torch.bincount(y).eq(20).all()


def test_ink_is_one_and_background_zero(omniglot_root):
    X, _ = load_omniglot(omniglot_root, alphabets=["Latin"])
    assert float(X.min()) >= 0 and float(X.max()) <= 1
    # strokes are thin: most pixels are background (0)
    assert 0.02 < float(X.mean()) < 0.3
    assert float(X[:, :, 0, :].mean()) < 0.05  # borders are blank


def test_alphabet_filter_and_image_size(omniglot_root):
    X, y = load_omniglot(omniglot_root, alphabets=["Korean", "Tagalog"], image_size=14)
    assert X.shape[1:] == (1, 14, 14)
    assert int(y.max()) + 1 == len(torch.unique(y)) == 57
    with pytest.raises(ValueError, match="unknown alphabet"):
        load_omniglot(omniglot_root, alphabets=["Klingon"])


def test_dev_split_is_disjoint(omniglot_root):
    (Xtr, ytr), (Xte, yte) = load_dev_split(omniglot_root)
    assert set(DEV_TRAIN_ALPHABETS).isdisjoint(DEV_TEST_ALPHABETS)
    assert len(Xtr) == 3700 and len(Xte) == 1140
    # no test image appears among the training images
    train_keys = {bytes(x.numpy().tobytes()) for x in Xtr}
    assert not any(bytes(x.numpy().tobytes()) in train_keys for x in Xte)


def test_root_without_omniglot_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="no Omniglot images"):
        load_omniglot(tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        load_omniglot(tmp_path / "missing")


def test_extracted_torchvision_layout_matches_zip(omniglot_root, tmp_path):
    """torchvision's download layout (omniglot-py/images_background/...) reads the same as the zip."""
    target = tmp_path / "omniglot-py"
    with zipfile.ZipFile(omniglot_root / "images_background_small1.zip") as archive:
        archive.extractall(target)
    (target / "images_background_small1").rename(target / "images_background")
    X_folder, y_folder = load_omniglot(tmp_path, alphabets=["Balinese"])
    X_zip, y_zip = load_omniglot(omniglot_root, alphabets=["Balinese"])
    assert torch.equal(X_folder, X_zip) and torch.equal(y_folder, y_zip)


def test_download_goes_through_torchvision(omniglot_root, tmp_path, monkeypatch):
    """download_omniglot asks torchvision for both sets; offline, a stand-in unpacks a local zip."""
    datasets = import_torchvision().datasets
    calls = []

    class OfflineOmniglot:
        def __init__(self, root, background=True, download=False):
            calls.append((root, background, download))
            name = "images_background" if background else "images_evaluation"
            with zipfile.ZipFile(omniglot_root / "images_background_small2.zip") as archive:
                archive.extractall(f"{root}/omniglot-py/tmp_{name}")
            (tmp_path / "omniglot-py" / f"tmp_{name}" / "images_background_small2").rename(
                tmp_path / "omniglot-py" / name
            )

    monkeypatch.setattr(datasets, "Omniglot", OfflineOmniglot)
    root = download_omniglot(tmp_path)
    assert [c[1:] for c in calls] == [(True, True), (False, True)]
    X, y = load_omniglot(root)
    assert len(X) == 3120 and int(y.max()) + 1 == 156  # both copies of small2, de-duplicated
