"""Batched random resized crops, flips and colour distortion: the views of contrastive methods (PsCo).

Every function takes a batch ``(n, C, H, W)`` in [0, 1] and draws fresh
parameters per image from ``generator`` (torch's global RNG when ``None``), in
one ``affine_grid`` / ``grid_sample`` call for the geometry.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from metaaug.augment.affine import _colour, identity_params


def random_resized_crop(
    images: torch.Tensor,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A random crop of each image, resized back to the image's size, mirrored left-right half of the time.

    The crop covers a fraction of the image area drawn from ``scale`` with a
    width/height ratio drawn log-uniformly from ``ratio`` (torchvision's
    ``RandomResizedCrop`` ranges); a side that would exceed the image is
    clipped to it. Resampling is bicubic, clamped to [0, 1].

    Parameters
    ----------
    images : torch.Tensor
        ``(n, C, H, W)`` in [0, 1].
    scale : (float, float), default (0.2, 1.0)
        Range of the crop's share of the image area.
    ratio : (float, float), default (3/4, 4/3)
        Range of the crop's aspect ratio.
    flip : bool, default True
        Mirror each crop with probability 0.5.
    generator : torch.Generator, optional
        On the images' device.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``images``.
    """
    if not 0 < scale[0] <= scale[1] <= 1:
        raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {scale}")
    if not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"ratio must satisfy 0 < low <= high, got {ratio}")
    n, device = len(images), images.device

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator, device=device)

    area = uniform(*scale)
    aspect = torch.exp(uniform(math.log(ratio[0]), math.log(ratio[1])))
    width = torch.sqrt(area * aspect).clamp(max=1.0)  # fractions of the image side
    height = torch.sqrt(area / aspect).clamp(max=1.0)
    # crop centres keep the crop inside the image; affine_grid works in [-1, 1]
    centre_x = (uniform(0, 1) * (1 - width) + width / 2) * 2 - 1
    centre_y = (uniform(0, 1) * (1 - height) + height / 2) * 2 - 1
    mirror = torch.where(torch.rand(n, generator=generator, device=device) < 0.5, -1.0, 1.0) if flip else 1.0
    theta = torch.zeros(n, 2, 3, device=device, dtype=images.dtype)
    theta[:, 0, 0] = width * mirror
    theta[:, 0, 2] = centre_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = centre_y
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out.clamp(0, 1)


def colour_distortion(
    images: torch.Tensor,
    strength: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1),
    p_jitter: float = 0.8,
    p_grey: float = 0.2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Random colour jitter (with probability ``p_jitter``) then greyscale (with ``p_grey``), per image.

    ``strength`` is ``(brightness, contrast, saturation, hue)`` as in
    torchvision's ``ColorJitter``: factors drawn from ``[1 - s, 1 + s]`` and a
    hue rotation of up to ``hue`` turns. They are applied in that fixed order
    (torchvision shuffles it per image). One-channel images are returned
    unchanged by saturation, hue and greyscale.

    Parameters
    ----------
    images : torch.Tensor
        ``(n, C, H, W)`` in [0, 1].
    strength : (float, float, float, float), default (0.4, 0.4, 0.4, 0.1)
    p_jitter, p_grey : float, default 0.8, 0.2
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor
        Same shape, clamped to [0, 1].
    """
    n, device = len(images), images.device
    brightness, contrast, saturation, hue = strength
    params = identity_params(n, device)
    jitter = torch.rand(n, generator=generator, device=device) < p_jitter
    for column, amount in ((5, brightness), (6, contrast), (7, saturation)):
        factors = 1 + amount * (2 * torch.rand(n, generator=generator, device=device) - 1)
        params[:, column] = torch.where(jitter, factors, params[:, column])
    hues = hue * (2 * torch.rand(n, generator=generator, device=device) - 1)
    params[:, 8] = torch.where(jitter, hues, params[:, 8])
    out = _colour(images, params.to(images.dtype))
    if images.shape[1] == 3 and p_grey > 0:
        grey = (0.299 * out[:, :1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3]).expand_as(out)
        pick = (torch.rand(n, generator=generator, device=device) < p_grey).view(-1, 1, 1, 1)
        out = torch.where(pick, grey, out)
    return out
