"""Encoder / generator pairs of the interpolative autoencoders (AE, IntAE, AugIntAE).

Two layouts, as in the AugIntAE paper:

* ``"infogan"`` for small greyscale characters (28x28; any sides >= 4):
  two stride-2 4x4 convolutions and two fully connected layers each way,
  latent 32. ``hidden, 2*hidden`` conv channels and ``16*hidden`` units in
  the fully connected layer (the paper's 64 / 128 / 1024 at ``hidden=64``).
* ``"dcgan"`` for larger images (the paper's 32, 64 and 128 px RGB; any
  sides >= 16, square or not): stride-2 4x4 convolutions doubling the channels
  until the smaller side is 4 to 7 pixels, then one convolution whose kernel is
  that whole map, to the latent (512); the generator mirrors it. 128 px adds one
  half-width layer at the high-resolution end (every layout with 5 or more
  stride-2 layers does).

A stride-2 4x4 convolution (padding 1) halves a side, rounding down (``s ->
s // 2``: 84 -> 42 -> 21 -> 10 -> 5, 105 -> 52 -> 26 -> 13 -> 6); each
transposed convolution of the generator doubles it and adds back the odd pixel
(``output_padding``), so the generator reaches exactly ``H x W``. For the
paper's power-of-two sizes nothing is odd and the networks are the paper's.

``"auto"`` (:func:`default_architecture`) picks ``"infogan"`` up to 28 px and
``"dcgan"`` beyond, e.g. at 84x84 and at Omniglot's native 105x105.

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


INFOGAN_MIN_SIDE, DCGAN_MIN_SIDE = 4, 16


def default_architecture(image_shape: tuple[int, int, int]) -> str:
    """``"infogan"`` for images up to 28 px (or with a side under 16), ``"dcgan"`` for larger ones."""
    _, height, width = image_shape
    return "infogan" if max(height, width) <= 28 or min(height, width) < DCGAN_MIN_SIDE else "dcgan"


def default_latent_dim(architecture: str) -> int:
    """The papers' latent sizes: 32 for characters, 512 for natural images."""
    return 32 if architecture == "infogan" else 512


def check_architecture(architecture: str, image_shape: tuple[int, int, int]) -> None:
    """Raise ``ValueError`` when the layout cannot process images of ``image_shape``."""
    _, height, width = image_shape
    if architecture == "infogan":
        if min(height, width) < INFOGAN_MIN_SIDE:
            raise ValueError(
                f"the 'infogan' layout needs height and width >= {INFOGAN_MIN_SIDE} (e.g. 28x28), got {height}x{width}"
            )
    elif architecture == "dcgan":
        if min(height, width) < DCGAN_MIN_SIDE:
            raise ValueError(
                f"the 'dcgan' layout needs height and width >= {DCGAN_MIN_SIDE} (e.g. 32x32, 64x64, 84x84, 105x105, "
                f"128x128 or 48x80), got {height}x{width}; use architecture='infogan' for smaller images"
            )
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES} or 'auto', got {architecture!r}")


def halved_sizes(height: int, width: int, n_layers: int) -> list[tuple[int, int]]:
    """``(h, w)`` before and after each of ``n_layers`` stride-2 4x4 convolutions (padding 1): input first."""
    sizes = [(int(height), int(width))]
    for _ in range(n_layers):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    return sizes


def dcgan_depth(height: int, width: int) -> int:
    """Stride-2 layers of the "dcgan" layout: halve until the smaller side is 4 to 7 (4x4 at 32, 64, 128 px)."""
    side, n_layers = min(height, width), 0
    while side // 2 >= 4:
        side, n_layers = side // 2, n_layers + 1
    return n_layers


def _dcgan_channels(height: int, width: int, hidden: int) -> list[int]:
    """Channels of the stride-2 layers from the input side: doubling, with half width first beyond 4 layers."""
    n_layers = dcgan_depth(height, width)
    extra = max(0, n_layers - 4)
    return [max(1, int(hidden * 2 ** (i - extra))) for i in range(n_layers)]


def _up_to(in_channels: int, out_channels: int, size: tuple[int, int], bias: bool = True) -> nn.ConvTranspose2d:
    """A stride-2 4x4 transposed convolution from ``(h // 2, w // 2)`` to exactly ``size = (h, w)``."""
    padding = (size[0] % 2, size[1] % 2)
    if padding == (0, 0):  # the paper's sizes: the plain layer
        return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=bias)
    return nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, output_padding=padding, bias=bias)


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
                    nn.Linear(2 * hidden * math.prod(halved_sizes(height, width, 2)[-1]), units),
                    nn.BatchNorm1d(units),
                    nn.LeakyReLU(0.1),
                )
            )
            self.head = nn.Linear(units, latent_dim)
        else:
            previous = channels
            for i, out in enumerate(_dcgan_channels(height, width, hidden)):
                layers: list[nn.Module] = [nn.Conv2d(previous, out, 4, 2, 1, bias=i == 0)]
                if i > 0:
                    layers.append(nn.BatchNorm2d(out))
                layers.append(nn.LeakyReLU(0.2))
                blocks.append(nn.Sequential(*layers))
                previous = out
            last = halved_sizes(height, width, dcgan_depth(height, width))[-1]
            kernel = 4 if last == (4, 4) else last
            self.head = nn.Sequential(nn.Conv2d(previous, latent_dim, kernel, 1, 0), nn.Flatten())
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
            sizes = halved_sizes(height, width, 2)
            map_shape = (2 * hidden, *sizes[2])
            self.net = nn.Sequential(
                nn.Linear(latent_dim, units),
                nn.BatchNorm1d(units),
                nn.ReLU(),
                nn.Linear(units, math.prod(map_shape)),
                nn.BatchNorm1d(math.prod(map_shape)),
                nn.ReLU(),
                nn.Unflatten(1, map_shape),
                _up_to(2 * hidden, hidden, sizes[1]),
                nn.BatchNorm2d(hidden),
                nn.ReLU(),
                _up_to(hidden, channels, sizes[0]),
                nn.Sigmoid(),
            )
        else:
            widths = _dcgan_channels(height, width, hidden)[::-1]
            sizes = halved_sizes(height, width, len(widths))[::-1]  # smallest map first
            kernel = 4 if sizes[0] == (4, 4) else sizes[0]
            layers: list[nn.Module] = [
                nn.Unflatten(1, (latent_dim, 1, 1)),
                nn.ConvTranspose2d(latent_dim, widths[0], kernel, 1, 0, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(),
            ]
            for previous, out, size in zip(widths[:-1], widths[1:], sizes[1:]):
                layers += [_up_to(previous, out, size, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
            layers += [_up_to(widths[-1], channels, sizes[-1]), nn.Sigmoid()]
            self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def discriminator(image_shape: tuple[int, int, int], architecture: str = "infogan", hidden: int = 64) -> Encoder:
    """The encoder layout with one unnormalised output (LSGAN critic)."""
    return Encoder(image_shape, 1, architecture, hidden, normalize=False)
