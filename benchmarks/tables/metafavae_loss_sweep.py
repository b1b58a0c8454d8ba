"""Meta-FAVAE generator loss: how ``lambda_rec`` and ``lambda_ms`` trade class faithfulness for diversity.

Fits ``MetaFAVAE(lambda_rec=..., lambda_ms=..., max_time=...)`` on the dev
split's training alphabets (labels), then, for 3 groups of 20 random novel
Korean/Tagalog characters with 2 seeds each, generates 20 images per
character and prints one JSON line:

* ``encoded`` / ``prior``: class faithfulness (nearest prototype among the 20
  characters, prototypes from the 2 seeds) in the shared judge's embedding
  (``benchmarks/tables/_shared.py``); ``real``: the held-out drawings of the same
  characters;
* ``L1seed ...``: mean per-pixel L1 to the closest seed (0 = a copy);
* ``div ...``: mean pairwise per-pixel L1 between the images of a character.

The 240 s runs of the table in ``docs/metafavae.md``::

    python -m benchmarks.tables.metafavae_loss_sweep --lambda-rec 10 --lambda-ms 0.03 --max-time 240 --threads 1

Fitted models are cached in ``--model-dir``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks.tables._shared import env_threads, load_or_fit_judge
from metaaug import MetaFAVAE
from metaaug.metrics import nearest_seed_distance, prototype_faithfulness


def pixel_diversity(images: torch.Tensor) -> float:
    """Mean pairwise per-pixel L1 distance between the images of one class."""
    return float(torch.pdist(images.flatten(1), p=1).mean() / images[0].numel())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lambda-rec", type=float, required=True)
    parser.add_argument("--lambda-ms", type=float, required=True)
    parser.add_argument("--max-time", type=float, default=240.0, help="meta-training seconds")
    parser.add_argument("--groups", type=int, default=3, help="groups of 20 novel characters")
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/metaaug_models"))
    parser.add_argument("--threads", type=int, default=env_threads(0) or None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    (X_train, y_train), (X_test, y_test) = load_dev_split()
    path = args.model_dir / f"metafavae_sweep_rec{args.lambda_rec:g}_ms{args.lambda_ms:g}_t{args.max_time:g}.pt"
    if path.is_file():
        model = MetaFAVAE.load(path)
    else:
        model = MetaFAVAE(
            lambda_rec=args.lambda_rec, lambda_ms=args.lambda_ms, max_time=args.max_time, random_state=0, verbose=False
        ).fit(X_train, y_train)
        args.model_dir.mkdir(parents=True, exist_ok=True)
        model.save(path)
    judge, _ = load_or_fit_judge(args.model_dir, X_train, y_train)
    rng = np.random.default_rng(0)
    scores: dict[str, list[float]] = {}
    for _ in range(args.groups):
        classes = rng.choice(torch.unique(y_test).numpy(), 20, replace=False)
        seeds, held_out = [], []
        for c in classes:
            order = rng.permutation(np.flatnonzero(y_test.numpy() == c))
            seeds.append(X_test[order[:2]])
            held_out.append(X_test[order[2:]])
        outputs = {"real": held_out}
        for condition in ("encoded", "prior"):
            outputs[condition] = [
                model.generate(s, 20, random_state=i, condition=condition) for i, s in enumerate(seeds)
            ]
        for name, images in outputs.items():
            scores.setdefault(name, []).append(prototype_faithfulness(judge, seeds, images))
            gaps = torch.cat([nearest_seed_distance(g, s) for g, s in zip(images, seeds)])
            scores.setdefault(f"L1seed {name}", []).append(float(gaps.mean()))
            scores.setdefault(f"div {name}", []).append(float(np.mean([pixel_diversity(g) for g in images])))
    result = {
        "lambda_rec": args.lambda_rec,
        "lambda_ms": args.lambda_ms,
        "max_time": args.max_time,
        "outer_iterations": model.n_iter_,
    }
    result.update({k: round(float(np.mean(v)), 4) for k, v in scores.items()})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
