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

from bayes_scaling.plots._common import target_label
from bayes_scaling.plots.calibration import plot_calibration, plot_pit
from bayes_scaling.plots.fit import plot_error_law, plot_fit, plot_overtraining, plot_prior_predictive
from bayes_scaling.plots.posterior import plot_posterior, plot_posteriors, posterior_params

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

