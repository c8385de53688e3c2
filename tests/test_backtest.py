"""Backtest metrics on fabricated posteriors, protocol selection on the real table, one tiny
real backtest."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.evaluate.backtest import backtest
from bayes_scaling.evaluate.scoring import (
    CI_PROBS,
    coverage,
    crps_sample,
    pit_values,
    score_draws,
    score_loss,
)
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.evaluate.splits import GADRE_REPORTED, protocol_splits
from bayes_scaling.plots import plot_calibration, plot_pit
from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE, fabricated_loss_law

matplotlib.use("Agg")


def _normal_quantile_draws(mu: float, sd: float, n: int = 20000) -> np.ndarray:
    # deterministic "draws": the n mid-quantiles of N(mu, sd); Monte Carlo error O(1/n)
    return mu + sd * stats.norm.ppf((np.arange(n) + 0.5) / n)


def _crps_normal(mu: float, sd: float, y: np.ndarray) -> np.ndarray:
    z = (y - mu) / sd
    return sd * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


# ---------------------------------------------------------------------------------- metrics


def test_crps_matches_closed_form_for_a_normal():
    y = np.array([-2.0, -0.3, 0.0, 0.7, 3.5])
    draws = np.repeat(_normal_quantile_draws(0.2, 1.5)[:, None], len(y), axis=1)
    np.testing.assert_allclose(crps_sample(draws, y), _crps_normal(0.2, 1.5, y), atol=2e-4)
    # 1-D input and scalar truth give a scalar
    assert np.ndim(crps_sample(draws[:, 0], 0.0)) == 0


def test_crps_point_mass_is_absolute_error_and_rejects_one_draw():
    np.testing.assert_allclose(crps_sample(np.full((50, 2), 3.0), np.array([3.0, 4.5])),
                               [0.0, 1.5])
    with pytest.raises(ValueError, match="at least 2"):
        crps_sample(np.ones((1, 1)), 1.0)


def test_pit_is_the_predictive_cdf_and_uniform_when_calibrated():
    draws = _normal_quantile_draws(0.0, 1.0, 4000)
    y = np.array([-1.0, 0.0, 1.3])
    np.testing.assert_allclose(pit_values(draws[:, None].repeat(3, 1), y), stats.norm.cdf(y),
                               atol=1e-3)
    rng = np.random.default_rng(3)
    truths = rng.standard_normal(500)
    pit = pit_values(draws[:, None].repeat(500, 1), truths)
    assert stats.kstest(pit, "uniform").pvalue > 0.01


def test_score_draws_intervals_and_log_scale():
    draws = _normal_quantile_draws(np.log(2.5), 0.01, 4000)[:, None]
    s = score_draws(draws, np.array([2.5]), ci_probs=[0.5, 0.9], scale="log")
    # a lognormal's interval on the natural scale: exp of the log-scale normal quantiles
    assert s["lower_90"].iloc[0] == pytest.approx(2.5 * np.exp(-1.645 * 0.01), rel=1e-4)
    assert s["rel_width_90"].iloc[0] == pytest.approx(2 * np.sinh(1.645 * 0.01), rel=1e-3)
    assert bool(s["covered_50"].iloc[0]) and s["median"].iloc[0] == pytest.approx(2.5)
    assert s["pit"].iloc[0] == pytest.approx(0.5, abs=1e-3)
    # CRPS on the log scale is a relative error: normal closed form with sd 0.01 at z = 0
    assert s["crps"].iloc[0] == pytest.approx(_crps_normal(0, 0.01, np.array(0.0)), rel=1e-3)
    with pytest.raises(ValueError, match="scale"):
        score_draws(draws, np.array([2.5]), scale="exp")
    with pytest.raises(ValueError, match="n_targets"):
        score_draws(draws, np.array([2.5, 2.6]))


def test_score_loss_on_a_fabricated_posterior_is_calibrated():
    """Truths simulated from the fabricated posterior's own noise model: 90% intervals cover
    ~90%, PIT is uniform and the exact mixture log score agrees with a KDE of the draws."""
    runs = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)
    # spread ~0: the predictive is the noise model (t_nu, nu ~ 30, sigma ~ 0.01) around the law
    law = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", sigma=0.01, nu=30.0,
                              spread=1e-6, seed=2)
    rng = np.random.default_rng(7)
    n = 400
    targets = pd.DataFrame({"n_params": np.exp(rng.uniform(np.log(1e8), np.log(7e9), n))})
    targets["n_tokens"] = targets["n_params"] * np.exp(rng.uniform(np.log(10), np.log(640), n))
    mu = bs.laws.gadre(targets.n_params.to_numpy(), targets.n_tokens.to_numpy(), **TRUE_GADRE)
    targets["loss_sim"] = np.asarray(mu) * np.exp(0.01 * rng.standard_t(30.0, n))
    s = score_loss(law, targets, seed=1)
    cov = coverage(s.assign(rel_error=s["rel_error"]))
    for p, c in zip(cov["ci_prob"], cov["coverage"], strict=True):
        # binomial sd at n = 400 is <= 2.5 points; 4 sd
        assert abs(c - p) < 0.1, cov
    assert stats.kstest(s["pit"], "uniform").pvalue > 0.001
    # away from the tails, where a KDE's bandwidth does not smear the density
    log_draws = law.log_loss_draws(targets, kind="new_run", seed=1)
    mid = np.flatnonzero((s["pit"] > 0.2) & (s["pit"] < 0.8))[:5]
    kde = [stats.gaussian_kde(log_draws[:, j])(np.log(targets.loss_sim[j]))[0] for j in mid]
    np.testing.assert_allclose(s["log_score"][mid], np.log(kde), atol=0.1)  # KDE noise
    # the mean-law predictive ignores the 1% noise: far too narrow
    sm = score_loss(law, targets, kind="law_mean")
    assert sm["covered_90"].mean() < 0.2


def test_coverage_summary_grouping_and_errors():
    bt = pd.DataFrame({
        "target": ["loss"] * 4 + ["error"] * 2,
        "covered_50": [True, False, False, True, True, False],
        "covered_90": [True, True, True, False, True, True],
        "rel_width_50": [0.01] * 6, "rel_width_90": [0.03] * 6,
        "rel_error": [0.01, -0.02, 0.0, 0.05, 0.1, -0.1], "crps": [0.01] * 6,
    })
    bt.attrs["ci_probs"] = [0.5, 0.9]
    c = coverage(bt)
    assert c["ci_prob"].tolist() == [0.5, 0.9] and c["n"].tolist() == [6, 6]
    np.testing.assert_allclose(c["coverage"], [0.5, 5 / 6])
    np.testing.assert_allclose(c["gap"], [0.0, 100 * (5 / 6 - 0.9)])
    g = coverage(bt, by="target").set_index(["target", "ci_prob"])
    assert g.loc[("loss", 0.9), "coverage"] == 0.75 and g.loc[("error", 0.5), "n"] == 2
    assert g.loc[("error", 0.9), "mean_abs_rel_error"] == pytest.approx(0.1)
    # without attrs the levels are read off the column names
    bt.attrs.clear()
    assert coverage(bt)["ci_prob"].tolist() == [0.5, 0.9]
    with pytest.raises(ValueError, match="group columns"):
        coverage(bt, by="nope")


def test_plots_return_labelled_axes():
    import matplotlib.pyplot as plt

    bt = pd.DataFrame({"covered_50": [True, False], "covered_90": [True, True],
                       "rel_width_50": [0.01, 0.01], "rel_width_90": [0.03, 0.03],
                       "rel_error": [0.0, 0.01], "crps": [0.01, 0.01], "pit": [0.2, 0.7],
                       "column": ["a", "b"]})
    ax = plot_calibration(bt)
    assert "Nominal" in ax.get_xlabel() and "%" in ax.get_ylabel()
    ax2 = plot_calibration(coverage(bt, by="column"), group="column")
    assert len(ax2.get_lines()) == 3  # ideal + one per group
    ax3 = plot_pit(bt, bins=5)
    assert "PIT" in ax3.get_xlabel()
    with pytest.raises(ValueError, match="pit"):
        plot_pit(bt.drop(columns="pit"))
    plt.close("all")


def test_reported_table_shape():
    assert len(GADRE_REPORTED) == 6
    assert set(GADRE_REPORTED["dataset"]) == {"c4_original", "rpj", "rw_original"}


# ---------------------------------------------------------------------------------- protocols


def _generic_runs() -> pd.DataFrame:
    n = np.array([1e7, 3e7, 1e8, 3e8, 1e9] * 2)
    m = np.array([20.0] * 5 + [80.0] * 5)
    return pd.DataFrame({"n_params": n, "tokens_per_param": m, "compute_flops": 6 * n * n * m})


def test_generic_protocols_without_dataset_column():
    runs = _generic_runs()
    (s,) = protocol_splits(runs, "leave_largest_out")
    assert s.dataset == "all" and set(runs.loc[s.targets, "n_params"]) == {1e9}
    (s,) = protocol_splits(runs, "compute_cutoff", cutoff_quantile=0.5)
    assert runs.loc[s.fit, "compute_flops"].max() < runs.loc[s.targets, "compute_flops"].min()
    assert len(s.fit) + len(s.targets) == len(runs)
    with pytest.raises(ValueError, match="Gadre"):
        protocol_splits(runs, "paper")
    with pytest.raises(TypeError, match="options"):
        protocol_splits(runs, "leave_largest_out", cutoff_flops=1e20)
    with pytest.raises(ValueError, match="unknown protocol"):
        protocol_splits(runs, "random")
    with pytest.raises(ValueError, match="no target"):
        protocol_splits(runs, "compute_cutoff", cutoff_flops=1e30)


def test_paper_protocol_selects_the_papers_runs(gadre_runs):
    splits = protocol_splits(gadre_runs, "paper", error="err_avg17")
    assert [s.dataset for s in splits] == ["c4_original", "rpj", "rw_original"]
    largest_m = {"c4_original": 80, "rpj": 640, "rw_original": 320}
    for s in splits:
        fit = gadre_runs.loc[s.fit]
        sizes = np.round(fit.n_params / 1e9, 3)
        got = sorted(zip(sizes, fit.tokens_per_param.round(), strict=True))
        assert got == [(0.011, 20), (0.011, 320), (0.079, 20), (0.154, 20), (0.412, 20)]
        err = gadre_runs.loc[s.error_fit]
        assert len(err) == 6 and set(s.fit) < set(s.error_fit)
        assert ((err.n_params > 1e9) & (err.tokens_per_param.round() == 20)).sum() == 1
        tg = gadre_runs.loc[s.targets].sort_values("n_params")
        assert tg.tokens_per_param.round().tolist() == [largest_m[s.dataset], 20]
        assert (tg.dataset == s.dataset).all()
        # the paper error-law helper agrees on the 6 runs
        from bayes_scaling.estimators.error_law import paper_error_runs

        assert set(paper_error_runs(gadre_runs, s.dataset).index) == set(s.error_fit)


def test_all_below_and_cutoff_protocols(gadre_runs):
    paper = {s.dataset: s for s in protocol_splits(gadre_runs, "paper")}
    for s in protocol_splits(gadre_runs, "paper_all_below"):
        g = gadre_runs[gadre_runs.dataset == s.dataset]
        c_max = gadre_runs.loc[paper[s.dataset].fit, "compute_flops"].max()
        assert set(s.fit) == set(g.index[g.compute_flops <= c_max])
        assert set(paper[s.dataset].fit) <= set(s.fit) and len(s.fit) > 20
        assert set(s.targets) == set(paper[s.dataset].targets)
        assert not set(s.targets) & (set(s.fit) | set(s.error_fit))
    for s in protocol_splits(gadre_runs, "compute_cutoff"):
        g = gadre_runs[gadre_runs.dataset == s.dataset]
        assert len(s.fit) + len(s.targets) == len(g)
        assert gadre_runs.loc[s.fit, "compute_flops"].max() < \
            gadre_runs.loc[s.targets, "compute_flops"].min()
        assert 0.15 < len(s.targets) / len(g) < 0.25  # default: 80% quantile
    for s in protocol_splits(gadre_runs, "compute_cutoff", cutoff_flops=1e20):
        assert (gadre_runs.loc[s.targets, "compute_flops"] > 1e20).all()
    for s in protocol_splits(gadre_runs, "leave_largest_out"):
        tg = gadre_runs.loc[s.targets]
        assert len(tg) == 1 and tg.n_params.iloc[0] > 6e9


# ---------------------------------------------------------------------------------- real fits


def _quiet_backtest(*args, **kwargs) -> pd.DataFrame:
    # small samplers on 5-6 runs may fail a diagnostic; backtest then warns once (never other
    # warnings)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", bs.DiagnosticsWarning)
        bt = backtest(*args, **kwargs)
    assert all(issubclass(w.category, bs.DiagnosticsWarning) for w in caught)
    return bt


def test_tiny_real_backtest(gadre_runs):
    runs = gadre_runs[gadre_runs.dataset == "rpj"]
    bt = _quiet_backtest(runs, protocol="paper", loss="loss_c4_val", seed=0,
                         sampler=FAST_SAMPLER, ci_probs=(0.5, 0.9))
    assert len(bt) == 2 and (bt.target == "loss").all() and (bt.n_fit == 5).all()
    np.testing.assert_allclose(bt.truth, runs.set_index("run_id").loc[bt.run_id, "loss_c4_val"])
    for col in ("median", "lower_90", "upper_90", "pit", "crps", "log_score"):
        assert np.isfinite(bt[col]).all(), col
    assert (bt.lower_50 >= bt.lower_90).all() and (bt.upper_50 <= bt.upper_90).all()
    # a 5-run fit of a 4-parameter law extrapolating 2 decades of compute: medians within 10%
    assert (np.abs(bt.rel_error) < 0.1).all(), bt[["run_id", "rel_error"]]
    assert bt.attrs["protocol"] == "paper" and bt.attrs["ci_probs"] == [0.5, 0.9]
    assert bt.attrs["splits"] == {"rpj": "Gadre et al. (2024) fitting sets"}


@pytest.mark.slow
def test_real_backtest_with_error_law(gadre_runs):
    runs = gadre_runs[gadre_runs.dataset == "rpj"]
    bt = _quiet_backtest(runs, protocol="paper", loss="loss_c4_val", error="err_avg17",
                         seed=0, sampler=FAST_SAMPLER)
    assert len(bt) == 4 and sorted(bt.target) == ["error", "error", "loss", "loss"]
    err = bt[bt.target == "error"]
    assert (err.n_fit == 6).all() and (err.score_scale == "linear").all()
    np.testing.assert_allclose(err.truth, runs.set_index("run_id").loc[err.run_id, "err_avg17"])
    for col in ("median", "lower_95", "upper_95", "pit", "crps", "log_score"):
        assert np.isfinite(bt[col]).all(), col
    assert (np.abs(err.rel_error) < 0.15).all() and (err.upper_95 <= 1).all()
    assert set(coverage(bt, by="target")["target"]) == {"loss", "error"}


def test_backtest_argument_errors(gadre_runs):
    with pytest.raises(ValueError, match="loss column"):
        backtest(gadre_runs, loss="loss_nope", seed=0)
    with pytest.raises(ValueError, match="error column"):
        backtest(gadre_runs, error="err_nope", seed=0)
    with pytest.raises(ValueError, match="kind"):
        backtest(gadre_runs, kind="new", seed=0)
    with pytest.raises(ValueError, match="ci_probs"):
        backtest(gadre_runs, ci_probs=(0.9, 1.0), seed=0)


def test_default_levels():
    assert CI_PROBS == (0.5, 0.8, 0.9, 0.95)
