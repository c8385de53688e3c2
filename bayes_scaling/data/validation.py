"""Checks on runs tables: errors that name the row and the fix (design warnings:
:mod:`bayes_scaling.data.identifiability`; the content hash: :mod:`bayes_scaling.data.hashing`)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import (
    COMPUTE_RATIO_TOLERANCE,
    ERR_PREFIX,
    LOSS_PREFIX,
    LOSS_RANGE,
    MAX_N_PARAMS,
    MAX_N_TOKENS,
    MIN_N_PARAMS,
    MIN_N_TOKENS,
    REQUIRED_COLUMNS,
    SIZE_COLUMNS,
    ci_columns,
    error_columns,
    loss_columns,
)

__all__ = [
    "RunsError",
    "check_fit_runs",
    "describe_replicates",
    "validate_runs",
]

# How many offending rows an error message lists before it says "and k more".
_MAX_ROWS_SHOWN = 5
# Relative tolerance for derived columns (tokens_per_param) and for "distinct" sizes: float64
# round-off in D / N is ~1e-16, while real design points differ by far more than 1e-6.
_RTOL = 1e-6


class RunsError(ValueError):
    """A runs table (or the file it came from) is not usable as it stands.

    The message names the column, the rows (by index label and ``run_id`` where known) or the
    file, and says how to fix it.

    Attributes
    ----------
    column : str or None
        The canonical column at fault, if one is.
    rows : tuple
        Index labels of the offending rows (possibly truncated to the first few).
    cli_fix : str or None
        The fix in the words of the ``bayes-scaling`` command line (its flags instead of
        Python arguments), where the two differ; the CLI shows it in place of the message's
        ``Fix:`` part.

    Examples
    --------
    >>> import pandas as pd
    >>> try:
    ...     validate_runs(pd.DataFrame({"n_params": [1e8]}))
    ... except RunsError as err:
    ...     print(err.column)
    run_id
    """

    def __init__(
        self, message: str, *, column: str | None = None, rows: Iterable[Hashable] = (),
        cli_fix: str | None = None,
    ) -> None:
        super().__init__(message)
        self.column = column
        self.rows = tuple(rows)
        self.cli_fix = cli_fix


#: The ``bayes-scaling`` flag that maps each canonical column (for :attr:`RunsError.cli_fix`).
CLI_FLAGS = {"n_params": "--params", "n_tokens": "--tokens", "compute_flops": "--compute",
             "run_id": "--name"}


def _label(column: str, labels: Mapping[str, str]) -> str:
    # In load_runs the user knows their own column names, not ours: say both.
    src = labels.get(column)
    if src is not None and src != column:
        return f"column '{column}' (from your column '{src}')"
    return f"column '{column}'"


def _describe_rows(runs: pd.DataFrame, positions: np.ndarray) -> tuple[str, list[Hashable]]:
    """Human description of the rows at integer ``positions``, and their index labels."""
    has_id = "run_id" in runs.columns
    shown = positions[:_MAX_ROWS_SHOWN]
    parts = []
    labels = []
    for pos in shown:
        label = runs.index[pos]
        labels.append(label)
        text = f"row {label!r}"
        if has_id:
            rid = runs["run_id"].iloc[pos]
            if isinstance(rid, str):
                text += f" (run_id '{rid}')"
        parts.append(text)
    more = len(positions) - len(shown)
    desc = ", ".join(parts) + (f" and {more} more" if more > 0 else "")
    return desc, labels


def _fail(
    runs: pd.DataFrame, mask: np.ndarray, column: str, problem: str, fix: str,
    labels: Mapping[str, str], cli_fix: str | None = None,
) -> None:
    positions = np.flatnonzero(mask)
    if positions.size == 0:
        return
    desc, row_labels = _describe_rows(runs, positions)
    raise RunsError(
        f"{_label(column, labels)}: {problem} in {desc}. Fix: {fix}",
        column=column,
        rows=row_labels,
        cli_fix=cli_fix,
    )


def _suggest(name: str, columns: Iterable[str]) -> str:
    # Compare case-insensitively: 'n' for 'N' is the commonest slip.
    by_lower: dict[str, str] = {}
    for column in columns:
        by_lower.setdefault(str(column).lower(), str(column))
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.5)
    if not close:
        return ""
    return f" (close matches: {', '.join(repr(by_lower[c]) for c in close)})"


def _numeric_values(
    runs: pd.DataFrame, column: str, labels: Mapping[str, str]
) -> np.ndarray:
    """The column as float64, or a RunsError naming the first rows that are not numbers."""
    series = runs[column]
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
            series.dtype) or isinstance(series.dtype, pd.PeriodDtype):
        raise RunsError(
            f"{_label(column, labels)} holds dates or times ({series.dtype}), e.g. "
            f"{series.iloc[0]!r}, not numbers. Fix: map the right column (a count, not a "
            "timestamp).",
            column=column,
        )
    if pd.api.types.is_complex_dtype(series.dtype):
        raise RunsError(
            f"{_label(column, labels)} holds complex numbers, e.g. {series.iloc[0]!r}. "
            "Fix: give real numbers.",
            column=column,
        )
    if series.dtype == object:
        odd = [v for v in series.tolist() if not isinstance(v, (str, int, float, np.number))
               and v is not None and v is not pd.NA]
        if odd:
            raise RunsError(
                f"{_label(column, labels)} holds {type(odd[0]).__name__} values such as "
                f"{odd[0]!r}, not numbers. Fix: give plain numbers.",
                column=column,
            )
    if pd.api.types.is_bool_dtype(series.dtype):
        raise RunsError(
            f"{_label(column, labels)} holds booleans, not numbers. "
            "Fix: give the numeric values.",
            column=column,
        )
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    coerced = pd.to_numeric(series, errors="coerce")
    bad = (coerced.isna() & series.notna()).to_numpy()
    if bad.any():
        pos = int(np.flatnonzero(bad)[0])
        desc, _ = _describe_rows(runs, np.flatnonzero(bad))
        raise RunsError(
            f"{_label(column, labels)} is not numeric: {desc} hold(s) values such as "
            f"{series.iloc[pos]!r}. Fix: give plain numbers (raw counts such as 1400000000, "
            "not '1.4B'), and leave no text in numeric columns.",
            column=column,
            rows=[runs.index[p] for p in np.flatnonzero(bad)[:_MAX_ROWS_SHOWN]],
        )
    return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_strings(runs: pd.DataFrame, column: str, labels: Mapping[str, str]) -> None:
    values = runs[column]
    missing = values.isna().to_numpy()
    _fail(runs, missing, column, "missing value", f"give every run a {column}.", labels)
    not_str = np.array([not isinstance(v, str) for v in values], dtype=bool)
    _fail(
        runs, not_str, column, "non-string value",
        f"convert it with runs['{column}'] = runs['{column}'].astype(str).", labels,
    )
    empty = np.array([isinstance(v, str) and not v.strip() for v in values], dtype=bool)
    _fail(runs, empty, column, "empty string", f"give every run a non-empty {column}.", labels)


def _check_unique_ids(runs: pd.DataFrame) -> None:
    dup = runs["run_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        first = runs["run_id"][dup].iloc[0]
        _fail(
            runs, dup, "run_id", f"duplicated run ids (e.g. '{first}')",
            "make run ids unique (for reruns, add the seed to the id).", {},
            cli_fix="give every run its own name in the column given by --name (for reruns, "
                    "add the seed to the name), or leave --name out to number the runs.",
        )


def _replicate_key(runs: pd.DataFrame) -> list[str]:
    return ["dataset", "n_params", "n_tokens"] + (["seed"] if "seed" in runs.columns else [])


def _check_duplicate_keys(runs: pd.DataFrame, measured: Sequence[str]) -> None:
    """Rows with the same (dataset, n_params, n_tokens[, seed]) are *replicates* (reruns) when
    their measurements differ, and are kept: each is one observation of the law plus its
    run-to-run scatter. Rows that agree in every measurement too are copies, refused (a run
    counted twice gets twice the weight)."""
    key = _replicate_key(runs)
    dup = runs.duplicated(subset=key, keep=False).to_numpy()
    if not dup.any():
        return
    groups = runs[dup].groupby(key, sort=False, dropna=False)
    for _, group in groups:
        if measured:
            values = group[list(measured)].to_numpy(dtype=np.float64)
            copies = pd.DataFrame(values).duplicated(keep=False).to_numpy()
        else:
            copies = np.ones(len(group), dtype=bool)
        if not copies.any():
            continue  # reruns that measured different values: replicates
        mask = runs.index.isin(group.index[copies])
        keytext = "same (" + ", ".join(key) + ")"
        _fail(runs, mask, "run_id" if "run_id" in runs.columns else key[0],
              f"duplicate rows for the {keytext} and the same measurements",
              "drop the copies; a run counted twice gets twice the weight in a fit.", {})


def describe_replicates(runs: pd.DataFrame) -> str | None:
    """A one-line notice when some runs are replicates (reruns at the same (dataset, n_params,
    n_tokens), and ``seed`` when there is such a column), else None.

    Replicates are kept as separate observations: the law is fitted to each, and their spread
    informs the run-to-run scatter. A ``seed`` column, where given, is part of the key: rows
    that differ only in ``seed`` are reruns with known seeds.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"dataset": ["a"] * 3, "n_params": [10**8] * 3,
    ...                      "n_tokens": [2e9, 2e9, 8e9], "loss": [3.1, 3.12, 2.9]})
    >>> print(describe_replicates(runs))
    2 runs are replicates (reruns at the same dataset, n_params and n_tokens) in 1 group: each is fitted as its own observation, their spread informs the run-to-run scatter
    """  # noqa: E501
    if not {"dataset", "n_params", "n_tokens"} <= set(runs.columns):
        return None
    key = ["dataset", "n_params", "n_tokens"]
    dup = runs.duplicated(subset=key, keep=False)
    if not dup.any():
        return None
    n_groups = runs[dup].groupby(key, sort=False).ngroups
    seeds = " (rows with different seeds)" if "seed" in runs.columns else ""
    return (f"{int(dup.sum())} runs are replicates (reruns at the same dataset, n_params and "
            f"n_tokens){seeds} in {n_groups} group{'s' if n_groups != 1 else ''}: each is "
            "fitted as its own observation, their spread informs the run-to-run scatter")


def _check_loss_range(loss_range: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in loss_range)
    except (TypeError, ValueError):
        raise RunsError(f"loss_range must be a pair (low, high) of numbers, got {loss_range!r}. "
                        f"Fix: e.g. loss_range={LOSS_RANGE}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
        raise RunsError(f"loss_range must satisfy 0 <= low < high (finite), got {loss_range!r}. "
                        f"Fix: e.g. loss_range={LOSS_RANGE}")
    return lo, hi


def _validate(
    runs: Any,
    *,
    required: Sequence[str] = REQUIRED_COLUMNS,
    labels: Mapping[str, str] | None = None,
    integral_params: bool = True,
    loss_range: Any = None,
) -> None:
    """Implementation of :func:`validate_runs`; ``labels`` maps canonical to user column names."""
    labels = labels or {}
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(
            f"runs must be a pandas DataFrame, got {type(runs).__name__}. "
            "Fix: build one with bayes_scaling.data.load_runs(...)."
        )
    if runs.columns.duplicated().any():
        dups = sorted({str(c) for c in runs.columns[runs.columns.duplicated()]})
        raise RunsError(
            f"duplicated column names {dups}. Fix: map each source column to one canonical name.",
            column=dups[0],
        )
    missing = [c for c in required if c not in runs.columns]
    if missing:
        hints = "; ".join(f"'{c}'{_suggest(c, runs.columns)}" for c in missing)
        raise RunsError(
            f"missing required column(s): {hints}. Fix: rename your columns or load the table "
            "with load_runs(path, params=..., tokens=... or compute=..., loss=...), which maps "
            "them and derives tokens_per_param and compute_flops.",
            column=missing[0],
            cli_fix="map your columns with --params COLUMN, --tokens COLUMN (or --compute "
                    "COLUMN) and --loss COLUMN.",
        )
    if len(runs) == 0:
        raise RunsError("the runs table has no rows. Fix: give at least one training run.")
    if loss_range is None:
        loss_range = runs.attrs.get("loss_range", LOSS_RANGE)
    lo_loss, hi_loss = _check_loss_range(loss_range)

    columns = [str(c) for c in runs.columns]
    for column in ("run_id", "dataset"):
        if column in runs.columns:
            _check_strings(runs, column, labels)
    if "run_id" in runs.columns:
        _check_unique_ids(runs)

    losses = loss_columns(columns)
    cis = ci_columns(columns)
    errs = error_columns(columns)
    values: dict[str, np.ndarray] = {}
    for column in [c for c in SIZE_COLUMNS if c in runs.columns] + losses + cis + errs:
        x = _numeric_values(runs, column, labels)
        values[column] = x
        _fail(
            runs, np.isnan(x), column, "missing value (NaN)",
            "fill it in or drop the row; fits cannot use runs with missing values.", labels,
        )
        _fail(
            runs, np.isinf(x), column, "infinite value",
            "replace it with the measured finite value or drop the row.", labels,
        )
        if column in SIZE_COLUMNS or column in losses:
            _fail(
                runs, x <= 0, column, "zero or negative value",
                "sizes, compute and losses must be > 0; check the column mapping and units.",
                labels,
            )
            if column in losses:
                _fail(
                    runs, (x > 0) & ((x < lo_loss) | (x > hi_loss)), column,
                    f"loss outside the plausible range ({lo_loss:g}, {hi_loss:g}) nats/token "
                    f"(e.g. {x[(x > 0) & ((x < lo_loss) | (x > hi_loss))][:1].tolist()})",
                    "give mean cross-entropy in nats per token (not perplexity, bits or a "
                    "percentage: ln(perplexity) is the loss); if your losses really lie there, "
                    "pass loss_range=(low, high).",
                    labels,
                    cli_fix="give mean cross-entropy in nats per token (not perplexity, bits "
                            "or a percentage: ln(perplexity) is the loss), or pick another "
                            "column with --loss.",
                )
        elif column in cis:
            _fail(
                runs, x < 0, column, "negative confidence half-width",
                "give the half-width (upper - lower) / 2, which is >= 0.", labels,
            )
        else:
            _fail(
                runs, (x < 0) | (x > 1), column, "error rate outside [0, 1]",
                "give top-1 error as a fraction (1 - accuracy), not a percentage.", labels,
            )

    for column, limit in (("n_params", MAX_N_PARAMS), ("n_tokens", MAX_N_TOKENS)):
        if column in values:
            _fail(
                runs, values[column] > limit, column,
                f"implausibly large value (over {limit:.0e}; e.g. "
                f"{values[column][values[column] > limit][:1].tolist()})",
                "give raw counts; check the units and the column mapping.", labels,
            )
    if "n_params" in values:
        n = values["n_params"]
        _fail(
            runs, n < MIN_N_PARAMS, "n_params",
            f"fewer than {MIN_N_PARAMS:.0e} parameters (looks like millions or billions, or a "
            "count in thousands)",
            "give raw parameter counts, e.g. 1400000000 rather than 1.4 (billions) or 1400000 "
            "(thousands).", labels,
        )
        if integral_params:
            _fail(
                runs, n != np.round(n), "n_params", "non-integer parameter count",
                "parameter counts are whole numbers; round them (load_runs does this).", labels,
            )
    if "n_tokens" in values:
        _fail(
            runs, values["n_tokens"] < MIN_N_TOKENS, "n_tokens",
            f"fewer than {MIN_N_TOKENS:.0e} tokens (looks like millions or billions)",
            "give raw token counts, e.g. 28000000000 rather than 28.", labels,
        )
    if {"n_params", "n_tokens", "tokens_per_param"} <= values.keys():
        ratio = values["n_tokens"] / values["n_params"]
        _fail(
            runs, ~np.isclose(values["tokens_per_param"], ratio, rtol=_RTOL, atol=0.0),
            "tokens_per_param", "tokens_per_param != n_tokens / n_params",
            "drop tokens_per_param and let load_runs derive it, or fix n_tokens / n_params.",
            labels,
        )
    if {"n_params", "n_tokens", "compute_flops"} <= values.keys():
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            ratio = values["compute_flops"] / (6.0 * values["n_params"] * values["n_tokens"])
        off = (ratio > COMPUTE_RATIO_TOLERANCE) | (ratio < 1.0 / COMPUTE_RATIO_TOLERANCE)
        _fail(
            runs, off, "compute_flops",
            f"compute_flops differs from 6 * n_params * n_tokens by more than "
            f"{COMPUTE_RATIO_TOLERANCE:g}x (e.g. {ratio[off][:1].round(3).tolist()} x 6ND)",
            "check the units of compute, tokens and parameters (FLOPs, raw counts), or give "
            "only two of the three and let load_runs derive the third.",
            labels,
        )
    if {"dataset", "n_params", "n_tokens"} <= set(columns):
        _check_duplicate_keys(runs, losses + errs)


def validate_runs(
    runs: pd.DataFrame,
    *,
    required: Sequence[str] = REQUIRED_COLUMNS,
    loss_range: tuple[float, float] | None = None,
) -> None:
    """Check a runs table against the canonical schema; raise :class:`RunsError` if it fails.

    Checked: the ``required`` columns exist; ``run_id`` and ``dataset`` are non-empty strings and
    run ids are unique; sizes, compute and every ``loss_<eval>`` are finite and > 0; confidence
    half-widths are finite and >= 0; every ``err_<task>`` is in [0, 1]; ``n_params`` is a whole
    number of at least :data:`~bayes_scaling.data.schema.MIN_N_PARAMS` and ``n_tokens`` at least
    :data:`~bayes_scaling.data.schema.MIN_N_TOKENS` (smaller values look like billions);
    ``tokens_per_param`` equals ``n_tokens / n_params``; ``compute_flops`` is within
    :data:`~bayes_scaling.data.schema.COMPUTE_RATIO_TOLERANCE` x of 6 N D; every loss lies in
    ``loss_range`` (nats/token); numeric columns hold no text, dates or booleans; and no two
    rows share ``(dataset, n_params, n_tokens)`` (plus ``seed``, if there is such a column)
    *and* every measurement: such rows are copies. Rows that share the key but measured
    different values are replicates (reruns) and are accepted, each one observation
    (:func:`describe_replicates` says so in words). Columns that are absent and not required
    are not checked.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs table (see :mod:`bayes_scaling.data.schema`).
    required : sequence of str, default :data:`~bayes_scaling.data.schema.REQUIRED_COLUMNS`
        Columns that must be present, e.g. ``("n_params", "n_tokens", "loss_c4_val")`` for a
        hand-built table without ids.
    loss_range : (float, float), optional
        Plausible range of every ``loss_<eval>``. Default: ``runs.attrs["loss_range"]`` if
        set (``load_runs(..., loss_range=)`` sets it), else
        :data:`~bayes_scaling.data.schema.LOSS_RANGE` = (0.1, 20) nats/token.

    Raises
    ------
    RunsError
        Naming the column and rows (index label and ``run_id``) at fault, and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"n_params": [1e8, 4e8], "n_tokens": [2e9, 8e9],
    ...                      "loss_c4_val": [3.1, 2.8]})
    >>> validate_runs(runs, required=("n_params", "n_tokens", "loss_c4_val"))
    >>> validate_runs(runs.assign(loss_c4_val=[3.1, -1.0]), required=())
    Traceback (most recent call last):
    ...
    bayes_scaling.data.validation.RunsError: column 'loss_c4_val': zero or negative value in row 1. Fix: sizes, compute and losses must be > 0; check the column mapping and units.
    """  # noqa: E501
    _validate(runs, required=required, loss_range=loss_range)


def check_fit_runs(
    runs: pd.DataFrame,
    loss: str,
    *,
    group: str | None = None,
    loss_range: tuple[float, float] | None = None,
) -> None:
    """Checks every estimator makes before a fit: the runs table, the loss column, one corpus.

    Parameters
    ----------
    runs : pandas.DataFrame
        The runs to fit.
    loss : str
        The column to model; it must be a ``loss_<eval>`` column (not a size, compute, error
        or confidence column).
    group : str, optional
        The column a pooled (hierarchical) fit groups by. Without it, all runs must come from
        one training corpus (one value of ``dataset``): a single law fitted across corpora
        averages laws that differ.
    loss_range : (float, float), optional
        As in :func:`validate_runs`.

    Raises
    ------
    RunsError
        Naming the column, the rows or the corpora, and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"run_id": ["a", "b"], "dataset": ["rpj", "c4"],
    ...                      "n_params": [10**8, 4 * 10**8], "n_tokens": [2e9, 8e9],
    ...                      "tokens_per_param": [20.0, 20.0], "compute_flops": [1.2e18, 1.92e19],
    ...                      "loss_c4_val": [3.1, 2.8]})
    >>> check_fit_runs(runs, "n_tokens")
    Traceback (most recent call last):
    ...
    bayes_scaling.data.validation.RunsError: loss='n_tokens' is a size column, not a loss. Fix: pass loss= one of ['loss_c4_val'].
    """  # noqa: E501
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(f"runs must be a pandas DataFrame, got {type(runs).__name__}. "
                        "Fix: build one with bayes_scaling.load_runs(...).")
    columns = [str(c) for c in runs.columns]
    have = loss_columns(columns)
    if not isinstance(loss, str) or loss not in loss_columns([loss]):
        if loss in SIZE_COLUMNS:
            what = "a size column"
        elif isinstance(loss, str) and loss.startswith(ERR_PREFIX):
            what = "a downstream error column (fit it with ErrorLaw)"
        elif isinstance(loss, str) and loss.startswith(LOSS_PREFIX):
            what = "a confidence half-width column"
        else:
            what = "not a loss column (loss columns are named loss_<eval>)"
        raise RunsError(f"loss={loss!r} is {what}, not a loss. Fix: pass loss= one of {have}.",
                        column=str(loss), cli_fix=f"give --loss one of {have}.")
    if loss not in columns:
        raise RunsError(f"runs have no column {loss!r}{_suggest(loss, have)}. Fix: pass loss= one"
                        f" of {have}.", column=loss, cli_fix=f"give --loss one of {have}.")
    _validate(runs, loss_range=loss_range)
    if group is None and runs["dataset"].nunique() > 1:
        corpora = sorted(map(str, runs["dataset"].unique()))
        raise RunsError(
            f"the runs mix {len(corpora)} training corpora {corpora}; a scaling law describes "
            "one corpus. Fix: select one, e.g. bs.filter_runs(runs, \"dataset == "
            f"'{corpora[0]}'\"), or fit all of them together with PooledLossLaw.",
            column="dataset",
        )


_MOVED = {"check_design": "identifiability", "IdentifiabilityWarning": "identifiability",
          "data_hash": "hashing"}


def __getattr__(name: str) -> Any:
    """Names that moved to their own modules stay importable from here (lazily: those modules
    import this one)."""
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f"bayes_scaling.data.{_MOVED[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
