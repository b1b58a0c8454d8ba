"""Supervised baselines on the Omniglot dev split (the foundation table).

Rows: pixel nearest neighbour, training from scratch, supervised ProtoNets and
supervised MAML; 5-way 1-shot and 5-shot, 15 queries, fixed seed. Train on
the 6 training alphabets, test on Korean + Tagalog (../shared/data).

Every (row, shots) cell runs on its own and caches its result (accuracy,
command, threads, wall time) to ``benchmarks/results/omniglot_baselines/``, so
the table can be built from several short runs; each run then rewrites the
"omniglot-baselines" section of docs/benchmarks.md from all cached cells.

    python -m benchmarks.tables.omniglot_baselines --rows pixel scratch --shots 1 5
    python -m benchmarks.tables.omniglot_baselines --rows protonet --shots 1
    python -m benchmarks.tables.omniglot_baselines --rows maml --shots 1 --maml-first-order
    python -m benchmarks.tables.omniglot_baselines --rows            # only rebuild the table from the cache
    python -m benchmarks.tables.omniglot_baselines --quick --no-docs  # minutes, fewer tasks/iterations, no cache
"""

from __future__ import annotations

import argparse
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
from benchmarks.tables._shared import RESULTS_DIR, env_threads
from metaaug.data import LabeledTaskSampler, Task
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier

ROWS = ("pixel", "scratch", "protonet", "maml")
RESULTS = RESULTS_DIR / "omniglot_baselines"


def run_cell(
    row: str, shots: int, args: argparse.Namespace, train: LabeledTaskSampler, tasks: list[Task]
) -> dict[str, Any]:
    """Fit (if the row learns) and evaluate one row at one shot count."""
    slow = row in ("scratch", "maml")
    test_tasks = tasks[: args.slow_test_tasks] if slow else tasks
    fit_s = 0.0
    if row == "pixel":
        label, model = "pixel nearest neighbour", PixelNearestNeighbor().fit()
    elif row == "scratch":
        label = "training from scratch (conv4, 50 SGD steps on the support set)"
        model = ScratchClassifier(random_state=args.seed).fit()
    else:
        if row == "protonet":
            model = ProtoNetClassifier(
                k_shot=shots,
                k_query=15,  # the published rows were measured with 15 queries per class in meta-training
                n_iterations=args.protonet_iterations,
                max_time=args.protonet_max_time,
                random_state=args.seed,
            )
        else:
            model = MAMLClassifier(
                k_shot=shots,
                k_query=15,  # as the published rows
                n_iterations=args.maml_iterations,
                max_time=args.maml_max_time,
                first_order=args.maml_first_order,
                random_state=args.seed,
            )
        saved = Path(args.models_dir) / f"omniglot_{row}_{shots}shot.pt" if args.models_dir else None
        if args.resume or args.eval_only:
            if saved is None or not saved.exists():
                raise SystemExit(
                    f"--resume/--eval-only need the model saved by an earlier run: {saved} (see --models-dir)"
                )
            model = type(model).load(saved).set_params(**{**model.get_params(), "warm_start": True})
        if not args.eval_only:
            model.fit(train)
        fit_s = model.fit_time_  # over all --resume'd runs
        done = model.n_iter_
        if row == "protonet":
            label = f"supervised ProtoNets ({done} it.)"
        else:
            order = "first-order" if args.maml_first_order else "second-order"
            label = f"supervised MAML ({order}, {done} it.)"
        if saved is not None and not args.eval_only:
            saved.parent.mkdir(parents=True, exist_ok=True)
            model.save(saved)
    t = time.perf_counter()
    mean, ci95 = model.evaluate(test_tasks)
    eval_s = time.perf_counter() - t
    command = command_line()
    earlier = RESULTS / f"{row}_{shots}shot.json"
    if (args.resume or args.eval_only) and earlier.exists():
        command = json.loads(earlier.read_text())["command"] + "` then `" + command
    return {
        "row": row,
        "method": label,
        "shots": shots,
        "mean": mean,
        "ci95": ci95,
        "test_tasks": len(test_tasks),
        "train_s": fit_s,
        "eval_s": eval_s,
        "seed": args.seed,
        "threads": torch.get_num_threads(),
        "command": command,
        "hardware": hardware_summary(),
    }


def cached_cells() -> list[dict[str, Any]]:
    """Every cached cell, in table order (row, then shots)."""
    cells = [json.loads(p.read_text()) for p in RESULTS.glob("*.json")] if RESULTS.exists() else []
    return sorted(cells, key=lambda c: (ROWS.index(c["row"]), c["shots"]))


def table_body(cells: list[dict[str, Any]]) -> str:
    rows = [
        {
            "method": c["method"],
            "shots": c["shots"],
            "accuracy (%)": format_accuracy(c["mean"], c["ci95"]),
            "test tasks": c["test_tasks"],
            "train (s)": f"{c['train_s']:.0f}",
            "eval (s)": f"{c['eval_s']:.0f}",
            "threads": c["threads"],
        }
        for c in cells
    ]
    commands = "\n".join(
        f"- {c['method']}, {c['shots']}-shot: `{c['command']}` ({c['threads']} thread(s), "
        f"{c['train_s'] + c['eval_s']:.0f} s)"
        for c in cells
    )
    hardware = sorted({c["hardware"] for c in cells})
    return (
        "## Supervised baselines on the Omniglot dev split\n\n"
        "5-way, 15 queries per class, train alphabets: Balinese, Early_Aramaic, Greek, Latin, "
        "Japanese_(katakana), Sanskrit; test: Korean, Tagalog (disjoint). Accuracy: mean ± 95% CI "
        "(1.96 std / sqrt(n)) over test tasks drawn with a fixed seed. The rows that fine-tune 50 SGD steps "
        "per task (scratch, MAML) are evaluated on the first tasks of the same list only, because of "
        "their CPU cost (see the 'test tasks' column). Each cell was produced by its own run, cached in "
        "`benchmarks/results/omniglot_baselines/`; learned rows name their meta-training iterations, and "
        "'train (s)' sums all the runs of a row (`--resume` continues from the saved model). The 2 cores were "
        "shared with other jobs, so per-iteration times varied up to 3x between runs:\n\n"
        + markdown_table(rows)
        + "\nCommands (threads, train + eval wall time):\n\n"
        + commands
        + "\n\n"
        + "Hardware: "
        + "; ".join(hardware)
        + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="Omniglot folder (default: ../shared/data/omniglot)")
    parser.add_argument(
        "--rows",
        nargs="*",
        choices=ROWS,
        default=list(ROWS),
        help="rows to run now (none: only rebuild the table from the cache)",
    )
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--test-tasks", type=int, default=1000)
    parser.add_argument(
        "--slow-test-tasks",
        type=int,
        default=200,
        help="test tasks for the rows that fine-tune per task (scratch, MAML)",
    )
    parser.add_argument("--protonet-iterations", type=int, default=2000)
    parser.add_argument("--protonet-max-time", type=float, default=None, help="seconds of meta-training at most")
    parser.add_argument("--maml-iterations", type=int, default=1000)
    parser.add_argument("--maml-max-time", type=float, default=None, help="seconds of meta-training at most")
    parser.add_argument("--maml-first-order", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=env_threads(2))
    parser.add_argument("--models-dir", default=None, help="save the meta-trained models here")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue meta-training the models saved in --models-dir (warm_start) for the "
        "given iterations / max time, then evaluate; train time and iterations accumulate",
    )
    parser.add_argument(
        "--eval-only",
        action="store_true",
        help="evaluate the models saved in --models-dir without training them further",
    )
    parser.add_argument("--quick", action="store_true", help="100 test tasks, 300/100 iterations; implies --no-docs")
    parser.add_argument(
        "--no-docs", action="store_true", help="print only; neither cache the cells nor touch docs/benchmarks.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        args.test_tasks, args.slow_test_tasks = 100, 50
        args.protonet_iterations, args.maml_iterations = 300, 100
        args.no_docs = True

    if args.rows:
        (Xtr, ytr), (Xte, yte) = load_dev_split(args.data)
        train, test = LabeledTaskSampler(Xtr, ytr), LabeledTaskSampler(Xte, yte)
    for shots in args.shots if args.rows else []:
        tasks = test.sample_tasks(args.test_tasks, 5, shots, 15, random_state=args.seed)
        for row in args.rows:
            cell = run_cell(row, shots, args, train, tasks)
            print(
                f"{cell['method']}, {shots}-shot: {format_accuracy(cell['mean'], cell['ci95'])} "
                f"({cell['test_tasks']} tasks, train {cell['train_s']:.0f} s, eval {cell['eval_s']:.0f} s, "
                f"{cell['threads']} threads)",
                flush=True,
            )
            if not args.no_docs:
                RESULTS.mkdir(parents=True, exist_ok=True)
                (RESULTS / f"{row}_{shots}shot.json").write_text(json.dumps(cell, indent=1) + "\n")
    if args.no_docs:
        return
    body = table_body(cached_cells())
    print(body)
    update_benchmarks_doc("omniglot-baselines", body)


if __name__ == "__main__":
    main()
