"""AugmentedDataset, PixelMixup and the learn2learn bridge."""

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from metaaug import PixelMixup
from metaaug.data import AugmentedDataset, L2LTaskSource, LabeledTaskSampler, to_l2l_metadataset


class _LabelPainter:
    """Stand-in augmenter: returns images filled with the mean of its seeds (records calls)."""

    def __init__(self):
        self.calls = []

    def generate(self, seeds, n, random_state=None):
        self.calls.append((len(seeds), n))
        return seeds.mean(0, keepdim=True).expand(n, -1, -1, -1).clone()


def _labeled(n_per_class=6, classes=4):
    y = torch.arange(classes).repeat_interleave(n_per_class)
    X = (y.float() / classes).view(-1, 1, 1, 1).expand(-1, 1, 5, 5).contiguous()
    return X, y


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.75])
def test_augmented_dataset_keeps_labels_and_ratio(ratio):
    X, y = _labeled()
    painter = _LabelPainter()
    ds = AugmentedDataset(TensorDataset(X, y), painter, ratio=ratio, random_state=0)
    generated = ds.is_generated()
    assert abs(generated.mean() - ratio) < 0.05
    for i in range(len(ds)):
        image, label = ds[i]
        assert torch.allclose(image, torch.full_like(image, label / 4)), "label not preserved"
    if ratio > 0:
        assert len(painter.calls) == 4, "one batched generate call per class"


def test_augmented_dataset_in_a_dataloader_with_pixel_mixup(digits):
    X, y = digits
    ds = AugmentedDataset((X[:100], y[:100]), PixelMixup(), ratio=0.5, random_state=0)
    batch_x, batch_y = next(iter(DataLoader(ds, batch_size=32, shuffle=True)))
    assert batch_x.shape == (32, 1, 8, 8) and batch_y.dtype == torch.int64
    gen_x, gen_y = ds.generated
    for label in torch.unique(gen_y):
        real = X[:100][y[:100] == label].flatten(1)
        # a mix of two real images of the class stays in their pixel hull
        assert float(gen_x[gen_y == label].flatten(1).max()) <= float(real.max()) + 1e-6


def test_augmented_dataset_bad_arguments():
    X, y = _labeled()
    with pytest.raises(ValueError, match="ratio"):
        AugmentedDataset((X, y), PixelMixup(), ratio=1.0)
    with pytest.raises(TypeError, match="generate"):
        AugmentedDataset((X, y), object())


def test_pixel_mixup_is_deterministic_and_checks_input():
    seeds = torch.rand(3, 1, 6, 6)
    a = PixelMixup().generate(seeds, 10, random_state=1)
    assert torch.equal(a, PixelMixup().generate(seeds, 10, random_state=1))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        PixelMixup().generate(seeds[:1], 4)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        PixelMixup().generate(seeds, 0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        PixelMixup(alpha=1.5).generate(seeds, 2)
    half = PixelMixup(alpha=0.5).generate(seeds[:2], 1, random_state=0)
    assert torch.allclose(half[0], seeds[:2].mean(0))


def test_learn2learn_bridge_layout(digits):
    X, y = digits
    source = L2LTaskSource(LabeledTaskSampler(X, y), n_ways=5, k_shot=2, k_query=3, buffer=4, random_state=0)
    data, labels = source.sample()
    assert data.shape == (25, 1, 8, 8)
    assert labels[:10].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]


def test_l2l_metadataset_split_is_disjoint_by_construction(dev_split):
    """Unlike learn2learn's Omniglot benchmark, tasks built on our train split never see test classes."""
    from metaaug._compat import import_learn2learn

    l2l = import_learn2learn()
    (Xtr, ytr), (Xte, _) = dev_split
    meta = to_l2l_metadataset(Xtr, ytr)
    assert len(meta.labels) == 185
    taskset = l2l.data.TaskDataset(
        meta,
        task_transforms=[
            l2l.data.transforms.NWays(meta, 5),
            l2l.data.transforms.KShots(meta, 2),
            l2l.data.transforms.LoadData(meta),
            l2l.data.transforms.RemapLabels(meta),
        ],
        num_tasks=20,
    )
    test_keys = {x.numpy().tobytes() for x in Xte}
    for i in range(20):
        images, labels = taskset[i]
        assert images.shape == (10, 1, 28, 28)
        assert not any(img.numpy().tobytes() in test_keys for img in images)
