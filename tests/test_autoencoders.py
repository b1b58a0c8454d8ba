"""AE, IntAE and AugIntAE: fitting, sampling, persistence, bad input, augmenter use."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from metaaug import AE, AugIntAE, IntAE, load
from metaaug.data import AugmentedDataset
from metaaug.generators.interpolative import InterpolativeAutoencoder
from metaaug.nets.autoencoders import Encoder, Generator, discriminator


@pytest.fixture(scope="module")
def characters(dev_split):
    (X_train, _), (X_test, y_test) = dev_split
    return X_train[:512], X_test, y_test


@pytest.fixture(scope="module")
def fitted(characters):
    """One AugIntAE per module on 512 real 28x28 characters (2 short epochs)."""
    X, _, _ = characters
    return AugIntAE(epochs=2, batch_size=64, hidden=8, verbose=False, random_state=0).fit(X)


def test_short_fit_reduces_the_loss(fitted, characters):
    curve = fitted.loss_curve_
    assert curve.dtype == np.float32 and curve.shape == (2 * 8,) and fitted.n_iter_ == 16  # 512 / 64 per epoch
    assert curve[-8:].mean() < curve[:8].mean()
    assert set(fitted.loss_terms_) == {"interpolation", "reconstruction"}  # reconstruction_weight=1 by default
    assert fitted.image_shape_ == (1, 28, 28) and fitted.architecture_ == "infogan"
    assert fitted.latent_dim_ == 64 and fitted.encoder_(torch.zeros(1, 1, 28, 28)).shape == (1, 64)  # AugIntAE's size


def test_latent_size_defaults_follow_the_class_and_layout(digits):
    X, _ = digits
    short = {"epochs": 1, "hidden": 4, "batch_size": 32, "verbose": False, "random_state": 0}
    assert AE(**short).fit(X[:32]).latent_dim_ == 32  # the papers' size for characters
    assert AugIntAE(latent_dim=32, **short).fit(X[:32]).latent_dim_ == 32
    assert AugIntAE.from_preset("augintae-paper", **short).latent_dim == 32
    assert AugIntAE(**short).fit(torch.rand(32, 3, 32, 32)).latent_dim_ == 512  # RGB keeps the paper's


@pytest.mark.parametrize("cls", [AE, IntAE])
def test_baselines_fit_and_learn(cls, digits):
    X, _ = digits
    model = cls(epochs=3, hidden=8, verbose=False, random_state=0).fit(X[:512])
    assert len(model.loss_curve_) == model.n_iter_ == 3 * 8
    assert model.loss_curve_[-8:].mean() < model.loss_curve_[:8].mean()
    assert (hasattr(model, "discriminator_")) == (cls is IntAE)
    if cls is IntAE:  # the terms add up to the total at every step
        assert set(model.loss_terms_) == {"reconstruction", "adversarial"}
        total = model.loss_terms_["reconstruction"] + model.loss_terms_["adversarial"]
        assert np.allclose(total, model.loss_curve_, rtol=1e-5)
    else:
        assert not hasattr(model, "loss_terms_")


def test_adversarial_and_perceptual_options_train(digits):
    X, _ = digits
    model = AugIntAE(
        adversarial=True, perceptual=True, reconstruction_weight=1.0, epochs=2, hidden=8, verbose=False, random_state=0
    ).fit(X[:256])
    assert 0.0 <= model.k_ <= 1.0 and model.k_ < 1.0  # k moved under the critic-balance rule
    assert np.isfinite(model.loss_curve_).all()
    assert list(model.loss_terms_) == ["interpolation", "perceptual", "reconstruction", "adversarial"]
    assert all(len(values) == model.n_iter_ and values.dtype == np.float32 for values in model.loss_terms_.values())
    assert np.allclose(sum(model.loss_terms_.values()), model.loss_curve_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "model",
    [AE(adversarial=True), IntAE(balance="k-gamma", adversarial_reconstructions=True)],
    ids=["AE-paper", "IntAE-paper"],
)
def test_paper_adversarial_variants_train(model, digits):
    X, _ = digits
    model.set_params(epochs=2, hidden=8, verbose=False, random_state=0).fit(X[:128])
    assert hasattr(model, "discriminator_") and 0.0 <= model.k_ < 1.0  # k is tracked and used
    assert set(model.loss_terms_) == {"reconstruction", "adversarial"}
    assert np.allclose(sum(model.loss_terms_.values()), model.loss_curve_, rtol=1e-5, atol=1e-6)
    assert np.isfinite(model.loss_curve_).all() and (model.loss_terms_["adversarial"] > 0).all()


def test_k_is_stored_only_where_it_weighs_the_loss(digits):
    X, _ = digits
    for model in (AE(), IntAE(), IntAE(adversarial_reconstructions=True)):
        model.set_params(epochs=1, hidden=8, verbose=False, random_state=0).fit(X[:64])
        assert not hasattr(model, "k_")


@pytest.mark.parametrize("per_image", [True, False])
def test_k_gamma_matches_the_adversarial_gradient_to_the_reconstruction_gradient(per_image):
    """With k * gamma, the adversarial gradient on the decoded images is k times the reconstruction gradient."""
    torch.manual_seed(0)
    model = AugIntAE()
    # eval mode: in training mode BatchNorm couples the images, so per-image gradients mix a little
    model.discriminator_ = discriminator((1, 28, 28), "infogan", 8).eval()
    model._k = 0.3
    outputs = torch.rand(6, 1, 28, 28, requires_grad=True)
    target = torch.rand(6, 1, 28, 28)
    if per_image:
        per_pixel = (outputs - target).abs().flatten(1).mean(1)
        term = model._balanced_adversarial(outputs, per_pixel)
        recon_grad = torch.autograd.grad(per_pixel.mean(), outputs, retain_graph=True)[0].flatten(1).norm(dim=1)
        adv_grad = torch.autograd.grad(term, outputs)[0].flatten(1).norm(dim=1)
    else:  # IntAE: the critic sees rows without a pixel target, gamma over the batch
        recon = (outputs[:4] - target[:4]).abs().mean()
        term = model._balanced_adversarial(outputs[2:], recon, outputs=outputs)
        recon_grad = torch.autograd.grad(recon, outputs, retain_graph=True)[0].norm()
        adv_grad = torch.autograd.grad(term, outputs)[0].norm()
    assert torch.allclose(adv_grad, 0.3 * recon_grad, rtol=1e-4)


def test_intae_paper_critic_scores_reconstructions_too(digits):
    X, _ = digits
    model = IntAE(balance="k-gamma", adversarial_reconstructions=True, epochs=1, hidden=8, verbose=False)
    model.fit(X[:32])
    a, b, c = X[:4], X[4:8], X[8:12]
    step = model._generator_loss(a, b, c, torch.full((4,), 0.5))
    assert step.fakes is not None and step.reals is not None
    assert len(step.fakes) == len(step.reals) == 12  # reconstructions of a, b and their interpolation vs a, b, c
    default = IntAE(epochs=1, hidden=8, verbose=False).fit(X[:32])._generator_loss(a, b, c, torch.full((4,), 0.5))
    assert default.fakes is not None and len(default.fakes) == 4


def test_presets():
    model = AugIntAE.from_preset("interpolative-autoencoder", epochs=3)
    assert (model.reconstruction_weight, model.latent_dim, model.augmentation, model.epochs) == (
        1.0,
        64,
        "characters-no-shear",
        3,
    )
    paper = AugIntAE.from_preset("augintae-paper")
    assert paper.adversarial is True and paper.reconstruction_weight == 0.0
    model.image_shape_ = (1, 28, 28)
    ranges = model._ranges()
    assert ranges is not None and ranges.shear == (0.0, 0.0) and ranges.rotation == (-20.0, 20.0)
    with pytest.raises(ValueError, match="interpolative-autoencoder"):
        AugIntAE.from_preset("intae")


def test_autoperceptual_does_not_train_the_encoder(fitted, characters):
    X, _, _ = characters
    assert all(p.grad is None for p in fitted.encoder_.parameters())  # fit leaves no stale gradients
    output = X[:4].clone().requires_grad_(True)
    loss = fitted._autoperceptual(output, X[4:8])
    loss.backward()
    assert output.grad is not None and float(output.grad.abs().sum()) > 0
    assert all(p.grad is None for p in fitted.encoder_.parameters())
    assert not fitted.encoder_.training


def test_generated_images_are_valid(fitted, characters):
    _, X_test, _ = characters
    images = fitted.generate(X_test[:5], 37, random_state=0)
    assert images.shape == (37, 1, 28, 28)
    assert bool(torch.isfinite(images).all()) and float(images.min()) >= 0 and float(images.max()) <= 1


def test_generate_is_deterministic_and_varies(fitted, characters):
    _, X_test, _ = characters
    first = fitted.generate(X_test[:5], 10, random_state=7)
    assert torch.equal(first, fitted.generate(X_test[:5], 10, random_state=7))
    assert not torch.equal(first, fitted.generate(X_test[:5], 10, random_state=8))


def test_fit_is_deterministic(digits):
    X, _ = digits
    runs = [AugIntAE(epochs=1, hidden=4, verbose=False, random_state=3).fit(X[:128]) for _ in range(2)]
    assert np.array_equal(runs[0].loss_curve_, runs[1].loss_curve_)
    assert torch.equal(runs[0].encode(X[:10]), runs[1].encode(X[:10]))


def test_save_load_round_trip(fitted, characters, tmp_path):
    _, X_test, _ = characters
    loaded = AugIntAE.load(fitted.save(tmp_path / "model.pt"))
    assert loaded.get_params() == fitted.get_params()
    assert torch.equal(loaded.generate(X_test[:4], 9, random_state=1), fitted.generate(X_test[:4], 9, random_state=1))


def test_encode_decode_interpolate(fitted, characters):
    _, X_test, _ = characters
    z = fitted.encode(X_test[:6])
    assert z.shape == (6, 64)
    assert torch.allclose(z.norm(dim=1), torch.ones(6), atol=1e-5)
    assert fitted.decode(z).shape == (6, 1, 28, 28)
    # decode projects onto the sphere, so scaled latents decode alike (LASIUM perturbs latents)
    assert torch.allclose(fitted.decode(3 * z), fitted.decode(z), atol=1e-5)
    strips = fitted.interpolate(X_test[:3], X_test[3:6], [0.0, 0.5, 1.0])
    assert strips.shape == (3, 3, 1, 28, 28)
    assert torch.allclose(strips[:, 0], fitted.reconstruct(X_test[:3]), atol=1e-5)
    assert torch.allclose(strips[:, 2], fitted.reconstruct(X_test[3:6]), atol=1e-5)
    assert fitted.reconstruction_error(X_test[:50]) < 0.5


def test_sampling_restores_training_mode(fitted, characters):
    _, X_test, _ = characters
    fitted.encoder_.train()
    try:
        fitted.generate(X_test[:3], 4, random_state=0)
        assert fitted.encoder_.training and not fitted.decoder_.training
    finally:
        fitted.encoder_.eval()


def test_fixed_alpha(fitted, characters):
    _, X_test, _ = characters
    seeds = X_test[:2]
    # with two seeds and alpha 0.5 every pair is {s0, s1}: all outputs are the same midpoint
    out = fitted.generate(seeds, 4, random_state=0, alpha=0.5)
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-5)
    # alpha 0 decodes the first seed of each pair: every output is one of the two reconstructions
    recon = fitted.reconstruct(seeds)
    out = fitted.generate(seeds, 6, random_state=0, alpha=0.0)
    distance = torch.cdist(out.flatten(1), recon.flatten(1)).min(1).values
    assert float(distance.max()) < 1e-4


def test_bad_input(fitted, characters):
    _, X_test, _ = characters
    with pytest.raises(ValueError, match="at least 2 seeds"):
        fitted.generate(X_test[:1], 5)
    single = fitted.generate(X_test[:1], 5, random_state=0, single_seed="augment")
    assert single.shape == (5, 1, 28, 28) and float((single[0] - single[1]).abs().mean()) > 0
    with pytest.raises(ValueError, match="fitted on"):
        fitted.generate(torch.rand(3, 1, 32, 32), 5)
    with pytest.raises(ValueError, match="fitted on"):
        fitted.generate(torch.rand(3, 3, 28, 28), 5)
    with pytest.raises(ValueError, match="alpha"):
        fitted.generate(X_test[:3], 5, alpha=1.5)
    with pytest.raises(ValueError, match="alphas"):
        fitted.interpolate(X_test[:1], X_test[1:2], [-0.1, 0.5])
    for n in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n must be"):
            fitted.generate(X_test[:3], n)
    with pytest.raises(ValueError, match="single_seed"):
        fitted.generate(X_test[:3], 2, single_seed="copy")
    with pytest.raises(ValueError, match="latents must be shaped"):
        fitted.decode(torch.rand(3, 7))
    with pytest.raises(ValueError, match="outside"):
        fitted.generate(X_test[:3] * 5, 2)


def test_bad_parameters(digits):
    X, _ = digits
    for params, message in (
        ({"epochs": 0}, "epochs"),
        ({"augmentation": "flip"}, "augmentation"),
        ({"architecture": "resnet"}, "architecture"),
        ({"lr": -1}, "lr"),
        ({"reconstruction_weight": -1.0}, "reconstruction_weight"),
        ({"hidden": 0}, "hidden"),
        ({"latent_dim": 2.5}, "latent_dim"),
        ({"max_time": 0}, "max_time"),
        ({"adversarial": "yes"}, "adversarial"),
        ({"batch_size": 0}, "batch_size"),
    ):
        with pytest.raises(ValueError, match=message):
            AugIntAE(verbose=False, **params).fit(X[:32])
    for cls, params, message in (
        (IntAE, {"balance": "began"}, "balance"),
        (IntAE, {"adversarial_reconstructions": "yes"}, "adversarial_reconstructions"),
        (AE, {"adversarial": 1.5}, "adversarial"),
    ):
        with pytest.raises(ValueError, match=message):
            cls(verbose=False, **params).fit(X[:32])
    with pytest.raises(ValueError, match="dcgan"):
        AugIntAE(architecture="dcgan", verbose=False).fit(torch.rand(8, 3, 12, 12))


def test_sklearn_conventions(digits):
    model = IntAE(adversarial_weight=0.5, epochs=2)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(hidden=16).hidden == 16
    with pytest.raises(ValueError, match="adversarial_weight"):
        IntAE(adversarial_weight=float("nan"), verbose=False).fit(digits[0][:32])
    with pytest.raises(NotFittedError):
        model.generate(digits[0][:3], 2)
    with pytest.raises(NotFittedError):
        model.encode(digits[0][:3])


def test_max_time_stops_early(digits):
    X, _ = digits
    model = AE(epochs=1000, max_time=0.5, hidden=4, verbose=False, random_state=0).fit(X[:256])
    assert model.n_iter_ < 1000 * 4 and model.fit_time_ < 5 and len(model.loss_curve_) == model.n_iter_


def test_augmented_dataset_keeps_labels_and_ratio(fitted, characters):
    _, X_test, y_test = characters
    keep = y_test < 4
    X, y = X_test[keep], y_test[keep]
    ds = AugmentedDataset((X, y), fitted, ratio=0.5, generate_kwargs={"alpha": 0.5}, random_state=0)
    assert len(ds) == 2 * len(X) and ds.is_generated().mean() == 0.5
    images, labels = ds.generated
    assert torch.equal(torch.bincount(labels), torch.bincount(y))
    assert images.shape == (len(X), 1, 28, 28)
    assert isinstance(ds[len(X)][1], int) and ds[len(X)][1] == int(labels[0])
    # with alpha 0 each generated image is the reconstruction of a seed of its own label
    endpoints = AugmentedDataset((X, y), fitted, ratio=0.5, generate_kwargs={"alpha": 0.0}, random_state=0)
    images, labels = endpoints.generated
    nearest = torch.cdist(images.flatten(1), fitted.reconstruct(X).flatten(1)).argmin(1)
    assert torch.equal(y[nearest], labels)


@pytest.mark.parametrize(
    "shape, latent, n_blocks",
    [((3, 32, 32), 512, 3), ((3, 64, 64), 512, 4), ((3, 128, 128), 512, 5), ((1, 28, 28), 32, 3)],
)
def test_network_layouts(shape, latent, n_blocks):
    arch = "infogan" if shape[-1] == 28 else "dcgan"
    encoder = Encoder(shape, latent, arch, hidden=8).eval()
    generator = Generator(shape, latent, arch, hidden=8).eval()
    x = torch.rand(2, *shape)
    with torch.no_grad():
        z = encoder(x)
        assert z.shape == (2, latent)
        assert torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)
        assert generator(z).shape == (2, *shape)
        assert discriminator(shape, arch, hidden=8).eval()(x).shape == (2, 1)
    assert len(encoder.blocks) == n_blocks
    if shape[-1] == 128:  # the extra layer is half width
        assert encoder.blocks[0][0].out_channels == 4


def test_files_saved_under_the_old_names_load(fitted, characters, tmp_path):
    """Model files written before width -> hidden, loss_history_ -> loss_curve_, n_steps_ -> n_iter_."""
    _, X_test, _ = characters
    payload = torch.load(fitted.save(tmp_path / "new.pt"), weights_only=True)
    del payload["checksum"]  # old files had none
    payload["params"]["width"] = payload["params"].pop("hidden")
    payload["fitted"]["n_steps_"] = payload["fitted"].pop("n_iter_")
    del payload["fitted"]["loss_curve_"]
    payload["fitted"]["loss_history_"] = [0.5, 0.25]  # what the old version stored: one mean per epoch
    payload["fitted"]["k_"] = 1.0  # stored by every model up to 0.1.x, now only by those weighted k * gamma
    torch.save(payload, tmp_path / "old.pt")
    loaded = load(tmp_path / "old.pt")
    assert loaded.get_params() == fitted.get_params() and loaded.n_iter_ == fitted.n_iter_
    assert loaded.loss_curve_.dtype == np.float32 and loaded.loss_curve_.tolist() == [0.5, 0.25]
    assert torch.equal(loaded.generate(X_test[:3], 4, random_state=0), fitted.generate(X_test[:3], 4, random_state=0))


def test_the_three_methods_share_the_base():
    assert all(issubclass(cls, InterpolativeAutoencoder) for cls in (AE, IntAE, AugIntAE))
    from metaaug.generators import autoencoders  # the former module still gathers them

    assert autoencoders.AE is AE and autoencoders.IntAE is IntAE and autoencoders.AugIntAE is AugIntAE
