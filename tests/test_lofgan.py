"""LoFGAN: networks, local fusion module invariants, estimator behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from metaaug._random import draw_seed
from metaaug.base import _encode
from metaaug.clustering import default_n_clusters, embed, kmeans_labels, pseudo_labels
from metaaug.data import AugmentedDataset
from metaaug.generators.lofgan import LoFGAN, from_tanh_range, to_tanh_range
from metaaug.generators.lofgan_training import LOSS_TERMS, ClassTaskSampler
from metaaug.nets.lofgan import (
    FusionPlan,
    LoFGANDecoder,
    LoFGANDiscriminator,
    LoFGANGenerator,
    count_parameters,
    downsampled_sizes,
    draw_fusion_plan,
    fuse_at_positions,
    local_fusion,
    local_fusion_target,
    match_positions,
)

FAST = dict(epochs=0.02, meta_batch_size=4, device="cpu", verbose=False)


# ------------------------------------------------------------------ networks
def test_paper_preset_parameter_counts_match_the_official_code():
    generator = LoFGANGenerator(in_channels=3, channels=(32, 64, 128, 128, 128))
    assert count_parameters(generator) == 781_443
    n_classes = 85
    disc = LoFGANDiscriminator(in_channels=3, n_classes=n_classes, base_channels=64, n_blocks=4, max_channels=1024)
    assert count_parameters(disc.trunk) == 38_382_080
    assert count_parameters(disc) == 38_382_080 + (1024 + 1) + (1024 + 1) * n_classes


def test_estimator_paper_preset_builds_the_official_networks():
    model = LoFGAN(preset="paper")
    model.image_shape_, model.classes_ = (3, 64, 64), np.arange(10)
    model._build_modules()
    assert count_parameters(model.generator_) == 781_443
    assert count_parameters(model.discriminator_.trunk) == 38_382_080


@pytest.mark.parametrize("size", [(28, 28), (32, 32), (64, 64), (30, 22), (8, 8)])
def test_generator_keeps_any_image_size(size):
    generator = LoFGANGenerator(1, (8, 8, 8, 8))
    grid = generator.feature_grid(size)
    assert grid == downsampled_sizes(size, 3)[-1]
    seeds = torch.rand(2, 3, 1, *size) * 2 - 1
    with torch.no_grad():
        out, ref_positions = generator(seeds, draw_fusion_plan(2, 3, grid[0] * grid[1], 0.5))
    assert out.shape == (2, 1, *size)
    assert ref_positions.shape == (2, 2, max(1, int(0.5 * grid[0] * grid[1])))
    assert float(out.abs().max()) <= 1.0


def test_official_grid_is_8x8_at_128_and_4x4_at_64():
    generator = LoFGANGenerator()
    assert generator.feature_grid((128, 128)) == (8, 8)
    assert generator.feature_grid((64, 64)) == (4, 4)


def test_decoder_upsamples_by_two_when_divisible():
    decoder = LoFGANDecoder(1, (4, 4, 4))
    assert decoder(torch.randn(1, 4, 8, 8), (32, 32)).shape == (1, 1, 32, 32)


# ---------------------------------------------------- local fusion invariants
def reference_fusion(features: torch.Tensor, plan: FusionPlan) -> tuple[torch.Tensor, torch.Tensor]:
    """Loop-by-loop LFM, written from the paper's description, for checking the batched one."""
    n_tasks, k, c, h, w = features.shape
    flat = features.reshape(n_tasks, k, c, h * w)
    out = torch.empty(n_tasks, c, h * w)
    matched = torch.empty(n_tasks, k - 1, plan.n_selected, dtype=torch.long)
    for b in range(n_tasks):
        base_i = int(plan.base_index[b])
        refs = [j for j in range(k) if j != base_i]
        out[b] = flat[b, base_i]
        for s, pos in enumerate(plan.base_positions[b].tolist()):
            value = plan.alpha[b, base_i] * flat[b, base_i, :, pos]
            query = F.normalize(flat[b, base_i, :, pos], dim=0)
            for r, j in enumerate(refs):
                cosine = F.normalize(flat[b, j], dim=0).T @ query
                best = int(cosine.argmax())
                matched[b, r, s] = best
                value = value + plan.alpha[b, j] * flat[b, j, :, best]
            out[b, :, pos] = value
    return out.view(n_tasks, c, h, w), matched


lfm_cases = st.tuples(
    st.integers(1, 3),  # tasks
    st.integers(2, 5),  # k
    st.integers(1, 6),  # channels
    st.integers(1, 5),  # h
    st.integers(1, 5),  # w
    st.floats(0.01, 1.0),  # eta
    st.integers(0, 2**31 - 1),  # seed
)


@settings(max_examples=40, deadline=None)
@given(lfm_cases)
def test_lfm_matches_reference_and_keeps_unselected_positions(case):
    n_tasks, k, c, h, w, eta, seed = case
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(n_tasks, k, c, h, w, generator=gen, dtype=torch.float64).float()
    plan = draw_fusion_plan(n_tasks, k, h * w, eta, generator=gen)
    assert plan.n_selected == max(1, int(eta * h * w))
    for row in plan.base_positions:
        assert len(set(row.tolist())) == plan.n_selected
    assert torch.allclose(plan.alpha.sum(1), torch.ones(n_tasks))
    fused, ref_positions = local_fusion(features, plan)
    expected, expected_positions = reference_fusion(features, plan)
    assert torch.allclose(fused, expected, atol=1e-5)
    # argmax ties are measure-zero for Gaussian features
    assert torch.equal(ref_positions, expected_positions)
    base = features[torch.arange(n_tasks), plan.base_index].reshape(n_tasks, c, -1)
    selected = torch.zeros(n_tasks, h * w, dtype=torch.bool)
    selected[torch.arange(n_tasks).unsqueeze(1), plan.base_positions] = True
    flat = fused.reshape(n_tasks, c, -1)
    assert torch.equal(flat.permute(0, 2, 1)[~selected], base.permute(0, 2, 1)[~selected])


@settings(max_examples=25, deadline=None)
@given(lfm_cases)
def test_lfm_with_all_weight_on_the_base_returns_the_base(case):
    n_tasks, k, c, h, w, eta, seed = case
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(n_tasks, k, c, h, w, generator=gen)
    plan = draw_fusion_plan(n_tasks, k, h * w, eta, generator=gen)
    plan.alpha = F.one_hot(plan.base_index, k).float()
    fused, _ = local_fusion(features, plan)
    assert torch.equal(fused, features[torch.arange(n_tasks), plan.base_index])


@settings(max_examples=25, deadline=None)
@given(lfm_cases)
def test_fused_values_are_convex_combinations(case):
    n_tasks, k, c, h, w, eta, seed = case
    gen = torch.Generator().manual_seed(seed)
    features = torch.rand(n_tasks, k, c, h, w, generator=gen)
    plan = draw_fusion_plan(n_tasks, k, h * w, eta, generator=gen)
    fused, ref_positions = local_fusion(features, plan)
    flat = features.reshape(n_tasks, k, c, -1)
    for b in range(n_tasks):
        base_i = int(plan.base_index[b])
        refs = [j for j in range(k) if j != base_i]
        for s, pos in enumerate(plan.base_positions[b].tolist()):
            sources = [flat[b, base_i, :, pos]] + [
                flat[b, j, :, int(ref_positions[b, r, s])] for r, j in enumerate(refs)
            ]
            sources = torch.stack(sources)
            value = fused[b].reshape(c, -1)[:, pos]
            assert bool((value >= sources.min(0).values - 1e-6).all())
            assert bool((value <= sources.max(0).values + 1e-6).all())


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(2, 4),
    st.integers(4, 40),
    st.integers(4, 40),
    st.integers(1, 4),
    st.floats(0.05, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_image_target_replays_the_feature_positions_at_any_size(n_tasks, k, height, width, depth, eta, seed):
    gen = torch.Generator().manual_seed(seed)
    images = torch.rand(n_tasks, k, 2, height, width, generator=gen)
    grid = downsampled_sizes((height, width), depth)[-1]
    # features that ARE the images on the grid: the replayed target must equal the fusion itself
    features = F.interpolate(images.view(-1, 2, height, width), size=grid, mode="nearest").view(n_tasks, k, 2, *grid)
    plan = draw_fusion_plan(n_tasks, k, grid[0] * grid[1], eta, generator=gen)
    fused, ref_positions = local_fusion(features, plan)
    target = local_fusion_target(images, grid, plan, ref_positions)
    assert target.shape == (n_tasks, 2, *grid)
    assert torch.equal(target, fused)


def test_match_positions_finds_a_planted_copy():
    features = torch.randn(1, 2, 4, 3, 3)
    features[0, 1, :, 2, 1] = 5 * features[0, 0, :, 0, 0]  # same direction, other norm
    plan = FusionPlan(torch.tensor([[0.5, 0.5]]), torch.tensor([0]), torch.tensor([[0]]))
    assert int(match_positions(features, plan)[0, 0, 0]) == 2 * 3 + 1
    fused = fuse_at_positions(features, plan, match_positions(features, plan))
    assert torch.allclose(fused[0, :, 0, 0], 3 * features[0, 0, :, 0, 0])


def test_fusion_plan_needs_two_seeds_and_valid_eta():
    with pytest.raises(ValueError, match="k >= 2"):
        draw_fusion_plan(2, 1, 16, 0.5)
    for eta in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="eta"):
            draw_fusion_plan(2, 3, 16, eta)


def test_class_task_sampler_draws_distinct_images_of_one_class():
    labels = torch.tensor([0, 1, 2, 1, 0, 2, 2, 1, 0, 2])
    X = labels.float().view(-1, 1, 1, 1) + torch.arange(10).float().view(-1, 1, 1, 1) / 100
    torch.manual_seed(0)
    images, classes = ClassTaskSampler(X, labels, k_shot=3).sample(50)
    assert images.shape == (50, 3, 1, 1, 1) and classes.shape == (50,)
    values = images.flatten(1)
    assert torch.equal(values.floor().long(), classes.unsqueeze(1).expand(-1, 3))  # one class per task
    assert all(len(set(row.tolist())) == 3 for row in values)  # distinct images
    assert set(classes.tolist()) == {0, 1, 2}


def test_range_mapping_round_trips():
    x = torch.rand(4, 1, 5, 5)
    assert torch.allclose(from_tanh_range(to_tanh_range(x)), x)
    assert float(to_tanh_range(x).min()) >= -1 and float(to_tanh_range(x).max()) <= 1


# ---------------------------------------------------------------- estimator
@pytest.fixture(scope="module")
def omniglot_small(dev_split):
    (X, y), (X_test, y_test) = dev_split
    keep = y < 30
    return X[keep], y[keep], X_test, y_test


@pytest.fixture(scope="module")
def fitted(omniglot_small):
    X, y, _, _ = omniglot_small
    return LoFGAN(random_state=0, **FAST).fit(X, y)


def test_fit_and_generate_on_omniglot(fitted, omniglot_small):
    _, _, X_test, _ = omniglot_small
    assert fitted.n_iter_ == len(fitted.loss_curve_) >= 2
    assert fitted.loss_curve_.dtype == np.float32 and np.array_equal(fitted.loss_curve_, fitted.loss_terms_["loss_g"])
    assert set(fitted.loss_terms_) == set(LOSS_TERMS)
    assert all(v.dtype == np.float32 and v.shape == (fitted.n_iter_,) for v in fitted.loss_terms_.values())
    assert all(np.isfinite(v).all() for v in fitted.loss_terms_.values())
    assert len(fitted.classes_) == 30
    out = fitted.generate(X_test[:3], 7, random_state=1)
    assert out.shape == (7, 1, 28, 28) and out.dtype == torch.float32
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    # any number of seeds >= 2, whatever k_shot was at training
    assert fitted.generate(X_test[:2], 3).shape == (3, 1, 28, 28)
    assert fitted.generate(X_test[:9], 3).shape == (3, 1, 28, 28)
    assert fitted.generate(X_test[:3].numpy()[:, 0], 2).shape == (2, 1, 28, 28)


def test_generate_is_deterministic_and_varies_with_the_seed(fitted, omniglot_small, monkeypatch):
    seeds = omniglot_small[2][:3]
    a = fitted.generate(seeds, 5, random_state=3)
    assert torch.equal(a, fitted.generate(seeds, 5, random_state=3))
    assert not torch.equal(a, fitted.generate(seeds, 5, random_state=4))
    # outputs differ from each other (own base, alpha, positions each)
    assert (a[1:] - a[:1]).abs().flatten(1).amax(1).min() > 0
    # chunking does not change what each output gets
    monkeypatch.setattr("metaaug.generators.lofgan._GENERATE_CHUNK", 2)
    assert torch.allclose(fitted.generate(seeds, 5, random_state=3), a, atol=1e-6)


def test_fit_is_deterministic(omniglot_small):
    X, y, X_test, _ = omniglot_small
    a = LoFGAN(random_state=5, epochs=0.01, meta_batch_size=2, device="cpu", verbose=False).fit(X, y)
    b = LoFGAN(random_state=5, epochs=0.01, meta_batch_size=2, device="cpu", verbose=False).fit(X, y)
    assert all(np.array_equal(a.loss_terms_[k], b.loss_terms_[k]) for k in LOSS_TERMS)
    assert torch.equal(a.generate(X_test[:3], 4, random_state=0), b.generate(X_test[:3], 4, random_state=0))


def test_save_load_round_trip(fitted, omniglot_small, tmp_path):
    path = fitted.save(tmp_path / "lofgan.pt")
    loaded = LoFGAN.load(path)
    seeds = omniglot_small[2][:4]
    assert torch.equal(loaded.generate(seeds, 6, random_state=2), fitted.generate(seeds, 6, random_state=2))
    assert loaded.get_params() == fitted.get_params()
    assert np.array_equal(loaded.classes_, fitted.classes_)


def test_model_files_saved_before_the_renames_load(fitted, omniglot_small, tmp_path):
    payload = fitted._to_payload()
    old = payload["fitted"]
    del old["loss_curve_"], old["loss_terms_"]
    old["history_"] = _encode({k: v.tolist() for k, v in fitted.loss_terms_.items()}, "history_")
    torch.save(payload, tmp_path / "old.pt")
    loaded = LoFGAN.load(tmp_path / "old.pt")
    assert loaded.loss_curve_.dtype == np.float32 and np.array_equal(loaded.loss_curve_, fitted.loss_curve_)
    assert all(np.array_equal(loaded.loss_terms_[k], v) for k, v in fitted.loss_terms_.items())
    seeds = omniglot_small[2][:3]
    assert torch.equal(loaded.generate(seeds, 3, random_state=2), fitted.generate(seeds, 3, random_state=2))


@pytest.mark.filterwarnings("ignore:.*fewer than k_shot:UserWarning")  # small clusters are skipped on purpose
def test_unlabeled_fit_uses_pseudo_labels(omniglot_small):
    X = omniglot_small[0][:300]
    model = LoFGAN(random_state=0, n_clusters=12, **FAST).fit(X)
    assert len(model.labels_) == 300
    assert len(model.classes_) <= 12
    assert model.discriminator_.class_head.out_channels == len(model.classes_)
    assert model.generate(X[:3], 2).shape == (2, 1, 28, 28)


def test_pseudo_labels_are_one_embedding_then_one_k_means(digits):
    X = digits[0][:200]
    rng = np.random.default_rng(3)
    features = embed(X, "pca", random_state=draw_seed(rng))
    expected = kmeans_labels(features, 10, random_state=draw_seed(rng))
    assert np.array_equal(pseudo_labels(X, 10, random_state=np.random.default_rng(3)).numpy(), expected)
    assert np.array_equal(pseudo_labels(X, 10, random_state=3).numpy(), expected)  # an int seeds the same stream
    assert len(torch.unique(pseudo_labels(X, random_state=0))) == default_n_clusters(200) == 10
    assert default_n_clusters(30) == 2
    with pytest.raises(ValueError, match="n_clusters must be in"):
        pseudo_labels(X[:5], 6)


def test_unlabeled_fit_with_a_callable_embedding(digits):
    X, _ = digits
    model = LoFGAN(
        random_state=0,
        n_clusters=10,
        embedding=lambda x: x.flatten(1)[:, ::4],
        gen_channels=(8, 8),
        disc_channels=8,
        disc_blocks=1,
        **FAST,
    ).fit(X[:200])
    assert model.generate(X[:3], 2).shape == (2, 1, 8, 8)


def test_single_task_batches_work(digits):
    X, y = digits
    model = LoFGAN(
        random_state=0,
        meta_batch_size=1,
        epochs=0.005,
        device="cpu",
        gen_channels=(8, 8),
        disc_channels=8,
        disc_blocks=1,
        verbose=False,
    ).fit(X[:400], y[:400])
    assert model.n_iter_ >= 2 and np.isfinite(model.loss_curve_).all()


def test_works_as_an_augmented_dataset_augmenter(fitted, omniglot_small):
    _, _, X_test, y_test = omniglot_small
    keep = y_test < 3
    dataset = AugmentedDataset((X_test[keep], y_test[keep]), fitted, ratio=0.5, random_state=0)
    images, labels = dataset.generated
    assert images.shape == (int(keep.sum()), 1, 28, 28)
    assert torch.equal(torch.bincount(labels), torch.bincount(y_test[keep]))


def test_clone_and_params():
    model = LoFGAN(k_shot=4, eta=0.3, preset="paper")
    copy = clone(model)
    assert copy.get_params() == model.get_params()
    assert copy.set_params(eta=0.7).eta == 0.7


# ---------------------------------------------------------------- bad input
def test_not_fitted():
    with pytest.raises(NotFittedError):
        LoFGAN().generate(torch.rand(3, 1, 28, 28), 2)


def test_generate_rejects_bad_seeds(fitted):
    with pytest.raises(ValueError, match="at least 2 seeds"):
        fitted.generate(torch.rand(1, 1, 28, 28), 2)
    with pytest.raises(ValueError, match="shape"):
        fitted.generate(torch.rand(3, 1, 32, 32), 2)
    with pytest.raises(ValueError, match="shape"):
        fitted.generate(torch.rand(3, 3, 28, 28), 2)
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n must"):
            fitted.generate(torch.rand(3, 1, 28, 28), n)
    with pytest.raises(ValueError, match="outside"):
        fitted.generate(torch.rand(3, 1, 28, 28) * 3, 2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"eta": 0.0}, "eta"),
        ({"eta": 1.01}, "eta"),
        ({"k_shot": 1}, "k_shot"),
        ({"meta_batch_size": 0}, "meta_batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"preset": "huge"}, "preset"),
        ({"lambda_gp": -1}, "lambda_gp"),
        ({"n_clusters": "many"}, "n_clusters"),
        ({"gen_channels": ()}, "gen_channels"),
        ({"gen_channels": (8, 0)}, "gen_channels"),
        ({"disc_blocks": -1}, "disc_blocks"),
        ({"embedding": "tsne"}, "embedding"),
        ({"verbose": "yes"}, "verbose"),
        ({"lr": 0}, "lr"),
        ({"weight_decay": -1e-4}, "weight_decay"),
    ],
)
def test_fit_rejects_bad_params(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        LoFGAN(**{**FAST, **params}).fit(X[:100], None if "n_clusters" in params else y[:100])


def test_every_parameter_has_a_constraint():
    assert set(LoFGAN._parameter_constraints) == set(LoFGAN().get_params())
    assert LoFGAN().verbose is True


def test_small_classes_are_skipped_with_a_warning_or_refused(digits):
    X, y = digits
    X, y = X[:200], y[:200].clone()
    y[:2] = 99  # a class of 2 images cannot give a 3-shot task
    with pytest.warns(UserWarning, match="fewer than k_shot"):
        model = LoFGAN(random_state=0, gen_channels=(8, 8), disc_channels=8, disc_blocks=1, **FAST).fit(X, y)
    assert 99 not in model.classes_ and (model.labels_[:2] == -1).all()
    with pytest.raises(ValueError, match="no class has"), pytest.warns(UserWarning):
        LoFGAN(**FAST).fit(X[:10], torch.arange(10))


def test_images_too_small_for_the_preset_are_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="too small"):
        LoFGAN(preset="paper", **FAST).fit(X[:100], y[:100])
