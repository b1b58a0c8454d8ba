"""LASIUM over a generator the user brings: latent priors, devices, decoding and output handling.

A *generator* is an ``nn.Module`` or a callable mapping latents ``(N, d)`` to
images; a *codec* also has ``encode(images)`` (and then ``decode(latents)`` is
what decodes, never ``forward``). :class:`GeneratorAdapter` wraps generators
that need more inputs than a latent batch. Decoded batches are validated and
converted to the library's image convention by :class:`OutputSpec`:

* range: ``output_range=(low, high)`` is mapped linearly to ``[0, 1]``;
  ``"auto"`` reads a probe batch at ``fit``: values below ``-0.1`` mean a
  tanh generator (``[-1, 1]``), otherwise ``[0, 1]``;
* size: bilinear resizing (with antialiasing when shrinking) to the target
  height and width;
* channels: RGB to grey by the ITU-R BT.601 luma weights (0.299, 0.587,
  0.114), grey to RGB by repeating the channel; other conversions are refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from metaaug.base import MetaaugEstimator, resolve_device
from metaaug.nets import eval_mode

PRIORS = ("normal", "uniform", "truncated_normal")
TRUNCATION = 2.0  # "truncated_normal": N(0, 1) restricted to [-2, 2]
LUMA = (0.299, 0.587, 0.114)
AUTO_NEGATIVE = -0.1  # "auto" output range: a probe value below this means a [-1, 1] generator
OUT_OF_RANGE = 0.5  # outputs more than this share of the range's width outside it are refused
LATENT_DIM_NAMES = ("latent_dim", "z_dim", "nz", "dim_z")


class GeneratorAdapter(nn.Module):
    """Adapt a generator that needs more than a latent batch to LASIUM's ``z -> images``.

    Parameters
    ----------
    generator : nn.Module or callable
        Called as ``generator(z, *args, **kwargs)``.
    latent_dim : int
        Size of the flat latents LASIUM draws (exposed as ``latent_dim``).
    latent_shape : tuple of int, optional
        Shape each latent is reshaped to before the call, e.g. ``(100, 1, 1)``
        for a DCGAN generator; default: flat.
    args, kwargs : extra inputs
        Each value is passed as is, except callables, which are called with
        the latent batch and passed their result (e.g. ``lambda z:
        one_hot_labels(len(z))`` for a class-conditional generator, or a
        truncation value as a plain float).
    output : callable, optional
        Applied to the generator's return value (e.g. ``lambda out: out[0]``).
    """

    def __init__(
        self,
        generator: Callable[..., Any],
        latent_dim: int,
        latent_shape: tuple[int, ...] | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        output: Callable[[Any], torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.latent_dim = int(latent_dim)
        self.latent_shape = latent_shape
        self.args = args
        self.kwargs = kwargs or {}
        self.output = output

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents if self.latent_shape is None else latents.reshape(len(latents), *self.latent_shape)

        def value(v: Any) -> Any:
            return v(latents) if callable(v) else v

        out = self.generator(z, *(value(a) for a in self.args), **{k: value(v) for k, v in self.kwargs.items()})
        return self.output(out) if self.output is not None else out


def sample_prior(prior: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """Latents of ``shape`` from ``prior`` (a name of :data:`PRIORS` or a callable ``shape -> tensor``), on the CPU.

    Draws from torch's global RNG, which LASIUM seeds from ``random_state``
    (a callable prior should do the same to be reproducible).
    """
    if prior == "normal":
        return torch.randn(shape)
    if prior == "uniform":
        return 2 * torch.rand(shape) - 1
    if prior == "truncated_normal":
        return nn.init.trunc_normal_(torch.empty(shape), 0.0, 1.0, -TRUNCATION, TRUNCATION)
    z = torch.as_tensor(prior(shape)).float().cpu()
    if tuple(z.shape) != tuple(shape) or not bool(torch.isfinite(z).all()):
        raise ValueError(
            f"the prior callable must return finite latents of the requested shape {tuple(shape)}, "
            f"got shape {tuple(z.shape)}"
        )
    return z


def is_codec(backend: Any) -> bool:
    return callable(getattr(backend, "encode", None)) and callable(getattr(backend, "decode", None))


def decoder_of(backend: Any) -> Callable[[torch.Tensor], Any]:
    """What decodes a latent batch: ``backend.decode`` when it has one (never ``forward``), else the backend."""
    decode = getattr(backend, "decode", None)
    return decode if callable(decode) else backend


def backend_device(backend: Any, default: torch.device) -> torch.device:
    """Where ``backend`` computes: a module's parameters' device, an estimator's device, else ``default``."""
    if isinstance(backend, nn.Module):
        for tensor in [*backend.parameters(), *backend.buffers()]:
            return tensor.device
        return default
    if isinstance(backend, MetaaugEstimator):
        return backend._device()
    inner = getattr(backend, "generator", None)  # an adapter-like wrapper around a module
    return backend_device(inner, default) if isinstance(inner, nn.Module) else default


def check_device(backend: Any, requested: Any) -> None:
    """Refuse a module that lives on another device than an explicitly requested one."""
    if requested == "auto" or not isinstance(backend, nn.Module):
        return
    wanted = resolve_device(requested)
    actual = backend_device(backend, wanted)
    if actual.type != wanted.type or (wanted.index is not None and actual.index != wanted.index):
        raise ValueError(
            f"the generator's parameters are on {actual} but device={requested!r} was requested; move it "
            f"(generator.to({str(wanted)!r})) or pass device='auto' to use the generator's own device"
        )


def generator_latent_dim(backend: Any, latent_dim: int | None) -> int:
    """``latent_dim``, or the generator's own (one of :data:`LATENT_DIM_NAMES`); a mismatch is an error."""
    own = next((getattr(backend, n) for n in LATENT_DIM_NAMES if isinstance(getattr(backend, n, None), int)), None)
    if latent_dim is not None and own is not None and int(latent_dim) != own:
        raise ValueError(f"latent_dim={latent_dim} does not match the generator's latent size {own}")
    if latent_dim is None and own is None:
        raise ValueError(
            "the generator's latent size is unknown: pass latent_dim=<size of its input latents> "
            f"(or give the generator one of the attributes {', '.join(LATENT_DIM_NAMES)})"
        )
    return int(latent_dim if latent_dim is not None else own)  # type: ignore[arg-type]


@torch.no_grad()
def run_decoder(
    backend: Any, latents: torch.Tensor, latent_shape: tuple[int, ...], batch_size: int, default: torch.device
) -> list[Any]:
    """Raw decoder outputs for ``(N, d)`` latents, in batches on the backend's device, in eval mode, no grad.

    A backend without a device of its own (a plain callable) gets its latents on ``default``.
    """
    device = backend_device(backend, default)
    decode = decoder_of(backend)
    module = backend if isinstance(backend, nn.Module) else None
    with eval_mode(module):
        return [decode(chunk.view(len(chunk), *latent_shape).to(device)) for chunk in latents.split(batch_size)]


@dataclass
class OutputSpec:
    """How raw decoder outputs become ``(N, *shape)`` images in [0, 1]: their range and the target shape."""

    low: float
    high: float
    shape: tuple[int, int, int]

    def images(self, raw: Any, n: int) -> torch.Tensor:
        """Validate one decoded batch of ``n`` latents, map its range to [0, 1], resize, convert its channels."""
        x = check_output(raw, n, self.shape)
        low, high = self.low, self.high
        width = high - low
        lo, hi = float(x.min()), float(x.max())
        if lo < low - OUT_OF_RANGE * width or hi > high + OUT_OF_RANGE * width:
            raise ValueError(
                f"the generator's output values span [{lo:.4g}, {hi:.4g}], far outside its output range "
                f"[{low:g}, {high:g}]; pass output_range=(low, high) with the generator's true range"
            )
        if (low, high) != (0.0, 1.0):
            x = (x - low) / width
        return convert(x, self.shape)


def check_output(raw: Any, n: int, shape: tuple[int, int, int] | None) -> torch.Tensor:
    """``raw`` as a float32 CPU batch ``(n, C, H, W)``; wrong types, ranks, batch sizes or NaNs are errors.

    A 3-D batch is one channel; a 2-D batch of flat images is reshaped to ``shape`` when the sizes agree.
    """
    if isinstance(raw, np.ndarray):
        raw = torch.from_numpy(raw)
    if not isinstance(raw, torch.Tensor):
        raise ValueError(f"the generator must return a tensor of images, got {type(raw).__name__}")
    x = raw.detach().float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    elif x.ndim == 2 and shape is not None and x.shape[1] == math.prod(shape):
        x = x.reshape(len(x), *shape)
    if x.ndim != 4:
        raise ValueError(
            f"the generator must return an image batch (N, C, H, W), got a tensor of shape {tuple(raw.shape)}"
        )
    if len(x) != n:
        raise ValueError(f"the generator returned {len(x)} images for {n} latents")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("the generator returned NaN or infinite values")
    return x


def convert(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Resize ``x`` ``(N, C, H, W)`` to ``shape[1:]`` and convert its channels to ``shape[0]``."""
    channels, height, width = shape
    if tuple(x.shape[2:]) != (height, width):
        shrink = x.shape[2] > height or x.shape[3] > width
        x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink)
    if x.shape[1] != channels:
        if x.shape[1] == 3 and channels == 1:
            x = torch.tensordot(x, torch.tensor(LUMA), dims=([1], [0])).unsqueeze(1)
        elif x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        else:
            raise ValueError(f"cannot convert the generator's {x.shape[1]}-channel images to {channels} channel(s)")
    return x.contiguous()


def detect_range(raw: torch.Tensor, declared: Any) -> tuple[float, float]:
    """The output range: ``declared`` ``(low, high)``, or for ``"auto"`` ``[-1, 1]`` / ``[0, 1]`` read from ``raw``."""
    if declared != "auto":
        return float(declared[0]), float(declared[1])
    lo, hi = float(raw.min()), float(raw.max())
    low = -1.0 if lo < AUTO_NEGATIVE else 0.0
    if lo < low - OUT_OF_RANGE or hi > 1 + OUT_OF_RANGE:
        raise ValueError(
            f"the generator's output values span [{lo:.4g}, {hi:.4g}], which fits neither [0, 1] nor [-1, 1]; "
            "pass output_range=(low, high)"
        )
    return low, 1.0


def probe(
    backend: Any,
    latents: torch.Tensor,
    latent_shape: tuple[int, ...],
    target: tuple[int, int, int] | None,
    default: torch.device,
) -> torch.Tensor:
    """Decode a few latents as a check: a generator that fails on them is reported with the latent shape tried."""
    try:
        raw = run_decoder(backend, latents, latent_shape, len(latents), default)[0]
    except (RuntimeError, TypeError, ValueError) as err:
        raise ValueError(
            f"the generator failed on a latent batch of shape {(len(latents), *latent_shape)}: {err}. "
            "Check latent_dim (it must be the generator's input size) or wrap the generator in a GeneratorAdapter"
        ) from err
    return check_output(raw, len(latents), target)
