"""LPIPS and Inception Score through torchmetrics, with ImageNet weights from local files only.

Both metrics need ImageNet networks that torchmetrics and torchvision would
normally download on first use. Here nothing is downloaded: the functions look
for the weight file first (an explicit ``weights_path``, else the file
torchvision's own download would have left in ``<torch hub dir>/checkpoints/``,
see :func:`torchvision_weights_path`) and raise ``FileNotFoundError`` naming
the expected path and how to get the file when it is missing.

* :func:`lpips_network` builds torchmetrics' LPIPS (AlexNet, VGG16 or
  SqueezeNet backbone; the learned linear heads ship inside the torchmetrics
  package) and returns an :class:`LPIPS` distance that takes metaaug images
  (``[0, 1]``, grey or RGB, any size).
* :func:`inception_score` is torchmetrics' ``InceptionScore`` on the logits
  of any classifier ``images -> logits``; :func:`inception_classifier` builds
  the standard one (torchvision's Inception-v3, or torch-fidelity's port of
  the 2015 TensorFlow graph that the papers' numbers come from).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.metrics.features import Embedder, compute_features

LPIPS_BACKBONES = {
    "alex": ("alexnet", "AlexNet_Weights"),
    "vgg": ("vgg16", "VGG16_Weights"),
    "squeeze": ("squeezenet1_1", "SqueezeNet1_1_Weights"),
}
#: torch-fidelity's file of the 2015 TensorFlow Inception graph (FID and IS as the papers compute them)
FIDELITY_INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


def _torchvision() -> Any:
    from metaaug._compat import import_torchvision

    return import_torchvision()


def _url_file(url: str) -> str:
    return Path(urlparse(url).path).name


def _weights_url(enum_name: str) -> str:
    torchvision = _torchvision()
    return str(getattr(torchvision.models, enum_name).IMAGENET1K_V1.url)


def torchvision_weights_path(enum_name: str) -> Path:
    """Where torchvision stores the ImageNet weights of ``enum_name`` (e.g. ``"AlexNet_Weights"``).

    That is ``<torch.hub.get_dir()>/checkpoints/<file name of the weights' URL>``
    (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``),
    the file a ``torchvision.models.alexnet(weights="IMAGENET1K_V1")`` call
    on a machine with internet access leaves behind.
    """
    return Path(torch.hub.get_dir()) / "checkpoints" / _url_file(_weights_url(enum_name))


def _weights_file(weights_path: str | Path | None, default: Path, url: str, what: str) -> Path:
    path = Path(weights_path) if weights_path is not None else default
    if not path.is_file():
        raise FileNotFoundError(
            f"no {what} weights at {path}; metaaug never downloads weights. Get {url} (e.g. on a machine "
            f"with internet access) and put it at {default}, or pass weights_path= pointing to your copy."
        )
    return path


def _as_batch(images: Any, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise ValueError(f"{name} must be a (N, 1 or 3, H, W) image tensor, got {shape}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError(f"{name} contain NaN or infinite values")
    images = images.float().clamp(0, 1)
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


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
    """

    def __init__(self, network: nn.Module, image_size: int | None = None) -> None:
        super().__init__()
        if image_size is not None and int(image_size) < 1:
            raise ValueError(f"image_size must be None or a positive int, got {image_size}")
        self.network = network
        self.image_size = image_size

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
        first, second = _as_batch(first, "first"), _as_batch(second, "second")
        if first.shape != second.shape:
            raise ValueError(f"LPIPS compares batches of one shape, got {tuple(first.shape)} and {tuple(second.shape)}")
        device = next((p.device for p in self.network.parameters()), first.device)
        first, second = self._resize(first.to(device)), self._resize(second.to(device))
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
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (a torchvision {arch} weights file)")
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
    url = _weights_url(enum_name)
    path = _weights_file(weights_path, torchvision_weights_path(enum_name), url, f"torchvision {arch} ImageNet")
    from torchmetrics.functional.image.lpips import _NoTrainLpips

    # pnet_rand=True builds the backbone without torchvision's download; pretrained=True loads the heads
    network = _NoTrainLpips(net=net, pretrained=True, pnet_rand=True)
    _load_backbone(network.net, path, arch)
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return LPIPS(network.eval().to(device), image_size=image_size)


class _Logits(nn.Module):
    """Identity 'network' so torchmetrics' InceptionScore consumes logits computed once."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits


def inception_score(
    classifier: Embedder,
    images: Any,
    splits: int = 10,
    batch_size: int = 64,
    random_state: RandomState = 0,
) -> tuple[float, float]:
    """Inception Score ``exp(E_x KL(p(y|x) || p(y)))`` of ``images``: mean and std over splits.

    Parameters
    ----------
    classifier : callable or object with ``embed``
        Maps an image batch ``(N, C, H, W)`` in ``[0, 1]`` to class logits
        ``(N, K)``; :func:`inception_classifier` builds the standard
        Inception-v3 from local weights. Run in batches, without gradients.
    images : array-like
        Any image input :func:`metaaug.data.as_images` accepts; at least
        ``splits`` images.
    splits : int, default=10
        The images are shuffled and cut into this many groups (torchmetrics'
        ``chunk``); the score is computed per group.
    batch_size : int, default=64
    random_state : int, Generator or None, default=0
        Draws the shuffle, so scores are reproducible.

    Returns
    -------
    (mean, std) : tuple of float
        Over the groups (``std`` is 0.0 with one group). 1 is the minimum;
        ``K`` the maximum (every image confidently in its own class, all
        classes equally often).
    """
    if int(splits) < 1:
        raise ValueError(f"splits must be >= 1, got {splits}")
    logits = compute_features(classifier, images, batch_size=batch_size, name="images")
    if len(logits) < int(splits):
        raise ValueError(f"the Inception Score over {splits} splits needs at least {splits} images, got {len(logits)}")
    if logits.shape[1] < 2:
        raise ValueError(f"classifier must return logits over >= 2 classes, got {logits.shape[1]} per image")
    _torchvision()
    from torchmetrics.image.inception import InceptionScore

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        metric = InceptionScore(feature=_Logits(), splits=int(splits))
    metric.update(logits.double())
    with torch_seeded(check_rng(random_state)), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*degrees of freedom.*")  # the std of one split
        mean, std = metric.compute()
    return float(mean), (float(std) if int(splits) > 1 else 0.0)


class _TorchvisionInception(nn.Module):
    """[0, 1] images, grey or RGB, any size -> 1000 ImageNet logits of torchvision's Inception-v3."""

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        self.inception = inception

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = F.interpolate(_as_batch(images, "images"), size=(299, 299), mode="bilinear", align_corners=False)
        # the Google weights expect (x - 0.5) / 0.5, what torchvision's transform_input produces
        return self.inception(2 * images - 1)


class _FidelityInception(nn.Module):
    """[0, 1] images -> 1008 logits (without bias) of torch-fidelity's 2015 Inception graph."""

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        self.inception = inception

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inception((_as_batch(images, "images") * 255).round().to(torch.uint8))


def inception_classifier(
    weights_path: str | Path | None = None, source: Literal["torchvision", "torch-fidelity"] = "torchvision"
) -> nn.Module:
    """The Inception-v3 classifier of the Inception Score, from a local weights file.

    Parameters
    ----------
    weights_path : str, Path or None, default=None
        ``None`` looks where the file would be cached: for ``"torchvision"``
        ``<torch hub dir>/checkpoints/inception_v3_google-0cc3c7bd.pth``
        (:func:`torchvision_weights_path`), for ``"torch-fidelity"``
        ``<torch hub dir>/checkpoints/weights-inception-2015-12-05-6726825d.pth``.
        A missing file raises ``FileNotFoundError`` naming the path and the
        URL; nothing is downloaded.
    source : {"torchvision", "torch-fidelity"}, default="torchvision"
        ``"torchvision"``: torchvision's ImageNet Inception-v3 (1000 logits),
        needs only torchvision. ``"torch-fidelity"``: the port of the 2015
        TensorFlow graph (1008 logits without bias, ``logits_unbiased``),
        which torchmetrics' and torch-fidelity's IS use and the papers report;
        needs ``pip install torch-fidelity``. Scores of the two differ.

    Returns
    -------
    nn.Module
        In eval mode; takes metaaug images (``[0, 1]``, grey or RGB, any size;
        resized to 299 px) and returns logits. Pass it to :func:`inception_score`.
    """
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    if source == "torchvision":
        url = _weights_url("Inception_V3_Weights")
        path = _weights_file(weights_path, checkpoints / _url_file(url), url, "torchvision Inception-v3 ImageNet")
        torchvision = _torchvision()
        network = torchvision.models.inception_v3(
            weights=None, aux_logits=True, transform_input=False, init_weights=False
        )
        network.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return _TorchvisionInception(network).eval()
    if source == "torch-fidelity":
        url = FIDELITY_INCEPTION_URL
        path = _weights_file(weights_path, checkpoints / _url_file(url), url, "torch-fidelity Inception (2015)")
        _torchvision()
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            inception = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=["logits_unbiased"],
                feature_extractor_weights_path=str(path),
            )
        except ModuleNotFoundError as err:
            raise ImportError("source='torch-fidelity' needs `pip install torch-fidelity`") from err
        return _FidelityInception(inception).eval()
    raise ValueError(f"source must be 'torchvision' or 'torch-fidelity', got {source!r}")
