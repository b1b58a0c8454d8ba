"""User errors of the command line: one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

EXIT_USAGE = 2


class UsageError(Exception):
    """A user error: reported as one line with exit code 2."""


def one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (its type name when it has none)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__


def is_user_error(err: BaseException) -> bool:
    """Errors that mean "the input was wrong", reported in one line (exit code 2)."""
    if isinstance(err, (UsageError, ValueError, OSError)):
        return True
    from sklearn.exceptions import NotFittedError

    from metaaug.distributed import DistributedTrainingError

    return isinstance(err, (NotFittedError, DistributedTrainingError))
