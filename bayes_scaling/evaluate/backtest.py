"""Backtests: fit a law on small runs, predict larger ones, and score the predictions.

A *protocol* splits a runs table (per ``dataset``) into the runs a law is fitted on and the runs it
must predict. :func:`backtest` fits a :class:`~bayes_scaling.LossLaw` (and, for downstream error,
an :class:`~bayes_scaling.estimators.error_law.ErrorLaw`) on each split and scores the *observed* predictive
(the loss, or error, a new run would measure) against the held-out truth.
:func:`~bayes_scaling.evaluate.scoring.coverage` then compares nominal and empirical interval
coverage, as Prophet's ``performance_metrics`` does.

The protocols (how runs are split) are in :mod:`bayes_scaling.evaluate.splits`; the scores and
the coverage summary in :mod:`bayes_scaling.evaluate.scoring`. This module owns :func:`backtest`
itself: the loss and error fits on each split and the table of scored predictions.

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
from bayes_scaling.evaluate.scoring import CI_PROBS, _kde_log_density, score_draws, score_loss
from bayes_scaling.evaluate.splits import Split, protocol_splits
from bayes_scaling.inference.config import SamplerConfig
from bayes_scaling.inference.diagnostics import DiagnosticsWarning

if TYPE_CHECKING:  # the error law is imported lazily

    from bayes_scaling.estimators.error_law import ErrorLaw

__all__ = ["backtest"]

_LOG_CLIP = 700.0  # exp(700) ~ 1e304: a larger Student-t log-loss draw would overflow to inf


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
    error_law: str = "sigmoid",
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
        How to split each dataset (see :mod:`bayes_scaling.evaluate.splits`).
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
    error_law : {"sigmoid", "exponential", "auto"}
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
