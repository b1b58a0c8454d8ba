"""Batched random affine (and colour) augmentation with interpolable parameters.

Parameters are tensors, one row per image, so two parameter sets can be mixed
(``interpolate_params``) and applied to a whole batch with one
``affine_grid`` / ``grid_sample`` call. Used by AugIntAE's training triplets,
UMTRA's in-class samples and Meta-FAVAE.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AffineRanges:
    """Uniform ranges of the augmentation parameters.

    Defaults are the AugIntAE paper's ranges for handwritten characters:
    rotation [-20, 20] degrees, translation [-4, 4] px (at 28 px; scaled with
    image size), scale [0.8, 1.2], shear [-6, 6] degrees, no colour change.
    """

    rotation: tuple[float, float] = (-20.0, 20.0)
    translation_px: tuple[float, float] = (-4.0, 4.0)
    reference_size: int = 28
    scale: tuple[float, float] = (0.8, 1.2)
    shear: tuple[float, float] = (-6.0, 6.0)
    brightness: tuple[float, float] = (1.0, 1.0)
    contrast: tuple[float, float] = (1.0, 1.0)
    saturation: tuple[float, float] = (1.0, 1.0)
    hue: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def characters(cls) -> AffineRanges:
        return cls()

    @classmethod
    def natural(cls) -> AffineRanges:
        """Natural images: half the rotation/shear, double the translation, colour jitter."""
        return cls(
            rotation=(-10.0, 10.0),
            translation_px=(-8.0, 8.0),
            shear=(-3.0, 3.0),
            brightness=(0.75, 1.25),
            contrast=(0.75, 1.25),
            saturation=(0.75, 1.25),
            hue=(-0.05, 0.05),
        )

    def scaled(self, factor: float) -> AffineRanges:
        """All geometric ranges multiplied by ``factor`` (scale around 1)."""

        def mul(r: tuple[float, float], centre: float = 0.0) -> tuple[float, float]:
            return (centre + (r[0] - centre) * factor, centre + (r[1] - centre) * factor)

        return replace(
            self,
            rotation=mul(self.rotation),
            translation_px=mul(self.translation_px),
            scale=mul(self.scale, 1.0),
            shear=mul(self.shear),
        )


PARAM_NAMES = ("rotation", "tx", "ty", "scale", "shear", "brightness", "contrast", "saturation", "hue")


def sample_params(
    n: int,
    ranges: AffineRanges,
    image_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``(n, 9)`` parameters: rotation, tx, ty (pixels), scale, shear, brightness, contrast, saturation, hue."""
    px = image_size / ranges.reference_size
    lows, highs = [], []
    for name in PARAM_NAMES:
        if name in ("tx", "ty"):
            lo, hi = (v * px for v in ranges.translation_px)
        else:
            lo, hi = getattr(ranges, name)
        lows.append(lo)
        highs.append(hi)
    low = torch.tensor(lows, device=device)
    high = torch.tensor(highs, device=device)
    u = torch.rand(n, len(PARAM_NAMES), generator=generator, device=device)
    return low + u * (high - low)


def identity_params(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Parameters that leave images unchanged."""
    p = torch.zeros(n, len(PARAM_NAMES), device=device)
    p[:, [3, 5, 6, 7]] = 1.0
    return p


def interpolate_params(p1: torch.Tensor, p2: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``(1 - alpha) * p1 + alpha * p2`` per row: ``alpha = 0`` gives ``p1``, ``alpha = 1`` gives ``p2``.

    ``alpha`` means what it means in :func:`~metaaug.augment.lerp` and
    :func:`~metaaug.augment.slerp`: the weight of the second argument.

    Parameters
    ----------
    p1, p2 : torch.Tensor
        ``(n, 9)`` parameters (see :func:`sample_params`).
    alpha : torch.Tensor or float
        A scalar, or one weight per row (``(n,)``).

    Returns
    -------
    torch.Tensor
        ``(n, 9)`` parameters.
    """
    alpha = torch.as_tensor(alpha, dtype=p1.dtype, device=p1.device)
    if alpha.ndim == 1:
        alpha = alpha.unsqueeze(1)
    return (1 - alpha) * p1 + alpha * p2


def affine_matrices(params: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``(n, 2, 3)`` matrices for ``affine_grid`` (output -> input coordinates)."""
    rot = params[:, 0] * math.pi / 180
    shear = params[:, 4] * math.pi / 180
    scale = params[:, 3]
    tx = params[:, 1] * 2 / width
    ty = params[:, 2] * 2 / height
    # forward map: translate . rotate . shear . scale ; the grid needs its inverse
    cos, sin = torch.cos(rot), torch.sin(rot)
    tan = torch.tan(shear)
    a = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    sh = torch.stack(
        [torch.stack([torch.ones_like(tan), tan], -1), torch.stack([torch.zeros_like(tan), torch.ones_like(tan)], -1)],
        -2,
    )
    forward = a @ sh * scale.view(-1, 1, 1)
    inverse = torch.linalg.inv(forward)
    t = torch.stack([tx, ty], -1).unsqueeze(-1)
    return torch.cat([inverse, -inverse @ t], dim=-1)


def _colour(images: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    b = params[:, 5].view(-1, 1, 1, 1)
    c = params[:, 6].view(-1, 1, 1, 1)
    s = params[:, 7].view(-1, 1, 1, 1)
    h = params[:, 8].view(-1, 1, 1, 1)
    out = images * b
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * c + mean
    if images.shape[1] == 3:
        grey = 0.299 * out[:, :1] + 0.587 * out[:, 1:2] + 0.114 * out[:, 2:3]
        out = (out - grey) * s + grey
        if bool((h != 0).any()):
            out = _rotate_hue(out, h.view(-1) * 2 * math.pi)
    return out.clamp(0, 1)


def _rotate_hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Hue rotation as a rotation around the grey axis in RGB (YIQ-style)."""
    cos, sin = torch.cos(angle), torch.sin(angle)
    k = 1 / 3
    sq = math.sqrt(k)
    rows = []
    for i in range(3):
        row = []
        for j in range(3):
            if i == j:
                row.append(cos + (1 - cos) * k)
            else:
                sign = 1 if (j - i) % 3 == 2 else -1
                row.append(k * (1 - cos) + sign * sq * sin)
        rows.append(torch.stack(row, -1))
    m = torch.stack(rows, -2)  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", m, images)


def apply_params(images: torch.Tensor, params: torch.Tensor, padding_mode: str = "zeros") -> torch.Tensor:
    """Apply per-image parameters to ``(n, C, H, W)`` images in one batched call."""
    n, _, height, width = images.shape
    theta = affine_matrices(params.to(images.dtype), height, width)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    if bool((params[:, 5:] != identity_params(1, params.device)[:, 5:]).any()):
        out = _colour(out, params)
    return out.clamp(0, 1)


def random_augment(
    images: torch.Tensor, ranges: AffineRanges | None = None, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random augmentation of each image (fresh parameters per image)."""
    ranges = ranges or AffineRanges()
    params = sample_params(len(images), ranges, images.shape[-1], generator, images.device)
    return apply_params(images, params)


def augmentation_triplets(
    images: torch.Tensor, ranges: AffineRanges | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """AugIntAE training triplets ``(A, B, C, alpha)``.

    ``A = f(x; rho1)``, ``B = f(x; rho2)``, ``C = f(x; alpha rho1 + (1 - alpha) rho2)``
    (that is ``interpolate_params(rho2, rho1, alpha)``) with ``alpha`` the mean
    of two U(0, 1) draws (biased towards 0.5). ``alpha`` weights ``A``'s
    parameters, as in the paper, so the matching latent mix is
    ``slerp(E(A), E(B), 1 - alpha)`` (``slerp(a, b, 0) == a``).
    """
    ranges = ranges or AffineRanges()
    n, device = len(images), images.device
    size = images.shape[-1]
    p1 = sample_params(n, ranges, size, generator, device)
    p2 = sample_params(n, ranges, size, generator, device)
    alpha = torch.rand(n, 2, generator=generator, device=device).mean(dim=1)
    p3 = interpolate_params(p2, p1, alpha)
    stacked = apply_params(torch.cat([images, images, images]), torch.cat([p1, p2, p3]))
    a, b, c = stacked.chunk(3)
    return a, b, c, alpha
