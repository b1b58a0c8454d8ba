"""What PsCo learned without labels: nearest neighbours of novel characters in its feature space and in pixels.

For a few drawings of the held-out alphabets (Korean + Tagalog, never seen in
training), the figure shows the query and its nearest other drawings of the
held-out set, two rows per query: by cosine similarity of a fitted PsCo's
backbone features (``PsCo.embed``), then by pixel distance. Neighbours of a
different character are framed. Figure: ``docs/images/psco_neighbours.png``.

    python -m benchmarks.tables.psco_neighbours --model /tmp/uml20_cache/psco-seed0.pt

The model is the ``psco`` row of ``benchmarks.tables.unsupervised_meta_learning`` (saved with ``--cache``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._harness.dev_split import load_dev_split
from benchmarks.tables._shared import DOCS_IMAGES
from metaaug import PsCo
from metaaug.plotting import save_image_grid


def neighbours(features: torch.Tensor, queries: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` most cosine-similar rows of ``features`` to each query row (itself excluded)."""
    unit = F.normalize(features, dim=1)
    scores = unit[queries] @ unit.T
    scores[torch.arange(len(queries)), queries] = -2.0
    return scores.topk(k, dim=1).indices


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="a fitted PsCo saved with .save")
    p.add_argument("--queries", type=int, default=6)
    p.add_argument("--k", type=int, default=8, help="neighbours per row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=DOCS_IMAGES / "psco_neighbours.png")
    args = p.parse_args()
    _, (X_test, y_test) = load_dev_split()
    model = PsCo.load(args.model, device="cpu")
    queries = torch.as_tensor(np.random.default_rng(args.seed).choice(len(X_test), args.queries, replace=False))
    by_psco = neighbours(model.embed(X_test), queries, args.k)
    by_pixels = neighbours(X_test.flatten(1) - X_test.flatten(1).mean(0), queries, args.k)
    cells, marked = [], []
    for row, found in enumerate(by_psco.tolist() + by_pixels.tolist()):
        query = int(queries[row % args.queries])
        start = len(cells)
        cells.append(X_test[query])
        cells.extend(X_test[i] for i in found)
        marked.extend(start + 1 + j for j, i in enumerate(found) if int(y_test[i]) != int(y_test[query]))
    order = [r for q in range(args.queries) for r in (q, q + args.queries)]  # PsCo row, then pixel row
    per_row = args.k + 1
    grid = torch.stack([cells[r * per_row + c] for r in order for c in range(per_row)])
    remap = {r * per_row + c: i * per_row + c for i, r in enumerate(order) for c in range(per_row)}
    save_image_grid(grid, args.out, nrow=per_row, marked=[remap[m] for m in marked])
    everyone = torch.arange(len(X_test))
    for name, features in (("PsCo", model.embed(X_test)), ("pixels", X_test.flatten(1) - X_test.flatten(1).mean(0))):
        found = neighbours(features, everyone, args.k)
        share = float((y_test[found] == y_test[:, None]).float().mean())
        print(
            f"{name}: {share:.1%} of the {args.k} nearest neighbours of each of the {len(X_test)} drawings "
            "are the same character"
        )
    print(f"figure: {args.out}")


if __name__ == "__main__":
    main()
