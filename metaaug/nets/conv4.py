"""The conv4 backbone of the few-shot papers (ProtoNets, MAML, LASIUM, UMTRA)."""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int, pool: bool = True, ceil_mode: bool = False) -> nn.Sequential:
    """3x3 conv (padding 1) -> batch norm -> ReLU -> optional 2x2 max-pool (odd sides rounded up by ``ceil_mode``)."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=ceil_mode))
    return nn.Sequential(*layers)


class Conv4(nn.Module):
    """Four conv blocks (64 filters by default); output is the flattened feature map.

    Pooling floors (28 -> 14 -> 7 -> 3 -> 1, a 64-d embedding on Omniglot, as
    in the papers; 84 -> 5x5, a 1600-d embedding on mini-ImageNet); a block
    whose input is smaller than ``min_pool_size`` skips pooling, so tiny images
    (8x8 digits: 8 -> 4 -> 2) keep a spatial map.

    Parameters
    ----------
    in_channels : int, default 1
    hidden : int, default 64
        Filters of every block.
    image_size : int or (height, width), default 28
        Input size (an int for square images); any size works, ``out_features``
        follows it.
    n_blocks, min_pool_size : int, default 4, 3
    ceil_mode : bool, default False
        Pooling rounds odd sides up (28 -> 14 -> 7 -> 4 -> 2, a 256-d
        embedding on Omniglot: PsCo's conv4) instead of down.
    """

    def __init__(
        self,
        in_channels: int = 1,
        hidden: int = 64,
        image_size: int | tuple[int, int] = 28,
        n_blocks: int = 4,
        min_pool_size: int = 3,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        blocks = []
        height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
        channels = in_channels
        for _ in range(n_blocks):
            # nn.MaxPool2d(2) pools both sides: the block pools while the smaller side allows it
            pool = min(height, width) >= min_pool_size
            blocks.append(conv_block(channels, hidden, pool=pool, ceil_mode=ceil_mode))
            if pool:
                height, width = (-(-height // 2), -(-width // 2)) if ceil_mode else (height // 2, width // 2)
            channels = hidden
        self.blocks = nn.Sequential(*blocks)
        self.out_features = hidden * height * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).flatten(1)


class Conv4Classifier(nn.Module):
    """Conv4 followed by a linear head (MAML's model, the scratch baseline)."""

    def __init__(
        self, n_classes: int, in_channels: int = 1, hidden: int = 64, image_size: int | tuple[int, int] = 28
    ) -> None:
        super().__init__()
        self.features = Conv4(in_channels, hidden, image_size)
        self.head = nn.Linear(self.features.out_features, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
