"""The ``bayes-scaling`` command.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its arguments and sets
``handler``; :func:`main` parses, dispatches and turns known input errors into exit codes:

- 0: success;
- 1: bad data or dataset (:class:`~bayes_scaling.data.RunsError`,
  :class:`~bayes_scaling.data.DatasetError`, missing file), message on stderr;
- 2: bad command line (argparse's convention).

Examples
--------
>>> main(["datasets"])  # doctest: +SKIP
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from bayes_scaling.data import (
    DatasetError,
    RunsError,
    data_hash,
    dataset_info,
    error_columns,
    list_datasets,
    load_dataset,
    load_runs,
    loss_columns,
)

__all__ = ["build_parser", "main"]

PROG = "bayes-scaling"

Handler = Callable[[argparse.Namespace], int]


def _range(values: pd.Series, fmt: str) -> str:
    lo, hi = values.min(), values.max()
    return format(lo, fmt) if lo == hi else f"{lo:{fmt}} .. {hi:{fmt}}"


def summarize_runs(runs: pd.DataFrame, title: str) -> str:
    """Plain-text summary of a runs table: runs per dataset, size and token-ratio ranges, columns.

    Parameters
    ----------
    runs : pandas.DataFrame
        A validated runs table.
    title : str
        First word of the first line (dataset name or file).

    Returns
    -------
    str

    Examples
    --------
    >>> import pandas as pd
    >>> from bayes_scaling.data import load_runs
    >>> runs = load_runs(pd.DataFrame({"N": [1e8, 4e8], "D": [2e9, 8e9], "loss": [3.1, 2.8]}),
    ...                  params="N", tokens="D", loss="loss")
    >>> print(summarize_runs(runs, "demo").splitlines()[0])
    demo: 2 runs in 1 dataset
    """
    groups = runs.groupby("dataset", sort=True)
    rows = [
        (
            str(name),
            str(len(group)),
            str(group["n_params"].nunique()),
            _range(group["n_params"], ".3g"),
            _range(group["tokens_per_param"], ".3g"),
            _range(group["compute_flops"], ".2e"),
        )
        for name, group in groups
    ]
    header = ("dataset", "runs", "sizes", "n_params", "tokens_per_param", "compute_flops")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    n_sets = runs["dataset"].nunique()
    out = [f"{title}: {len(runs)} runs in {n_sets} dataset{'s' if n_sets != 1 else ''}"]
    out += ["  " + line(header)] + ["  " + line(r) for r in rows]
    losses = loss_columns(runs.columns)
    out.append(f"loss columns ({len(losses)}): {', '.join(losses) if losses else 'none'}")
    errors = error_columns(runs.columns)
    averages = [c for c in errors if c.startswith("err_avg")]
    tasks = len(errors) - len(averages)
    if errors:
        out.append(
            f"error columns: {tasks} per-task err_<task>"
            + (f"; averages: {', '.join(averages)}" if averages else "")
        )
    else:
        out.append("error columns: none")
    out.append(f"data hash: {data_hash(runs)}")
    return "\n".join(out)


def _cmd_datasets(args: argparse.Namespace) -> int:
    if args.summary is None:
        names = list_datasets()
        width = max(len(n) for n in names)
        for name in names:
            info = dataset_info(name)
            print(f"{name.ljust(width)}  {info.description}")
            print(f"{''.ljust(width)}  source: github.com/{info.repository} @ {info.commit[:7]}")
        return 0
    target = args.summary
    if target in list_datasets():
        runs = load_dataset(target, data_dir=args.data_dir, download=not args.offline)
    elif Path(target).suffix:
        mapping = {
            key: value
            for key, value in (
                ("params", args.params),
                ("tokens", args.tokens),
                ("compute", args.compute),
                ("loss", args.loss),
            )
            if value is not None
        }
        runs = load_runs(target, **mapping)
    else:
        raise DatasetError(
            f"unknown dataset {target!r}. Registered: {', '.join(list_datasets())}; "
            "or give a .csv/.tsv/.parquet file of runs."
        )
    print(summarize_runs(runs, target))
    return 0


def _add_datasets(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list registered datasets or summarize one",
        description=(
            "List the registered datasets, or with --summary print a runs summary of a dataset "
            "(downloaded once into the cache if needed) or of a runs file."
        ),
    )
    parser.add_argument(
        "--summary",
        metavar="NAME_OR_FILE",
        help="registered dataset name, or a .csv/.tsv/.parquet runs file",
    )
    parser.add_argument("--data-dir", help="folder holding <name>/ (searched first)")
    parser.add_argument(
        "--offline", action="store_true", help="never download; fail if the data is not local"
    )
    mapping = parser.add_argument_group("column mapping for a runs file (see load_runs)")
    mapping.add_argument("--params", help="column with parameter counts (default n_params)")
    mapping.add_argument("--tokens", help="column with training tokens")
    mapping.add_argument("--compute", help="column with training FLOPs")
    mapping.add_argument("--loss", help="loss column")
    parser.set_defaults(handler=_cmd_datasets)


# Later subcommands (fit, predict, query, backtest, report) add one entry each.
_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None], ...] = (
    _add_datasets,
)


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
        prog=PROG, description="Bayesian scaling laws for language models."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _SUBCOMMANDS:
        add(subparsers)
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
        0 on success, 1 on bad data, 2 on a bad command line.

    Examples
    --------
    >>> main(["datasets", "--summary", "no_such_dataset"])  # doctest: +SKIP
    1
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on usage errors (2)
        return exc.code if isinstance(exc.code, int) else 2
    handler: Handler = args.handler
    try:
        return handler(args)
    except (RunsError, DatasetError, FileNotFoundError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
