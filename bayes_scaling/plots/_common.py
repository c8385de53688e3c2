"""Shared pieces of the figures: axis labels, SI formatting, bands, colours by tokens per
parameter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_scaling.predict.queries import Model, Target, _loss_law

if TYPE_CHECKING:  # matplotlib is imported lazily: importing the package stays cheap
    from matplotlib.axes import Axes

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


