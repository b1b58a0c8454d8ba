"""LASIUM over generators the user brings: priors, decoding, output handling, devices, saving, bad input."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from metaaug.nets.msgan import MSGANGenerator
from metaaug.samplers import GeneratorAdapter
from metaaug.samplers.lasium import LASIUM, SIGMA2_DEFAULTS

HYP = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
QUIET = dict(verbose=False, device="cpu", random_state=0)


class TinyGenerator(nn.Module):
    """Latents ``(N, latent_dim)`` -> ``(N, channels, size, size)`` through a sigmoid or a tanh."""

    def __init__(self, latent_dim: int = 6, channels: int = 1, size: int = 8, tanh: bool = False) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.shape = (channels, size, size)
        self.linear = nn.Linear(latent_dim, channels * size * size)
        self.squash = nn.Tanh() if tanh else nn.Sigmoid()
        self.calls: list[tuple[int, torch.device]] = []

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.calls.append((len(z), z.device))
        return self.squash(3 * self.linear(z)).view(len(z), *self.shape)


class Codec(nn.Module):
    """Encode / decode with a ``forward`` that is neither (so calling it instead of ``decode`` fails)."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(64, 5)
        self.dec = nn.Linear(5, 64)
        self.encode_devices: list[torch.device] = []

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        self.encode_devices.append(images.device)
        return self.enc(images.reshape(len(images), -1))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.dec(latents)).view(len(latents), 1, 8, 8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raise AssertionError("forward must not be used to decode")


@pytest.fixture(scope="module")
def X_digits():
    from metaaug.data import load_digits

    return load_digits()[0][:200]


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    return TinyGenerator()


def tasks_equal(a, b) -> bool:
    return all(torch.equal(x.support_x, y.support_x) and torch.equal(x.query_x, y.query_x) for x, y in zip(a, b))


# ------------------------------------------------------------------ backends
def test_decoder_only_module_needs_no_images_and_decodes_prior_anchors(generator):
    las = LASIUM(backend=generator, **QUIET).fit()
    assert las.backend_kind_ == "generator" and las.latent_dim_ == 6 and las.image_shape_ == (1, 8, 8)
    assert las.output_range_ == (0.0, 1.0) and len(las.anchor_images_) == 0
    tasks = las.sample_tasks(3, 4, 1, 2, random_state=1)
    assert tasks[0].support_x.shape == (4, 1, 8, 8) and tasks[0].query_x.shape == (8, 1, 8, 8)
    assert tasks_equal(tasks, las.sample_tasks(3, 4, 1, 2, random_state=1))
    # the support images are the decoded prior anchors
    anchors = las.sample_latents(3, 4, 1, 2, random_state=1)[:, :, 0]
    with torch.no_grad():
        expected = generator(anchors.reshape(-1, 6)).view(3, 4, 1, 8, 8)
    torch.testing.assert_close(torch.stack([t.support_x for t in tasks]), expected.view(3, 4, 1, 8, 8))


def test_callable_generator_with_latent_dim(generator):
    def fn(z: torch.Tensor) -> torch.Tensor:
        return generator(z)

    with pytest.raises(ValueError, match="latent size is unknown"):
        LASIUM(backend=fn, **QUIET).fit()
    las = LASIUM(backend=fn, latent_dim=6, **QUIET).fit()
    direct = LASIUM(backend=generator, **QUIET).fit()
    assert tasks_equal(las.sample_tasks(2, 3, 1, 2, random_state=4), direct.sample_tasks(2, 3, 1, 2, random_state=4))


def test_module_with_encode_decode_is_decoded_by_decode_on_both_anchor_paths(X_digits):
    torch.manual_seed(0)
    codec = Codec()
    las = LASIUM(backend=codec, **QUIET).fit(X_digits)
    assert las.backend_kind_ == "custom" and las._anchor_mode() == "data"
    tasks = las.sample_tasks(2, 3, 1, 2, random_state=0)
    # data anchors: the first image of each class is a real training image
    assert all(any(torch.equal(img, x) for x in X_digits) for img in tasks[0].support_x)
    prior = LASIUM(backend=codec, anchors="prior", latent_dim=5, **QUIET).fit()
    assert prior.sample_tasks(2, 3, 1, 2, random_state=0)[0].support_x.shape == (3, 1, 8, 8)
    assert codec.encode_devices and all(d.type == "cpu" for d in codec.encode_devices)


def test_vae_module_passed_as_a_codec_uses_its_posterior(X_digits):
    from metaaug.nets.vae import ConvVAE

    torch.manual_seed(0)
    vae = ConvVAE((1, 8, 8), latent_dim=4, hidden=4)
    las = LASIUM(backend=vae, **QUIET).fit(X_digits)
    assert las.latent_mean_.shape == (200, 4) and torch.isfinite(las.latent_log_variance_).all()
    assert las.sample_tasks(2, 3, 1, 2, random_state=0)[0].query_x.shape == (6, 1, 8, 8)


def test_external_msgan_gives_the_same_tasks_as_backend_gan(X_digits):
    las = LASIUM(backend="gan", hidden=4, latent_dim=16, epochs=1, batch_size=256, **QUIET).fit(X_digits)
    plain: nn.Module = copy.deepcopy(las.backend_)
    external = LASIUM(backend=plain, **QUIET).fit()
    for strategy in ("N", "RO", "OC"):
        a = copy.copy(las).set_params(strategy=strategy).sample_tasks(3, 5, 1, 3, random_state=2)
        b = copy.copy(external).set_params(strategy=strategy).sample_tasks(3, 5, 1, 3, random_state=2)
        assert tasks_equal(a, b), strategy
    assert external._sigma2() == las._sigma2() == SIGMA2_DEFAULTS["prior"]


def test_vae_prior_anchors_are_decoded_prior_draws(X_digits):
    las = LASIUM(backend="vae", hidden=4, latent_dim=4, epochs=1, batch_size=256, anchors="prior", **QUIET)
    las.fit(X_digits)
    tasks = las.sample_tasks(2, 3, 1, 2, random_state=0)
    assert not any(torch.equal(tasks[0].support_x[0], x) for x in X_digits)
    with pytest.raises(ValueError, match="anchors='data'.*encode"):
        LASIUM(backend="gan", anchors="data", **QUIET).fit(X_digits)


# ------------------------------------------------------------ output handling
def test_tanh_outputs_are_mapped_to_unit_range():
    torch.manual_seed(0)
    tanh = TinyGenerator(tanh=True)
    auto = LASIUM(backend=tanh, query_shift=0, **QUIET).fit()
    assert auto.output_range_ == (-1.0, 1.0)
    declared = LASIUM(backend=tanh, query_shift=0, output_range=(-1, 1), **QUIET).fit()
    latents = auto.sample_latents(2, 3, 1, 2, random_state=5)
    with torch.no_grad():
        expected = (tanh(latents.reshape(-1, 6)) + 1) / 2
    for las in (auto, declared):
        tasks = las.sample_tasks(2, 3, 1, 2, random_state=5)
        torch.testing.assert_close(
            torch.stack([t.support_x for t in tasks]).flatten(), expected.view(2, 3, 3, 1, 8, 8)[:, :, 0].flatten()
        )
        assert float(tasks[0].query_x.min()) >= 0 and float(tasks[0].query_x.max()) <= 1


def test_resizing_and_channel_conversion():
    torch.manual_seed(0)
    rgb = TinyGenerator(channels=3, size=16)
    grey = LASIUM(backend=rgb, image_size=8, channels=1, query_shift=0, **QUIET).fit()
    assert grey.image_shape_ == (1, 8, 8)
    latents = grey.sample_latents(1, 2, 1, 0, random_state=0)[:, :, 0].reshape(-1, 6)
    with torch.no_grad():
        raw = rgb(latents)
    small = F.interpolate(raw, size=(8, 8), mode="bilinear", align_corners=False, antialias=True)
    luma = 0.299 * small[:, 0] + 0.587 * small[:, 1] + 0.114 * small[:, 2]
    support = grey.sample_tasks(1, 2, 1, 0, random_state=0)[0].support_x
    torch.testing.assert_close(support[:, 0], luma)
    to_rgb = LASIUM(backend=TinyGenerator(), channels=3, image_size=12, **QUIET).fit()
    x = to_rgb.sample_tasks(1, 2, 1, 1, random_state=0)[0].support_x
    assert x.shape == (2, 3, 12, 12) and torch.equal(x[:, 0], x[:, 2])


def test_images_given_set_the_task_shape(generator, X_digits):
    big = TinyGenerator(size=16)
    las = LASIUM(backend=big, **QUIET).fit(X_digits)  # prior anchors, tasks at the data's 8x8
    assert las.image_shape_ == (1, 8, 8) and las.sample_tasks(1, 2, 1, 1, random_state=0)[0].query_x.shape == (
        2,
        1,
        8,
        8,
    )


# ------------------------------------------------------------ decoding
def test_decoding_is_batched_without_grad_and_restores_train_mode(generator):
    generator.train()
    las = LASIUM(backend=generator, decode_batch_size=7, **QUIET).fit()
    generator.calls.clear()
    las.sample_tasks(2, 5, 1, 3, random_state=0)  # 2 * 5 * 4 = 40 latents
    assert [n for n, _ in generator.calls] == [7, 7, 7, 7, 7, 5]
    assert generator.training and all(m.training for m in generator.modules())
    generator.eval()


def test_device_round_trip_and_a_generator_on_another_device(generator):
    meta = TinyGenerator().to("meta")
    with pytest.raises(ValueError, match="parameters are on meta but device='cpu'"):
        LASIUM(backend=meta, **QUIET).fit()
    if not torch.cuda.is_available():
        return
    gpu = copy.deepcopy(generator).cuda()
    las = LASIUM(backend=gpu, verbose=False, random_state=0).fit()
    tasks = las.sample_tasks(2, 3, 1, 2, random_state=0)
    assert tasks[0].support_x.device.type == "cpu" and gpu.calls[-1][1].type == "cuda"
    cpu_tasks = LASIUM(backend=generator, **QUIET).fit().sample_tasks(2, 3, 1, 2, random_state=0)
    torch.testing.assert_close(tasks[0].support_x, cpu_tasks[0].support_x, atol=1e-5, rtol=0)


def test_generator_adapter_passes_extra_inputs_and_reshapes_latents():
    class Conditional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(4 + 3, 64)

        def forward(self, z: torch.Tensor, labels: torch.Tensor, truncation: float) -> torch.Tensor:
            assert z.shape[1:] == (4, 1, 1) and labels.shape == (len(z), 3) and truncation == 0.5
            return torch.sigmoid(self.linear(torch.cat([z.flatten(1) * truncation, labels], 1))).view(-1, 1, 8, 8)

    label = torch.tensor([0.0, 1.0, 0.0])
    adapter = GeneratorAdapter(
        Conditional(), latent_dim=4, latent_shape=(4, 1, 1), args=(lambda z: label.expand(len(z), 3), 0.5)
    )
    las = LASIUM(backend=adapter, **QUIET).fit()
    assert las.latent_dim_ == 4 and las.sample_tasks(2, 3, 1, 1, random_state=0)[0].support_x.shape == (3, 1, 8, 8)


# ------------------------------------------------------------ priors and geometry
def test_priors(generator):
    las = LASIUM(backend=generator, prior="uniform", **QUIET).fit()
    z = las.sample_latents(50, 5, 1, 0, random_state=0)
    assert float(z.min()) >= -1 and float(z.max()) <= 1 and float(z.min()) < -0.9
    z = las.set_params(prior="truncated_normal").sample_latents(50, 5, 1, 0, random_state=0)
    assert float(z.abs().max()) <= 2 and float(z.std()) > 0.8
    fixed = las.set_params(prior=lambda shape: torch.full(shape, 0.25)).sample_latents(2, 3, 1, 0, random_state=0)
    assert torch.equal(fixed, torch.full((2, 3, 1, 6), 0.25))
    with pytest.raises(ValueError, match="requested shape"):
        las.set_params(prior=lambda shape: torch.zeros(3)).sample_tasks(1, 2, 1, 1)


@HYP
@given(alpha=st.floats(0.05, 0.95), n_ways=st.integers(2, 6), seed=st.integers(0, 1000))
def test_prior_anchor_geometry_of_ro_and_oc(generator, alpha, n_ways, seed):
    las = LASIUM(backend=generator, prior="uniform", alpha=alpha, **QUIET).fit()
    z = las.set_params(strategy="OC").sample_latents(2, n_ways, 1, 4, random_state=seed)
    anchors = z[:, :, 0]
    for m in range(4):
        target = anchors[:, (torch.arange(n_ways) + 1 + m % (n_ways - 1)) % n_ways]
        torch.testing.assert_close(z[:, :, m + 1], anchors + alpha * (target - anchors))
    ro = las.set_params(strategy="RO").sample_latents(2, n_ways, 1, 4, random_state=seed)
    # RO moves alpha of the way to a uniform prior draw: it stays in the prior's box, alpha-close to the anchor
    step = (ro[:, :, 1:] - ro[:, :, :1]).abs()
    assert float(ro.abs().max()) <= 1 + 1e-6 and float(step.max()) <= 2 * alpha + 1e-6


@HYP
@given(sigma2=st.floats(0.05, 2.0), epsilon=st.floats(0.0, 3.0), seed=st.integers(0, 1000))
def test_prior_anchor_n_variance_and_epsilon(generator, sigma2, epsilon, seed):
    las = LASIUM(backend=generator, sigma2=sigma2, epsilon=epsilon, **QUIET).fit()
    z = las.sample_latents(40, 3, 1, 20, random_state=seed)
    offsets = z[:, :, 1:] - z[:, :, :1]
    assert abs(float(offsets.var()) / sigma2 - 1) < 0.1
    distances = torch.cdist(z[:, :, 0], z[:, :, 0])[:, ~torch.eye(3, dtype=torch.bool)]
    assert float(distances.min()) >= epsilon


# ------------------------------------------------------------ saving
class SavableGenerator(TinyGenerator):
    """Importable from this test module, so that its class can be referenced in a model file."""


def test_save_with_the_generator_and_an_allowed_module(tmp_path):
    torch.manual_seed(0)
    gen = SavableGenerator(latent_dim=5)
    las = LASIUM(backend=gen, **QUIET).fit()
    path = las.save(tmp_path / "g.pt", backend_kwargs={"latent_dim": 5})
    with pytest.raises(ValueError, match="not in the allowed modules"):
        LASIUM.load(path)
    loaded = LASIUM.load(path, allowed_modules=[SavableGenerator.__module__])
    assert type(loaded.backend_) is SavableGenerator and loaded.backend is loaded.backend_
    assert tasks_equal(loaded.sample_tasks(3, 4, 1, 2, random_state=3), las.sample_tasks(3, 4, 1, 2, random_state=3))


def test_save_msgan_module_by_its_init_kwargs(tmp_path):
    gan = MSGANGenerator((1, 8, 8), latent_dim=8, hidden=4)
    las = LASIUM(backend=gan, strategy="RO", **QUIET).fit()
    loaded = LASIUM.load(las.save(tmp_path / "m.pt"))  # metaaug's own classes need no allow-list
    assert tasks_equal(loaded.sample_tasks(2, 3, 1, 2, random_state=1), las.sample_tasks(2, 3, 1, 2, random_state=1))


def test_save_without_the_generator_and_supply_it_at_load(tmp_path, generator):
    def fn(z: torch.Tensor) -> torch.Tensor:
        return generator(z)

    las = LASIUM(backend=fn, latent_dim=6, strategy="OC", **QUIET).fit()
    with pytest.raises(ValueError, match="include_backend=False"):
        las.save(tmp_path / "x.pt")
    path = las.save(tmp_path / "x.pt", include_backend=False)
    with pytest.raises(ValueError, match=r"saved without its generator.*backend=generator"):
        LASIUM.load(path)
    loaded = LASIUM.load(path, backend=fn)
    assert tasks_equal(loaded.sample_tasks(2, 3, 1, 2, random_state=7), las.sample_tasks(2, 3, 1, 2, random_state=7))
    local = type("Local", (TinyGenerator,), {"__qualname__": "f.<locals>.Local"})()
    with pytest.raises(ValueError, match="cannot be imported"):
        LASIUM(backend=local, **QUIET).fit().save(tmp_path / "l.pt")


def test_a_callable_prior_is_not_saved(tmp_path, generator):
    las = LASIUM(backend=generator, prior=lambda shape: torch.zeros(shape), **QUIET).fit()
    with pytest.raises(TypeError, match="cannot save 'prior'"):
        las.save(tmp_path / "p.pt", include_backend=False)


def test_backend_at_load_only_for_user_generators(tmp_path, X_digits):
    las = LASIUM(backend="vae", hidden=4, latent_dim=4, epochs=1, batch_size=256, **QUIET).fit(X_digits)
    with pytest.raises(ValueError, match="backend= is only for"):
        LASIUM.load(las.save(tmp_path / "v.pt"), backend=TinyGenerator())


# ------------------------------------------------------------ bad input
class Bad(nn.Module):
    def __init__(self, out) -> None:
        super().__init__()
        self.latent_dim = 6
        self.out = out

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(z)


@pytest.mark.parametrize(
    ("out", "params", "match"),
    [
        (lambda z: torch.rand(len(z), 64), {}, r"image batch \(N, C, H, W\)"),
        (lambda z: torch.rand(len(z), 1, 1, 8, 8), {}, r"image batch \(N, C, H, W\)"),
        (lambda z: torch.rand(len(z) + 1, 1, 8, 8), {}, "returned 9 images for 8 latents"),
        (lambda z: 255 * torch.rand(len(z), 1, 8, 8), {}, "fits neither"),
        (lambda z: 255 * torch.rand(len(z), 1, 8, 8), {"output_range": (0, 1)}, "far outside"),
        (lambda z: torch.full((len(z), 1, 8, 8), float("nan")), {}, "NaN"),
        (lambda z: [z], {}, "must return a tensor"),
    ],
)
def test_bad_generator_outputs(out, params, match):
    with pytest.raises(ValueError, match=match):
        LASIUM(backend=Bad(out), **params, **QUIET).fit()


def test_bad_output_during_sampling_is_caught():
    calls = {"n": 0}

    def flaky(z: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return torch.rand(len(z), 1, 8, 8) * (1 if calls["n"] == 1 else float("nan"))

    las = LASIUM(backend=flaky, latent_dim=3, **QUIET).fit()
    with pytest.raises(ValueError, match="NaN"):
        las.sample_tasks(1, 2, 1, 1)


def test_latent_size_mismatch_and_other_bad_settings(generator, X_digits):
    with pytest.raises(ValueError, match=r"failed on a latent batch of shape \(8, 9\).*latent_dim"):
        LASIUM(backend=lambda z: generator(z), latent_dim=9, **QUIET).fit()
    with pytest.raises(ValueError, match="latent_dim=9 does not match the generator's latent size 6"):
        LASIUM(backend=MSGANGenerator((1, 8, 8), latent_dim=6, hidden=2), latent_dim=9, **QUIET).fit()
    with pytest.raises(ValueError, match="anchors='data'.*has none"):
        LASIUM(backend=generator, anchors="data", **QUIET).fit(X_digits)
    unfitted = LASIUM(backend="vae", **QUIET)
    with pytest.raises(ValueError, match="fit\\(\\) needs images"):
        unfitted.fit()
    assert not hasattr(unfitted, "backend_kind_")
    with pytest.raises(ValueError, match="output_range"):
        LASIUM(backend=generator, output_range=(1, 0), **QUIET).fit()
    with pytest.raises(ValueError, match="image_size and channels must match"):
        LASIUM(backend=Codec(), image_size=4, **QUIET).fit(X_digits)
    with pytest.raises(ValueError, match="backend"):
        LASIUM(backend=42, **QUIET).fit()


def test_epsilon_that_rejects_every_prior_draw_fails_fast(generator):
    las = LASIUM(backend=generator, epsilon=1e3, max_redraws=5, **QUIET).fit()
    with pytest.raises(ValueError, match="epsilon=1000.0 is too large"):
        las.sample_tasks(4, 5, 1, 1)


def test_protonet_trains_on_a_user_generator(generator):
    from metaaug.fewshot import ProtoNetClassifier

    las = LASIUM(backend=generator, **QUIET).fit()
    clf = ProtoNetClassifier(n_ways=3, k_shot=1, k_query=2, n_iterations=3, hidden=4, verbose=False, device="cpu")
    clf.fit(las)
    assert clf.n_iter_ == 3 and np.isfinite(clf.loss_curve_).all()
