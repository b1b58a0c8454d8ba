"""Class faithfulness of AE / IntAE / AugIntAE images of novel characters (ProtoNets judge).

A Prototypical Network (:class:`metaaug.fewshot.ProtoNetClassifier`, 20-way
2-shot episodes) is trained on the labeled *training* alphabets of the dev
split; it never sees Korean or Tagalog. In each trial, 20 random novel
characters get 2 random seed drawings each; every generator makes ``--n``
images per character from those 2 seeds, and an image is *faithful* when the
nearest prototype (mean ProtoNet embedding of a character's 2 seeds) among the
20 is its own character's (:func:`metaaug.metrics.prototype_faithfulness`).

"Not copies": the mean per-pixel L1 distance of each generated image to its
nearest seed, next to the same distance for the character's other real drawings
and for the seeds' own reconstructions (the closest an autoencoder output gets
to a seed).

Two judges score every row: the *crisp* one, trained on the images as they
are, and the *soft-stroke* one, trained with random blur and faded ink
(:func:`metaaug.metrics.fit_prototype_judge`), which names the drawn character
rather than the rendering.

Rows: real held-out drawings and the seeds blurred by a 3x3 filter (anchors),
pixel mixup, AE, IntAE, AugIntAE, each with alpha ~ U(0, 1) (``generate``'s
default) and alpha = 0.5 (the midpoint, the hardest case), the autoencoders'
images also binarised at 0.5, and the seeds' own reconstructions; ``--widths``
compares widths, ``--variants`` adds non-default configurations (by default
AugIntAE with ``reconstruction_weight=1`` and with the autoperceptual loss).
The models are the cached ones of ``benchmarks/tables/autoencoder_generalisation.py``;
the judges (``benchmarks/tables/_shared.py``) are cached next to them.

    python -m benchmarks.tables.autoencoder_faithfulness --models-dir /tmp/metaaug_models --update-docs
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import markdown_table, publish_section, section_text
from benchmarks.tables._shared import add_model_arguments, env_threads, load_or_fit_judge, load_or_fit_models
from metaaug import PixelMixup
from metaaug.fewshot import mean_ci95
from metaaug.metrics import nearest_seed_distance, prototype_faithfulness

MODEL_NAMES = ("AE", "IntAE", "AugIntAE")
VARIANT_LABELS = {"AugIntAE+rec": "AugIntAE, reconstruction_weight=1", "AugIntAE+perc": "AugIntAE, perceptual=True"}


def blurred(images: torch.Tensor) -> torch.Tensor:
    """A 3x3 binomial blur: how much the judge relies on crisp binary strokes."""
    kernel = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    return F.conv2d(
        images, kernel.view(1, 1, 3, 3).expand(images.shape[1], 1, 3, 3).contiguous(), padding=1, groups=images.shape[1]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--n", type=int, default=50, help="generated images per character")
    parser.add_argument("--protonet-time", type=float, default=180.0, help="meta-training s of the crisp judge")
    parser.add_argument(
        "--soft-protonet-time",
        type=float,
        default=600.0,
        help="meta-training s of the judge trained with blurred / faded strokes",
    )
    parser.add_argument(
        "--widths",
        type=lambda text: [int(w) for w in text.split(",")],
        default=None,
        help="comma-separated autoencoder widths to compare (default: --width)",
    )
    parser.add_argument(
        "--variants",
        type=lambda text: [v for v in text.split(",") if v],
        default=["AugIntAE+rec", "AugIntAE+perc"],
        help="extra configurations, at the first width only (names of _shared.MODEL_VARIANTS; '' for none)",
    )
    parser.add_argument(
        "--no-rotated-classes",
        dest="rotated_classes",
        action="store_false",
        help="train the judges without the rotated copies of the training classes",
    )
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--threads", type=int, default=env_threads(1))
    args = parser.parse_args()
    args.widths = args.widths or [args.width]
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, y_train), (X_novel, y_novel) = load_dev_split()
    judges, judge_notes = {}, []
    for judge, soften, budget in (("crisp", False, args.protonet_time), ("soft", True, args.soft_protonet_time)):
        judges[judge], note = load_or_fit_judge(
            args.models_dir, X_train, y_train, soften=soften, rotated_classes=args.rotated_classes, max_time=budget
        )
        judge_notes.append(f"{judge} judge {note}")
    models = {}
    for i, width in enumerate(args.widths):
        names = list(MODEL_NAMES) + (list(args.variants) if i == 0 else [])
        fitted, _ = load_or_fit_models(names, X_train, args.epochs, width, args.models_dir)
        suffix = f" (width {width})" if len(args.widths) > 1 else ""
        models.update({f"{VARIANT_LABELS.get(name, name)}{suffix}": model for name, model in fitted.items()})
    generators = {"pixel mixup": PixelMixup(), **models}
    scores: dict[str, list[float]] = {}
    distances: dict[str, list[float]] = {}
    rng = np.random.default_rng(0)
    labels = torch.unique(y_novel).numpy()
    for trial in range(args.trials):
        classes = rng.choice(labels, size=20, replace=False)
        seeds, held_out = [], []
        for label in classes:
            index = rng.permutation(np.flatnonzero(y_novel.numpy() == label))
            seeds.append(X_novel[index[:2]])
            held_out.append(X_novel[index[2:]])

        def record(row: str, generated: list[torch.Tensor], seeds: list[torch.Tensor] = seeds) -> None:
            for judge, embed in judges.items():
                scores.setdefault((row, judge), []).append(prototype_faithfulness(embed, seeds, generated))
            gaps = torch.cat([nearest_seed_distance(g, s) for g, s in zip(generated, seeds)])
            distances.setdefault(row, []).append(float(gaps.mean()))

        record("real held-out drawings (anchor)", held_out)
        record("the seeds blurred by a 3x3 binomial filter (anchor)", [blurred(s) for s in seeds])
        for name, generator in generators.items():
            for alpha, suffix in ((None, "alpha ~ U(0, 1)"), (0.5, "alpha = 0.5")):
                generated = [
                    generator.generate(s, args.n, random_state=int(rng.integers(2**31)), alpha=alpha).cpu()
                    for s in seeds
                ]
                record(f"{name}, {suffix}", generated)
                if name in models and alpha is None:
                    record(f"{name}, {suffix}, binarised at 0.5", [(g > 0.5).float() for g in generated])
            if name in models:
                record(f"{name} reconstructions of the seeds", [generator.reconstruct(s).cpu() for s in seeds])
        print(f"trial {trial}: " + ", ".join(f"{k}: {v[-1]:.3f}" for k, v in scores.items()), flush=True)
    rows = []
    for row, gaps in distances.items():
        cells = {}
        for judge, header in (("crisp", "faithfulness %, crisp judge"), ("soft", "faithfulness %, soft-stroke judge")):
            mean, ci = mean_ci95(scores[(row, judge)])
            cells[header] = f"{100 * mean:.1f} ± {100 * ci:.1f}"
        rows.append({"images": row, **cells, "mean L1 to nearest seed": f"{np.mean(gaps):.3f}"})
    total = time.perf_counter() - start
    body = section_text(
        "AE / IntAE / AugIntAE: class faithfulness on novel characters",
        f"{total / 60:.1f} min ({', '.join(judge_notes)})",
        "Two ProtoNets judges (`metaaug.metrics.fit_prototype_judge`: conv4, 20-way 2-shot episodes, trained on "
        "the labeled training alphabets only"
        + (", each class also rotated by 90, 180 and 270 degrees as three new classes" if args.rotated_classes else "")
        + f"): *crisp*, trained on the images as they are ({args.protonet_time:.0f} s "
        "budget), and *soft-stroke*, trained with every episode image randomly blurred and its ink faded "
        f"(`metaaug.augment.soften_strokes`, {args.soft_protonet_time:.0f} s budget), so that it names the drawn "
        f"character rather than the rendering. {args.trials} trials of 20 random Korean / Tagalog characters with 2 "
        f"random seed drawings each; {args.n} images generated per character from its 2 seeds. Faithfulness: share "
        "of images whose nearest prototype (mean embedding of a character's 2 seeds) among the 20 is their own "
        "character's; mean over trials with 95% CI. The last column (mean per-pixel L1 distance to the nearest "
        "seed) shows the images are not copies: compare the real drawings and the seeds' own reconstructions. "
        "The blurred-seeds anchor and the binarised rows show how much the crisp judge penalises grey, slightly "
        "blurred strokes regardless of the character drawn; the soft-stroke judge puts the blurred seeds in "
        "their own class and scores real held-out drawings as the crisp one does.",
        markdown_table(rows),
    )
    publish_section("autoencoders-faithfulness", body, write=args.update_docs)


if __name__ == "__main__":
    main()
