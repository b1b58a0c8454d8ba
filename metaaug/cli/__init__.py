"""The ``metaaug`` command line.

Subcommands::

    metaaug demo [--data PATH|digits] [--quick] [--out-dir DIR]
    metaaug fit METHOD --data PATH|digits|omniglot-subset --out model.pt [--param key=value ...]
    metaaug sample-tasks model.pt --n-tasks N --ways 5 --shots 1 --queries 15 --out tasks.pt|grid.png
    metaaug generate model.pt --seeds DIR|FILES --n 100 --out DIR|grid.png

User errors (bad arguments, unreadable or wrong files, estimators that are not
installed, invalid parameter values) end with exit code 2 and one line on
stderr, never a traceback. Set ``METAAUG_DEBUG=1`` to see the traceback of such
an error anyway. ``METAAUG_THREADS=N`` sets torch's thread count.

The package: :mod:`~metaaug.cli.parser` (arguments),
:mod:`~metaaug.cli.io` (files in and out), :mod:`~metaaug.cli.commands` (what
each command does), :mod:`~metaaug.cli.errors` (how errors are reported).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from metaaug.cli.errors import EXIT_USAGE, is_user_error, one_line
from metaaug.cli.parser import build_parser

__all__ = ["main"]


def _set_threads() -> None:
    """``METAAUG_THREADS=N``: the project's convention for machines shared with other work."""
    threads = os.environ.get("METAAUG_THREADS", "").strip()
    if threads.isdigit() and int(threads) > 0:
        import torch

        torch.set_num_threads(int(threads))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    try:  # argparse reports bad arguments (and answers --help) by exiting: return its code instead
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command is None:
            parser.error("a command is required: demo, fit, sample-tasks or generate")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    prog = f"metaaug {args.command}"
    _set_threads()
    from metaaug.cli.commands import COMMANDS  # imports torch: only once the arguments are known to be valid

    try:
        return int(COMMANDS[args.command](args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not is_user_error(err) or os.environ.get("METAAUG_DEBUG"):
            raise
        print(f"{prog}: error: {one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
