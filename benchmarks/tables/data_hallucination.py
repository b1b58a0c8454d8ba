"""Data hallucination on novel alphabets (the AugIntAE paper's Table 3 kind, on Omniglot).

A conv classifier (:class:`metaaug.nets.Conv4Classifier`) learns the 57
Korean + Tagalog characters from ``--n-labeled`` drawings each and is tested on
the other drawings. It is trained with no augmentation, with pixel mixup, and
with AE or AugIntAE hallucination: half of every batch is generated from
same-class seed pairs (alpha = 0.5, as in the paper), labels preserved. Both
autoencoders were trained unlabeled on the six *training* alphabets only
(``benchmarks/tables/autoencoder_generalisation.py``, loaded from its cache).

Every seed draws its own labeled split, classifier initialisation, batches and
generated pools; all rows share the splits (seed ``i`` of every row uses split
``i``), so the script also reports paired differences against "none".

Protocol: :func:`metaaug.metrics.downstream.downstream_accuracy` (every row
gets the same number of steps of the same batch size).

    python -m benchmarks.tables.data_hallucination --models-dir /tmp/metaaug_models --update-docs
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
from benchmarks._harness.reporting import (
    command_line,
    format_accuracy,
    hardware_summary,
    markdown_table,
    publish_section,
)
from benchmarks.tables._shared import add_model_arguments, env_threads, load_or_fit_models
from metaaug import PixelMixup
from metaaug.fewshot import mean_ci95
from metaaug.metrics import downstream_accuracy, labeled_split

ROWS = ("none", "mixup", "ae", "augintae")
ROW_NAMES = {"none": "no augmentation", "mixup": "PixelMixup", "ae": "AE", "augintae": "AugIntAE"}


def make_augmenter(row: str, models: dict[str, Any]) -> Any:
    if row == "none":
        return None
    if row == "mixup":
        return PixelMixup()
    return models["AE" if row == "ae" else "AugIntAE"]


def run_row(row: str, augmenter: Any, X: torch.Tensor, y: torch.Tensor, args: argparse.Namespace) -> dict:
    """Accuracy per seed (seed i: labeled split i, training run i) and timing."""
    start = time.perf_counter()
    per_seed = []
    for seed in range(args.seeds):
        X_train, y_train, X_test, y_test = labeled_split(X, y, args.n_labeled, random_state=1000 + seed)
        result = downstream_accuracy(
            augmenter,
            X_train,
            y_train,
            X_test,
            y_test,
            n_seeds=1,
            ratio=args.ratio,
            epochs=args.clf_epochs,
            batch_size=args.batch_size,
            hidden=args.hidden,
            generate_kwargs={"alpha": args.alpha},
            random_state=seed,
        )
        per_seed.append(result["per_seed"][0])
        print(f"{row} seed {seed}: {100 * per_seed[-1]:.2f}", flush=True)
    return {"row": row, "per_seed": per_seed, "seconds": time.perf_counter() - start}


def settings_key(args: argparse.Namespace) -> str:
    return (
        f"n{args.n_labeled}_s{args.seeds}_e{args.clf_epochs}_b{args.batch_size}_h{args.hidden}"
        f"_r{args.ratio}_a{args.alpha}_m{args.model_epochs}w{args.width}"
    )


def table(results: dict) -> tuple[str, list[str]]:
    rows, notes = [], []
    baseline = results.get("none")
    for row in ROWS:
        if row not in results:
            continue
        values = results[row]["per_seed"]
        mean, ci = mean_ci95(values)
        entry = {
            "augmentation": ROW_NAMES[row],
            "accuracy % (95% CI)": format_accuracy(mean, ci),
            "seeds": len(values),
            "run s": f"{results[row]['seconds']:.0f}",
        }
        if baseline is not None and row != "none" and len(baseline["per_seed"]) == len(values):
            diff_mean, diff_ci = mean_ci95(np.subtract(values, baseline["per_seed"]))
            entry["paired gain vs none (pts)"] = f"{100 * diff_mean:+.2f} ± {100 * diff_ci:.2f}"
        else:
            entry["paired gain vs none (pts)"] = ""
        rows.append(entry)
    return markdown_table(rows), notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default=",".join(ROWS))
    add_model_arguments(parser, epochs_flag="--model-epochs")
    parser.add_argument("--n-labeled", type=int, default=5, help="labeled drawings per character")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--clf-epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--ratio", type=float, default=0.5)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument(
        "--results", type=Path, default=None, help="JSON of stored rows (default: <models-dir>/hallucination.json)"
    )
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument("--threads", type=int, default=env_threads(1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results_path = args.results or args.models_dir / "hallucination.json"
    stored = json.loads(results_path.read_text()) if results_path.is_file() else {}
    key = settings_key(args)
    results = stored.setdefault(key, {"rows": {}, "commands": []})

    (X_train, _), (X_novel, y_novel) = load_dev_split()
    rows = [r for r in args.rows.split(",") if r]
    unknown = set(rows) - set(ROWS)
    if unknown:
        raise SystemExit(f"unknown rows {sorted(unknown)}; choose from {ROWS}")
    needed = sorted({"AE" if r == "ae" else "AugIntAE" for r in rows if r in ("ae", "augintae")})
    models, _ = load_or_fit_models(needed, X_train, args.model_epochs, args.width, args.models_dir)
    for model in models.values():
        model.set_params(verbose=False)
    for row in rows:
        results["rows"][row] = run_row(row, make_augmenter(row, models), X_novel, y_novel, args)
    if rows:  # an empty --rows only rebuilds the table from the stored rows
        results["commands"].append({"command": command_line(), "hardware": hardware_summary(), "rows": rows})
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(stored, indent=1))

    body_table, _ = table(results["rows"])
    body = "\n".join(
        [
            "## AE / AugIntAE: data hallucination on novel alphabets",
            "",
            "Commands (each stores its rows in a JSON; the table is rebuilt from all of them):",
            "",
            *[f"* `{c['command']}` (rows {', '.join(c['rows'])}; {c['hardware']})" for c in results["commands"]],
            "",
            f"Korean + Tagalog (57 characters): {args.n_labeled} labeled drawings per character for training, "
            f"the other {20 - args.n_labeled} for testing. Conv4 classifier (width {args.hidden}), Adam 1e-3, "
            f"{args.clf_epochs} epochs of batch {args.batch_size}; with an augmenter {args.ratio:.0%} of every batch "
            f"is generated from same-class seed pairs (alpha = {args.alpha}), labels kept, pool redrawn every epoch. "
            f"{args.seeds} seeds, each its own labeled split (shared by all rows); mean with 95% CI "
            "(1.96 std / sqrt(n)); the paired gain is the per-seed difference with the no-augmentation row. "
            f"AE and AugIntAE: default estimators ({args.model_epochs} epochs, width {args.width}) fitted unlabeled "
            "on the six training alphabets. Wall time per row in the table (1 thread).",
            "",
            body_table,
        ]
    )
    publish_section("autoencoders-hallucination", body, write=args.update_docs)


if __name__ == "__main__":
    main()
