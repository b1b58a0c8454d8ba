"""Supervised baselines on the Omniglot dev split (the foundation table).

Rows: pixel nearest neighbour, training from scratch, supervised ProtoNets and
supervised MAML; 5-way 1-shot and 5-shot, 15 queries, fixed seed. Train on
the 6 training alphabets, test on Korean + Tagalog (../shared/data).

    python examples/omniglot_baselines.py                 # the full table
    python examples/omniglot_baselines.py --quick         # minutes, fewer tasks/iterations

Writes the "omniglot-baselines" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import time

import torch

from metaaug.data import LabeledTaskSampler, load_dev_split
from metaaug.fewshot import MAMLClassifier, PixelNearestNeighbor, ProtoNetClassifier, ScratchClassifier
from metaaug.reporting import command_line, format_accuracy, hardware_summary, markdown_table, update_benchmarks_doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="Omniglot folder (default: ../shared/data/omniglot)")
    parser.add_argument("--test-tasks", type=int, default=1000)
    parser.add_argument("--slow-test-tasks", type=int, default=200,
                        help="test tasks for the rows that fine-tune per task (scratch, MAML)")
    parser.add_argument("--protonet-iterations", type=int, default=2000)
    parser.add_argument("--maml-iterations", type=int, default=1000)
    parser.add_argument("--maml-first-order", action="store_true")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100 test tasks, 300/100 iterations")
    parser.add_argument("--no-docs", action="store_true", help="print only; do not touch docs/benchmarks.md")
    args = parser.parse_args()
    if args.quick:
        args.test_tasks, args.slow_test_tasks = 100, 50
        args.protonet_iterations, args.maml_iterations = 300, 100

    start = time.perf_counter()
    (Xtr, ytr), (Xte, yte) = load_dev_split(args.data)
    train, test = LabeledTaskSampler(Xtr, ytr), LabeledTaskSampler(Xte, yte)
    rows = []
    for shots in args.shots:
        tasks = test.sample_tasks(args.test_tasks, 5, shots, 15, random_state=args.seed)
        slow_tasks = tasks[:args.slow_test_tasks]

        def record(name: str, n_tasks: int, fit_s: float, result: tuple[float, float], eval_s: float) -> None:
            rows.append({"method": name, "shots": shots, "accuracy (%)": format_accuracy(*result),
                         "test tasks": n_tasks, "train (s)": f"{fit_s:.0f}", "eval (s)": f"{eval_s:.0f}"})
            print(rows[-1], flush=True)

        t = time.perf_counter()
        record("pixel nearest neighbour", len(tasks), 0, PixelNearestNeighbor().fit().evaluate(tasks),
               time.perf_counter() - t)
        t = time.perf_counter()
        record("training from scratch", len(slow_tasks), 0,
               ScratchClassifier(random_state=args.seed).fit().evaluate(slow_tasks), time.perf_counter() - t)
        t = time.perf_counter()
        proto = ProtoNetClassifier(k_shot=shots, n_iterations=args.protonet_iterations,
                                   random_state=args.seed).fit(train)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        record(f"supervised ProtoNets ({args.protonet_iterations} it.)", len(tasks), fit_s, proto.evaluate(tasks),
               time.perf_counter() - t)
        t = time.perf_counter()
        maml = MAMLClassifier(k_shot=shots, n_iterations=args.maml_iterations, first_order=args.maml_first_order,
                              random_state=args.seed).fit(train)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        order = "first-order" if args.maml_first_order else "second-order"
        record(f"supervised MAML ({order}, {args.maml_iterations} it.)", len(slow_tasks), fit_s,
               maml.evaluate(slow_tasks), time.perf_counter() - t)

    wall = time.perf_counter() - start
    body = (
        "## Supervised baselines on the Omniglot dev split\n\n"
        "5-way, 15 queries per class, train alphabets: Balinese, Early_Aramaic, Greek, Latin, "
        "Japanese_(katakana), Sanskrit; test: Korean, Tagalog. Accuracy: mean ± 95% CI over test tasks.\n\n"
        + markdown_table(rows)
        + f"\nCommand: `{command_line()}`  \nHardware: {hardware_summary()}  \n"
        f"Wall time: {wall / 60:.1f} min\n"
    )
    print(body)
    if not args.no_docs:
        update_benchmarks_doc("omniglot-baselines", body)


if __name__ == "__main__":
    torch.set_num_threads(min(2, torch.get_num_threads()))
    main()
