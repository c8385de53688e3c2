"""What a ``bayes-scaling`` subcommand reads: input files, the runs table, targets and saved fits.

Owns the input checks (:func:`check_input_file`), loading the runs of a dataset or file with the
column mapping (:func:`load_source_runs`, :func:`column_mapping`), the run filter behind every
``--query`` (:func:`filter_runs`), the choice of loss and error columns (:func:`loss_column`,
:func:`check_error_column`), the targets of ``--target``/``--targets-csv``
(:func:`read_targets`) and loading a saved fit (:func:`load_model`). Every problem becomes a
:class:`~bayes_scaling.cli.common.CliInputError`.

Nothing here imports JAX or pandas at import time; the functions import what they need.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bayes_scaling.cli.common import CliInputError, check_diagnostics

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "check_error_column",
    "check_input_file",
    "column_mapping",
    "filter_runs",
    "input_paths",
    "load_model",
    "load_source_runs",
    "loss_column",
    "n_posterior_draws",
    "read_mapped_table",
    "read_targets",
    "runs_notices",
]


# ------------------------------------------------------------------------------- input files


#: Every input-file option of any subcommand: (attribute of the parsed arguments, argument).
_INPUT_OPTIONS = (("source", "DATASET_OR_FILE"), ("fit", "FIT.nc"), ("error_fit", "--error-fit"),
                  ("targets_csv", "--targets-csv"), ("candidates_csv", "--candidates-csv"),
                  ("backtest_csv", "--backtest-csv"))


def input_paths(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The (argument, path) of every input file a command line names (a registered dataset's
    name is not a path and is left out), for the outputs-are-not-inputs checks."""
    out = []
    for attr, argument in _INPUT_OPTIONS:
        value = getattr(args, attr, None)
        if isinstance(value, str) and value and Path(value).exists():
            out.append((argument, value))
    return out


def check_input_file(path: str | os.PathLike[str], argument: str) -> Path:
    """An existing, readable regular file (not a folder, named pipe, device or socket: those
    are refused before they are opened, so nothing hangs); raises :class:`CliInputError`
    otherwise."""
    from bayes_scaling._files import check_regular_file

    p = Path(path)
    if p.is_dir():
        raise CliInputError(argument, path, "is a folder, not a file", "give the file's path")
    if not p.exists():
        raise CliInputError(argument, path, "no such file", "check the path")
    try:
        check_regular_file(p)
    except OSError as err:
        raise CliInputError(argument, path, str(err).split(";")[0].replace(f"{p} ", "", 1),
                            "give the path of a file saved on disk (copy a stream to a file "
                            "first)") from None
    try:
        with p.open("rb") as f:
            f.read(1)
    except OSError as err:
        raise CliInputError(argument, path, f"cannot be read ({err.strerror or err})",
                            "check the file's permissions") from err
    return p


# ----------------------------------------------------------------- runs, targets, saved fits


def filter_runs(runs: pd.DataFrame, expr: str | None, argument: str = "--query") -> pd.DataFrame:
    """The runs matching a user's filter expression; every ``--query`` goes through here.

    The expression is parsed by the package's filter grammar
    (:mod:`bayes_scaling.data.filters`: columns, comparisons, numbers, quoted strings,
    ``and``/``or``/``not``, parentheses, ``in [...]``) and applied by boolean indexing; it is
    never evaluated as code.

    Raises
    ------
    CliInputError
        A malformed expression, or one that keeps no run.
    """
    from bayes_scaling.data.filters import FilterError
    from bayes_scaling.data.filters import filter_runs as apply_filter

    if expr is None:
        return runs
    if not expr.strip():
        raise CliInputError(argument, expr, "is empty", 'give an expression such as '
                            '"tokens_per_param <= 80", or leave the option out')
    try:
        kept = apply_filter(runs, expr)
    except FilterError as err:
        # the grammar's message spans lines (position, example); the CLI says it on one
        raise CliInputError(argument, expr, f"is not a valid filter ({' '.join(str(err).split())})",
                            "compare columns with numbers or quoted strings, e.g. "
                            "\"dataset == 'rpj' and n_params < 1e9\"") from err
    if len(kept) == 0:
        raise CliInputError(argument, expr, f"keeps none of the {len(runs)} runs",
                            "loosen the expression")
    return kept


def column_mapping(args: argparse.Namespace) -> dict[str, str]:
    """``load_runs`` keyword arguments from ``--params/--tokens/--compute/--name/--loss``."""
    pairs = (("params", args.params), ("tokens", args.tokens), ("compute", args.compute),
             ("run_id", getattr(args, "name", None)), ("loss", args.loss))
    return {k: v for k, v in pairs if v is not None}


def runs_notices(runs: pd.DataFrame) -> None:
    """Say what the package made of the runs where a user would not guess it: replicates."""
    from bayes_scaling.cli.common import PROG
    from bayes_scaling.cli.outputs import say
    from bayes_scaling.data.validation import describe_replicates

    notice = describe_replicates(runs)
    if notice:
        say(f"{PROG}: note: {notice} (a 'seed' column, if given, tells reruns apart)")


def load_source_runs(args: argparse.Namespace) -> pd.DataFrame:
    """The runs of ``args.source``: a registered dataset or a runs file, checked first."""
    from bayes_scaling.data import list_datasets
    from bayes_scaling.report.presets import load_source

    source = args.source
    if source not in list_datasets():
        if not Path(source).suffix and not Path(source).exists():
            raise CliInputError("DATASET_OR_FILE", source, "unknown dataset, and no such file",
                                f"give a registered dataset ({', '.join(list_datasets())}) or "
                                "the path of a .csv/.tsv runs file")
        check_input_file(source, "DATASET_OR_FILE")
    mapping = column_mapping(args)
    if source in list_datasets():
        mapping = {}  # registered datasets have canonical columns; --loss picks one below
    runs = load_source(source, data_dir=args.data_dir, offline=args.offline, mapping=mapping)
    runs_notices(runs)
    return runs


def loss_column(runs: pd.DataFrame, args: argparse.Namespace, default: str | None = None) -> str:
    """The loss column to model: ``--loss`` (its name after loading), else ``default``, else
    ``loss_c4_val`` or the only loss column."""
    from bayes_scaling.data import loss_columns

    have = loss_columns(runs.columns)
    wanted = args.loss
    if wanted is not None:
        if wanted in runs.columns:
            return wanted
        # a file column mapped by load_runs: 'val_loss' -> 'loss_val'
        from bayes_scaling.data.tables import _loss_column_name

        mapped = _loss_column_name(wanted)
        if mapped in runs.columns:
            return mapped
        raise CliInputError("--loss", wanted, "is not a column of the runs",
                            f"give one of {', '.join(have) or '(none: add a loss column)'}")
    if default is not None and default in runs.columns:
        return default
    if "loss_c4_val" in have:
        return "loss_c4_val"
    if len(have) == 1:
        return have[0]
    if not have:
        from bayes_scaling.data.units import loss_like_columns

        like = loss_like_columns(runs.columns)
        if like:
            raise CliInputError("--loss", None, "the runs have no column named loss or "
                                f"loss_<eval>; column(s) that look like losses: "
                                f"{', '.join(like)}", f"pick one with --loss {like[0]}")
        raise CliInputError("--loss", None, "the runs have no loss column",
                            "name the file's loss column with --loss COLUMN")
    raise CliInputError("--loss", None, f"the runs have {len(have)} loss columns",
                        f"choose one with --loss, e.g. --loss {have[0]}")


def check_error_column(runs: pd.DataFrame, column: str | None, argument: str = "--error") -> None:
    if column is None:
        return
    from bayes_scaling.data import error_columns

    if column not in runs.columns:
        have = error_columns(runs.columns)
        raise CliInputError(argument, column, "is not a column of the runs",
                            "give one of " + (", ".join(have[:6]) + (" ..." if len(have) > 6
                                                                     else "")
                                              if have else "(none: the runs have no err_ "
                                              "column)"))
    if runs[column].notna().sum() < 3:
        raise CliInputError(argument, column, "has fewer than 3 values in the selected runs",
                            "select more runs or another error column")


def read_mapped_table(path_arg: str, argument: str, args: argparse.Namespace,
                      numeric: tuple[str, ...] = ("n_params", "n_tokens", "compute_flops",
                                                  "tokens_per_param"),
                      example: str = "n_params,n_tokens") -> pd.DataFrame:
    """A targets or candidates CSV with the runs' column mapping applied: ``--params``,
    ``--tokens``, ``--compute`` and ``--name`` rename a column the file has to ``n_params``,
    ``n_tokens``, ``compute_flops`` and ``run_id`` (a file already in those names needs no
    flag); every size column must hold plain positive numbers."""
    import pandas as pd

    from bayes_scaling.cli.common import MAPPING_FLAGS

    path = check_input_file(path_arg, argument)
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CliInputError(argument, path_arg, f"cannot be parsed ({' '.join(str(err).split())})",
                            f"give a CSV with columns {example}") from err
    table.columns = [str(c) for c in table.columns]
    rename = {}
    for flag, canon in MAPPING_FLAGS:
        user = getattr(args, flag, None)
        if user is None or user == canon:
            continue
        if user in table.columns:
            if canon in table.columns:
                raise CliInputError(argument, path_arg, f"has both {user!r} (given by --{flag})"
                                    f" and {canon!r}", "drop or rename one of the two columns")
            rename[user] = canon
    table = table.rename(columns=rename)
    for column in numeric:
        if column in table.columns and not pd.api.types.is_numeric_dtype(table[column]):
            numbers = pd.to_numeric(table[column], errors="coerce")
            bad = table.loc[numbers.isna() & table[column].notna(), column]
            if len(bad):
                raise CliInputError(
                    argument, path_arg,
                    f"column {column!r} holds {str(bad.iloc[0])!r} (row {bad.index[0]}), "
                    "not a number", "write plain numbers such as 1.4e9 (no K/M/B suffixes)")
    if "run_id" in table.columns:
        if table["run_id"].isna().any() or table["run_id"].astype(str).duplicated().any():
            raise CliInputError(argument, path_arg, "its run_id (name) column has empty or "
                                "repeated values", "give every row its own name")
        table["run_id"] = table["run_id"].astype(str)
    return table


def resolve_mapped(table: pd.DataFrame, argument: str, value: str) -> pd.DataFrame:
    """``resolve_targets`` of a mapped table, its errors said in the CLI's words."""
    from bayes_scaling.data.targets import TargetError, resolve_targets

    try:
        return resolve_targets(table)
    except TargetError as err:
        text = " ".join(str(err).split())
        if "need columns" in text:
            raise CliInputError(argument, value, f"has columns {', '.join(map(repr, table.columns))}"
                                ", not n_params and n_tokens (or compute_flops and "
                                "tokens_per_param)", "name its columns with --params COLUMN "
                                "and --tokens COLUMN (or --compute COLUMN), or rename them"
                                ) from None
        raise CliInputError(argument, value, text.split(" Fix: ")[0].rstrip("."),
                            text.split(" Fix: ")[1] if " Fix: " in text else
                            "give plain positive numbers") from None


def read_targets(args: argparse.Namespace, *, required: bool = True) -> pd.DataFrame | None:
    """Targets from repeated ``--target N:D`` and/or ``--targets-csv`` (its columns mapped by
    ``--params/--tokens/--compute/--name``). A ``run_id`` column (the targets' names) is kept;
    when some targets have names, the ``--target`` ones are named ``N:D``."""
    import pandas as pd

    from bayes_scaling.data.targets import resolve_targets

    frames = []
    if getattr(args, "target", None):
        frames.append(resolve_targets(pd.DataFrame(args.target, columns=["n_params",
                                                                         "n_tokens"])))
    if getattr(args, "targets_csv", None):
        table = read_mapped_table(args.targets_csv, "--targets-csv", args)
        frames.append(resolve_mapped(table, "--targets-csv", args.targets_csv))
    if not frames:
        if required:
            raise CliInputError("--target", None, "no targets given",
                                "give --target N:D (repeatable) or --targets-csv FILE with "
                                "n_params,n_tokens (or compute_flops,tokens_per_param)")
        return None
    # each source is resolved on its own: one may give sizes, the other compute and ratio
    out = pd.concat(frames, ignore_index=True)
    if "run_id" in out.columns:
        from bayes_scaling.report.tables import si

        missing = out["run_id"].isna()
        out.loc[missing, "run_id"] = [f"{si(n)}:{si(d)}" for n, d in zip(
            out.loc[missing, "n_params"], out.loc[missing, "n_tokens"], strict=True)]
        out.insert(0, "run_id", out.pop("run_id").astype(str))
    return out


def n_posterior_draws(model) -> int:
    """Posterior draws (chains x draws) of a loss law or of a predictor's loss law."""
    law = getattr(model, "loss_law", model)
    sizes = law.idata.posterior.sizes
    return int(sizes["chain"] * sizes["draw"])


def load_model(args: argparse.Namespace) -> tuple[Any, int]:
    """The saved loss law (with the error law when ``--error-fit``) and the diagnostics' exit
    code."""
    check_input_file(args.fit, "FIT.nc")
    if getattr(args, "error_fit", None):
        check_input_file(args.error_fit, "--error-fit")
    from bayes_scaling.estimators.loss_law import LossLaw

    law = LossLaw.load(args.fit)
    code = check_diagnostics("loss-law", law.diagnostics(warn=False), args)
    if getattr(args, "error_fit", None):
        from bayes_scaling.estimators.error_law import ErrorLaw
        from bayes_scaling.predict.predictor import ScalingPredictor

        err = ErrorLaw.load(args.error_fit)
        code = max(code, check_diagnostics("error-law", err.diagnostics(warn=False), args))
        return ScalingPredictor(law, err), code
    return law, code
