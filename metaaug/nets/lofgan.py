"""LoFGAN networks (Gu et al., ICCV 2021): encoder, local fusion module, decoder, discriminator.

Pure ``nn.Module``s and tensor functions; the training logic lives in
:class:`metaaug.generators.lofgan.LoFGAN` and :mod:`metaaug.generators.lofgan_training`.

The local fusion module (LFM) is split into three batched functions so that
the same selection/matching can be replayed on images for the local
reconstruction loss:

* :func:`draw_fusion_plan` draws, per task, the mixing weights ``alpha`` (``k``
  uniform draws normalised to sum 1), the base index and the ``int(eta * h * w)``
  base positions (without replacement);
* :func:`match_positions` finds, for every selected base position, the most
  cosine-similar position in every reference (channel-normalised features);
* :func:`fuse_at_positions` mixes the raw values at the matched positions with
  ``alpha`` and writes them back into the base map.

:func:`local_fusion` chains the last two on feature maps; :func:`local_fusion_target`
replays them on images downsampled to the feature grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["bn", "sn", "none"]
Activation = Literal["lrelu", "tanh", "none"]

# (encoder channels, discriminator base channels, residual blocks, max channels)
PRESETS: dict[str, dict] = {
    # the official 128x128 configuration (configs/*_lofgan.yaml + networks/lofgan.py)
    "paper": {
        "gen_channels": (32, 64, 128, 128, 128),
        "disc_channels": 64,
        "disc_blocks": 4,
        "disc_max_channels": 1024,
    },
    # 28x28 / 32x32 grey images on a 2-core CPU: LFM on a 14x14 (16x16) grid
    "small": {"gen_channels": (32, 64), "disc_channels": 16, "disc_blocks": 2, "disc_max_channels": 64},
}


def preset_config(preset: str) -> dict:
    """The network widths and depths of a named preset (``"small"`` or ``"paper"``)."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return dict(PRESETS[preset])


class ConvBlock(nn.Module):
    """Reflection pad -> conv -> norm -> activation (or activation first, FUNIT style).

    ``norm="sn"`` wraps the convolution in spectral normalisation instead of
    adding a normalisation layer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        norm: Norm = "none",
        activation: Activation = "lrelu",
        activation_first: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.activation_first = activation_first
        self.pad = nn.ReflectionPad2d(kernel_size // 2) if kernel_size > 1 else nn.Identity()
        conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, bias=bias)
        self.conv = nn.utils.spectral_norm(conv) if norm == "sn" else conv
        self.norm = nn.BatchNorm2d(out_channels) if norm == "bn" else nn.Identity()
        if activation == "lrelu":
            self.activation: nn.Module = nn.LeakyReLU(0.2)
        elif activation == "tanh":
            self.activation = nn.Tanh()
        elif activation == "none":
            self.activation = nn.Identity()
        else:
            raise ValueError(f"activation must be 'lrelu', 'tanh' or 'none', got {activation!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation_first:
            return self.norm(self.conv(self.pad(self.activation(x))))
        return self.activation(self.norm(self.conv(self.pad(x))))


class LoFGANEncoder(nn.Module):
    """Conv 5x5 stride 1, then 3x3 stride-2 convs; batch norm, LeakyReLU 0.2, reflection padding.

    ``channels=(32, 64, 128, 128, 128)`` is the official encoder: 128 px -> 8x8 features.
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = (32, 64, 128, 128, 128)) -> None:
        super().__init__()
        if len(channels) < 1:
            raise ValueError("the encoder needs at least one layer")
        layers = [ConvBlock(in_channels, channels[0], 5, 1, norm="bn", activation="lrelu")]
        for c_in, c_out in zip(channels[:-1], channels[1:]):
            layers.append(ConvBlock(c_in, c_out, 3, 2, norm="bn", activation="lrelu"))
        self.layers = nn.Sequential(*layers)
        self.n_downsamples = len(channels) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def downsampled_sizes(size: tuple[int, int], n_downsamples: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2 3x3 conv with padding 1 (``ceil(s / 2)``), input first."""
    sizes = [(int(size[0]), int(size[1]))]
    for _ in range(n_downsamples):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    return sizes


class LoFGANDecoder(nn.Module):
    """Nearest upsampling + 3x3 conv/BN/LeakyReLU blocks, then a 5x5 conv and tanh; no skips.

    ``channels=(128, 128, 128, 64, 32)`` is the official decoder. Each upsampling
    goes to the encoder's size at that depth, which is exactly x2 when the image
    size is divisible by ``2 ** n_upsamples`` (the official case) and keeps odd
    sizes such as 28 -> 14 -> 7 -> 4 -> 2 invertible.
    """

    def __init__(self, out_channels: int = 3, channels: tuple[int, ...] = (128, 128, 128, 64, 32)) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            ConvBlock(c_in, c_out, 3, 1, norm="bn", activation="lrelu")
            for c_in, c_out in zip(channels[:-1], channels[1:])
        )
        self.to_image = ConvBlock(channels[-1], out_channels, 5, 1, norm="none", activation="tanh")

    def forward(self, features: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        sizes = downsampled_sizes(image_size, len(self.blocks))[::-1][1:]
        x = features
        for block, size in zip(self.blocks, sizes):
            x = block(F.interpolate(x, size=size, mode="nearest"))
        return self.to_image(x)


@dataclass
class FusionPlan:
    """The random choices of the LFM for ``B`` tasks of ``k`` seeds.

    Attributes
    ----------
    alpha : (B, k) float, rows sum to 1.
    base_index : (B,) int64 in ``0..k-1``.
    base_positions : (B, n) int64 flat grid positions, distinct within a row.
    """

    alpha: torch.Tensor
    base_index: torch.Tensor
    base_positions: torch.Tensor

    @property
    def n_selected(self) -> int:
        return self.base_positions.shape[1]


def n_fused_positions(eta: float, grid_size: int) -> int:
    """``int(eta * h * w)`` as the official code; at least one position."""
    if not 0.0 < float(eta) <= 1.0:
        raise ValueError(f"eta must be in (0, 1], got {eta}")
    return max(1, int(eta * grid_size))


def draw_fusion_plan(
    n_tasks: int,
    k: int,
    grid_size: int,
    eta: float,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> FusionPlan:
    """Draw alpha, base index and base positions independently for each task (batched).

    ``alpha`` is ``k`` uniform draws normalised to sum 1 (the official code);
    positions are a random permutation prefix, i.e. sampled without replacement.
    """
    if k < 2:
        raise ValueError(f"LoFGAN fuses a base with references: it needs k >= 2 seeds, got {k}")
    n_selected = n_fused_positions(eta, grid_size)
    weights = torch.rand(n_tasks, k, device=device, generator=generator)
    alpha = weights / weights.sum(dim=1, keepdim=True)
    base_index = torch.randint(k, (n_tasks,), device=device, generator=generator)
    keys = torch.rand(n_tasks, grid_size, device=device, generator=generator)
    base_positions = keys.argsort(dim=1)[:, :n_selected]
    return FusionPlan(alpha, base_index, base_positions)


def split_base(maps: torch.Tensor, base_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split ``(B, k, ...)`` into the base ``(B, ...)``, the references ``(B, k-1, ...)`` and their indices."""
    n_tasks, k = maps.shape[:2]
    others = torch.arange(k - 1, device=maps.device).expand(n_tasks, -1)
    ref_index = others + (others >= base_index.unsqueeze(1)).long()
    tasks = torch.arange(n_tasks, device=maps.device)
    return maps[tasks, base_index], maps[tasks.unsqueeze(1), ref_index], ref_index


def match_positions(features: torch.Tensor, plan: FusionPlan) -> torch.Tensor:
    """For each selected base position, the most cosine-similar position of every reference.

    Parameters
    ----------
    features : (B, k, c, h, w)
    plan : the task's :class:`FusionPlan`.

    Returns
    -------
    (B, k-1, n) int64 flat positions in the references (ordered as :func:`split_base`).
    """
    n_tasks, k, c = features.shape[:3]
    flat = F.normalize(features.reshape(n_tasks, k, c, -1), dim=2)
    base, refs, _ = split_base(flat, plan.base_index)
    selected = base.gather(2, plan.base_positions.unsqueeze(1).expand(-1, c, -1))  # (B, c, n)
    similarity = torch.einsum("bcn,brcp->brnp", selected, refs)
    return similarity.argmax(dim=3)


def fuse_at_positions(maps: torch.Tensor, plan: FusionPlan, ref_positions: torch.Tensor) -> torch.Tensor:
    """Mix the raw values at the matched positions with ``alpha`` and write them into the base.

    Parameters
    ----------
    maps : (B, k, c, h, w) features or images on the feature grid.
    ref_positions : (B, k-1, n) from :func:`match_positions`.

    Returns
    -------
    (B, c, h, w): the base map, with each selected position replaced by
    ``alpha_base * base + sum_r alpha_r * ref_r[matched]``.
    """
    n_tasks, k, c, h, w = maps.shape
    flat = maps.reshape(n_tasks, k, c, h * w)
    base, refs, ref_index = split_base(flat, plan.base_index)
    alpha_base = plan.alpha.gather(1, plan.base_index.unsqueeze(1))  # (B, 1)
    alpha_refs = plan.alpha.gather(1, ref_index)  # (B, k-1)
    n = plan.n_selected
    base_values = base.gather(2, plan.base_positions.unsqueeze(1).expand(-1, c, -1))  # (B, c, n)
    ref_values = refs.gather(3, ref_positions.unsqueeze(2).expand(-1, -1, c, -1))  # (B, k-1, c, n)
    fused = alpha_base.view(n_tasks, 1, 1) * base_values + torch.einsum("br,brcn->bcn", alpha_refs, ref_values)
    out = base.scatter(2, plan.base_positions.unsqueeze(1).expand(-1, c, n), fused)
    return out.view(n_tasks, c, h, w)


def local_fusion(features: torch.Tensor, plan: FusionPlan) -> tuple[torch.Tensor, torch.Tensor]:
    """The LFM: ``(B, k, c, h, w)`` features -> fused ``(B, c, h, w)`` and matched reference positions."""
    ref_positions = match_positions(features, plan)
    return fuse_at_positions(features, plan, ref_positions), ref_positions


def local_fusion_target(
    images: torch.Tensor, grid: tuple[int, int], plan: FusionPlan, ref_positions: torch.Tensor
) -> torch.Tensor:
    """The local reconstruction target: the LFM's choices replayed on images.

    ``images`` ``(B, k, C, H, W)`` are downsampled (nearest, as the official code)
    to the feature grid ``(h, w)`` the LFM ran on (not a fixed 8x8), then fused
    at the same positions with the same ``alpha``. Returns ``(B, C, h, w)``.
    """
    n_tasks, k, channels, height, width = images.shape
    small = F.interpolate(images.reshape(n_tasks * k, channels, height, width), size=tuple(grid), mode="nearest")
    return fuse_at_positions(small.view(n_tasks, k, channels, *grid), plan, ref_positions)


class LoFGANGenerator(nn.Module):
    """Encoder -> local fusion module -> decoder.

    The official ``CrossFusionModule`` also builds a 1x1 conv + batch norm
    (``W``) that its forward never uses; it is left out here, so the official
    configuration (``in_channels=3``, ``channels=(32, 64, 128, 128, 128)``) has
    781,443 parameters.
    """

    def __init__(self, in_channels: int = 3, channels: tuple[int, ...] = (32, 64, 128, 128, 128)) -> None:
        super().__init__()
        self.encoder = LoFGANEncoder(in_channels, tuple(channels))
        self.decoder = LoFGANDecoder(in_channels, tuple(channels)[::-1])

    def feature_grid(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """The ``(h, w)`` grid the LFM runs on for images of ``image_size``."""
        return downsampled_sizes(image_size, self.encoder.n_downsamples)[-1]

    def fuse_and_decode(
        self, features: torch.Tensor, plan: FusionPlan, image_size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, k, c, h, w)`` encoded seeds -> ``(B, C, H, W)`` images, matched reference positions."""
        fused, ref_positions = local_fusion(features, plan)
        return self.decoder(fused, tuple(image_size)), ref_positions

    def forward(self, seeds: torch.Tensor, plan: FusionPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, k, C, H, W)`` seeds in [-1, 1] -> ``(B, C, H, W)`` images in [-1, 1], reference positions."""
        n_tasks, k, channels, height, width = seeds.shape
        features = self.encoder(seeds.reshape(n_tasks * k, channels, height, width))
        return self.fuse_and_decode(features.view(n_tasks, k, *features.shape[1:]), plan, (height, width))


class ActFirstResBlock(nn.Module):
    """FUNIT's activation-first residual block: (LReLU, conv3x3) x 2 plus a 1x1 learned shortcut."""

    def __init__(self, in_channels: int, out_channels: int, norm: Norm = "sn") -> None:
        super().__init__()
        hidden = max(in_channels, out_channels)
        self.conv_0 = ConvBlock(in_channels, hidden, 3, 1, norm=norm, activation="lrelu", activation_first=True)
        self.conv_1 = ConvBlock(hidden, out_channels, 3, 1, norm=norm, activation="lrelu", activation_first=True)
        self.shortcut = (
            nn.Conv2d(in_channels, out_channels, 1, bias=False) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_1(self.conv_0(x))


class LoFGANDiscriminator(nn.Module):
    """FUNIT-style discriminator with an adversarial head and an auxiliary class head.

    Stem: spectral-norm 5x5 conv. Then ``n_blocks`` x (activation-first residual
    block doubling the width up to ``max_channels``, reflection pad, 3x3 average
    pool stride 2), a last residual block, and two heads (global average pool +
    1x1 conv): one adversarial logit, ``n_classes`` class logits. The official
    configuration (``base_channels=64``, ``n_blocks=4``) has a 38,382,080-parameter
    trunk.
    """

    def __init__(
        self,
        in_channels: int = 3,
        n_classes: int = 2,
        base_channels: int = 64,
        n_blocks: int = 4,
        max_channels: int = 1024,
    ) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1, got {n_classes}")
        layers: list[nn.Module] = [ConvBlock(in_channels, base_channels, 5, 1, norm="sn", activation="none")]
        width = base_channels
        for _ in range(n_blocks):
            wider = min(2 * width, max_channels)
            layers += [ActFirstResBlock(width, wider), nn.ReflectionPad2d(1), nn.AvgPool2d(3, stride=2)]
            width = wider
        wider = min(2 * width, max_channels)
        layers.append(ActFirstResBlock(width, wider))
        self.trunk = nn.Sequential(*layers)
        self.adversarial_head = nn.Conv2d(wider, 1, 1)
        self.class_head = nn.Conv2d(wider, n_classes, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, C, H, W)`` -> adversarial logits ``(N,)`` and class logits ``(N, n_classes)``."""
        pooled = self.trunk(images).mean(dim=(2, 3), keepdim=True)
        return self.adversarial_head(pooled).flatten(), self.class_head(pooled).flatten(1)


def check_image_size(image_size: tuple[int, int], gen_downsamples: int, disc_blocks: int) -> None:
    """Raise ``ValueError`` if reflection padding cannot run at some depth for this image size."""
    height, width = image_size
    smallest = min(downsampled_sizes((height, width), gen_downsamples)[-2] if gen_downsamples else (height, width))
    disc_size = min(height, width)
    for _ in range(disc_blocks):
        disc_size = (disc_size - 1) // 2 + 1
    if min(height, width) < 3 or smallest < 2 or disc_size < 2:
        raise ValueError(
            f"images of {height}x{width} are too small for {gen_downsamples} generator downsamplings and "
            f"{disc_blocks} discriminator blocks (reflection padding needs >= 2 pixels at every depth); "
            "use larger images or a shallower preset (gen_channels, disc_blocks)"
        )


def kaiming_init(module: nn.Module) -> None:
    """The official ``init: kaiming``: He-normal (fan-in) conv/linear weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            weight: torch.Tensor = getattr(m, "weight_orig", m.weight)
            nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (spectral-norm vectors are buffers and not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
