"""Data preparation of :class:`~bayes_scaling.estimators.pooled_error.PooledErrorLaw`: runs
tables -> the pooled error model's arrays (one row per task and run), with the same checks and
task metadata as :class:`~bayes_scaling.ErrorLaw`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling.estimators.error_predictive import _sampling_sd, _unit_var
from bayes_scaling.estimators.tasks import task_metadata

if TYPE_CHECKING:
    from bayes_scaling.estimators.pooled_error import PooledErrorLaw

__all__ = ["prepare_pooled_error", "task_columns"]

_Z95 = 1.959964  # 95% two-sided normal quantile: CI half-width -> sd
_META = ("_chance", "_n_items", "_metric", "_ci")


def task_columns(columns: Sequence[str]) -> list[str]:
    """The per-task error columns of a runs table: ``err_<task>``, without the averages
    (``err_avg*``) and the metadata columns (``<error>_chance``, ``_n_items``, ...)."""
    return [c for c in columns if str(c).startswith("err_") and not str(c).startswith("err_avg")
            and not str(c).endswith(_META)]


def _tables(law: PooledErrorLaw, runs) -> dict[str, pd.DataFrame]:
    """``{error column: its runs table}``, checked for the columns the fit needs."""
    if isinstance(runs, Mapping):
        tables = {str(k): v for k, v in runs.items()}
        if law.errors is not None and sorted(law.errors) != sorted(tables):
            raise ValueError(f"fit got tables for {sorted(tables)} but errors= names "
                             f"{sorted(law.errors)}; pass the same columns")
        cols = list(tables) if law.errors is None else law.errors
    elif isinstance(runs, pd.DataFrame):
        cols = task_columns(runs.columns) if law.errors is None else law.errors
        tables = {c: runs for c in cols}
    else:
        raise TypeError(f"runs must be a DataFrame (or a mapping of error column to its "
                        f"runs table), got {type(runs).__name__}")
    if len(set(cols)) != len(cols):
        raise ValueError(f"errors name a column twice: {cols}; name each once")
    if len(cols) < 2:
        raise ValueError(f"pooling needs at least 2 error columns, got {cols}; fit one "
                         "column with ErrorLaw(error=...)")
    for c in cols:
        t = tables[c]
        if not isinstance(t, pd.DataFrame):
            raise TypeError(f"the runs of {c!r} must be a DataFrame, got {type(t).__name__}")
        for col, what in ((c, "error"), (law.loss, "loss")):
            if col not in t.columns:
                have = (task_columns(t.columns) if what == "error" else
                        [x for x in t.columns if str(x).startswith("loss_")
                         and not str(x).endswith("_ci")])
                raise ValueError(f"runs have no {what} column {col!r}; pass "
                                 f"{'errors' if what == 'error' else 'loss'}= columns from "
                                 f"{have[:8]}{' ...' if len(have) > 8 else ''}")
    return {c: tables[c] for c in cols}


def prepare_pooled_error(law: PooledErrorLaw, runs) -> tuple[dict[str, np.ndarray],
                                                             dict[str, Any]]:
    """Model arrays and metadata of ``law``'s fit to ``runs`` (a table, or one per column).

    Each observation is one task's error on one run: its loss and the loss's measurement sd,
    the benchmark's sampling sd (from the task's item count; 0 where it is learned), ``sqrt(p (1
    - p))`` and the task index; per task the chance level and whether its item count is learned.
    """
    from bayes_scaling.data import validate_runs

    tables = _tables(law, runs)
    seen: set[int] = set()
    parts, infos = [], []
    for j, (col, t) in enumerate(tables.items()):
        if len(t) < 2:
            raise ValueError(f"{col!r} has {len(t)} run(s); a pooled task needs at least 2 "
                             "(drop the column from errors=, or add runs)")
        if id(t) not in seen:
            validate_runs(t)
            seen.add(id(t))
        err = t[col].to_numpy(dtype=float)
        loss = t[law.loss].to_numpy(dtype=float)
        for name, v in ((col, err), (law.loss, loss)):
            bad = ~np.isfinite(v)
            if bad.any():
                raise ValueError(
                    f"column {name!r} row {t.index[np.flatnonzero(bad)[0]]!r} is not a "
                    f"finite number ({int(bad.sum())} such rows); drop those runs or fill "
                    "the values (for tasks measured on different runs, pass fit a mapping "
                    "{error column: its runs table})")
        info = task_metadata(col, t, tasks=law.tasks, chance=law.chance.get(col),
                             n_items=law.n_items.get(col), data_dir=law.data_dir)
        infos.append(info)
        n = 0.0 if info.n_items is None else info.n_items
        ci = f"{law.loss}_ci"
        ids = (t["run_id"].astype(str).to_numpy() if "run_id" in t.columns
               else np.asarray([str(i) for i in t.index]))
        parts.append({
            "loss_obs": loss,
            "loss_sd": (t[ci].fillna(0.0).to_numpy(float) / _Z95 if ci in t.columns
                        else np.zeros_like(loss)),
            "err_sd": _sampling_sd(np.clip(err, 0.0, 1.0), n),
            "err_unit": np.sqrt(_unit_var(err)),
            "task": np.full(len(t), j, dtype=np.int32),
            "error": err, "run_id": ids})
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    learn = np.asarray([i.n_items is None for i in infos])
    kw = {k: cat[k] for k in ("loss_obs", "loss_sd", "err_sd", "err_unit", "task")}
    kw |= {"chance": np.asarray([i.chance for i in infos]),
           "learn": learn.astype(float),
           "loss_ref": np.asarray(float(np.median(cat["loss_obs"]))),
           "error": cat["error"], "mask": np.ones(len(cat["error"]), dtype=bool)}
    if not kw["loss_ref"] > 0:
        raise ValueError(f"the median of {law.loss!r} is {float(kw['loss_ref'])!r}; error "
                         "laws need a positive loss (a cross-entropy, in any unit)")
    meta = {"columns": list(tables), "run_id": cat["run_id"], "chance": kw["chance"],
            "n_items": np.asarray([np.nan if i.n_items is None else i.n_items
                                   for i in infos]),
            "learn": learn, "metric": [i.metric for i in infos],
            "task_source": [i.source for i in infos]}
    return kw, meta
