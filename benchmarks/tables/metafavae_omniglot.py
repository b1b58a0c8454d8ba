"""Meta-AVAE vs Meta-FAVAE on the Omniglot dev split: adaptation time, metrics, downstream gain.

Meta-trains both variants (``feedback=False`` / ``True``, same seed and budget)
on the 6 training alphabets (labels used as tasks, like the paper), adapts them
to novel Korean + Tagalog characters from 4 seeds and reports

* adaptation + generation time per class (K = 10 inner iterations, 100 images),
* FID and diversity in the shared dev feature space (``benchmarks._harness.feature_cache``),
* class faithfulness: images generated after adapting to 2 seeds of a novel
  character, classified by nearest prototype (ProtoNets embedding trained on
  the training classes) among ``--novel-classes`` novel classes,
* downstream gain: a conv classifier trained on ``--labeled`` images per novel
  class, with and without Meta-FAVAE augmentation (``downstream_accuracy``),

for both ways of choosing the code ``c`` at generation (``encoded`` seeds or
the ``prior``), writes PNG grids (seeds | Meta-AVAE | Meta-FAVAE) to
``docs/images/`` and the tables to the ``metafavae`` section of
``docs/benchmarks.md``. Fitted models are cached in ``--model-dir`` so a
second invocation only evaluates.

Example (each call under 10 minutes on one CPU thread)::

    python -m benchmarks.tables.metafavae_omniglot --only-fit --variants avae
    python -m benchmarks.tables.metafavae_omniglot --only-fit --variants favae
    python -m benchmarks.tables.metafavae_omniglot
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

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
from benchmarks.tables._shared import DOCS_IMAGES, describe_judge, env_threads, load_or_fit_judge
from metaaug import MetaFAVAE
from metaaug.fewshot import mean_ci95
from metaaug.metrics import (
    diversity,
    downstream_accuracy,
    fid,
    kid,
    labeled_split,
    nearest_seed_distance,
    prototype_faithfulness,
)

DEFAULT_LOSS = (MetaFAVAE().lambda_rec, MetaFAVAE().lambda_ms)  # the estimator's generator-loss weights


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2000, help="outer Reptile iterations per model")
    parser.add_argument("--max-time", type=float, default=540.0, help="meta-training seconds per model")
    parser.add_argument(
        "--variants", default="avae,favae", help="models to fit or load: avae (no feedback), favae (feedback)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=env_threads(0) or None,
        help="torch threads (default: $METAAUG_THREADS, else torch's setting)",
    )
    parser.add_argument("--novel-classes", type=int, default=20, help="novel classes for the metrics")
    parser.add_argument(
        "--faith-trials",
        type=int,
        default=5,
        help="groups of --novel-classes classes over which faithfulness is averaged (95%% CI)",
    )
    parser.add_argument("--n-generate", type=int, default=100, help="images generated per class")
    parser.add_argument(
        "--protonet-time",
        type=float,
        default=600.0,
        help="meta-training seconds of the shared faithfulness judge (see _shared.py)",
    )
    parser.add_argument("--downstream-seeds", type=int, default=5, help="0 skips the downstream table")
    parser.add_argument("--downstream-epochs", type=int, default=30)
    parser.add_argument("--labeled", type=int, default=4, help="labeled images per novel class (downstream)")
    parser.add_argument(
        "--lambda-rec",
        type=float,
        default=DEFAULT_LOSS[0],
        help="weight of the generator's L1 term to the seeds (0: the paper's loss)",
    )
    parser.add_argument(
        "--lambda-ms", type=float, default=DEFAULT_LOSS[1], help="weight of the mode-seeking term (1: the paper's)"
    )
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/metaaug_models"))
    parser.add_argument("--only-fit", action="store_true", help="fit (or load) the models and stop")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md or PNGs")
    parser.add_argument("--random-state", type=int, default=0)
    return parser.parse_args()


def model_path(feedback: bool, args: argparse.Namespace) -> Path:
    name = (
        f"metafavae_{'favae' if feedback else 'avae'}_it{args.iterations}_t{int(args.max_time)}"
        f"_rec{args.lambda_rec:g}_ms{args.lambda_ms:g}_rs{args.random_state}"
    )
    return args.model_dir / f"{name}.pt"


def loss_tag(args: argparse.Namespace) -> str:
    """'' for the default generator loss, else ``-rec{w}-ms{w}`` (docs section and PNG names)."""
    if (args.lambda_rec, args.lambda_ms) == DEFAULT_LOSS:
        return ""
    return f"-rec{args.lambda_rec:g}-ms{args.lambda_ms:g}"


def fitted_model(feedback: bool, X: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> MetaFAVAE:
    path = model_path(feedback, args)
    if path.is_file():
        print(f"loading {path}", flush=True)
        return MetaFAVAE.load(path)
    model = MetaFAVAE(
        feedback=feedback,
        n_iterations=args.iterations,
        max_time=args.max_time,
        lambda_rec=args.lambda_rec,
        lambda_ms=args.lambda_ms,
        random_state=args.random_state,
        verbose=False,
    )
    cpu = time.process_time()
    args.model_dir.mkdir(parents=True, exist_ok=True)
    model.fit(X, y)
    cpu = time.process_time() - cpu
    model.save(path)
    path.with_suffix(".json").write_text(json.dumps({"cpu_seconds": cpu, "threads": torch.get_num_threads()}))
    print(
        f"fitted {'Meta-FAVAE' if feedback else 'Meta-AVAE'}: {model.n_iter_} iterations in "
        f"{model.fit_time_:.0f} s wall, {cpu:.0f} s CPU, {torch.get_num_threads()} thread(s) -> {path}",
        flush=True,
    )
    return model


def fit_cpu_seconds(model_path: Path) -> str:
    try:
        info = json.loads(model_path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return "?"
    return f"{info['cpu_seconds'] / 60:.1f} CPU-min, {info['threads']} thread(s)"


def shuffled_class(X: torch.Tensor, y: torch.Tensor, label: int, rng: np.random.Generator) -> torch.Tensor:
    """The images of class ``label`` in a random order."""
    return X[y == label][torch.from_numpy(rng.permutation(int((y == label).sum())))]


def faithfulness_cell(scores: list[float]) -> str:
    """Mean faithfulness over groups of classes, with a 95% CI when there are several groups."""
    mean, ci = mean_ci95(scores)
    return f"{100 * mean:.1f}%" + (f" ± {100 * ci:.1f}" if len(scores) > 1 else "")


def adapted_decoder_samples(model: MetaFAVAE, seeds: torch.Tensor, n: int, random_state: int) -> torch.Tensor:
    """Decodings of posterior samples of the seeds' codes by the *adapted VAE decoder*.

    Not a generation mode of Meta-FAVAE (the paper samples ``G(z, c)``): a
    diagnostic of whether the adapted code ``c`` carries the class at all.
    """
    adapted = model.adapt(seeds)
    generator = torch.Generator().manual_seed(random_state)
    with torch.no_grad():
        mean, log_var = adapted.encoder(seeds)
        which = torch.randint(len(seeds), (n,), generator=generator)
        noise = torch.randn(n, mean.shape[1], generator=generator)
        return adapted.decoder(mean[which] + torch.exp(0.5 * log_var[which]) * noise).clamp(0, 1)


def grid_png(rows: list[list[torch.Tensor]], path: Path, gap: int = 4) -> None:
    """Rows of image blocks (each (N, 1, H, W)) -> one PNG; blocks separated by a gap."""
    lines = []
    for blocks in rows:
        parts = []
        for block in blocks:
            images = block[:, 0].numpy()
            parts.append(np.concatenate(list(images), axis=1))
            parts.append(np.full((images.shape[1], gap), 0.5))
        lines.append(np.concatenate(parts[:-1], axis=1))
        lines.append(np.full((gap, lines[-1].shape[1]), 0.5))
    canvas = np.concatenate(lines[:-1], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((255 * (1 - canvas)).clip(0, 255).astype(np.uint8)).resize(
        (canvas.shape[1] * 2, canvas.shape[0] * 2), Image.NEAREST
    ).save(path)


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, y_train), (X_test, y_test) = load_dev_split()
    variants = {v.strip() for v in args.variants.split(",")}
    if not variants <= {"avae", "favae"}:
        raise SystemExit(f"--variants takes avae and/or favae, got {args.variants!r}")
    if args.only_fit:
        for variant in sorted(variants):
            fitted_model(variant == "favae", X_train, y_train, args)
        return
    models = {
        name: fitted_model(variant == "favae", X_train, y_train, args)
        for variant, name in (("avae", "Meta-AVAE"), ("favae", "Meta-FAVAE"))
        if variant in variants
    }

    def nearest_seed_l1(generated: list[torch.Tensor], seeds: list[torch.Tensor]) -> str:
        return f"{float(torch.cat([nearest_seed_distance(g, s) for g, s in zip(generated, seeds)]).mean()):.3f}"

    rng = np.random.default_rng(args.random_state)
    classes = rng.choice(torch.unique(y_test).numpy(), args.novel_classes, replace=False)
    per_class = [shuffled_class(X_test, y_test, c, rng) for c in classes]
    seeds4 = [images[:4] for images in per_class]
    seeds2 = [images[:2] for images in per_class]
    held_out = [images[4:] for images in per_class]
    real_rest = torch.cat(held_out)
    # faithfulness groups: the classes above first, then further random groups of as many classes
    groups = [(seeds2, held_out)]
    labels = torch.unique(y_test).numpy()
    for _ in range(args.faith_trials - 1):
        group = [shuffled_class(X_test, y_test, c, rng) for c in rng.choice(labels, args.novel_classes, replace=False)]
        groups.append(([images[:2] for images in group], [images[2:] for images in group]))

    embed = dev_feature_extractor()
    protonet, _ = load_or_fit_judge(args.model_dir, X_train, y_train, max_time=args.protonet_time)
    faithfulness_column = f"faithfulness (2 seeds, {args.novel_classes}-way)"
    rows = [
        {
            "model": "real held-out images",
            "c at generation": "-",
            "adapt+generate s/class": "-",
            "FID (dev features)": "-",
            "KID (dev features)": "-",
            "diversity": f"{diversity(embed, held_out):.3f}",
            "nearest-seed L1": nearest_seed_l1(held_out, seeds4),
            faithfulness_column: faithfulness_cell(
                [prototype_faithfulness(protonet, seeds, real) for seeds, real in groups]
            ),
            "meta-train": "-",
        }
    ]
    print(rows[-1], flush=True)
    generated_examples, scores = {}, {}
    for name, model in models.items():
        # time of adapting (K = 10) + generating n images, per class, cache empty
        model.clear_cache()
        seconds = []
        for i, seeds in enumerate(seeds4):
            tick = time.perf_counter()
            model.generate(seeds, args.n_generate, random_state=i)
            seconds.append(time.perf_counter() - tick)
        for condition in ("encoded", "prior"):
            images = [
                model.generate(s, args.n_generate, random_state=i, condition=condition) for i, s in enumerate(seeds4)
            ]
            faithful = [
                prototype_faithfulness(
                    protonet,
                    seeds,
                    [model.generate(s, 20, random_state=i, condition=condition) for i, s in enumerate(seeds)],
                )
                for seeds, _ in groups
            ]
            generated_examples[(name, condition)] = images
            score = {
                "fid": fid(embed, real_rest, torch.cat(images)),
                "kid": kid(embed, real_rest, torch.cat(images), random_state=0)[0],
                "diversity": diversity(embed, images),
                "faithfulness": float(np.mean(faithful)),
                "faithfulness_trials": faithful,
            }
            scores[(name, condition)] = score
            rows.append(
                {
                    "model": name,
                    "c at generation": condition,
                    "adapt+generate s/class": f"{np.mean(seconds):.2f} (max {np.max(seconds):.2f})",
                    "FID (dev features)": f"{score['fid']:.2f}",
                    "KID (dev features)": f"{score['kid']:.2f}",
                    "diversity": f"{score['diversity']:.3f}",
                    "nearest-seed L1": nearest_seed_l1(images, seeds4),
                    faithfulness_column: faithfulness_cell(faithful),
                    "meta-train": f"{model.n_iter_} it, {model.fit_time_:.0f} s wall "
                    f"({fit_cpu_seconds(model_path(model.feedback, args))})",
                }
            )
            print(rows[-1], flush=True)
        decoded = [[adapted_decoder_samples(model, s, 20, i) for i, s in enumerate(seeds)] for seeds, _ in groups]
        rows.append(
            {
                "model": f"{name}: adapted VAE decoder (diagnostic, not a generate mode)",
                "c at generation": "encoded",
                "adapt+generate s/class": "-",
                "FID (dev features)": "-",
                "KID (dev features)": "-",
                "diversity": f"{diversity(embed, decoded[0]):.3f}",
                "nearest-seed L1": nearest_seed_l1(decoded[0], groups[0][0]),
                faithfulness_column: faithfulness_cell(
                    [prototype_faithfulness(protonet, seeds, images) for (seeds, _), images in zip(groups, decoded)]
                ),
                "meta-train": "-",
            }
        )
        print(rows[-1], flush=True)

    downstream_rows = []
    if args.downstream_seeds > 0:
        keep = torch.isin(y_test, torch.from_numpy(classes))
        X_few, y_few, X_eval, y_eval = labeled_split(
            X_test[keep], y_test[keep], args.labeled, random_state=args.random_state
        )
        augmenters = {"none": None, **models}
        baseline = None
        for name, augmenter in augmenters.items():
            conditions = ("-",) if augmenter is None else ("encoded", "prior")
            for condition in conditions:
                kwargs = None if augmenter is None else {"condition": condition}
                result = downstream_accuracy(
                    augmenter,
                    X_few,
                    y_few,
                    X_eval,
                    y_eval,
                    n_seeds=args.downstream_seeds,
                    epochs=args.downstream_epochs,
                    generate_kwargs=kwargs,
                    random_state=args.random_state,
                )
                baseline = result["mean"] if baseline is None else baseline
                scores.setdefault((name, condition), {})["downstream"] = result["mean"]
                downstream_rows.append(
                    {
                        "augmenter": name,
                        "c at generation": condition,
                        "accuracy (%)": format_accuracy(result["mean"], result["ci95"]),
                        "gain (points)": f"{100 * (result['mean'] - baseline):+.1f}",
                        "seconds": f"{result['seconds']:.0f}",
                    }
                )
                print(downstream_rows[-1], flush=True)

    wall = time.perf_counter() - start
    (args.model_dir / "metafavae_scores.json").write_text(
        json.dumps({f"{k[0]}|{k[1]}": v for k, v in scores.items()}, indent=1)
    )
    verdict = []
    for condition in ("encoded", "prior") if len(models) == 2 else ():
        avae, favae = scores[("Meta-AVAE", condition)], scores[("Meta-FAVAE", condition)]
        verdict.append(
            f"* c = {condition}: feedback changes diversity {avae['diversity']:.3f} -> {favae['diversity']:.3f} "
            f"({'higher' if favae['diversity'] > avae['diversity'] else 'not higher'}), faithfulness "
            f"{100 * avae['faithfulness']:.1f}% -> {100 * favae['faithfulness']:.1f}%, "
            f"FID {avae['fid']:.2f} -> {favae['fid']:.2f}."
        )
    print("\n".join(verdict), flush=True)
    if args.no_docs:
        return
    show = range(min(6, len(seeds4)))
    for condition in ("encoded", "prior"):
        grid_png(
            [[seeds4[i], *(generated_examples[(name, condition)][i][:8] for name in models)] for i in show],
            DOCS_IMAGES / f"metafavae_grid_{condition}{loss_tag(args)}.png",
        )
    body = [
        f"## {' vs '.join(reversed(models))} (Omniglot dev split, 28x28"
        + (f", generator loss lambda_rec={args.lambda_rec:g}, lambda_ms={args.lambda_ms:g}" if loss_tag(args) else "")
        + ")",
        "",
        f"Command: `{command_line()}` (models meta-trained beforehand, one call each: "
        "`python -m benchmarks.tables.metafavae_omniglot --only-fit --variants avae`, then `--variants favae`)  ",
        f"Hardware: {hardware_summary()}  ",
        f"Wall time of this evaluation: {wall / 60:.1f} min (meta-training: see the last column; "
        f"models cached in `{args.model_dir}`).",
        "",
        f"Meta-trained on the 6 training alphabets with their labels; adapted to {args.novel_classes} random "
        "Korean/Tagalog characters from 4 seeds (2 for faithfulness); "
        f"{args.n_generate} images per class. FID/diversity use "
        "`benchmarks._harness.feature_cache.dev_feature_extractor()`; "
        "nearest-seed L1 is the mean per-pixel L1 to the closest seed the model adapted on "
        "(`metaaug.metrics.nearest_seed_distance`; 0 = a copy); "
        f"faithfulness uses the {describe_judge(max_time=args.protonet_time)}: nearest prototype among the "
        f"{args.novel_classes} classes, prototypes from the 2 seeds.",
        "",
        markdown_table(rows),
    ]
    if downstream_rows:
        body += [
            f"Downstream: conv classifier on {args.labeled} labeled images per class of the same "
            f"{args.novel_classes} novel classes, {args.downstream_seeds} seeds, "
            f"{args.downstream_epochs} epochs, half of each batch generated.",
            "",
            markdown_table(downstream_rows),
        ]
    if verdict:
        body += ["Meta-AVAE -> Meta-FAVAE (same seed, same meta-training time):", "", *verdict, ""]
    body += [
        f"Grids: per row, the 4 seeds | 8 images of each of {' | '.join(models)}, c from the encoded seeds "
        "(first) and from the prior (second).",
        "",
        f"![seeds | Meta-AVAE | Meta-FAVAE, encoded](images/metafavae_grid_encoded{loss_tag(args)}.png)",
        "",
        f"![seeds | Meta-AVAE | Meta-FAVAE, prior](images/metafavae_grid_prior{loss_tag(args)}.png)",
    ]
    update_benchmarks_doc(f"metafavae{loss_tag(args)}", "\n".join(body))
    print(f"done in {wall / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
