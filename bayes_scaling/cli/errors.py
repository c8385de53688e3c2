"""The one place where an exception becomes a one-line message and an exit code.

Every subcommand's handler runs inside :func:`run_handler`. The package's error types and OS
errors on user paths become ``bayes-scaling: error: <message>`` and exit code 1 (the message
names the argument or file, the value and the fix); anything else is a bug in the package and
becomes a one-line "internal error" with exit code 4 (``BAYES_SCALING_DEBUG=1`` re-raises it,
with its traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from bayes_scaling.cli.common import (
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    PROG,
    CliInputError,
)

__all__ = ["input_error_types", "message_for", "run_handler"]

DEBUG_ENV = "BAYES_SCALING_DEBUG"


def input_error_types() -> tuple[type[BaseException], ...]:
    """The exception types that mean bad input (not a bug), imported only when needed."""
    from bayes_scaling.data import DatasetError, RunsError
    from bayes_scaling.data.targets import TargetError

    types: list[type[BaseException]] = [CliInputError, RunsError, DatasetError, TargetError]
    # the estimator layer is imported only by commands that fit or load; an error raised
    # before it was imported cannot be one of its types
    io = sys.modules.get("bayes_scaling.estimators.io")
    if io is not None:
        types.append(io.FitFileError)
    loss_law = sys.modules.get("bayes_scaling.estimators.loss_law")
    if loss_law is not None:
        types.append(loss_law.NotFittedError)
    return tuple(types)


def message_for(err: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception raised by a handler."""
    if isinstance(err, OSError):
        # a user path that cannot be read or written (missing, folder, permission, disk full)
        where = f" {err.filename!r}" if getattr(err, "filename", None) else ""
        reason = err.strerror or str(err) or type(err).__name__
        fix = {
            "FileNotFoundError": "check the path",
            "IsADirectoryError": "give a file, not a folder",
            "NotADirectoryError": "give a path inside an existing folder",
            "PermissionError": "check the permissions, or use another path",
        }.get(type(err).__name__, "check the path and the free disk space")
        return f"{reason}{where}. Fix: {fix}", EXIT_INPUT
    if isinstance(err, input_error_types()):
        return " ".join(str(err).split("\n")[0].split()), EXIT_INPUT
    if isinstance(err, ValueError):
        # the library's input checks (columns, selections, thresholds, sampler settings) raise
        # ValueError with a message that names the value and the fix
        return " ".join(str(err).split()), EXIT_INPUT
    return (f"internal error ({type(err).__name__}: {err}); this is a bug in bayes_scaling, "
            f"please report it with the command line (set {DEBUG_ENV}=1 for the traceback)",
            EXIT_INTERNAL)


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand's handler; turn any exception into a message on stderr and a code."""
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing partial was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - the one top-level handler
        message, code = message_for(err)
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return code
