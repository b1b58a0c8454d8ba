"""LPIPS through torchmetrics, with the ImageNet backbone from a local file only.

:func:`lpips_network` builds torchmetrics' LPIPS (AlexNet, VGG16 or
SqueezeNet backbone; the learned linear heads ship inside the torchmetrics
package) and returns an :class:`LPIPS` distance that takes metaaug images
(``[0, 1]``, grey or RGB, any size). The backbone's weights are read from
``weights_path`` or torchvision's cache (:func:`torchvision_weights_path`);
nothing is downloaded (:mod:`metaaug.metrics._weights`).

The Inception Score and the Inception networks live in
:mod:`metaaug.metrics.inception`; they are importable from here too, as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from metaaug.metrics._weights import (
    as_rgb_batch,
    local_weights_file,
    read_state_dict,
    torchvision_weights_path,
    torchvision_weights_url,
)
from metaaug.metrics.inception import FIDELITY_INCEPTION_URL as FIDELITY_INCEPTION_URL  # importable from here as before
from metaaug.metrics.inception import FidelityInception as FidelityInception
from metaaug.metrics.inception import fidelity_inception as fidelity_inception
from metaaug.metrics.inception import inception_classifier as inception_classifier
from metaaug.metrics.inception import inception_score as inception_score

__all__ = [
    "LPIPS",
    "LPIPS_BACKBONES",
    "lpips_network",
    "torchvision_weights_path",
]

LPIPS_BACKBONES = {
    "alex": ("alexnet", "AlexNet_Weights"),
    "vgg": ("vgg16", "VGG16_Weights"),
    "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights"),
}


class LPIPS(nn.Module):
    """LPIPS distance between two batches of metaaug images.

    Calling it with two ``(P, C, H, W)`` batches (``C`` 1 or 3, values in
    ``[0, 1]``; grey is repeated to RGB) returns ``P`` float distances.

    Parameters
    ----------
    network : nn.Module
        An LPIPS network with torchmetrics' interface: ``network(a, b,
        normalize=True)`` maps two RGB batches in ``[0, 1]`` to ``(P, 1, 1, 1)``
        distances (what :func:`lpips_network` builds).
    image_size : int or None, default=None
        ``None`` keeps the image size, except that images whose smaller side
        is under 64 px (the patch size LPIPS was calibrated on; AlexNet's
        strides need at least about 32) are upsampled bilinearly so that it
        becomes 64. An int resizes every image to ``image_size`` squared
        (the LoFGAN evaluation code resizes to 32).
    scaling : {"lpips", "lofgan-code"}, default="lpips"
        ``"lpips"``: images in ``[0, 1]`` are mapped to ``[-1, 1]`` once, as
        LPIPS expects. ``"lofgan-code"``: mapped twice, to ``[-3, 1]``, as
        LoFGAN's evaluation script does (it converts images to ``[-1, 1]``
        and then calls LPIPS with ``normalize=True``, which maps them again);
        use it only to recompute numbers comparable with LoFGAN's Table 1.
    """

    def __init__(
        self, network: nn.Module, image_size: int | None = None, scaling: Literal["lpips", "lofgan-code"] = "lpips"
    ) -> None:
        super().__init__()
        if image_size is not None and int(image_size) < 1:
            raise ValueError(f"image_size must be None or a positive int, got {image_size}")
        if scaling not in ("lpips", "lofgan-code"):
            raise ValueError(f"scaling must be 'lpips' or 'lofgan-code', got {scaling!r}")
        self.network = network
        self.image_size = image_size
        self.scaling = scaling

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        if self.image_size is not None:
            size = (int(self.image_size), int(self.image_size))
        elif min(height, width) < 64:
            scale = 64 / min(height, width)
            size = (max(64, round(height * scale)), max(64, round(width * scale)))
        else:
            return images
        return F.interpolate(images, size=size, mode="bilinear", align_corners=False).clamp(0, 1)

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        first, second = as_rgb_batch(first, "first"), as_rgb_batch(second, "second")
        if first.shape != second.shape:
            raise ValueError(f"LPIPS compares batches of one shape, got {tuple(first.shape)} and {tuple(second.shape)}")
        device = next((p.device for p in self.network.parameters()), first.device)
        first, second = self._resize(first.to(device)), self._resize(second.to(device))
        if self.scaling == "lofgan-code":
            first, second = 2 * first - 1, 2 * second - 1
        with torch.no_grad():
            return self.network(first, second, normalize=True).reshape(len(first)).float()


def _backbone_slices(backbone: nn.Module) -> dict[str, nn.Module]:
    """``features.<i>`` layer of the torchvision network -> the module holding it inside torchmetrics' LPIPS."""
    layers: dict[str, nn.Module] = {}
    for module in backbone.modules():
        children = list(module.named_children())
        if isinstance(module, nn.Sequential) and children and all(name.isdigit() for name, _ in children):
            layers.update(children)
    return layers


def _load_backbone(backbone: nn.Module, path: Path, arch: str) -> None:
    state = read_state_dict(path, f"torchvision {arch}")
    layers = _backbone_slices(backbone)
    per_layer: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] == "features" and len(parts) > 2 and parts[1] in layers:
            per_layer.setdefault(parts[1], {})[".".join(parts[2:])] = value
    for index, layer in layers.items():
        if any(True for _ in layer.parameters()):
            if index not in per_layer:
                raise ValueError(
                    f"{path} is not a torchvision {arch} weights file: it has no 'features.{index}.*' entries"
                )
            layer.load_state_dict(per_layer[index])


def lpips_network(
    net: Literal["alex", "vgg", "squeeze"] = "alex",
    weights_path: str | Path | None = None,
    image_size: int | None = None,
    device: str = "cpu",
    scaling: Literal["lpips", "lofgan-code"] = "lpips",
) -> LPIPS:
    """torchmetrics' LPIPS with the ImageNet backbone read from a local file.

    Parameters
    ----------
    net : {"alex", "vgg", "squeeze"}, default="alex"
        Backbone: AlexNet (torchmetrics' and the LPIPS paper's default), VGG16
        (the LoFGAN evaluation code) or SqueezeNet 1.1.
    weights_path : str, Path or None, default=None
        torchvision's ImageNet weights of that backbone
        (``alexnet-owt-7be5be79.pth``, ``vgg16-397923af.pth``,
        ``squeezenet1_1-b8a52dc0.pth``). ``None`` looks where torchvision keeps
        them (:func:`torchvision_weights_path`). A missing file raises
        ``FileNotFoundError`` naming the expected path and the URL; nothing is
        downloaded. The linear heads of LPIPS v0.1 ship inside torchmetrics.
    image_size : int or None, default=None
        See :class:`LPIPS`.
    device : str, default="cpu"
    scaling : {"lpips", "lofgan-code"}, default="lpips"
        See :class:`LPIPS`.

    Returns
    -------
    LPIPS
        ``lpips(a, b)`` -> ``(P,)`` distances; pass it as ``distance`` to
        :func:`~metaaug.metrics.pairwise_diversity` or as ``lpips`` to
        :func:`~metaaug.metrics.protocols.lofgan_protocol`.
    """
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}")
    arch, enum_name = LPIPS_BACKBONES[net]
    url = torchvision_weights_url(enum_name)
    path = local_weights_file(weights_path, url, f"torchvision {arch} ImageNet")
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    # pnet_rand=True builds the backbone without torchvision's download; pretrained=True loads the heads
    network = _NoTrainLpips(net=net, pretrained=True, pnet_rand=True)
    _load_backbone(network.net, path, arch)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return LPIPS(network.eval().to(device), image_size=image_size, scaling=scaling)
