"""Inception-v3 networks of the papers' FID and Inception Score, and the Inception Score itself.

* :func:`inception_score` is torchmetrics' ``InceptionScore`` on the logits
  of any classifier ``images -> logits``; :func:`inception_classifier` builds
  the standard one (torchvision's Inception-v3, or torch-fidelity's port of
  the 2015 TensorFlow graph that the papers' numbers come from).
* :func:`fidelity_inception` builds that port with either output: the 2048
  pool features of FID (what :func:`~metaaug.metrics.inception_feature_extractor`
  returns) or the 1008 logits of the Inception Score.

Weights come from local files only (:mod:`metaaug.metrics._weights`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from metaaug._compat import import_torchvision
from metaaug._random import RandomState, check_rng, torch_seeded
from metaaug.metrics._weights import (
    as_rgb_batch,
    load_weights,
    local_weights_file,
    read_state_dict,
    torchvision_weights_url,
)
from metaaug.metrics.features import Embedder, compute_features

#: torch-fidelity's file of the 2015 TensorFlow Inception graph (FID and IS as the papers compute them)
FIDELITY_INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


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
    import_torchvision()
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
        images = F.interpolate(as_rgb_batch(images, "images"), size=(299, 299), mode="bilinear", align_corners=False)
        # the Google weights expect (x - 0.5) / 0.5, what torchvision's transform_input produces
        return self.inception(2 * images - 1)


class FidelityInception(nn.Module):
    """[0, 1] images, grey or RGB, any size -> one output of torch-fidelity's 2015 Inception graph.

    The graph takes uint8 RGB and resizes to 299 px itself; grey is repeated
    to RGB. ``num_features`` is the output width (2048 pool features for FID,
    1008 unbiased logits for the Inception Score).
    """

    def __init__(self, inception: nn.Module, num_features: int) -> None:
        super().__init__()
        self.inception = inception
        self.num_features = num_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.inception((as_rgb_batch(images, "images") * 255).round().to(torch.uint8))


def fidelity_inception(output: Literal["2048", "logits_unbiased"], weights_path: str | Path | None = None) -> nn.Module:
    """torch-fidelity's port of the 2015 TensorFlow Inception graph, from a local weights file.

    Parameters
    ----------
    output : {"2048", "logits_unbiased"}
        ``"2048"``: the pool features of FID and KID;
        ``"logits_unbiased"``: the 1008 logits without bias of the Inception Score.
    weights_path : str, Path or None, default=None
        torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``.
        ``None`` looks where torch-fidelity's own download leaves it,
        ``<torch hub dir>/checkpoints/``. A missing file raises
        ``FileNotFoundError`` naming the path and the URL; nothing is
        downloaded. The file is read with ``weights_only=True`` first, so a
        file that would run code when unpickled is refused.

    Returns
    -------
    FidelityInception
        In eval mode, without gradients.
    """
    sizes = {"2048": 2048, "logits_unbiased": 1008}
    if output not in sizes:
        raise ValueError(f"output must be one of {sorted(sizes)}, got {output!r}")
    what = "torch-fidelity Inception (2015)"
    url = FIDELITY_INCEPTION_URL
    path = local_weights_file(weights_path, url, what)
    read_state_dict(
        path, what
    )  # torch-fidelity unpickles the file with weights_only=False: only plain tensors get there
    import_torchvision()
    from torchmetrics.image.fid import NoTrainInceptionV3

    try:
        inception = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=[output], feature_extractor_weights_path=str(path)
        )
    except ModuleNotFoundError as err:
        raise ImportError(f"the {what} network needs `pip install torch-fidelity`") from err
    except RuntimeError as err:  # load_state_dict: missing, unexpected or mis-shaped entries
        raise ValueError(f"{path} is not a {what} weights file: {str(err).splitlines()[0]}") from err
    return FidelityInception(inception, sizes[output]).eval()


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
        URL, a file of other weights ``ValueError``; nothing is downloaded.
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
    if source == "torchvision":
        what = "torchvision Inception-v3 ImageNet"
        url = torchvision_weights_url("Inception_V3_Weights")
        path = local_weights_file(weights_path, url, what)
        torchvision = import_torchvision()
        network = torchvision.models.inception_v3(
            weights=None, aux_logits=True, transform_input=False, init_weights=False
        )
        load_weights(network, path, what)
        return _TorchvisionInception(network).eval()
    if source == "torch-fidelity":
        return fidelity_inception("logits_unbiased", weights_path)
    raise ValueError(f"source must be 'torchvision' or 'torch-fidelity', got {source!r}")
