"""Prediction targets and interval summaries shared by every predictive method.

A target is a planned run: ``n_params`` and ``n_tokens``, or ``compute_flops`` (C = 6 N D) and
``tokens_per_param`` (M = D / N), from which ``N = sqrt(C / (6 M))`` and ``D = M N``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["resolve_targets", "interval_frame", "TargetError", "KINDS", "check_kind"]


class TargetError(ValueError):
    """Targets that cannot be turned into (n_params, n_tokens); the message names the column."""


_TARGET_COLUMNS = ("n_params", "n_tokens", "compute_flops", "tokens_per_param")
# Sizes above this are unit slips, and 6 N D of two of them still fits a float64.
_MAX_TARGET = 1e30


def _numeric_target(t: pd.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` as float64, or a TargetError naming the column, the row and the value."""
    series = t[col]
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype) or \
            pd.api.types.is_timedelta64_dtype(dtype) or pd.api.types.is_complex_dtype(dtype):
        raise TargetError(f"target column {col!r} holds {dtype} values, not numbers. Fix: give "
                          "plain numbers.")
    if pd.api.types.is_numeric_dtype(dtype):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        x = np.empty(len(series))
        for i, v in enumerate(series.tolist()):
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | float | np.number):
                raise TargetError(
                    f"target column {col!r}, row {i}: {v!r} is not a number. Fix: give plain "
                    "numbers (1400000000 or 1.4e9, not '1.4B'); the CLI's --target accepts "
                    "'1.4B:29B'.")
            x[i] = float(v)
    bad = ~np.isfinite(x) | (x <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TargetError(f"target column {col!r}, row {i}: must be a positive finite number, "
                          f"got {float(x[i])!r}. Fix: give raw counts such as 1400000000 (FLOPs for "
                          "compute_flops).")
    return x


def resolve_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``targets`` with ``n_params``, ``n_tokens``, ``tokens_per_param`` and
    ``compute_flops`` all present.

    Examples
    --------
    >>> t = resolve_targets(pd.DataFrame({"compute_flops": [6e20], "tokens_per_param": [20.0]}))
    >>> t["n_params"].round(-3).tolist(), t["n_tokens"].round(-3).tolist()  # C = 6 N (20 N)
    ([2236068000.0], [44721360000.0])
    """
    if isinstance(targets, dict):
        try:
            targets = pd.DataFrame(targets)
        except ValueError as err:  # scalars without an index, ragged lists
            raise TargetError(f"targets dict cannot form a table ({err}). Fix: give lists of "
                              "equal length, e.g. {'n_params': [1.4e9], 'n_tokens': [2.9e10]}"
                              ) from None
    if not isinstance(targets, pd.DataFrame):
        raise TargetError(f"targets must be a DataFrame, got {type(targets).__name__}. Fix: "
                          "e.g. pd.DataFrame({'n_params': [1.4e9], 'n_tokens': [2.9e10]})")
    t = targets.copy()
    for col in _TARGET_COLUMNS:
        if col in t.columns:
            x = _numeric_target(t, col)
            if not pd.api.types.is_numeric_dtype(t[col].dtype):
                t[col] = x
    cols = set(t.columns)
    if {"n_params", "n_tokens"} <= cols:
        pass
    elif {"compute_flops", "tokens_per_param"} <= cols:
        c = t["compute_flops"].to_numpy(float)
        m = t["tokens_per_param"].to_numpy(float)
        t["n_params"] = np.sqrt(c / (6.0 * m))
        t["n_tokens"] = m * t["n_params"]
    elif {"n_params", "tokens_per_param"} <= cols:
        t["n_tokens"] = t["n_params"].to_numpy(float) * t["tokens_per_param"].to_numpy(float)
    elif {"n_params", "compute_flops"} <= cols:
        t["n_tokens"] = t["compute_flops"].to_numpy(float) / (6.0 * t["n_params"].to_numpy(float))
    else:
        raise TargetError(
            "targets need columns (n_params, n_tokens) or (compute_flops, tokens_per_param) "
            f"(or n_params with one of the others); got {sorted(cols)}"
        )
    for c in ("n_params", "n_tokens"):
        v = t[c].to_numpy(float)
        huge = np.isfinite(v) & (v > _MAX_TARGET)
        if huge.any():
            raise TargetError(f"target row {int(np.flatnonzero(huge)[0])}: {c} = "
                              f"{float(v[huge][0]):.3g} is beyond any model (over {_MAX_TARGET:.0e})."
                              " Fix: check the units (raw counts, not exponents or FLOPs).")
        tiny = np.isfinite(v) & (v > 0) & (v < 1)
        if tiny.any():
            raise TargetError(f"target row {int(np.flatnonzero(tiny)[0])}: {c} = "
                              f"{float(v[tiny][0]):.3g} is less than one. Fix: give raw counts "
                              "(1400000000, not 1.4 billion as 1.4).")
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            raise TargetError(f"target row {int(np.flatnonzero(bad)[0])}: {c} must be a positive "
                              f"finite number, got {float(v[bad][0])!r}. Fix: give raw counts such as "
                              "1400000000; check the units of every target column.")
    t["tokens_per_param"] = t["n_tokens"].to_numpy(float) / t["n_params"].to_numpy(float)
    t["compute_flops"] = 6.0 * t["n_params"].to_numpy(float) * t["n_tokens"].to_numpy(float)
    return t


def interval_frame(targets: pd.DataFrame, draws: np.ndarray, ci_prob: float) -> pd.DataFrame:
    """Attach median, mean and the equal-tailed ``ci_prob`` interval of ``draws``
    (``(n_draws, n_targets)``) to ``targets``; interval through arviz-stats."""
    from arviz_stats.base import array_stats

    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must lie in (0, 1), got {ci_prob!r}")
    out = targets.reset_index(drop=True).copy()
    lohi = np.asarray(array_stats.eti(draws, ci_prob, axis=0))
    out["median"] = np.median(draws, axis=0)
    out["mean"] = draws.mean(axis=0)
    # arviz-stats puts the (lower, upper) bound last: shape (n_targets, 2)
    out["lower"] = lohi[..., 0]
    out["upper"] = lohi[..., 1]
    out.attrs["ci_prob"] = ci_prob
    return out


#: The two predictives every method offers. ``"new_run"`` (the default everywhere) is the value a
#: new run at the target would measure: parameter uncertainty, run-to-run scatter and the target's
#: measurement error where known. ``"law_mean"`` is the band of the law's mean (parameter
#: uncertainty only): narrower, and not what a run will show.
KINDS = ("new_run", "law_mean")


def measurement_sd(table: pd.DataFrame, loss: str) -> np.ndarray:
    """Each row's measurement sd of log ``loss``: its ``<loss>_ci`` (95% half-width) divided
    by 1.96 and by the loss; 0 where the table has no ``<loss>_ci`` or no ``loss`` column, or
    the half-width is missing."""
    ci_col = f"{loss}_ci"
    if ci_col not in table.columns or loss not in table.columns:
        return np.zeros(len(table))
    return table[ci_col].fillna(0.0).to_numpy(float) / 1.959964 / table[loss].to_numpy(float)


def check_kind(kind: str) -> str:
    """Return ``kind`` if it names one of :data:`KINDS`, else raise a ValueError naming both."""
    if kind not in KINDS:
        raise ValueError(
            f"kind must be 'new_run' (what a new run at the target would measure, the default) "
            f"or 'law_mean' (the band of the law's mean), got {kind!r}"
        )
    return kind
