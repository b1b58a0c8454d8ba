"""Loss terms shared by several methods."""

from __future__ import annotations

import torch


def mode_seeking_term(
    images_a: torch.Tensor,
    images_b: torch.Tensor,
    latents_a: torch.Tensor,
    latents_b: torch.Tensor,
    eps: float = 1e-5,
    ratio: str = "batch",
) -> torch.Tensor:
    """Mao et al.'s mode-seeking regulariser (MSGAN, CVPR 2019), to be minimised by a generator.

    ``1 / (d(images_a, images_b) / d(latents_a, latents_b) + eps)`` with mean
    absolute differences as distances, where ``images_a = G(latents_a)`` and
    ``images_b = G(latents_b)``. Positive, and the smaller the more the two
    outputs differ relative to their latents, so minimising it spreads the
    generator's outputs.

    Parameters
    ----------
    images_a, images_b : torch.Tensor
        ``(n, ...)`` generator outputs.
    latents_a, latents_b : torch.Tensor
        ``(n, d)`` latents (or noise vectors) that produced them.
    eps : float, default 1e-5
        Added to the ratio before inverting it.
    ratio : {"batch", "sample"}, default "batch"
        ``"batch"``: the ratio of the two batch-mean distances (MSGAN's
        official code; Meta-FAVAE). ``"sample"``: the batch mean of the
        per-pair ratios (LASIUM's GAN).
    """
    if ratio == "batch":
        quotient = (images_a - images_b).abs().mean() / (latents_a - latents_b).abs().mean().clamp_min(1e-12)
        return 1.0 / (quotient + eps)
    if ratio == "sample":
        image_distance = (images_a - images_b).abs().flatten(1).mean(1)
        latent_distance = (latents_a - latents_b).abs().mean(1)
        return 1.0 / ((image_distance / latent_distance).mean() + eps)
    raise ValueError(f"ratio must be 'batch' or 'sample', got {ratio!r}")
