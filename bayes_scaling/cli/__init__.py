"""The ``bayes-scaling`` command line: one module per subcommand, one error handler.

Subcommands: ``datasets``, ``fit``, ``predict``, ``query {probability, compute-to-target,
optimal-allocation}``, ``backtest``, ``report`` (modules of the same names). Exit codes, the
input-error type, option choices and shared argument groups are in :mod:`bayes_scaling.cli.common`;
reading inputs (runs, the run filter, targets, saved fits) in :mod:`bayes_scaling.cli.inputs`;
output-location checks and staged writes in :mod:`bayes_scaling.cli.outputs`; exceptions become
messages in :mod:`bayes_scaling.cli.errors`.

Building the parser imports neither JAX nor pandas, so ``--help`` and argument errors answer at
once; handlers import what they need.

Exit codes
----------
- 0: success;
- 1: bad input: data, dataset, targets, saved fit, a path that cannot be read or written (the
  message names the argument, the value and the fix); nothing is written;
- 2: bad command line (argparse's convention);
- 3: sampler diagnostics failed (R-hat, ESS, divergences, BFMI) and ``--allow-warnings`` was
  not given; the outputs are written anyway (a report carries a warning banner);
- 4: internal error, a bug in bayes_scaling (``BAYES_SCALING_DEBUG=1`` shows the traceback);
- 130: interrupted.

Examples
--------
>>> main(["datasets"])  # doctest: +SKIP
0
>>> main(["fit", "gadre2024", "--out", "fit.nc"])  # doctest: +SKIP
0
>>> main(["query", "probability", "fit.nc", "--target", "1.4B:29B",  # doctest: +SKIP
...       "--below", "2.8"])
0
>>> main(["report", "gadre2024", "--out", "report.html"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bayes_scaling._version import __version__
from bayes_scaling.cli import backtest, datasets, fit, plan, predict, query, report
from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    EXIT_DIAGNOSTICS,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_USAGE,
    PROG,
    parse_count,
    parse_target,
)
from bayes_scaling.cli.errors import run_handler

__all__ = [
    "EXIT_DIAGNOSTICS",
    "EXIT_INPUT",
    "EXIT_INTERNAL",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "parse_count",
    "parse_target",
]

_COMMANDS = (datasets, fit, predict, query, plan, backtest, report)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand.

    Returns
    -------
    argparse.ArgumentParser

    Examples
    --------
    >>> build_parser().parse_args(["datasets", "--summary", "gadre2024"]).summary
    'gadre2024'
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Bayesian scaling laws for language models. Intervals are "
        "those of a new run at the target by default (--kind law_mean: the law's mean).",
        epilog=EXIT_CODES_EPILOG)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in _COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code instead of exiting.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit code (see the module docstring).

    Examples
    --------
    >>> main(["datasets", "--summary", "no_such_dataset"])  # doctest: +SKIP
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return run_handler(args.handler, args)
