"""The RGB benchmark loaders on tiny synthetic files of each dataset's real layout (no download)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import metaaug.datasets.folder as folder_module
from metaaug.data import LabeledTaskSampler
from metaaug.datasets import (
    ANIMAL_FACES_SPLITS,
    CIFAR_FS_SPLITS,
    MINI_IMAGENET_SPLITS,
    CelebAAttributeTaskSampler,
    load_animal_faces,
    load_celeba,
    load_cifar_fs,
    load_flowers102,
    load_mini_imagenet,
    to_tensors,
)


def write_image(path: Path, value: int, size: tuple[int, int] = (12, 10)) -> None:
    """A flat RGB image of grey level ``value`` (PNG bytes whatever the suffix, so the value survives)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, np.uint8)).save(path, format="PNG")


@pytest.fixture
def no_image_opened(monkeypatch):
    """Inside the block, opening an image fails the test: loaders must only list files."""

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was opened while building the dataset")

    monkeypatch.setattr(folder_module.Image, "open", forbidden)
    yield
    monkeypatch.undo()


# ------------------------------------------------------------------ mini-ImageNet
def test_mini_imagenet_csv_layout(tmp_path, monkeypatch):
    train = MINI_IMAGENET_SPLITS["train"][:2]
    lines = ["filename,label"]
    for c, wnid in enumerate(train):
        for i in range(3):
            name = f"{wnid}{i:08d}.jpg"
            write_image(tmp_path / "images" / name, 40 * c + i)
            lines.append(f"{name},{wnid}")
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")

    def forbidden(*args, **kwargs):
        raise AssertionError("an image was opened while building the dataset")

    with monkeypatch.context() as patch:
        patch.setattr(folder_module.Image, "open", forbidden)
        ds = load_mini_imagenet(tmp_path, "train", image_size=8)
    assert len(ds) == 6 and ds.classes == list(train)
    assert ds.targets.tolist() == [0, 0, 0, 1, 1, 1]
    image, label = ds[4]
    assert image.dtype == torch.uint8 and image.shape == (3, 8, 8) and label == 1
    assert int(image[0, 0, 0]) == 41
    assert load_mini_imagenet(tmp_path, "train", image_size=None)[0][0].shape == (3, 10, 12)

    # a class of another split in train.csv is refused, naming it
    (tmp_path / "train.csv").write_text(f"filename,label\nx.jpg,{MINI_IMAGENET_SPLITS['test'][0]}\n")
    with pytest.raises(ValueError, match=MINI_IMAGENET_SPLITS["test"][0]):
        load_mini_imagenet(tmp_path, "train")


def test_mini_imagenet_pickle_and_folder_layouts(tmp_path):
    val = MINI_IMAGENET_SPLITS["val"]
    images = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((1, 6, 6, 3), np.uint8)
    # class order in the file differs from the split's order: labels follow the split's
    content = {"image_data": images, "class_dict": {val[3]: [0, 1], val[1]: [2, 3, 4]}}
    with open(tmp_path / "mini-imagenet-cache-validation.pkl", "wb") as file:
        pickle.dump(content, file)
    ds = load_mini_imagenet(tmp_path, "val", image_size=4)
    assert ds.classes == [val[1], val[3]] and ds.targets.tolist() == [0, 0, 0, 1, 1]
    assert ds[0][0].shape == (3, 4, 4) and int(ds[0][0][0, 0, 0]) == 2
    assert load_mini_imagenet(tmp_path, "validation", image_size=None)[3][0].shape == (3, 6, 6)

    for wnid in MINI_IMAGENET_SPLITS["test"][:3]:
        for i in range(2):
            write_image(tmp_path / "test" / wnid / f"{i}.jpg", i)
    (tmp_path / "test" / "notes.txt").write_text("not an image folder")
    test = load_mini_imagenet(tmp_path, "test")
    assert len(test.classes) == 3 and np.bincount(test.targets).tolist() == [2, 2, 2]
    assert test[0][0].shape == (3, 84, 84)


def test_mini_imagenet_missing_files_and_bad_split(tmp_path):
    with pytest.raises(ValueError, match=r"no 'train' split.*download=True.*train,val,test\}\.csv"):
        load_mini_imagenet(tmp_path, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        load_mini_imagenet(tmp_path, "novel")
    (tmp_path / "test.csv").write_text("filename,label\n")
    with pytest.raises(ValueError, match="images"):
        load_mini_imagenet(tmp_path, "test")


# ------------------------------------------------------------------ CIFAR-FS
def write_cifar100(root: Path, per_class_train: int = 2, per_class_test: int = 1) -> list[str]:
    names = sorted(set(CIFAR_FS_SPLITS["train"]) | set(CIFAR_FS_SPLITS["val"]) | set(CIFAR_FS_SPLITS["test"]))
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    with open(base / "meta", "wb") as file:
        pickle.dump({"fine_label_names": names}, file)
    for part, count in (("train", per_class_train), ("test", per_class_test)):
        labels = np.repeat(np.arange(100), count)
        data = np.repeat(labels.astype(np.uint8)[:, None], 3072, axis=1)
        with open(base / part, "wb") as file:
            pickle.dump({"data": data, "fine_labels": labels.tolist()}, file)
    return names


def test_cifar_fs_splits(tmp_path):
    names = write_cifar100(tmp_path)
    sizes = {}
    for split in ("train", "val", "test"):
        ds = load_cifar_fs(tmp_path, split)
        sizes[split] = len(ds.classes)
        assert ds.classes == list(CIFAR_FS_SPLITS[split])
        assert np.bincount(ds.targets).tolist() == [3] * len(ds.classes)  # 2 train + 1 test image each
        image, label = ds[len(ds) - 1]
        assert image.shape == (3, 32, 32) and names[int(image[0, 0, 0])] == ds.classes[label]
    assert sizes == {"train": 64, "val": 16, "test": 20}
    assert not set(CIFAR_FS_SPLITS["train"]) & set(CIFAR_FS_SPLITS["val"]) | set(CIFAR_FS_SPLITS["test"]) & set(
        CIFAR_FS_SPLITS["val"]
    )
    assert load_cifar_fs(tmp_path, "test", image_size=8)[0][0].shape == (3, 8, 8)


def test_cifar_fs_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(ValueError, match=r"cifar-100-python.*download=True"):
        load_cifar_fs(tmp_path, "train")


# ------------------------------------------------------------------ CelebA
N_CELEBA = 24


def write_celeba(root: Path) -> np.ndarray:
    """24 images: 0-11 train (identities 7, 3, 9: 4 images each), 12-17 val, 18-23 test. Image i has grey level i."""
    folder = root / "celeba"
    names = [f"{i + 1:06d}.jpg" for i in range(N_CELEBA)]
    for i, name in enumerate(names):
        write_image(folder / "img_align_celeba" / name, 10 * i)
    identities = [7, 3, 9] * 4 + [20, 21] * 3 + [30, 31, 32] * 2
    partition = [0] * 12 + [1] * 6 + [2] * 6
    rng = np.random.default_rng(0)
    attributes = rng.random((N_CELEBA, 40)) < 0.5
    (folder / "identity_CelebA.txt").write_text("".join(f"{n} {i}\n" for n, i in zip(names, identities)))
    (folder / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partition)))
    header = f"{N_CELEBA}\n" + " ".join(f"Attr_{j:02d}" for j in range(40)) + "\n"
    rows = "".join(f"{n} " + " ".join("1" if a else "-1" for a in row) + "\n" for n, row in zip(names, attributes))
    (folder / "list_attr_celeba.txt").write_text(header + rows)
    return attributes


def test_celeba_identities_by_official_split(tmp_path, no_image_opened):
    write_celeba(tmp_path)
    train = load_celeba(tmp_path, "train", image_size=8)
    assert train.classes == ["3", "7", "9"] and np.bincount(train.targets).tolist() == [4, 4, 4]
    assert train.attributes.shape == (12, 40) and train.attribute_names[0] == "Attr_00"
    test = load_celeba(tmp_path / "celeba", "test", min_images_per_class=2)
    assert test.classes == ["30", "31", "32"] and len(test) == 6
    assert load_celeba(tmp_path, "val", min_images_per_class=4).classes == []


def test_celeba_items_and_task_sampler_integration(tmp_path):
    write_celeba(tmp_path)
    train = load_celeba(tmp_path, "train", image_size=8)
    image, label = train[0]
    assert image.shape == (3, 8, 8) and train.classes[label] == "3"
    assert int(image[0, 0, 0]) == 10  # 000002.jpg, the first image of identity 3
    X, y = to_tensors(train, max_per_class=3, random_state=0)
    assert X.shape == (9, 3, 8, 8) and X.dtype == torch.uint8 and np.bincount(y).tolist() == [3, 3, 3]
    tasks = LabeledTaskSampler(X, y).sample_tasks(2, n_ways=3, k_shot=1, k_query=2, random_state=0)
    assert tasks[0].support_x.shape == (3, 3, 8, 8)


def test_celeba_missing_files_say_how_to_get_them(tmp_path):
    write_celeba(tmp_path)
    (tmp_path / "celeba" / "list_attr_celeba.txt").unlink()
    with pytest.raises(ValueError, match=r"missing .*list_attr_celeba\.txt.*download=True"):
        load_celeba(tmp_path)


def test_celeba_attribute_tasks_follow_the_conjunctions(tmp_path):
    attributes = write_celeba(tmp_path)
    train = load_celeba(tmp_path, "train", image_size=4)
    sampler = CelebAAttributeTaskSampler(train, order=2)
    assert sampler.attributes == [f"Attr_{j:02d}" for j in range(20)]
    tasks, conjunctions = sampler.sample_tasks_with_conjunctions(6, k_shot=1, k_query=1, random_state=0)
    assert len(tasks) == 6
    # dataset item -> file index, recovered from the grey level of its image
    file_of_level = {10 * i: i for i in range(N_CELEBA)}
    for task, conjunction in zip(tasks, conjunctions):
        assert task.support_x.shape == (2, 3, 4, 4) and task.query_x.shape == (2, 3, 4, 4)
        assert task.support_y.tolist() == [0, 1] and task.query_y.tolist() == [0, 1]
        assert task.support_x.dtype == torch.float32 and float(task.support_x.max()) <= 1.0
        assert len(conjunction) == 2 and all(name in sampler.attributes for name in conjunction)
        for images, labels in ((task.support_x, task.support_y), (task.query_x, task.query_y)):
            for image, label in zip(images, labels.tolist()):
                i = file_of_level[round(float(image[0, 0, 0]) * 255)]
                assert i < 12  # a training image
                for name, value in conjunction.items():
                    assert attributes[i, int(name[-2:])] == (value if label == 0 else not value)
    with pytest.raises(ValueError, match="2-way"):
        sampler.sample_tasks(1, n_ways=3)
    with pytest.raises(ValueError, match="no conjunction"):
        sampler.sample_tasks(1, k_shot=5, k_query=5)
    test = load_celeba(tmp_path, "test", image_size=4)
    assert CelebAAttributeTaskSampler(test).attributes == [f"Attr_{j}" for j in range(30, 40)]
    with pytest.raises(ValueError, match="unknown attribute"):
        CelebAAttributeTaskSampler(test, attributes=["Smiling"])


# ------------------------------------------------------------------ Flowers102 and Animal Faces
def test_flowers102_seen_unseen_classes(tmp_path, no_image_opened):
    from scipy.io import savemat

    folder = tmp_path / "flowers-102"
    labels = np.array([1, 85, 86, 2, 102, 1, 86, 85])
    for i in range(len(labels)):
        (folder / "jpg").mkdir(parents=True, exist_ok=True)
        (folder / "jpg" / f"image_{i + 1:05d}.jpg").write_bytes(b"")
    savemat(folder / "imagelabels.mat", {"labels": labels[None, :]})
    seen = load_flowers102(tmp_path, "seen")
    assert seen.classes == ["1", "2", "85"] and seen.targets.tolist() == [0, 0, 1, 2, 2]
    assert [p.name for p in seen.paths] == ["image_00001.jpg", "image_00006.jpg", "image_00004.jpg"] + [
        "image_00002.jpg",
        "image_00008.jpg",
    ]
    unseen = load_flowers102(folder, "test")
    assert unseen.classes == ["86", "102"] and len(unseen) == 3


def test_flowers102_reads_and_resizes(tmp_path):
    from scipy.io import savemat

    folder = tmp_path / "flowers-102"
    write_image(folder / "jpg" / "image_00001.jpg", 77, size=(20, 14))
    savemat(folder / "imagelabels.mat", {"labels": np.array([[90]])})
    image, label = load_flowers102(tmp_path, "unseen", image_size=16)[0]
    assert image.shape == (3, 16, 16) and label == 0 and int(image[1, 5, 5]) == 77
    with pytest.raises(ValueError, match=r"missing .*imagelabels\.mat.*download=True"):
        load_flowers102(tmp_path / "elsewhere")


def test_animal_faces_split(tmp_path, no_image_opened):
    seen, unseen = ANIMAL_FACES_SPLITS["seen"], ANIMAL_FACES_SPLITS["unseen"]
    assert len(seen) == 119 and len(unseen) == 30 and not set(seen) & set(unseen)
    for wnid in (seen[5], seen[0], unseen[2]):
        for i in range(2):
            (tmp_path / wnid).mkdir(exist_ok=True)
            (tmp_path / wnid / f"{wnid}_{i}.jpg").write_bytes(b"")
    (tmp_path / "n99999999").mkdir()
    ds = load_animal_faces(tmp_path, "seen")
    assert ds.classes == [seen[0], seen[5]] and ds.targets.tolist() == [0, 0, 1, 1]
    assert load_animal_faces(tmp_path, "unseen").classes == [unseen[2]]
    assert len(load_animal_faces(tmp_path, "all").classes) == 3
    with pytest.raises(ValueError, match="no class folder"):
        load_animal_faces(tmp_path / "n99999999", "seen")


def test_unreadable_image_names_the_file(tmp_path):
    (tmp_path / ANIMAL_FACES_SPLITS["seen"][0]).mkdir()
    bad = tmp_path / ANIMAL_FACES_SPLITS["seen"][0] / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_animal_faces(tmp_path)[0]


def test_transform_and_index_errors(tmp_path):
    write_image(tmp_path / ANIMAL_FACES_SPLITS["seen"][0] / "a.jpg", 200)
    ds = load_animal_faces(tmp_path, image_size=4, transform=lambda im: im.float() / 255)
    image, _ = ds[-1]
    assert image.dtype == torch.float32 and abs(float(image.mean()) - 200 / 255) < 1e-6
    with pytest.raises(IndexError):
        ds[1]
    with pytest.raises(ValueError, match="image_size"):
        load_animal_faces(tmp_path, image_size=0)


# ------------------------------------------------------------------ a benchmark end to end on tiny files
def test_rgb_unsupervised_benchmark_runs_on_tiny_files(tmp_path, capsys):
    from benchmarks.tables import rgb_unsupervised_meta_learning as script

    write_cifar100(tmp_path, per_class_train=3, per_class_test=1)
    rows = script.main(
        [
            "--dataset", "cifar_fs", "--root", str(tmp_path), "--samplers", "umtra", "--shots", "1",
            "--queries", "2", "--test-tasks", "3", "--iterations", "2", "--image-size", "16", "--threads", "1",
        ]
    )  # fmt: skip
    assert len(rows) == 1 and 0.0 <= rows[0]["accuracy"] <= 1.0
    assert "| cifar_fs | umtra | 5-way 1-shot |" in capsys.readouterr().out


@pytest.mark.slow
def test_every_rgb_benchmark_runs_on_tiny_files(tmp_path):
    from scipy.io import savemat

    from benchmarks.tables import rgb_celeba_attributes, rgb_lofgan, rgb_unsupervised_meta_learning

    write_celeba(tmp_path)
    rgb_celeba_attributes.main(
        ["--root", str(tmp_path), "--samplers", "cactus,supervised", "--shots", "1", "--queries", "1",
         "--test-tasks", "2", "--iterations", "2", "--image-size", "8", "--threads", "1"]
    )  # fmt: skip
    mini = tmp_path / "mini"
    for split, count in (("train", 5), ("test", 5)):
        for wnid in MINI_IMAGENET_SPLITS[split][:5]:
            for i in range(4):
                write_image(mini / split / wnid / f"{i}.jpg", 10 * i + count)
    rgb_unsupervised_meta_learning.main(
        ["--dataset", "mini_imagenet", "--root", str(mini), "--samplers", "lasium", "--shots", "1",
         "--queries", "2", "--test-tasks", "2", "--iterations", "2", "--epochs", "1", "--image-size", "16",
         "--threads", "1"]
    )  # fmt: skip
    flowers = tmp_path / "flowers-102"
    labels = np.repeat([1, 2, 3, 86, 87], 4)
    for i, label in enumerate(labels):
        write_image(flowers / "jpg" / f"image_{i + 1:05d}.jpg", 20 * int(label % 10) + i, size=(32, 32))
    savemat(flowers / "imagelabels.mat", {"labels": labels[None, :]})
    result = rgb_lofgan.main(
        ["--dataset", "flowers", "--root", str(tmp_path), "--image-size", "32", "--epochs", "1",
         "--n-generate", "4", "--threads", "1", "--max-time", "20"]
    )  # fmt: skip
    assert result["seen classes"] == 3 and result["unseen classes"] == 2
