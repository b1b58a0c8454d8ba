"""LASIUM's backends: VAE and mode-seeking GAN networks, the mode-seeking term, and their training."""

from __future__ import annotations

import pytest
import torch

from metaaug.losses import mode_seeking_term
from metaaug.nets.msgan import MSGANDiscriminator, MSGANGenerator
from metaaug.nets.vae import ConvVAE, reduced_size


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 84, 84), (1, 30, 26), (1, 8, 8)])
def test_vae_shapes_and_range(shape):
    vae = ConvVAE(shape, latent_dim=6, hidden=4).eval()
    x = torch.rand(3, *shape)
    with torch.no_grad():
        recon, mean, log_variance = vae(x)
    assert recon.shape == x.shape
    assert mean.shape == log_variance.shape == (3, 6)
    assert float(recon.min()) >= 0 and float(recon.max()) <= 1


def test_vae_paper_architecture_at_28():
    vae = ConvVAE((1, 28, 28))
    convs = [m for m in vae.encoder.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.stride[0] for c in convs] == [2, 2, 1, 1]
    assert all(c.out_channels == 64 and c.kernel_size == (3, 3) for c in convs)
    assert vae.encoder.mean.out_features == 20
    assert vae.decoder.dense[0].out_features == 7 * 7 * 64
    deconvs = [m for m in vae.decoder.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [d.stride[0] for d in deconvs] == [2, 2, 1, 1, 1] and deconvs[-1].out_channels == 1
    assert isinstance(vae.decoder.deconv[-1], torch.nn.Sigmoid)
    assert reduced_size(28) == 7 and reduced_size(30) == 8


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 84, 84), (1, 30, 26)])
def test_msgan_shapes(shape):
    generator = MSGANGenerator(shape, latent_dim=10, hidden=4)
    discriminator = MSGANDiscriminator(shape, filters=(4, 8, 8))
    with torch.no_grad():
        images = generator(torch.randn(5, 10))
        logits = discriminator(images)
    assert images.shape == (5, *shape)
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    assert logits.shape == (5,)


def test_msgan_paper_architecture_at_28():
    generator = MSGANGenerator()
    assert generator.dense[0].out_features == 7 * 7 * 128 and generator.latent_dim == 128
    deconvs = [m for m in generator.deconv if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(d.kernel_size, d.stride, d.out_channels) for d in deconvs] == [((4, 4), (2, 2), 128)] * 2
    assert generator.deconv[-2].kernel_size == (7, 7)
    discriminator = MSGANDiscriminator()
    convs = [m for m in discriminator.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128] and all(c.stride == (2, 2) for c in convs)


@pytest.mark.parametrize("ratio", ["sample", "batch"])
def test_mode_seeking_term_value(ratio):
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)  # latent distance 1
    x1, x2 = torch.zeros(2, 1, 2, 2), torch.full((2, 1, 2, 2), 0.5)  # image distance 0.5
    assert mode_seeking_term(x1, x2, z1, z2, eps=0.0, ratio=ratio).item() == pytest.approx(2.0)
    # identical images (mode collapse) are penalised heavily
    assert mode_seeking_term(x1, x1, z1, z2, ratio=ratio).item() > 1e4


def test_mode_seeking_ratios_differ_when_pairs_differ():
    z1 = torch.zeros(2, 1)
    z2 = torch.tensor([[1.0], [3.0]])  # latent distances 1 and 3
    x1 = torch.zeros(2, 1, 1, 1)
    x2 = torch.tensor([1.0, 1.0]).view(2, 1, 1, 1)  # image distances 1 and 1
    # per sample: mean(1/1, 1/3) = 2/3; batch: mean(1, 1) / mean(1, 3) = 1/2
    assert mode_seeking_term(x1, x2, z1, z2, eps=0.0, ratio="sample").item() == pytest.approx(1.5)
    assert mode_seeking_term(x1, x2, z1, z2, eps=0.0, ratio="batch").item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="ratio"):
        mode_seeking_term(x1, x2, z1, z2, ratio="pair")


def test_vae_forward_samples_with_the_reparameterisation_trick():
    from metaaug.nets.blocks import reparameterize

    vae = ConvVAE((1, 8, 8), latent_dim=3, hidden=4).eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        torch.manual_seed(1)
        recon, mean, log_variance = vae(x)
        torch.manual_seed(1)
        expected = vae.decode(reparameterize(mean, log_variance))
    assert torch.equal(recon, expected)


def test_gan_training_pairs_images_with_their_latents(monkeypatch, digits):
    """The mode-seeking term must see G(z1), G(z2) for the very z1, z2 passed with them."""
    import metaaug.samplers.lasium_backends as backends
    from metaaug.samplers.lasium import LASIUM

    seen = []

    def checking_term(xa, xb, za, zb, eps=1e-5, ratio="batch"):
        generator = checking_term.generator
        with torch.no_grad():
            seen.append(
                bool(torch.allclose(generator(za), xa, atol=1e-5))
                and bool(torch.allclose(generator(zb), xb, atol=1e-5))
                and ratio == "sample"
            )
        return mode_seeking_term(xa, xb, za, zb, eps, ratio)

    original_build = LASIUM._build_modules

    def build(self):
        original_build(self)
        checking_term.generator = self.backend_

    monkeypatch.setattr(backends, "mode_seeking_term", checking_term)
    monkeypatch.setattr(LASIUM, "_build_modules", build)
    X, _ = digits
    LASIUM(
        backend="gan", hidden=4, latent_dim=8, epochs=1, batch_size=256, verbose=False, random_state=0, device="cpu"
    ).fit(X[:512])
    assert seen and all(seen)


def test_vae_training_reduces_loss(digits):
    from metaaug.samplers.lasium import LASIUM

    X, _ = digits
    las = LASIUM(backend="vae", hidden=8, latent_dim=4, epochs=4, verbose=False, random_state=0, device="cpu").fit(
        X[:600]
    )
    curve = las.loss_curve_
    assert curve[-3:].mean() < curve[:3].mean()
    assert las.fit_time_ > 0 and las.n_iter_ == 4 * 5  # 4 epochs of 600 images in batches of 128
