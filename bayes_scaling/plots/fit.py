"""Figures of a fitted law against its runs: the fit with its targets, the prior predictive,
over-training curves at fixed size, and the error law against loss."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.plots._common import (
    COMPUTE_LABEL,
    M_LABEL,
    _band_legend,
    _bands,
    _ci_probs,
    _m_colors,
    _m_key,
    _new_ax,
    _observed_column,
    _plain_log_y,
    _si,
    target_label,
)
from bayes_scaling.predict.queries import Kind, Model, Target, predictive_draws

if TYPE_CHECKING:  # matplotlib is imported lazily: importing the package stays cheap
    from matplotlib.axes import Axes


def plot_fit(model: Model, runs: pd.DataFrame, *, targets: pd.DataFrame | None = None,
             target: Target = "loss", ci_prob: float | Sequence[float] = (0.5, 0.9),
             kind: Kind = "new_run", target_kind: Kind = "new_run",
             tokens_per_param: Sequence[float] | None = None,
             num_points: int = 60, seed: int = 0, ax: Axes | None = None) -> Axes:
    """Posterior bands of the law over the runs and out to the targets: loss (or error) against
    training compute, one curve per token multiplier M.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    runs : DataFrame
        Runs to show as points (usually those the law was fitted on); points are coloured by M.
    targets : DataFrame, optional
        Planned runs: drawn as stars with their ``max(ci_prob)`` interval; where a target row
        carries the observed value (the loss or error column), it is drawn as a black cross.
    target : {"loss", "error"}
    ci_prob : float or sequence of float
        Band probabilities (nested, lighter for wider).
    kind : {"new_run", "law_mean"}
        Bands of the mean law, or of what a new run would show.
    target_kind : {"new_run", "law_mean"}
        Interval drawn at each target: by default what the planned run would show (run-to-run
        scatter included), which is what its observed value is compared with.
    tokens_per_param : sequence of float, optional
        Curves to draw; default every M among the runs and targets.
    num_points : int
        Points per curve.
    seed : int
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_fit(law, runs, targets=runs.query("n_params > 1e9"))  # doctest: +SKIP
    """
    ax = _new_ax(ax)
    probs = _ci_probs(ci_prob)
    runs = resolve_targets(runs)
    t = None if targets is None else resolve_targets(targets)
    if tokens_per_param is None:
        ms = set(_m_key(runs["tokens_per_param"]).tolist())
        if t is not None:
            ms |= set(_m_key(t["tokens_per_param"]).tolist())
        ms = sorted(ms)
    else:
        ms = sorted(float(m) for m in np.atleast_1d(tokens_per_param))
    colors = _m_colors(ms)
    comp = runs["compute_flops"].to_numpy(float)
    c_hi = comp.max() if t is None else max(comp.max(), t["compute_flops"].max())
    grid = np.geomspace(comp.min() / 1.5, c_hi * 1.5, num_points)
    # one draw call for every curve: the noise seed and draws are shared, as are the params
    curves = pd.DataFrame({"compute_flops": np.tile(grid, len(ms)),
                           "tokens_per_param": np.repeat(ms, num_points)})
    draws = predictive_draws(model, curves, target=target, kind=kind, seed=seed)
    med, bands = _bands(draws, probs)
    for i, m in enumerate(ms):
        sl = slice(i * num_points, (i + 1) * num_points)
        for j, lo_hi in enumerate(bands):
            ax.fill_between(grid, lo_hi[0, sl], lo_hi[1, sl], color=colors[m],
                            alpha=0.08 + 0.1 * j, lw=0)
        ax.plot(grid, med[sl], color=colors[m], lw=1.3, label=f"M = {m:g}")
    obs = _observed_column(model, target)
    if obs is not None and obs in runs.columns:
        key = _m_key(runs["tokens_per_param"])
        for m in ms:
            sel = np.isclose(key, m)
            ax.scatter(runs.loc[sel, "compute_flops"], runs.loc[sel, obs], s=18,
                       color=colors[m], edgecolor="k", lw=0.4, zorder=3)
    if t is not None:
        tdraws = predictive_draws(model, t, target=target, kind=target_kind, seed=seed)
        tmed, tb = _bands(tdraws, probs[:1])
        tkey = _m_key(t["tokens_per_param"])
        x = t["compute_flops"].to_numpy(float)
        for k in range(len(t)):
            c = colors.get(float(tkey[k]), "0.3")
            ax.errorbar(x[k], tmed[k], yerr=[[tmed[k] - tb[0][0, k]], [tb[0][1, k] - tmed[k]]],
                        fmt="*", ms=11, color=c, mec="k", mew=0.6, capsize=3, zorder=4,
                        label=f"target ({probs[0]:.0%} interval)" if k == 0 else None)
        if obs is not None and obs in t.columns:
            y = t[obs].to_numpy(float)
            ok = np.isfinite(y)
            ax.scatter(x[ok], y[ok], marker="x", s=40, color="k", zorder=5,
                       label="target, observed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(COMPUTE_LABEL)
    ax.set_ylabel(target_label(model, target))
    _plain_log_y(ax)
    _band_legend(ax, probs)
    what = "Loss" if target == "loss" else "Downstream error"
    ax.set_title(f"{what} vs. compute: posterior "
                 f"{'band of the law mean' if kind == 'law_mean' else 'new-run predictive'}", fontsize=10)
    return ax


def plot_prior_predictive(law: LossLaw, runs: pd.DataFrame, *, num_samples: int = 500,
                          ci_prob: float | Sequence[float] = (0.5, 0.9), seed: int = 0,
                          ax: Axes | None = None) -> Axes:
    """Prior predictive intervals of loss at each run, against the observed losses.

    A check that the priors allow the data (every point inside the wide band) without being so
    wide that they allow absurd losses. ``law`` needs no fit: only its priors are used.

    Parameters
    ----------
    law : LossLaw
    runs : DataFrame
        Runs with the law's loss column.
    num_samples : int
        Prior draws.
    ci_prob : float or sequence of float
    seed : int
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_prior_predictive(bs.LossLaw("gadre"), runs)  # doctest: +SKIP
    """
    ax = _new_ax(ax)
    probs = _ci_probs(ci_prob)
    draws = law.prior_predictive(runs, num_samples=num_samples, seed=seed)
    r = resolve_targets(runs)
    x = r["compute_flops"].to_numpy(float)
    med, bands = _bands(draws, probs)
    for j, (lo_hi, p) in enumerate(zip(bands, probs, strict=True)):
        ax.vlines(x, lo_hi[0], lo_hi[1], color="tab:blue", alpha=0.25 + 0.3 * j,
                  lw=2 + 2 * j, label=f"prior predictive {p:.0%}")
    ax.scatter(x, med, marker="_", color="tab:blue", s=60, label="prior predictive median")
    ax.scatter(x, r[law.loss], color="k", s=12, zorder=3, label="observed")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(COMPUTE_LABEL)
    ax.set_ylabel(f"Loss {law.loss} (nats/token)")
    ax.set_title(f"Prior predictive check ({law.law} law)", fontsize=10)
    _plain_log_y(ax)
    ax.legend(fontsize=7, frameon=False)
    return ax




def plot_overtraining(model: Model, *, n_params: float | Sequence[float],
                      runs: pd.DataFrame | None = None,
                      tokens_per_param: Sequence[float] | None = None,
                      target: Target = "loss", ci_prob: float | Sequence[float] = (0.5, 0.9),
                      kind: Kind = "new_run", seed: int = 0, ax: Axes | None = None) -> Axes:
    """Loss (or error) against tokens per parameter at fixed model size: the over-training
    curve, with posterior bands and the runs of that size.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    n_params : float or sequence of float
        Model sizes, one curve each.
    runs : DataFrame, optional
        Runs to overlay; a run is drawn on a curve when its size is within 5% of it.
    tokens_per_param : sequence of float, optional
        Grid of M; default from 5 to twice the largest M among the runs (at least 1000).
    target : {"loss", "error"}
    ci_prob : float or sequence of float
    kind : {"new_run", "law_mean"}
    seed : int
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_overtraining(law, n_params=[4.1e8, 1.4e9], runs=runs)  # doctest: +SKIP
    """
    ax = _new_ax(ax)
    probs = _ci_probs(ci_prob)
    sizes = sorted(float(n) for n in np.atleast_1d(n_params))
    if tokens_per_param is None:
        m_max = 1000.0
        if runs is not None and len(runs):
            m_max = max(m_max, 2 * float(resolve_targets(runs)["tokens_per_param"].max()))
        grid = np.geomspace(5.0, m_max, 60)
    else:
        grid = np.sort(np.asarray(tokens_per_param, dtype=float))
    import matplotlib as mpl

    cmap = mpl.colormaps["plasma"]
    obs = _observed_column(model, target)
    r = None if runs is None else resolve_targets(runs)
    for i, n in enumerate(sizes):
        color = cmap(0.85 * i / max(len(sizes) - 1, 1))
        t = pd.DataFrame({"n_params": np.full(grid.size, n), "tokens_per_param": grid})
        draws = predictive_draws(model, t, target=target, kind=kind, seed=seed)
        med, bands = _bands(draws, probs)
        for j, lo_hi in enumerate(bands):
            ax.fill_between(grid, lo_hi[0], lo_hi[1], color=color, alpha=0.12 + 0.12 * j, lw=0)
        ax.plot(grid, med, color=color, lw=1.4, label=f"N = {_si(n)} parameters")
        if r is not None and obs is not None and obs in r.columns:
            sel = np.isclose(r["n_params"].to_numpy(float), n, rtol=0.05)
            ax.scatter(r.loc[sel, "tokens_per_param"], r.loc[sel, obs], color=color,
                       edgecolor="k", lw=0.4, s=20, zorder=3)
    ax.axvline(20.0, color="0.6", ls=":", lw=1, label="M = 20 (≈ compute-optimal)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(M_LABEL)
    ax.set_ylabel(target_label(model, target))
    ax.set_title("Over-training at fixed model size", fontsize=10)
    _plain_log_y(ax)
    _band_legend(ax, probs)
    return ax




def plot_error_law(error_law: Any, *, runs: pd.DataFrame | None = None,
                   loss_range: tuple[float, float] | None = None,
                   ci_prob: float | Sequence[float] = (0.5, 0.9), kind: Kind = "new_run",
                   seed: int = 0, ax: Axes | None = None) -> Axes:
    """Downstream error against eval loss: the fitted error law with posterior bands, its
    chance level, and the runs.

    Parameters
    ----------
    error_law : ErrorLaw
        A fitted error law (``error_draws(loss, kind=, seed=)``; ``error``, ``loss`` columns).
    runs : DataFrame, optional
        Runs to overlay (their loss and error columns).
    loss_range : (float, float), optional
        Losses to draw the law over (in the fit's ``loss_unit``, shown on the x axis); default
        the runs' range widened by 10%, or 2 to 6 without runs.
    ci_prob : float or sequence of float
    kind : {"new_run", "law_mean"}
        Bands of the law's mean, or of what a run would measure (adds scatter and the
        benchmark's sampling error).
    seed : int
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_error_law(err_law, runs=runs)  # doctest: +SKIP
    """
    ax = _new_ax(ax)
    probs = _ci_probs(ci_prob)
    have = runs is not None and {error_law.loss, error_law.error} <= set(runs.columns)
    if loss_range is None:
        if have:
            lo, hi = float(runs[error_law.loss].min()), float(runs[error_law.loss].max())
            loss_range = (lo / 1.1, hi * 1.1)
        else:
            loss_range = (2.0, 6.0)
    grid = np.linspace(*loss_range, 120)
    draws = error_law.error_draws(grid, kind=kind, seed=seed)
    med, bands = _bands(draws, probs)
    for j, lo_hi in enumerate(bands):
        ax.fill_between(grid, lo_hi[0], lo_hi[1], color="tab:red", alpha=0.12 + 0.15 * j, lw=0)
    ax.plot(grid, med, color="tab:red", lw=1.5, label=f"{error_law.law} law, posterior median")
    chance = getattr(error_law, "chance_error", None)
    if chance is not None:
        ax.axhline(chance, color="0.5", ls="--", lw=1, label=f"chance level {chance:.3f}")
    if have:
        ax.scatter(runs[error_law.loss], runs[error_law.error], s=16, color="k", zorder=3,
                   label="runs")
    # the fit records the loss's unit (ErrorLaw(loss_unit=...)); fits saved before it: nats/token
    unit = (error_law.idata.attrs.get("loss_unit", "nats/token")
            if getattr(error_law, "idata", None) is not None
            else getattr(error_law, "loss_unit", "nats/token"))
    ax.set_xlabel(f"Loss {error_law.loss} ({unit})")
    ax.set_ylabel(f"Top-1 error {error_law.error} (fraction)")
    ax.set_title("Loss-to-error law", fontsize=10)
    _band_legend(ax, probs)
    return ax


