"""Few-shot classifiers: fitting, prediction, evaluation, persistence, errors."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from metaaug.data import LabeledTaskSampler
from metaaug.fewshot import (
    MAMLClassifier,
    PixelNearestNeighbor,
    ProtoNetClassifier,
    ScratchClassifier,
    mean_ci95,
    untrained_protonet,
)


@pytest.fixture(scope="module")
def omniglot_samplers(dev_split):
    (Xtr, ytr), (Xte, yte) = dev_split
    return LabeledTaskSampler(Xtr, ytr), LabeledTaskSampler(Xte, yte)


@pytest.fixture(scope="module")
def fitted_protonet(omniglot_samplers):
    train, _ = omniglot_samplers
    return ProtoNetClassifier(n_iterations=30, k_query=5, hidden=32, random_state=0, verbose=False).fit(train)


def test_mean_ci95_formula():
    # sample std (ddof=1) of [0, 1, 0, 1] is sqrt(1/3)
    mean, ci = mean_ci95([0.0, 1.0, 0.0, 1.0])
    assert mean == 0.5 and ci == pytest.approx(1.96 * (1 / 3) ** 0.5 / 2)
    assert mean_ci95([0.7]) == (0.7, 0.0)
    with pytest.raises(ValueError):
        mean_ci95([])


def test_one_mean_ci95():
    from metaaug import metrics
    from metaaug.metrics import downstream

    assert downstream.mean_ci95 is mean_ci95 and metrics.mean_ci95 is mean_ci95


def test_short_protonet_fit_beats_pixel_nn_and_untrained(fitted_protonet, omniglot_samplers):
    _, test = omniglot_samplers
    tasks = test.sample_tasks(60, 5, 1, 15, random_state=1)
    proto, _ = fitted_protonet.evaluate(tasks)
    pixel, _ = PixelNearestNeighbor().fit().evaluate(tasks)
    untrained, _ = untrained_protonet((1, 28, 28), random_state=0).evaluate(tasks)
    assert proto > pixel + 0.05
    assert proto > untrained + 0.05


def test_batched_evaluate_equals_per_task_predict(fitted_protonet, omniglot_samplers):
    tasks = omniglot_samplers[1].sample_tasks(6, 5, 1, 5, random_state=2)
    per_task = np.mean(
        [
            (fitted_protonet.predict(t.support_x, t.support_y, t.query_x) == t.query_y).float().mean().item()
            for t in tasks
        ]
    )
    assert fitted_protonet.evaluate(tasks)[0] == pytest.approx(per_task)


def test_save_load_gives_identical_predictions(fitted_protonet, omniglot_samplers, tmp_path):
    task = omniglot_samplers[1].sample_tasks(1, 5, 1, 15, random_state=3)[0]
    path = fitted_protonet.save(tmp_path / "proto.pt")
    loaded = ProtoNetClassifier.load(path)
    assert torch.equal(
        loaded.predict(task.support_x, task.support_y, task.query_x),
        fitted_protonet.predict(task.support_x, task.support_y, task.query_x),
    )
    assert torch.equal(loaded.embed(task.query_x), fitted_protonet.embed(task.query_x))
    assert loaded.get_params() == fitted_protonet.get_params()
    torch.load(path, weights_only=True)  # no arbitrary pickles inside


def test_clone_params_and_determinism(digits):
    X, y = digits
    clf = ProtoNetClassifier(n_iterations=5, meta_batch_size=2, random_state=3, verbose=False)
    twin = clone(clf)
    assert twin.get_params() == clf.get_params()
    clf.fit(X, y)
    twin.fit(X, y)
    for a, b in zip(clf.model_.parameters(), twin.model_.parameters()):
        assert torch.equal(a, b)
    assert clf.set_params(lr=0.01).lr == 0.01


def test_not_fitted_and_bad_input(digits):
    X, y = digits
    with pytest.raises(NotFittedError):
        ProtoNetClassifier().predict(X[:5], torch.arange(5), X[5:10])
    with pytest.raises(NotFittedError):
        MAMLClassifier().evaluate([])
    with pytest.raises(ValueError, match="task sampler"):
        ProtoNetClassifier(verbose=False).fit(X)
    with pytest.raises(ValueError, match="n_ways=20 but the data has 10 classes"):
        ProtoNetClassifier(n_ways=20, n_iterations=1, verbose=False).fit(X, y)
    clf = ProtoNetClassifier(n_iterations=1, verbose=False).fit(X, y)
    with pytest.raises(ValueError, match="fitted on"):
        clf.predict(torch.rand(5, 1, 28, 28), torch.arange(5), torch.rand(3, 1, 28, 28))
    with pytest.raises(ValueError, match="support_y"):
        clf.predict(X[:3], torch.tensor([0, 2, 2]), X[3:6])


def test_maml_learns_and_round_trips(digits, tmp_path):
    X, y = digits
    train = LabeledTaskSampler(X[y < 5], y[y < 5])
    tasks = train.sample_tasks(20, 5, 1, 5, random_state=4)
    clf = MAMLClassifier(
        n_iterations=10, adaptation_steps=2, eval_adaptation_steps=10, random_state=0, verbose=False
    ).fit(train)
    assert clf.loss_curve_[-5:].mean() < clf.loss_curve_[:5].mean()
    mean, _ = clf.evaluate(tasks)
    assert mean > 0.3  # chance is 0.2
    loaded = MAMLClassifier.load(clf.save(tmp_path / "maml.pt"))
    t = tasks[0]
    assert torch.equal(
        loaded.predict(t.support_x, t.support_y, t.query_x), clf.predict(t.support_x, t.support_y, t.query_x)
    )


def test_max_time_stops_training(digits):
    X, y = digits
    clf = ProtoNetClassifier(n_iterations=10**6, max_time=0.5, verbose=False).fit(X, y)
    assert 1 <= clf.n_iter_ < 10**6


def test_scratch_and_pixel_baselines(digits):
    X, y = digits
    tasks = LabeledTaskSampler(X, y).sample_tasks(10, 5, 1, 5, random_state=5)
    pixel, _ = PixelNearestNeighbor().fit().evaluate(tasks)
    scratch, _ = ScratchClassifier(steps=10, random_state=0).fit().evaluate(tasks)
    assert pixel > 0.5 and scratch > 0.25
    t = tasks[0]
    again = ScratchClassifier(steps=10, random_state=0).fit().predict(t.support_x, t.support_y, t.query_x)
    twin = ScratchClassifier(steps=10, random_state=0).fit()
    assert torch.equal(again, twin.predict(t.support_x, t.support_y, t.query_x))


def test_warm_start_continues_training(digits):
    X, y = digits
    clf = ProtoNetClassifier(n_iterations=3, meta_batch_size=2, random_state=0, verbose=False).fit(X, y)
    before = [p.clone() for p in clf.model_.parameters()]
    restarted = clone(clf).fit(X, y)  # warm_start=False: a refit starts over, identically
    assert all(torch.equal(a, b) for a, b in zip(before, restarted.model_.parameters()))
    clf.set_params(warm_start=True, n_iterations=2).fit(X, y)
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 5
    assert any(not torch.equal(a, b) for a, b in zip(before, clf.model_.parameters()))
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(torch.rand(100, 1, 6, 6), torch.arange(100) % 5)


# ------------------------------------------------------------------ paper presets
def test_maml_paper_presets_hold_lasiums_tables():
    rgb = MAMLClassifier.paper_preset("miniimagenet")
    assert (rgb.inner_lr, rgb.k_query, rgb.meta_batch_size, rgb.lr, rgb.hidden) == (0.05, 5, 4, 1e-3, 32)
    assert (rgb.adaptation_steps, rgb.eval_adaptation_steps, rgb.n_ways, rgb.k_shot) == (5, 50, 5, 1)
    assert MAMLClassifier.paper_preset("mini-ImageNet").get_params() == rgb.get_params()
    assert MAMLClassifier.paper_preset("celeba").inner_lr == 0.05
    omniglot = MAMLClassifier.paper_preset("omniglot", n_iterations=7)
    assert (omniglot.inner_lr, omniglot.k_query, omniglot.hidden, omniglot.n_iterations) == (0.4, 5, 64, 7)
    # the constructor's own defaults are untouched
    assert (MAMLClassifier().k_query, MAMLClassifier().inner_lr) == (5, 0.4)  # LASIUM's K_val in meta-training
    with pytest.raises(ValueError, match="dataset must be one of"):
        MAMLClassifier.paper_preset("cub")


def test_protonet_paper_presets_hold_lasiums_tables():
    rgb = ProtoNetClassifier.paper_preset("miniimagenet", verbose=False)
    assert (rgb.k_query, rgb.meta_batch_size, rgb.lr, rgb.hidden, rgb.verbose) == (5, 4, 1e-3, 32, False)
    assert ProtoNetClassifier.paper_preset("omniglot").hidden == 64
    assert ProtoNetClassifier().k_query == 5
    with pytest.raises(ValueError, match="dataset must be one of"):
        ProtoNetClassifier.paper_preset("imagenet")


def test_protonet_pool_evaluation_scores_the_sampled_tasks(digits):
    X, y = digits
    clf = ProtoNetClassifier(n_ways=3, k_query=2, n_iterations=5, hidden=8, verbose=False, random_state=0).fit(X, y)
    tasks = LabeledTaskSampler(X, y).iter_tasks(60, n_ways=10, k_shot=2, k_query=4, random_state=3)
    direct = clf.evaluate(tasks)
    pooled = clf.evaluate_pool(X, y, n_tasks=60, n_ways=10, k_shot=2, k_query=4, random_state=3)
    assert pooled == pytest.approx(direct, abs=1e-6)
    with pytest.raises(ValueError, match="X"):
        clf.evaluate_pool(torch.rand(40, 1, 12, 12), torch.arange(40) % 5, n_tasks=2)
