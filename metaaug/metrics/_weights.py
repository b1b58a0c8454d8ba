"""ImageNet weights from local files only: where they are, and reading them without running code.

The standard networks of the papers' metrics (LPIPS backbones, Inception-v3)
would normally be downloaded on first use. metaaug never downloads them: each
builder looks for its file first (an explicit ``weights_path``, else the file
torchvision's or torch-fidelity's own download would have left in
``<torch hub dir>/checkpoints/``) and raises ``FileNotFoundError`` naming the
expected path and the URL when it is missing. Files are read with
``weights_only=True``, so a file that would run code when unpickled is
refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import nn

from metaaug._compat import import_torchvision


def hub_checkpoint(url: str) -> Path:
    """Where ``torch.hub``'s download of ``url`` lands: ``<torch hub dir>/checkpoints/<file name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def torchvision_weights_url(enum_name: str) -> str:
    torchvision = import_torchvision()
    return str(getattr(torchvision.models, enum_name).IMAGENET1K_V1.url)


def torchvision_weights_path(enum_name: str) -> Path:
    """Where torchvision stores the ImageNet weights of ``enum_name`` (e.g. ``"AlexNet_Weights"``).

    That is ``<torch.hub.get_dir()>/checkpoints/<file name of the weights' URL>``
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``),
    the file a ``torchvision.models.alexnet(weights="IMAGENET1K_V1")`` call
    on a machine with internet access leaves behind.
    """
    return hub_checkpoint(torchvision_weights_url(enum_name))


def local_weights_file(weights_path: str | Path | None, url: str, what: str) -> Path:
    """``weights_path``, or the cached download of ``url``; an error naming both when the file is missing."""
    default = hub_checkpoint(url)
    path = Path(weights_path) if weights_path is not None else default
    if not path.is_file():
        raise FileNotFoundError(
            f"no {what} weights at {path}; metaaug never downloads weights. Get {url} (e.g. on a machine "
            f"with internet access) and put it at {default}, or pass weights_path= pointing to your copy."
        )
    return path


def as_rgb_batch(images: Any, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"{name} must be a (N, 1 or 3, H, W) image tensor, got {shape}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    images = images.float().clamp(0, 1)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def read_state_dict(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, read without running code (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # an unpickling, zip or format error: the message names the file either way
        raise ValueError(
            f"{path} is not a {what} weights file: it does not load as plain tensors ({type(err).__name__})"
        ) from err
    if not isinstance(state, dict) or not all(isinstance(value, torch.Tensor) for value in state.values()):
        raise ValueError(f"{path} does not hold a state dict (a {what} weights file)")
    return state


def load_weights(network: nn.Module, path: Path, what: str) -> None:
    try:
        network.load_state_dict(read_state_dict(path, what))
    except RuntimeError as err:  # missing, unexpected or mis-shaped entries
        raise ValueError(f"{path} is not a {what} weights file: {str(err).splitlines()[0]}") from err
