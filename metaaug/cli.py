"""The ``metaaug`` command line.

Subcommands::

    metaaug demo [--data PATH] [--quick]
    metaaug fit METHOD --data PATH|digits --out model.pt [--param key=value ...]
    metaaug sample-tasks model.pt --n-tasks N --ways 5 --shots 1 --queries 15 --out tasks.pt|grid.png
    metaaug generate model.pt --seeds DIR|FILES --n 100 --out DIR|grid.png
    metaaug benchmark {baselines,unsupervised,hallucination,generation} [--quick]

User errors (bad arguments, unreadable or wrong files, estimators that are not
installed, invalid parameter values) end with exit code 2 and one line on
stderr, never a traceback. Set ``METAAUG_DEBUG=1`` to see the traceback of such
an error anyway.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

METHODS = {
    "lasium": "LASIUM",
    "umtra": "UMTRA",
    "cactus": "CACTUs",
    "ae": "AE",
    "intae": "IntAE",
    "augintae": "AugIntAE",
    "lofgan": "LoFGAN",
    "metafavae": "MetaFAVAE",
}

# methods whose fit(X, y) uses labels when given (the others ignore y: they are unsupervised)
USES_LABELS = ("lofgan", "metafavae")

BENCHMARKS = {
    "baselines": "omniglot_baselines.py",
    "unsupervised": "unsupervised_meta_learning.py",
    "hallucination": "data_hallucination.py",
    "generation": "generation_benchmark.py",
}

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
ARRAY_SUFFIXES = (".npy", ".npz", ".pt", ".pth")
EXIT_USAGE = 2


class UsageError(Exception):
    """A user error: reported as one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (``PROG: error: MESSAGE``) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----------------------------------------------------------------- arguments
def parse_value(text: str) -> Any:
    """A ``--param`` value: a Python literal (``3``, ``1e-3``, ``(1, 2)``, ``None``, ``True``) or a string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignments(items: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}``."""
    values: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"{option} expects key=value, got {item!r}")
        values[key] = parse_value(raw)
    return values


def coerce_like(key: str, value: Any, default: Any) -> Any:
    """Give ``value`` the type of the parameter's default where that is unambiguous."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"parameter {key} expects true or false, got {value!r}")
        return value
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
        raise UsageError(f"parameter {key} expects a number, got {value!r}")
    if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def estimator_params(estimator: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """Check ``overrides`` against ``estimator.get_params()`` and coerce their types."""
    current = estimator.get_params(deep=False)
    unknown = sorted(set(overrides) - set(current))
    if unknown:
        raise UsageError(
            f"unknown parameter(s) {', '.join(unknown)} for {type(estimator).__name__}; "
            f"valid: {', '.join(sorted(current))}"
        )
    return {k: coerce_like(k, v, current[k]) for k, v in overrides.items()}


def call_kwargs(method: Any, overrides: dict[str, Any], option: str) -> dict[str, Any]:
    """Check ``--arg`` keywords against ``method``'s signature."""
    signature = inspect.signature(method)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    names = [n for n, p in signature.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(overrides) - set(names))
    if unknown and not accepts_any:
        raise UsageError(f"{option} {', '.join(unknown)} not accepted by {method.__qualname__}; "
                         f"it takes: {', '.join(names)}")
    out = {}
    for key, value in overrides.items():
        param = signature.parameters.get(key)
        default = param.default if param is not None and param.default is not param.empty else None
        out[key] = coerce_like(key, value, default)
    return out


# ---------------------------------------------------------------- estimators
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
            raise UsageError(f"{path} is not a metaaug model file (saved by 'metaaug fit' or "
                             "estimator.save)") from err
        raise UsageError(f"cannot load {path} as a metaaug model: {one_line(err)}") from err


# --------------------------------------------------------------------- images
def _resize(images: Any, size: int | None) -> Any:
    import torch.nn.functional as F

    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    if size < 2:
        raise UsageError(f"--image-size must be >= 2, got {size}")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=size < images.shape[-1]).clamp_(0, 1)


def read_image_files(files: Sequence[Path], channels: int | None, size: tuple[int, int] | None) -> Any:
    """Read image files into a float ``(N, C, H, W)`` tensor in [0, 1].

    ``channels`` 1 reads grey, 3 RGB, ``None`` grey unless some file has
    colour. ``size`` (H, W) resizes (Lanczos); ``None`` takes the first file's size.
    """
    import numpy as np
    import torch
    from PIL import Image, UnidentifiedImageError

    arrays = []
    for file in files:
        try:
            with Image.open(file) as img:
                img.load()
                if channels is None:
                    channels = 1 if img.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
                img = img.convert("L" if channels == 1 else "RGB")
                if size is None:
                    size = (img.height, img.width)
                if (img.height, img.width) != tuple(size):
                    img = img.resize((size[1], size[0]), Image.Resampling.LANCZOS)
                pixels = np.asarray(img, dtype=np.float32) / 255.0
        except (UnidentifiedImageError, OSError) as err:
            raise UsageError(f"cannot read image {file}: {one_line(err)}") from err
        arrays.append(pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1))
    if not arrays:
        raise UsageError("no image files to read")
    return torch.from_numpy(np.stack(arrays)).clamp_(0, 1)


def image_files(paths: Sequence[str]) -> list[Path]:
    """Image files named directly or found (sorted) in the given folders."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {raw}")
    return files


def read_array_file(path: Path) -> tuple[Any, Any]:
    """``X`` (and ``y`` when present) from a ``.npy`` / ``.npz`` / ``.pt`` file."""
    import numpy as np
    import torch

    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                keys = list(archive.keys())
                x_key = "X" if "X" in keys else ("x" if "x" in keys else keys[0] if len(keys) == 1 else None)
                if x_key is None:
                    raise UsageError(f"{path} holds arrays {keys}; name the images X (and labels y)")
                y_key = "y" if "y" in keys else None
                return archive[x_key], (archive[y_key] if y_key else None)
        content = torch.load(path, map_location="cpu", weights_only=True)
    except UsageError:
        raise
    except Exception as err:  # any unreadable or malformed file is a user error here
        raise UsageError(f"cannot read {path}: {one_line(err)}") from err
    if isinstance(content, torch.Tensor):
        return content, None
    if isinstance(content, dict) and "X" in content:
        return content["X"], content.get("y")
    if isinstance(content, dict) and "support_x" in content:
        return content["support_x"].flatten(0, 1), None
    raise UsageError(f"{path} holds no images: expected a tensor or a dict with 'X' (and 'y')")


def load_training_data(data: str, image_size: int | None, alphabets: str | None) -> tuple[Any, Any, str]:
    """``(X, y, description)`` for ``--data``: digits, Omniglot, a folder of images or an array file.

    ``y`` is ``None`` for unlabeled data. A folder whose images sit in
    subfolders is labeled by subfolder.
    """
    from metaaug.data import (DEV_TEST_ALPHABETS, DEV_TRAIN_ALPHABETS, as_images, as_labels, load_digits,
                              load_omniglot)

    if data == "digits":
        if alphabets:
            raise UsageError("--alphabets applies to Omniglot data, not digits")
        X, y = load_digits()
        X = _resize(X, image_size)
        return X, y, f"sklearn digits ({len(X)} images)"
    path = Path(data)
    if not path.exists():
        raise UsageError(f"--data {data}: no such file or folder (give a path or 'digits')")
    if not os.access(path, os.R_OK):
        raise UsageError(f"--data {data} is not readable")
    if path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        if alphabets:
            raise UsageError("--alphabets applies to Omniglot data")
        X, y = read_array_file(path)
        X = _resize(as_images(X, name=str(path)), image_size)
        y = None if y is None else as_labels(y, len(X), name=f"{path} labels")
        return X, y, f"{path} ({len(X)} images)"

    chosen: list[str] | None = None
    if alphabets:
        presets = {"dev-train": list(DEV_TRAIN_ALPHABETS), "dev-test": list(DEV_TEST_ALPHABETS)}
        chosen = presets.get(alphabets) or [a.strip() for a in alphabets.split(",") if a.strip()]
    try:
        X, y = load_omniglot(path, alphabets=chosen, image_size=image_size or 28)
        return X, y, f"Omniglot at {path} ({len(X)} images, {int(y.max()) + 1} characters)"
    except ValueError as err:
        if "no Omniglot images" not in str(err) or chosen is not None:
            raise
    if not path.is_dir():
        raise UsageError(f"--data {data} is neither 'digits', an Omniglot zip/folder, an image folder "
                         f"nor a {'/'.join(ARRAY_SUFFIXES)} array file")
    return _read_image_folder(path, image_size)


def _read_image_folder(root: Path, image_size: int | None) -> tuple[Any, Any, str]:
    import torch

    top = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    per_class = [(c, image_files([str(c)])) for c in classes]
    per_class = [(c, files) for c, files in per_class if files]
    if not top and not per_class:
        raise UsageError(f"no images found under {root}: expected Omniglot zips/folders, image files, "
                         "or one subfolder of images per class")
    size = None if image_size is None else (image_size, image_size)
    if per_class and not top:
        files = [f for _, files in per_class for f in files]
        labels = torch.cat([torch.full((len(files),), i, dtype=torch.int64) for i, (_, files) in enumerate(per_class)])
        X = read_image_files(files, None, size)
        return X, labels, f"{root} ({len(X)} images, {len(per_class)} classes)"
    X = read_image_files(top, None, size)
    return X, None, f"{root} ({len(X)} unlabeled images)"


def model_image_shape(model: Any) -> tuple[int, int, int] | None:
    shape = getattr(model, "image_shape_", None)
    if shape is None:
        return None
    shape = tuple(int(s) for s in shape)
    return shape if len(shape) == 3 else None


def read_seeds(paths: Sequence[str], shape: tuple[int, int, int] | None, invert: str) -> tuple[Any, bool]:
    """Seed images for ``generate`` in the model's (C, H, W); returns ``(images, inverted)``.

    Grey images drawn dark on light (like Omniglot's files) are inverted so ink
    is 1.0, the library's convention, when ``invert`` is ``"auto"``.
    """
    from metaaug.data import as_images

    arrays = [Path(p) for p in paths if Path(p).is_file() and Path(p).suffix.lower() in ARRAY_SUFFIXES]
    if arrays:
        if len(arrays) != len(paths):
            raise UsageError("--seeds takes either image files/folders or one array file, not both")
        if len(arrays) > 1:
            raise UsageError("--seeds takes one array file")
        images = as_images(read_array_file(arrays[0])[0], name=str(arrays[0]))
        if shape is not None:
            images = _resize(images, shape[1]) if images.shape[1] == shape[0] else images
        return images, False
    files = image_files(paths)
    if not files:
        raise UsageError(f"no image files in {' '.join(paths)}")
    channels = shape[0] if shape is not None and shape[0] in (1, 3) else None
    images = read_image_files(files, channels, None if shape is None else (shape[1], shape[2]))
    inverted = invert == "yes" or (invert == "auto" and images.shape[1] == 1 and float(images.mean()) > 0.5)
    return (1.0 - images if inverted else images), inverted


def tile(blocks: Any, pad: int = 2) -> Any:
    """Tile ``(rows, cols, C, H, W)`` images into one ``(C, H', W')`` image with white gaps."""
    import torch.nn.functional as F

    rows, cols, channels, height, width = blocks.shape
    padded = F.pad(blocks, (pad, 0, pad, 0), value=1.0)
    grid = padded.permute(2, 0, 3, 1, 4).reshape(channels, rows * (height + pad), cols * (width + pad))
    return F.pad(grid, (0, pad, 0, pad), value=1.0)


def save_image(image: Any, path: Path) -> None:
    """Save a ``(C, H, W)`` tensor in [0, 1] as PNG (grey for 1 channel, RGB for 3)."""
    import numpy as np
    from PIL import Image

    import torch

    array = (image.detach().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    if array.shape[0] == 1:
        picture = Image.fromarray(array[0], mode="L")
    else:
        picture = Image.fromarray(np.ascontiguousarray(array[:3].transpose(1, 2, 0)), mode="RGB")
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path)


def _display(images: Any, inverted: bool) -> Any:
    """Images as the user sees them: ink dark on white when the inputs were drawn that way."""
    return 1.0 - images if inverted else images


def _upscale_small(images: Any) -> Any:
    """Enlarge tiny images (e.g. 8x8 digits) so a grid is legible."""
    import torch.nn.functional as F

    factor = max(1, 32 // images.shape[-1])
    return F.interpolate(images, scale_factor=factor, mode="nearest") if factor > 1 else images


# ------------------------------------------------------------------- commands
def command_demo(args: argparse.Namespace) -> int:
    if args.data is not None and not Path(args.data).exists():
        raise UsageError(f"--data {args.data}: no such file or folder")
    if importlib.util.find_spec("metaaug.demo") is None:
        raise UsageError("the demo is not available in this installation (metaaug.demo is missing)")
    from metaaug.demo import run_demo

    kwargs: dict[str, Any] = {"data": args.data, "quick": args.quick}
    if args.seed is not None and "random_state" in inspect.signature(run_demo).parameters:
        kwargs["random_state"] = args.seed
    run_demo(**kwargs)  # prints the table as it goes
    return 0


def command_fit(args: argparse.Namespace) -> int:
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
    estimator.set_params(**{**estimator_params(estimator, params), **extra})

    if args.labels and args.method not in USES_LABELS:
        raise UsageError(f"{args.method} learns from unlabeled images only; --labels applies to "
                         f"{', '.join(sorted(USES_LABELS))}")
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as model.pt")

    print(f"loading {args.data} ...", flush=True)
    X, y, description = load_training_data(args.data, args.image_size, args.alphabets)
    if args.labels and y is None:
        raise UsageError(f"--labels given but {args.data} has no labels")
    print(f"fitting {cls.__name__} on {description}, images {tuple(X.shape[1:])}", flush=True)
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
    print(f"fitted {cls.__name__} in {elapsed:.1f} s -> {out}")
    return 0


def command_sample_tasks(args: argparse.Namespace) -> int:
    import torch

    from metaaug.data.adapters import collate_tasks

    model = load_model(args.model, args.device)
    if not hasattr(model, "sample_tasks"):
        raise UsageError(f"{args.model} holds a {type(model).__name__}, which does not sample tasks; "
                         "use a LASIUM, UMTRA or CACTUs model")
    out = Path(args.out)
    if out.suffix.lower() not in (".pt", ".png"):
        raise UsageError(f"--out must end in .pt (tensors) or .png (a grid), got {args.out}")
    kwargs = call_kwargs(model.sample_tasks, parse_assignments(args.arg, "--arg"), "--arg")
    tasks = model.sample_tasks(args.n_tasks, n_ways=args.ways, k_shot=args.shots, k_query=args.queries,
                               random_state=args.seed, **kwargs)
    if out.suffix.lower() == ".pt":
        batch = collate_tasks(tasks)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"support_x": batch.support_x, "support_y": batch.support_y, "query_x": batch.query_x,
                    "query_y": batch.query_y, "n_ways": args.ways, "k_shot": args.shots,
                    "k_query": args.queries}, out)
    else:
        from metaaug.samplers._grid import save_task_grid

        save_task_grid(tasks, out, scale=max(2, 56 // tasks[0].support_x.shape[-1]))
    print(f"sampled {len(tasks)} tasks ({args.ways}-way {args.shots}-shot, {args.queries} queries) "
          f"from {type(model).__name__} -> {out}")
    return 0


def command_generate(args: argparse.Namespace) -> int:
    model = load_model(args.model, args.device)
    if not hasattr(model, "generate"):
        raise UsageError(f"{args.model} holds a {type(model).__name__}, which does not generate images; "
                         "use an AE, IntAE, AugIntAE, LoFGAN or MetaFAVAE model")
    if args.n < 1:
        raise UsageError(f"--n must be >= 1, got {args.n}")
    kwargs = call_kwargs(model.generate, parse_assignments(args.arg, "--arg"), "--arg")
    seeds, inverted = read_seeds(args.seeds, model_image_shape(model), args.invert)
    images = model.generate(seeds, args.n, random_state=args.seed, **kwargs).detach().cpu()
    out = Path(args.out)
    shown = _display(images, inverted)
    if out.suffix.lower() == ".png":
        import torch

        columns = max(1, min(10, len(images)))
        seed_row = _display(seeds[:columns], inverted)
        blank = torch.ones(columns - len(seed_row), *seed_row.shape[1:])
        n_rows = -(-len(images) // columns)
        filler = torch.ones(n_rows * columns - len(images), *images.shape[1:])
        cells = torch.cat([seed_row, blank, torch.ones(columns, *images.shape[1:]), shown, filler])
        cells = _upscale_small(cells)
        save_image(tile(cells.view(n_rows + 2, columns, *cells.shape[1:])), out)
        where = f"{out} (first row: seeds)"
    else:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {args.out} exists and is not a folder; give a folder or a .png name")
        out.mkdir(parents=True, exist_ok=True)
        for index, image in enumerate(shown):
            save_image(image, out / f"generated_{index:04d}.png")
        where = f"{out}/ ({len(images)} PNG files)"
    print(f"generated {len(images)} images of shape {tuple(images.shape[1:])} from {len(seeds)} seeds "
          f"with {type(model).__name__} -> {where}")
    return 0


def examples_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "examples"


def command_benchmark(args: argparse.Namespace) -> int:
    script = examples_dir() / BENCHMARKS[args.name]
    if not script.is_file():
        raise UsageError(f"{script} is missing: the {args.name} benchmark is not in this checkout "
                         "(benchmarks run from a source checkout of metaaug)")
    command = [sys.executable, str(script)] + (["--quick"] if args.quick else []) + list(args.extra)
    print("+ " + " ".join(command), flush=True)
    return subprocess.run(command, check=False).returncode


# --------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from metaaug import __version__

    parser = _Parser(prog="metaaug", description="Unsupervised meta-learning and few-shot data augmentation "
                     "with generative models.")
    parser.add_argument("--version", action="version", version=f"metaaug {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser("demo", help="few-shot table of every landed method on digits (or Omniglot)",
                               description="5-way 1-shot accuracy (95%% CI) and wall time of the baselines and "
                               "every landed method; digits classes 0-4 train, 5-9 test.")
    demo.add_argument("--data", metavar="PATH", help="an Omniglot folder/zip instead of the embedded digits")
    demo.add_argument("--quick", action="store_true", help="fewer iterations and test tasks")
    demo.add_argument("--seed", type=int, help="random seed")
    demo.set_defaults(func=command_demo)

    fit = commands.add_parser("fit", help="fit a sampler or generator and save it",
                              description="Fit a task sampler or generator on images and save it "
                              "(load it back with metaaug.load).")
    fit.add_argument("method", choices=sorted(METHODS), help="which estimator")
    fit.add_argument("--data", required=True, metavar="PATH|digits",
                     help="'digits', an Omniglot folder/zip, a folder of images (one subfolder per class "
                     "for labels) or a .npy/.npz/.pt array file")
    fit.add_argument("--out", required=True, metavar="model.pt", help="where to save the fitted model")
    fit.add_argument("--param", action="append", metavar="key=value",
                     help="constructor parameter, repeatable (e.g. --param epochs=5)")
    fit.add_argument("--alphabets", metavar="A,B|dev-train|dev-test",
                     help="Omniglot alphabets to keep (comma-separated, or the dev split's parts)")
    fit.add_argument("--image-size", type=int, metavar="PX", help="resize images to PX x PX (Omniglot: 28)")
    fit.add_argument("--labels", action="store_true",
                     help="pass the data's labels to fit (lofgan, metafavae; default: unlabeled)")
    fit.add_argument("--seed", type=int, help="random_state")
    fit.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.set_defaults(func=command_fit)

    sample = commands.add_parser("sample-tasks", help="draw few-shot tasks from a fitted sampler",
                                 description="Draw N-way K-shot tasks from a fitted LASIUM, UMTRA or CACTUs "
                                 "model; save them as tensors (.pt) or a picture (.png, one row per class: "
                                 "support | queries).")
    sample.add_argument("model", help="a model saved by 'metaaug fit'")
    sample.add_argument("--n-tasks", type=int, default=4, help="number of tasks (4)")
    sample.add_argument("--ways", type=int, default=5, help="classes per task (5)")
    sample.add_argument("--shots", type=int, default=1, help="support images per class (1)")
    sample.add_argument("--queries", type=int, default=15, help="query images per class (15)")
    sample.add_argument("--out", required=True, metavar="tasks.pt|grid.png")
    sample.add_argument("--arg", action="append", metavar="key=value", help="extra keyword for sample_tasks")
    sample.add_argument("--seed", type=int, help="random_state")
    sample.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    sample.set_defaults(func=command_sample_tasks)

    generate = commands.add_parser("generate", help="generate new images of a class from seed images",
                                   description="Generate new images of the class shown by the seed images "
                                   "with a fitted AE, IntAE, AugIntAE, LoFGAN or MetaFAVAE model.")
    generate.add_argument("model", help="a model saved by 'metaaug fit'")
    generate.add_argument("--seeds", nargs="+", required=True, metavar="DIR|FILE",
                          help="seed images: files, folders of images, or one .npy/.npz/.pt array")
    generate.add_argument("--n", type=int, default=100, help="images to generate (100)")
    generate.add_argument("--out", required=True, metavar="DIR|grid.png",
                          help="a folder for PNG files, or a .png grid (first row: seeds)")
    generate.add_argument("--invert", choices=("auto", "yes", "no"), default="auto",
                          help="treat grey seeds as dark ink on light paper and invert them (auto: when "
                          "their mean is above 0.5); outputs are written in the seeds' polarity")
    generate.add_argument("--arg", action="append", metavar="key=value", help="extra keyword for generate")
    generate.add_argument("--seed", type=int, help="random_state")
    generate.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    generate.set_defaults(func=command_generate)

    bench = commands.add_parser("benchmark", help="run a benchmark script of examples/",
                                description="Run one of the benchmark scripts in examples/ (from a source "
                                "checkout); they write their tables to docs/benchmarks.md. Arguments after "
                                "'--' go to the script unchanged.")
    bench.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    bench.add_argument("--quick", action="store_true", help="small settings (passed to the script)")
    bench.set_defaults(func=command_benchmark)
    return parser


def one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def is_user_error(err: BaseException) -> bool:
    """Errors that mean "the input was wrong", reported in one line (exit code 2)."""
    if isinstance(err, (UsageError, ValueError, OSError)):
        return True
    from sklearn.exceptions import NotFittedError

    return isinstance(err, NotFittedError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:  # everything after "--" is handed to a benchmark script as is
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.error("a command is required: demo, fit, sample-tasks, generate or benchmark")
    if extra and args.command != "benchmark":
        parser.error(f"arguments after '--' are only for 'metaaug benchmark', got {' '.join(extra)}")
    args.extra = extra
    prog = f"metaaug {args.command}"
    threads = os.environ.get("METAAUG_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:  # the project's convention for shared machines
        import torch

        torch.set_num_threads(int(threads))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not is_user_error(err) or os.environ.get("METAAUG_DEBUG"):
            raise
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
