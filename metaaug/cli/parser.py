"""The command line's arguments: the argparse parser and the checks and coercion of ``key=value`` options."""

from __future__ import annotations

import argparse
import ast
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from metaaug.cli.errors import EXIT_USAGE, UsageError

# `metaaug fit METHOD`: method name -> public estimator class
METHODS = {
    "lasium": "LASIUM",
    "umtra": "UMTRA",
    "cactus": "CACTUs",
    "ae": "AE",
    "intae": "IntAE",
    "augintae": "AugIntAE",
    "lofgan": "LoFGAN",
    "metafavae": "MetaFAVAE",
    "protonet": "ProtoNetClassifier",
    "maml": "MAMLClassifier",
    "psco": "PsCo",
}
# the few-shot classifiers: they meta-train on labeled images or on the tasks of a fitted sampler
META_LEARNERS = frozenset({"protonet", "maml"})


# limits checked before any work: larger requests would exhaust memory rather than fail cleanly
MAX_IMAGE_SIZE = 1024
MAX_TASKS = 100_000
MAX_GENERATED = 100_000
MAX_WAYS = 1_000
MAX_SHOTS = 1_000


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]``, else a one-line error naming the range."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer from {low} to {high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(text: str) -> float:
    """An argparse ``type``: a number > 0 (seconds), else a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (``PROG: error: MESSAGE``) with exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----------------------------------------------------------- key=value options
def parse_value(text: str) -> Any:
    """A ``--param`` value: a Python literal (``3``, ``1e-3``, ``(1, 2)``, ``True``, ``None``), inf/nan, or a string."""
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return float(text)  # "inf", "nan": numbers that are not Python literals
    except ValueError:
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


def _expects_number(annotation: Any) -> bool:
    """Whether a parameter annotation admits numbers but no strings or arbitrary objects."""
    if annotation is inspect.Parameter.empty:
        return False
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    words = set(text.replace("|", " ").replace("[", " ").replace("]", " ").replace(",", " ").split())
    return bool(words & {"int", "float"}) and not words & {"str", "Any", "Callable", "RandomState", "object"}


def coerce_like(key: str, value: Any, default: Any, annotation: Any = inspect.Parameter.empty) -> Any:
    """Give ``value`` the type of the parameter's default where that is unambiguous.

    A string for a parameter whose default is a number, or whose annotation
    admits only numbers (and None), is refused with :class:`UsageError`.
    """
    if value is None:
        return value
    if isinstance(value, str) and (isinstance(default, (int, float)) or _expects_number(annotation)):
        if isinstance(default, bool):
            raise UsageError(f"parameter {key} expects true or false, got {value!r}")
        raise UsageError(f"parameter {key} expects a number, got {value!r}")
    if default is None:
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
    signature = inspect.signature(type(estimator).__init__).parameters
    return {
        k: coerce_like(k, v, current[k], signature[k].annotation if k in signature else inspect.Parameter.empty)
        for k, v in overrides.items()
    }


def call_kwargs(method: Callable[..., Any], overrides: dict[str, Any], option: str) -> dict[str, Any]:
    """Check ``--arg`` keywords against ``method``'s signature and coerce their types."""
    signature = inspect.signature(method)
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    names = [n for n, p in signature.parameters.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(overrides) - set(names))
    if unknown and not accepts_any:
        raise UsageError(
            f"{option} {', '.join(unknown)} not accepted by {method.__qualname__}; it takes: {', '.join(names)}"
        )
    out = {}
    for key, value in overrides.items():
        param = signature.parameters.get(key)
        default = param.default if param is not None and param.default is not param.empty else None
        annotation = param.annotation if param is not None else inspect.Parameter.empty
        out[key] = coerce_like(key, value, default, annotation)
    return out


# --------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``metaaug`` parser; the chosen subcommand is ``args.command`` (``None`` when none was given)."""
    from metaaug import __version__

    parser = _Parser(
        prog="metaaug", description="Unsupervised meta-learning and few-shot data augmentation with generative models."
    )
    parser.add_argument("--version", action="version", version=f"metaaug {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = commands.add_parser(
        "demo",
        help="few-shot table of every method on the embedded Omniglot subset",
        description="Meta-train ProtoNets on unlabeled Omniglot alphabets with LASIUM, UMTRA and CACTUs, "
        "test them on held-out alphabets next to pixel nearest neighbour and a supervised "
        "reference: 5-way 1-shot accuracy with its 95% confidence interval and wall time. "
        "Uses the Omniglot subset shipped with metaaug (no download) and writes two pictures: "
        "LASIUM's tasks and images generated for a new character.",
    )
    demo.add_argument(
        "--data",
        metavar="PATH|digits",
        help="an Omniglot folder/zip instead of the embedded subset (6 training alphabets, "
        "Korean + Tagalog for test), or 'digits' for a seconds-long smoke run on sklearn's digits",
    )
    demo.add_argument("--quick", action="store_true", help="a smaller budget: fewer iterations and test tasks")
    demo.add_argument(
        "--out-dir", metavar="DIR", default="metaaug-demo", help="where the two PNG pictures go (metaaug-demo)"
    )
    demo.add_argument("--seed", type=int, help="random seed")

    fit = commands.add_parser(
        "fit",
        help="fit a sampler, generator or few-shot classifier and save it",
        description="Fit a task sampler, generator or few-shot classifier on images and save it (load it back "
        "with metaaug.load). Under torchrun (torchrun --nproc_per_node=N -m metaaug fit ...) protonet, maml and "
        "the generators train data-parallel.",
    )
    fit.add_argument("method", choices=sorted(METHODS), help="which estimator")
    fit.add_argument(
        "--data",
        metavar="PATH|digits|omniglot-subset",
        help="'digits', 'omniglot-subset' (the Omniglot subset shipped with metaaug), an Omniglot "
        "folder/zip, a folder of images (one subfolder per class for labels) or a .npy/.npz/.pt array file",
    )
    fit.add_argument(
        "--tasks-from",
        metavar="sampler.pt",
        help="protonet, maml: meta-train on the tasks of a fitted sampler (lasium, umtra, cactus) instead of "
        "labeled --data",
    )
    fit.add_argument("--out", required=True, metavar="model.pt", help="where to save the fitted model")
    fit.add_argument(
        "--param",
        action="append",
        metavar="key=value",
        help="constructor parameter, repeatable (e.g. --param epochs=5)",
    )
    fit.add_argument(
        "--alphabets",
        metavar="A,B|dev-train|dev-test",
        help="Omniglot alphabets to keep (comma-separated, or the demo split's training or test alphabets)",
    )
    fit.add_argument(
        "--image-size",
        type=bounded_int(2, MAX_IMAGE_SIZE),
        metavar="PX",
        help=f"resize images to PX x PX, 2 to {MAX_IMAGE_SIZE} (Omniglot default: 28)",
    )
    fit.add_argument(
        "--skip-invalid",
        action="store_true",
        help="skip files of an image folder that cannot be read as images (with a warning) instead of stopping",
    )
    fit.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="grey images drawn dark on light are inverted so ink is 1.0 (auto: when they look "
        "like that; the output says so)",
    )
    fit.add_argument(
        "--labels", action="store_true", help="pass the data's labels to fit (lofgan, metafavae; default: unlabeled)"
    )
    fit.add_argument("--seed", type=int, help="random_state")
    fit.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument(
        "--dist-timeout",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="under torchrun: how long a process waits for the others at a synchronisation before it gives up (600)",
    )
    fit.add_argument(
        "--no-plot", action="store_true", help="do not write the training-loss curve (model.loss.png next to the model)"
    )

    sample = commands.add_parser(
        "sample-tasks",
        help="draw few-shot tasks from a fitted sampler",
        description="Draw N-way K-shot tasks from a fitted LASIUM, UMTRA or CACTUs "
        "model; save them as tensors (.pt) or a picture (.png, one row per class: "
        "support | queries).",
    )
    sample.add_argument("model", help="a model saved by 'metaaug fit'")
    sample.add_argument(
        "--n-tasks", type=bounded_int(1, MAX_TASKS), default=4, help=f"number of tasks, at most {MAX_TASKS} (4)"
    )
    sample.add_argument("--ways", type=bounded_int(1, MAX_WAYS), default=5, help="classes per task (5)")
    sample.add_argument("--shots", type=bounded_int(1, MAX_SHOTS), default=1, help="support images per class (1)")
    sample.add_argument("--queries", type=bounded_int(1, MAX_SHOTS), default=15, help="query images per class (15)")
    sample.add_argument("--out", required=True, metavar="tasks.pt|grid.png")
    sample.add_argument("--arg", action="append", metavar="key=value", help="extra keyword for sample_tasks")
    sample.add_argument("--seed", type=int, help="random_state")
    sample.add_argument("--device", help="'auto', 'cpu' or 'cuda'")

    generate = commands.add_parser(
        "generate",
        help="generate new images of a class from seed images",
        description="Generate new images of the class shown by the seed images "
        "with a fitted AE, IntAE, AugIntAE, LoFGAN or MetaFAVAE model.",
    )
    generate.add_argument("model", help="a model saved by 'metaaug fit'")
    generate.add_argument(
        "--seeds",
        nargs="+",
        required=True,
        metavar="DIR|FILE",
        help="seed images: files, folders of images, or one .npy/.npz/.pt array",
    )
    generate.add_argument(
        "--n",
        type=bounded_int(1, MAX_GENERATED),
        default=100,
        help=f"images to generate, at most {MAX_GENERATED} (100)",
    )
    generate.add_argument(
        "--out", required=True, metavar="DIR|grid.png", help="a folder for PNG files, or a .png grid (first row: seeds)"
    )
    generate.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="treat grey seeds as dark ink on light paper and invert them (auto: when "
        "their mean is above 0.5); outputs are written in the seeds' polarity",
    )
    generate.add_argument("--arg", action="append", metavar="key=value", help="extra keyword for generate")
    generate.add_argument("--seed", type=int, help="random_state")
    generate.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    return parser
