"""LoFGAN on Omniglot: train on the dev split's 6 training alphabets, generate Korean + Tagalog.

Rows: LoFGAN trained with the character labels, LoFGAN trained on k-means
pseudo-labels (no labels at all), and the pixel MixUp baseline. For every
novel character (57 classes) 3 seeds are drawn; the script reports

* generation metrics in the shared Omniglot feature space
  (:func:`metaaug.metrics.dev_feature_extractor`): FID against all real novel
  images, within-class diversity, and the mean pixel L1 to the nearest seed
  (0 = a copy);
* class faithfulness: images generated from 2 seeds of each of 20 novel
  characters are classified by nearest prototype (prototypes from the seeds)
  with a ProtoNets embedding meta-trained on the training alphabets;
* the downstream gain (the paper's Table 2 protocol at Omniglot scale): a conv
  classifier learns the 57 novel characters from ``--n-labeled`` images each,
  with and without augmentation (``metaaug.metrics.downstream``), 5 seeds, 95% CI;
* PNG grids (seeds | generated) in ``docs/images/lofgan_omniglot_*.png``.

Run (about 20-30 min on 2 CPU cores)::

    flock /tmp/metaaug-cpu.lock timeout 3000 .venv/bin/python examples/lofgan_omniglot.py
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from metaaug.data import LabeledTaskSampler, load_dev_split
from metaaug.fewshot import ProtoNetClassifier
from metaaug.generators.lofgan import LoFGAN
from metaaug.generators.mixup import PixelMixup
from metaaug.metrics import dev_feature_extractor, diversity, fid, prototype_faithfulness
from metaaug.metrics.downstream import downstream_accuracy, labeled_split
from metaaug.reporting import command_line, format_accuracy, hardware_summary, markdown_table, update_benchmarks_doc

ROOT = Path(__file__).resolve().parent.parent


def class_seeds(X: torch.Tensor, y: torch.Tensor, k: int, rng: np.random.Generator) -> list[torch.Tensor]:
    """``k`` random images of every class, in class order."""
    return [X[torch.as_tensor(rng.choice(np.flatnonzero(y.numpy() == c), k, replace=False))]
            for c in torch.unique(y).tolist()]


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
    values = [torch.cdist(g.flatten(1), s.flatten(1), p=1).min(1).values / g[0].numel()
              for s, g in zip(seeds, generated)]
    return float(torch.cat(values).mean())


def faithfulness(augmenter, protonet, X: torch.Tensor, y: torch.Tensor, n_groups: int, n_per_class: int,
                 rng: np.random.Generator) -> float:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=float, default=2.0, help="LoFGAN epochs (default: LoFGAN's default)")
    parser.add_argument("--rows", default="labels,pseudo", help="LoFGAN rows: labels, pseudo")
    parser.add_argument("--n-generate", type=int, default=10, help="images generated per novel class")
    parser.add_argument("--n-labeled", type=int, default=5, help="labeled images per novel class (downstream)")
    parser.add_argument("--n-seeds", type=int, default=5, help="downstream runs")
    parser.add_argument("--protonet-iterations", type=int, default=600)
    parser.add_argument("--faith-groups", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, y_train), (X_test, y_test) = load_dev_split()

    models: dict[str, object] = {"PixelMixup (baseline)": PixelMixup()}
    fit_rows = []
    for row in [r for r in args.rows.split(",") if r]:
        model = LoFGAN(epochs=args.epochs, random_state=0, verbose=False)
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X_train, y_train if row == "labels" else None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        name = f"LoFGAN ({'labels' if row == 'labels' else 'k-means pseudo-labels, no labels'})"
        models[name] = model
        fit_rows.append({"model": name, "classes": len(model.classes_), "steps": model.n_iter_,
                         "fit wall s": f"{wall:.0f}", "fit CPU s": f"{cpu:.0f}",
                         "final local L1": f"{np.mean(model.history_['local'][-50:]):.3f}"})
        print(fit_rows[-1], flush=True)

    extractor = dev_feature_extractor()
    protonet = ProtoNetClassifier(n_ways=20, k_shot=2, k_query=5, n_iterations=args.protonet_iterations,
                                  verbose=False, random_state=0).fit(LabeledTaskSampler(X_train, y_train))
    rng = np.random.default_rng(0)
    seeds = class_seeds(X_test, y_test, 3, rng)
    gen_rows = []
    ceiling = faithfulness(None, protonet, X_test, y_test, args.faith_groups, args.n_generate,
                           np.random.default_rng(1))
    for name, model in models.items():
        generated = [model.generate(s, args.n_generate, random_state=i) for i, s in enumerate(seeds)]
        gen_rows.append({
            "model": name,
            "FID (dev features)": f"{fid(extractor, X_test, torch.cat(generated)):.2f}",
            "diversity": f"{diversity(extractor, generated):.3f}",
            "nearest-seed L1": f"{nearest_seed_l1(seeds, generated):.3f}",
            "faithfulness (20-way, 2 seeds)": f"{100 * faithfulness(model, protonet, X_test, y_test, args.faith_groups, args.n_generate, np.random.default_rng(1)):.1f}%",
        })
        print(gen_rows[-1], flush=True)
        if isinstance(model, LoFGAN):
            tag = "labels" if "(labels)" in name else "pseudo"
            save_grid(seeds[::7][:8], [g[:7] for g in generated[::7][:8]],
                      ROOT / "docs" / "images" / f"lofgan_omniglot_{tag}.png")

    Xl, yl, Xr, yr = labeled_split(X_test, y_test, args.n_labeled, random_state=0)
    down_rows = []
    for name, model in [("no augmentation", None)] + list(models.items()):
        result = downstream_accuracy(model, Xl, yl, Xr, yr, n_seeds=args.n_seeds, random_state=0)
        down_rows.append({"augmenter": name, "accuracy %": format_accuracy(result["mean"], result["ci95"]),
                          "seconds": f"{result['seconds']:.0f}"})
        print(down_rows[-1], flush=True)
    total = time.perf_counter() - start

    body = "\n".join([
        "## LoFGAN on Omniglot (dev split)",
        "",
        f"Command: `flock /tmp/metaaug-cpu.lock timeout 3000 {command_line()}`  ",
        f"Hardware: {hardware_summary()}  ",
        f"Wall time: {total / 60:.1f} min (machine shared with other jobs; CPU s = this process's CPU time)",
        "",
        "Training on the 6 training alphabets (3700 images, 28 px), `LoFGAN()` defaults "
        f"(small preset, epochs={args.epochs:g}):",
        "",
        markdown_table(fit_rows),
        f"Generation for the 57 Korean + Tagalog characters, 3 seeds each, {args.n_generate} images per "
        "character; FID and diversity in the shared dev feature space; faithfulness = nearest-prototype "
        f"accuracy of a ProtoNet embedding ({args.protonet_iterations} iterations, 20-way 2-shot, training "
        f"alphabets) over {args.faith_groups} groups of 20 novel characters (target >= 85%; real held-out "
        f"images score {100 * ceiling:.1f}%):",
        "",
        markdown_table(gen_rows),
        f"Downstream: conv4 classifier on the 57 novel characters from {args.n_labeled} labeled images each, "
        f"tested on the other {20 - args.n_labeled}; half of every batch generated; {args.n_seeds} seeds, "
        "95% CI:",
        "",
        markdown_table(down_rows),
        "Grids: `docs/images/lofgan_omniglot_labels.png`, `docs/images/lofgan_omniglot_pseudo.png` "
        "(3 seeds | 7 generated per row).",
    ])
    print(body)
    if args.json:
        args.json.write_text(json.dumps({"fit": fit_rows, "generation": gen_rows, "downstream": down_rows,
                                         "real_faithfulness": ceiling}, indent=2))
    if not args.no_doc:
        update_benchmarks_doc("lofgan-omniglot", body)


if __name__ == "__main__":
    main()
