"""Short tuning runs of LASIUM's sampling settings on the Omniglot dev split.

Fits (or loads) one LASIUM backend with its defaults, then meta-trains a
short ProtoNet (5-way 1-shot, 5 training queries) on tasks from each sampling
configuration and evaluates it on 300 5-way 1-shot 15-query tasks of the
held-out alphabets. One JSON line per configuration is appended to ``--out``.
Sampling settings do not need a refit, so one backend serves every row.

    python -m benchmarks.tables.tune_lasium vae 500 '{"sigma2": 0.1}' '{"sigma2": 0.03, "query_shift": 0}'
    python -m benchmarks.tables.tune_lasium umtra 500 '{}'
    python -m benchmarks.tables.tune_lasium ae 500 '{"sigma2": 0.003}'   # a cached metaaug.AE as the latent space

The autoencoder backends (``ae``, ``intae``, ``augintae``) load the models
cached by ``benchmarks/tables/autoencoder_generalisation.py`` (``--ae-dir``, default
``/tmp/metaaug_models``, 20 epochs, width 32); other ``--ae-epochs`` /
``--ae-width`` are fitted and cached there.

Threads: ``METAAUG_THREADS`` (default 1). Backends are cached under
``--cache`` (default ``/tmp/metaaug_models/uml``, the cache of
``benchmarks/tables/unsupervised_meta_learning.py``).
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
from benchmarks.tables._shared import RESULTS_DIR, env_threads, model_path
from metaaug import AE, LASIUM, UMTRA, AugIntAE, IntAE
from metaaug.data import LabeledTaskSampler
from metaaug.fewshot import ProtoNetClassifier
from metaaug.samplers.lasium import SAMPLING_PARAMS

AUTOENCODERS = {"ae": AE, "intae": IntAE, "augintae": AugIntAE}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("backend", choices=["vae", "gan", "umtra", *AUTOENCODERS])
    p.add_argument("iterations", type=int, help="ProtoNet meta-training iterations per configuration")
    p.add_argument("configs", nargs="+", help="JSON dicts of LASIUM (or UMTRA) parameters, one per row")
    p.add_argument("--out", default=str(RESULTS_DIR / "lasium_tuning.jsonl"))
    p.add_argument("--cache", default="/tmp/metaaug_models/uml")
    p.add_argument("--test-tasks", type=int, default=300)
    p.add_argument("--ae-dir", default="/tmp/metaaug_models")
    p.add_argument("--ae-epochs", type=int, default=20, help="epochs of the autoencoder backend")
    p.add_argument("--ae-width", type=int, default=32, help="width of the autoencoder backend")
    args = p.parse_args()
    torch.set_num_threads(env_threads(1))
    (X_train, _), (X_test, y_test) = load_dev_split()
    test = LabeledTaskSampler(X_test, y_test).sample_tasks(args.test_tasks, 5, 1, 15, random_state=0)
    cache = Path(args.cache) / f"lasium-{args.backend}-seed0.pt"
    base: Any
    if args.backend == "umtra":
        base = UMTRA(random_state=0).fit(X_train)
    elif args.backend in AUTOENCODERS:
        model_class = AUTOENCODERS[args.backend]
        path = model_path(Path(args.ae_dir), model_class.__name__, args.ae_epochs, args.ae_width)
        if path.is_file():
            autoencoder = model_class.load(path)
        else:
            autoencoder = model_class(epochs=args.ae_epochs, hidden=args.ae_width, random_state=0).fit(X_train)
            autoencoder.save(path)
        base = LASIUM(backend=autoencoder, random_state=0).fit(X_train)
    elif cache.is_file():
        base = LASIUM.load(cache)
        # rows differ from LASIUM's current defaults only by their own params, not by the cache's
        base.set_params(**{k: v for k, v in LASIUM().get_params().items() if k in SAMPLING_PARAMS})
    else:
        base = LASIUM(backend=args.backend, random_state=0).fit(X_train)
        base.save(cache)
    for config in args.configs:
        params = json.loads(config)
        sampler = copy.copy(base)
        if params:
            sampler.set_params(**params)
        start = time.perf_counter()
        clf = ProtoNetClassifier(
            n_ways=5, k_shot=1, k_query=5, n_iterations=args.iterations, verbose=False, random_state=0
        ).fit(sampler)
        train_s = time.perf_counter() - start
        mean, ci = clf.evaluate(test)
        row = {
            "backend": args.backend,
            "params": params,
            "iterations": args.iterations,
            "accuracy": mean,
            "ci95": ci,
            "meta_train_s": train_s,
            "threads": torch.get_num_threads(),
        }
        print(json.dumps(row), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
