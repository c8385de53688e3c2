"""Calibration figures of a backtest: coverage against nominal level and the PIT histogram."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bayes_scaling.plots._common import _new_ax

if TYPE_CHECKING:  # matplotlib is imported lazily: importing the package stays cheap
    from matplotlib.axes import Axes


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
