"""Encoder / generator pairs of the interpolative autoencoders (AE, IntAE, AugIntAE).

Two layouts, as in the AugIntAE paper:

* ``"infogan"`` for small greyscale characters (28x28; any size divisible by 4):
  two stride-2 4x4 convolutions and two fully connected layers each way,
  latent 32. ``hidden, 2*hidden`` conv channels and ``16*hidden`` units in
  the fully connected layer (the paper's 64 / 128 / 1024 at ``hidden=64``).
* ``"dcgan"`` for RGB images of 32, 64 or 128 px: stride-2 4x4 convolutions
  doubling the channels down to a 4x4 map, then a 4x4 convolution to the latent
  (512); the generator mirrors it. 128 px adds one half-width layer at the
  high-resolution end.

The encoder's output is L2-normalised (latents live on the unit sphere, where
interpolation is spherical); the discriminator is the encoder layout with one
unnormalised output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES = ("infogan", "dcgan")


def default_architecture(image_shape: tuple[int, int, int]) -> str:
    """``"infogan"`` for images up to 28 px, ``"dcgan"`` for larger ones."""
    _, height, width = image_shape
    return "infogan" if max(height, width) <= 28 else "dcgan"


def default_latent_dim(architecture: str) -> int:
    """The papers' latent sizes: 32 for characters, 512 for natural images."""
    return 32 if architecture == "infogan" else 512


def check_architecture(architecture: str, image_shape: tuple[int, int, int]) -> None:
    """Raise ``ValueError`` when the layout cannot process images of ``image_shape``."""
    _, height, width = image_shape
    if architecture == "infogan":
        if height % 4 or width % 4:
            raise ValueError(f"the 'infogan' layout needs height and width divisible by 4, got {height}x{width}")
    elif architecture == "dcgan":
        if height != width or height < 16 or height & (height - 1):
            raise ValueError(
                f"the 'dcgan' layout needs square images of a power-of-two size >= 16, got {height}x{width}"
            )
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES} or 'auto', got {architecture!r}")


def _dcgan_channels(image_size: int, hidden: int) -> list[int]:
    """Channels of the stride-2 layers from the input side: 4x4 map at the end, half width beyond 64 px."""
    n_layers = int(math.log2(image_size // 4))
    extra = max(0, n_layers - 4)
    return [max(1, int(hidden * 2 ** (i - extra))) for i in range(n_layers)]


class Encoder(nn.Module):
    """Image -> latent (L2-normalised when ``normalize``); also the discriminator's body.

    Parameters
    ----------
    image_shape : (C, H, W)
    latent_dim : int
        Output size (1 for a discriminator).
    architecture : "infogan" or "dcgan"
    hidden : int
        Base channel count (the network width): the first convolution's channels, except for the
        half-width layer "dcgan" adds at 128 px.
    normalize : bool
        Project outputs onto the unit sphere.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        architecture: str = "infogan",
        hidden: int = 64,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        check_architecture(architecture, image_shape)
        channels, height, width = image_shape
        self.normalize = normalize
        self.head: nn.Module
        blocks: list[nn.Module] = []
        if architecture == "infogan":
            units = 16 * hidden
            blocks.append(nn.Sequential(nn.Conv2d(channels, hidden, 4, 2, 1), nn.LeakyReLU(0.1)))
            blocks.append(
                nn.Sequential(nn.Conv2d(hidden, 2 * hidden, 4, 2, 1), nn.BatchNorm2d(2 * hidden), nn.LeakyReLU(0.1))
            )
            blocks.append(
                nn.Sequential(
                    nn.Flatten(),
                    nn.Linear(2 * hidden * (height // 4) * (width // 4), units),
                    nn.BatchNorm1d(units),
                    nn.LeakyReLU(0.1),
                )
            )
            self.head = nn.Linear(units, latent_dim)
        else:
            previous = channels
            for i, out in enumerate(_dcgan_channels(height, hidden)):
                layers: list[nn.Module] = [nn.Conv2d(previous, out, 4, 2, 1, bias=i == 0)]
                if i > 0:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.LeakyReLU(0.2))
                blocks.append(nn.Sequential(*layers))
                previous = out
            self.head = nn.Sequential(nn.Conv2d(previous, latent_dim, 4, 1, 0), nn.Flatten())
        self.blocks = nn.ModuleList(blocks)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each block (the "autoperceptual" feature maps)."""
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        z = self.head(x)
        return F.normalize(z, dim=1) if self.normalize else z


class Generator(nn.Module):
    """Latent -> image in [0, 1] (sigmoid output); the encoder's mirror.

    Parameters
    ----------
    image_shape : (C, H, W)
    latent_dim : int
    architecture : "infogan" or "dcgan"
    hidden : int
        Channels of the encoder's first convolution, mirrored here.
    """

    def __init__(
        self, image_shape: tuple[int, int, int], latent_dim: int, architecture: str = "infogan", hidden: int = 64
    ) -> None:
        super().__init__()
        check_architecture(architecture, image_shape)
        channels, height, width = image_shape
        if architecture == "infogan":
            units = 16 * hidden
            map_shape = (2 * hidden, height // 4, width // 4)
            self.net = nn.Sequential(
                nn.Linear(latent_dim, units),
                nn.BatchNorm1d(units),
                nn.ReLU(),
                nn.Linear(units, math.prod(map_shape)),
                nn.BatchNorm1d(math.prod(map_shape)),
                nn.ReLU(),
                nn.Unflatten(1, map_shape),
                nn.ConvTranspose2d(2 * hidden, hidden, 4, 2, 1),
                nn.BatchNorm2d(hidden),
                nn.ReLU(),
                nn.ConvTranspose2d(hidden, channels, 4, 2, 1),
                nn.Sigmoid(),
            )
        else:
            widths = _dcgan_channels(height, hidden)[::-1]
            layers: list[nn.Module] = [
                nn.Unflatten(1, (latent_dim, 1, 1)),
                nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(),
            ]
            for previous, out in zip(widths[:-1], widths[1:]):
                layers += [nn.ConvTranspose2d(previous, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Sigmoid()]
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def discriminator(image_shape: tuple[int, int, int], architecture: str = "infogan", hidden: int = 64) -> Encoder:
    """The encoder layout with one unnormalised output (LSGAN critic)."""
    return Encoder(image_shape, 1, architecture, hidden, normalize=False)
