"""The four networks of Meta-FAVAE: encoder, decoder, generator G(z, c), discriminator.

Plain DCGAN-style convolutional stacks sized from the image shape: every
downsampling step is a 4x4 stride-2 convolution and every upsampling step a
4x4 stride-2 transposed convolution, so a 28x28 image is handled at 14x14 and
7x7 and a 64x64 image at 32, 16, 8 and 4. An image with an odd side (Omniglot's
native 105x105) is halved rounding down (52, 26, 13, 6) and the transposed
convolutions add the odd pixel back (``output_padding``). There is no batch normalisation
(see :class:`metaaug.generators.metafavae.MetaFAVAE`, "Differences from the
paper"): the inner loop trains on batches of g = 4 images, and Reptile would
otherwise have to average running statistics. Training logic lives in
:mod:`metaaug.generators.metafavae_training`; these modules only compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

MAX_DOWNSAMPLINGS = 4
MIN_FEATURE_SIZE = 4


def favae_downsamplings(height: int, width: int) -> int:
    """How many stride-2 steps the networks take for an ``height x width`` image.

    As many as keep both sides even and at least ``MIN_FEATURE_SIZE`` pixels
    (at most 4): 28 -> 2 (7x7 features), 64 -> 4 (4x4), 32 -> 3, 8 -> 1,
    84 -> 2 (21x21). An image with an odd side is halved rounding down while
    both sides stay at least ``MIN_FEATURE_SIZE`` (at most 4): 105 -> 4 (6x6).
    """
    h, w = int(height), int(width)
    if min(h, w) < 2 * MIN_FEATURE_SIZE:
        raise ValueError(
            f"Meta-FAVAE needs images with both sides >= {2 * MIN_FEATURE_SIZE} pixels (e.g. 28x28, 64x64, 84x84, "
            f"105x105 or 48x80), got {height}x{width}; resize the images"
        )
    odd = h % 2 == 1 or w % 2 == 1
    steps = 0
    while (
        steps < MAX_DOWNSAMPLINGS
        and (odd or (h % 2 == 0 and w % 2 == 0))
        and h // 2 >= MIN_FEATURE_SIZE
        and w // 2 >= MIN_FEATURE_SIZE
    ):
        h, w, steps = h // 2, w // 2, steps + 1
    return steps


def favae_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """``(h, w)`` of the image and of the feature map after each downsampling (input first)."""
    sizes = [(int(height), int(width))]
    for _ in range(favae_downsamplings(height, width)):
        sizes.append((sizes[-1][0] // 2, sizes[-1][1] // 2))
    return sizes


@dataclass(frozen=True)
class FAVAEConfig:
    """Shapes of the four networks.

    Attributes
    ----------
    channels, height, width : int
        Image shape.
    latent_dim : int
        Size of the VAE code ``c``.
    noise_dim : int
        Size of the generator noise ``z`` (concatenated with ``c``).
    hidden : int
        Filters of the first convolution (the network width); doubled at each further
        downsampling, capped at ``max_channels``.
    max_channels : int
        Cap on the filters of any layer.
    """

    channels: int
    height: int
    width: int
    latent_dim: int = 64
    noise_dim: int = 64
    hidden: int = 32
    max_channels: int = 256

    def __post_init__(self) -> None:
        for name in ("channels", "height", "width", "latent_dim", "noise_dim", "hidden", "max_channels"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def n_down(self) -> int:
        return favae_downsamplings(self.height, self.width)

    @property
    def widths(self) -> list[int]:
        """Filters after each downsampling (encoder/discriminator order)."""
        return [min(self.hidden * 2**i, self.max_channels) for i in range(self.n_down)]

    @property
    def feature_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the smallest feature map."""
        return self.widths[-1], *favae_sizes(self.height, self.width)[-1]

    def as_dict(self) -> dict:
        return asdict(self)


def favae_preset(height: int, width: int | None = None) -> dict[str, int]:
    """Default sizes: small at 28x28 (1.1 M parameters), 7.3 M at 64x64 RGB.

    The paper reports 8.3 M parameters for its 64x64 VGG-Faces model; the
    28x28 preset is kept small so that adapting to a class is quick on a CPU
    (timings in ``docs/metafavae.md``).
    """
    width = height if width is None else width
    if min(height, width) >= 48:
        return {"latent_dim": 128, "noise_dim": 128, "hidden": 48, "max_channels": 256}
    return {"latent_dim": 64, "noise_dim": 64, "hidden": 32, "max_channels": 128}


def _down_stack(config: FAVAEConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    in_channels = config.channels
    for width in config.widths:
        layers += [nn.Conv2d(in_channels, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        in_channels = width
    return nn.Sequential(*layers, nn.Flatten())


class _UpStack(nn.Module):
    """Linear map to the smallest feature map, then transposed convolutions to an image in [0, 1]."""

    def __init__(self, in_features: int, config: FAVAEConfig) -> None:
        super().__init__()
        self.feature_shape = config.feature_shape
        c, h, w = self.feature_shape
        self.project = nn.Sequential(nn.Linear(in_features, c * h * w), nn.ReLU(inplace=True))
        widths = config.widths[::-1] + [config.channels]
        sizes = favae_sizes(config.height, config.width)[::-1][1:]  # the size each layer reaches
        layers: list[nn.Module] = []
        for i in range(len(widths) - 1):
            odd = (sizes[i][0] % 2, sizes[i][1] % 2)  # (0, 0) unless a side is odd, as at 105x105
            layers.append(nn.ConvTranspose2d(widths[i], widths[i + 1], 4, stride=2, padding=1, output_padding=odd))
            layers.append(nn.ReLU(inplace=True) if i + 2 < len(widths) else nn.Sigmoid())
        self.up = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(features).view(-1, *self.feature_shape))


class FAVAEEncoder(nn.Module):
    """Image -> ``(mean, log_variance)`` of the code ``c``, each ``(N, latent_dim)``."""

    def __init__(self, config: FAVAEConfig) -> None:
        super().__init__()
        self.body = _down_stack(config)
        c, h, w = config.feature_shape
        self.head = nn.Linear(c * h * w, 2 * config.latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_var = self.head(self.body(x)).chunk(2, dim=1)
        return mean, log_var


class FAVAEDecoder(nn.Module):
    """Code ``c`` -> reconstructed image in [0, 1]."""

    def __init__(self, config: FAVAEConfig) -> None:
        super().__init__()
        self.net = _UpStack(config.latent_dim, config)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code)


class FAVAEGenerator(nn.Module):
    """``G(z, c)``: noise concatenated with the code -> image in [0, 1]."""

    def __init__(self, config: FAVAEConfig) -> None:
        super().__init__()
        self.noise_dim = config.noise_dim
        self.net = _UpStack(config.noise_dim + config.latent_dim, config)

    def forward(self, noise: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, code], dim=1))


class FAVAEDiscriminator(nn.Module):
    """Image -> one real/fake logit per image, ``(N,)``."""

    def __init__(self, config: FAVAEConfig) -> None:
        super().__init__()
        self.body = _down_stack(config)
        c, h, w = config.feature_shape
        self.head = nn.Linear(c * h * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).view(-1)


class FAVAE(nn.Module):
    """The four networks together, so one state dict holds the whole model."""

    def __init__(self, config: FAVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = FAVAEEncoder(config)
        self.decoder = FAVAEDecoder(config)
        self.generator = FAVAEGenerator(config)
        self.discriminator = FAVAEDiscriminator(config)

    def vae_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.decoder.parameters()]

    def gan_parameters(self) -> list[nn.Parameter]:
        return [*self.generator.parameters(), *self.discriminator.parameters()]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of ``x`` through the posterior mean (a convenience, not used in training)."""
        mean, _ = self.encoder(x)
        return self.decoder(mean)
