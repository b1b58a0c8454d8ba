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
from metaaug.cli.io import (
    check_writable,
    displayed,
    load_training_data,
    read_seeds,
    save_generated_files,
    save_generated_grid,
)
from metaaug.cli.parser import META_LEARNERS, METHODS, call_kwargs, estimator_params, parse_assignments
from metaaug.data.sources import ImageSource

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


def with_article(name: str) -> str:
    """``"an AE"``, ``"an IntAE"``, ``"a LASIUM"``: "an" before a vowel (every class name here is spoken so)."""
    return f"{'an' if name[:1] in 'AEIOU' else 'a'} {name}"


def model_image_shape(model: Any) -> tuple[int, int, int] | None:
    """The ``(C, H, W)`` a fitted model was trained on, if it records one."""
    shape = getattr(model, "image_shape_", None)
    if shape is None:
        return None
    shape = tuple(int(s) for s in shape)
    return shape if len(shape) == 3 else None


# outputs larger than this are refused before any work (float32 images held in memory at once)
MAX_OUTPUT_BYTES = 4 * 1024**3


def check_output_size(n_images: int, shape: tuple[int, int, int] | None, what: str) -> None:
    """``UsageError`` when ``n_images`` float32 images of ``shape`` would exceed :data:`MAX_OUTPUT_BYTES`."""
    if shape is None:
        return
    size = n_images * shape[0] * shape[1] * shape[2] * 4
    if size > MAX_OUTPUT_BYTES:
        raise UsageError(
            f"{what} would hold {n_images} images of {shape} ({size / 1024**3:.1f} GiB), more than the "
            f"{MAX_OUTPUT_BYTES // 1024**3} GiB limit; ask for fewer"
        )


def command_demo(args: argparse.Namespace) -> int:
    if args.data not in (None, "digits") and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder (give an Omniglot folder/zip or 'digits')")
    check_writable(Path(args.out_dir), "--out-dir", folder=True)
    from metaaug.demo import run_demo

    seed = {} if args.seed is None else {"random_state": args.seed}
    run_demo(data=args.data, quick=args.quick, out_dir=args.out_dir, **seed)  # prints the table as it goes
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


def loss_curve_path(out: Path) -> Path:
    """Where ``fit`` writes the training-loss curve: ``model.pt`` -> ``model.loss.png``."""
    return out.with_name(out.stem + ".loss.png")


def command_fit(args: argparse.Namespace) -> int:
    """``metaaug fit``; under ``torchrun`` every process trains its share and rank 0 prints and writes."""
    from metaaug.distributed import init_from_environment

    started = init_from_environment(timeout=args.dist_timeout)
    try:
        return _fit_and_save(args)
    finally:
        import torch.distributed as dist

        if started and dist.is_initialized():
            dist.destroy_process_group()


def _fit_and_save(args: argparse.Namespace) -> int:
    from metaaug.data.images import looks_inverted
    from metaaug.distributed import current_group

    estimator = _fit_estimator(args)
    name = type(estimator).__name__
    group = current_group()
    main = group is None or group.is_main
    say: Callable[..., None] = print if main else (lambda *_, **__: None)
    where = "" if group is None else f" on {group.world_size} processes (data-parallel)"
    if group is not None and not getattr(estimator, "_data_parallel", False):
        raise UsageError(
            f"{args.method} does not train data-parallel; run 'metaaug fit {args.method}' without torchrun "
            f"(data-parallel methods: {', '.join(sorted(data_parallel_methods()))})"
        )
    if args.labels and args.method not in USES_LABELS:
        raise UsageError(
            f"{args.method} learns from unlabeled images only; --labels applies to {', '.join(sorted(USES_LABELS))}"
        )
    if args.tasks_from is not None and args.method not in META_LEARNERS:
        raise UsageError(f"--tasks-from applies to {' and '.join(sorted(META_LEARNERS))}, not {args.method}")
    if (args.data is None) == (args.tasks_from is None):
        if args.method in META_LEARNERS:
            raise UsageError(f"{args.method} needs either labeled --data or --tasks-from a fitted sampler (not both)")
        if args.data is None:
            raise UsageError("--data is required")
    out = Path(args.out)
    if main:
        check_writable(out)
        if not args.no_plot:
            check_writable(loss_curve_path(out), "the loss curve")
    # every parameter value is checked now, before the data is read and the training runs
    estimator._validate_params()
    estimator._validate_relations()

    if args.tasks_from is not None:
        sampler = load_model(args.tasks_from, args.device)
        if not hasattr(sampler, "sample_tasks"):
            raise UsageError(f"--tasks-from {args.tasks_from} holds a {type(sampler).__name__}, not a task sampler")
        return _fit_meta_learner_on_sampler(estimator, sampler, args, out, say, where, main)
    say(f"loading {args.data} ...", flush=True)
    X, y, description = load_training_data(
        args.data, args.image_size, args.alphabets, getattr(args, "skip_invalid", False)
    )
    if args.labels and y is None:
        raise UsageError(f"--labels given but {args.data} has no labels")
    if args.method in META_LEARNERS and y is None:
        raise UsageError(
            f"{args.method} meta-trains on labeled tasks, and {args.data} has no labels: give a folder with one "
            "subfolder per class, or --tasks-from a fitted sampler (e.g. metaaug fit lasium --data ... --out lasium.pt)"
        )
    probe = X.preview() if isinstance(X, ImageSource) else X
    if args.invert == "yes" or (args.invert == "auto" and looks_inverted(probe)):
        X = X.inverted() if isinstance(X, ImageSource) else 1.0 - X
        why = "as asked" if args.invert == "yes" else "they look drawn dark on a light background"
        say(f"inverted the images so ink is 1.0 ({why}; --invert no keeps them as they are)", flush=True)
    say(f"fitting {name} on {description}, images {tuple(X.shape[1:])}{where}", flush=True)
    start = time.perf_counter()
    if args.labels or args.method in META_LEARNERS:
        estimator.fit(X, y)
    else:
        estimator.fit(X)
    return _save_fitted(estimator, out, time.perf_counter() - start, args.no_plot, main, say)


def _fit_meta_learner_on_sampler(
    estimator: Any,
    sampler: Any,
    args: argparse.Namespace,
    out: Path,
    say: Callable[..., None],
    where: str,
    main: bool,
) -> int:
    name = type(estimator).__name__
    say(f"fitting {name} on tasks from {args.tasks_from} ({type(sampler).__name__}){where}", flush=True)
    start = time.perf_counter()
    estimator.fit(sampler)
    return _save_fitted(estimator, out, time.perf_counter() - start, args.no_plot, main, say)


def _save_fitted(estimator: Any, out: Path, elapsed: float, no_plot: bool, main: bool, say: Callable[..., None]) -> int:
    """Rank 0 (or the single process) writes the model and its loss curve."""
    name = type(estimator).__name__
    if not main:
        return 0
    try:
        estimator.save(out)
    except (OSError, RuntimeError) as err:
        raise UsageError(f"cannot write {out}: {one_line(err)}") from err
    say(f"fitted {name} in {elapsed:.1f} s -> {out}")
    curve = getattr(estimator, "loss_curve_", None)
    if not no_plot and curve is not None and len(curve) > 0:
        from metaaug.plotting import save_loss_curve

        path = save_loss_curve(curve, loss_curve_path(out), title=f"{name} training loss")
        say(f"training-loss curve ({len(curve)} steps) -> {path}")
    return 0


def data_parallel_methods() -> list[str]:
    """The ``metaaug fit`` methods whose estimators train data-parallel under ``torchrun``."""
    methods = []
    for method in METHODS:
        try:
            if getattr(estimator_class(method), "_data_parallel", False):
                methods.append(method)
        except UsageError:  # an estimator whose optional dependency is not installed
            continue
    return methods


def command_sample_tasks(args: argparse.Namespace) -> int:
    from metaaug.data import collate_tasks
    from metaaug.samplers import save_task_grid

    model = load_model(args.model, args.device)
    if not hasattr(model, "sample_tasks"):
        raise UsageError(
            f"{args.model} holds {with_article(type(model).__name__)}, which does not sample tasks; "
            "use a LASIUM, UMTRA or CACTUs model"
        )
    out = Path(args.out)
    if out.suffix.lower() not in (".pt", ".png"):
        raise UsageError(f"--out must end in .pt (tensors) or .png (a grid), got {args.out}")
    check_writable(out)
    check_output_size(
        args.n_tasks * args.ways * (args.shots + args.queries), model_image_shape(model), "the sampled tasks"
    )
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
        save_task_grid(tasks, out)
    print(
        f"sampled {len(tasks)} tasks ({args.ways}-way {args.shots}-shot, {args.queries} queries) "
        f"from {type(model).__name__} -> {out}"
    )
    return 0


def command_generate(args: argparse.Namespace) -> int:
    out = Path(args.out)
    as_grid = out.suffix.lower() == ".png"
    check_writable(out, folder=not as_grid)
    model = load_model(args.model, args.device)
    if not hasattr(model, "generate"):
        raise UsageError(
            f"{args.model} holds {with_article(type(model).__name__)}, which does not generate images; "
            "use an AE, IntAE, AugIntAE, LoFGAN or MetaFAVAE model"
        )
    check_output_size(args.n, model_image_shape(model), "--n")
    kwargs = call_kwargs(model.generate, parse_assignments(args.arg, "--arg"), "--arg")
    notes: list[str] = []
    seeds, inverted = read_seeds(args.seeds, model_image_shape(model), args.invert, notes)
    if inverted:
        notes.append("seeds inverted so ink is 1.0, as metaaug expects (--invert no keeps them as they are)")
    for note in notes:
        print(note, flush=True)
    images = model.generate(seeds, args.n, random_state=args.seed, **kwargs).detach().cpu()
    if as_grid:
        save_generated_grid(seeds, images, out)
        where = f"{out} (first row, framed: the seeds)"
    else:
        save_generated_files(displayed(images, inverted), out)
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
