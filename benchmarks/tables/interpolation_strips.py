"""Interpolation strips between two drawings of a novel character (the AugIntAE paper's Figures 5-6).

For a few Korean / Tagalog characters (never seen in training), two drawings
``a`` and ``b`` are interpolated in eight steps. Rows per character:

* pixel fade: ``(1 - t) a + t b`` (what :class:`metaaug.PixelMixup` makes),
* AE, IntAE, AugIntAE: ``G(slerp(E(a), E(b), t))`` of the models fitted by
  ``benchmarks/tables/autoencoder_generalisation.py`` (loaded from its cache).

Each row shows ``a``, the eight steps ``t = 0 .. 1`` and ``b``. Good
interpolations stay a clean drawing of the character all along (AugIntAE),
pixel fades show two overlaid ghosts, a plain AE tends to blur mid-way.

    python -m benchmarks.tables.interpolation_strips --models-dir /tmp/metaaug_models
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from benchmarks._harness.dev_split import load_dev_split
from benchmarks.tables._shared import DOCS_IMAGES, add_model_arguments, load_or_fit_models
from metaaug.augment import lerp

MODEL_NAMES = ("AE", "IntAE", "AugIntAE")


def novel_pairs(
    X_test: torch.Tensor, y_test: torch.Tensor, n_pairs: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random drawings of each of ``n_pairs`` random novel characters."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(torch.unique(y_test).numpy(), size=n_pairs, replace=False)
    firsts, seconds = [], []
    for label in classes:
        index = np.flatnonzero(y_test.numpy() == label)
        i, j = rng.choice(index, size=2, replace=False)
        firsts.append(X_test[i])
        seconds.append(X_test[j])
    return torch.stack(firsts), torch.stack(seconds)


def cell(image: torch.Tensor, pad: int) -> np.ndarray:
    """uint8 RGB tile of one image, ink (1.0) drawn dark on white, in a grey frame of ``pad`` pixels."""
    array = image.clamp(0, 1).numpy()
    if array.shape[0] == 1:
        array = np.repeat(1.0 - array, 3, axis=0)
    elif array.shape[0] != 3:
        array = np.repeat(array[:1], 3, axis=0)
    array = (array.transpose(1, 2, 0) * 255).round().astype(np.uint8)
    return np.pad(array, ((pad, pad), (pad, pad), (0, 0)), constant_values=200)


def strip_rows(
    models: dict[str, Any], a: torch.Tensor, b: torch.Tensor, alphas: torch.Tensor
) -> dict[str, torch.Tensor]:
    """Row name -> ``(n_pairs, len(alphas), C, H, W)`` interpolations."""
    n, m = len(a), len(alphas)
    weights = alphas.repeat(n)
    fade = lerp(a.repeat_interleave(m, 0), b.repeat_interleave(m, 0), weights).reshape(n, m, *a.shape[1:])
    rows = {"pixel fade": fade}
    for name, model in models.items():
        rows[name] = model.interpolate(a, b, alphas).cpu()
    return rows


def draw_strips(
    a: torch.Tensor,
    b: torch.Tensor,
    rows: dict[str, torch.Tensor],
    scale: int = 2,
    gap: int = 10,
    seed_gap: int = 6,
    label_width: int = 70,
) -> Image.Image:
    """One block of rows per pair: ``a | t = 0 .. 1 | b``, row names on the left."""
    blank = lambda h, w: np.full((h, w, 3), 255, np.uint8)  # noqa: E731
    blocks, labels = [], []
    y = 0
    for pair in range(len(a)):
        block_rows = []
        for name, images in rows.items():
            cells = [cell(a[pair], 2)]
            cells.append(blank(cells[0].shape[0], seed_gap))
            cells += [cell(img, 2) for img in images[pair]]
            cells.append(blank(cells[0].shape[0], seed_gap))
            cells.append(cell(b[pair], 2))
            row = np.concatenate(cells, axis=1)
            labels.append((y, name))
            y += row.shape[0]
            block_rows.append(row)
        blocks.append(np.concatenate(block_rows, axis=0))
        if pair < len(a) - 1:
            blocks.append(blank(gap, blocks[-1].shape[1]))
            y += gap
    grid = np.concatenate(blocks, axis=0)
    grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    canvas = Image.new("RGB", (grid.shape[1] + label_width, grid.shape[0]), "white")
    canvas.paste(Image.fromarray(grid), (label_width, 0))
    draw = ImageDraw.Draw(canvas)
    cell_height = (a.shape[-2] + 4) * scale
    for top, name in labels:
        draw.text((4, top * scale + cell_height // 2 - 5), name, fill=(0, 0, 0))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DOCS_IMAGES / "augintae_interpolation.png")
    args = parser.parse_args()
    torch.set_num_threads(1)
    (X_train, _), (X_test, y_test) = load_dev_split()
    models, _ = load_or_fit_models(list(MODEL_NAMES), X_train, args.epochs, args.width, args.models_dir)
    a, b = novel_pairs(X_test, y_test, args.pairs, args.seed)
    alphas = torch.linspace(0, 1, args.steps)
    image = draw_strips(a, b, strip_rows(models, a, b, alphas))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    print(f"wrote {args.out} ({image.width}x{image.height})")


if __name__ == "__main__":
    main()
