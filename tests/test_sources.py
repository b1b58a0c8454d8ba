"""Any image source in: arrays, memmaps, PIL lists, Datasets, folders; uint8 kept; tasks streamed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from metaaug import AE, UMTRA, ProtoNetClassifier
from metaaug.data import AugmentedDataset, LabeledTaskSampler, to_l2l_metadataset
from metaaug.data.sources import ArrayImages, DatasetImages, ImageFolderDataset, as_image_source
from metaaug.fewshot.evaluation import task_accuracies


def coloured_shapes(n_classes: int = 6, per_class: int = 5, size: int = 12, seed: int = 0):
    """uint8 ``(N, H, W, 3)`` images: one colour and one square position per class, with noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 40, (n_classes * per_class, size, size, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(n_classes), per_class)
    for i, c in enumerate(labels):
        colour = np.array([(c * 97) % 256, (c * 53 + 80) % 256, (c * 31 + 160) % 256], dtype=np.uint8)
        top = (c * 2) % (size - 4)
        images[i, top : top + 4, 2:6] = colour
    return images, labels


class ListDataset(torch.utils.data.Dataset):
    """Items ``(PIL image, label)`` without a ``targets`` attribute (labels must be read from items)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels_list = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return Image.fromarray(self.images[i]), int(self.labels_list[i])


def write_folder(root, images: np.ndarray, labels: np.ndarray, suffix: str = ".png"):
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / f"class_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}{suffix}")
    return root


# ------------------------------------------------------------------ array sources
def test_uint8_stays_uint8_without_copy_and_converts_per_batch():
    images, labels = coloured_shapes()
    source = as_image_source(images)  # channels-last: kept as a permuted view
    assert isinstance(source, ArrayImages) and source.dtype == torch.uint8
    channels_first = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    stored = as_image_source(channels_first).stored()
    assert stored.data_ptr() == torch.from_numpy(channels_first).data_ptr()  # no copy at all
    batch = source[torch.tensor([0, 7])]
    assert batch.dtype == torch.float32 and batch.shape == (2, 3, 12, 12)
    assert torch.equal(batch, torch.from_numpy(images[[0, 7]]).permute(0, 3, 1, 2).float() / 255.0)


def test_sampler_holds_no_float_copy_of_the_images():
    images, labels = coloured_shapes()
    tensor = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    sampler = LabeledTaskSampler(tensor, labels)
    assert sampler.X.stored().dtype == torch.uint8
    assert sampler.X.stored().data_ptr() == tensor.data_ptr()
    floats = [v for v in vars(sampler).values() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert floats == []


def test_uint8_and_float_inputs_give_identical_tasks_and_fits():
    images, labels = coloured_shapes()
    floats = images.astype(np.float32) / 255.0
    a = LabeledTaskSampler(images, labels).sample_tasks(3, n_ways=3, k_shot=1, k_query=2, random_state=4)
    b = LabeledTaskSampler(floats, labels).sample_tasks(3, n_ways=3, k_shot=1, k_query=2, random_state=4)
    for s, t in zip(a, b):
        assert torch.equal(s.support_x, t.support_x) and torch.equal(s.query_x, t.query_x)
    grey = images[..., 0]
    ae_u8 = AE(epochs=1, batch_size=8, hidden=4, latent_dim=4, random_state=0, verbose=False).fit(grey)
    ae_f = AE(epochs=1, batch_size=8, hidden=4, latent_dim=4, random_state=0, verbose=False).fit(grey / 255.0)
    assert np.array_equal(ae_u8.loss_curve_, ae_f.loss_curve_)


def test_memmap_is_read_where_indexed(tmp_path):
    images, labels = coloured_shapes()
    path = tmp_path / "images.npy"
    np.save(path, images)
    mapped = np.load(path, mmap_mode="r")
    source = as_image_source(mapped)
    assert source.dtype == torch.uint8
    tasks = LabeledTaskSampler(mapped, labels).sample_tasks(2, n_ways=2, k_shot=1, k_query=1, random_state=0)
    assert tasks[0].support_x.shape == (2, 3, 12, 12)


# --------------------------------------------------------------- dataset sources
def test_dataset_backed_sampler_gives_the_array_backed_tasks():
    images, labels = coloured_shapes()
    from_dataset = LabeledTaskSampler(ListDataset(images, labels))  # labels read from the items
    from_arrays = LabeledTaskSampler(images, labels)
    for s, t in zip(
        from_dataset.sample_tasks(4, n_ways=3, k_shot=2, k_query=1, random_state=1),
        from_arrays.sample_tasks(4, n_ways=3, k_shot=2, k_query=1, random_state=1),
    ):
        assert torch.equal(s.support_x, t.support_x) and torch.equal(s.query_y, t.query_y)


def test_torchvision_image_folder_and_l2l_metadataset(tmp_path):
    torchvision = pytest.importorskip("torchvision")
    images, labels = coloured_shapes(n_classes=3, per_class=4)
    root = write_folder(tmp_path / "folder", images, labels)
    folder = torchvision.datasets.ImageFolder(root)
    source = as_image_source(folder)
    assert isinstance(source, DatasetImages) and torch.equal(source.labels, torch.as_tensor(labels))
    assert torch.equal(source[torch.tensor([5])][0], as_image_source(images)[5])  # PNG is lossless
    meta = to_l2l_metadataset(folder)
    image, label = meta[5]
    assert label == labels[5] and image.shape == (3, 12, 12)
    sampler = LabeledTaskSampler(meta)
    assert sampler.n_classes == 3


def test_folder_path_is_read_lazily_and_fits(tmp_path):
    images, labels = coloured_shapes(n_classes=3, per_class=4)
    root = write_folder(tmp_path / "folder", images, labels)
    source = as_image_source(root, num_workers=2)
    assert source.image_shape == (3, 12, 12) and torch.equal(source.labels, torch.as_tensor(labels))
    umtra = UMTRA(random_state=0).fit(root)
    assert umtra.sample_tasks(1, n_ways=2, k_shot=1, k_query=1, random_state=0)[0].query_x.shape == (2, 3, 12, 12)
    clf = ProtoNetClassifier(n_iterations=1, n_ways=2, k_shot=1, k_query=1, hidden=4, verbose=False).fit(str(root))
    assert clf.image_shape_ == (3, 12, 12)


def test_a_source_saved_in_a_model_loads_back_identical(tmp_path):
    images, _ = coloured_shapes()
    umtra = UMTRA(random_state=0).fit(images)
    umtra.save(tmp_path / "umtra.pt")
    loaded = UMTRA.load(tmp_path / "umtra.pt")
    assert loaded.images_.stored().dtype == torch.uint8
    a = umtra.sample_tasks(2, n_ways=3, k_shot=1, k_query=2, random_state=3)
    b = loaded.sample_tasks(2, n_ways=3, k_shot=1, k_query=2, random_state=3)
    assert all(torch.equal(s.query_x, t.query_x) for s, t in zip(a, b))


# ------------------------------------------------------------------ streaming
@settings(max_examples=8, deadline=None)
@given(n_tasks=st.integers(1, 40), batch_size=st.integers(1, 9), seed=st.integers(0, 99))
def test_iter_tasks_yields_exactly_the_sampled_tasks(n_tasks, batch_size, seed):
    images, labels = coloured_shapes()
    sampler = LabeledTaskSampler(images, labels)
    sampler.plan_size = 16  # cross plan boundaries with small calls
    listed = sampler.sample_tasks(n_tasks, n_ways=3, k_shot=1, k_query=2, random_state=seed)
    streamed = list(
        sampler.iter_tasks(n_tasks, n_ways=3, k_shot=1, k_query=2, random_state=seed, batch_size=batch_size)
    )
    assert len(streamed) == n_tasks
    for s, t in zip(listed, streamed):
        assert torch.equal(s.support_x, t.support_x) and torch.equal(s.query_x, t.query_x)


def test_evaluate_reads_an_iterator_and_matches_the_list():
    images, labels = coloured_shapes()
    sampler = LabeledTaskSampler(images, labels)
    clf = ProtoNetClassifier(n_iterations=2, n_ways=3, k_shot=1, k_query=2, hidden=4, verbose=False, random_state=0)
    clf.fit(images, labels)
    listed = clf.evaluate(sampler.sample_tasks(40, n_ways=3, k_shot=1, k_query=2, random_state=5))
    streamed = clf.evaluate(sampler.iter_tasks(40, n_ways=3, k_shot=1, k_query=2, random_state=5, batch_size=7))
    assert listed == pytest.approx(streamed)
    accs = task_accuracies(clf.predict, sampler.iter_tasks(5, n_ways=3, k_shot=1, k_query=2, random_state=5))
    assert accs.shape == (5,)
    with pytest.raises(ValueError, match="empty"):
        clf.evaluate(iter([]))


def test_augmented_dataset_reads_a_dataset_lazily_and_applies_transform():
    from metaaug import PixelMixup

    images, labels = coloured_shapes(n_classes=3, per_class=4)
    data = AugmentedDataset(
        ListDataset(images, labels), PixelMixup(), ratio=0.5, random_state=0, transform=lambda x: x * 0.5
    )
    assert len(data) == 24
    image, label = data[0]
    assert image.max() <= 0.5 and label == 0
    assert data[20][0].shape == (3, 12, 12)
    with pytest.raises(ValueError, match="transform must be callable"):
        AugmentedDataset((images, labels), PixelMixup(), transform=3)


# ------------------------------------------------------------------ bad input
def test_folder_of_mixed_sizes_names_two_files_or_resizes(tmp_path):
    images, labels = coloured_shapes(n_classes=2, per_class=2)
    root = write_folder(tmp_path / "folder", images, labels)
    Image.fromarray(np.zeros((20, 16, 3), dtype=np.uint8)).save(root / "class_01" / "big.png")
    with pytest.raises(ValueError, match=r"different sizes: .*12x12 and .*big\.png is 20x16.*image_size"):
        as_image_source(root)
    resized = as_image_source(root, image_size=(10, 8))
    assert resized.image_shape == (3, 10, 8) and resized[4].shape == (3, 10, 8)


def test_mixed_grey_and_rgb_folder_reads_rgb(tmp_path):
    root = tmp_path / "mixed"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8)).save(root / "a" / "grey.png")
    Image.fromarray(np.full((8, 8, 3), 9, dtype=np.uint8)).save(root / "b" / "rgb.png")
    source = as_image_source(root)
    assert source.image_shape == (3, 8, 8)
    assert torch.allclose(source[0], torch.full((3, 8, 8), 200 / 255))
    assert as_image_source(root, channels=1).image_shape == (1, 8, 8)


def test_corrupt_file_is_named_or_skipped_with_a_warning(tmp_path):
    images, labels = coloured_shapes(n_classes=2, per_class=2)
    root = write_folder(tmp_path / "folder", images, labels)
    (root / "class_00" / "broken.png").write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match=r"broken\.png.*skip_invalid=True"):
        as_image_source(root)
    with pytest.warns(UserWarning, match=r"skipped 1 file.*broken\.png"):
        source = as_image_source(root, skip_invalid=True)
    assert len(source) == 4


def test_empty_class_folder_is_refused(tmp_path):
    images, labels = coloured_shapes(n_classes=2, per_class=2)
    root = write_folder(tmp_path / "folder", images, labels)
    (root / "class_09").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*class_09 is empty"):
        ImageFolderDataset(root)


def test_dataset_returning_no_image_and_normalised_values_are_refused():
    class Strings(torch.utils.data.Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return "cat.jpg", 0

    with pytest.raises(ValueError, match=r"X\[0\] returned a str, not an image"):
        as_image_source(Strings())

    class Normalised(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return (torch.rand(3, 8, 8) - 0.5) / 0.25, 0

    with pytest.raises(ValueError, match=r"transforms\.Normalize"):
        as_image_source(Normalised())
    with pytest.raises(ValueError, match=r"mean and standard deviation"):
        as_image_source((np.random.default_rng(0).random((4, 8, 8)) - 0.5) * 4)


def test_a_list_must_hold_pil_images():
    with pytest.raises(ValueError, match="list of PIL images"):
        as_image_source([np.zeros((8, 8))])
    pil = [Image.fromarray(np.full((8, 8, 3), i, dtype=np.uint8)) for i in range(3)]
    source = as_image_source(pil)
    assert source.dtype == torch.uint8 and source.image_shape == (3, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert as_image_source(pil + [Image.new("RGB", (9, 9))], image_size=8).image_shape == (3, 8, 8)


def test_task_dataset_keeps_two_chunks_and_gives_the_same_task_in_any_order():
    from metaaug.data import TaskDataset

    images, labels = coloured_shapes()
    sampler = LabeledTaskSampler(images, labels)
    forward = TaskDataset(sampler, 100, n_ways=3, k_shot=1, k_query=1, random_state=2, chunk_size=8)
    tasks = [forward[i] for i in range(100)]
    assert len(forward._chunks) == 2
    backward = TaskDataset(sampler, 100, n_ways=3, k_shot=1, k_query=1, random_state=2, chunk_size=8)
    for i in (99, 41, 0, 57):
        assert torch.equal(backward[i].support_x, tasks[i].support_x)
    with pytest.raises(IndexError):
        backward[100]
