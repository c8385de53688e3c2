"""The report's figures: each drawn on a bare matplotlib ``Figure`` and embedded as PNG
(base64) in a :class:`ReportFigure`.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.predict.queries import DrawsModel

__all__ = ["ReportFigure"]


@dataclass(frozen=True)
class ReportFigure:
    """One embedded figure: a key (file stem), a title, a caption and the PNG as base64."""

    key: str
    title: str
    caption: str
    png_base64: str

    @property
    def png_bytes(self) -> bytes:
        return base64.b64decode(self.png_base64)


def _png(fig: Any, dpi: int = 110) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(figsize: tuple[float, float]):
    # a bare Figure, not pyplot: no global state, no GUI backend, freed with the object
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _make_figures(law: LossLaw, model: LossLaw | DrawsModel, fit_runs: pd.DataFrame,
                  all_runs: pd.DataFrame, targets: pd.DataFrame,
                  backtest: pd.DataFrame | None, seed: int,
                  prior_predictive: bool) -> tuple[ReportFigure, ...]:
    from bayes_scaling import plots

    figs = []
    fig = _figure((8.0, 5.0))
    plots.plot_fit(model, fit_runs, targets=targets, ax=fig.add_subplot(), seed=seed)
    figs.append(ReportFigure(
        "fit", "Fit and extrapolation",
        "Posterior median of the mean law (lines) with 50% and 90% bands, one curve per token "
        "multiplier M, over the fitted runs (dots) and out to the targets (stars: 90% interval "
        "of a new run; crosses: observed loss where known).", _png(fig)))
    sizes = sorted(set(np.round(resolve_targets(targets)["n_params"].to_numpy(float), -3))
                   | {float(fit_runs["n_params"].max())})[-5:]  # a readable number of curves
    fig = _figure((8.0, 4.6))
    plots.plot_overtraining(model, n_params=sizes, runs=all_runs.loc[
        all_runs["dataset"].isin(fit_runs["dataset"].unique())], ax=fig.add_subplot(), seed=seed)
    figs.append(ReportFigure(
        "overtraining", "Over-training at fixed model size",
        "Loss against tokens per parameter for the target sizes and the largest fitted size, "
        "with 50% and 90% bands of the mean law; dots are runs of that size from the same "
        "corpus (including held-out ones).", _png(fig)))
    params = plots.posterior_params(law)
    ncol = min(len(params), 3)
    nrow = -(-len(params) // ncol)
    fig = _figure((3.6 * ncol, 2.9 * nrow))
    grid = fig.subplots(nrow, ncol, squeeze=False).ravel()
    for extra in grid[len(params):]:
        extra.set_visible(False)
    plots.plot_posteriors(law, params, axes=grid[: len(params)])
    figs.append(ReportFigure(
        "posterior", "Parameter posteriors",
        "Marginal posterior of each natural-unit parameter (histogram), its median and 90% "
        "interval; dashed: the prior where the parameter is sampled directly.", _png(fig, 90)))
    if prior_predictive:
        fig = _figure((8.0, 4.4))
        plots.plot_prior_predictive(law, fit_runs, ax=fig.add_subplot(), seed=seed)
        figs.append(ReportFigure(
            "prior_predictive", "Prior predictive check",
            "50% and 90% prior predictive intervals of each fitted run's loss against the observed "
            "loss: the priors must allow the data without being absurdly wide.", _png(fig)))
    err_law = _error_law_of(model)
    if err_law is not None:
        fig = _figure((6.4, 4.4))
        plots.plot_error_law(err_law, runs=fit_runs, ax=fig.add_subplot(), seed=seed)
        figs.append(ReportFigure(
            "error_law", "Loss-to-error law",
            "Average top-1 error against eval loss: posterior median of the fitted error law "
            "with 50% and 90% bands of its mean, the chance level, and the runs it was "
            "fitted on.", _png(fig)))
        fig = _figure((8.0, 5.0))
        plots.plot_fit(model, fit_runs, targets=targets, target="error", ax=fig.add_subplot(),
                       seed=seed)
        figs.append(ReportFigure(
            "downstream", "Downstream error",
            "Average top-1 error through the fitted loss-to-error law, draw by draw, against "
            "compute: 50% and 90% bands of the mean law; stars: 90% interval of the error a "
            "new run would measure; crosses: observed error where known.", _png(fig)))
    if backtest is not None and {"ci_prob", "coverage"} <= set(backtest.columns):
        fig = _figure((4.6, 4.4))
        group = "target" if "target" in backtest.columns else None
        plots.plot_calibration(backtest, group=group, ax=fig.add_subplot())
        figs.append(ReportFigure(
            "calibration", "Backtest calibration",
            "Nominal interval probability against the share of held-out runs inside the "
            "interval.", _png(fig)))
    return tuple(figs)


def _error_law_of(model: Any) -> Any:
    return getattr(model, "error_law", None)
