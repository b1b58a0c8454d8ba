"""Meta-FAVAE: Reptile step, feedback interpolations, mode seeking, adaptation cache, generate, persistence."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from torch import nn

from metaaug._threads import torch_threads
from metaaug.base import _encode
from metaaug.data import AugmentedDataset
from metaaug.generators.adaptation_cache import AdaptationCache, seeds_key
from metaaug.generators.metafavae import MetaFAVAE
from metaaug.generators.metafavae_training import feedback_interpolations, reptile_update, vae_loss
from metaaug.losses import mode_seeking_term
from metaaug.nets.favae import FAVAE, FAVAEConfig, favae_downsamplings, favae_preset

TINY = dict(
    n_iterations=3,
    max_time=None,
    inner_iterations=2,
    n_vae_steps=1,
    n_g_steps=1,
    latent_dim=8,
    noise_dim=8,
    hidden=8,
    verbose=False,
    device="cpu",
)


def tiny(**kwargs) -> MetaFAVAE:
    return MetaFAVAE(**{**TINY, "random_state": 0, **kwargs})


def state(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return tiny().fit(X[:400], y[:400])


# ----------------------------------------------------------------------------- networks
def test_network_shapes_and_sizes():
    for size, channels in ((28, 1), (64, 3), (8, 1)):
        config = FAVAEConfig(channels, size, size, **favae_preset(size))
        nets = FAVAE(config)
        x = torch.rand(3, channels, size, size)
        mean, log_var = nets.encoder(x)
        assert mean.shape == log_var.shape == (3, config.latent_dim)
        assert nets.decoder(mean).shape == x.shape
        y = nets.generator(torch.randn(3, config.noise_dim), mean)
        assert y.shape == x.shape and float(y.detach().min()) >= 0 and float(y.detach().max()) <= 1
        assert nets.discriminator(x).shape == (3,)
    rgb64 = FAVAE(FAVAEConfig(3, 64, 64, **favae_preset(64)))
    assert sum(p.numel() for p in rgb64.parameters()) < 10_000_000


def test_image_size_without_downsampling_is_rejected():
    assert favae_downsamplings(28, 28) == 2 and favae_downsamplings(64, 64) == 4
    with pytest.raises(ValueError, match="both sides >= 8"):
        favae_downsamplings(7, 7)


# ----------------------------------------------------------------------------- Reptile
def test_reptile_sgd_step_moves_exactly_toward_adapted():
    torch.manual_seed(0)
    glob = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    adapted = copy.deepcopy(glob)
    with torch.no_grad():
        for p in adapted.parameters():
            p.add_(torch.randn_like(p))
    before, target = state(glob), state(adapted)
    lr = 0.3
    reptile_update(glob, adapted, torch.optim.SGD(glob.parameters(), lr=lr))
    for key, value in glob.state_dict().items():
        torch.testing.assert_close(value, before[key] + lr * (target[key] - before[key]))
    assert all(p.grad is None for p in glob.parameters())
    torch.testing.assert_close(state(adapted)["0.weight"], target["0.weight"])  # adapted untouched


def test_reptile_adam_step_moves_toward_adapted():
    torch.manual_seed(1)
    glob = nn.Linear(6, 3)
    adapted = copy.deepcopy(glob)
    with torch.no_grad():
        for p in adapted.parameters():
            p.add_(torch.randn_like(p))
    before = state(glob)
    lr = 1e-3
    reptile_update(glob, adapted, torch.optim.Adam(glob.parameters(), lr=lr, betas=(0.5, 0.999)))
    for new, old, goal in zip(glob.state_dict().values(), before.values(), state(adapted).values()):
        # Adam's first step is lr * sign(gradient) (up to eps): toward the adapted weights
        torch.testing.assert_close(new - old, lr * torch.sign(goal - old), atol=1e-6, rtol=1e-3)


# ----------------------------------------------------------------------------- feedback and mode seeking
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5), low=st.floats(0, 1), width=st.floats(0, 1), seed=st.integers(0, 2**31))
def test_feedback_interpolations_lie_between_endpoints(n, low, width, seed):
    high = min(1.0, low + width)
    torch.manual_seed(seed)
    images = torch.rand(n, 1, 6, 5)
    out, alphas = feedback_interpolations(images, (low, high))
    assert out.shape == (n * n, 1, 6, 5)
    assert bool(((alphas >= low - 1e-6) & (alphas <= high + 1e-6)).all())
    first = images.repeat_interleave(n, dim=0)
    second = images.repeat(n, 1, 1, 1)
    lo, hi = torch.minimum(first, second), torch.maximum(first, second)
    assert bool((out >= lo - 1e-6).all()) and bool((out <= hi + 1e-6).all())
    torch.testing.assert_close(out, first + alphas.view(-1, 1, 1, 1) * (second - first))


@pytest.mark.parametrize("bad", [(-0.1, 0.5), (0.2, 1.5), (0.8, 0.2), (float("nan"), 0.5)])
def test_feedback_alpha_outside_unit_interval_is_rejected(bad, digits):
    with pytest.raises(ValueError, match="feedback_alpha"):
        feedback_interpolations(torch.rand(3, 1, 4, 4), bad)
    X, y = digits
    with pytest.raises(ValueError, match="feedback_alpha"):
        tiny(feedback_alpha=bad).fit(X[:100], y[:100])


def test_mode_seeking_positive_and_decreasing_as_outputs_diverge():
    torch.manual_seed(0)
    y1 = torch.rand(4, 1, 8, 8)
    direction = torch.randn_like(y1)
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    losses = [
        float(mode_seeking_term(y1, y1 + t * direction, z1, z2, ratio="batch")) for t in (0.01, 0.1, 0.5, 1.0, 3.0)
    ]
    assert all(loss > 0 for loss in losses)
    assert all(a > b for a, b in zip(losses, losses[1:]))
    # Meta-FAVAE's term is the ratio of the batch-mean L1 distances (the FAML code)
    y2 = y1 + direction
    expected = 1.0 / ((y1 - y2).abs().mean() / (z1 - z2).abs().mean().clamp_min(1e-12) + 1e-5)
    assert torch.equal(mode_seeking_term(y1, y2, z1, z2, ratio="batch"), expected)


# ----------------------------------------------------------------------------- estimator
def test_generate_shape_range_and_never_mutates_global(fitted, digits):
    X, y = digits
    before = state(fitted.nets_)
    seeds = X[1500:1504]
    for condition in ("encoded", "prior"):
        out = fitted.generate(seeds, 7, random_state=3, condition=condition)
        assert out.shape == (7, 1, 8, 8) and out.dtype == torch.float32
        assert float(out.min()) >= 0 and float(out.max()) <= 1
    for key, value in fitted.nets_.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert all(p.grad is None for p in fitted.nets_.parameters())


def test_adaptation_changes_the_copy_and_fits_the_seeds(digits):
    X, y = digits
    model = tiny(inner_lr_vae=3e-3, inner_iterations=4, n_vae_steps=5).fit(X[:400], y[:400])
    seeds = X[1600:1604]
    adapted = model.adapt(seeds)
    assert adapted is not model.nets_
    changed = [not torch.equal(a, b) for a, b in zip(adapted.parameters(), model.nets_.parameters())]
    assert all(changed)
    with torch.no_grad():
        error_global = float((model.nets_(seeds) - seeds).pow(2).mean())
        error_adapted = float((adapted(seeds) - seeds).pow(2).mean())
    assert error_adapted < error_global


def test_kl_reduction_mean_divides_the_kl_by_latent_size_times_batch():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    nets = FAVAE(FAVAEConfig(1, 8, 8, latent_dim=8, noise_dim=8, hidden=8))
    losses = {}
    for reduction in ("sum", "mean"):
        torch.manual_seed(1)
        losses[reduction] = float(vae_loss(nets, x, 1.0, reduction).detach())
    torch.manual_seed(1)
    reconstruction = float(vae_loss(nets, x, 0.0, "mean").detach())
    kl_sum, kl_mean = losses["sum"] - reconstruction, losses["mean"] - reconstruction
    assert kl_sum > 0
    assert kl_mean == pytest.approx(kl_sum / 8, rel=1e-4)


def test_generator_reconstruction_term_pulls_g_toward_the_seeds(digits):
    X, y = digits
    seeds = X[1600:1604]
    errors = {}
    for weight in (0.0, 10.0):
        model = tiny(lambda_rec=weight, inner_iterations=4, n_g_steps=5).fit(X[:400], y[:400])
        generated = model.generate(seeds, 16, random_state=0, condition="encoded")
        nearest_seed = (generated.flatten(1)[:, None] - seeds.flatten(1)[None]).abs().mean(2).min(1).values
        errors[weight] = float(nearest_seed.mean())
    assert errors[10.0] < errors[0.0]


def test_generate_is_deterministic_and_cache_does_not_change_outputs(fitted, digits):
    X, _ = digits
    seeds = X[1700:1703]
    a = fitted.generate(seeds, 5, random_state=11)
    b = fitted.generate(seeds, 5, random_state=11)
    c = fitted.generate(seeds, 5, random_state=12)
    assert torch.equal(a, b) and not torch.equal(a, c)
    fresh = copy.deepcopy(fitted)
    fresh.clear_cache()
    assert torch.equal(fresh.generate(seeds, 5, random_state=11), a)


def test_threads_untouched_by_default_and_restored_when_asked(fitted, digits, monkeypatch):
    X, _ = digits
    calls = []
    real_set = torch.set_num_threads

    def spy(n):
        calls.append(n)
        real_set(n)

    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(torch, "set_num_threads", spy)
        assert fitted.n_threads is None
        fitted.generate(X[:3], 2, random_state=0)
        assert calls == [] and torch.get_num_threads() == 2
        asked = copy.deepcopy(fitted).set_params(n_threads=1)
        asked.clear_cache()
        asked.generate(X[:3], 2, random_state=0)
        assert calls == [1, 2, 1, 2] and torch.get_num_threads() == 2  # adaptation, then sampling
    finally:
        real_set(1)


def test_fit_is_deterministic(digits):
    X, y = digits
    one = tiny(random_state=5).fit(X[:200], y[:200])
    two = tiny(random_state=5).fit(X[:200], y[:200])
    for (k, v), w in zip(one.nets_.state_dict().items(), two.nets_.state_dict().values()):
        assert torch.equal(v, w), k
    assert one.n_iter_ == 3 and set(one.loss_terms_) == {"vae", "d", "g", "ms"}
    assert one.loss_curve_.dtype == np.float32 and one.loss_curve_.shape == (3,)
    assert np.array_equal(one.loss_curve_, one.loss_terms_["g"])
    assert all(v.dtype == np.float32 and v.shape == (3,) for v in one.loss_terms_.values())
    assert np.array_equal(one.loss_curve_, two.loss_curve_)


def test_save_load_round_trip(fitted, digits, tmp_path):
    X, _ = digits
    path = fitted.save(tmp_path / "favae.pt")
    loaded = MetaFAVAE.load(path)
    assert loaded.get_params() == fitted.get_params()
    seeds = X[1750:1754]
    assert torch.equal(loaded.generate(seeds, 6, random_state=2), fitted.generate(seeds, 6, random_state=2))


def test_model_files_saved_before_the_renames_load(fitted, digits, tmp_path):
    X, _ = digits
    payload = fitted._to_payload()
    payload["params"]["hidden_channels"] = payload["params"].pop("hidden")
    old = payload["fitted"]
    old["n_iterations_"] = old.pop("n_iter_")
    del old["loss_curve_"], old["loss_terms_"]
    old["loss_history_"] = _encode({k: v.tolist() for k, v in fitted.loss_terms_.items()}, "loss_history_")
    torch.save(payload, tmp_path / "old.pt")
    loaded = MetaFAVAE.load(tmp_path / "old.pt")
    assert loaded.hidden == fitted.hidden and loaded.n_iter_ == fitted.n_iter_
    assert loaded.loss_curve_.dtype == np.float32 and np.array_equal(loaded.loss_curve_, fitted.loss_curve_)
    assert all(np.array_equal(loaded.loss_terms_[k], v) for k, v in fitted.loss_terms_.items())
    seeds = X[1750:1754]
    assert torch.equal(loaded.generate(seeds, 3, random_state=2), fitted.generate(seeds, 3, random_state=2))


# ----------------------------------------------------------------------------- helpers
def test_adaptation_cache_drops_the_least_recently_used():
    cache = AdaptationCache[nn.Module]()
    modules = {key: nn.Linear(1, 1) for key in "abc"}
    cache.put("a", modules["a"], max_size=2)
    cache.put("b", modules["b"], max_size=2)
    assert cache.get("a") is modules["a"]  # now "b" is the least recently used
    cache.put("c", modules["c"], max_size=2)
    assert len(cache) == 2 and "b" not in cache and cache.get("c") is modules["c"]
    assert cache.get("b") is None
    cache.put("b", modules["b"], max_size=0)
    assert "b" not in cache
    cache.clear()
    assert len(cache) == 0


def test_seeds_key_depends_on_values_and_shape():
    seeds = torch.rand(4, 1, 6, 6)
    assert seeds_key(seeds) == seeds_key(seeds.clone())
    assert seeds_key(seeds) != seeds_key(seeds.flip(0))
    assert seeds_key(seeds) != seeds_key(seeds.reshape(2, 2, 6, 6))


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    "params, match",
    [
        ({"hidden": 0}, "hidden"),
        ({"n_d_steps": -1}, "n_d_steps"),
        ({"cache_size": 1.5}, "cache_size"),
        ({"n_threads": 0}, "n_threads"),
        ({"inner_lr_vae": 0.0}, "inner_lr_vae"),
        ({"beta": float("nan")}, "beta"),
        ({"condition": "posterior"}, "condition"),
        ({"n_clusters": 1}, "n_clusters"),
        ({"feedback": 1}, "feedback"),
        ({"feedback_alpha": (0.5,)}, "feedback_alpha"),
        ({"max_time": 0}, "max_time"),
    ],
)
def test_fit_rejects_bad_params(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        tiny(**params).fit(X[:100], y[:100])


def test_every_parameter_has_a_constraint():
    assert set(MetaFAVAE._parameter_constraints) == set(MetaFAVAE().get_params())


def test_unlabeled_fit_relativistic_and_meta_avae(digits):
    X, _ = digits
    model = tiny(feedback=False, gan_loss="relativistic", n_clusters=10).fit(X[:300])
    assert model.n_classes_ >= 2
    assert model.generate(X[:2], 3, random_state=0).shape == (3, 1, 8, 8)


def test_augmented_dataset_adapts_each_class_once(fitted, digits):
    X, y = digits
    model = copy.deepcopy(fitted)
    model.clear_cache()
    data = AugmentedDataset((X[1600:1640], y[1600:1640]), model, ratio=0.5, random_state=0)
    images, labels = data.generated
    assert images.shape[1:] == (1, 8, 8) and len(images) == 40
    assert len(model._adaptations) == len(torch.unique(y[1600:1640]))


def test_sklearn_conventions(fitted):
    with pytest.raises(NotFittedError):
        MetaFAVAE().generate(np.zeros((2, 8, 8), np.float32), 3)
    params = fitted.get_params()
    assert params["feedback"] is True and params["n_seeds"] == 4
    assert clone(fitted).get_params() == params
    assert MetaFAVAE(feedback=False).set_params(feedback=True).feedback is True


def test_bad_input(fitted, digits):
    X, y = digits
    with pytest.raises(ValueError, match="empty or too small"):
        fitted.generate(np.zeros((0, 8, 8), np.float32), 3)
    with pytest.raises(ValueError, match="shape"):
        fitted.generate(torch.rand(4, 1, 10, 10), 3)
    with pytest.raises(ValueError, match="shape"):
        fitted.generate(torch.rand(4, 3, 8, 8), 3)
    with pytest.raises(ValueError, match="n must be"):
        fitted.generate(X[:4], 0)
    with pytest.raises(ValueError, match="condition"):
        fitted.generate(X[:4], 2, condition="posterior")
    few = torch.cat([torch.zeros(50, dtype=torch.long), torch.ones(3, dtype=torch.long)])
    with pytest.raises(ValueError, match="n_seeds=4"):
        tiny().fit(X[:53], few)
    with pytest.raises(ValueError, match="gan_loss"):
        tiny(gan_loss="wgan").fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="kl_reduction"):
        tiny(kl_reduction="max").fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="lambda_rec"):
        tiny(lambda_rec=-1.0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="n_seeds"):
        tiny(n_seeds=0).fit(X[:100], y[:100])
    with pytest.raises(ValueError, match="both sides >= 8"):
        tiny().fit(torch.rand(20, 1, 7, 7), torch.arange(20) % 2)


def test_omniglot_28x28_path(dev_split):
    (X_train, y_train), (X_test, y_test) = dev_split
    keep = y_train < 10
    model = tiny(n_iterations=2, inner_iterations=1, latent_dim=None, noise_dim=None, hidden=None).fit(
        X_train[keep], y_train[keep]
    )
    assert model.nets_.config.feature_shape == (64, 7, 7)
    out = model.generate(X_test[y_test == 0][:4], 5, random_state=0)
    assert out.shape == (5, 1, 28, 28)
