"""PsCo's networks: a conv backbone with projector and predictor, its momentum copy, and the queue of keys."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from metaaug.nets.conv4 import Conv4

#: the paper's backbones: conv4 (Omniglot, 28 px) and conv5 (mini-ImageNet, 84 px), 64 filters each
BACKBONES = ("conv4", "conv5")


def mlp(in_features: int, hidden: int, out_features: int, last_norm: bool) -> nn.Sequential:
    """Linear -> batch norm -> ReLU -> linear (bias-free), optionally ending in a non-affine batch norm."""
    layers: list[nn.Module] = [
        nn.Linear(in_features, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, out_features, bias=False),
    ]
    if last_norm:
        layers.append(nn.BatchNorm1d(out_features, affine=False))
    return nn.Sequential(*layers)


def backbone_network(name: str, image_shape: tuple[int, int, int], hidden: int = 64) -> Conv4:
    """``"conv4"``: four blocks with ceil pooling (28 px -> 2x2); ``"conv5"``: five blocks (84 px -> 2x2)."""
    channels, height, width = image_shape
    if name == "conv4":
        return Conv4(channels, hidden, (height, width), n_blocks=4, ceil_mode=True)
    if name == "conv5":
        return Conv4(channels, hidden, (height, width), n_blocks=5)
    raise ValueError(f"backbone must be one of {BACKBONES}, got {name!r}")


class PsCoNetwork(nn.Module):
    """Online encoder (backbone, projector, predictor), momentum encoder (backbone, projector) and key queue.

    Parameters
    ----------
    backbone : {"conv4", "conv5"}
    image_shape : (C, H, W)
    hidden : int, default 64
        Filters per conv block.
    projection_dim, mlp_hidden : int, default 256, 4096
        Output and hidden widths of the projector and the predictor.
    queue_size : int, default 16384
        Momentum keys kept from previous batches (a ring buffer).
    """

    queue: torch.Tensor
    queue_position: torch.Tensor

    def __init__(
        self,
        backbone: str,
        image_shape: tuple[int, int, int],
        hidden: int = 64,
        projection_dim: int = 256,
        mlp_hidden: int = 4096,
        queue_size: int = 16384,
    ) -> None:
        super().__init__()
        self.backbone = backbone_network(backbone, image_shape, hidden)
        self.projector = mlp(self.backbone.out_features, mlp_hidden, projection_dim, last_norm=True)
        self.predictor = mlp(projection_dim, mlp_hidden, projection_dim, last_norm=False)
        self.momentum_backbone = copy.deepcopy(self.backbone).requires_grad_(False)
        self.momentum_projector = copy.deepcopy(self.projector).requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim), dim=1))
        self.register_buffer("queue_position", torch.zeros((), dtype=torch.long))

    def online_parts(self) -> list[nn.Module]:
        """The trained modules: backbone, projector, predictor."""
        return [self.backbone, self.projector, self.predictor]

    def predictions(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm predictor outputs of the online encoder (the query side)."""
        return F.normalize(self.predictor(self.projector(self.backbone(images))), dim=1)

    @torch.no_grad()
    def keys(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm projections of the momentum encoder (no gradient)."""
        return F.normalize(self.momentum_projector(self.momentum_backbone(images)), dim=1)

    @torch.no_grad()
    def update_momentum(self, momentum: float) -> None:
        """Momentum parameters become ``momentum * old + (1 - momentum) * online``; buffers are copied."""
        for online, target in ((self.backbone, self.momentum_backbone), (self.projector, self.momentum_projector)):
            for p_online, p_target in zip(online.parameters(), target.parameters()):
                p_target.mul_(momentum).add_(p_online.detach(), alpha=1 - momentum)
            for b_online, b_target in zip(online.buffers(), target.buffers()):
                b_target.copy_(b_online)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` over the oldest queue entries (wrapping around); the queue keeps its size."""
        size = len(self.queue)
        keys = keys[-size:].to(self.queue.dtype)
        positions = (int(self.queue_position) + torch.arange(len(keys), device=self.queue.device)) % size
        self.queue[positions] = keys
        self.queue_position.fill_((int(self.queue_position) + len(keys)) % size)
