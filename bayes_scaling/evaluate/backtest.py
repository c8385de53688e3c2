"""Backtests: fit a law on small runs, predict larger ones, and score the predictions.

A *protocol* splits a runs table (per ``dataset``) into the runs a law is fitted on and the runs it
must predict. :func:`backtest` fits a :class:`~bayes_scaling.LossLaw` (and, for downstream error,
an :class:`~bayes_scaling.estimators.error_law.ErrorLaw`) on each split and scores the *observed* predictive
(the loss, or error, a new run would measure) against the held-out truth. :func:`coverage` then
compares nominal and empirical interval coverage, as Prophet's ``performance_metrics`` does.

Protocols
---------
``"paper"``
    Gadre et al.'s (2024) fitting sets, per dataset. Loss law: the four small models (0.011B,
    0.079B, 0.154B, 0.411B) at M = 20 and 0.011B at M = 320. Error law: those five plus 1.4B at
    M = 20. Targets: 1.4B at the dataset's largest M and 6.9B at M = 20. Runs are found by
    ``n_params`` and ``tokens_per_param`` (within 5% of the nominal values), never by name.
``"paper_all_below"``
    Same targets, but each law is fitted on *every* run whose compute is at most the largest
    compute of its paper fitting set (2.0e19 FLOPs for the loss law, 2.5e20 for the error law on
    the Gadre et al. design): what the same compute budget buys when no run is thrown away.
``"compute_cutoff"``
    Fit on every run with ``compute_flops <= cutoff``, predict every run above it. Options:
    ``cutoff_flops`` (one cutoff for every dataset) or ``cutoff_quantile`` (default 0.8: per
    dataset, the 80% quantile of the runs' compute, so the ~20% largest-compute runs are held out).
``"leave_largest_out"``
    Fit on every run except those of the largest model size; predict those.

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

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024")                                      # doctest: +SKIP
>>> bt = backtest(runs, protocol="paper", loss="loss_c4_val", error="err_avg17",
...               seed=0)                                                    # doctest: +SKIP
>>> coverage(bt, by="target")                                                # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling.data.filters import parse_filter
from bayes_scaling.data.targets import check_kind
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.inference.config import SamplerConfig
from bayes_scaling.inference.diagnostics import DiagnosticsWarning

if TYPE_CHECKING:  # matplotlib and the error law are imported lazily

    from bayes_scaling.estimators.error_law import ErrorLaw

__all__ = [
    "CI_PROBS",
    "PROTOCOLS",
    "GADRE_REPORTED",
    "Split",
    "protocol_splits",
    "backtest",
    "coverage",
    "crps_sample",
    "pit_values",
    "score_draws",
    "score_loss",
]

#: Interval probabilities scored by default.
CI_PROBS: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95)
#: Registered protocols (see the module docstring).
PROTOCOLS: tuple[str, ...] = ("paper", "paper_all_below", "compute_cutoff", "leave_largest_out")

# Nominal model sizes of Gadre et al. (2024), in parameters; runs match within 5%.
_SMALL = (0.011e9, 0.079e9, 0.154e9, 0.411e9)
_SIZE_1B4, _SIZE_6B9 = 1.4e9, 6.9e9
_TOL = 0.05
_LOG_CLIP = 700.0  # exp(700) ~ 1e304: a larger Student-t log-loss draw would overflow to inf

#: Relative errors of Gadre et al.'s point predictions as they report them (their Table 2 /
#: Figure 5): one row per dataset and target, C4-eval loss and 17-task average top-1 error.
GADRE_REPORTED: pd.DataFrame = pd.DataFrame(
    [
        ("c4_original", 1.4e9, 80, 0.015, 0.096),
        ("c4_original", 6.9e9, 20, 0.043, 0.0014),
        ("rpj", 1.4e9, 640, 0.0071, 0.0364),
        ("rpj", 6.9e9, 20, 0.0073, 0.0005),
        ("rw_original", 1.4e9, 320, 0.0001, 0.056),
        ("rw_original", 6.9e9, 20, 0.016, 0.0294),
    ],
    columns=["dataset", "n_params_nominal", "tokens_per_param", "loss_c4_val", "err_avg17"],
)


# ---------------------------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One fit/predict split of a backtest.

    Attributes
    ----------
    dataset : str
        The group (value of the runs table's ``dataset`` column, or ``"all"``).
    fit : pandas.Index
        Index labels of the runs the loss law is fitted on.
    error_fit : pandas.Index
        Index labels of the runs the error law is fitted on.
    targets : pandas.Index
        Index labels of the runs to predict.
    note : str
        How the split was made (e.g. the cutoff), for the record.
    """

    dataset: str
    fit: pd.Index
    error_fit: pd.Index
    targets: pd.Index
    note: str = ""


def _near(x: np.ndarray, value: float) -> np.ndarray:
    return np.abs(np.asarray(x, float) / value - 1.0) <= _TOL


def _paper_sets(g: pd.DataFrame, dataset: str) -> tuple[pd.Index, pd.Index, pd.Index]:
    n = g["n_params"].to_numpy(float)
    m = g["tokens_per_param"].to_numpy(float)
    want = [(s, 20.0) for s in _SMALL] + [(_SMALL[0], 320.0)]
    masks = [_near(n, s) & _near(m, mm) for s, mm in want]
    missing = [f"{s / 1e9:g}B at M={mm:g}" for (s, mm), k in zip(want, masks, strict=True)
               if k.sum() != 1]
    is_1b4 = _near(n, _SIZE_1B4)
    is_1b4_20 = is_1b4 & _near(m, 20.0)
    is_6b9_20 = _near(n, _SIZE_6B9) & _near(m, 20.0)
    over = is_1b4 & ~_near(m, 20.0)
    if is_1b4_20.sum() != 1:
        missing.append("1.4B at M=20")
    if is_6b9_20.sum() != 1:
        missing.append("6.9B at M=20")
    if not over.any():
        missing.append("1.4B at an M other than 20")
    if missing:
        raise ValueError(
            f"dataset {dataset!r} lacks (or has duplicates of) the paper protocol's runs: "
            f"{', '.join(missing)}; the 'paper' protocols need the Gadre et al. (2024) design "
            "(use 'compute_cutoff' or 'leave_largest_out' for other tables)"
        )
    fit = np.logical_or.reduce(masks)
    largest_m = over & (m == m[over].max())
    return (g.index[fit], g.index[fit | is_1b4_20], g.index[largest_m | is_6b9_20])


def protocol_splits(runs: pd.DataFrame, protocol: str, *, error: str | None = None,
                    **options: Any) -> list[Split]:
    """Split ``runs`` into fit and target sets, one :class:`Split` per ``dataset``.

    Parameters
    ----------
    runs : DataFrame
        Runs table with ``n_params``, ``tokens_per_param`` and ``compute_flops`` (and optionally
        ``dataset``; without it all runs form one group ``"all"``).
    protocol : {"paper", "paper_all_below", "compute_cutoff", "leave_largest_out"}
        See the module docstring.
    error : str, optional
        Error column: runs where it is missing are dropped from the error law's fitting set.
    **options
        ``compute_cutoff`` only: ``cutoff_flops`` (float) or ``cutoff_quantile`` (in (0, 1),
        default 0.8).

    Returns
    -------
    list of Split

    Examples
    --------
    >>> runs = pd.DataFrame({"n_params": [1e7, 1e8, 1e9] * 3, "tokens_per_param": [20.0] * 9,
    ...                      "compute_flops": [1.2e16, 1.2e18, 1.2e20] * 3})
    >>> s = protocol_splits(runs, "compute_cutoff", cutoff_flops=1e19)[0]
    >>> (len(s.fit), len(s.targets))
    (6, 3)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    allowed = {"compute_cutoff": {"cutoff_flops", "cutoff_quantile"}}.get(protocol, set())
    extra = set(options) - allowed
    if extra:
        raise TypeError(f"protocol {protocol!r} takes options {sorted(allowed) or 'none'}; "
                        f"got {sorted(extra)}")
    need = {"n_params", "tokens_per_param", "compute_flops"} - set(runs.columns)
    if need:
        raise ValueError(f"runs need columns {sorted(need)} for backtest protocols")
    if "cutoff_flops" in options and "cutoff_quantile" in options:
        raise TypeError("give cutoff_flops or cutoff_quantile, not both")
    q = float(options.get("cutoff_quantile", 0.8))
    if not 0.0 < q < 1.0:
        raise ValueError(f"cutoff_quantile must lie in (0, 1), got {q!r}")
    groups = (list(runs.groupby("dataset", sort=True)) if "dataset" in runs.columns
              else [("all", runs)])
    out = []
    for name, g in groups:
        name = str(name)
        c = g["compute_flops"].to_numpy(float)
        if protocol in ("paper", "paper_all_below"):
            fit, err_fit, targets = _paper_sets(g, name)
            note = "Gadre et al. (2024) fitting sets"
            if protocol == "paper_all_below":
                c_loss = float(g.loc[fit, "compute_flops"].max())
                c_err = float(g.loc[err_fit, "compute_flops"].max())
                fit = g.index[c <= c_loss]
                err_fit = g.index[c <= c_err]
                note = f"all runs with C <= {c_loss:.3g} (loss), <= {c_err:.3g} (error) FLOPs"
            # a target never leaks into a fitting set (it cannot on the paper design)
            fit, err_fit = fit.difference(targets), err_fit.difference(targets)
        elif protocol == "compute_cutoff":
            cut = (float(options["cutoff_flops"]) if "cutoff_flops" in options
                   else float(np.quantile(c, q)))
            fit = err_fit = g.index[c <= cut]
            targets = g.index[c > cut]
            note = f"cutoff {cut:.3g} FLOPs"
        else:
            n = g["n_params"].to_numpy(float)
            big = n == n.max()
            fit = err_fit = g.index[~big]
            targets = g.index[big]
            note = f"held out n_params = {n.max():.4g}"
        if error is not None and error in g.columns:
            err_fit = err_fit[g.loc[err_fit, error].notna().to_numpy()]
        if len(targets) == 0:
            raise ValueError(f"protocol {protocol!r} leaves dataset {name!r} no target runs "
                             f"({note}); lower the cutoff")
        out.append(Split(dataset=name, fit=fit, error_fit=err_fit, targets=targets, note=note))
    return out


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
# The backtest
# ---------------------------------------------------------------------------------------------


def _child_seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([int(seed), *keys]).generate_state(1)[0])


def _error_draws(law: LossLaw, err_law: ErrorLaw, targets: pd.DataFrame, kind: str,
                 seed: int) -> np.ndarray:
    """Error draws at ``targets``: each loss draw through one error-law draw.

    The same chain as :class:`~bayes_scaling.predict.predictor.ScalingPredictor` (true loss: law mean plus
    run-to-run scatter for ``"new_run"``, no eval-set measurement error; draws paired by index),
    with one difference: log-loss draws are clipped at 700 before ``exp``, because a Student-t
    draw with small ``nu`` (poorly identified on a few runs) can overflow to ``inf``, which the
    error law rejects. The clip is exact: ``Err(L)`` saturates at ``eps`` long before L = e^700.
    """
    true_targets = targets.drop(columns=[f"{law.loss}_ci"], errors="ignore")
    log_loss = law.log_loss_draws(true_targets, kind=kind, seed=seed)
    loss = np.exp(np.minimum(log_loss, _LOG_CLIP))
    n_loss, n_err = loss.shape[0], err_law.n_draws
    rng = np.random.default_rng(_child_seed(seed, 1))
    if n_err == n_loss:
        idx = np.arange(n_loss)
    else:  # cycle the error-law draws through random permutations (never in chain order)
        idx = np.concatenate([rng.permutation(n_err) for _ in range(-(-n_loss // n_err))])
        idx = idx[:n_loss]
    return err_law.error_draws(loss, kind=kind, seed=_child_seed(seed, 2), draw_index=idx)


def backtest(
    runs: pd.DataFrame,
    protocol: str = "compute_cutoff",
    *,
    loss: str = "loss_c4_val",
    error: str | None = None,
    law: str = "gadre",
    noise: str = "mixture",
    discrepancy: str | None = "lfo",
    priors: Mapping[str, Any] | None = None,
    seed: int,
    sampler: SamplerConfig | Mapping[str, Any] | None = None,
    ci_probs: Sequence[float] = CI_PROBS,
    kind: str = "new_run",
    error_law: str = "exponential",
    error_options: Mapping[str, Any] | None = None,
    fit_filter: str | None = None,
    kernel: str = "auto",
    **protocol_options: Any,
) -> pd.DataFrame:
    """Fit on small runs, predict held-out larger ones, and score every prediction.

    Parameters
    ----------
    runs : DataFrame
        Runs table (any eval-loss and error columns), grouped by ``dataset`` when present.
    protocol : {"compute_cutoff", "paper", "paper_all_below", "leave_largest_out"}
        How to split each dataset (see the module docstring).
    loss : str
        Loss column to fit and predict, e.g. ``"loss_c4_val"``.
    error : str, optional
        Error column (e.g. ``"err_avg17"``): also fit an error law from ``loss`` to it and score
        the error predictions (rows with ``target == "error"``).
    law : {"gadre", "chinchilla"}
        Loss law.
    noise : {"mixture", "student_t", "normal"}
        Loss law's noise model.
    discrepancy : {"lfo", None}
        Loss law's extrapolation discrepancy (see :class:`~bayes_scaling.LossLaw`).
    priors : mapping, optional
        Loss-law prior overrides.
    seed : int
        Root seed; each split's predictive draws get their own seed derived from it, the loss
        fits of all splits one batch seed (:func:`~bayes_scaling.fit_many`).
    sampler : SamplerConfig or dict, optional
        NUTS settings of every fit (default: :class:`~bayes_scaling.SamplerConfig`).
    kernel : {"auto", "chees", "nuts"}
        Sampler of the batched loss fits (see :func:`~bayes_scaling.fit_many`) and of their
        leave-future-out refits: the loss laws of all splits run as one batch, their refits as
        another.
    ci_probs : sequence of float
        Interval probabilities to score.
    kind : {"new_run", "law_mean"}
        ``"new_run"`` (default) scores the predictive of a *new run's* measurement (law mean,
        run-to-run scatter and the target's measurement error), which is what the truth is.
        ``"law_mean"`` scores the law's mean only (parameter uncertainty), expected to under-cover.
    error_law : {"exponential", "sigmoid"}
        Error law form.
    error_options : mapping, optional
        Keyword arguments for :class:`~bayes_scaling.estimators.error_law.ErrorLaw` (``priors``,
        ``noise``, ``chance``, ``n_items``, ``data_dir``).
    fit_filter : str, optional
        A filter (grammar of :mod:`bayes_scaling.data.filters`; parsed, never evaluated as
        code) that fitting runs must satisfy, applied
        after the protocol's split (targets are unaffected), e.g. ``"tokens_per_param >= 10"``
        to keep the law away from a regime it does not describe.
    **protocol_options
        Options of the protocol, e.g. ``cutoff_flops=1e21`` for ``"compute_cutoff"``.

    Returns
    -------
    DataFrame
        One row per target run and predicted quantity: ``protocol, dataset, run_id, n_params,
        n_tokens, tokens_per_param, compute_flops, target ("loss"/"error"), column, n_fit,
        truth, median, rel_error``, per interval ``lower_<p>, upper_<p>, covered_<p>,
        rel_width_<p>`` (p in percent, e.g. ``covered_90``), ``pit, crps, log_score,
        score_scale`` and the fit's diagnostics ``fit_ok, divergences, max_rhat``. ``attrs``
        record protocol, options, splits, seed, laws, noise, sampler, kind and ``ci_probs``.

    Warns
    -----
    DiagnosticsWarning
        Once, listing every fit whose sampler diagnostics failed (their rows have
        ``fit_ok == False``).

    Examples
    --------
    >>> bt = backtest(runs, protocol="compute_cutoff", loss="loss_c4_val",
    ...               cutoff_flops=1e20, seed=0)                             # doctest: +SKIP
    >>> bt[["dataset", "n_params", "truth", "median", "covered_90"]]         # doctest: +SKIP
    >>> coverage(bt)                                                         # doctest: +SKIP
    """
    check_kind(kind)
    probs = [float(p) for p in ci_probs]
    if not probs or not all(0.0 < p < 1.0 for p in probs):
        raise ValueError(f"ci_probs must be probabilities in (0, 1), got {ci_probs!r}")
    if loss not in runs.columns:
        raise ValueError(f"runs have no loss column {loss!r}")
    if error is not None and error not in runs.columns:
        raise ValueError(f"runs have no error column {error!r}")
    # parsed (never evaluated) before any split or fit, so a bad filter fails at once
    selector = parse_filter(fit_filter) if fit_filter is not None else None
    if selector is not None:
        selector.mask(runs)  # unknown columns and type mismatches, too, before any fit
    splits = protocol_splits(runs, protocol, error=error, **protocol_options)
    loss_kw = {"loss": loss, "priors": priors, "noise": noise, "discrepancy": discrepancy,
               "sampler": sampler}
    rows: list[pd.DataFrame] = []
    failed: list[str] = []
    meta_cols = ["run_id", "n_params", "n_tokens", "tokens_per_param", "compute_flops"]
    prepared = []
    for sp in splits:
        fit_runs = runs.loc[sp.fit]
        err_runs = runs.loc[sp.error_fit]
        if selector is not None:
            fit_runs, err_runs = selector.apply(fit_runs), selector.apply(err_runs)
        # runs without this eval (or error) cannot inform the law
        fit_runs = fit_runs[fit_runs[loss].notna().to_numpy()]
        err_runs = err_runs[err_runs[loss].notna().to_numpy()]
        if len(fit_runs) < 5:
            raise ValueError(f"dataset {sp.dataset!r}: {len(fit_runs)} fitting runs under "
                             f"protocol {protocol!r} ({sp.note}); a loss law needs at least 5")
        prepared.append((sp, fit_runs, err_runs))
    # every split's loss law in one batch (and their leave-future-out refits in another)
    from bayes_scaling.estimators.batch import batch_kernel, fit_many

    with batch_kernel(kernel):  # the leave-future-out refits inside use it too
        loss_fits = fit_many(LossLaw(law, **loss_kw), [f for _, f, _ in prepared],
                             seed=_child_seed(seed, 0, 0), warn=False)
    for i, ((sp, fit_runs, err_runs), ll) in enumerate(zip(prepared, loss_fits, strict=True)):
        targets = runs.loc[sp.targets]
        ok_rows = targets[loss].notna().to_numpy()
        d = ll.diagnostics(warn=False)
        if not d.ok:
            failed.append(f"{sp.dataset} loss law: {d.problems[0]}")
        t = targets[ok_rows]
        cols = score_loss(ll, t, ci_probs=probs, kind=kind, seed=_child_seed(seed, i, 1))
        rows.append(_frame(t, meta_cols, sp, protocol, "loss", loss, len(fit_runs), cols, "log",
                           d))
        if error is None:
            continue
        from bayes_scaling.estimators.error_law import ErrorLaw

        el = ErrorLaw(error_law, error=error, loss=loss, sampler=sampler,
                      **dict(error_options or {}))
        el.fit(err_runs, seed=_child_seed(seed, i, 2), warn=False)
        de = el.diagnostics(warn=False)
        if not de.ok:
            failed.append(f"{sp.dataset} error law: {de.problems[0]}")
        t = targets[targets[error].notna().to_numpy()]
        draws = _error_draws(ll, el, t, kind, _child_seed(seed, i, 3))
        truth = t[error].to_numpy(float)
        cols = score_draws(draws, truth, ci_probs=probs, scale="linear")
        cols["log_score"] = _kde_log_density(draws, truth)
        # the error row is only as sound as both fits
        both = _merge_diag(d, de)
        rows.append(_frame(t, meta_cols, sp, protocol, "error", error, len(err_runs), cols,
                           "linear", both))
    out = pd.concat(rows, ignore_index=True)
    out.attrs.update({
        "protocol": protocol,
        "protocol_options": dict(protocol_options),
        "splits": {sp.dataset: sp.note for sp in splits},
        "seed": int(seed),
        "law": law,
        "noise": noise,
        "discrepancy": discrepancy,
        "loss": loss,
        "error": error,
        "error_law": error_law if error is not None else None,
        "sampler": SamplerConfig().to_dict() if sampler is None else (
            sampler.to_dict() if isinstance(sampler, SamplerConfig) else dict(sampler)),
        "kind": kind,
        "fit_filter": fit_filter,
        "ci_probs": probs,
    })
    if failed:
        warnings.warn("backtest: sampler diagnostics failed for " + f"{len(failed)} fit(s):\n  "
                      + "\n  ".join(failed), DiagnosticsWarning, stacklevel=2)
    return out


@dataclass(frozen=True)
class _Diag:
    ok: bool
    divergences: int
    max_rhat: float


def _merge_diag(*ds: Any) -> _Diag:
    return _Diag(ok=all(d.ok for d in ds), divergences=sum(d.divergences for d in ds),
                 max_rhat=max(d.max_rhat for d in ds))


def _frame(t: pd.DataFrame, meta_cols: list[str], sp: Split, protocol: str, target: str,
           column: str, n_fit: int, cols: pd.DataFrame, scale: str,
           diag: Any) -> pd.DataFrame:
    head = pd.DataFrame({"protocol": protocol, "dataset": sp.dataset}, index=range(len(t)))
    for c in meta_cols:
        head[c] = (t[c].to_numpy() if c in t.columns
                   else np.asarray([str(x) for x in t.index]) if c == "run_id" else np.nan)
    head["target"] = target
    head["column"] = column
    head["n_fit"] = n_fit
    body = cols.reset_index(drop=True).copy()
    body["score_scale"] = scale
    body["fit_ok"] = bool(diag.ok)
    body["divergences"] = int(diag.divergences)
    body["max_rhat"] = float(diag.max_rhat)
    return pd.concat([head, body], axis=1)


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
        Output of :func:`backtest` (columns ``covered_<p>`` and ``rel_width_<p>``).
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


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------
