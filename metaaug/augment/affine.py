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

PADDING_MODES = ("zeros", "border", "reflection")


@dataclass(frozen=True)
class AffineRanges:
    """Uniform ranges of the augmentation parameters.

    Defaults are the AugIntAE paper's ranges for handwritten characters
    (:meth:`characters`); :meth:`natural` gives its ranges for RGB images.

    Parameters
    ----------
    rotation : (float, float), default (-20, 20)
        Degrees.
    translation_px : (float, float), default (-4, 4)
        Shift along each axis, in pixels at ``reference_size`` px (see there).
    reference_size : int or None, default 28
        What ``translation_px`` is measured against. An int: pixels of an
        image of that side, scaled with the image (``(-4, 4)`` at 28 becomes
        ``(-12, 12)`` at 84 px), the characters' convention. ``None``:
        absolute pixels at every image size, the natural-image convention
        (``(-8, 8)`` is +-8 px at 84 and at 128 px).
    scale : (float, float), default (0.8, 1.2)
        Zoom factor.
    shear : (float, float), default (-6, 6)
        Degrees.
    brightness, contrast, saturation : (float, float), default (1, 1)
        Colour-jitter factors (1 leaves the image unchanged; saturation
        and hue act on 3-channel images only).
    hue : (float, float), default (0, 0)
        Hue rotation in turns (0.05 is 18 degrees).
    padding_mode : {"zeros", "border", "reflection"}, default "zeros"
        What fills the pixels a transform brings in from outside the image
        (``torch.nn.functional.grid_sample``'s ``padding_mode``).
        ``"reflection"`` mirrors the image about its border, the edge pixel
        included (numpy's ``"symmetric"`` padding).
    """

    rotation: tuple[float, float] = (-20.0, 20.0)
    translation_px: tuple[float, float] = (-4.0, 4.0)
    reference_size: int | None = 28
    scale: tuple[float, float] = (0.8, 1.2)
    shear: tuple[float, float] = (-6.0, 6.0)
    brightness: tuple[float, float] = (1.0, 1.0)
    contrast: tuple[float, float] = (1.0, 1.0)
    saturation: tuple[float, float] = (1.0, 1.0)
    hue: tuple[float, float] = (0.0, 0.0)
    padding_mode: str = "zeros"

    def __post_init__(self) -> None:
        if self.padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got {self.padding_mode!r}")
        if self.reference_size is not None and not self.reference_size > 0:
            raise ValueError(
                f"reference_size must be a positive image side in pixels, or None for absolute pixels, "
                f"got {self.reference_size!r}"
            )

    @classmethod
    def characters(cls) -> AffineRanges:
        """Handwritten characters (AugIntAE, Omniglot): the defaults.

        Rotation +-20 degrees, translation +-4 px at 28 px (scaled with the
        image size), scale 0.8-1.2, shear +-6 degrees, no colour change,
        zero padding (the background is black).
        """
        return cls()

    @classmethod
    def natural(cls) -> AffineRanges:
        """Natural RGB images (the AugIntAE paper's appendix).

        Half the characters' rotation (+-10 degrees) and shear (+-3 degrees),
        translation +-8 px in absolute pixels at the image's own resolution
        (not scaled from 28 px: the paper's "much smaller displacement
        overall" than the characters' relative shift), the same scale
        0.8-1.2, colour jitter (brightness, contrast and saturation 0.75-1.25,
        hue +-0.05 turn) and symmetric padding (``padding_mode="reflection"``),
        so no black borders appear.

        Source: Wertheimer, Poursaeed & Hariharan, "Augmentation-Interpolative
        AutoEncoders for Unsupervised Few-Shot Image Generation", 2020, appendix
        (implementation details). The colour-jitter amounts are this library's.
        """
        return cls(
            rotation=(-10.0, 10.0),
            translation_px=(-8.0, 8.0),
            reference_size=None,
            shear=(-3.0, 3.0),
            brightness=(0.75, 1.25),
            contrast=(0.75, 1.25),
            saturation=(0.75, 1.25),
            hue=(-0.05, 0.05),
            padding_mode="reflection",
        )

    def translation_at(self, image_size: int) -> tuple[float, float]:
        """The translation range in pixels for images of side ``image_size``."""
        if self.reference_size is None:
            return (float(self.translation_px[0]), float(self.translation_px[1]))
        px = image_size / self.reference_size
        return (self.translation_px[0] * px, self.translation_px[1] * px)

    def scaled(self, factor: float) -> AffineRanges:
        """All geometric ranges multiplied by ``factor`` (scale around 1).

        The translation stays in the same convention (relative to
        ``reference_size`` or absolute).
        """

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
    """``(n, 9)`` parameters: rotation, tx, ty (pixels), scale, shear, brightness, contrast, saturation, hue.

    ``tx`` and ``ty`` are drawn from :meth:`AffineRanges.translation_at`
    ``(image_size)``: scaled from ``ranges.reference_size`` or, when that is
    None, absolute pixels.
    """
    translation = ranges.translation_at(image_size)
    lows, highs = [], []
    for name in PARAM_NAMES:
        if name in ("tx", "ty"):
            lo, hi = translation
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
    """Apply per-image parameters to ``(n, C, H, W)`` images in one batched call.

    ``padding_mode`` fills the pixels brought in from outside the image
    (pass ``ranges.padding_mode`` to follow an :class:`AffineRanges`).
    """
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
    """Random augmentation of each image (fresh parameters per image, padded with ``ranges.padding_mode``)."""
    ranges = ranges or AffineRanges()
    params = sample_params(len(images), ranges, images.shape[-1], generator, images.device)
    return apply_params(images, params, padding_mode=ranges.padding_mode)


def augmentation_triplets(
    images: torch.Tensor, ranges: AffineRanges | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """AugIntAE training triplets ``(A, B, C, alpha)``.

    ``A = f(x; rho1)``, ``B = f(x; rho2)``, ``C = f(x; alpha rho1 + (1 - alpha) rho2)``
    (that is ``interpolate_params(rho2, rho1, alpha)``) with ``alpha`` the mean
    of two U(0, 1) draws (biased towards 0.5). ``alpha`` weights ``A``'s
    parameters, as in the paper, so the matching latent mix is
    ``slerp(E(A), E(B), 1 - alpha)`` (``slerp(a, b, 0) == a``). Pixels from
    outside the image are filled with ``ranges.padding_mode``.
    """
    ranges = ranges or AffineRanges()
    n, device = len(images), images.device
    size = images.shape[-1]
    p1 = sample_params(n, ranges, size, generator, device)
    p2 = sample_params(n, ranges, size, generator, device)
    alpha = torch.rand(n, 2, generator=generator, device=device).mean(dim=1)
    p3 = interpolate_params(p2, p1, alpha)
    stacked = apply_params(torch.cat([images, images, images]), torch.cat([p1, p2, p3]), ranges.padding_mode)
    a, b, c = stacked.chunk(3)
    return a, b, c, alpha
