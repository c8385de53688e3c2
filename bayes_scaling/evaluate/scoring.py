"""Scores of predictive draws against held-out truth, and coverage summaries of a backtest.

Owns the per-prediction scores (:func:`score_draws`, :func:`score_loss`, :func:`crps_sample`,
:func:`pit_values`; default interval probabilities :data:`CI_PROBS`) and :func:`coverage`, the
nominal-against-empirical coverage summary of a backtest table, as Prophet's
``performance_metrics`` does. :func:`bayes_scaling.evaluate.backtest.backtest` produces the
tables these score and summarise.

Scores (one row per target run and predicted quantity)
------------------------------------------------------
``median`` and ``rel_error = median / truth - 1``; for each interval probability p in
``ci_probs`` (default 50, 80, 90, 95%) the equal-tailed interval ``lower_<p>``, ``upper_<p>``,
``covered_<p>`` and ``rel_width_<p> = (upper - lower) / median``; ``pit`` (share of predictive
draws below the truth: uniform on (0, 1) for a calibrated forecast); ``crps`` and ``log_score``.

Losses are scored on the *log* scale (``score_scale = "log"``): CRPS of log loss is a relative
error (0.01 ~ 1%) comparable across eval sets, and it stays finite where the loss scale's does not
(the observed predictive of a loss with Student-t noise on log loss has no mean). The log score of
a loss is the exact log density of the noise model, a Student-t (or normal) mixture over posterior
draws of ``log mu``, ``sigma`` and ``nu``; add ``-log(truth)`` for the density per nat. Errors are
scored on their own scale (fraction, ``score_scale = "linear"``); their log score is a Gaussian
KDE of the predictive draws, because the error's predictive is a chain of two posteriors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import check_kind

if TYPE_CHECKING:
    from bayes_scaling.estimators.loss_law import LossLaw

__all__ = ["CI_PROBS", "coverage", "crps_sample", "pit_values", "score_draws", "score_loss"]

#: Interval probabilities scored by default.
CI_PROBS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)


# ---------------------------------------------------------------------------------------------
# Scores on predictive draws
# ---------------------------------------------------------------------------------------------


def crps_sample(draws: np.ndarray, truth: np.ndarray | float) -> np.ndarray:
    """Continuous ranked probability score from predictive draws (energy form).

    ``CRPS = E|X - y| - E|X - X'| / 2`` with ``X, X'`` independent predictive draws. The second
    term uses the unbiased ("fair") estimator over pairs of distinct draws, computed in
    O(S log S) from the sorted draws: ``sum_i (2i - S - 1) x_(i) * 2 / (S (S - 1))`` for
    ``E|X - X'|``.

    Parameters
    ----------
    draws : ndarray
        ``(n_draws,)`` or ``(n_draws, n_targets)``.
    truth : float or ndarray
        Observed value(s), ``()`` or ``(n_targets,)``.

    Returns
    -------
    ndarray
        CRPS per target, in the units of ``draws`` (lower is better; 0 for a point mass on
        the truth).

    Examples
    --------
    >>> from scipy.stats import norm
    >>> draws = norm.ppf((np.arange(4000) + 0.5) / 4000)   # N(0, 1) quantiles as draws
    >>> round(float(crps_sample(draws, 0.0)), 3)           # closed form (sqrt(2) - 1) / sqrt(pi)
    0.234
    """
    x = np.asarray(draws, dtype=float)
    one = x.ndim == 1
    if one:
        x = x[:, None]
    y = np.broadcast_to(np.asarray(truth, dtype=float), x.shape[1:])
    s = x.shape[0]
    if s < 2:
        raise ValueError("crps_sample needs at least 2 draws")
    term1 = np.mean(np.abs(x - y[None, :]), axis=0)
    xs = np.sort(x, axis=0)
    w = (2.0 * np.arange(1, s + 1) - s - 1.0)[:, None]
    term2 = 2.0 * np.sum(w * xs, axis=0) / (s * (s - 1.0))
    out = term1 - 0.5 * term2
    return out[0] if one else out


def pit_values(draws: np.ndarray, truth: np.ndarray | float) -> np.ndarray:
    """Probability integral transform: share of predictive draws below the truth.

    Uniform on (0, 1) when the forecasts are calibrated; piled at 0 or 1 when the truth falls
    outside the predictive (too narrow, or biased), humped in the middle when too wide.

    Parameters
    ----------
    draws : ndarray
        ``(n_draws,)`` or ``(n_draws, n_targets)``.
    truth : float or ndarray

    Returns
    -------
    ndarray
        PIT per target in [0, 1] (ties count half).

    Examples
    --------
    >>> float(pit_values(np.arange(10.0), 4.5))
    0.5
    """
    x = np.asarray(draws, dtype=float)
    y = np.asarray(truth, dtype=float)
    return np.mean(x < y, axis=0) + 0.5 * np.mean(x == y, axis=0)


def _pct(p: float) -> str:
    return f"{100 * p:g}"


def _kde_log_density(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    from scipy.stats import gaussian_kde

    out = np.empty(draws.shape[1])
    for j in range(draws.shape[1]):
        d = draws[:, j]
        d = d[np.isfinite(d)]
        if np.ptp(d) == 0:
            out[j] = np.nan
            continue
        out[j] = float(gaussian_kde(d).logpdf(y[j])[0])
    return out


def score_draws(draws: np.ndarray, truth: np.ndarray, *,
                ci_probs: Sequence[float] = CI_PROBS, scale: str = "linear") -> pd.DataFrame:
    """Score predictive draws against observed values: intervals, coverage, PIT and CRPS.

    Parameters
    ----------
    draws : ndarray
        ``(n_draws, n_targets)`` predictive draws *on the scoring scale*: log values for
        ``scale="log"``.
    truth : ndarray
        ``(n_targets,)`` observed values on the natural scale.
    ci_probs : sequence of float
        Equal-tailed interval probabilities.
    scale : {"linear", "log"}
        ``"log"``: ``draws`` are logs of the quantity (losses); intervals and the median are
        reported on the natural scale, PIT and CRPS on the log scale (CRPS then reads as a
        relative error).

    Returns
    -------
    DataFrame
        ``truth, median, rel_error`` and per interval ``lower_<p>, upper_<p>, covered_<p>,
        rel_width_<p>`` (p in percent), ``pit``, ``crps``.

    Examples
    --------
    >>> draws = np.random.default_rng(0).normal(1.0, 0.1, size=(4000, 1))
    >>> s = score_draws(draws, np.array([1.05]), ci_probs=[0.9])
    >>> bool(s["covered_90"].iloc[0]), round(float(s["rel_width_90"].iloc[0]), 2)
    (True, 0.33)
    """
    if scale not in ("linear", "log"):
        raise ValueError(f"scale must be 'linear' or 'log', got {scale!r}")
    draws = np.asarray(draws, dtype=float)
    truth = np.asarray(truth, dtype=float)
    if draws.ndim != 2 or truth.shape != draws.shape[1:]:
        raise ValueError(f"draws must be (n_draws, n_targets) and truth (n_targets,); got "
                         f"{draws.shape} and {truth.shape}")
    log_scale = scale == "log"
    to_nat = np.exp if log_scale else (lambda v: v)
    y = np.log(truth) if log_scale else truth
    med = to_nat(np.median(draws, axis=0))
    cols: dict[str, np.ndarray] = {"truth": truth, "median": med, "rel_error": med / truth - 1.0}
    for p in ci_probs:
        if not 0.0 < p < 1.0:
            raise ValueError(f"ci_probs must lie in (0, 1), got {p!r}")
        # quantiles on the scoring scale, then mapped back: exact for a monotone transform, and
        # safe where a heavy-tailed draw of log loss would overflow exp
        lo, hi = to_nat(np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0))
        k = _pct(p)
        cols[f"lower_{k}"] = lo
        cols[f"upper_{k}"] = hi
        cols[f"covered_{k}"] = (lo <= truth) & (truth <= hi)
        cols[f"rel_width_{k}"] = (hi - lo) / med
    cols["pit"] = pit_values(draws, y)
    cols["crps"] = crps_sample(draws, y)
    return pd.DataFrame(cols)


def score_loss(law: LossLaw, runs: pd.DataFrame, *, ci_probs: Sequence[float] = CI_PROBS,
               kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
    """Score a fitted loss law's predictions at held-out ``runs``.

    Parameters
    ----------
    law : LossLaw
        Fitted (or loaded, or fabricated) loss law.
    runs : DataFrame
        Held-out runs with the law's loss column (and ``<loss>_ci`` if the data have it: the
        target's measurement error is then part of the observed predictive).
    ci_probs : sequence of float
    kind : {"new_run", "law_mean"}
        Predictive of a new run's measured loss, or of the law's mean.
    seed : int
        Seed of the noise draws.

    Returns
    -------
    DataFrame
        :func:`score_draws` columns on the log scale, plus ``log_score``: the log density of
        log loss at the truth under the new-run predictive
        (:meth:`~bayes_scaling.LossLaw.log_predictive_density`), or, for ``kind="law_mean"``, a
        Gaussian KDE of the mean-law draws.

    Examples
    --------
    >>> score_loss(law, held_out, ci_probs=[0.9])[["median", "covered_90"]]  # doctest: +SKIP
    """
    check_kind(kind)
    truth = runs[law.loss].to_numpy(float)
    log_draws = law.log_loss_draws(runs, kind=kind, seed=seed)
    out = score_draws(log_draws, truth, ci_probs=ci_probs, scale="log")
    if kind == "law_mean":
        out["log_score"] = _kde_log_density(log_draws, np.log(truth))
    else:
        out["log_score"] = law.log_predictive_density(runs, seed=seed)
    return out


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------


def _ci_probs_of(bt: pd.DataFrame) -> list[float]:
    if "ci_probs" in bt.attrs:
        return [float(p) for p in bt.attrs["ci_probs"]]
    return sorted(float(c.removeprefix("covered_")) / 100 for c in bt.columns
                  if c.startswith("covered_"))


def coverage(bt: pd.DataFrame, *, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Nominal against empirical interval coverage of a backtest.

    Parameters
    ----------
    bt : DataFrame
        Output of :func:`~bayes_scaling.evaluate.backtest.backtest` (columns ``covered_<p>`` and
        ``rel_width_<p>``).
    by : str or sequence of str, optional
        Columns to group by (e.g. ``"target"``, ``["dataset", "column"]``).

    Returns
    -------
    DataFrame
        One row per group and ``ci_prob``: ``n`` (predictions), ``n_covered``, ``coverage``
        (fraction), ``gap`` (coverage - ci_prob, in percentage points), ``p_value`` (two-sided
        exact binomial test of coverage = ci_prob: treats predictions as independent, which
        predictions from one fit are not, so read it as a screen), ``mean_rel_width`` (mean of
        ``(upper - lower) / median``), ``mean_abs_rel_error`` (of the median) and ``mean_crps``.
        Works with :func:`bayes_scaling.plots.plot_calibration`.

    Examples
    --------
    >>> bt = pd.DataFrame({"covered_90": [True, True, False], "rel_width_90": [0.02] * 3,
    ...                    "rel_error": [0.01, -0.01, 0.03], "crps": [0.01] * 3})
    >>> coverage(bt)[["ci_prob", "n", "coverage"]].round(3).to_dict("records")
    [{'ci_prob': 0.9, 'n': 3, 'coverage': 0.667}]
    """
    from scipy.stats import binomtest

    keys = [] if by is None else [by] if isinstance(by, str) else list(by)
    missing = [k for k in keys if k not in bt.columns]
    if missing:
        raise ValueError(f"coverage: group columns {missing} not in the backtest table")
    groups = [((), bt)] if not keys else [
        (k if isinstance(k, tuple) else (k,), g) for k, g in bt.groupby(keys, sort=True)]
    rows = []
    for key, g in groups:
        for p in _ci_probs_of(bt):
            c = g[f"covered_{_pct(p)}"].to_numpy(bool)
            n, k = len(c), int(c.sum())
            rows.append({
                **dict(zip(keys, key, strict=True)),
                "ci_prob": p,
                "n": n,
                "n_covered": k,
                "coverage": k / n if n else np.nan,
                "gap": 100.0 * (k / n - p) if n else np.nan,
                "p_value": binomtest(k, n, p).pvalue if n else np.nan,
                "mean_rel_width": float(g[f"rel_width_{_pct(p)}"].mean()),
                "mean_abs_rel_error": float(np.abs(g["rel_error"]).mean()),
                "mean_crps": float(g["crps"].mean()) if "crps" in g else np.nan,
            })
    return pd.DataFrame(rows)
