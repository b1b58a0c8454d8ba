"""LoFGAN on Omniglot: train on the dev split's 6 training alphabets, generate Korean + Tagalog.

Rows: LoFGAN trained with the character labels, LoFGAN trained on k-means
pseudo-labels (no labels at all), and the pixel MixUp baseline. For every
novel character (57 classes) 3 seeds are drawn; the script reports

* generation metrics in the shared Omniglot feature space
  (:func:`benchmarks._harness.feature_cache.dev_feature_extractor`): FID against all real novel
  images, within-class diversity, and the mean pixel L1 to the nearest seed
  (0 = a copy);
* class faithfulness: images generated from 2 seeds of each of 20 novel
  characters are classified by nearest prototype (prototypes from the seeds)
  with a ProtoNets embedding meta-trained on the training alphabets;
* the downstream gain (the paper's Table 2 protocol at Omniglot scale): a conv
  classifier learns the 57 novel characters from ``--n-labeled`` images each,
  with and without augmentation (``metaaug.metrics.downstream``), 5 seeds, 95% CI;
* PNG grids (seeds | generated) in ``docs/images/lofgan_omniglot_*.png``.

Run everything (about 20-30 CPU-minutes)::

    python -m benchmarks.tables.lofgan_omniglot

or stage by stage (fitted models and results are saved under ``--model-dir``
and reloaded by the later stages)::

    python -m benchmarks.tables.lofgan_omniglot --stage fit --rows labels
    python -m benchmarks.tables.lofgan_omniglot --stage fit --rows pseudo
    python -m benchmarks.tables.lofgan_omniglot --stage generation
    python -m benchmarks.tables.lofgan_omniglot --stage downstream
    python -m benchmarks.tables.lofgan_omniglot --stage report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.feature_cache import dev_feature_extractor
from benchmarks._harness.reporting import (
    command_line,
    format_accuracy,
    hardware_summary,
    markdown_table,
    update_benchmarks_doc,
)
from benchmarks.tables._shared import DOCS_IMAGES, describe_judge, env_threads, load_or_fit_judge, update_json_store
from metaaug import LoFGAN, PixelMixup
from metaaug.fewshot import ProtoNetClassifier
from metaaug.metrics import (
    diversity,
    downstream_accuracy,
    fid,
    kid,
    labeled_split,
    nearest_seed_distance,
    prototype_faithfulness,
)


def class_seeds(X: torch.Tensor, y: torch.Tensor, k: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """``k`` random images of every class, in class order."""
    return [
        X[torch.as_tensor(rng.choice(np.flatnonzero(y.numpy() == c), k, replace=False))]
        for c in torch.unique(y).tolist()
    ]


def save_grid(seeds: list[torch.Tensor], generated: list[torch.Tensor], path: Path, gap: int = 4) -> None:
    """One row per class: the seeds, a gap, the generated images (ink dark on white)."""
    rows = []
    for s, g in zip(seeds, generated):
        size = s.shape[-1]
        spacer = torch.ones(size, gap)
        tiles = [1 - img[0] for img in s] + [spacer] + [1 - img[0] for img in g]
        rows.append(torch.cat(tiles, dim=1))
    grid = torch.cat([torch.cat([r, torch.ones(2, r.shape[1])]) for r in rows])
    array = (grid.clamp(0, 1).numpy() * 255).astype(np.uint8)
    image = Image.fromarray(array).resize((array.shape[1] * 3, array.shape[0] * 3), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def nearest_seed_l1(seeds: list[torch.Tensor], generated: list[torch.Tensor]) -> float:
    """Mean over generated images of the pixel L1 (per pixel) to the closest seed of its class."""
    return float(torch.cat([nearest_seed_distance(g, s) for s, g in zip(seeds, generated)]).mean())


def faithfulness(
    augmenter: Any,
    protonet: ProtoNetClassifier,
    X: torch.Tensor,
    y: torch.Tensor,
    n_groups: int,
    n_per_class: int,
    rng: np.random.Generator,
) -> float:
    """Mean nearest-prototype accuracy of images generated from 2 seeds, over groups of 20 novel classes."""
    scores = []
    classes = torch.unique(y).numpy()
    for _ in range(n_groups):
        group = rng.choice(classes, 20, replace=False)
        seeds = [X[torch.as_tensor(rng.choice(np.flatnonzero(y.numpy() == c), 2, replace=False))] for c in group]
        if augmenter is None:  # real held-out images of the class: the embedding's own ceiling
            generated = [X[torch.as_tensor(rng.choice(np.flatnonzero(y.numpy() == c), n_per_class))] for c in group]
        else:
            generated = [augmenter.generate(s, n_per_class, random_state=int(rng.integers(2**31))) for s in seeds]
        scores.append(prototype_faithfulness(protonet, seeds, generated))
    return float(np.mean(scores))


ROW_NAMES = {
    "none": "no augmentation",
    "mixup": "PixelMixup (baseline)",
    "labels": "LoFGAN (labels)",
    "pseudo": "LoFGAN (k-means pseudo-labels, no labels)",
}
FITTED_ROWS = ("labels", "pseudo")


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def save_results(path: Path, updates: dict) -> None:
    """Merge ``updates`` into the results file (stages may run in parallel: lock, re-read, merge)."""

    def merge(results: dict) -> dict:
        for key, value in updates.items():
            if isinstance(value, dict) and isinstance(results.get(key), dict):
                results[key].update(value)
            else:
                results[key] = value
        return results

    update_json_store(path, merge)


def stage_fit(row: str, model_dir: Path, epochs: float, X_train: torch.Tensor, y_train: torch.Tensor) -> dict:
    """Fit one LoFGAN row (defaults but ``epochs``), save it, return its fit-table row."""
    model = LoFGAN(epochs=epochs, random_state=0, verbose=False)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X_train, y_train if row == "labels" else None)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    model.save(model_dir / f"lofgan_{row}.pt")
    return {
        "model": ROW_NAMES[row],
        "classes": len(model.classes_),
        "steps": model.n_iter_,
        "fit wall s": f"{wall:.0f}",
        "fit CPU s": f"{cpu:.0f}",
        "torch threads": torch.get_num_threads(),
        "final local L1": f"{np.mean(model.loss_terms_['local'][-50:]):.3f}",
    }


def load_models(rows: list[str], model_dir: Path) -> dict[str, object]:
    """Row key -> augmenter (``None`` for "no augmentation"), fitted LoFGANs loaded from ``model_dir``."""
    models: dict[str, object] = {}
    for row in rows:
        if row in FITTED_ROWS:
            path = model_dir / f"lofgan_{row}.pt"
            if not path.is_file():
                raise SystemExit(f"{path} is missing: run --stage fit --rows {row} first")
            models[row] = LoFGAN.load(path)
        else:
            models[row] = PixelMixup() if row == "mixup" else None
    return models


def load_or_fit_protonet(
    args: argparse.Namespace, X_train: torch.Tensor, y_train: torch.Tensor
) -> tuple[ProtoNetClassifier, str]:
    """The faithfulness judge (``--protonet``, else the shared cached one of ``_shared.py``) and its name."""
    if args.protonet is not None:
        return ProtoNetClassifier.load(args.protonet), f"ProtoNets judge `{args.protonet.name}`"
    judge, _ = load_or_fit_judge(args.model_dir, X_train, y_train, max_time=args.protonet_time)
    return judge, describe_judge(max_time=args.protonet_time)


def stage_generation(
    models: dict,
    model_dir: Path,
    args: argparse.Namespace,
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
) -> dict:
    """Generation metrics, class faithfulness and the PNG grids."""
    extractor = dev_feature_extractor()
    protonet, judge = load_or_fit_protonet(args, X_train, y_train)
    seeds = class_seeds(X_test, y_test, 3, np.random.default_rng(0))
    ceiling = faithfulness(None, protonet, X_test, y_test, args.faith_groups, args.n_generate, np.random.default_rng(1))
    rows = {}
    for row, model in models.items():
        if model is None:
            continue
        generated = [model.generate(s, args.n_generate, random_state=i) for i, s in enumerate(seeds)]
        kid_mean, kid_std = kid(extractor, X_test, torch.cat(generated))
        faithful = faithfulness(
            model, protonet, X_test, y_test, args.faith_groups, args.n_generate, np.random.default_rng(1)
        )
        rows[row] = {
            "model": ROW_NAMES[row],
            "FID (dev features)": f"{fid(extractor, X_test, torch.cat(generated)):.2f}",
            "KID (dev features)": f"{kid_mean:.2f} ± {kid_std:.2f}",
            "diversity": f"{diversity(extractor, generated):.3f}",
            "nearest-seed L1": f"{nearest_seed_l1(seeds, generated):.3f}",
            "faithfulness (20-way, 2 seeds)": f"{100 * faithful:.1f}%",
        }
        print(rows[row], flush=True)
        if row in FITTED_ROWS:
            save_grid(seeds[::7][:8], [g[:7] for g in generated[::7][:8]], DOCS_IMAGES / f"lofgan_omniglot_{row}.png")
    return {"generation": rows, "real_faithfulness": ceiling, "protonet": judge}


def stage_downstream(models: dict, args: argparse.Namespace, X_test: torch.Tensor, y_test: torch.Tensor) -> dict:
    """Classifier on the novel characters from few labeled images, with and without augmentation."""
    Xl, yl, Xr, yr = labeled_split(X_test, y_test, args.n_labeled, random_state=0)
    rows = {}
    for row, model in models.items():
        result = downstream_accuracy(model, Xl, yl, Xr, yr, n_seeds=args.n_seeds, random_state=0)
        rows[row] = {
            "augmenter": ROW_NAMES[row],
            "accuracy %": format_accuracy(result["mean"], result["ci95"]),
            "per seed %": " ".join(f"{100 * a:.1f}" for a in result["per_seed"]),
            "seconds": f"{result['seconds']:.0f}",
        }
        print(rows[row], flush=True)
    return {"downstream": rows}


def report(results: dict, args: argparse.Namespace) -> str:
    def table(key: str) -> str:
        return markdown_table([results[key][row] for row in ROW_NAMES if row in results.get(key, {})])

    wall = sum(results.get("wall_s", {}).values())
    real_faithfulness = results.get("real_faithfulness", float("nan"))
    return "\n".join(
        [
            "## LoFGAN on Omniglot (dev split)",
            "",
            "Commands (run in stages, each under a 600 s limit; fitted models are saved and reloaded): "
            + ", ".join(f"`{c}`" for c in results.get("commands", {}).values())
            + "  ",
            f"Hardware: {hardware_summary(include_threads=False)}; torch threads per stage: "
            f"{', '.join(f'{k} {v}' for k, v in results.get('threads', {}).items())}  ",
            f"Wall time: {wall / 60:.1f} min over all stages (machine shared with other jobs; CPU s = this "
            "process's CPU time)",
            "",
            "Training on the 6 training alphabets (3700 images, 28 px), `LoFGAN()` defaults "
            f"(small preset, epochs={args.epochs:g}); target for the labeled fit: <= 10 CPU-minutes:",
            "",
            table("fit"),
            f"Generation for the 57 Korean + Tagalog characters, 3 seeds each, {args.n_generate} images per "
            "character; FID, KID and diversity (mean pairwise feature distance within a class) in the shared dev "
            "feature space "
            "(`benchmarks._harness.feature_cache.dev_feature_extractor`, trained on the training alphabets only) "
            "against all 1140 real novel images; nearest-seed L1 = mean per-pixel L1 to the closest seed (0 = a copy); "
            "faithfulness = nearest-prototype accuracy among 20 novel characters, prototypes from 2 seeds, "
            f"images generated from those 2 seeds, in the embedding of the {results.get('protonet', '?')}, "
            f"{args.faith_groups} groups (target >= 85%; real "
            f"held-out images of the same characters score {100 * real_faithfulness:.1f}%):",
            "",
            table("generation"),
            f"Downstream: conv4 classifier on the 57 novel characters from {args.n_labeled} labeled images each, "
            f"tested on the other {20 - args.n_labeled}; half of every batch generated from the labeled images "
            f"of the class (`metaaug.metrics.downstream_accuracy`); {args.n_seeds} seeds, mean ± 95% CI:",
            "",
            table("downstream"),
            "Grids: `docs/images/lofgan_omniglot_labels.png`, `docs/images/lofgan_omniglot_pseudo.png` "
            "(3 seeds | 7 generated per row).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--stage",
        choices=["all", "fit", "generation", "downstream", "report"],
        default="all",
        help="run one stage (results are merged into --results) or all of them",
    )
    parser.add_argument("--epochs", type=float, default=2.0, help="LoFGAN epochs (default: LoFGAN's default)")
    parser.add_argument(
        "--rows",
        default="none,mixup,labels,pseudo",
        help="rows: none (no augmentation), mixup (baseline), labels, pseudo (LoFGAN fits)",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=Path("/tmp/metaaug_models"),
        help="where fitted models are saved and reloaded from",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help="JSON of the stage results (default: MODEL_DIR/lofgan_omniglot_results.json)",
    )
    parser.add_argument("--n-generate", type=int, default=10, help="images generated per novel class")
    parser.add_argument("--n-labeled", type=int, default=5, help="labeled images per novel class (downstream)")
    parser.add_argument("--n-seeds", type=int, default=5, help="downstream runs")
    parser.add_argument(
        "--protonet-time",
        type=float,
        default=600.0,
        help="meta-training seconds of the shared faithfulness judge (see _shared.py)",
    )
    parser.add_argument(
        "--protonet",
        type=Path,
        default=None,
        help="a saved ProtoNetClassifier to use as the faithfulness judge instead",
    )
    parser.add_argument("--faith-groups", type=int, default=10)
    parser.add_argument(
        "--threads",
        type=int,
        default=env_threads(0) or None,
        help="torch threads (default: $METAAUG_THREADS, else torch's choice)",
    )
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROW_NAMES)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {sorted(ROW_NAMES)}")
    args.model_dir.mkdir(parents=True, exist_ok=True)
    results_path = args.results or args.model_dir / "lofgan_omniglot_results.json"
    stages = ["fit", "generation", "downstream", "report"] if args.stage == "all" else [args.stage]
    (X_train, y_train), (X_test, y_test) = load_dev_split()
    for stage in stages:
        start = time.perf_counter()
        key = f"{stage} {','.join(rows)}"
        if stage == "fit":
            updates: dict = {"fit": {}}
            for row in [r for r in rows if r in FITTED_ROWS]:
                updates["fit"][row] = stage_fit(row, args.model_dir, args.epochs, X_train, y_train)
                print(updates["fit"][row], flush=True)
        elif stage == "generation":
            updates = stage_generation(
                load_models(rows, args.model_dir), args.model_dir, args, X_train, y_train, X_test, y_test
            )
        elif stage == "downstream":
            updates = stage_downstream(load_models(rows, args.model_dir), args, X_test, y_test)
        else:
            body = report(load_results(results_path), args)
            print(body)
            if not args.no_doc:
                update_benchmarks_doc("lofgan-omniglot", body)
            continue
        updates.update(
            wall_s={key: time.perf_counter() - start},
            threads={key: torch.get_num_threads()},
            commands={key: command_line()},
        )
        save_results(results_path, updates)


if __name__ == "__main__":
    main()
