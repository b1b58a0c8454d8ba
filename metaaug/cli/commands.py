"""The four commands: ``demo``, ``fit``, ``sample-tasks`` and ``generate``.

Each takes the parsed arguments, prints one summary line and returns the exit
code; user errors are raised as :class:`~metaaug.cli.errors.UsageError`.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from metaaug.cli.errors import UsageError, one_line
from metaaug.cli.io import displayed, load_training_data, read_seeds, save_generated_files, save_generated_grid
from metaaug.cli.parser import METHODS, call_kwargs, estimator_params, parse_assignments

# methods whose fit(X, y) uses labels when given (the others ignore y: they are unsupervised)
USES_LABELS = ("lofgan", "metafavae")


def estimator_class(method: str) -> type:
    """The public class behind a ``fit`` method name; ``UsageError`` if it is not installed."""
    import metaaug

    name = METHODS[method]
    try:
        return getattr(metaaug, name)
    except ImportError as err:
        raise UsageError(f"{method} ({name}) is not available in this installation: {err}") from err


def load_model(path: str, device: str | None) -> Any:
    """Load a saved estimator, turning every way a file can be wrong into ``UsageError``."""
    file = Path(path)
    if not file.exists():
        raise UsageError(f"no model file at {path}")
    if not file.is_file():
        raise UsageError(f"{path} is not a file")
    if not os.access(file, os.R_OK):
        raise UsageError(f"{path} is not readable")
    from metaaug.base import load

    try:
        return load(file, device=device)
    except (ValueError, KeyError, TypeError, AttributeError, ImportError, RuntimeError) as err:
        if "is not a metaaug model file" in str(err):
            raise UsageError(f"{path} is not a metaaug model file (saved by 'metaaug fit' or estimator.save)") from err
        raise UsageError(f"cannot load {path} as a metaaug model: {one_line(err)}") from err


def model_image_shape(model: Any) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` a fitted model was trained on, if it records one."""
    shape = getattr(model, "image_shape_", None)
    if shape is None:
        return None
    shape = tuple(int(s) for s in shape)
    return shape if len(shape) == 3 else None


def command_demo(args: argparse.Namespace) -> int:
    if args.data is not None and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder")
    from metaaug.demo import run_demo

    seed = {} if args.seed is None else {"random_state": args.seed}
    run_demo(data=args.data, quick=args.quick, **seed)  # prints the table as it goes
    return 0


def _fit_estimator(args: argparse.Namespace) -> Any:
    """The unfitted estimator of ``metaaug fit``, with ``--param``, ``--seed``, ``--device`` and ``--quiet``."""
    cls = estimator_class(args.method)
    params = parse_assignments(args.param, "--param")
    estimator = cls()
    extra: dict[str, Any] = {}
    current = estimator.get_params(deep=False)
    if args.seed is not None:
        if "random_state" not in current:
            raise UsageError(f"{cls.__name__} takes no random_state")
        extra["random_state"] = args.seed
    if args.device is not None:
        if "device" not in current:
            raise UsageError(f"{cls.__name__} takes no device")
        extra["device"] = args.device
    if "verbose" in current and "verbose" not in params:
        extra["verbose"] = not args.quiet
    return estimator.set_params(**{**estimator_params(estimator, params), **extra})


def command_fit(args: argparse.Namespace) -> int:
    estimator = _fit_estimator(args)
    name = type(estimator).__name__
    if args.labels and args.method not in USES_LABELS:
        raise UsageError(
            f"{args.method} learns from unlabeled images only; --labels applies to {', '.join(sorted(USES_LABELS))}"
        )
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as model.pt")

    print(f"loading {args.data} ...", flush=True)
    X, y, description = load_training_data(args.data, args.image_size, args.alphabets)
    if args.labels and y is None:
        raise UsageError(f"--labels given but {args.data} has no labels")
    print(f"fitting {name} on {description}, images {tuple(X.shape[1:])}", flush=True)
    start = time.perf_counter()
    if args.labels:
        estimator.fit(X, y)
    else:
        estimator.fit(X)
    elapsed = time.perf_counter() - start
    try:
        estimator.save(out)
    except OSError as err:
        raise UsageError(f"cannot write {out}: {one_line(err)}") from err
    print(f"fitted {name} in {elapsed:.1f} s -> {out}")
    return 0


def command_sample_tasks(args: argparse.Namespace) -> int:
    from metaaug.data import collate_tasks
    from metaaug.samplers import save_task_grid

    model = load_model(args.model, args.device)
    if not hasattr(model, "sample_tasks"):
        raise UsageError(
            f"{args.model} holds a {type(model).__name__}, which does not sample tasks; "
            "use a LASIUM, UMTRA or CACTUs model"
        )
    out = Path(args.out)
    if out.suffix.lower() not in (".pt", ".png"):
        raise UsageError(f"--out must end in .pt (tensors) or .png (a grid), got {args.out}")
    kwargs = call_kwargs(model.sample_tasks, parse_assignments(args.arg, "--arg"), "--arg")
    tasks = model.sample_tasks(
        args.n_tasks, n_ways=args.ways, k_shot=args.shots, k_query=args.queries, random_state=args.seed, **kwargs
    )
    if out.suffix.lower() == ".pt":
        batch = collate_tasks(tasks)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "support_x": batch.support_x,
                "support_y": batch.support_y,
                "query_x": batch.query_x,
                "query_y": batch.query_y,
                "n_ways": args.ways,
                "k_shot": args.shots,
                "k_query": args.queries,
            },
            out,
        )
    else:
        save_task_grid(tasks, out, scale=max(2, 56 // tasks[0].support_x.shape[-1]))
    print(
        f"sampled {len(tasks)} tasks ({args.ways}-way {args.shots}-shot, {args.queries} queries) "
        f"from {type(model).__name__} -> {out}"
    )
    return 0


def command_generate(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.device)
    if not hasattr(model, "generate"):
        raise UsageError(
            f"{args.model} holds a {type(model).__name__}, which does not generate images; "
            "use an AE, IntAE, AugIntAE, LoFGAN or MetaFAVAE model"
        )
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    kwargs = call_kwargs(model.generate, parse_assignments(args.arg, "--arg"), "--arg")
    seeds, inverted = read_seeds(args.seeds, model_image_shape(model), args.invert)
    images = model.generate(seeds, args.n, random_state=args.seed, **kwargs).detach().cpu()
    out = Path(args.out)
    shown = displayed(images, inverted)
    if out.suffix.lower() == ".png":
        save_generated_grid(displayed(seeds, inverted), shown, out)
        where = f"{out} (first row: seeds)"
    else:
        save_generated_files(shown, out)
        where = f"{out}/ ({len(images)} PNG files)"
    print(
        f"generated {len(images)} images of shape {tuple(images.shape[1:])} from {len(seeds)} seeds "
        f"with {type(model).__name__} -> {where}"
    )
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": command_demo,
    "fit": command_fit,
    "sample-tasks": command_sample_tasks,
    "generate": command_generate,
}
