"""Unsupervised meta-learning on the Omniglot dev split, 5- and 20-way: LASIUM, UMTRA, CACTUs, PsCo.

Meta-trains a ProtoNet (or MAML) once per row on tasks built from the *unlabeled*
training alphabets, then evaluates it on labeled 5- and 20-way, 1- and 5-shot
tasks (15 queries per class, ``--test-tasks`` per configuration) of the held-out
alphabets (Korean + Tagalog, 57 characters). Next to them: PsCo (contrastive
meta-learning on its own pseudo-tasks, evaluated like a ProtoNet), CACTUs on
PsCo's embedding, pixel nearest neighbour (no training) and a supervised
ProtoNet (labels of the training alphabets: an upper reference).

Rows are ``<sampler>[@<W>w[<Q>q]]:<learner>``; ``@20w`` meta-trains on 20-way
tasks, ``@20w10q`` on 20-way tasks with 10 queries per class (default 5 ways,
``--train-queries``, ``--train-shot``); rows of one sampler share one fitted
sampler. Samplers: lasium-{n,ro,oc}-{vae,gan,ae,intae,augintae}, umtra, cactus,
cactus-ae, cactus-psco, supervised; learners: proto, maml. LASIUM options after
``+``: ``bin`` / ``nobin`` (binarize decoded images), ``shift`` / ``noshift``
(query shifts of up to 5 px, the default, or none). Rows without a learner:
``pixel-nn`` and ``psco`` with options ``+nomomentum``, ``+nearest`` (nearest
neighbour pseudo-labels), ``+moco`` (none), ``+augintae`` (momentum views from an AugIntAE fitted on
the same images), ``+queueN`` (queue size N).

Examples::

    python -m benchmarks.tables.unsupervised_meta_learning --quick
    python -m benchmarks.tables.unsupervised_meta_learning --rows umtra:proto,umtra@20w:proto --eval-ways 5,20
    python -m benchmarks.tables.unsupervised_meta_learning --rows psco+nomomentum,cactus-psco:proto --cache /tmp/m
    python -m benchmarks.tables.unsupervised_meta_learning --update-docs      # full default table

On a shared CPU, run rows one process at a time: ``--cache DIR`` keeps fitted
LASIUM backends and PsCo models, ``--results DIR`` writes one JSON per row with
every test configuration (and skips rows already there), ``--assemble`` builds
the table from ``DIR`` only (rows without a result: "not run (budget)")::

    python -m benchmarks.tables.unsupervised_meta_learning --rows umtra@20w:proto --cache /tmp/m --results /tmp/uml20
    python -m benchmarks.tables.unsupervised_meta_learning --results /tmp/uml20 --assemble --update-docs

Threads: ``METAAUG_THREADS`` (default 2).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import torch

import metaaug
from benchmarks._harness.dev_split import load_dev_split
from benchmarks._harness.reporting import (
    command_line,
    format_accuracy,
    hardware_summary,
    markdown_table,
    update_benchmarks_doc,
)
from benchmarks.tables._shared import env_threads
from metaaug import LASIUM, UMTRA, CACTUs
from metaaug.augment import random_augment
from metaaug.data import LabeledTaskSampler
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier
from metaaug.samplers.lasium import SAMPLING_PARAMS  # a cached backend is reused whatever their values

DEFAULT_ROWS = (
    "pixel-nn",
    "supervised:proto",
    "supervised@20w:proto",
    "umtra:proto",
    "umtra@20w:proto",
    "lasium-n-ae+bin:proto",
    "lasium-n-ae+bin@20w:proto",
    "cactus:proto",
    "psco",
    "psco+nomomentum",
    "psco+nearest",
    "psco+moco",
    "cactus-psco:proto",
)
QUICK_ROWS = ("pixel-nn", "umtra:proto", "psco")
TEST_QUERIES = 15
TITLE = "Unsupervised meta-learning, 5- and 20-way (Omniglot dev split)"


class RowSpec(NamedTuple):
    """A parsed row: sampler part (the sampler cache key), training ways / queries (None: defaults), learner."""

    sampler: str
    ways: int | None
    queries: int | None
    learner: str


ROW_PATTERN = re.compile(
    r"(?P<sampler>[a-z][a-z0-9+\-]*)(?:@(?P<ways>\d+)w(?:(?P<queries>\d+)q)?)?(?::(?P<learner>.*))?"
)


def parse_row(row: str) -> RowSpec:
    """Split ``<sampler>[@<W>w[<Q>q]]:<learner>``; a malformed row exits with a message saying why."""
    match = ROW_PATTERN.fullmatch(row)
    if match is None:
        raise SystemExit(f"malformed row {row!r}: expected <sampler>[@<W>w[<Q>q]]:<learner>, e.g. umtra@20w10q:proto")
    sampler, learner = match["sampler"], match["learner"]
    ways = int(match["ways"]) if match["ways"] else None
    queries = int(match["queries"]) if match["queries"] else None
    if sampler == "pixel-nn" or sampler.split("+")[0] == "psco":
        if learner not in (None, "-") or ways is not None:
            raise SystemExit(f"row {row!r}: {sampler} has no learner and no @<W>w (write {sampler!r})")
        if sampler != "pixel-nn":
            psco_options(sampler)  # unknown options fail before any training
        return RowSpec(sampler, None, None, "-")
    if learner not in ("proto", "maml"):
        raise SystemExit(f"row {row!r}: learner must be proto or maml, e.g. {sampler}:proto")
    if ways is not None and ways < 2 or queries is not None and queries < 1:
        raise SystemExit(f"row {row!r}: needs at least 2 ways and 1 query")
    return RowSpec(sampler, ways, queries, learner)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default=None, help="comma-separated rows (default: all; --quick: a small set)")
    p.add_argument("--shots", default="1,5", help="comma-separated k_shot values of the test tasks")
    p.add_argument("--eval-ways", default="5,20", help="comma-separated n_ways values of the test tasks")
    p.add_argument("--train-shot", type=int, default=1, help="k_shot of the meta-training tasks")
    p.add_argument("--quick", action="store_true", help="tiny budgets for a smoke run (about a minute a row)")
    p.add_argument("--epochs", type=int, default=None, help="VAE / autoencoder epochs (default: LASIUM's)")
    p.add_argument("--gan-epochs", type=int, default=None, help="GAN epochs (default: LASIUM's)")
    p.add_argument("--hidden", type=int, default=None, help="filters of the LASIUM backends (default: LASIUM's)")
    p.add_argument("--beta", type=float, default=None, help="VAE KL weight (default: LASIUM's)")
    p.add_argument("--sigma2", type=float, default=None)
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--query-shift", type=int, default=None)
    p.add_argument("--psco-queue", type=int, default=512, help="PsCo queue size (a row's +queueN wins)")
    p.add_argument("--psco-batch", type=int, default=64, help="PsCo batch size (the paper's is 256)")
    p.add_argument("--iterations", type=int, default=2000, help="ProtoNet meta-training iterations")
    p.add_argument("--maml-iterations", type=int, default=500, help="MAML meta-training iterations")
    p.add_argument("--train-queries", type=int, default=5, help="queries per class in meta-training tasks")
    p.add_argument("--test-tasks", type=int, default=1000, help="test tasks per configuration (not MAML)")
    p.add_argument("--maml-test-tasks", type=int, default=200, help="test tasks for MAML rows (50 steps each)")
    p.add_argument("--max-time", type=float, default=None, help="per-stage time cap in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="Omniglot folder (default: ../shared/data/omniglot)")
    p.add_argument("--grid", default=None, help="save a PNG grid of each sampler's tasks into this folder")
    cache_help = "folder of fitted LASIUM backends and PsCo models (settings unchecked: empty it after changes)"
    p.add_argument("--cache", default=None, help=cache_help)
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    p.add_argument("--results", default=None, help="folder of per-row JSON results (rows there are not rerun)")
    p.add_argument("--assemble", action="store_true", help="build the table from --results only (no training)")
    skip_help = "with --assemble: leave out requested rows without a result (else 'not run (budget)')"
    p.add_argument("--skip-missing", action="store_true", help=skip_help)
    p.add_argument("--note", default="", help="a paragraph written above the table (budgets, settings)")
    p.add_argument(
        "--note-file", type=Path, default=None, help="read that paragraph from a file (keeps the quoted command short)"
    )
    p.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    p.add_argument("--section", default="unsupervised-meta-learning-20way", help="docs/benchmarks.md section name")
    args = p.parse_args()
    if args.quick:
        args.epochs = args.epochs or 3
        args.gan_epochs = args.gan_epochs or 2
        args.max_time = 20.0 if args.max_time is None else args.max_time
        args.iterations = min(args.iterations, 150)
        args.maml_iterations = min(args.maml_iterations, 30)
        args.test_tasks = min(args.test_tasks, 100)
        args.maml_test_tasks = min(args.maml_test_tasks, 30)
    rows = args.rows.split(",") if args.rows else list(QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.rows = [r.strip() for r in rows if r.strip()]
    for row in args.rows:
        parse_row(row)  # fail before any training
    args.shots = [int(s) for s in args.shots.split(",")]
    args.eval_ways = [int(w) for w in args.eval_ways.split(",")]
    args.configs = [(w, k) for w in args.eval_ways for k in args.shots]
    return args


LASIUM_OPTIONS = {"bin": ("binarize", True), "nobin": ("binarize", False), "shift": ("query_shift", 5)}
LASIUM_OPTIONS["noshift"] = ("query_shift", 0)


def make_sampler(
    name: str, args: argparse.Namespace, X_train: torch.Tensor, y_train: torch.Tensor, fitted: dict[str, Any]
) -> Any:
    """Fit the sampler of a row; LASIUM rows of one backend share one trained backend.

    The strategy only matters when sampling, so a LASIUM already fitted with
    the same backend is copied with another ``strategy`` instead of retrained.
    """
    if name == "supervised":
        return LabeledTaskSampler(X_train, y_train)
    if name.startswith("lasium-"):
        base, *options = name.split("+")
        _, strategy, backend = base.split("-")
        params: dict[str, Any] = {
            "backend": backend,
            "strategy": strategy.upper(),
            "max_time": args.max_time,
            "random_state": args.seed,
            "verbose": True,
        }
        unknown = set(options) - set(LASIUM_OPTIONS)
        if unknown:
            raise SystemExit(f"unknown LASIUM option(s) {sorted(unknown)} in {name!r} (bin, nobin, shift, noshift)")
        epochs = args.gan_epochs if backend == "gan" else args.epochs
        given = {"epochs": epochs, "hidden": args.hidden, "beta": args.beta, "sigma2": args.sigma2}
        given.update(alpha=args.alpha, query_shift=args.query_shift)
        params.update({key: value for key, value in given.items() if value is not None})
        params.update(LASIUM_OPTIONS[option] for option in options)
        for other in fitted.values():
            if isinstance(other, LASIUM) and other.backend == backend:
                twin = copy.copy(other)
                twin.set_params(**{k: v for k, v in params.items() if k != "verbose"})
                return twin
        cache = Path(args.cache) / f"lasium-{backend}-seed{args.seed}.pt" if args.cache else None
        if cache is not None and cache.is_file():
            las = LASIUM.load(cache)
            # sampling settings come from this run (LASIUM's current defaults + options), not from the cache
            defaults = {k: v for k, v in LASIUM().get_params().items() if k in SAMPLING_PARAMS}
            las.set_params(**{**defaults, **{k: v for k, v in params.items() if k != "verbose"}})
            return las
        las = LASIUM(**params).fit(X_train)
        if cache is not None:
            las.save(cache)
        return las
    if name == "umtra":
        return UMTRA(random_state=args.seed).fit(X_train)
    if name == "cactus":
        return CACTUs(random_state=args.seed).fit(X_train)
    if name == "cactus-ae":
        return CACTUs(embedding="ae", random_state=args.seed).fit(X_train)
    raise SystemExit(f"unknown sampler {name!r}")


PSCO_OPTIONS = {
    "nomomentum": ("momentum", 0.0),
    "nearest": ("pseudo_labels", "nearest"),
    "moco": ("pseudo_labels", "none"),
    "augintae": ("view_transform", "augintae"),  # replaced by the AugIntAE views in fitted_psco
}


def psco_options(name: str) -> dict[str, Any]:
    """PsCo parameters of a ``psco+opt+...`` row name."""
    options: dict[str, Any] = {}
    for option in name.split("+")[1:]:
        if option in PSCO_OPTIONS:
            key, value = PSCO_OPTIONS[option]
            options[key] = value
        elif re.fullmatch(r"queue\d+", option):
            options["queue_size"] = int(option[len("queue") :])
        else:
            raise SystemExit(
                f"unknown PsCo option {option!r} in {name!r} (nomomentum, nearest, moco, augintae, queueN)"
            )
    return options


def fitted_psco(
    name: str, args: argparse.Namespace, X_train: torch.Tensor, samplers: dict[str, tuple[Any, float]]
) -> tuple[Any, float]:
    """The PsCo model of row ``name`` and its fit seconds: from this process, the cache, or fitted now."""
    if name not in samplers:
        options = {"queue_size": args.psco_queue, "batch_size": args.psco_batch, **psco_options(name)}
        cache = Path(args.cache) / f"{name}-seed{args.seed}.pt" if args.cache else None
        t0 = time.perf_counter()
        if options.get("view_transform") == "augintae":
            views_model = fitted_augintae(args, X_train)
            samplers[f"{name}:views"] = (views_model, views_model.fit_time_)  # reported as the row's sampler fit
            options["view_transform"] = augintae_views(views_model)
            cache = None  # a PsCo with a view_transform cannot be saved
        if cache is not None and cache.is_file():
            model = metaaug.PsCo.load(cache)
        else:
            model = metaaug.PsCo.paper_preset(
                "omniglot", max_time=args.max_time, random_state=args.seed, verbose=True, **options
            )
            model.fit(X_train)
            if cache is not None:
                cache.parent.mkdir(parents=True, exist_ok=True)
                model.save(cache)
        samplers[name] = (model, getattr(model, "fit_time_", None) or time.perf_counter() - t0)
    return samplers[name]


def fitted_augintae(args: argparse.Namespace, X_train: torch.Tensor) -> Any:
    """An AugIntAE on the unlabeled training images (``--max-time``), cached like LASIUM backends.

    Latent size 32: the published rows were measured before AugIntAE's default became 64 on characters.
    """
    cache = Path(args.cache) / f"augintae-latent32-seed{args.seed}.pt" if args.cache else None
    if cache is not None and cache.is_file():
        return metaaug.AugIntAE.load(cache)
    model = metaaug.AugIntAE(latent_dim=32, max_time=args.max_time, random_state=args.seed, verbose=True).fit(X_train)
    if cache is not None:
        model.save(cache)
    return model


def augintae_views(model: Any) -> Any:
    """PsCo's ``view_transform``: AugIntAE's decoding halfway between two random augmentations of each image."""

    def views(images: torch.Tensor) -> torch.Tensor:
        return model.interpolate(random_augment(images), random_augment(images), [0.5])[:, 0]

    return views


def fitted_sampler(
    name: str, args: argparse.Namespace, X_train: torch.Tensor, y_train: torch.Tensor, samplers: dict
) -> tuple[Any, float]:
    """The sampler of a row part ``name`` and its fit seconds, fitted once per process."""
    if name not in samplers:
        extra = 0.0
        if name == "cactus-psco":
            psco, extra = fitted_psco("psco", args, X_train, samplers)
        t_fit = time.perf_counter()
        if name == "cactus-psco":
            sampler = CACTUs(embedding=psco, random_state=args.seed).fit(X_train)
        else:
            sampler = make_sampler(name, args, X_train, y_train, {k: v[0] for k, v in samplers.items()})
        # a LASIUM twin or a cached backend reports the training time of the backend it shares
        elapsed = getattr(sampler, "fit_time_", 0.0) or time.perf_counter() - t_fit
        samplers[name] = (sampler, elapsed + extra)
        if args.grid and hasattr(sampler, "plot_tasks"):
            sampler.plot_tasks(Path(args.grid) / f"{name}.png", random_state=args.seed)
    return samplers[name]


def config_name(ways: int, shot: int) -> str:
    return f"{ways}-way {shot}-shot"


SUMMARY = ["test tasks", "sampler fit (s)", "meta-train (s)", "iterations", "eval (s)", "threads"]


def columns(configs: list[tuple[int, int]]) -> list[str]:
    return ["method", "learner", "meta-training tasks", *(config_name(w, k) for w, k in configs), *SUMMARY]


def result_path(folder: str, row: str) -> Path:
    return Path(folder) / f"{row.replace(':', '__').replace('+', '_')}.json"


def evaluate(clf: Any, test: tuple, ways: int, shot: int, n_tasks: int, seed: int) -> tuple[float, float]:
    """Mean accuracy and CI on ``n_tasks`` test tasks; ``evaluate_pool`` embeds each test image once."""
    X_test, y_test, test_sampler = test
    if hasattr(clf, "evaluate_pool"):
        return clf.evaluate_pool(
            X_test, y_test, n_tasks=n_tasks, n_ways=ways, k_shot=shot, k_query=TEST_QUERIES, random_state=seed
        )
    return clf.evaluate(test_sampler.iter_tasks(n_tasks, ways, shot, TEST_QUERIES, random_state=seed))


def run_row(
    row: str, args: argparse.Namespace, data: tuple, test: tuple, samplers: dict[str, tuple[Any, float]]
) -> dict[str, Any]:
    """Fit (or reuse) the row's sampler, meta-train once, evaluate every test configuration; one table row."""
    X_train, y_train = data
    spec = parse_row(row)
    ways, queries = spec.ways or 5, spec.queries or args.train_queries
    n_tasks, fit_time, tasks_text = args.test_tasks, 0.0, f"{ways}-way {args.train_shot}-shot, {queries} queries"
    t0 = time.perf_counter()
    if spec.sampler == "pixel-nn":
        clf: Any = PixelNearestNeighbor().fit()
        tasks_text = "-"
    elif spec.sampler.split("+")[0] == "psco":
        clf, _ = fitted_psco(spec.sampler, args, X_train, samplers)
        fit_time = samplers.get(f"{spec.sampler}:views", (None, 0.0))[1]
        tasks_text = "PsCo pseudo-tasks"
    else:
        sampler, fit_time = fitted_sampler(spec.sampler, args, X_train, y_train, samplers)
        common = {"n_ways": ways, "k_shot": args.train_shot, "k_query": queries, "max_time": args.max_time}
        common.update(random_state=args.seed, verbose=True)
        if spec.learner == "maml":
            clf = MAMLClassifier(n_iterations=args.maml_iterations, **common)
            n_tasks = args.maml_test_tasks
        else:
            clf = ProtoNetClassifier(n_iterations=args.iterations, **common)
        t0 = time.perf_counter()
        clf.fit(sampler)
    train_time = time.perf_counter() - t0
    if tasks_text == "PsCo pseudo-tasks":  # fitted (or loaded) above: its own training time
        train_time = samplers[spec.sampler][1]
    result: dict[str, Any] = {"row": row, "method": spec.sampler, "learner": spec.learner}
    result.update({"meta-training tasks": tasks_text, "configs": {}})
    eval_total = 0.0
    for w, k in args.configs:
        name = config_name(w, k)
        if spec.learner == "maml" and w > ways:  # MAML's head has `ways` outputs
            result[name] = f"- ({ways}-way head)"
            continue
        t_eval = time.perf_counter()
        mean, ci = evaluate(clf, test, w, k, n_tasks, args.seed)
        seconds = time.perf_counter() - t_eval
        eval_total += seconds
        result[name] = format_accuracy(mean, ci)
        result["configs"][name] = {"mean": mean, "ci95": ci, "accuracy (%)": result[name], "eval (s)": seconds}
    return {
        **result,
        "test tasks": n_tasks,
        "sampler fit (s)": f"{fit_time:.0f}",
        "meta-train (s)": f"{train_time:.0f}",
        "iterations": getattr(clf, "n_iter_", "-"),
        "eval (s)": f"{eval_total:.0f}",
        "threads": torch.get_num_threads(),
        "settings": sampler_settings(samplers, spec.sampler),
        "command": command_line(),
        "hardware": hardware_summary(),
    }


def sampler_settings(samplers: dict[str, tuple[Any, float]], name: str) -> dict[str, Any]:
    """The sampler's (or PsCo's) constructor parameters that shape its tasks (for the JSON record)."""
    sampler = samplers.get(name, (None, 0.0))[0]
    if not hasattr(sampler, "get_params"):
        return {}
    return {
        k: v
        for k, v in sampler.get_params().items()
        if isinstance(v, (int, float, str, bool, type(None))) and k not in ("verbose", "device")
    }


def not_run(row: str, cols: list[str]) -> dict[str, Any]:
    spec = parse_row(row)
    return {"method": spec.sampler, "learner": spec.learner, **{c: "-" for c in cols[2:]}, cols[3]: "not run (budget)"}


def docs_body(args: argparse.Namespace, results: list[dict[str, Any]], table: str, wall: float) -> str:
    if not args.assemble:
        return (
            f"## {TITLE}\n\nCommand: `{command_line()}`\n\n"
            f"Hardware: {hardware_summary()}\n\nWall time: {wall:.0f} s\n\n{table}"
        )
    commands = "\n".join(f"- `{c}`" for c in sorted({r["command"] for r in results if "command" in r}))
    hardware = "; ".join(sorted({r["hardware"] for r in results if "hardware" in r}))
    stages = ("sampler fit (s)", "meta-train (s)", "eval (s)")
    run_wall = sum(float(r[c]) for r in results if "command" in r for c in stages)
    return (
        f"## {TITLE}\n\nAssembled by `{command_line()}` from one result per row; the rows were run one process "
        f"at a time with:\n\n{commands}\n\nHardware: {hardware}\n\nWall time (sum of the rows' fit, meta-train "
        f"and eval): {run_wall:.0f} s\n\n" + (f"{args.note}\n\n" if args.note else "") + table
    )


def main() -> None:
    args = parse_args()
    torch.set_num_threads(env_threads(2))
    start_all = time.perf_counter()
    cols = columns(args.configs)
    results = []
    if not args.assemble:
        (X_train, y_train), (X_test, y_test) = load_dev_split(args.data_root)
        test = (X_test, y_test, LabeledTaskSampler(X_test, y_test))
        samplers: dict[str, tuple[Any, float]] = {}
    for row in args.rows:
        saved = result_path(args.results, row) if args.results else None
        if saved is not None and saved.is_file():
            result = json.loads(saved.read_text())
        elif args.assemble and args.skip_missing:
            continue
        elif args.assemble:
            result = not_run(row, cols)
        else:
            result = run_row(row, args, (X_train, y_train), test, samplers)
            if saved is not None:
                saved.parent.mkdir(parents=True, exist_ok=True)
                saved.write_text(json.dumps(result, indent=1))
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k in cols}), flush=True)
    wall = time.perf_counter() - start_all
    table = markdown_table(results, cols)
    print(table)
    print(f"wall time {wall:.0f} s on {hardware_summary()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command_line(), "wall_s": wall, "rows": results}, indent=1))
    if args.update_docs:
        if args.note_file is not None:
            args.note = args.note_file.read_text().strip()
        update_benchmarks_doc(args.section, docs_body(args, results, table, wall))


if __name__ == "__main__":
    main()
