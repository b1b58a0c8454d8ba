"""LASIUM: geometry of the sampling strategies, tasks, persistence, bad input, learnability."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from metaaug.augment import AffineRanges
from metaaug.samplers.lasium import LASIUM, SIGMA2_DEFAULTS

FAST = dict(backend="vae", hidden=4, epochs=1, batch_size=256, verbose=False, device="cpu")
HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class LinearCodec:
    """A tiny stand-in for a fitted metaaug autoencoder: PCA encode / decode."""

    def __init__(self, X: torch.Tensor, dim: int = 6) -> None:
        flat = X.reshape(len(X), -1)
        self.shape = X.shape[1:]
        self.mean = flat.mean(0)
        _, _, vh = torch.linalg.svd(flat - self.mean, full_matrices=False)
        self.components = vh[:dim].T

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return (images.reshape(len(images), -1) - self.mean) @ self.components

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents @ self.components.T + self.mean).clamp(0, 1).reshape(len(latents), *self.shape)


@pytest.fixture(scope="module")
def X_digits():
    from metaaug.data import load_digits

    X, _ = load_digits()
    return X[:400]


@pytest.fixture(scope="module")
def vae_lasium(X_digits):
    return LASIUM(latent_dim=4, random_state=0, **FAST).fit(X_digits)


@pytest.fixture(scope="module")
def gan_lasium(X_digits):
    return LASIUM(latent_dim=16, random_state=0, **{**FAST, "backend": "gan"}).fit(X_digits)


@pytest.fixture(scope="module")
def codec_lasium(X_digits):
    return LASIUM(backend=LinearCodec(X_digits), random_state=0, device="cpu").fit(X_digits)


def variant(las: LASIUM, **params) -> LASIUM:
    """The same fitted backend with other sampling parameters."""
    twin = copy.copy(las)
    twin.set_params(**params)
    return twin


# ------------------------------------------------------------------ geometry
@HYP
@given(alpha=st.floats(0.05, 0.95), n_ways=st.integers(2, 6), seed=st.integers(0, 1000))
def test_oc_samples_on_segment_toward_cycled_anchors(gan_lasium, alpha, n_ways, seed):
    las = variant(gan_lasium, strategy="OC", alpha=alpha)
    z = las.sample_latents(3, n_ways, 1, 6, random_state=seed)
    anchors = z[:, :, 0]
    for i in range(n_ways):
        for m in range(6):
            j = (i + 1 + m % (n_ways - 1)) % n_ways
            expected = anchors[:, i] + alpha * (anchors[:, j] - anchors[:, i])
            torch.testing.assert_close(z[:, i, m + 1], expected)


@HYP
@given(alpha=st.floats(0.05, 0.95), seed=st.integers(0, 1000))
def test_ro_samples_on_segment_toward_out_of_class_latents(codec_lasium, alpha, seed):
    # with a custom backend the out-of-class targets are training latents, so the
    # point alpha of the way from the anchor must extrapolate back onto one of them
    las = variant(codec_lasium, strategy="RO", alpha=alpha)
    z = las.sample_latents(4, 5, 1, 3, random_state=seed)
    anchors = z[:, :, :1]
    targets = (z[:, :, 1:] - (1 - alpha) * anchors) / alpha
    distances = torch.cdist(targets.reshape(-1, targets.shape[-1]), las.latent_mean_)
    assert float(distances.min(1).values.max()) < 1e-2  # float32 error grows by 1/alpha


def test_ro_with_prior_moves_alpha_of_the_way(vae_lasium):
    las = variant(vae_lasium, strategy="RO", alpha=0.25)
    z = las.sample_latents(400, 5, 1, 5, random_state=0)
    anchors = z[:, :, :1]
    implied_prior = (z[:, :, 1:] - 0.75 * anchors) / 0.25
    # the implied targets are standard normal draws
    assert abs(float(implied_prior.mean())) < 0.05
    assert float(implied_prior.var()) == pytest.approx(1.0, abs=0.05)


@HYP
@given(sigma2=st.floats(0.05, 3.0), seed=st.integers(0, 1000))
def test_n_sample_variance_is_sigma2(gan_lasium, sigma2, seed):
    las = variant(gan_lasium, strategy="N", sigma2=sigma2)
    z = las.sample_latents(20, 5, 1, 9, random_state=seed)  # 20*5*9*16 = 14400 noise values
    noise = z[:, :, 1:] - z[:, :, :1]
    assert float(noise.var()) == pytest.approx(sigma2, rel=0.06)
    assert abs(float(noise.mean())) < 0.05 * sigma2**0.5 + 0.03


@HYP
@given(epsilon=st.floats(0.0, 14.0), seed=st.integers(0, 1000))
def test_epsilon_is_honoured(gan_lasium, epsilon, seed):
    # 16-d standard normal anchors: pairwise distances concentrate near 5.7
    las = variant(gan_lasium, epsilon=min(epsilon, 3.5))
    anchors = las.sample_latents(30, 5, 1, 1, random_state=seed)[:, :, 0]
    distances = torch.cdist(anchors, anchors)
    off = ~torch.eye(5, dtype=torch.bool)
    assert float(distances[:, off].min()) >= las.epsilon


def test_epsilon_applies_to_vae_anchors(vae_lasium):
    las = variant(vae_lasium, epsilon=1.0)
    anchors = las.sample_latents(50, 5, 1, 1, random_state=0)[:, :, 0]
    off = ~torch.eye(5, dtype=torch.bool)
    assert float(torch.cdist(anchors, anchors)[:, off].min()) >= 1.0


def test_epsilon_too_large_is_a_clear_error(gan_lasium):
    las = variant(gan_lasium, epsilon=1e3, max_redraws=5)
    with pytest.raises(ValueError, match="epsilon=1000.0 is too large.*largest minimum pairwise anchor distance"):
        las.sample_tasks(4, 5, 1, 1, random_state=0)


@pytest.mark.parametrize("strategy", ["N", "RO", "OC"])
def test_vae_real_anchor_is_first_support_image(vae_lasium, X_digits, strategy):
    las = variant(vae_lasium, strategy=strategy)
    tasks = las.sample_tasks(6, 5, 2, 3, random_state=1)
    flat = X_digits.reshape(len(X_digits), -1)
    for task in tasks:
        support = task.support_x.view(5, 2, -1)
        first = support[:, 0]
        assert float(torch.cdist(first, flat).min(1).values.max()) == 0.0  # real images
        assert float(torch.cdist(support[:, 1], flat).min(1).values.min()) > 0  # decoded ones


def test_custom_backend_real_anchor_and_decoding(codec_lasium, X_digits):
    tasks = codec_lasium.sample_tasks(3, 4, 1, 2, random_state=0)
    flat = X_digits.reshape(len(X_digits), -1)
    for task in tasks:
        assert float(torch.cdist(task.support_x.reshape(4, -1), flat).min(1).values.max()) == 0.0
    assert codec_lasium.backend_kind_ == "custom"


def test_metaaug_autoencoder_backend_is_fitted_on_a_clone(X_digits):
    autoencoders = pytest.importorskip("metaaug.generators.autoencoders")
    unfitted = autoencoders.AE(epochs=1, verbose=False, device="cpu")
    las = LASIUM(backend=unfitted, strategy="OC", device="cpu", random_state=0).fit(X_digits[:200])
    assert las.backend_kind_ == "custom" and las.backend_ is not unfitted
    task = las.sample_tasks(2, 3, 1, 2, random_state=0)[0]
    assert task.query_x.shape == (6, 1, 8, 8)


# ------------------------------------------------------------- tasks / API
@pytest.mark.parametrize("fixture", ["vae_lasium", "gan_lasium", "codec_lasium"])
def test_task_shapes_labels_and_determinism(request, fixture):
    las = request.getfixturevalue(fixture)
    tasks = las.sample_tasks(4, n_ways=3, k_shot=2, k_query=5, random_state=7)
    assert len(tasks) == 4
    for task in tasks:
        assert task.support_x.shape == (6, 1, 8, 8) and task.query_x.shape == (15, 1, 8, 8)
        assert task.support_y.tolist() == [0, 0, 1, 1, 2, 2]
        assert task.query_y.tolist() == [c for c in range(3) for _ in range(5)]
        assert task.support_x.dtype == torch.float32
        assert 0 <= float(task.query_x.min()) and float(task.query_x.max()) <= 1
    again = las.sample_tasks(4, n_ways=3, k_shot=2, k_query=5, random_state=7)
    other = las.sample_tasks(4, n_ways=3, k_shot=2, k_query=5, random_state=8)
    assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(tasks, again))
    assert not torch.equal(tasks[0].query_x, other[0].query_x)


def test_zero_queries_and_one_way(vae_lasium):
    tasks = vae_lasium.sample_tasks(2, n_ways=1, k_shot=1, k_query=0, random_state=0)
    assert tasks[0].support_x.shape == (1, 1, 8, 8) and tasks[0].query_x.shape == (0, 1, 8, 8)


def test_all_latents_decoded_in_one_pass(vae_lasium):
    calls = []
    handle = vae_lasium.backend_.decoder.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    try:
        vae_lasium.sample_tasks(40, 5, 1, 15, random_state=0)
    finally:
        handle.remove()
    assert calls == [40 * 5 * 15]  # one batch: every non-anchor latent of every task


def test_sampling_uses_eval_mode_and_restores_it(vae_lasium):
    vae_lasium.backend_.train()
    a = vae_lasium.sample_tasks(2, random_state=0)
    assert vae_lasium.backend_.training
    vae_lasium.backend_.eval()
    b = vae_lasium.sample_tasks(2, random_state=0)
    assert torch.equal(a[1].query_x, b[1].query_x)


def test_query_shift_moves_queries_only(vae_lasium):
    plain = variant(vae_lasium, query_shift=0).sample_tasks(3, 5, 1, 4, random_state=3)
    shifted = variant(vae_lasium, query_shift=2).sample_tasks(3, 5, 1, 4, random_state=3)
    assert all(torch.equal(a.support_x, b.support_x) for a, b in zip(plain, shifted))
    assert not all(torch.equal(a.query_x, b.query_x) for a, b in zip(plain, shifted))


@pytest.mark.parametrize(
    "augmentation", ["affine", AffineRanges(rotation=(0.0, 0.0), scale=(1.0, 1.0), shear=(0.0, 0.0))]
)
def test_query_augmentation_changes_queries_only(vae_lasium, augmentation):
    plain = variant(vae_lasium, query_augmentation="none").sample_tasks(3, 5, 1, 4, random_state=3)
    augmented = variant(vae_lasium, query_augmentation=augmentation).sample_tasks(3, 5, 1, 4, random_state=3)
    assert all(torch.equal(a.support_x, b.support_x) for a, b in zip(plain, augmented))
    assert not all(torch.equal(a.query_x, b.query_x) for a, b in zip(plain, augmented))
    assert all(float(t.query_x.min()) >= 0 and float(t.query_x.max()) <= 1 for t in augmented)


def test_query_augmentation_none_ignores_query_shift(vae_lasium):
    plain = variant(vae_lasium, query_shift=0).sample_tasks(2, 5, 1, 4, random_state=5)
    none = variant(vae_lasium, query_shift=3, query_augmentation="none").sample_tasks(2, 5, 1, 4, random_state=5)
    assert all(torch.equal(a.query_x, b.query_x) for a, b in zip(plain, none))


def test_default_query_shift_is_5px_at_28px_scaled_to_image_size(vae_lasium):
    assert vae_lasium.query_shift is None and vae_lasium._query_shift() == 1  # 8x8 digits
    assert variant(vae_lasium, query_shift=3)._query_shift() == 3
    las_28 = copy.copy(vae_lasium)
    las_28.image_shape_ = (1, 28, 28)
    assert las_28._query_shift() == 5
    las_84 = copy.copy(vae_lasium)
    las_84.image_shape_ = (3, 84, 84)
    assert las_84._query_shift() == 15


def test_class_reuse_serves_tasks_from_a_bank_and_renews_it(vae_lasium):
    las = variant(vae_lasium, class_reuse=4.0, bank_size=30, query_augmentation="none")
    las._class_bank = None
    calls = []
    handle = las.backend_.decoder.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    try:
        tasks = las.sample_tasks(8, 5, 1, 3, random_state=0)  # fills 30 classes, renews 8 * 5 / 4 = 10
    finally:
        handle.remove()
    assert calls == [30 * 3, 10 * 3]
    bank_images = las._class_bank.images
    assert bank_images.shape == (30, 4, 1, 8, 8)
    for task in tasks:
        assert task.support_x.shape == (5, 1, 8, 8) and task.query_x.shape == (15, 1, 8, 8)
        # every class of a task is one of the bank's classes as it was before the renewal (anchors distinct)
        assert len({tuple(x.flatten().tolist()) for x in task.support_x}) == 5
    # a changed layout or sampling parameter rebuilds the bank
    las.sample_tasks(2, 5, 1, 5, random_state=1)
    assert las._class_bank.images.shape == (30, 6, 1, 8, 8)
    las.set_params(sigma2=0.1)
    key = las._class_bank.key
    las.sample_tasks(2, 5, 1, 5, random_state=1)
    assert las._class_bank.key != key


def test_class_reuse_keeps_epsilon_and_bank_size_limits(gan_lasium):
    # class_reuse so large that no class is renewed: each support image maps back to its bank class
    las = variant(gan_lasium, class_reuse=1e12, bank_size=40, epsilon=5.0, query_augmentation="none")
    las._class_bank = None
    tasks = las.sample_tasks(20, 4, 1, 2, random_state=0)
    bank_images, bank_anchors = las._class_bank.images, las._class_bank.anchors
    first_images = bank_images[:, 0].flatten(1)
    for task in tasks:
        slots = torch.cdist(task.support_x.flatten(1), first_images).argmin(1)
        assert len(set(slots.tolist())) == 4
        distances = torch.pdist(bank_anchors[slots])
        assert float(distances.min()) >= 5.0
    with pytest.raises(ValueError, match="bank_size"):
        variant(gan_lasium, class_reuse=2.0, bank_size=3).sample_tasks(1, 5, 1, 1)
    with pytest.raises(ValueError, match="epsilon"):
        variant(gan_lasium, class_reuse=2.0, bank_size=10, epsilon=1e6, max_redraws=3).sample_tasks(2, 5, 1, 1)


def test_class_reuse_bank_is_not_saved_and_refit_discards_it(tmp_path, X_digits):
    las = LASIUM(latent_dim=4, random_state=0, class_reuse=3.0, bank_size=20, **FAST).fit(X_digits[:100])
    las.sample_tasks(2, 5, 1, 2, random_state=0)
    assert las._class_bank is not None
    loaded = LASIUM.load(las.save(tmp_path / "bank.pt"))
    assert getattr(loaded, "_class_bank", None) is None
    las.fit(X_digits[:100])
    assert las._class_bank is None


def test_autoencoder_backend_by_name_trains_a_metaaug_autoencoder(tmp_path, X_digits):
    from metaaug import AE, AugIntAE

    las = LASIUM(backend="ae", epochs=1, hidden=8, latent_dim=6, verbose=False, random_state=0, device="cpu").fit(
        X_digits[:200]
    )
    assert isinstance(las.backend_, AE) and las.backend_.hidden == 8
    assert las.backend_.latent_dim == 6 and not las.backend_.verbose
    assert las.backend_kind_ == "custom" and las._sigma2() == 0.001  # unit-sphere latents: smaller noise
    assert las.sample_latents(2, 5, 1, 3, random_state=0).shape == (2, 5, 4, 6)
    twin = LASIUM(backend="ae", epochs=1, hidden=8, latent_dim=6, verbose=False, random_state=0, device="cpu").fit(
        X_digits[:200]
    )
    a, b = las.sample_tasks(2, random_state=4), twin.sample_tasks(2, random_state=4)
    assert torch.equal(a[1].query_x, b[1].query_x)
    loaded = LASIUM.load(las.save(tmp_path / "ae.pt"))
    assert torch.equal(loaded.sample_tasks(2, random_state=4)[1].query_x, a[1].query_x)
    augintae = LASIUM(backend="augintae", epochs=1, hidden=4, verbose=False, device="cpu").fit(X_digits[:64])
    assert isinstance(augintae.backend_, AugIntAE)


def test_sigma2_default_depends_on_the_anchor_source(vae_lasium, gan_lasium, codec_lasium):
    assert vae_lasium.sigma2 is None
    assert vae_lasium._sigma2() == codec_lasium._sigma2() == SIGMA2_DEFAULTS["data"] == 0.03
    # prior anchors (the GAN's 128-d N(0, I)): the paper's range, not the encoded-anchor value
    assert gan_lasium._sigma2() == SIGMA2_DEFAULTS["prior"]
    assert 0.25 <= SIGMA2_DEFAULTS["prior"] <= 1.0
    assert variant(vae_lasium, anchors="prior")._sigma2() == SIGMA2_DEFAULTS["prior"]
    assert variant(vae_lasium, sigma2=0.2)._sigma2() == 0.2


def test_save_load_gives_identical_tasks(tmp_path, vae_lasium, gan_lasium):
    for las in (vae_lasium, gan_lasium):
        path = las.save(tmp_path / f"{las.backend}.pt")
        loaded = LASIUM.load(path)
        a = las.sample_tasks(3, 5, 1, 3, random_state=11)
        b = loaded.sample_tasks(3, 5, 1, 3, random_state=11)
        assert all(torch.equal(x.support_x, y.support_x) and torch.equal(x.query_x, y.query_x) for x, y in zip(a, b))


def test_same_random_state_same_fit(X_digits):
    a = LASIUM(latent_dim=4, random_state=3, **FAST).fit(X_digits[:200])
    b = LASIUM(latent_dim=4, random_state=3, **FAST).fit(X_digits[:200])
    assert np.array_equal(a.loss_curve_, b.loss_curve_)
    assert torch.equal(a.sample_tasks(2, random_state=0)[0].query_x, b.sample_tasks(2, random_state=0)[0].query_x)


def test_clone_and_params():
    las = LASIUM(strategy="RO", alpha=0.3)
    copy_ = clone(las)
    assert copy_.get_params()["strategy"] == "RO" and copy_.get_params()["alpha"] == 0.3
    assert not hasattr(copy_, "backend_")


def test_plot_tasks_writes_png(tmp_path, vae_lasium):
    from PIL import Image

    path = vae_lasium.plot_tasks(tmp_path / "grid.png", n_tasks=2, n_ways=3, k_query=4, random_state=0)
    image = Image.open(path)
    assert image.size[0] > image.size[1] / 2 and image.mode == "RGB"


# ----------------------------------------------------------------- bad input
def test_not_fitted():
    with pytest.raises(NotFittedError):
        LASIUM().sample_tasks(1)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(backend="diffusion"), "backend must be one of"),
        (dict(backend=object()), r"encode\(\) and decode\(\)"),
        (dict(batch_size=1), "batch_size"),
        (dict(epochs=0), "epochs"),
        (dict(max_time=0.0), "max_time"),
        (dict(lr=0.0), "lr"),
        (dict(beta=-1.0), "beta"),
        (dict(mode_seeking=-0.5), "mode_seeking"),
        (dict(max_redraws=0), "max_redraws"),
        (dict(verbose="yes"), "verbose"),
        (dict(strategy="XX"), "strategy must be one of"),
        (dict(sigma2=0.0), "sigma2"),
        (dict(sigma2=-1.0), "sigma2"),
        (dict(alpha=0.0), "alpha"),
        (dict(alpha=1.0), "alpha"),
        (dict(alpha=1.5), "alpha"),
        (dict(epsilon=-1.0), "epsilon"),
        (dict(query_shift=-2), "query_shift"),
        (dict(query_augmentation="crop"), "query_augmentation"),
        (dict(class_reuse=0.5), "class_reuse"),
        (dict(class_reuse=float("inf")), "class_reuse"),
        (dict(bank_size=0), "bank_size"),
        (dict(binarize="yes"), "binarize"),
    ],
)
def test_bad_parameters(X_digits, params, match):
    with pytest.raises(ValueError, match=match):
        LASIUM(**params, **{k: v for k, v in FAST.items() if k not in params}).fit(X_digits[:20])


def test_oc_needs_two_ways(vae_lasium):
    with pytest.raises(ValueError, match="n_ways >= 2"):
        variant(vae_lasium, strategy="OC").sample_tasks(2, n_ways=1)


def test_too_few_images_for_vae_anchors(X_digits):
    las = LASIUM(latent_dim=2, **FAST).fit(X_digits[:3])
    with pytest.raises(ValueError, match="n_ways=5 distinct real anchors.*3 image"):
        las.sample_tasks(1, n_ways=5)


def test_bad_images():
    with pytest.raises(ValueError):
        LASIUM(**FAST).fit(np.full((10, 8, 8), 3.0))
    with pytest.raises(ValueError):
        LASIUM(**FAST).fit(np.zeros((1, 8, 8)))


def test_bad_task_args(vae_lasium):
    with pytest.raises(ValueError, match="k_shot"):
        vae_lasium.sample_tasks(2, k_shot=0)


# ---------------------------------------------------------------- learnable
def test_protonet_learns_from_lasium_tasks(digits):
    """A short LASIUM fit on digits gives tasks with learnable class structure.

    The meta-trained ProtoNet beats the untrained backbone (same architecture)
    on fresh LASIUM tasks. (On real 5-9 digit tasks after training on 0-4 even
    a supervised ProtoNet does not beat the untrained backbone at this budget,
    so the transfer claim is measured on Omniglot in the benchmark instead.)
    """
    from metaaug._random import check_rng, torch_seeded
    from metaaug.fewshot import ProtoNetClassifier

    X, _ = digits
    las = LASIUM(hidden=8, latent_dim=8, epochs=25, batch_size=64, random_state=0, verbose=False, device="cpu").fit(
        X[::2]
    )
    held_out = las.sample_tasks(100, 5, 1, 5, random_state=123)
    clf = ProtoNetClassifier(
        n_ways=5, k_shot=1, k_query=5, n_iterations=60, hidden=16, verbose=False, random_state=0, device="cpu"
    ).fit(las)
    untrained = ProtoNetClassifier(hidden=16, verbose=False, device="cpu")
    untrained.image_shape_ = (1, 8, 8)
    with torch_seeded(check_rng(0)):
        untrained._build_modules()
    untrained.model_.eval()
    trained_acc, _ = clf.evaluate(held_out)
    untrained_acc, _ = untrained.evaluate(held_out)
    assert clf.loss_curve_[-10:].mean() < clf.loss_curve_[:10].mean()
    assert trained_acc > untrained_acc + 0.05, (trained_acc, untrained_acc)


def _conv_weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p for p in module.parameters() if p.dim() == 4]


def test_backends_are_channels_last_after_fit_and_load_and_match_the_default_layout(tmp_path, vae_lasium):
    loaded = LASIUM.load(vae_lasium.save(tmp_path / "vae.pt"))
    for las in (vae_lasium, loaded):
        weights = _conv_weights(las.backend_)
        assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    default_layout = copy.deepcopy(vae_lasium.backend_).to(memory_format=torch.contiguous_format).eval()
    assert not all(w.is_contiguous(memory_format=torch.channels_last) for w in _conv_weights(default_layout))
    latents = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fast = loaded.backend_.eval().decode(latents)
        reference = default_layout.decode(latents)
    assert torch.allclose(fast, reference, atol=1e-5)


def test_binarize_auto_thresholds_autoencoder_decodings_of_line_drawings(X_digits):
    from metaaug.data.images import is_line_drawing

    drawings = (X_digits[:120] > 0.5).float()  # nearly binary one-channel images
    assert is_line_drawing(drawings) and not is_line_drawing(X_digits)
    assert not is_line_drawing(drawings.expand(-1, 3, -1, -1))
    las = LASIUM(backend="ae", epochs=1, hidden=4, latent_dim=4, random_state=0, verbose=False, device="cpu").fit(
        drawings
    )
    assert las.line_drawings_ and las._binarizes()
    queries = las.sample_tasks(2, 3, 1, 3, random_state=0)[0].query_x
    assert set(torch.unique(queries).tolist()) <= {0.0, 1.0}
    assert not variant(las, binarize=False)._binarizes()
    soft = LASIUM(backend="ae", epochs=1, hidden=4, latent_dim=4, random_state=0, verbose=False, device="cpu").fit(
        X_digits[:120]
    )
    assert not soft._binarizes()
    vae = LASIUM(latent_dim=4, random_state=0, **FAST).fit(drawings)
    assert vae.line_drawings_ and not vae._binarizes()  # "auto" leaves the VAE's faint strokes alone
    assert variant(vae, binarize=True)._binarizes()
    del las.line_drawings_  # a model saved before the attribute existed
    assert las._binarizes()


# ------------------------------------------------------- fitted attributes
def test_training_attributes_follow_the_conventions(vae_lasium, gan_lasium, codec_lasium):
    assert LASIUM().verbose is True
    for las, terms in (
        (vae_lasium, {"reconstruction", "kl"}),
        (gan_lasium, {"adversarial", "mode_seeking", "discriminator"}),
    ):
        assert las.n_iter_ == 2  # one epoch of 400 images in batches of 256
        assert las.loss_curve_.dtype == np.float32 and las.loss_curve_.shape == (las.n_iter_,)
        assert set(las.loss_terms_) == terms
        assert all(v.dtype == np.float32 and v.shape == (las.n_iter_,) for v in las.loss_terms_.values())
        assert las.fit_time_ > 0
    vae_total = vae_lasium.loss_terms_["reconstruction"] + vae_lasium.loss_terms_["kl"]
    np.testing.assert_allclose(vae_total, vae_lasium.loss_curve_, rtol=1e-5)
    gan_total = gan_lasium.loss_terms_["adversarial"] + gan_lasium.loss_terms_["mode_seeking"]
    np.testing.assert_allclose(gan_total, gan_lasium.loss_curve_, rtol=1e-5)
    assert codec_lasium.n_iter_ == 0 and codec_lasium.loss_curve_.shape == (0,) and codec_lasium.loss_terms_ == {}


def test_model_files_with_epochs_done_still_load(tmp_path, vae_lasium):
    path = vae_lasium.save(tmp_path / "new.pt")
    payload = torch.load(path, weights_only=True)
    payload["fitted"]["epochs_done_"] = payload["fitted"].pop("n_iter_")
    payload.pop("checksum", None)  # files of that time had no checksum
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    loaded = LASIUM.load(old)
    assert loaded.n_iter_ == vae_lasium.n_iter_ and not hasattr(loaded, "epochs_done_")


# ------------------------------------------------------- sibling modules
def test_class_bank_fills_serves_distinct_classes_and_renews_by_stochastic_rounding():
    from metaaug.samplers.class_bank import ClassBank

    def generate(n_groups: int) -> tuple[torch.Tensor, torch.Tensor]:
        anchors = torch.randn(n_groups, 3, 2)
        return anchors[..., :1, None, None, None].expand(-1, -1, 2, 1, 1, 1).clone(), anchors

    torch.manual_seed(0)
    bank = ClassBank.filled("key", 10, 3, generate)
    assert bank.size == 10 and bank.images.shape == (10, 2, 1, 1, 1) and bank.anchors.shape == (10, 2)
    anchors, index = bank.candidates(50, 3)
    assert all(len(set(row.tolist())) == 3 for row in index)
    torch.testing.assert_close(anchors, bank.anchors[index])
    renewed = []
    for _ in range(200):
        before = bank.anchors.clone()
        bank.renew(2.5, 3, generate)
        renewed.append(int((bank.anchors != before).any(1).sum()))
    assert set(renewed) <= {2, 3} and abs(np.mean(renewed) - 2.5) < 0.15
    served = bank.serve(4, 3, 1e12, generate, epsilon=0.0, max_redraws=1)
    assert served.shape == (4, 3, 2, 1, 1, 1)


def test_separated_redraws_only_failing_tasks_and_reports_the_best_distance():
    from metaaug.samplers._common import separated

    calls = []

    def candidates(n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        calls.append(n)
        return torch.randn(n, 3, 4), None

    torch.manual_seed(0)
    anchors, index = separated(candidates, 40, 3, epsilon=1.5, max_redraws=50)
    assert index is None and anchors.shape == (40, 3, 4)
    assert float(torch.pdist(anchors[0]).min()) >= 1.5 and calls[0] == 40 and all(n < 40 for n in calls[1:])
    with pytest.raises(ValueError, match="epsilon=100.0 is too large.*after 2 redraws"):
        separated(candidates, 5, 3, epsilon=100.0, max_redraws=2)
