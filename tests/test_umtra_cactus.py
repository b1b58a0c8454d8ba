"""UMTRA and CACTUs task samplers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from metaaug.augment import AffineRanges
from metaaug.samplers.cactus import CACTUs
from metaaug.samplers.umtra import UMTRA

HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def X_digits():
    from metaaug.data import load_digits

    X, _ = load_digits()
    return X[:600]


@pytest.fixture(scope="module")
def umtra(X_digits):
    return UMTRA(device="cpu").fit(X_digits)


@pytest.fixture(scope="module")
def cactus(X_digits):
    return CACTUs(n_clusters=20, n_partitions=4, n_components=16, random_state=0).fit(X_digits)


def index_of(images: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
    """Index in ``pool`` of each image (exact match), -1 where none."""
    distances = torch.cdist(images.reshape(len(images), -1), pool.reshape(len(pool), -1))
    best = distances.min(1)
    return torch.where(best.values == 0, best.indices, torch.full_like(best.indices, -1))


# --------------------------------------------------------------------- UMTRA
@HYP
@given(n_ways=st.integers(1, 8), k_shot=st.integers(1, 3), k_query=st.integers(0, 4), seed=st.integers(0, 999))
def test_umtra_support_is_original_and_queries_augment_it(umtra, X_digits, n_ways, k_shot, k_query, seed):
    task = umtra.sample_tasks(1, n_ways, k_shot, k_query, random_state=seed)[0]
    assert task.support_x.shape == (n_ways * k_shot, 1, 8, 8)
    assert task.query_x.shape == (n_ways * k_query, 1, 8, 8)
    assert task.support_y.tolist() == [c for c in range(n_ways) for _ in range(k_shot)]
    originals = task.support_x.view(n_ways, k_shot, 1, 8, 8)[:, 0]
    index = index_of(originals, X_digits)
    assert bool((index >= 0).all())  # the first support image is a real image
    assert len(set(index.tolist())) == n_ways  # distinct images are distinct classes


def test_umtra_queries_are_augmented(umtra):
    task = umtra.sample_tasks(1, 5, 1, 3, random_state=0)[0]
    originals = task.support_x.repeat_interleave(3, dim=0)
    per_image_change = (task.query_x - originals).abs().flatten(1).sum(1)
    assert bool((per_image_change > 0).all())


def test_umtra_deterministic_and_save_load(tmp_path, umtra):
    a = umtra.sample_tasks(3, random_state=5)
    loaded = UMTRA.load(umtra.save(tmp_path / "umtra.pt"))
    b = loaded.sample_tasks(3, random_state=5)
    c = umtra.sample_tasks(3, random_state=6)
    assert all(torch.equal(x.query_x, y.query_x) for x, y in zip(a, b))
    assert not torch.equal(a[0].query_x, c[0].query_x)


def test_umtra_custom_augmentations(X_digits):
    shift_only = AffineRanges(rotation=(0, 0), scale=(1, 1), shear=(0, 0), translation_px=(-6, 6))
    u = UMTRA(augmentation=shift_only, pixel_dropout=0.3, device="cpu").fit(X_digits)
    task = u.sample_tasks(2, 3, 1, 4, random_state=0)[0]
    assert task.query_x.shape == (12, 1, 8, 8)
    flip = UMTRA(augmentation=lambda image: image.flip(-1), device="cpu").fit(X_digits)
    task = flip.sample_tasks(1, 2, 1, 1, random_state=0)[0]
    torch.testing.assert_close(task.query_x, task.support_x.flip(-1))
    rgb = UMTRA(device="cpu").fit(np.random.default_rng(0).random((10, 3, 12, 12)).astype(np.float32))
    assert rgb.sample_tasks(1, 2, 1, 2)[0].query_x.shape == (4, 3, 12, 12)


def test_umtra_bad_input(X_digits):
    with pytest.raises(NotFittedError):
        UMTRA().sample_tasks(1)
    with pytest.raises(ValueError, match="n_ways=11"):
        UMTRA().fit(X_digits[:10]).sample_tasks(1, n_ways=11)
    with pytest.raises(ValueError, match="augmentation must be None or one of 'characters', 'natural'"):
        UMTRA(augmentation="cartoon").fit(X_digits)
    with pytest.raises(ValueError, match="augmentation"):
        UMTRA(augmentation=3).fit(X_digits)
    with pytest.raises(ValueError, match="pixel_dropout"):
        UMTRA(pixel_dropout=1.0).fit(X_digits)
    with pytest.raises(ValueError, match="pixel_dropout"):
        UMTRA(pixel_dropout=-0.1).fit(X_digits)
    with pytest.raises(ValueError, match="random_state"):
        UMTRA(random_state=-1).fit(X_digits)
    with pytest.raises(ValueError, match="keep the image shape"):
        UMTRA(augmentation=lambda image: image[:, :4]).fit(X_digits).sample_tasks(1, 2, 1, 1)
    assert clone(UMTRA(pixel_dropout=0.1)).pixel_dropout == 0.1


# -------------------------------------------------------------------- CACTUs
@HYP
@given(n_ways=st.integers(2, 5), k_shot=st.integers(1, 2), k_query=st.integers(0, 3), seed=st.integers(0, 999))
def test_cactus_classes_are_distinct_clusters_of_one_partition(cactus, X_digits, n_ways, k_shot, k_query, seed):
    task = cactus.sample_tasks(1, n_ways, k_shot, k_query, random_state=seed)[0]
    per_class = k_shot + k_query
    images = torch.cat([task.support_x.view(n_ways, k_shot, 64), task.query_x.view(n_ways, k_query, 64)], 1)
    index = index_of(images.reshape(n_ways * per_class, 1, 8, 8), X_digits).view(n_ways, per_class)
    assert bool((index >= 0).all())
    # some partition assigns every class to a single cluster and different classes to different clusters
    found = False
    for labels in cactus.partitions_:
        clusters = labels[index]
        if bool((clusters == clusters[:, :1]).all()) and len(set(clusters[:, 0].tolist())) == n_ways:
            found = True
    assert found
    assert len(set(index.flatten().tolist())) == n_ways * per_class  # no image used twice


def test_cactus_partitions_differ_and_cover_all_images(cactus, X_digits):
    assert cactus.partitions_.shape == (4, len(X_digits))
    assert int(cactus.cluster_sizes_.sum(1).unique()) == len(X_digits)
    assert not torch.equal(cactus.partitions_[0], cactus.partitions_[1])


def test_cactus_clusters_follow_labels(digits):
    from sklearn.metrics import adjusted_rand_score

    X, y = digits
    cactus = CACTUs(n_clusters=10, n_partitions=1, scale_dims=False, random_state=0).fit(X)
    assert adjusted_rand_score(y.numpy(), cactus.partitions_[0].numpy()) > 0.3


def test_cactus_embeddings(X_digits):
    callable_embedding = CACTUs(
        embedding=lambda images: images.flatten(1)[:, ::2], n_clusters=10, n_partitions=2, random_state=0
    ).fit(X_digits)
    assert callable_embedding.sample_tasks(2, 3, 1, 2)[0].query_x.shape == (6, 1, 8, 8)

    class Encoder:
        def encode(self, images):
            return images.mean(dim=(2, 3))

    CACTUs(embedding=Encoder(), n_clusters=5, n_partitions=2, random_state=0).fit(X_digits)


def test_cactus_ae_embedding(X_digits):
    autoencoders = pytest.importorskip("metaaug.generators.autoencoders")
    cactus = CACTUs(embedding="ae", n_clusters=5, n_partitions=2, random_state=0).fit(X_digits[:64])
    assert cactus.partitions_.shape == (2, 64)
    unfitted = autoencoders.AE(epochs=1, verbose=False, device="cpu")
    cactus = CACTUs(embedding=unfitted, n_clusters=10, n_partitions=2, random_state=0).fit(X_digits[:200])
    assert cactus.partitions_.shape == (2, 200) and not hasattr(unfitted, "encoder_")


def test_cactus_deterministic_and_save_load(tmp_path, cactus, X_digits):
    again = CACTUs(n_clusters=20, n_partitions=4, n_components=16, random_state=0).fit(X_digits)
    assert torch.equal(again.partitions_, cactus.partitions_)
    loaded = CACTUs.load(cactus.save(tmp_path / "cactus.pt"))
    a, b = cactus.sample_tasks(3, random_state=2, k_query=2), loaded.sample_tasks(3, random_state=2, k_query=2)
    assert all(torch.equal(x.query_x, y.query_x) for x, y in zip(a, b))


def test_cactus_bad_input(cactus, X_digits):
    with pytest.raises(NotFittedError):
        CACTUs().sample_tasks(1)
    with pytest.raises(ValueError, match="no partition has n_ways=5 clusters with k_shot \\+ k_query = 500"):
        cactus.sample_tasks(1, 5, 1, 499)
    with pytest.raises(ValueError, match="n_clusters"):
        CACTUs(n_clusters=1).fit(X_digits)
    with pytest.raises(ValueError, match="embedding must be"):
        CACTUs(embedding="sift").fit(X_digits)
    with pytest.raises(ValueError, match=r"n_clusters must be an int in \[2, 10\] for 10 images"):
        CACTUs(n_clusters=11).fit(X_digits[:10])
    with pytest.raises(ValueError, match="n_partitions"):
        CACTUs(n_partitions=0).fit(X_digits)
    with pytest.raises(ValueError, match="n_components"):
        CACTUs(n_components=0).fit(X_digits)
    with pytest.raises(ValueError, match="scale_dims"):
        CACTUs(scale_dims="yes").fit(X_digits)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        CACTUs(embedding=lambda images: images[:5].flatten(1)).fit(X_digits)
