"""LASIUM's networks for natural images (mini-ImageNet, CelebA; 84x84x3 in the paper).

Khodadadeh et al. (ICLR 2021), appendix: for mini-ImageNet and CelebA the VAE
has "one more convolution block and more channels" than the Omniglot one. The
layer counts, kernels, strides, channels and latent size below follow the
authors' TensorFlow code (github.com/siavash-khodadadeh/MetaLearning-TF2.0,
``models/lasiummamlvae/maml_vae_mini_imagenet.py`` and
``models/lasiummamlgan/maml_gan_mini_imagenet.py``), written afresh in torch.
``hidden`` is the first convolution's filters: the authors' networks are
``hidden=64`` with ``latent_dim=512``.

VAE encoder: 5 x (4x4 conv, stride 2, 'same' padding, no bias, batch norm,
ReLU) with ``hidden x (1, 2, 4, 4, 8)`` filters (84 -> 42 -> 21 -> 11 -> 6 ->
3), then dense layers to the mean and log-variance. VAE decoder: dense to
``hidden`` x 7 x 7 with ReLU, 4x4 transposed convs with ``hidden x (8, 4, 4, 2,
1)`` filters and strides 3, 2, 2, 1, 1 (7 -> 21 -> 42 -> 84; batch norm, ReLU,
no bias), then a 4x4 convolution to the image, sigmoid.

MSGAN generator: dense to ``hidden`` x 7 x 7 with LeakyReLU(0.2), five 4x4
transposed convs of ``hidden`` filters (strides 3, 2, 2, 1, 1; batch norm,
LeakyReLU(0.2), no bias), a 4x4 convolution to the image, sigmoid.
Discriminator: 5 x (4x4 conv, stride 2, 'same', 64 filters, no bias, batch
norm, LeakyReLU(0.2)), global max pool, dense to one logit.

Other sizes: the decoders start from a ``ceil(H / 12) x ceil(W / 12)`` map and
crop their ``12x`` output to ``H x W``; the encoders' 'same' padding takes any
size. A stride-1 transposed convolution is computed as the equivalent 'same'
convolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ENCODER_WIDTHS = (1, 2, 4, 4, 8)  # times hidden
DECODER_WIDTHS = (8, 4, 4, 2, 1)
UP_STRIDES = (3, 2, 2, 1, 1)
UPSAMPLING = math.prod(UP_STRIDES)  # 12: a 7x7 map decodes to 84x84


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's 'same' padding (``ceil(size / stride)`` outputs, extra pixel at the end)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, kernel, stride in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


def _up(in_channels: int, out_channels: int, stride: int, bias: bool = False) -> nn.Module:
    """A 4x4 transposed convolution that multiplies the size by ``stride`` (Keras 'same')."""
    if stride == 1:
        return SameConv2d(in_channels, out_channels, 4, bias=bias)
    # (n - 1) s - 2 + 4 + output_padding = s n
    return nn.ConvTranspose2d(in_channels, out_channels, 4, stride, padding=1, output_padding=stride - 2, bias=bias)


def start_size(height: int, width: int) -> tuple[int, int]:
    """The decoders' first map for ``height x width`` images: 7x7 at 84x84."""
    return -(-height // UPSAMPLING), -(-width // UPSAMPLING)


def _down_stack(channels: int, widths: list[int], activation: nn.Module) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        layers += [SameConv2d(channels, width, 4, stride=2, bias=False), nn.BatchNorm2d(width), activation]
        channels = width
    return layers


class NaturalVAEEncoder(nn.Module):
    """Images ``(N, C, H, W)`` -> ``(mean, log_variance)``, each ``(N, latent_dim)``."""

    def __init__(self, image_shape: tuple[int, int, int] = (3, 84, 84), latent_dim: int = 512, hidden: int = 64):
        super().__init__()
        channels, height, width = image_shape
        widths = [hidden * m for m in ENCODER_WIDTHS]
        self.features = nn.Sequential(*_down_stack(channels, widths, nn.ReLU(inplace=True)), nn.Flatten())
        for _ in widths:
            height, width = -(-height // 2), -(-width // 2)
        flat = widths[-1] * height * width
        self.mean = nn.Linear(flat, latent_dim)
        self.log_variance = nn.Linear(flat, latent_dim)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(images)
        return self.mean(features), self.log_variance(features)


class _Upsampler(nn.Module):
    """Dense to a ``hidden x start`` map, the five 4x4 up-layers, a 4x4 convolution to the image, crop."""

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int,
        hidden: int,
        widths: list[int],
        activation: nn.Module,
    ) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = (channels, height, width)
        self.start = (hidden, *start_size(height, width))
        self.dense = nn.Sequential(nn.Linear(latent_dim, math.prod(self.start)), activation)
        layers: list[nn.Module] = []
        previous = hidden
        for out, stride in zip(widths, UP_STRIDES):
            layers += [_up(previous, out, stride), nn.BatchNorm2d(out), activation]
            previous = out
        layers += [SameConv2d(previous, channels, 4), nn.Sigmoid()]
        self.deconv = nn.Sequential(*layers)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        x = self.dense(latents).view(len(latents), *self.start)
        _, height, width = self.image_shape
        return self.deconv(x)[:, :, :height, :width]


class NaturalVAEDecoder(_Upsampler):
    """Latents ``(N, latent_dim)`` -> images ``(N, C, H, W)`` in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int] = (3, 84, 84), latent_dim: int = 512, hidden: int = 64):
        widths = [hidden * m for m in DECODER_WIDTHS]
        super().__init__(image_shape, latent_dim, hidden, widths, nn.ReLU(inplace=True))


class NaturalMSGANGenerator(_Upsampler):
    """Latents ``(N, latent_dim)`` -> images ``(N, C, H, W)`` in [0, 1]."""

    def __init__(self, image_shape: tuple[int, int, int] = (3, 84, 84), latent_dim: int = 512, hidden: int = 64):
        super().__init__(image_shape, latent_dim, hidden, [hidden] * len(UP_STRIDES), nn.LeakyReLU(0.2, inplace=True))


class NaturalMSGANDiscriminator(nn.Module):
    """Images ``(N, C, H, W)`` -> one real/fake logit per image, ``(N,)``."""

    def __init__(self, image_shape: tuple[int, int, int] = (3, 84, 84), filters: tuple[int, ...] = (64,) * 5) -> None:
        super().__init__()
        layers = _down_stack(image_shape[0], list(filters), nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers, nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.logit = nn.Linear(filters[-1], 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logit(self.features(images)).squeeze(1)


__all__ = [
    "NaturalMSGANDiscriminator",
    "NaturalMSGANGenerator",
    "NaturalVAEDecoder",
    "NaturalVAEEncoder",
    "SameConv2d",
]
