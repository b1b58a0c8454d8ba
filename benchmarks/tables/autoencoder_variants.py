"""Paper-faithful AE / IntAE / AugIntAE variants against the library defaults (Omniglot dev split).

Each variant is fitted unlabeled on the dev split's six training alphabets at
the defaults' budget (``--epochs`` 20, ``--width`` 32, batch 64, random_state
0) and scored on the novel alphabets (Korean + Tagalog) by:

* **faithfulness**: the soft-stroke ProtoNets judge shared by the generator
  tables (``benchmarks/tables/_shared.py``, :func:`load_or_fit_judge`), the
  protocol of ``autoencoder_faithfulness.py``: ``--trials`` trials of 20
  random characters with 2 random seed drawings each, ``--n`` images per
  character, alpha ~ U(0, 1) and alpha = 0.5;
* **FID / KID** in the shared domain feature space
  (:func:`benchmarks._harness.feature_cache.dev_feature_extractor`): for each of
  the 57 novel characters 2 fixed seed drawings give ``--n`` images; the real
  set is the other 18 drawings of every character;
* **downstream gain**: the data-hallucination protocol of
  ``data_hallucination.py`` (5 labeled drawings per character, conv4, 30
  epochs, half of every batch generated at alpha = 0.5) over ``--seeds``
  seeds, paired against no augmentation;
* **fit time** (``fit_time_``) and, for the models weighted by ``k * gamma``,
  the final ``k_``.

Models are cached in ``--models-dir`` and results merged into a JSON
(``benchmarks/results/autoencoder_variants.json``), so the table can be filled
over several runs; ``--update-docs`` writes it to ``docs/benchmarks.md`` and
``docs/augintae.md``.

    python -m benchmarks.tables.autoencoder_variants --update-docs
    python -m benchmarks.tables.autoencoder_variants --variants AE,AE-paper --stage fit
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.feature_cache import dev_feature_extractor
from benchmarks._harness.reporting import (
    command_line,
    hardware_summary,
    markdown_table,
    publish_section,
    update_benchmarks_doc,
)
from benchmarks.tables._shared import (
    RESULTS_DIR,
    ROOT,
    default_models_dir,
    env_threads,
    load_or_fit_judge,
    update_json_store,
)
from metaaug import AE, AugIntAE, IntAE
from metaaug.fewshot import mean_ci95
from metaaug.metrics import (
    compute_features,
    downstream_accuracy,
    frechet_distance,
    kernel_distance,
    labeled_split,
    prototype_faithfulness,
)

# name: (class, parameters, label, whose model it is)
VARIANTS: dict[str, tuple[Any, dict[str, Any], str, str]] = {
    "AE": (AE, {}, "AE", "library default (L1 only)"),
    "AE-paper": (AE, {"adversarial": True}, "AE(adversarial=True)", "AugIntAE paper's AE baseline (+ LSGAN, k-gamma)"),
    "IntAE": (IntAE, {}, "IntAE", "library default (fixed weight, GAN on interpolations)"),
    "IntAE-paper": (
        IntAE,
        {"balance": "k-gamma", "adversarial_reconstructions": True},
        'IntAE(balance="k-gamma", adversarial_reconstructions=True)',
        "AugIntAE paper's IntAE (GAN on interpolations and reconstructions, k-gamma)",
    ),
    # every AugIntAE row pins its latent size: the default changed from 32 to 64 on characters
    "AugIntAE": (
        AugIntAE,
        {"reconstruction_weight": 0.0, "latent_dim": 32},
        "AugIntAE(reconstruction_weight=0, latent_dim=32)",
        "library default up to 0.1.x (interpolation L1 only, latent 32)",
    ),
    "AugIntAE-latent32": (
        AugIntAE,
        {"latent_dim": 32},
        "AugIntAE(latent_dim=32)",
        "interim default (+ reconstruction L1, latent 32)",
    ),
    "AugIntAE-latent32-adversarial": (
        AugIntAE,
        {"latent_dim": 32, "adversarial": True},
        "AugIntAE(latent_dim=32, adversarial=True)",
        "interim default + the paper's L_adv with k-gamma",
    ),
    "AugIntAE-latent32-no-shear": (
        AugIntAE,
        {"latent_dim": 32, "augmentation": "characters-no-shear"},
        'AugIntAE(latent_dim=32, augmentation="characters-no-shear")',
        "interim default with the anonymous paper's augmentation",
    ),
    "AugIntAE-default": (
        AugIntAE,
        {"latent_dim": 64},
        "AugIntAE()",
        "library default (+ reconstruction L1, latent 64 on characters)",
    ),
    "AugIntAE-default-adversarial": (
        AugIntAE,
        {"latent_dim": 64, "adversarial": True},
        "AugIntAE(adversarial=True)",
        "library default + the paper's L_adv with k-gamma",
    ),
    "AugIntAE-paper": (
        AugIntAE,
        dict(AugIntAE.PRESETS["augintae-paper"]),
        'AugIntAE.from_preset("augintae-paper")',
        "AugIntAE paper's full model (+ L_adv, k-gamma)",
    ),
    "interpolative-autoencoder": (
        AugIntAE,
        dict(AugIntAE.PRESETS["interpolative-autoencoder"]),
        'AugIntAE.from_preset("interpolative-autoencoder")',
        "the anonymous interpolative-autoencoder paper (L_recon / 2 + L_interp, no shear, latent 64)",
    ),
}
SECTION = "autoencoders-variants"
TITLE = "AE / IntAE / AugIntAE: paper-faithful variants against the defaults"


def model_file(models_dir: Path, name: str, epochs: int, width: int) -> Path:
    return models_dir / f"variant_{name}_e{epochs}_w{width}.pt"


def fit_or_load(name: str, X_train: torch.Tensor, args: argparse.Namespace) -> Any:
    cls, params, _, _ = VARIANTS[name]
    path = model_file(args.models_dir, name, args.epochs, args.width)
    if path.is_file():
        model = cls.load(path)
        model.set_params(verbose=False)
        return model
    model = cls(epochs=args.epochs, hidden=args.width, random_state=0, verbose=False, **params)
    model.fit(X_train)
    args.models_dir.mkdir(parents=True, exist_ok=True)
    model.save(path)
    print(f"{name}: fitted in {model.fit_time_:.0f} s", flush=True)
    return model


def faithfulness(model: Any, judge: Any, X: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> dict:
    """Per-trial faithfulness at alpha ~ U(0, 1) and alpha = 0.5 (same draws for every variant)."""
    rng = np.random.default_rng(0)
    labels = torch.unique(y).numpy()
    scores: dict[str, list[float]] = {"uniform": [], "half": [], "real": []}
    for _ in range(args.trials):
        classes = rng.choice(labels, size=20, replace=False)
        seeds, held_out = [], []
        for label in classes:
            index = rng.permutation(np.flatnonzero(y.numpy() == label))
            seeds.append(X[index[:2]])
            held_out.append(X[index[2:]])
        scores["real"].append(prototype_faithfulness(judge, seeds, held_out))
        for key, alpha in (("uniform", None), ("half", 0.5)):
            generated = [model.generate(s, args.n, random_state=int(rng.integers(2**31)), alpha=alpha) for s in seeds]
            scores[key].append(prototype_faithfulness(judge, seeds, [g.cpu() for g in generated]))
    return scores


def distribution_distances(model: Any, extractor: Any, X: torch.Tensor, y: torch.Tensor, n: int) -> dict:
    """FID and KID of ``n`` images per novel character (2 fixed seeds) against its other drawings."""
    rng = np.random.default_rng(1)
    generated, real = [], []
    for label in torch.unique(y).tolist():
        index = rng.permutation(np.flatnonzero(y.numpy() == label))
        generated.append(model.generate(X[index[:2]], n, random_state=int(label)).cpu())
        real.append(X[index[2:]])
    # unscaled features (generation_benchmark.py divides both sets by the real features' RMS first,
    # which changes FID by a constant factor and KID's kernel; the stored rows were measured without)
    real_features = compute_features(extractor, torch.cat(real))
    fake_features = compute_features(extractor, torch.cat(generated))
    kid, _ = kernel_distance(real_features, fake_features)
    return {"fid": frechet_distance(real_features, fake_features), "kid": float(kid)}


def downstream(model: Any, X: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> list[float]:
    """Accuracy per seed of the data-hallucination protocol (seed i: labeled split i, run i)."""
    per_seed = []
    for seed in range(args.seeds):
        X_train, y_train, X_test, y_test = labeled_split(X, y, 5, random_state=1000 + seed)
        result = downstream_accuracy(
            model, X_train, y_train, X_test, y_test, n_seeds=1, generate_kwargs={"alpha": 0.5}, random_state=seed
        )
        per_seed.append(float(result["per_seed"][0]))
    return per_seed


def ci(values: list[float], scale: float = 100.0) -> str:
    mean, half = mean_ci95(values)
    return f"{scale * mean:.1f} ± {scale * half:.1f}"


def build_table(stored: dict) -> str:
    rows = []
    baseline = stored.get("none", {}).get("downstream")
    for name, (_, _, label, role) in VARIANTS.items():
        result = stored.get(name)
        if result is None or "faithfulness" not in result:
            continue
        gain = ""
        if baseline is not None and "downstream" in result and len(baseline) == len(result["downstream"]):
            mean, half = mean_ci95(np.subtract(result["downstream"], baseline))
            gain = f"{100 * mean:+.2f} ± {100 * half:.2f}"
        rows.append(
            {
                "model": f"`{label}`",
                "whose": role,
                "faithful. % α~U(0,1) ↑": ci(result["faithfulness"]["uniform"]),
                "faithful. % α=0.5 ↑": ci(result["faithfulness"]["half"]),
                "FID ↓": f"{result['fid']:.2f}",
                "KID ↓": f"{result['kid']:.1f}",
                "downstream gain (pts) ↑": gain,
                "fit s": f"{result['fit_time']:.0f}",
                "final k": f"{result['k']:.2f}" if result.get("k") is not None else "",
            }
        )
    return markdown_table(rows)


#: the library default each variant is paired against (same faithfulness draws, same downstream seeds)
PAIRED_AGAINST = {"AE-paper": "AE", "IntAE-paper": "IntAE"} | {
    name: "AugIntAE-default"
    for name in VARIANTS
    if name.startswith(("AugIntAE", "interpolative")) and name != "AugIntAE-default"
}


def build_paired_table(stored: dict) -> str:
    """Each variant minus its class's default, per faithfulness trial and per downstream seed."""
    rows = []
    for name, default in PAIRED_AGAINST.items():
        result, base = stored.get(name), stored.get(default)
        if not result or not base or "faithfulness" not in result or "faithfulness" not in base:
            continue
        faithful = np.subtract(result["faithfulness"]["uniform"], base["faithfulness"]["uniform"])
        gain = np.subtract(result["downstream"], base["downstream"])
        rows.append(
            {
                "model": f"`{VARIANTS[name][2]}`",
                "against": f"`{VARIANTS[default][2]}`",
                "Δ faithful. % α~U(0,1)": "{:+.1f} ± {:.1f}".format(*(100 * v for v in mean_ci95(faithful))),
                "Δ downstream (pts)": "{:+.2f} ± {:.2f}".format(*(100 * v for v in mean_ci95(gain))),
                "trials ahead": f"{int((faithful > 0).sum())}/{len(faithful)}",
                "seeds ahead": f"{int((gain > 0).sum())}/{len(gain)}",
            }
        )
    return markdown_table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument(
        "--stage",
        choices=("fit", "all", "distances", "table"),
        default="all",
        help="fit: only fit; all: fit and score; distances: rescore FID / KID of stored rows; table: rebuild",
    )
    parser.add_argument("--models-dir", type=Path, default=default_models_dir())
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--n", type=int, default=50, help="generated images per character")
    parser.add_argument("--seeds", type=int, default=5, help="seeds of the downstream (hallucination) protocol")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "autoencoder_variants.json")
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--threads", type=int, default=env_threads(2))
    args = parser.parse_args()
    names = [v for v in args.variants.split(",") if v]
    unknown = set(names) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; choose from {list(VARIANTS)}")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    (X_train, y_train), (X_novel, y_novel) = load_dev_split()
    key = f"e{args.epochs}_w{args.width}_t{args.trials}_n{args.n}_s{args.seeds}"
    if args.stage == "distances":
        extractor = dev_feature_extractor()
        for name in names:
            model = fit_or_load(name, X_train, args)
            distances = distribution_distances(model, extractor, X_novel, y_novel, args.n)
            distances["distances_command"] = f"`{command_line()}` ({hardware_summary()}), for FID / KID"
            print(name, distances, flush=True)

            def rescore(s: dict, name: str = name, distances: dict = distances) -> dict:
                return {**s, key: {**s.get(key, {}), name: {**s.get(key, {}).get(name, {}), **distances}}}

            update_json_store(args.results, rescore)
    elif args.stage != "table":
        judge = extractor = None
        if args.stage == "all":
            judge, note = load_or_fit_judge(args.models_dir, X_train, y_train)
            print(f"judge {note}", flush=True)
            extractor = dev_feature_extractor()
            stored = json.loads(args.results.read_text()).get(key, {}) if args.results.is_file() else {}
            if "none" not in stored:
                none = downstream(None, X_novel, y_novel, args)
                update_json_store(args.results, lambda s: {**s, key: {**s.get(key, {}), "none": {"downstream": none}}})
        for name in names:
            model = fit_or_load(name, X_train, args)
            result: dict[str, Any] = {"fit_time": float(model.fit_time_), "k": getattr(model, "k_", None)}
            if args.stage == "all":
                step = time.perf_counter()
                result["faithfulness"] = faithfulness(model, judge, X_novel, y_novel, args)
                result.update(distribution_distances(model, extractor, X_novel, y_novel, args.n))
                result["downstream"] = downstream(model, X_novel, y_novel, args)
                result["eval_seconds"] = time.perf_counter() - step
                result["command"] = command_line()
                result["hardware"] = hardware_summary()
                print(name, {k: v for k, v in result.items() if k != "faithfulness"}, flush=True)

                def merge(s: dict, name: str = name, result: dict = result) -> dict:
                    return {**s, key: {**s.get(key, {}), name: result}}

                update_json_store(args.results, merge)
    stored = json.loads(args.results.read_text()).get(key, {}) if args.results.is_file() else {}
    commands = sorted({f"`{r['command']}` ({r['hardware']})" for r in stored.values() if "command" in r})
    rescored = sorted({r["distances_command"] for r in stored.values() if "distances_command" in r})
    commands += rescored
    fits = sum(r.get("fit_time", 0.0) for r in stored.values())
    evals = sum(r.get("eval_seconds", 0.0) for r in stored.values())
    body = "\n".join(
        [
            f"## {TITLE}",
            "",
            "Commands (each merges its rows into `benchmarks/results/autoencoder_variants.json`; the table is "
            "rebuilt from all stored rows):",
            "",
            *[f"* {c}" for c in commands],
            "",
            f"Wall time: fits {fits / 60:.1f} min in all (the `fit s` column), evaluation {evals / 60:.1f} min "
            f"(judge and feature extractor cached; this run {(time.perf_counter() - start) / 60:.1f} min).",
            "",
            f"Every model fitted unlabeled on the six training alphabets ({args.epochs} epochs, width {args.width}, "
            "batch 64, random_state 0). Faithfulness: the shared soft-stroke ProtoNets judge (600 s, rotated "
            f"classes), {args.trials} trials of 20 random Korean / Tagalog characters with 2 random seeds each, "
            f"{args.n} images per character; mean with 95% CI over trials. FID / KID: {args.n} images per novel "
            "character from 2 fixed seeds against its other 18 drawings, all 57 characters pooled, in the shared "
            "domain feature space (unscaled features, so the values are not comparable with the generation "
            "table's). Downstream gain: the data-hallucination protocol (57 characters, 5 labeled "
            "drawings each, conv4 30 epochs, half of each batch generated at alpha = 0.5), paired per seed against "
            f"no augmentation over {args.seeds} seeds. `final k`: the critic-balance variable at the end of "
            "training for the models weighted by `k * gamma`.",
            "",
            build_table(stored),
            "",
            "Paired against the default of the same class: every variant saw the same faithfulness trials (characters, "
            "seed drawings) and the same downstream seeds (labeled split, initialisation) as its default, so the "
            "differences are taken per trial and per seed before the mean and its 95% interval.",
            "",
            build_paired_table(stored),
        ]
    )
    publish_section(SECTION, body, write=args.update_docs)
    if args.update_docs:
        # docs/augintae.md has its own heading and conclusions around the generated block
        update_benchmarks_doc(SECTION, body.split("\n", 2)[2], ROOT / "docs" / "augintae.md")


if __name__ == "__main__":
    main()
