"""Load any table of training runs into the canonical schema (:func:`load_runs`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import (
    BARE_LOSS,
    LOSS_PREFIX,
    ci_columns,
    error_columns,
    loss_columns,
    order_columns,
    snake_case,
)
from bayes_scaling.data.units import warn_suspect_units
from bayes_scaling.data.validation import CLI_FLAGS, RunsError, _suggest, _validate

__all__ = ["load_runs", "read_table"]

_READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".tab": lambda p: pd.read_csv(p, sep="\t"),
    ".parquet": lambda p: pd.read_parquet(p),
}


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``.csv``, ``.tsv`` or ``.parquet`` file, turning parse failures into RunsError.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    pandas.DataFrame
        The raw table, columns as in the file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    RunsError
        If the type is unsupported or the file cannot be parsed (the message names the file).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "runs.csv"
    >>> _ = p.write_text("N,D,loss\\n100000000,2000000000,3.1\\n")
    >>> read_table(p).columns.tolist()
    ['N', 'D', 'loss']
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise RunsError(
            f"{path}: unsupported file type '{path.suffix}'. Fix: give a .csv, .tsv or .parquet "
            "file, or a pandas DataFrame."
        )
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a table file. Fix: give the path of "
                                "a .csv, .tsv or .parquet file inside it.")
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    from bayes_scaling._files import check_regular_file

    check_regular_file(path)  # a named pipe or device: refused before opening (no hang)
    try:
        table = reader(path)
    except ImportError as err:
        raise RunsError(
            f"{path}: reading .parquet files needs the pyarrow package, which is not "
            "installed. Fix: pip install pyarrow, or save the table as .csv."
        ) from err
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise RunsError(f"{path}: cannot parse the table ({err}). Fix: check the file.") from err
    _check_separator(table, path)
    return table


def _check_separator(table: pd.DataFrame, path: Path) -> None:
    """A table read with the wrong separator comes back as one column holding the rest."""
    if table.shape[1] != 1:
        return
    header = str(table.columns[0])
    for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
        if sep in header:
            hint = ("save it with commas, or read it yourself with pd.read_csv(path, sep=';') "
                    "(decimal=',' if the numbers use decimal commas) and pass the DataFrame"
                    if sep == ";" else f"save it with commas or as .tsv ({name}-separated)")
            raise RunsError(
                f"{path}: the file looks {name}-separated (its header is one column "
                f"{header[:80]!r}); .csv files are read comma-separated. Fix: {hint}."
            )


def _loss_column_name(user_column: str, eval_name: str | None = None) -> str:
    """Canonical loss column for a user column: 'val_loss' -> 'loss_val', 'loss' stays 'loss'."""
    name = snake_case(eval_name if eval_name is not None else user_column)
    if name == BARE_LOSS:
        return BARE_LOSS
    if name.startswith(LOSS_PREFIX):
        return name
    if eval_name is None:
        # Drop the word "loss" itself: 'val_loss' is the loss on 'val', not on 'val_loss'.
        name = "_".join(part for part in name.split("_") if part != "loss")
    return LOSS_PREFIX + (name or "eval")


def _require_columns(table: pd.DataFrame, wanted: Mapping[str, str], source: str) -> None:
    missing = [(canon, user) for canon, user in wanted.items() if user not in table.columns]
    if missing:
        parts = [
            f"'{user}' (for {canon}){_suggest(user, table.columns)}" for canon, user in missing
        ]
        have = ", ".join(repr(str(c)) for c in table.columns)
        flags = [CLI_FLAGS.get(canon, "--loss" if canon.startswith(LOSS_PREFIX)
                               or canon == BARE_LOSS else canon) for canon, _ in missing]
        raise RunsError(
            f"{source}: column(s) not found: {'; '.join(parts)}. The table has: {have}. "
            "Fix: pass the right column name to load_runs.",
            column=missing[0][0],
            cli_fix=f"give {' and '.join(dict.fromkeys(flags))} a column of the table.",
        )


def load_runs(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    params: str = "n_params",
    tokens: str | None = None,
    compute: str | None = None,
    loss: str | Mapping[str, str] | None = None,
    dataset: str | None = None,
    run_id: str | None = None,
    loss_range: tuple[float, float] | None = None,
    **extra_mapping: str,
) -> pd.DataFrame:
    """Map a table of training runs onto the canonical schema, derive what is missing, validate.

    Parameters
    ----------
    source : str, path-like or pandas.DataFrame
        A ``.csv``, ``.tsv`` or ``.parquet`` file, or a DataFrame (not modified).
    params : str, default "n_params"
        Column with the parameter count N (all parameters, raw count). Rounded to int64.
    tokens : str, optional
        Column with training tokens D. Defaults to ``n_tokens`` if the table has it.
    compute : str, optional
        Column with training compute C in FLOPs. Defaults to ``compute_flops`` if present.
        Give ``tokens`` or ``compute`` (or both): D = C / (6 N) and C = 6 N D fill the gap.
    loss : str or mapping, optional
        Loss column(s). A single name becomes ``loss_<name without the word 'loss'>``
        (``"val_loss"`` -> ``loss_val``; ``"loss"`` stays ``loss``). A mapping
        ``{user_column: eval_name}`` names them yourself (``{"c4": "c4_val"}`` -> ``loss_c4_val``).
        Columns already named ``loss_<eval>`` need no mapping.
    dataset : str, optional
        Column with the training-corpus label. Default: the ``dataset`` column, or else the
        file's stem (``"runs"`` for a DataFrame) for every row.
    run_id : str, optional
        Column with unique run ids, e.g. your run names (``run_id="name"``; converted to str,
        and carried as ``run_id`` to every output: fits, backtests, plans, reports; CLI:
        ``--name COLUMN``). Default: the ``run_id`` column, or else
        ``"<dataset>-<row position>"``.
    loss_range : (float, float), optional
        Plausible range of the losses, default (0.1, 20) nats/token
        (:data:`~bayes_scaling.data.schema.LOSS_RANGE`). A range given here is recorded in
        ``runs.attrs["loss_range"]``, where :func:`~bayes_scaling.data.validate_runs` and the
        estimators find it.
    **extra_mapping : str
        More ``canonical_name=user_column`` pairs, e.g. ``err_avg17="avg_err"`` or
        ``loss_c4_val_ci="c4_halfwidth"``. Unmapped columns are kept under their own names.

    Returns
    -------
    pandas.DataFrame
        Canonical runs table: required columns first, then losses, errors and the rest; the
        index of the source is kept. Reruns at the same (dataset, N, D) that measured
        different values are kept as replicates (a ``seed`` column, if any, is part of that
        key); rows that repeat a run exactly are refused.

    Warns
    -----
    SuspectUnitsWarning
        A loss column that looks like perplexity, bits or log10, or an error column that looks
        like accuracy (:mod:`bayes_scaling.data.units`), naming the column.

    Raises
    ------
    RunsError
        If a named column is missing, a value is not a number, NaN, infinite, not positive,
        implausibly small (sizes in billions), an error rate is outside [0, 1], run ids repeat,
        or two rows describe the same run differently. The message names the row and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"N": [1e8, 4e8], "C": [1.2e18, 1.92e19], "val_loss": [3.1, 2.8]})
    >>> runs = load_runs(table, params="N", compute="C", loss="val_loss")
    >>> runs[["n_params", "n_tokens", "tokens_per_param", "loss_val"]]
        n_params      n_tokens  tokens_per_param  loss_val
    0  100000000  2.000000e+09              20.0       3.1
    1  400000000  8.000000e+09              20.0       2.8
    """
    if isinstance(source, pd.DataFrame):
        table = source.copy()
        where = "table"
        default_dataset = "runs"
    elif isinstance(source, (str, os.PathLike)):
        table = read_table(source)
        where = str(source)
        default_dataset = snake_case(Path(source).stem) or "runs"
    else:
        raise RunsError(
            f"load_runs needs a file path or a pandas DataFrame, got {type(source).__name__}."
        )
    table.columns = [str(c) for c in table.columns]

    if tokens is None and compute is None:
        tokens = "n_tokens" if "n_tokens" in table.columns else None
        compute = "compute_flops" if "compute_flops" in table.columns else None
        if tokens is None and compute is None:
            raise RunsError(
                f"{where}: no training tokens or compute. Fix: pass tokens='<column with D>' or "
                "compute='<column with training FLOPs>' to load_runs.",
                column="n_tokens",
                cli_fix="name the column of training tokens with --tokens COLUMN, or of "
                        "training FLOPs with --compute COLUMN.",
            )

    # canonical name -> user column
    wanted: dict[str, str] = {"n_params": params}
    if tokens is not None:
        wanted["n_tokens"] = tokens
    if compute is not None:
        wanted["compute_flops"] = compute
    if dataset is not None:
        wanted["dataset"] = dataset
    if run_id is not None:
        wanted["run_id"] = run_id
    if isinstance(loss, str):
        wanted[_loss_column_name(loss)] = loss
    elif loss is not None:
        for user, eval_name in loss.items():
            wanted[_loss_column_name(user, eval_name)] = user
    for canon, user in extra_mapping.items():
        if canon in wanted and wanted[canon] != user:
            raise RunsError(
                f"{where}: '{canon}' is mapped twice ('{wanted[canon]}' and '{user}'). "
                "Fix: map each canonical column once.",
                column=canon,
            )
        wanted[canon] = user
    _require_columns(table, wanted, where)

    users = list(wanted.values())
    reused = sorted({u for u in users if users.count(u) > 1})
    if reused:
        raise RunsError(
            f"{where}: column '{reused[0]}' is mapped to several canonical columns "
            f"({', '.join(c for c, u in wanted.items() if u == reused[0])}). "
            "Fix: map each source column once.",
            column=reused[0],
        )
    for canon, user in wanted.items():
        if canon != user and canon in table.columns:
            raise RunsError(
                f"{where}: the table has a column '{canon}' and you also mapped '{user}' to it. "
                f"Fix: drop or rename one of them.",
                column=canon,
            )
    table = table.rename(columns={user: canon for canon, user in wanted.items()})
    labels = dict(wanted)

    if "dataset" not in table.columns:
        table["dataset"] = default_dataset
    elif not table["dataset"].isna().any():
        table["dataset"] = table["dataset"].astype(str)
    if "run_id" not in table.columns:
        width = len(str(max(len(table) - 1, 0)))
        table["run_id"] = [
            f"{ds}-{i:0{width}d}" for i, ds in enumerate(table["dataset"].astype(str))
        ]
    elif not table["run_id"].isna().any():
        table["run_id"] = table["run_id"].astype(str)

    # First pass on the columns as given, so that a bad value is reported in the user's column,
    # before anything is derived from it.
    given = [c for c in ("n_params", "n_tokens", "compute_flops") if c in wanted]
    _validate(table, required=given, labels=labels, integral_params=False, loss_range=loss_range)

    n_params = np.rint(table["n_params"].to_numpy(dtype=np.float64)).astype(np.int64)
    table["n_params"] = n_params
    if "compute_flops" in table.columns:
        table["compute_flops"] = table["compute_flops"].to_numpy(dtype=np.float64)
    if "n_tokens" in table.columns:
        table["n_tokens"] = table["n_tokens"].to_numpy(dtype=np.float64)
    else:
        table["n_tokens"] = table["compute_flops"].to_numpy() / (6.0 * n_params)
    if "compute_flops" not in table.columns:
        table["compute_flops"] = 6.0 * n_params * table["n_tokens"].to_numpy()
    table["tokens_per_param"] = table["n_tokens"].to_numpy() / n_params
    for column in loss_columns(table.columns) + ci_columns(table.columns) + error_columns(
        table.columns
    ):
        table[column] = pd.to_numeric(table[column]).astype(np.float64)

    table = table[order_columns(table.columns)]
    _validate(table, labels=labels, loss_range=loss_range)
    warn_suspect_units(table, labels, check_loss_values=loss_range is None)
    if loss_range is not None:
        table.attrs["loss_range"] = tuple(float(v) for v in loss_range)
    return table

