"""LASIUM's convolutional VAE (Khodadadeh et al., ICLR 2021), for any image size.

Encoder: 4 x (3x3 conv, ``hidden`` filters, strides 2, 2, 1, 1, batch norm,
ReLU) -> dense layers to the mean and log-variance of a ``latent_dim``
Gaussian. Decoder: dense to ``hidden`` x (H/4) x (W/4) with ReLU -> 4 x (3x3
transposed conv, strides 2, 2, 1, 1, batch norm, ReLU) -> 3x3 transposed conv
to ``channels``, sigmoid. At 28x28x1 with ``hidden=64`` and ``latent_dim=20``
this is the authors' Omniglot network; sizes that are not multiples of 4 are
decoded at the next multiple and cropped.

``architecture="natural"`` builds the authors' mini-ImageNet / CelebA VAE
instead (one more convolution block, more channels, latent 512 in the paper;
:mod:`metaaug.nets.lasium_natural`).
"""

from __future__ import annotations

import torch
from torch import nn

from metaaug.nets.blocks import reparameterize
from metaaug.nets.lasium_natural import NaturalVAEDecoder, NaturalVAEEncoder

STRIDES = (2, 2, 1, 1)
# LASIUM's two network families: the authors' Omniglot networks and their mini-ImageNet / CelebA ones
LASIUM_ARCHITECTURES = ("characters", "natural")


def default_lasium_architecture(image_shape: tuple[int, int, int]) -> str:
    """``"natural"`` for RGB images with both sides >= 64 (mini-ImageNet's 84x84x3), else ``"characters"``."""
    channels, height, width = image_shape
    return "natural" if channels == 3 and min(height, width) >= 64 else "characters"


def reduced_size(size: int, strides: tuple[int, ...] = STRIDES) -> int:
    """Spatial size after 'same'-padded convolutions with ``strides``."""
    for stride in strides:
        size = -(-size // stride)
    return size


class VAEEncoder(nn.Module):
    """Images ``(N, C, H, W)`` -> ``(mean, log_variance)``, each ``(N, latent_dim)``."""

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 20, hidden: int = 64) -> None:
        super().__init__()
        channels, height, width = image_shape
        layers: list[nn.Module] = []
        in_channels = channels
        for stride in STRIDES:
            layers += [
                nn.Conv2d(in_channels, hidden, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
            ]
            in_channels = hidden
        self.features = nn.Sequential(*layers, nn.Flatten())
        flat = hidden * reduced_size(height) * reduced_size(width)
        self.mean = nn.Linear(flat, latent_dim)
        self.log_variance = nn.Linear(flat, latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return self.mean(features), self.log_variance(features)


class VAEDecoder(nn.Module):
    """Latents ``(N, latent_dim)`` -> images ``(N, C, H, W)`` in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), latent_dim: int = 20, hidden: int = 64) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = (channels, height, width)
        self.start = (hidden, reduced_size(height), reduced_size(width))
        self.dense = nn.Sequential(nn.Linear(latent_dim, hidden * self.start[1] * self.start[2]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for stride in STRIDES:
            # kernel 3, padding 1, output_padding 1 doubles the size exactly (Keras 'same')
            layers += [
                nn.ConvTranspose2d(hidden, hidden, 3, stride=stride, padding=1, output_padding=stride - 1, bias=False),
                nn.BatchNorm2d(hidden),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(hidden, channels, 3, padding=1), nn.Sigmoid()]
        self.deconv = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.dense(latents).view(len(latents), *self.start)
        _, height, width = self.image_shape
        return self.deconv(x)[:, :, :height, :width]


class ConvVAE(nn.Module):
    """Encoder + decoder; ``forward`` returns ``(reconstruction, mean, log_variance)``.

    ``architecture``: ``"characters"`` (the authors' Omniglot VAE, above) or
    ``"natural"`` (their mini-ImageNet / CelebA VAE, :mod:`metaaug.nets.lasium_natural`).
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 20,
        hidden: int = 64,
        architecture: str = "characters",
    ) -> None:
        super().__init__()
        if architecture not in LASIUM_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {LASIUM_ARCHITECTURES}, got {architecture!r}")
        self.latent_dim = latent_dim
        # the constructor's arguments: LASIUM.save stores them to rebuild a VAE passed as a plain module
        self.init_kwargs: dict = {"image_shape": tuple(image_shape), "latent_dim": latent_dim, "hidden": hidden}
        self.encoder: nn.Module
        self.decoder: nn.Module
        if architecture == "natural":
            self.init_kwargs["architecture"] = architecture
            self.encoder = NaturalVAEEncoder(image_shape, latent_dim, hidden)
            self.decoder = NaturalVAEDecoder(image_shape, latent_dim, hidden)
        else:
            self.encoder = VAEEncoder(image_shape, latent_dim, hidden)
            self.decoder = VAEDecoder(image_shape, latent_dim, hidden)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(images)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.decoder(latents)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mean, log_variance = self.encoder(images)
        return self.decoder(reparameterize(mean, log_variance)), mean, log_variance
