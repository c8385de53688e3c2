"""Figures: each returns its Axes, labels carry units, sizes and compute are on log axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # headless, deterministic

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from bayes_scaling import plots  # noqa: E402
from bayes_scaling.estimators.error_law import ErrorLaw  # noqa: E402
from bayes_scaling.predict.predictor import ScalingPredictor  # noqa: E402
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law  # noqa: E402

TARGETS = pd.DataFrame({"n_params": [1.44e9, 6.89e9], "n_tokens": [1.44e9 * 640, 6.89e9 * 20],
                        "loss_sim": [2.45, 2.40]})


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def law(sim_runs):
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0)


@pytest.fixture(scope="module")
def err_law():
    n = 1000
    return ErrorLaw.from_draws({"eps": np.full(n, 0.8), "k": np.linspace(3.8, 4.2, n),
                                "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
                               chance=0.81, loss="loss_sim")


def _units(label: str) -> bool:
    return "(" in label and label.rstrip().endswith(")")


def test_plot_fit_bands_data_and_targets(law, sim_runs):
    ax = plots.plot_fit(law, sim_runs, targets=TARGETS)
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "(FLOPs)" in ax.get_xlabel() and "(nats/token)" in ax.get_ylabel()
    n_m = sim_runs["n_tokens"].div(sim_runs["n_params"]).round(3).nunique()
    assert len(ax.lines) >= n_m  # one median curve per token multiplier at least
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "90% interval" in labels and "target, observed" in labels
    # the curves reach past the largest target's compute
    x_max = max(line.get_xdata().max() for line in ax.lines)
    assert x_max > (6 * TARGETS.n_params * TARGETS.n_tokens).max()


def test_plot_fit_draws_into_given_axes_and_error_target(law, sim_runs, err_law):
    fig, ax = plt.subplots()
    assert plots.plot_fit(law, sim_runs, ax=ax, ci_prob=0.8) is ax
    pred = ScalingPredictor(law, err_law)
    ax2 = plots.plot_fit(pred, sim_runs, target="error", tokens_per_param=[20])
    assert "Top-1 error" in ax2.get_ylabel() and _units(ax2.get_ylabel())
    with pytest.raises(ValueError, match="ScalingPredictor"):
        plots.plot_fit(law, sim_runs, target="error")
    with pytest.raises(ValueError, match="ci_prob"):
        plots.plot_fit(law, sim_runs, ci_prob=1.5)


def test_plot_overtraining(law, sim_runs):
    ax = plots.plot_overtraining(law, n_params=[1.5e8, 1.44e9], runs=sim_runs)
    assert ax.get_xscale() == "log"
    assert "tokens/parameter" in ax.get_xlabel() and "(nats/token)" in ax.get_ylabel()
    # runs of the 1.5e8-parameter size are drawn on its curve
    assert any(len(c.get_offsets()) > 0 for c in ax.collections if hasattr(c, "get_offsets"))
    medians = [line for line in ax.lines if line.get_label().startswith("N = ")]
    assert len(medians) == 2
    y = medians[0].get_ydata()
    assert np.all(np.diff(y) < 0)  # more tokens per parameter, lower loss


def test_plot_posterior_and_posteriors(law):
    ax = plots.plot_posterior(law, "eta", ci_prob=0.9)
    assert "(dimensionless)" in ax.get_xlabel()
    assert ax.get_ylabel() == "Posterior density (1/unit)"
    axes = plots.plot_posteriors(law)
    # the law's parameters, then the mixture noise's sigma, outlier share and outlier scale
    assert len(axes) == len(plots.posterior_params(law)) == len(law.spec.natural_params) + 3
    assert all(_units(a.get_xlabel()) for a in axes)
    with pytest.raises(ValueError, match="no parameter"):
        plots.plot_posterior(law, "zeta")


def test_plot_prior_predictive(law, sim_runs):
    ax = plots.plot_prior_predictive(law, sim_runs, num_samples=50)
    assert ax.get_yscale() == "log" and "(FLOPs)" in ax.get_xlabel()
    assert "(nats/token)" in ax.get_ylabel()


def test_plot_calibration():
    cov = pd.DataFrame({"ci_prob": [0.5, 0.8, 0.95] * 2, "coverage": [0.4, 0.8, 0.9, 0.5, 0.7, 1],
                        "n": [12] * 6, "target": ["loss"] * 3 + ["error"] * 3})
    ax = plots.plot_calibration(cov, group="target")
    assert ax.get_xlabel() == "Nominal interval probability (%)"
    assert ax.get_ylabel() == "Empirical coverage (%)"
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {"loss", "error", "ideal"}
    with pytest.raises(ValueError, match="coverage"):
        plots.plot_calibration(pd.DataFrame({"ci_prob": [0.5]}))
    with pytest.raises(ValueError, match="group"):
        plots.plot_calibration(cov, group="protocol")


def test_plot_error_law(err_law, sim_runs):
    runs = sim_runs.assign(err_avg17=0.8 - 4.0 * np.exp(-sim_runs["loss_sim"]))
    ax = plots.plot_error_law(err_law, runs=runs)
    assert "(nats/token)" in ax.get_xlabel() and "(fraction)" in ax.get_ylabel()
    assert any("chance" in t.get_text() for t in ax.get_legend().get_texts())
