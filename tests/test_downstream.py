"""Downstream classifier accuracy with and without an augmenter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metaaug.generators.mixup import PixelMixup
from metaaug.metrics.downstream import downstream_accuracy, labeled_split, mean_ci95


@pytest.fixture(scope="module")
def digit_split(digits):
    X, y = digits
    return labeled_split(X, y, 10, random_state=0)


class RecordingAugmenter:
    """Returns the mean of its seeds and records every seed batch it was given."""

    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def generate(self, seeds, n, random_state=None):
        self.calls.append(seeds.clone())
        return seeds.mean(0, keepdim=True).expand(n, *seeds.shape[1:]).clone()


def test_labeled_split_counts_and_disjoint(digits):
    X, y = digits
    X_train, y_train, X_test, y_test = labeled_split(X, y, 3, random_state=1)
    assert torch.bincount(y_train).tolist() == [3] * 10
    assert len(X_train) + len(X_test) == len(X)
    # no image lands in both parts (digits has no exact duplicates across the split)
    flat_train = X_train.flatten(1)
    flat_test = X_test.flatten(1)
    assert not bool((torch.cdist(flat_train, flat_test) == 0).all(1).any())
    again = labeled_split(X, y, 3, random_state=1)
    assert torch.equal(again[0], X_train)


def test_labeled_split_rejects_too_few_images(digits):
    X, y = digits
    with pytest.raises(ValueError, match="leaves none for testing"):
        labeled_split(X[:30], y[:30], 5)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_mean_ci95_formula(values):
    mean, ci = mean_ci95(values)
    assert mean == pytest.approx(np.mean(values))
    assert ci == pytest.approx(1.96 * np.std(values, ddof=1) / math.sqrt(len(values)), abs=1e-12)


def test_no_augmentation_learns_and_is_deterministic(digit_split):
    X_train, y_train, X_test, y_test = digit_split
    kwargs = dict(n_seeds=2, epochs=25, batch_size=32, hidden=16, random_state=3, device="cpu")
    result = downstream_accuracy(None, X_train, y_train, X_test, y_test, **kwargs)
    assert set(result) >= {"mean", "ci95", "std", "per_seed", "n_seeds", "seconds"}
    assert len(result["per_seed"]) == 2
    assert result["mean"] > 0.5  # 10 classes: chance is 0.1
    assert downstream_accuracy(None, X_train, y_train, X_test, y_test, **kwargs)["per_seed"] == result["per_seed"]


def test_augmenter_gets_same_class_seeds_and_labels_are_kept(digit_split):
    X_train, y_train, X_test, y_test = digit_split
    augmenter = RecordingAugmenter()
    downstream_accuracy(
        augmenter,
        X_train,
        y_train,
        X_test,
        y_test,
        n_seeds=1,
        epochs=2,
        batch_size=32,
        hidden=8,
        refresh_every=1,
        random_state=0,
        device="cpu",
    )
    # one call per class per refresh (2 epochs -> 2 pools)
    assert len(augmenter.calls) == 2 * 10
    for seeds in augmenter.calls:
        matches = (torch.cdist(seeds.flatten(1), X_train.flatten(1)) == 0).float().argmax(1)
        assert len(torch.unique(y_train[matches])) == 1


def test_pixel_mixup_runs(digit_split):
    X_train, y_train, X_test, y_test = digit_split
    result = downstream_accuracy(
        PixelMixup(),
        X_train,
        y_train,
        X_test,
        y_test,
        n_seeds=1,
        epochs=2,
        batch_size=32,
        hidden=8,
        random_state=0,
        device="cpu",
    )
    assert 0.0 <= result["mean"] <= 1.0 and result["ci95"] == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ratio": 1.0}, "ratio"),
        ({"n_seeds": 0}, "n_seeds"),
        ({"epochs": 0}, "epochs"),
        ({"refresh_every": -1}, "refresh_every"),
    ],
)
def test_bad_arguments(digit_split, kwargs, message):
    X_train, y_train, X_test, y_test = digit_split
    with pytest.raises(ValueError, match=message):
        downstream_accuracy(None, X_train, y_train, X_test, y_test, **kwargs)


def test_bad_data(digit_split):
    X_train, y_train, X_test, y_test = digit_split
    with pytest.raises(ValueError, match="y_train lacks"):
        downstream_accuracy(None, X_train, y_train, X_test, y_test + 100, n_seeds=1)
    with pytest.raises(ValueError, match="X_test images"):
        downstream_accuracy(None, X_train, y_train, torch.rand(5, 1, 9, 9), y_test[:5], n_seeds=1)
    with pytest.raises(TypeError, match="generate"):
        downstream_accuracy(object(), X_train, y_train, X_test, y_test, n_seeds=1)
