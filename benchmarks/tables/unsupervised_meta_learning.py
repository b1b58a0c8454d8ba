"""Unsupervised meta-learning on the Omniglot dev split: LASIUM, UMTRA, CACTUs.

Meta-trains ProtoNets (and optionally MAML) on tasks built from the
*unlabeled* training alphabets, then evaluates on labeled 5-way tasks of the
held-out alphabets (Korean + Tagalog), next to baselines that use no
meta-training (pixel nearest neighbour) and a supervised ProtoNet (labels of
the training alphabets: an upper reference, not an unsupervised method).

Rows are ``<sampler>:<learner>``; samplers: lasium-{n,ro,oc}-{vae,gan,ae,intae,augintae}, umtra,
cactus, cactus-ae, supervised, pixel-nn; learners: proto, maml. LASIUM names
take options after ``+``: ``bin`` / ``nobin`` (binarize decoded images) and
``shift`` / ``noshift`` (query shifts of up to 5 px, the default, or none), e.g. ``lasium-ro-vae+bin+shift``.

Examples::

    python -m benchmarks.tables.unsupervised_meta_learning --quick
    python -m benchmarks.tables.unsupervised_meta_learning --rows lasium-n-vae:proto,umtra:proto --shots 1,5
    python -m benchmarks.tables.unsupervised_meta_learning --update-docs      # full default table

On a shared CPU, run rows one process at a time and assemble the table from
the saved results: ``--cache DIR`` keeps fitted LASIUM backends, ``--results
DIR`` writes one JSON per row and shot (and skips rows already there), and
``--assemble`` only builds the table from ``DIR`` (requested rows without a
result are listed as "not run (budget)")::

    python -m benchmarks.tables.unsupervised_meta_learning --rows umtra:proto --cache /tmp/m --results /tmp/uml
    python -m benchmarks.tables.unsupervised_meta_learning --results /tmp/uml --assemble --update-docs

Threads: ``METAAUG_THREADS`` (default 2).
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch

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
from metaaug.data import LabeledTaskSampler
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier
from metaaug.samplers.lasium import SAMPLING_PARAMS  # a cached backend is reused whatever their values

DEFAULT_ROWS = (
    "pixel-nn",
    "supervised:proto",
    "lasium-n-ae:proto",
    "lasium-n-ae+nobin:proto",
    "lasium-n-vae:proto",
    "lasium-ro-vae:proto",
    "lasium-oc-vae:proto",
    "umtra:proto",
    "cactus:proto",
    "lasium-n-gan:proto",
    "lasium-ro-gan:proto",
    "lasium-oc-gan:proto",
    "lasium-n-ae:maml",
    "lasium-n-vae:maml",
    "lasium-ro-gan:maml",
    "umtra:maml",
)
QUICK_ROWS = ("pixel-nn", "lasium-n-ae:proto", "umtra:proto", "cactus:proto")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default=None, help="comma-separated rows (default: all; --quick: a small set)")
    p.add_argument("--shots", default="1", help="comma-separated k_shot values for training and test, e.g. 1,5")
    p.add_argument("--quick", action="store_true", help="tiny budgets for a smoke run (about a minute a row)")
    p.add_argument("--epochs", type=int, default=None, help="VAE / autoencoder epochs (default: LASIUM's)")
    p.add_argument("--gan-epochs", type=int, default=None, help="GAN epochs (default: LASIUM's)")
    p.add_argument("--hidden", type=int, default=None, help="filters of the LASIUM backends (default: LASIUM's)")
    p.add_argument("--beta", type=float, default=None, help="VAE KL weight (default: LASIUM's)")
    p.add_argument("--sigma2", type=float, default=None)
    p.add_argument("--alpha", type=float, default=None)
    p.add_argument("--query-shift", type=int, default=None)
    p.add_argument("--iterations", type=int, default=2000, help="ProtoNet meta-training iterations")
    p.add_argument("--maml-iterations", type=int, default=500, help="MAML meta-training iterations")
    p.add_argument("--train-queries", type=int, default=5, help="queries per class in meta-training tasks")
    p.add_argument("--test-tasks", type=int, default=1000, help="test tasks for ProtoNets and baselines")
    p.add_argument("--maml-test-tasks", type=int, default=200, help="test tasks for MAML rows (50 steps each)")
    p.add_argument("--max-time", type=float, default=None, help="per-stage time cap in seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-root", default=None, help="Omniglot folder (default: ../shared/data/omniglot)")
    p.add_argument("--grid", default=None, help="save a PNG grid of each sampler's tasks into this folder")
    p.add_argument(
        "--cache",
        default=None,
        help="folder to save fitted LASIUM backends to and reuse them from "
        "(the backend's settings are not checked: empty it after changing them)",
    )
    p.add_argument("--json", default=None, help="also write the rows as JSON to this file")
    p.add_argument(
        "--results",
        default=None,
        help="folder of per-row JSON results: written after each row, rows already there are not rerun",
    )
    p.add_argument("--assemble", action="store_true", help="build the table from --results only (no training)")
    p.add_argument(
        "--skip-missing",
        action="store_true",
        help="with --assemble: leave out requested rows without a result (else 'not run (budget)')",
    )
    p.add_argument("--note", default="", help="a paragraph written above the table (budgets, settings)")
    p.add_argument(
        "--note-file", type=Path, default=None, help="read that paragraph from a file (keeps the quoted command short)"
    )
    p.add_argument("--update-docs", action="store_true", help="write the table into docs/benchmarks.md")
    p.add_argument("--section", default="unsupervised-meta-learning", help="docs/benchmarks.md section name")
    args = p.parse_args()
    if args.quick:
        args.epochs = args.epochs or 3
        args.gan_epochs = args.gan_epochs or 2
        args.iterations = min(args.iterations, 150)
        args.maml_iterations = min(args.maml_iterations, 30)
        args.test_tasks = min(args.test_tasks, 200)
        args.maml_test_tasks = min(args.maml_test_tasks, 30)
    rows = args.rows.split(",") if args.rows else list(QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.rows = [r.strip() for r in rows if r.strip()]
    args.shots = [int(s) for s in args.shots.split(",")]
    return args


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
        unknown = set(options) - {"bin", "shift", "nobin", "noshift"}
        if unknown:
            raise SystemExit(f"unknown LASIUM option(s) {sorted(unknown)} in {name!r} (bin, nobin, shift, noshift)")
        epochs = args.gan_epochs if backend == "gan" else args.epochs
        for key, value in (
            ("epochs", epochs),
            ("hidden", args.hidden),
            ("beta", args.beta),
            ("sigma2", args.sigma2),
            ("alpha", args.alpha),
            ("query_shift", args.query_shift),
        ):
            if value is not None:
                params[key] = value
        for option, (key, value) in {
            "bin": ("binarize", True),
            "nobin": ("binarize", False),
            "shift": ("query_shift", 5),
            "noshift": ("query_shift", 0),
        }.items():
            if option in options:
                params[key] = value
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


COLUMNS = [
    "method",
    "learner",
    "shot",
    "accuracy (%)",
    "test tasks",
    "sampler fit (s)",
    "meta-train (s)",
    "iterations",
    "eval (s)",
    "threads",
]


def result_path(folder: str, row: str, shot: int) -> Path:
    return Path(folder) / f"{row.replace(':', '__').replace('+', '_')}__{shot}shot.json"


def run_row(
    row: str, shot: int, args: argparse.Namespace, data: tuple, test_tasks: dict, samplers: dict[str, tuple[Any, float]]
) -> dict[str, Any]:
    """Fit (or reuse) the row's sampler, meta-train, evaluate; one table row."""
    X_train, y_train = data
    sampler_name, _, learner = row.partition(":")
    tasks = test_tasks[shot]
    fit_time = 0.0
    if sampler_name == "pixel-nn":
        clf: Any = PixelNearestNeighbor().fit()
        learner = "-"
    else:
        if sampler_name not in samplers:
            t_fit = time.perf_counter()
            sampler = make_sampler(sampler_name, args, X_train, y_train, {k: v[0] for k, v in samplers.items()})
            # a LASIUM twin or a cached backend reports the training time of the backend it shares
            elapsed = getattr(sampler, "fit_time_", 0.0) or time.perf_counter() - t_fit
            samplers[sampler_name] = (sampler, elapsed)
            if args.grid and hasattr(sampler, "plot_tasks"):
                sampler.plot_tasks(Path(args.grid) / f"{sampler_name}.png", random_state=args.seed)
        sampler, fit_time = samplers[sampler_name]
        common = dict(
            n_ways=5,
            k_shot=shot,
            k_query=args.train_queries,
            max_time=args.max_time,
            random_state=args.seed,
            verbose=True,
        )
        if learner == "maml":
            clf = MAMLClassifier(n_iterations=args.maml_iterations, **common)
            tasks = tasks[: args.maml_test_tasks]
        elif learner == "proto":
            clf = ProtoNetClassifier(n_iterations=args.iterations, **common)
        else:
            raise SystemExit(f"unknown learner {learner!r} in row {row!r}")
    t0 = time.perf_counter()
    if sampler_name != "pixel-nn":
        clf.fit(sampler)
    train_time = time.perf_counter() - t0
    t_eval = time.perf_counter()
    mean, ci = clf.evaluate(tasks)
    eval_time = time.perf_counter() - t_eval
    return {
        "row": row,
        "method": sampler_name,
        "learner": learner,
        "shot": f"5-way {shot}-shot",
        "accuracy (%)": format_accuracy(mean, ci),
        "test tasks": len(tasks),
        "sampler fit (s)": f"{fit_time:.0f}",
        "meta-train (s)": f"{train_time:.0f}",
        "iterations": getattr(clf, "n_iter_", "-"),
        "eval (s)": f"{eval_time:.0f}",
        "threads": torch.get_num_threads(),
        "mean": mean,
        "ci95": ci,
        "settings": sampler_settings(samplers, sampler_name),
        "command": command_line(),
        "hardware": hardware_summary(),
    }


def sampler_settings(samplers: dict[str, tuple[Any, float]], name: str) -> dict[str, Any]:
    """The sampler's constructor parameters that shape its tasks (for the JSON record)."""
    sampler = samplers.get(name, (None, 0.0))[0]
    if not hasattr(sampler, "get_params"):
        return {}
    return {
        k: v
        for k, v in sampler.get_params().items()
        if isinstance(v, (int, float, str, bool, type(None))) and k not in ("verbose", "device")
    }


def not_run(row: str, shot: int) -> dict[str, Any]:
    sampler_name, _, learner = row.partition(":")
    return {
        "method": sampler_name,
        "learner": learner or "-",
        "shot": f"5-way {shot}-shot",
        "accuracy (%)": "not run (budget)",
        **{c: "-" for c in COLUMNS[4:]},
    }


def main() -> None:
    args = parse_args()
    torch.set_num_threads(env_threads(2))
    start_all = time.perf_counter()
    results = []
    if not args.assemble:
        (X_train, y_train), (X_test, y_test) = load_dev_split(args.data_root)
        test_sampler = LabeledTaskSampler(X_test, y_test)
        test_tasks = {
            k: test_sampler.sample_tasks(args.test_tasks, 5, k, 15, random_state=args.seed) for k in args.shots
        }
        samplers: dict[str, tuple[Any, float]] = {}
    for row in args.rows:
        for shot in args.shots:
            saved = result_path(args.results, row, shot) if args.results else None
            if saved is not None and saved.is_file():
                result = json.loads(saved.read_text())
            elif args.assemble and args.skip_missing:
                continue
            elif args.assemble:
                result = not_run(row, shot)
            else:
                result = run_row(row, shot, args, (X_train, y_train), test_tasks, samplers)
                if saved is not None:
                    saved.parent.mkdir(parents=True, exist_ok=True)
                    saved.write_text(json.dumps(result, indent=1))
            results.append(result)
            print(json.dumps({k: v for k, v in result.items() if k in COLUMNS}), flush=True)
    wall = time.perf_counter() - start_all
    table = markdown_table(results, COLUMNS)
    print(table)
    print(f"wall time {wall:.0f} s on {hardware_summary()}")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command_line(), "wall_s": wall, "rows": results}, indent=1))
    if args.update_docs:
        if args.note_file is not None:
            args.note = args.note_file.read_text().strip()
        if args.assemble:
            commands = sorted({r["command"] for r in results if "command" in r})
            hardware = sorted({r["hardware"] for r in results if "hardware" in r})
            run_wall = sum(
                float(r[c])
                for r in results
                if "command" in r
                for c in ("sampler fit (s)", "meta-train (s)", "eval (s)")
            )
            body = (
                "## Unsupervised meta-learning (Omniglot dev split)\n\n"
                f"Assembled by `{command_line()}` from one result per row; the rows were run "
                "one process at a time with:\n\n"
                + "\n".join(f"- `{c}`" for c in commands)
                + "\n\nHardware: "
                + "; ".join(hardware)
                + f"\n\nWall time (sum of the rows' fit, meta-train and eval): {run_wall:.0f} s\n\n"
                + (f"{args.note}\n\n" if args.note else "")
                + table
            )
        else:
            body = (
                f"## Unsupervised meta-learning (Omniglot dev split)\n\nCommand: `{command_line()}`\n\n"
                f"Hardware: {hardware_summary()}\n\nWall time: {wall:.0f} s\n\n{table}"
            )
        update_benchmarks_doc(args.section, body)


if __name__ == "__main__":
    main()
