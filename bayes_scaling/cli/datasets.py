"""``bayes-scaling datasets``: list the registered datasets, or summarise one or a runs file."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bayes_scaling.cli.common import (
    EXIT_CODES_EPILOG,
    EXIT_OK,
    CliInputError,
    add_data_options,
)
from bayes_scaling.cli.inputs import (
    check_input_file,
    column_mapping,
    runs_notices,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["add_parser", "summarize_runs"]


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
    from bayes_scaling.data import data_hash, error_columns, loss_columns

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
    from bayes_scaling.data.units import loss_like_columns

    losses = loss_columns(runs.columns)
    like = loss_like_columns(runs.columns)
    if losses:
        out.append(f"loss columns ({len(losses)}): {', '.join(losses)}")
    else:
        out.append("loss columns: none named loss or loss_<eval>")
    if like:
        out.append(f"columns that look like losses ({len(like)}): {', '.join(like)}; pick one "
                   f"with --loss COLUMN (e.g. --loss {like[0]})")
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
    width = len(str(max(len(runs) - 1, 0)))
    invented = [f"{ds}-{i:0{width}d}" for i, ds in enumerate(runs["dataset"].astype(str))]
    named = runs["run_id"].astype(str).tolist() != invented
    out.append("run ids: " + ("from the file" if named else
                              "numbered <dataset>-<row> (map a column of run names with "
                              "--name COLUMN)"))
    out.append(f"data hash: {data_hash(runs)}")
    return "\n".join(out)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from bayes_scaling.data import dataset_info, list_datasets, load_dataset, load_runs

    if args.summary is None:
        names = list_datasets()
        width = max(len(n) for n in names)
        for name in names:
            info = dataset_info(name)
            print(f"{name.ljust(width)}  {info.description}")
            print(f"{''.ljust(width)}  source: github.com/{info.repository} @ {info.commit[:7]}"
                  f" ({info.licence})")
        return EXIT_OK
    target = args.summary
    if target in list_datasets():
        runs = load_dataset(target, data_dir=args.data_dir, download=not args.offline)
    elif "." in target.rsplit("/", 1)[-1] or "/" in target:
        path = check_input_file(target, "--summary")
        runs = load_runs(path, **column_mapping(args))
    else:
        raise CliInputError("--summary", target, "unknown dataset, and no such file",
                            f"give a registered dataset ({', '.join(list_datasets())}) or the "
                            "path of a .csv/.tsv runs file")
    print(summarize_runs(runs, target))
    runs_notices(runs)
    from bayes_scaling.data import loss_columns
    from bayes_scaling.data.units import loss_like_columns

    if not loss_columns(runs.columns):
        like = loss_like_columns(runs.columns)
        fix = (f"pick the loss with --loss {like[0]}" if like else
               "name the file's loss column with --loss COLUMN")
        raise CliInputError("--summary", target, "the runs have no loss column a fit can use"
                            + (f" (columns that look like losses: {', '.join(like)})"
                               if like else ""), fix)
    return EXIT_OK


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "datasets",
        help="list registered datasets or summarize one",
        description=(
            "List the registered datasets, or with --summary print a runs summary of a dataset "
            "or of a runs file. gadre2024 is shipped in the package; chinchilla_epoch is "
            "downloaded once into the cache (or read from --data-dir)."
        ),
        epilog=EXIT_CODES_EPILOG,
    )
    parser.add_argument(
        "--summary",
        metavar="NAME_OR_FILE",
        help="registered dataset name, or a .csv/.tsv runs file",
    )
    add_data_options(parser)
    parser.set_defaults(handler=_cmd_datasets)
