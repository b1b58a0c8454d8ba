"""PsCo: Sinkhorn pseudo-tasks, momentum and queue invariants, the estimator on digits and Omniglot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from metaaug import CACTUs, PsCo
from metaaug.augment.crops import colour_distortion, random_resized_crop
from metaaug.data import LabeledTaskSampler
from metaaug.fewshot.pseudo_tasks import moco_loss, pseudo_supcon_loss, pseudo_support, sinkhorn
from metaaug.nets.psco import PsCoNetwork

SMALL = dict(hidden=16, projection_dim=16, mlp_hidden=32, queue_size=128, batch_size=64, verbose=False, device="cpu")


@pytest.fixture(scope="module")
def fitted_digits(digits):
    X, _ = digits
    return PsCo(epochs=4, random_state=0, **SMALL).fit(X)


@settings(max_examples=15, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_sinkhorn_plan_is_doubly_stochastic(rows, cols, seed):
    gen = torch.Generator().manual_seed(seed)
    scores = (
        F.normalize(torch.randn(rows, 8, generator=gen), dim=1)
        @ F.normalize(torch.randn(cols, 8, generator=gen), dim=1).T
    )
    plan = sinkhorn(scores, epsilon=0.5, n_iterations=300)
    assert bool((plan >= 0).all())
    torch.testing.assert_close(plan.sum(1), torch.ones(rows), atol=1e-5, rtol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((cols,), rows / cols), atol=1e-3, rtol=1e-3)


def test_sinkhorn_spreads_a_batch_over_the_queue_where_nearest_does_not():
    # every batch key is closest to queue entry 0; the transport plan spreads the batch over the queue
    queue = F.normalize(torch.eye(4) + 0.5 * torch.tensor([[1.0, 0, 0, 0]]), dim=1)
    keys = F.normalize(
        torch.tensor([[1.0, 0.2, 0.1, 0.0], [1.0, 0.0, 0.2, 0.1], [1.0, 0.1, 0.0, 0.2], [1.0, 0.3, 0.3, 0.3]]), dim=1
    )
    nearest = pseudo_support(keys, queue, 1, "nearest")
    matched = pseudo_support(keys, queue, 1, "sinkhorn", epsilon=0.05, n_iterations=50)
    assert set(nearest.flatten().tolist()) == {0}
    assert len(set(matched.flatten().tolist())) >= 3


def test_pseudo_supcon_with_one_shot_is_cross_entropy_over_the_ways():
    gen = torch.Generator().manual_seed(0)
    p = F.normalize(torch.randn(6, 5, generator=gen), dim=1)
    shots = F.normalize(torch.randn(6, 1, 5, generator=gen), dim=2)
    expected = F.cross_entropy(p @ shots[:, 0].T / 0.5, torch.arange(6))
    torch.testing.assert_close(pseudo_supcon_loss(p, shots, 0.5), expected)
    queue = F.normalize(torch.randn(10, 5, generator=gen), dim=1)
    keys = shots[:, 0]
    logits = torch.cat([(p * keys).sum(1, keepdim=True), p @ queue.T], 1) / 0.2
    torch.testing.assert_close(
        moco_loss(p, keys, queue, 0.2), F.cross_entropy(logits, torch.zeros(6, dtype=torch.long))
    )


def test_momentum_parameters_are_an_exponential_average_and_buffers_follow():
    torch.manual_seed(0)
    net = PsCoNetwork("conv4", (1, 8, 8), hidden=4, projection_dim=8, mlp_hidden=8, queue_size=16)
    with torch.no_grad():
        for p in net.backbone.parameters():
            p.add_(torch.randn_like(p))
        net.backbone.blocks[0][1].running_mean.fill_(3.0)
    old = [p.clone() for p in net.momentum_backbone.parameters()]
    net.update_momentum(0.9)
    for before, online, after in zip(old, net.backbone.parameters(), net.momentum_backbone.parameters()):
        torch.testing.assert_close(after, 0.9 * before + 0.1 * online)
        assert not after.requires_grad
    assert float(net.momentum_backbone.blocks[0][1].running_mean[0]) == 3.0
    net.update_momentum(0.0)
    for online, after in zip(net.projector.parameters(), net.momentum_projector.parameters()):
        torch.testing.assert_close(after, online)


def test_queue_keeps_its_size_and_the_newest_keys():
    net = PsCoNetwork("conv4", (1, 8, 8), hidden=4, projection_dim=3, mlp_hidden=8, queue_size=10)
    written = []
    for step in range(7):
        keys = torch.full((4, 3), float(step))
        net.enqueue(keys)
        written.extend([float(step)] * 4)
        assert net.queue.shape == (10, 3)
    assert int(net.queue_position) == 28 % 10
    assert sorted(net.queue[:, 0].tolist()) == sorted(written[-10:])
    net.enqueue(torch.arange(45.0).view(15, 3))  # more keys than the queue holds: the newest 10 stay
    assert sorted(net.queue[:, 0].tolist()) == list(np.arange(15, 45, 3.0))


def test_crops_keep_shape_range_and_identity():
    images = torch.rand(5, 3, 12, 12)
    out = random_resized_crop(images, generator=torch.Generator().manual_seed(0))
    assert out.shape == images.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    same = random_resized_crop(images, scale=(1, 1), ratio=(1, 1), flip=False)
    torch.testing.assert_close(same, images, atol=1e-5, rtol=0)
    grey = colour_distortion(images, p_jitter=0.0, p_grey=1.0)
    torch.testing.assert_close(grey[:, 0], grey[:, 2])
    with pytest.raises(ValueError, match="scale"):
        random_resized_crop(images, scale=(0.5, 0.2))


def test_fit_shapes_determinism_and_loss(fitted_digits, digits):
    X, _ = digits
    model = fitted_digits
    assert model.image_shape_ == (1, 8, 8) and model.backbone_ == "conv4" and model.pseudo_shots_ == 1
    assert model.n_iter_ == 4 * (len(X) // 64) and len(model.loss_curve_) == model.n_iter_
    assert model.embed(X[:7]).shape == (7, model.network_.backbone.out_features)
    assert model.network_.queue.shape == (128, 16)
    first, again = (PsCo(epochs=1, random_state=3, **SMALL).fit(X[:640]) for _ in range(2))
    np.testing.assert_array_equal(again.loss_curve_, first.loss_curve_)
    for a, b in zip(again.network_.state_dict().values(), first.network_.state_dict().values()):
        assert torch.equal(a, b)


def test_short_fit_beats_an_untrained_encoder(fitted_digits, digits):
    X, y = digits
    untrained = PsCo(epochs=1, max_time=1e-6, random_state=0, **SMALL).fit(X)
    assert untrained.n_iter_ == 1
    trained, _ = fitted_digits.evaluate_pool(X, y, n_tasks=200, random_state=1)
    baseline, _ = untrained.evaluate_pool(X, y, n_tasks=200, random_state=1)
    assert trained > baseline + 0.05


def test_pool_evaluation_equals_task_evaluation(fitted_digits, digits):
    X, y = digits
    tasks = LabeledTaskSampler(X, y).sample_tasks(40, n_ways=4, k_shot=2, k_query=3, random_state=5)
    direct = fitted_digits.evaluate(tasks)
    pooled = fitted_digits.evaluate_pool(X, y, n_tasks=40, n_ways=4, k_shot=2, k_query=3, random_state=5)
    assert direct[0] == pytest.approx(pooled[0], abs=1e-6)
    one = tasks[0]
    predicted = fitted_digits.predict(one.support_x, one.support_y, one.query_x)
    single = fitted_digits.evaluate(one)[0]
    assert float((predicted == one.query_y).float().mean()) == pytest.approx(single)


def test_task_positions_are_the_sampled_tasks(digits):
    X, y = digits
    sampler = LabeledTaskSampler(X, y)
    tasks = sampler.sample_tasks(3, n_ways=5, k_shot=2, k_query=1, random_state=9)
    (block,) = list(sampler.task_positions(3, n_ways=5, k_shot=2, k_query=1, random_state=9))
    assert block.shape == (3, 5, 3)
    torch.testing.assert_close(tasks[1].support_x, X[block[1, :, :2].reshape(-1)])
    torch.testing.assert_close(tasks[1].query_x, X[block[1, :, 2:].reshape(-1)])


def test_save_load_identity_and_finetuned_prediction(fitted_digits, digits, tmp_path):
    X, y = digits
    path = fitted_digits.save(tmp_path / "psco.pt")
    loaded = PsCo.load(path)
    for a, b in zip(loaded.network_.state_dict().values(), fitted_digits.network_.state_dict().values()):
        assert torch.equal(a, b)
    task = LabeledTaskSampler(X, y).sample_tasks(1, n_ways=3, k_shot=2, k_query=4, random_state=0)[0]
    assert torch.equal(
        loaded.predict(task.support_x, task.support_y, task.query_x),
        fitted_digits.predict(task.support_x, task.support_y, task.query_x),
    )
    loaded.set_params(finetune_steps=3)
    adapted = loaded.predict(task.support_x, task.support_y, task.query_x)
    assert adapted.shape == (12,) and int(adapted.max()) < 3
    for a, b in zip(loaded.network_.state_dict().values(), fitted_digits.network_.state_dict().values()):
        assert torch.equal(a, b)  # adaptation tunes copies of the heads


def test_psco_as_cactus_embedding(fitted_digits, digits):
    X, _ = digits
    sampler = CACTUs(embedding=fitted_digits, n_partitions=2, random_state=0).fit(X)
    task = sampler.sample_tasks(1, n_ways=3, k_shot=1, k_query=2, random_state=0)[0]
    assert task.support_x.shape == (3, 1, 8, 8)


def test_bad_settings_fail_clearly(digits):
    X, _ = digits
    with pytest.raises(ValueError, match="queue_size=32 is smaller than batch_size=64"):
        PsCo(**{**SMALL, "queue_size": 32}).fit(X)
    with pytest.raises(ValueError, match="pseudo_labels"):
        PsCo(pseudo_labels="kmeans").fit(X)
    with pytest.raises(ValueError, match="no PsCo preset"):
        PsCo.paper_preset("cifar")
    model = PsCo(epochs=1, max_time=1e-6, random_state=0, **SMALL).fit(X)
    with pytest.raises(ValueError):
        model.embed(torch.rand(2, 1, 28, 28))


def test_omniglot_preset_network(dev_split):
    (X, _), _ = dev_split
    model = PsCo.paper_preset(
        "omniglot", epochs=1, max_time=1e-6, queue_size=256, mlp_hidden=32, verbose=False, device="cpu"
    )
    model.fit(X[:300])
    assert model.network_.backbone.out_features == 256  # conv4 with ceil pooling: 64 x 2 x 2
    assert model.embed(X[:3]).shape == (3, 256)
