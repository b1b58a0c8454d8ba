"""LASIUM's mode-seeking GAN networks (Khodadadeh et al., ICLR 2021; Mao et al., CVPR 2019).

Generator: dense ``latent_dim`` -> ``hidden`` x (H/4) x (W/4), LeakyReLU(0.2)
-> 2 x (4x4 transposed conv, ``hidden`` filters, stride 2, LeakyReLU(0.2)) ->
7x7 conv to ``channels``, sigmoid. Discriminator: 3 x (3x3 conv, stride 2,
64 / 128 / 128 filters, LeakyReLU(0.2)) -> global max pool -> dense to one
logit. At 28x28x1 with ``latent_dim=128`` these are the authors' Omniglot
networks; other sizes are generated at the next multiple of 4 and cropped.

``architecture="natural"`` builds the authors' mini-ImageNet networks instead
(:mod:`metaaug.nets.lasium_natural`); :func:`msgan_discriminator` gives the
discriminator that goes with a generator.
"""

from __future__ import annotations

import torch
from torch import nn

from metaaug.nets.lasium_natural import NaturalMSGANDiscriminator, NaturalMSGANGenerator
from metaaug.nets.vae import LASIUM_ARCHITECTURES, reduced_size

UPSAMPLING = (2, 2)


class MSGANGenerator(nn.Module):
    """Latents ``(N, latent_dim)`` -> images ``(N, C, H, W)`` in [0, 1]."""

    def __init__(
        self,
        image_shape: tuple[int, int, int] = (1, 28, 28),
        latent_dim: int = 128,
        hidden: int = 128,
        architecture: str = "characters",
    ) -> None:
        super().__init__()
        if architecture not in LASIUM_ARCHITECTURES:
            raise ValueError(f"architecture must be one of {LASIUM_ARCHITECTURES}, got {architecture!r}")
        channels, height, width = image_shape
        self.image_shape = (channels, height, width)
        self.latent_dim = latent_dim
        self.architecture = architecture
        # the constructor's arguments: LASIUM.save stores them to rebuild a generator passed as a plain module
        self.init_kwargs: dict = {"image_shape": self.image_shape, "latent_dim": latent_dim, "hidden": hidden}
        self.natural: NaturalMSGANGenerator | None = None
        if architecture == "natural":
            self.init_kwargs["architecture"] = architecture
            self.natural = NaturalMSGANGenerator(self.image_shape, latent_dim, hidden)
            return
        self.start = (hidden, reduced_size(height, UPSAMPLING), reduced_size(width, UPSAMPLING))
        self.dense = nn.Sequential(
            nn.Linear(latent_dim, hidden * self.start[1] * self.start[2]), nn.LeakyReLU(0.2, inplace=True)
        )
        layers: list[nn.Module] = []
        for _ in UPSAMPLING:
            layers += [nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(hidden, channels, 7, padding=3), nn.Sigmoid()]
        self.deconv = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        if self.natural is not None:
            return self.natural(latents)
        x = self.dense(latents).view(len(latents), *self.start)
        _, height, width = self.image_shape
        return self.deconv(x)[:, :, :height, :width]


class MSGANDiscriminator(nn.Module):
    """Images ``(N, C, H, W)`` -> one real/fake logit per image, ``(N,)``."""

    def __init__(
        self, image_shape: tuple[int, int, int] = (1, 28, 28), filters: tuple[int, ...] = (64, 128, 128)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = image_shape[0]
        for out_channels in filters:
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            in_channels = out_channels
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.logit = nn.Linear(in_channels, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logit(self.features(images)).squeeze(1)


def msgan_discriminator(generator: MSGANGenerator) -> nn.Module:
    """A new discriminator for ``generator``'s images, of its architecture's family."""
    if generator.architecture == "natural":
        return NaturalMSGANDiscriminator(generator.image_shape)
    return MSGANDiscriminator(generator.image_shape)
