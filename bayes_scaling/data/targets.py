"""Prediction targets and interval summaries shared by every predictive method.

A target is a planned run: ``n_params`` and ``n_tokens``, or ``compute_flops`` (C = 6 N D) and
``tokens_per_param`` (M = D / N), from which ``N = sqrt(C / (6 M))`` and ``D = M N``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["resolve_targets", "interval_frame", "TargetError", "KINDS", "check_kind"]


class TargetError(ValueError):
    """Targets that cannot be turned into (n_params, n_tokens)."""


def resolve_targets(targets: pd.DataFrame) -> pd.DataFrame:
    """Return a copy of ``targets`` with ``n_params``, ``n_tokens``, ``tokens_per_param`` and
    ``compute_flops`` all present.

    Examples
    --------
    >>> resolve_targets(pd.DataFrame({"compute_flops": [6e20], "tokens_per_param": [20.0]}))
    ...     ["n_params"].round().tolist()
    [2236068.0]
    """
    if isinstance(targets, dict):
        targets = pd.DataFrame(targets)
    if not isinstance(targets, pd.DataFrame):
        raise TargetError(f"targets must be a DataFrame, got {type(targets).__name__}")
    t = targets.copy()
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
        bad = ~np.isfinite(v) | (v <= 0)
        if bad.any():
            raise TargetError(f"target row {int(np.flatnonzero(bad)[0])}: {c} must be a positive "
                              f"finite number, got {v[bad][0]!r}")
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


def check_kind(kind: str) -> str:
    """Return ``kind`` if it names one of :data:`KINDS`, else raise a ValueError naming both."""
    if kind not in KINDS:
        raise ValueError(
            f"kind must be 'new_run' (what a new run at the target would measure, the default) "
            f"or 'law_mean' (the band of the law's mean), got {kind!r}"
        )
    return kind
