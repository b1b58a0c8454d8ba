"""Rank every few-shot generator side by side on the Omniglot dev split.

The protocol of the LoFGAN paper's Tables 1-2 and the AugIntAE paper's
Table 2, offline: every generator that exists at run time is fitted on the dev
split's six training alphabets (unlabeled where the method allows); then for
each Korean + Tagalog character, ``k`` seeds (3 by default) give ``n``
generated images (128). Metrics are pooled over the 57 characters and computed
against real images of the same characters that are disjoint from the seeds,
in the shared domain feature space (:func:`benchmarks._harness.feature_cache.dev_feature_extractor`).

Each character's 20 drawings are split once (fixed seed) into the ``k`` seeds,
a *reference* half of the rest (the real set of FID/KID, the novel side of the
domain classifier, the training set of the class-faithfulness classifier and
the test set of the downstream classifier) and a *held-out* half (the "real
held-out" anchor row, never seen by any metric model).

Rows: sanity anchors (real held-out, seed copies, Gaussian noise), pixel
mixup, VAE (latent interpolation in LASIUM's VAE), AE, IntAE, AugIntAE,
LoFGAN, LoFGAN with pseudo-labels, Meta-AVAE (Meta-FAVAE without feedback),
Meta-FAVAE. Rows whose module is missing are skipped with a note.

Each invocation merges its rows into a JSON of results (``--results``, under a
file lock), and fitted generators are cached in ``--models-dir`` and reloaded,
so long tables are filled in several runs of a few minutes each; ``--load
ROW=PATH`` scores a generator that another script fitted and saved. The docs
table is rebuilt from all stored rows and lists the commands that produced them.

Examples::

    python -m benchmarks.tables.generation_benchmark --rows anchors,mixup --update-docs
    python -m benchmarks.tables.generation_benchmark --rows ae,intae,augintae --fit-time 60 --fit-only
    python -m benchmarks.tables.generation_benchmark --rows ae,intae,augintae --fit-time 60   # loads the cached fits
    python -m benchmarks.tables.generation_benchmark --rows lofgan --load lofgan=/tmp/metaaug_models/lofgan_labels.pt
    python -m benchmarks.tables.generation_benchmark --assemble-only --update-docs
    python -m benchmarks.tables.generation_benchmark --quick           # smoke run, nothing written to docs
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import metaaug
from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.feature_cache import dev_feature_extractor
from benchmarks._harness.reporting import command_line, hardware_summary, markdown_table, update_benchmarks_doc
from benchmarks.tables._shared import DOCS_IMAGES, RESULTS_DIR, env_threads, torch_generator, update_json_store
from metaaug.augment import lerp
from metaaug.data import Task, as_images
from metaaug.metrics import (
    DomainClassifier,
    SeedClassClassifier,
    compute_features,
    downstream_accuracy,
    feature_diversity,
    frechet_distance,
    kernel_distance,
    nearest_prototype,
)
from metaaug.nets import eval_mode
from metaaug.samplers import save_task_grid

ANCHORS = ("real", "copies", "noise")
GENERATORS = ("mixup", "vae", "ae", "intae", "augintae", "lofgan", "lofgan-pseudo", "meta-avae", "meta-favae")
ROW_ORDER = ANCHORS + GENERATORS
ROW_NAMES = {
    "real": "real held-out (anchor)",
    "copies": "seed copies (anchor)",
    "noise": "Gaussian noise (anchor)",
    "mixup": "pixel mixup",
    "vae": "VAE (latent interpolation)",
    "ae": "AE",
    "intae": "IntAE",
    "augintae": "AugIntAE",
    "lofgan": "LoFGAN (labels)",
    "lofgan-pseudo": "LoFGAN (pseudo-labels)",
    "meta-avae": "Meta-AVAE",
    "meta-favae": "Meta-FAVAE",
}
COLUMNS = (
    "method",
    "FID ↓",
    "KID ×100 ↓",
    "diversity",
    "domain misclass. ↓",
    "class faithful. ↑",
    "proto faithful. ↑",
    "downstream gain (pts) ↑",
    "fit s",
    "gen s",
)


# ------------------------------------------------------------------ anchors and adapters
class SeedCopies:
    """'Generates' copies of the seeds (cycled): zero novelty, the diversity floor."""

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor:
        seeds = as_images(seeds, name="seeds")
        return seeds[torch.arange(int(n)) % len(seeds)]


class GaussianNoise:
    """Pixel noise with the real images' mean and standard deviation: no class, no domain."""

    def __init__(self, mean: float, std: float) -> None:
        self.mean, self.std = mean, std

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor:
        seeds = as_images(seeds, name="seeds")
        gen = torch_generator(random_state)
        noise = torch.randn((int(n), *seeds.shape[1:]), generator=gen)
        return (self.mean + self.std * noise).clamp(0, 1)


class RealHeldOut:
    """Returns held-out real images of the seeds' class (looked up by the first seed)."""

    def __init__(self, seeds: list[torch.Tensor], held_out: list[torch.Tensor]) -> None:
        self.lookup = {s[0].numpy().tobytes(): h for s, h in zip(seeds, held_out)}

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor:
        seeds = as_images(seeds, name="seeds")
        for seed in seeds:
            pool = self.lookup.get(seed.numpy().tobytes())
            if pool is not None:
                break
        else:
            raise ValueError("RealHeldOut only knows the benchmark's seed images")
        gen = torch_generator(random_state)
        if int(n) <= len(pool):
            return pool[torch.randperm(len(pool), generator=gen)[: int(n)]]
        return pool[torch.randint(len(pool), (int(n),), generator=gen)]


class VAEInterpolation:
    """Few-shot generation with LASIUM's VAE: decode lerps between random seed-pair latent means."""

    def __init__(self, lasium: Any) -> None:
        self.lasium = lasium

    def generate(self, seeds: Any, n: int, random_state: Any = None) -> torch.Tensor:
        seeds = as_images(seeds, name="seeds")
        vae = self.lasium.backend_
        device = next(vae.parameters()).device
        gen = torch_generator(random_state)
        first = torch.randint(len(seeds), (int(n),), generator=gen)
        other = (first + torch.randint(1, max(len(seeds), 2), (int(n),), generator=gen)) % len(seeds)
        weights = torch.rand(int(n), generator=gen)
        with torch.no_grad(), eval_mode(vae):
            means, _ = vae.encode(seeds.to(device))
            latents = lerp(means[first.to(device)], means[other.to(device)], weights.to(device))
            images = vae.decode(latents).float().cpu()
        return images.reshape(int(n), *seeds.shape[1:]).clamp(0, 1)


# ------------------------------------------------------------------ rows
@dataclass
class Row:
    key: str
    fit: Callable[[], Any] | None  # returns a fitted object with generate(seeds, n, random_state)
    note: str = ""


def _model_path(key: str, args: argparse.Namespace) -> Path:
    return Path(args.models_dir) / f"generation_{key}_fit{args.fit_time:g}s_seed{args.seed}.pt"


def fit_or_load(row: Row, args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """Fit the row's generator, or load it from ``--models-dir`` when a previous run saved it.

    Returns the model and a record of its fit (seconds, command, hardware), so a
    table assembled from cached models still reports how each was trained.
    """
    if row.key in args.load:
        path = Path(args.load[row.key])
        estimator = metaaug.load(path, device="cpu")
        fit_seconds = getattr(estimator, "fit_time_", None)
        print(f"{row.key}: loaded {path} (fit_time_ {fit_seconds})", flush=True)
        model = VAEInterpolation(estimator) if row.key == "vae" else estimator
        return model, {
            "fit_seconds": fit_seconds,
            "fit_source": str(path),
            "fit_params": {
                k: v
                for k, v in estimator.get_params().items()
                if k in ("epochs", "max_time", "n_iterations", "random_state")
            },
        }
    if row.key in ANCHORS or row.key == "mixup" or args.models_dir in (None, ""):
        start = time.perf_counter()
        model = row.fit()
        return model, {"fit_seconds": time.perf_counter() - start}
    path = _model_path(row.key, args)
    record_path = path.with_suffix(".json")
    if path.is_file() and record_path.is_file() and not args.refit:
        estimator = metaaug.load(path, device="cpu")
        record = json.loads(record_path.read_text())
        print(f"{row.key}: loaded {path} (fitted in {record['fit_seconds']:.0f} s)", flush=True)
    else:
        start = time.perf_counter()
        model = row.fit()
        record = {
            "fit_seconds": time.perf_counter() - start,
            "fit_command": command_line(),
            "fit_hardware": hardware_summary(),
            "fit_budget": args.fit_time,
        }
        estimator = model.lasium if isinstance(model, VAEInterpolation) else model
        estimator.save(path)
        record_path.write_text(json.dumps(record, indent=1))
        print(f"{row.key}: fitted in {record['fit_seconds']:.0f} s, saved {path}", flush=True)
    model = VAEInterpolation(estimator) if row.key == "vae" else estimator
    return model, record


def _class(name: str) -> Any:
    """The estimator ``metaaug.<name>``, or ``None`` when this version of metaaug lacks it."""
    try:
        return getattr(metaaug, name)
    except (ImportError, AttributeError):
        return None


def build_rows(
    keys: list[str], args: argparse.Namespace, X_train: torch.Tensor, y_train: torch.Tensor, novel: dict[str, Any]
) -> list[Row]:
    """One :class:`Row` per key; missing generator modules give a row with ``fit=None`` and a note."""
    budget, seed = args.fit_time, args.seed
    rows = []
    for key in keys:
        if key == "real":
            rows.append(Row(key, lambda: RealHeldOut(novel["seeds"], novel["held_out"])))
        elif key == "copies":
            rows.append(Row(key, SeedCopies))
        elif key == "noise":
            pixels = torch.cat(novel["reference"])
            rows.append(Row(key, lambda p=pixels: GaussianNoise(float(p.mean()), float(p.std()))))
        elif key == "mixup":
            cls = _class("PixelMixup")
            rows.append(Row(key, cls and (lambda c=cls: c().fit(X_train)), "" if cls else "PixelMixup missing"))
        elif key == "vae":
            cls = _class("LASIUM")
            rows.append(
                Row(
                    key,
                    cls
                    and (
                        lambda c=cls: VAEInterpolation(
                            c(
                                backend="vae",
                                epochs=args.epochs or 20,
                                max_time=budget,
                                verbose=False,
                                random_state=seed,
                            ).fit(X_train)
                        )
                    ),
                    "" if cls else "metaaug.LASIUM missing",
                )
            )
        elif key in ("ae", "intae", "augintae"):
            name = {"ae": "AE", "intae": "IntAE", "augintae": "AugIntAE"}[key]
            cls = _class(name)
            # the published AugIntAE row was measured with the 0.1.x defaults (no reconstruction term, latent 32)
            pinned = {"reconstruction_weight": 0.0, "latent_dim": 32} if key == "augintae" else {}
            rows.append(
                Row(
                    key,
                    cls
                    and (
                        lambda c=cls, pinned=pinned: c(
                            epochs=args.epochs or 20, max_time=budget, verbose=False, random_state=seed, **pinned
                        ).fit(X_train)
                    ),
                    "" if cls else f"metaaug.{name} missing",
                )
            )
        elif key in ("lofgan", "lofgan-pseudo"):
            cls = _class("LoFGAN")
            labels = y_train if key == "lofgan" else None
            rows.append(
                Row(
                    key,
                    cls
                    and (
                        lambda c=cls, y=labels: c(
                            k_shot=args.k_shot,
                            epochs=args.epochs or 100.0,
                            max_time=budget,
                            verbose=False,
                            random_state=seed,
                        ).fit(X_train, y)
                    ),
                    "" if cls else "metaaug.LoFGAN missing",
                )
            )
        elif key in ("meta-avae", "meta-favae"):
            cls = _class("MetaFAVAE")
            rows.append(
                Row(
                    key,
                    cls
                    and (
                        lambda c=cls, fb=(key == "meta-favae"): c(
                            feedback=fb, n_iterations=100_000, max_time=budget, verbose=False, random_state=seed
                        ).fit(X_train)
                    ),
                    "" if cls else "metaaug.MetaFAVAE missing",
                )
            )
        else:
            raise ValueError(f"unknown row {key!r}; choose from {', '.join(ROW_ORDER)}, anchors, generators, all")
    return rows


# ------------------------------------------------------------------ protocol
def split_novel(X_test: torch.Tensor, y_test: torch.Tensor, k_shot: int, seed: int) -> dict[str, Any]:
    """Per novel class: ``k_shot`` seeds, a reference half and a held-out half of the rest."""
    rng = np.random.default_rng(seed)
    seeds, reference, held_out = [], [], []
    for label in torch.unique(y_test):
        images = X_test[y_test == label]
        images = images[torch.from_numpy(rng.permutation(len(images)))]
        rest = images[k_shot:]
        if len(rest) < 4:
            raise ValueError(f"class {int(label)} has {len(images)} images; need k_shot + 4")
        half = math.ceil(len(rest) / 2)
        seeds.append(images[:k_shot])
        reference.append(rest[:half])
        held_out.append(rest[half:])
    return {"seeds": seeds, "reference": reference, "held_out": held_out}


def labels_for(sets: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([torch.full((len(s),), i, dtype=torch.long) for i, s in enumerate(sets)])


class Evaluator:
    """Holds the real-side features and metric models, computed once; scores generated sets.

    All features are divided by one constant, the RMS of the reference
    features, so the KID polynomial kernel ``(<x, y> / D + 1) ** 3`` works at
    the scale it was designed for (Inception features are of order 1) instead
    of being dominated by a few large products; rankings by FID and the other
    metrics do not change under this scaling.
    """

    def __init__(self, extractor: Any, X_train: torch.Tensor, novel: dict[str, Any]) -> None:
        start, cpu = time.perf_counter(), time.process_time()
        self.extractor = extractor
        reference = compute_features(extractor, torch.cat(novel["reference"]), name="reference")
        self.scale = float(reference.pow(2).mean().sqrt())
        self.reference_features = reference / self.scale
        self.seed_features = self.embed(torch.cat(novel["seeds"]), "seeds")
        self.seed_labels = labels_for(novel["seeds"])
        novel_features = torch.cat([self.seed_features, self.reference_features])
        novel_labels = torch.cat([self.seed_labels, labels_for(novel["reference"])])
        self.domain = DomainClassifier().fit(self.embed(X_train, "training domain"), novel_features)
        self.classes = SeedClassClassifier().fit(novel_features, novel_labels)
        self.setup_seconds = time.perf_counter() - start
        self.setup_cpu_seconds = time.process_time() - cpu

    def embed(self, images: torch.Tensor, name: str) -> torch.Tensor:
        return compute_features(self.extractor, images, name=name) / self.scale

    def score(self, generated: list[torch.Tensor], seed: int) -> dict[str, float]:
        start, cpu = time.perf_counter(), time.process_time()
        features = self.embed(torch.cat(generated), "generated")
        labels = labels_for(generated)
        kid_mean, kid_std = kernel_distance(self.reference_features, features, random_state=seed)
        predicted = nearest_prototype(self.seed_features, self.seed_labels, features)
        return {
            "fid": frechet_distance(self.reference_features, features),
            "kid": kid_mean,
            "kid_std": kid_std,
            "diversity": feature_diversity(features, labels),
            "domain_misclassification": self.domain.misclassification_rate(features),
            "class_faithfulness": self.classes.accuracy(features, labels),
            "prototype_faithfulness": float((predicted == labels).double().mean()),
            "metric_seconds": time.perf_counter() - start,
            "metric_cpu_seconds": time.process_time() - cpu,
        }


def generate_all(model: Any, seeds: list[torch.Tensor], n: int, seed: int) -> list[torch.Tensor]:
    rng = np.random.default_rng(seed)
    out = []
    for class_seeds in seeds:
        images = as_images(model.generate(class_seeds, n, random_state=int(rng.integers(2**31))), name="generated")
        if len(images) != n or images.shape[1:] != class_seeds.shape[1:]:
            raise ValueError(f"generate returned {tuple(images.shape)} for n={n}")
        out.append(images.cpu())
    return out


def save_grid(
    key: str,
    seeds: list[torch.Tensor],
    generated: list[torch.Tensor],
    folder: Path,
    n_classes: int = 6,
    n_shown: int = 10,
) -> Path:
    """PNG: one row per class, its seeds, a gap, then generated images."""
    picked = np.linspace(0, len(seeds) - 1, n_classes).round().astype(int)
    support = torch.cat([seeds[i] for i in picked])
    query = torch.cat([generated[i][:n_shown] for i in picked])
    k, shown = len(seeds[0]), min(n_shown, len(generated[0]))
    task = Task(
        support, torch.arange(n_classes).repeat_interleave(k), query, torch.arange(n_classes).repeat_interleave(shown)
    )
    return save_task_grid([task], folder / f"generation_{key.replace('-', '_')}.png")


def downstream(model: Any | None, novel: dict[str, Any], args: argparse.Namespace) -> dict[str, Any] | None:
    X_train, X_test = torch.cat(novel["seeds"]), torch.cat(novel["reference"])
    return downstream_accuracy(
        model,
        X_train,
        labels_for(novel["seeds"]),
        X_test,
        labels_for(novel["reference"]),
        n_seeds=args.downstream_seeds,
        epochs=args.downstream_epochs,
        random_state=args.seed,
    )


# ------------------------------------------------------------------ table
def _fmt(value: Any, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def table(results: dict[str, Any]) -> str:
    rows = []
    baseline = results.get("downstream_baseline")
    for key in ROW_ORDER:
        r = results["rows"].get(key)
        if r is None:
            continue
        if r.get("skipped"):
            rows.append({"method": ROW_NAMES[key], "FID ↓": f"skipped: {r['skipped']}"})
            continue
        gain = "–"
        if r.get("downstream") and baseline:
            diff = 100 * (r["downstream"]["mean"] - baseline["mean"])
            ci = 100 * math.hypot(r["downstream"]["ci95"], baseline["ci95"])
            gain = f"{diff:+.2f} ± {ci:.2f}"
        rows.append(
            {
                "method": ROW_NAMES[key],
                "FID ↓": _fmt(r["fid"], ".2f"),
                "KID ×100 ↓": _fmt(100 * r["kid"], ".2f"),
                "diversity": _fmt(r["diversity"], ".3f"),
                "domain misclass. ↓": _fmt(100 * r["domain_misclassification"], ".1f") + "%",
                "class faithful. ↑": _fmt(100 * r["class_faithfulness"], ".1f") + "%",
                "proto faithful. ↑": _fmt(100 * r["prototype_faithfulness"], ".1f") + "%",
                "downstream gain (pts) ↑": gain,
                "fit s": _fmt(r.get("fit_seconds"), ".0f"),
                "gen s": _fmt(r.get("generate_seconds"), ".1f"),
            }
        )
    return markdown_table(rows, COLUMNS)


def best_per_column(results: dict[str, Any]) -> str:
    fitted = {k: r for k, r in results["rows"].items() if k in GENERATORS and not r.get("skipped")}
    if not fitted:
        return "No generator row has been measured yet."
    baseline = results.get("downstream_baseline")
    picks = []
    for label, field, pick in (
        ("FID", "fid", min),
        ("KID", "kid", min),
        ("diversity", "diversity", max),
        ("domain misclassification", "domain_misclassification", min),
        ("class faithfulness", "class_faithfulness", max),
        ("prototype faithfulness", "prototype_faithfulness", max),
    ):
        best = pick(fitted, key=lambda k: fitted[k][field])
        picks.append(f"{label}: **{ROW_NAMES[best]}**")
    with_downstream = {k: r for k, r in fitted.items() if r.get("downstream")}
    if with_downstream and baseline:
        best = max(with_downstream, key=lambda k: with_downstream[k]["downstream"]["mean"])
        picks.append(f"downstream gain: **{ROW_NAMES[best]}**")
    return (
        "Best generator per column (anchors excluded): " + "; ".join(picks) + ". Read diversity next to "
        "class faithfulness: a generator that ignores its seeds is diverse and unfaithful."
    )


def fit_budget(row: dict[str, Any]) -> str:
    params = row.get("fit_params") or {}
    return ", ".join(f"{k}={v}" for k, v in params.items() if v is not None) or "defaults"


def metric_cost(results: dict[str, Any]) -> str:
    """One sentence: CPU seconds of the metrics for the whole table (beyond fitting), and of the downstream column."""
    rows = [r for r in results["rows"].values() if not r.get("skipped")]
    setup = results.get("metric_setup_seconds")
    if not rows or not isinstance(setup, dict):
        return ""
    # rows stored before CPU time was recorded count their wall time (an upper bound on one thread)
    scoring = sum(r.get("metric_cpu_seconds", r["metric_seconds"]) for r in rows)
    downstream = sum(r["downstream"]["seconds"] for r in rows if r.get("downstream"))
    baseline = results.get("downstream_baseline")
    downstream += baseline["seconds"] if baseline else 0.0
    return (
        f"Cost of the metrics for the whole table, beyond fitting and generating: "
        f"{setup['cpu'] + scoring:.0f} CPU seconds for FID, KID, diversity, domain and class faithfulness "
        f"({setup['cpu']:.0f} s once for the real-image features and the two metric classifiers, then "
        f"{scoring / len(rows):.1f} s per row over {len(rows)} rows, features computed in batches once per "
        f"set); the downstream column trains {1 + len(rows)} x {results['setup']['downstream_seeds']} "
        f"classifiers in another {downstream:.0f} s (wall, 1 thread)."
    )


def docs_body(results: dict[str, Any]) -> str:
    setup = results["setup"]
    baseline = results.get("downstream_baseline")
    lines = [
        "## Few-shot generation: every generator side by side",
        "",
        f"Omniglot dev split: generators fitted on the 6 training alphabets ({setup['n_train']} images), "
        f"then for each of the {setup['n_classes']} Korean + Tagalog characters {setup['k_shot']} seeds -> "
        f"{setup['n_generated']} generated images. FID/KID (KID subsets of min(1000, N)) against the "
        f"{setup['n_reference']} reference images (disjoint from the seeds) in the cached conv4 domain "
        "feature space (`benchmarks._harness.feature_cache.dev_feature_extractor`, trained on the training alphabets); "
        "diversity = mean pairwise feature distance within a class; domain misclassification = share of "
        "generated images a train-vs-novel MLP (one hidden layer of 64, on the standardised features) puts in the "
        "training domain; class "
        "faithfulness = accuracy of a logistic regression trained on the real novel images (seeds + "
        "reference); proto faithfulness = nearest seed prototype is the own class (chance "
        f"{100 / setup['n_classes']:.1f}%); downstream gain = change in test accuracy of a conv4 "
        f"classifier trained on the {setup['k_shot']} seeds/class with half of each batch generated "
        f"({setup['downstream_seeds']} seeds, {setup['downstream_epochs']} epochs, 95% CI)"
        + (
            f"; without augmentation it scores {100 * baseline['mean']:.2f} ± {100 * baseline['ci95']:.2f}%"
            if baseline
            else ""
        )
        + ".",
        "Anchor rows show the scale: real held-out images (the best attainable; FID is not 0 because the "
        "two real sets are small and different), copies of the seeds (no novelty) and pixel noise.",
        "",
        table(results),
        best_per_column(results),
        "",
        metric_cost(results),
        "",
        "Runs that produced these rows (each through the shared CPU-slot wrapper, one torch thread):",
        "",
    ]
    for run in results["runs"]:
        lines.append(
            f"- `{run['command']}`: rows {', '.join(run['rows'])}; wall {run['wall_seconds']:.0f} s "
            f"(metrics {run['metric_seconds']:.1f} s, downstream classifiers "
            f"{run.get('downstream_seconds', float('nan')):.0f} s); {run['hardware']}."
        )
    fits = [
        f"{ROW_NAMES[k]}: `{r['fit_source']}` ({fit_budget(r)})"
        for k, r in results["rows"].items()
        if r.get("fit_source")
    ]
    if fits:
        lines += [
            "",
            "Generators fitted by the methods' own table scripts "
            "(`benchmarks/tables/autoencoder_generalisation.py`, `lofgan_omniglot.py`, `metafavae_omniglot.py`, "
            "`unsupervised_meta_learning.py`; 1 torch thread, "
            "dev-split training alphabets, their default budgets, not equal across methods) and loaded with "
            "`--load ROW=PATH`; the fit column is their `fit_time_`: " + "; ".join(fits) + ".",
        ]
    notes = [f"{ROW_NAMES[k]}: {r['note']}" for k, r in results["rows"].items() if r.get("note")]
    if notes:
        lines += ["", "Notes: " + "; ".join(notes) + "."]
    lines += [
        "",
        "Grids (seeds left of the gap, generated right): "
        + ", ".join(
            f"[{ROW_NAMES[k]}](images/generation_{k.replace('-', '_')}.png)"
            for k in ROW_ORDER
            if k in results["rows"] and not results["rows"][k].get("skipped")
        ),
    ]
    return "\n".join(lines)


def merge_results(
    path: Path,
    results: dict[str, Any],
    keys: list[str],
    run: dict[str, Any],
    setup_seconds: dict[str, float],
    keep_old_runs: bool = False,
) -> dict[str, Any]:
    """Write this run's rows into the JSON at ``path``, merged with rows other runs stored meanwhile.

    ``keep_old_runs`` keeps the records of earlier runs of the same rows (a ``--no-downstream`` rerun
    keeps their downstream scores, so their commands stay listed).
    """

    def merge(stored: dict[str, Any]) -> dict[str, Any]:
        if stored.get("setup") == results["setup"]:
            for key in keys:  # a --no-downstream rerun keeps the row's stored downstream score
                previous = stored["rows"].get(key, {})
                if "downstream" not in results["rows"][key] and previous.get("downstream"):
                    results["rows"][key]["downstream"] = previous["downstream"]
            rows = {**stored["rows"], **{k: results["rows"][k] for k in keys}}
            runs = stored["runs"]
            baseline = stored.get("downstream_baseline") or results.get("downstream_baseline")
        else:
            rows, runs, baseline = {k: results["rows"][k] for k in keys}, [], results.get("downstream_baseline")
        if not keep_old_runs:
            runs = [r for r in runs if set(r["rows"]) - set(keys)]
            for old in runs:
                old["rows"] = [k for k in old["rows"] if k not in keys]
        return {
            "setup": results["setup"],
            "rows": rows,
            "runs": runs + [run],
            "downstream_baseline": baseline,
            "metric_setup_seconds": setup_seconds,
        }

    return update_json_store(path, merge)


# ------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rows",
        default="all",
        help="comma-separated rows or groups (anchors, generators, all): " + ", ".join(ROW_ORDER),
    )
    p.add_argument("--k-shot", type=int, default=3, help="seeds per novel character")
    p.add_argument("--n-generated", type=int, default=128, help="generated images per character")
    p.add_argument("--fit-time", type=float, default=120.0, help="max_time (s) of each generator's fit")
    p.add_argument("--epochs", type=float, default=None, help="epoch cap for generators that take epochs")
    p.add_argument("--downstream-seeds", type=int, default=5, help="classifier seeds of the downstream gain")
    p.add_argument("--downstream-epochs", type=int, default=30)
    p.add_argument("--no-downstream", action="store_true", help="skip the downstream gain column")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=env_threads(0) or None,
        help="torch threads (default: $METAAUG_THREADS, else torch's default)",
    )
    p.add_argument("--data-root", default=None)
    p.add_argument("--results", default=str(RESULTS_DIR / "generation_benchmark.json"), help="JSON merged across runs")
    p.add_argument("--images", default=str(DOCS_IMAGES), help="folder for the PNG grids")
    p.add_argument(
        "--models-dir",
        default="/tmp/metaaug_models",
        help="fitted generators are saved here and reloaded by later runs ('' disables)",
    )
    p.add_argument("--refit", action="store_true", help="fit even when a saved model exists")
    p.add_argument(
        "--load",
        action="append",
        default=[],
        metavar="ROW=PATH",
        help="use a generator saved by another script (metaaug save format) for ROW; "
        "its fit_time_ fills the fit column; repeatable",
    )
    p.add_argument(
        "--assemble-only",
        action="store_true",
        help="no computation: rebuild the table (and docs) from the stored results",
    )
    p.add_argument(
        "--fit-only", action="store_true", help="only fit and save the rows' generators (no metrics, results untouched)"
    )
    p.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    p.add_argument("--section", default="generation-benchmark")
    p.add_argument("--quick", action="store_true", help="smoke run: 10 s fits, 16 images, no docs")
    args = p.parse_args(argv)
    keys = []
    for item in (s.strip() for s in args.rows.split(",")):
        keys += {"all": ROW_ORDER, "anchors": ANCHORS, "generators": GENERATORS}.get(item, (item,) if item else ())
    unknown = [k for k in keys if k not in ROW_ORDER]
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {', '.join(ROW_ORDER)}, anchors, generators, all")
    args.rows = list(dict.fromkeys(keys))
    loads = {}
    for item in args.load:
        key, sep, path = item.partition("=")
        if not sep or key not in GENERATORS or not Path(path).is_file():
            p.error(
                f"--load expects ROW=PATH with ROW one of {', '.join(GENERATORS)} and an existing file, got {item!r}"
            )
        loads[key] = path
    args.load = loads
    if args.quick:
        args.fit_time, args.n_generated, args.epochs = 10.0, 16, args.epochs or 1
        args.downstream_seeds, args.downstream_epochs = 2, 3
        args.results = "/tmp/metaaug_generation_quick.json"
        args.models_dir = ""
        args.images = "/tmp/metaaug_generation_quick"
        args.update_docs = False
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    wall = time.perf_counter()
    results_path = Path(args.results)
    if args.assemble_only:
        results = json.loads(results_path.read_text())
        print(table(results))
        print(best_per_column(results))
        if args.update_docs:
            print(f"updated {update_benchmarks_doc(args.section, docs_body(results))}")
        return results
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    (X_train, y_train), (X_test, y_test) = load_dev_split(args.data_root)
    novel = split_novel(X_test, y_test, args.k_shot, args.seed)
    if args.fit_only:
        for row in build_rows(args.rows, args, X_train, y_train, novel):
            if row.fit is not None and row.key not in ANCHORS:
                fit_or_load(row, args)
        print(f"wall {time.perf_counter() - wall:.0f} s")
        return {}
    extractor = dev_feature_extractor(args.data_root)
    evaluator = Evaluator(extractor, X_train, novel)
    print(f"metric setup (features of real sets, domain and class classifiers): {evaluator.setup_seconds:.1f} s")

    results = json.loads(results_path.read_text()) if results_path.is_file() else {"rows": {}, "runs": []}
    setup = {
        "n_train": len(X_train),
        "n_classes": len(novel["seeds"]),
        "k_shot": args.k_shot,
        "n_generated": args.n_generated,
        "n_reference": sum(len(r) for r in novel["reference"]),
        "downstream_seeds": args.downstream_seeds,
        "downstream_epochs": args.downstream_epochs,
    }
    if results.get("setup") not in (None, setup):
        print(f"protocol changed ({results['setup']} -> {setup}): previous rows discarded")
        results = {"rows": {}, "runs": []}
    results["setup"] = setup
    downstream_seconds = 0.0
    if not args.no_downstream and results.get("downstream_baseline") is None:
        results["downstream_baseline"] = downstream(None, novel, args)
        downstream_seconds += results["downstream_baseline"]["seconds"] if results["downstream_baseline"] else 0.0

    metric_seconds = evaluator.setup_seconds
    for row in build_rows(args.rows, args, X_train, y_train, novel):
        if row.fit is None:
            print(f"{row.key}: skipped ({row.note})")
            results["rows"][row.key] = {"skipped": row.note}
            continue
        model, fit_record = fit_or_load(row, args)
        start = time.perf_counter()
        generated = generate_all(model, novel["seeds"], args.n_generated, args.seed)
        generate_seconds = time.perf_counter() - start
        scores = evaluator.score(generated, args.seed)
        metric_seconds += scores["metric_seconds"]
        scores.update(
            fit_record if row.key not in ANCHORS else {},
            note=row.note,
            generate_seconds=generate_seconds if row.key not in ANCHORS else None,
        )
        if row.key in ANCHORS:
            scores["fit_seconds"] = None
        if not args.no_downstream:
            scores["downstream"] = downstream(model, novel, args)
            downstream_seconds += scores["downstream"]["seconds"] if scores["downstream"] else 0.0
        save_grid(row.key, novel["seeds"], generated, Path(args.images))
        results["rows"][row.key] = scores
        print(f"{row.key}: " + ", ".join(f"{k}={v:.4g}" for k, v in scores.items() if isinstance(v, float)), flush=True)

    run = {
        "command": command_line(),
        "rows": args.rows,
        "hardware": hardware_summary(),
        "wall_seconds": time.perf_counter() - wall,
        "metric_seconds": metric_seconds,
        "downstream_seconds": downstream_seconds,
        "fit_time": args.fit_time,
    }
    results = merge_results(
        results_path,
        results,
        args.rows,
        run,
        {"wall": evaluator.setup_seconds, "cpu": evaluator.setup_cpu_seconds},
        keep_old_runs=args.no_downstream,
    )
    print(table(results))
    print(best_per_column(results))
    print(
        f"wall {time.perf_counter() - wall:.0f} s, metrics {metric_seconds:.1f} s, "
        f"downstream classifiers {downstream_seconds:.1f} s"
    )
    if args.update_docs:
        print(f"updated {update_benchmarks_doc(args.section, docs_body(results))}")
    return results


if __name__ == "__main__":
    main()
