"""Small pieces shared by several networks and methods."""

from __future__ import annotations

import torch


def reparameterize(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    """A draw from ``N(mean, exp(log_variance))`` that gradients flow through (the reparameterisation trick)."""
    return mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)
