"""Linear and spherical interpolation, batched."""

from __future__ import annotations

import torch


def _alpha_like(alpha: torch.Tensor | float, a: torch.Tensor) -> torch.Tensor:
    alpha = torch.as_tensor(alpha, dtype=a.dtype, device=a.device)
    if alpha.ndim == 1 and a.ndim > 1:
        alpha = alpha.view(-1, *([1] * (a.ndim - 1)))
    return alpha


def check_alpha(alpha: torch.Tensor | float, name: str = "alpha") -> None:
    """Raise ``ValueError`` unless every alpha is a finite number in [0, 1]."""
    values = torch.as_tensor(alpha, dtype=torch.float64)
    if not bool(torch.isfinite(values).all()) or bool((values < 0).any()) or bool((values > 1).any()):
        raise ValueError(f"{name} must lie in [0, 1], got {values.flatten()[:5].tolist()}")


def lerp(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
    """``(1 - alpha) * a + alpha * b`` (``alpha`` scalar or one per row)."""
    alpha = _alpha_like(alpha, a)
    return a + alpha * (b - a)


def slerp(a: torch.Tensor, b: torch.Tensor, alpha: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (flattened per row).

    ``alpha = 0`` gives ``a``, ``alpha = 1`` gives ``b``; unit-norm inputs stay
    on the unit sphere. Nearly parallel pairs fall back to ``lerp``.
    """
    shape = a.shape
    a2, b2 = a.reshape(shape[0], -1), b.reshape(shape[0], -1)
    alpha = torch.as_tensor(alpha, dtype=a.dtype, device=a.device).reshape(-1, 1)
    a_unit = a2 / a2.norm(dim=1, keepdim=True).clamp_min(eps)
    b_unit = b2 / b2.norm(dim=1, keepdim=True).clamp_min(eps)
    cos = (a_unit * b_unit).sum(dim=1, keepdim=True).clamp(-1 + eps, 1 - eps)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    near = sin.abs() < 1e-4
    safe_sin = torch.where(near, torch.ones_like(sin), sin)
    wa = torch.where(near, 1 - alpha, torch.sin((1 - alpha) * omega) / safe_sin)
    wb = torch.where(near, alpha, torch.sin(alpha * omega) / safe_sin)
    out = wa * a2 + wb * b2
    # exact endpoints (floating point would otherwise drift by ~1e-7)
    out = torch.where(alpha == 0, a2, torch.where(alpha == 1, b2, out))
    return out.reshape(shape)
