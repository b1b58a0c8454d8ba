"""Meta-FAVAE speed: adapting to one novel class (K = 10) + generating 100 images, and outer-step cost.

Times, on the Omniglot dev split at 28x28,

* ``adapt``: ``generate(seeds, 100)`` from 4 seeds of a novel Korean/Tagalog
  character with an empty cache (adaptation with K = 10 inner iterations +
  sampling), over ``--classes`` classes, after one warm-up class;
* ``fit``: seconds per outer (Reptile) iteration of ``fit`` with the default
  settings, wall and process CPU time, over ``--fit-iterations`` iterations.

Threads: ``--threads`` (default: ``$METAAUG_THREADS``, else torch's setting).
Uses the model saved at ``--model`` when it exists (weights do not change the
cost), else one fitted for 1 iteration::

    python -m benchmarks.speed.metafavae
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._harness.dev_split import load_dev_split
from benchmarks.tables._shared import env_threads
from metaaug import MetaFAVAE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=env_threads(0) or None)
    parser.add_argument(
        "--model", type=Path, default=Path("/tmp/metaaug_models/metafavae_favae_it2000_t540_rec10_ms0.03_rs0.pt")
    )
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--fit-iterations", type=int, default=20, help="0 skips the fit timing")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    (X_train, y_train), (X_test, y_test) = load_dev_split()
    if args.model.is_file():
        model = MetaFAVAE.load(args.model)
        print(f"loaded {args.model}", flush=True)
    else:
        model = MetaFAVAE(n_iterations=1, random_state=0, verbose=False).fit(X_train, y_train)

    classes = torch.unique(y_test)[: args.classes + 1]
    seconds = []
    for i, c in enumerate(classes):
        seeds = X_test[y_test == c][:4]
        model.clear_cache()
        tick = time.perf_counter()
        images = model.generate(seeds, 100, random_state=i)
        if i > 0:  # the first class warms up the allocator
            seconds.append(time.perf_counter() - tick)
    assert images.shape == (100, 1, 28, 28)
    print(
        f"adapt (K={model.inner_iterations}) + generate 100: mean {np.mean(seconds):.2f} s, "
        f"max {np.max(seconds):.2f} s over {len(seconds)} classes",
        flush=True,
    )

    if args.fit_iterations > 0:
        timed = MetaFAVAE(n_iterations=args.fit_iterations, max_time=None, random_state=0, verbose=False)
        wall, cpu = time.perf_counter(), time.process_time()
        timed.fit(X_train, y_train)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"fit: {wall / args.fit_iterations:.3f} s wall, {cpu / args.fit_iterations:.3f} s CPU per outer "
            f"iteration ({args.fit_iterations} iterations incl. setup)",
            flush=True,
        )


if __name__ == "__main__":
    main()
