"""Kept for ``python -m bayes_scaling.cli.main`` and old imports; the command lives in
:mod:`bayes_scaling.cli` (one module per subcommand)."""

from __future__ import annotations

import sys

from bayes_scaling.cli import EXIT_DIAGNOSTICS, build_parser, main, parse_count, parse_target
from bayes_scaling.cli.datasets import summarize_runs

__all__ = ["EXIT_DIAGNOSTICS", "build_parser", "main", "parse_count", "parse_target",
           "summarize_runs"]

if __name__ == "__main__":
    sys.exit(main())
