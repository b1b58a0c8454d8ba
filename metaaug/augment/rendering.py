"""Random rendering changes of drawn images: blur and faded ink, batched.

Generated characters differ from real scans in how they are rendered (soft
edges, grey strokes) more than in what is drawn. Training an embedding with
these changes makes it judge the drawn class, not the rendering (used by the
class-faithfulness judge, :func:`metaaug.metrics.fit_prototype_judge`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, radius: int = 2) -> torch.Tensor:
    """Normalised ``(1, 1, 2 r + 1, 2 r + 1)`` Gaussian blur kernel."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    profile = torch.exp(-(offsets**2) / (2 * sigma**2))
    profile = profile / profile.sum()
    return (profile[:, None] * profile[None, :]).view(1, 1, 2 * radius + 1, 2 * radius + 1)


def soften_strokes(
    images: torch.Tensor,
    blur_probability: float = 0.5,
    sigmas: tuple[float, ...] = (0.6, 0.9, 1.2),
    fade_probability: float = 0.5,
    fade: tuple[float, float] = (0.6, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Randomly blur and fade each image of a batch (class-preserving rendering jitter).

    Parameters
    ----------
    images : torch.Tensor
        ``(n, C, H, W)`` in [0, 1], ink bright on a dark background (as
        Omniglot and digits are stored here).
    blur_probability : float
        Chance that an image is blurred by a Gaussian of a standard deviation
        drawn uniformly from ``sigmas`` (in pixels, 5x5 kernel).
    fade_probability : float
        Chance that an image's intensities are scaled by a factor drawn from
        ``U(fade)``, i.e. greyer strokes.
    generator : torch.Generator, optional

    Returns
    -------
    torch.Tensor
        ``(n, C, H, W)`` in [0, 1]; one batched convolution per blur level,
        on the images drawn for that level only.
    """
    for name, value in (("blur_probability", blur_probability), ("fade_probability", fade_probability)):
        if not 0 <= value <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if not 0 <= fade[0] <= fade[1] <= 1:
        raise ValueError(f"fade must be a range (low, high) inside [0, 1], got {fade!r}")
    n, channels = images.shape[:2]
    device = images.device
    level = torch.randint(1, len(sigmas) + 1, (n,), generator=generator).to(device)
    keep = torch.rand(n, generator=generator).to(device) >= blur_probability
    level = torch.where(keep, torch.zeros_like(level), level)
    out = images.clone()
    for index, sigma in enumerate(sigmas, start=1):  # one convolution per blur level, on its images only
        chosen = (level == index).nonzero().flatten()
        if len(chosen):
            kernel = gaussian_kernel(sigma).to(device).expand(channels, 1, 5, 5).contiguous()
            out[chosen] = F.conv2d(images[chosen], kernel, padding=2, groups=channels)
    scale = torch.empty(n).uniform_(fade[0], fade[1], generator=generator).to(device)
    scale = torch.where(torch.rand(n, generator=generator).to(device) < fade_probability, scale, torch.ones_like(scale))
    return (out * scale.view(n, 1, 1, 1)).clamp(0, 1)
