"""Encoder / generator pairs of the interpolative autoencoders (AE, IntAE, AugIntAE).

Two layouts, as in the AugIntAE paper:

* ``"infogan"`` for small greyscale characters (28x28; any size divisible by 4):
  two stride-2 4x4 convolutions and two fully connected layers each way,
  latent 32. Widths ``width, 2*width`` conv channels and ``16*width`` hidden
  units (the paper's 64 / 128 / 1024 at ``width=64``).
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
            raise ValueError(f"the 'dcgan' layout needs square images of a power-of-two size >= 16, "
                             f"got {height}x{width}")
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES} or 'auto', got {architecture!r}")


def _dcgan_channels(image_size: int, width: int) -> list[int]:
    """Channels of the stride-2 layers from the input side: 4x4 map at the end, half width beyond 64 px."""
    n_layers = int(math.log2(image_size // 4))
    extra = max(0, n_layers - 4)
    return [max(1, int(width * 2 ** (i - extra))) for i in range(n_layers)]


class Encoder(nn.Module):
    """Image -> latent (L2-normalised when ``normalize``); also the discriminator's body.

    Parameters
    ----------
    image_shape : (C, H, W)
    latent_dim : int
        Output size (1 for a discriminator).
    architecture : "infogan" or "dcgan"
    width : int
        Base number of channels.
    normalize : bool
        Project outputs onto the unit sphere.
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, architecture: str = "infogan",
                 width: int = 64, normalize: bool = True) -> None:
        super().__init__()
        check_architecture(architecture, image_shape)
        channels, height, wide = image_shape
        self.normalize = normalize
        blocks: list[nn.Module] = []
        if architecture == "infogan":
            hidden = 16 * width
            blocks.append(nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.1)))
            blocks.append(nn.Sequential(nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width),
                                        nn.LeakyReLU(0.1)))
            blocks.append(nn.Sequential(nn.Flatten(), nn.Linear(2 * width * (height // 4) * (wide // 4), hidden),
                                        nn.BatchNorm1d(hidden), nn.LeakyReLU(0.1)))
            self.head = nn.Linear(hidden, latent_dim)
        else:
            previous = channels
            for i, out in enumerate(_dcgan_channels(height, width)):
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
    """Latent -> image in [0, 1] (sigmoid output); the encoder's mirror."""

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, architecture: str = "infogan",
                 width: int = 64) -> None:
        super().__init__()
        check_architecture(architecture, image_shape)
        channels, height, wide = image_shape
        if architecture == "infogan":
            hidden = 16 * width
            map_shape = (2 * width, height // 4, wide // 4)
            self.net = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                nn.Linear(hidden, math.prod(map_shape)), nn.BatchNorm1d(math.prod(map_shape)), nn.ReLU(),
                nn.Unflatten(1, map_shape),
                nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
                nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Sigmoid(),
            )
        else:
            widths = _dcgan_channels(height, width)[::-1]
            layers: list[nn.Module] = [nn.Unflatten(1, (latent_dim, 1, 1)),
                                       nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False),
                                       nn.BatchNorm2d(widths[0]), nn.ReLU()]
            for previous, out in zip(widths[:-1], widths[1:]):
                layers += [nn.ConvTranspose2d(previous, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Sigmoid()]
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def discriminator(image_shape: tuple[int, int, int], architecture: str = "infogan", width: int = 64) -> Encoder:
    """The encoder layout with one unnormalised output (LSGAN critic)."""
    return Encoder(image_shape, 1, architecture, width, normalize=False)
