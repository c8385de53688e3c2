"""Matplotlib figures of fits, priors, posteriors, calibration and over-training.

Every function takes ``ax=None`` (a new figure is made) and returns the ``Axes`` it drew on, so
figures compose and the report can draw into its own ``Figure`` objects without pyplot state.
Axes carry units; sizes, compute and losses are on log axes. Statistics (quantiles over draws)
are computed first, then drawn.

Examples
--------
>>> import bayes_scaling as bs
>>> from bayes_scaling import plots
>>> ax = plots.plot_fit(law, runs, targets=targets)          # doctest: +SKIP
>>> ax = plots.plot_overtraining(law, n_params=1.4e9, runs=runs)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.predict.queries import Kind, Model, Target, _loss_law, predictive_draws

if TYPE_CHECKING:  # matplotlib is imported lazily: importing the package stays cheap
    from matplotlib.axes import Axes

__all__ = [
    "plot_fit",
    "plot_prior_predictive",
    "plot_posterior",
    "plot_posteriors",
    "plot_calibration",
    "plot_pit",
    "plot_overtraining",
    "plot_error_law",
    "posterior_params",
    "target_label",
]

COMPUTE_LABEL = "Training compute C = 6ND (FLOPs)"
M_LABEL = "Tokens per parameter M = D/N (tokens/parameter)"

# Natural-unit parameters: axis label with units, and whether a log axis suits the spread.
_PARAM_LABELS: dict[str, tuple[str, bool]] = {
    "E": ("E, irreducible loss\n(nats/token)", False),
    "A": ("A, size amplitude\n(nats·parameters^α)", True),
    "B": ("B, data amplitude\n(nats·tokens^β)", True),
    "alpha": ("α, size exponent\n(dimensionless)", False),
    "beta": ("β, data exponent\n(dimensionless)", False),
    "eta": ("η, exponent on N and D\n(dimensionless)", False),
    "a": ("a, log size term at the\ndesign centre (log nats)", False),
    "b": ("b, log data term at the\ndesign centre (log nats)", False),
    "sigma": ("σ, run-to-run scatter\nof log loss (relative)", False),
    "nu": ("ν, Student-t degrees\nof freedom (dimensionless)", True),
    "outlier_prob": ("π, share of outlying\nruns (probability)", False),
    "outlier_scale": ("τ, extra scatter of an\noutlying run (relative)", True),
}


def _si(x: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def _new_ax(ax: Axes | None, figsize: tuple[float, float] = (6.4, 4.4)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _plain_log_y(ax: Axes) -> None:
    """Plain numbers (2.5, 3, 4) on a log y axis spanning less than a decade, where matplotlib
    would otherwise print 3x10^0."""
    from matplotlib.ticker import FuncFormatter

    lo, hi = ax.get_ylim()
    if lo > 0 and hi / lo < 30:
        fmt = FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(fmt)
        ax.yaxis.set_minor_formatter(fmt)


def _band_legend(ax: Axes, probs: Sequence[float]) -> None:
    """Neutral grey legend entries for the nested bands (the curves' colours say which M)."""
    from matplotlib.patches import Patch

    handles, labels = ax.get_legend_handles_labels()
    for j, p in enumerate(probs):
        handles.append(Patch(color="0.35", alpha=0.15 + 0.15 * j, lw=0))
        labels.append(f"{p:.0%} interval")
    ax.legend(handles, labels, fontsize=7, ncol=2, frameon=False)


def _ci_probs(ci_prob: float | Sequence[float]) -> list[float]:
    probs = sorted({float(p) for p in np.atleast_1d(ci_prob)}, reverse=True)
    for p in probs:
        if not 0.0 < p < 1.0:
            raise ValueError(f"ci_prob must lie in (0, 1), got {p!r}")
    return probs


def _bands(draws: np.ndarray, probs: Sequence[float]) -> tuple[np.ndarray, list[np.ndarray]]:
    med = np.median(draws, axis=0)
    bands = [np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0) for p in probs]
    return med, bands


def _error_column(model: Model) -> str | None:
    err = getattr(model, "error_law", None)
    return None if err is None else getattr(err, "error", None)


def target_label(model: Model, target: Target = "loss") -> str:
    """Axis label with units for the predicted quantity.

    Examples
    --------
    >>> target_label(law)  # doctest: +SKIP
    'Loss loss_c4_val (nats/token)'
    """
    if target == "loss":
        return f"Loss {_loss_law(model).loss} (nats/token)"
    col = _error_column(model) or "error"
    return f"Top-1 error {col} (fraction)"


def _observed_column(model: Model, target: Target) -> str | None:
    return _loss_law(model).loss if target == "loss" else _error_column(model)


def _m_key(m: np.ndarray) -> np.ndarray:
    """Token multipliers rounded to 3 significant digits: runs at "M = 20" group together
    although D / N of real runs is 19.97 or 20.02."""
    m = np.asarray(m, dtype=float)
    return np.asarray([float(f"{v:.3g}") for v in m])


def _m_colors(ms: Sequence[float]) -> dict[float, Any]:
    import matplotlib as mpl

    cmap = mpl.colormaps["viridis"]
    logs = np.log(np.asarray(ms, dtype=float))
    span = np.ptp(logs) if len(logs) > 1 else 1.0
    return {m: cmap(0.9 * (lg - logs.min()) / (span or 1.0)) for m, lg in zip(ms, logs,
                                                                                  strict=True)}


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


def _prior_density(law: LossLaw, name: str, x: np.ndarray) -> np.ndarray | None:
    """Density of a sampled parameter's prior at ``x`` (``None`` when the parameter is derived,
    e.g. A and B are functions of the sampled centred amplitude and the exponent)."""
    prior = law.priors.get(name)
    if prior is None or name in ("a", "b") or name not in law.idata.posterior:
        return None
    if prior.dist == "delta":
        return None
    import jax.numpy as jnp

    from bayes_scaling.laws.priors import MIN_OBSERVED_LOSS

    resolved = prior.resolve({MIN_OBSERVED_LOSS: float(law.idata.attrs["e_upper"])})
    d = resolved.to_numpyro()
    lp = np.asarray(d.log_prob(jnp.asarray(x)))
    inside = np.asarray(d.support(jnp.asarray(x)))
    return np.where(inside, np.exp(lp), 0.0)


def plot_posterior(model: Model, param: str, *, ci_prob: float = 0.9, prior: bool = True,
                   ax: Axes | None = None) -> Axes:
    """Histogram of one parameter's posterior with its median, interval and (where the
    parameter is sampled directly) its prior density.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    param : str
        A natural-unit parameter: ``E``, ``A``, ``B``, the exponents, ``sigma``.
    ci_prob : float
    prior : bool
        Overlay the prior density.
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_posterior(law, "eta")  # doctest: +SKIP
    """
    ax = _new_ax(ax, (4.0, 3.0))
    law = _loss_law(model)
    if param not in law.idata.posterior:
        raise ValueError(f"no parameter {param!r}; this fit has "
                         f"{sorted(law.idata.posterior.data_vars)}")
    v = law.idata.posterior[param].values.reshape(-1)
    label, log = _PARAM_LABELS.get(param, (param, False))
    lo, hi = np.quantile(v, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    med = float(np.median(v))
    if np.ptp(v) <= 1e-12 * max(abs(med), 1e-300):  # fixed (delta prior) or degenerate draws
        ax.axvline(med, color="tab:blue", lw=1.5, label=f"fixed at {med:.4g}")
        ax.set_xlabel(label)
        ax.set_ylabel("Posterior density (1/unit)")
        ax.legend(fontsize=7, frameon=False)
        return ax
    # a log axis only where the draws span more than a decade (else its ticks crowd)
    log = log and v.min() > 0 and v.max() / v.min() > 10
    bins = np.geomspace(v.min(), v.max(), 50) if log else 50
    ax.hist(v, bins=bins, density=True, color="tab:blue", alpha=0.55, label="posterior")
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.12, label=f"{ci_prob:.0%} interval")
    ax.axvline(med, color="tab:blue", lw=1.5, label=f"median {med:.4g}")
    if prior:
        x = np.geomspace(v.min(), v.max(), 200) if log else np.linspace(v.min(), v.max(), 200)
        dens = _prior_density(law, param, x)
        if dens is not None:
            ax.plot(x, dens, color="0.4", ls="--", lw=1, label="prior")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("Posterior density (1/unit)")
    ax.legend(fontsize=7, frameon=False)
    return ax


def posterior_params(model: Model) -> list[str]:
    """The natural-unit parameters worth plotting: the law's and the noise model's (``sigma``,
    then ``nu`` or the outlier share and scale)."""
    from bayes_scaling.models.noise import NOISE_SITES

    law = _loss_law(model)
    return [*law.spec.natural_params, *NOISE_SITES[law.noise]]


def plot_posteriors(model: Model, params: Sequence[str] | None = None, *, ci_prob: float = 0.9,
                    axes: Sequence[Axes] | None = None) -> np.ndarray:
    """:func:`plot_posterior` for several parameters side by side.

    Returns
    -------
    ndarray of Axes
        One per parameter; default parameters are :func:`posterior_params` (a grid of up to
        three columns when ``axes`` is not given).

    Examples
    --------
    >>> axes = plot_posteriors(law)  # doctest: +SKIP
    """
    law = _loss_law(model)
    if params is None:
        params = posterior_params(law)
    if axes is None:
        import matplotlib.pyplot as plt

        ncol = min(len(params), 3)
        nrow = -(-len(params) // ncol)
        _, grid = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow),
                               layout="constrained", squeeze=False)
        axes = grid.ravel()[: len(params)]
        for extra in grid.ravel()[len(params):]:
            extra.set_visible(False)
    if len(axes) != len(params):
        raise ValueError(f"{len(axes)} axes for {len(params)} parameters")
    for ax, p in zip(axes, params, strict=True):
        plot_posterior(law, p, ci_prob=ci_prob, ax=ax)
    return np.asarray(axes, dtype=object)


def plot_calibration(coverage: pd.DataFrame, *, group: str | None = None,
                     ax: Axes | None = None) -> Axes:
    """Nominal interval probability against empirical coverage, with the ideal diagonal.

    Parameters
    ----------
    coverage : DataFrame
        Columns ``ci_prob`` and ``coverage`` (fractions), e.g. from
        :func:`bayes_scaling.evaluate.scoring.coverage`, or a backtest table itself (summarised here,
        by ``group``). With a column ``n`` (number of predictions behind each coverage) the
        binomial 95% band of a calibrated model is shaded.
    group : str, optional
        Column that splits the rows into one line each (e.g. ``"target"``).
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> cov = pd.DataFrame({"ci_prob": [0.5, 0.8, 0.9], "coverage": [0.45, 0.8, 0.93]})
    >>> ax = plot_calibration(cov)  # doctest: +SKIP
    """
    if "coverage" not in coverage.columns and any(c.startswith("covered_")
                                                   for c in coverage.columns):
        from bayes_scaling.evaluate.scoring import coverage as summarise

        if group is not None and group not in coverage.columns:
            raise ValueError(f"group column {group!r} not in the backtest table")
        coverage = summarise(coverage, by=group)
    missing = {"ci_prob", "coverage"} - set(coverage.columns)
    if missing:
        raise ValueError(f"coverage table needs columns ci_prob and coverage; missing "
                         f"{sorted(missing)}")
    if group is not None and group not in coverage.columns:
        raise ValueError(f"group column {group!r} not in the coverage table")
    ax = _new_ax(ax, (4.4, 4.2))
    ax.plot([0, 100], [0, 100], color="0.5", ls="--", lw=1, label="ideal")
    if "n" in coverage.columns:
        per = coverage.groupby("ci_prob", as_index=False)["n"].min().sort_values("ci_prob")
        p = per["ci_prob"].to_numpy(float)
        half = 1.96 * np.sqrt(p * (1 - p) / np.maximum(per["n"].to_numpy(float), 1))
        ax.fill_between(100 * p, 100 * np.clip(p - half, 0, 1), 100 * np.clip(p + half, 0, 1),
                        color="0.5", alpha=0.15, lw=0, label="95% band if calibrated")
    groups = [(None, coverage)] if group is None else list(coverage.groupby(group, sort=True))
    for name, g in groups:
        g = g.sort_values("ci_prob")
        ax.plot(100 * g["ci_prob"], 100 * g["coverage"], marker="o", ms=4,
                label="empirical" if name is None else str(name))
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.set_xlabel("Nominal interval probability (%)")
    ax.set_ylabel("Empirical coverage (%)")
    ax.set_title("Calibration of predictive intervals", fontsize=10)
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


def plot_pit(bt: pd.DataFrame, *, bins: int = 10, ax: Axes | None = None) -> Axes:
    """Histogram of PIT values (share of predictive draws below the truth).

    Flat at 1 for calibrated forecasts; U-shaped when intervals are too narrow, humped when too
    wide, tilted when the median is biased (mass near 1: truths above the predictions).

    Parameters
    ----------
    bt : DataFrame
        A backtest table with a ``pit`` column.
    bins : int
        Number of equal-width bins on [0, 1].
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_pit(pd.DataFrame({"pit": [0.1, 0.5, 0.52, 0.9]}), bins=5)
    >>> ax.get_ylabel()
    'Density (1 = uniform)'
    """
    if "pit" not in bt.columns:
        raise ValueError("plot_pit needs a backtest table with a 'pit' column")
    pit = bt["pit"].to_numpy(float)
    pit = pit[np.isfinite(pit)]
    ax = _new_ax(ax, (4.8, 3.4))
    ax.hist(pit, bins=np.linspace(0, 1, bins + 1), density=True, color="C0", alpha=0.7,
            edgecolor="white", label=f"{len(pit)} predictions")
    n = max(len(pit), 1)
    # 95% band of a bin's density under uniformity (binomial count / (n * width))
    p = 1.0 / bins
    half = 1.96 * np.sqrt(p * (1 - p) / n) / p
    ax.axhspan(max(1 - half, 0), 1 + half, color="0.5", alpha=0.15, lw=0,
               label="95% band if uniform")
    ax.axhline(1.0, color="0.3", ls="--", lw=1)
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT: predictive probability below the observed value (fraction)")
    ax.set_ylabel("Density (1 = uniform)")
    ax.set_title("PIT histogram", fontsize=10)
    ax.legend(fontsize=7, frameon=False)
    return ax
