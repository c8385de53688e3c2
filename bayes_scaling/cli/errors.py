"""The one place where an exception becomes a message and an exit code, and a warning a
message.

Every subcommand's handler runs inside :func:`run_handler`. The package's error types and OS
errors on user paths become ``bayes-scaling: error: <message>`` and exit code 1 (the message
names the argument or file, the value and the fix, on one line, in the words of the command
line: where a :class:`~bayes_scaling.data.RunsError` carries a ``cli_fix``, that replaces its
Python fix);
anything else is a bug in the package and becomes an "internal error" with exit code 4
(``BAYES_SCALING_DEBUG=1`` re-raises it, with its traceback). Warnings the package raises
(extrapolation, suspect units, saved files) are printed as ``bayes-scaling: warning:
<message>``, once each, without Python's source path and line. A closed standard output
(``... | head``) ends the command quietly with exit code 141, as standard tools end.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from bayes_scaling.cli.common import (
    EXIT_BROKEN_PIPE,
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
        text = " ".join(str(err).split("\n")[0].split())
        cli_fix = getattr(err, "cli_fix", None)
        if cli_fix and " Fix: " in text:  # the same problem, the fix in the CLI's flags
            text = text[: text.rindex(" Fix: ")] + " Fix: " + cli_fix
        return text, EXIT_INPUT
    if isinstance(err, ValueError):
        # the library's input checks (columns, selections, thresholds, sampler settings) raise
        # ValueError with a message that names the value and the fix
        return " ".join(str(err).split()), EXIT_INPUT
    return (f"internal error ({type(err).__name__}: {err}); this is a bug in bayes_scaling, "
            f"please report it with the command line (set {DEBUG_ENV}=1 for the traceback)",
            EXIT_INTERNAL)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: the message as a CLI warning, no path."""
    from bayes_scaling.cli.outputs import say

    say(f"{PROG}: warning: {' '.join(str(message).split())}")


def _quiet_stdout() -> None:
    """Point standard output at /dev/null so that the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (captured in tests): nothing to do
        pass


def run_handler(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand's handler; turn any exception into a message on stderr and a code,
    and every warning into a message."""
    import warnings

    with warnings.catch_warnings():
        # the package's warnings (UserWarning subclasses) are messages, each distinct one once;
        # other categories keep the filters in force
        warnings.simplefilter("default", UserWarning)
        warnings.showwarning = _show_warning
        try:
            code = handler(args)
            sys.stdout.flush()
            return code
        except BrokenPipeError:
            _quiet_stdout()
            return EXIT_BROKEN_PIPE
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted; nothing partial was written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as err:  # noqa: BLE001 - the one top-level handler
            message, code = message_for(err)
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            # one line, never wrapped: scripts and logs grep it (the only output that may pass
            # 100 columns, with a long path in it)
            print(f"{PROG}: error: {message}", file=sys.stderr)
            return code
