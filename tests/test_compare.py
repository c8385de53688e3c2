"""PSIS-LOO tables, stacking weights and the stacked mixture, on fabricated posteriors (plus the
shared small NUTS fit); one slow test fits the law x noise grid."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayes_scaling.evaluate.compare import (
    PARETO_K_THRESHOLD,
    ParetoKWarning,
    StackedPredictor,
    compare_models,
    fit_law_grid,
    loo_table,
    stacking_weights,
)
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE, fabricated_loss_law

T1 = pd.DataFrame({"n_params": [1e9], "n_tokens": [2e10]})
LOO_COLUMNS = ["elpd_loo", "se", "p_loo", "n_obs", "n_draws", "max_pareto_k", "n_high_k",
               "good_k", "n_above_good_k"]


@pytest.fixture(scope="module")
def sim():
    return simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)


@pytest.fixture(scope="module")
def pair(sim):
    """Two fabricated fits of the same runs: one near the truth, one with E far too low."""
    good = fabricated_loss_law(sim, TRUE_GADRE, loss="loss_sim", seed=0, spread=0.002)
    bad = fabricated_loss_law(sim, TRUE_GADRE | {"E": 1.3}, loss="loss_sim", seed=1,
                              spread=0.002, noise="normal")
    return {"good": good, "bad": bad}


def test_loo_table_columns_and_pareto_k(pair):
    with pytest.warns(ParetoKWarning, match="bad"):
        lt = loo_table(pair)
    assert list(lt.columns) == LOO_COLUMNS
    assert list(lt.index) == ["good", "bad"]
    assert (lt["n_obs"] == 32).all() and (lt["n_draws"] == 1000).all()
    assert lt.loc["good", "elpd_loo"] > lt.loc["bad", "elpd_loo"]
    # the count is of k above 0.7, and never exceeds the count above the (lower) good_k
    assert (lt["n_high_k"] <= lt["n_above_good_k"]).all()
    assert PARETO_K_THRESHOLD == 0.7
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loo_table(pair, warn=False)


class _LogLikOnly:
    """The least ``loo_table`` reads: an ``idata`` with a posterior and a log likelihood."""

    def __init__(self, log_lik: np.ndarray):
        from arviz_base import from_dict

        self.idata = from_dict({"posterior": {"x": np.zeros(log_lik.shape[:2])},
                                "log_likelihood": {"log_loss": log_lik}})


@pytest.mark.parametrize("seed", range(3))
def test_pareto_k_warning_far_on_either_side_of_its_threshold(seed):
    # The warning is tested on cases whose k sit far from 0.7, never at it: with 4000 draws the
    # k estimate's sampling sd is ~0.05-0.1, so a case at k 0.6-0.8 flips with any release.
    rng = np.random.default_rng(seed)
    shape = (4, 1000, 32)
    # log likelihoods within +-0.15 of each other: importance ratios nearly flat, k ~ 0.0-0.1
    tame = rng.normal(-1.0, 0.05, shape)
    # importance ratios exp(-log_lik) with a Pareto tail of index 1/1.5: true k = 1.5
    heavy = -np.log1p(rng.pareto(1 / 1.5, shape))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lt = loo_table({"tame": _LogLikOnly(tame)})
    assert lt.loc["tame", "max_pareto_k"] < 0.35 and lt.loc["tame", "n_high_k"] == 0
    with pytest.warns(ParetoKWarning, match=r"heavy \(32 of 32 runs"):
        lh = loo_table({"heavy": _LogLikOnly(heavy)})
    assert lh.loc["heavy", "max_pareto_k"] > 1.0 and lh.loc["heavy", "n_high_k"] == 32


def test_loo_of_a_real_nuts_fit(fitted_sim):
    # The LOO pipeline on a DataTree from NUTS (log likelihood stored by the fit). Its k values
    # are not compared with 0.7: from 2 x 300 draws of a well-specified 32-run fit they sit near
    # 0.3-0.75 (max 0.58 under jax 0.12.1 in one venv, 0.73 in another), so 0.7 is inside their
    # sampling spread. k > 1 (ratios without a finite mean) would mean a broken log likelihood.
    lt = loo_table({"fit": fitted_sim}, warn=False)
    assert lt.loc["fit", "n_obs"] == 32 and lt.loc["fit", "n_draws"] == 600
    assert np.isfinite(lt.loc["fit", "elpd_loo"]) and np.isfinite(lt.loc["fit", "se"])
    assert lt.loc["fit", "max_pareto_k"] < 1.0
    # a law with 4 free parameters plus noise scales: p_loo a handful, not 0 and not ~n_obs
    assert 1 < lt.loc["fit", "p_loo"] < 15


def test_compare_models_table_and_weights(pair):
    table = compare_models(pair, warn=False)
    for c in ("rank", "elpd_diff", "dse", "elpd", "se", "p", "weight", "max_pareto_k",
              "n_high_k"):
        assert c in table.columns
    assert table.index[0] == "good" and table["rank"].tolist() == [0, 1]
    assert table["weight"].sum() == pytest.approx(1.0)
    single = compare_models({"good": pair["good"]}, warn=False)
    assert single["weight"].tolist() == [1.0]


def test_stacking_weights_sum_to_one_in_given_order(pair):
    w = stacking_weights({"bad": pair["bad"], "good": pair["good"]}, warn=False)
    assert list(w.index) == ["bad", "good"]
    assert w.sum() == pytest.approx(1.0, abs=1e-12)
    assert (w >= 0).all()
    assert w["good"] > 0.9


def test_compare_refuses_models_of_different_runs(sim, pair):
    other = fabricated_loss_law(sim.iloc[:20], TRUE_GADRE, loss="loss_sim", seed=3)
    with pytest.raises(ValueError, match="different runs"):
        compare_models({"good": pair["good"], "other": other}, warn=False)


def test_mixture_draws_come_from_components_in_proportion(sim):
    # components far apart (E 1.66 vs 1.2) so each draw's origin is visible in its value
    a = fabricated_loss_law(sim, TRUE_GADRE, loss="loss_sim", seed=0, spread=0.001)
    b = fabricated_loss_law(sim, TRUE_GADRE | {"E": 1.2}, loss="loss_sim", seed=1, spread=0.001)
    stacked = StackedPredictor({"a": a, "b": b}, {"a": 3.0, "b": 1.0})  # normalised to 0.75
    assert stacked.weights.to_dict() == {"a": 0.75, "b": 0.25}
    n = stacked.n_draws
    assert n == 1000
    d = stacked.loss_draws(T1, kind="law_mean", seed=4)[:, 0]
    comp = stacked.component_index(seed=4)
    a_d, b_d = a.loss_draws(T1, kind="law_mean")[:, 0], b.loss_draws(T1, kind="law_mean")[:, 0]
    assert b_d.max() < a_d.min()  # separated
    # every draw is a draw of the component the plan assigns it to (subsets, no blending)
    assert np.isin(d[comp == 0], a_d).all() and np.isin(d[comp == 1], b_d).all()
    # the share of component a is Binomial(1000, 0.75): within 4 sd
    k = int(np.sum(d >= a_d.min()))
    assert abs(k - 750) < 4 * np.sqrt(1000 * 0.75 * 0.25)
    assert k == int(np.sum(comp == 0))
    # draws without replacement: no repeated component draw
    assert len(np.unique(d[comp == 0])) == int(np.sum(comp == 0))
    # and the proportion holds for a large mixture (resampling with replacement)
    big = stacked.component_index(40000, seed=1)
    p = np.mean(big == 0)
    assert stats.binomtest(int(np.sum(big == 0)), 40000, 0.75).pvalue > 1e-3, p
    assert stacked.loss_draws(T1, seed=1, n_draws=40000).shape == (40000, 1)


def test_mixture_is_deterministic_in_seed_and_degenerate_weights(pair):
    s = StackedPredictor(pair, [1.0, 0.0])
    np.testing.assert_array_equal(s.loss_draws(T1, seed=2), s.loss_draws(T1, seed=2))
    only = np.sort(s.loss_draws(T1, kind="law_mean", seed=2)[:, 0])
    np.testing.assert_allclose(only, np.sort(pair["good"].loss_draws(T1, kind="law_mean")[:, 0]))
    pred = s.predict(T1, ci_prob=0.8, kind="new_run", seed=0)
    assert pred.attrs["weights"] == {"good": 1.0, "bad": 0.0}
    assert pred.attrs["ci_prob"] == 0.8 and (pred["lower"] < pred["upper"]).all()


def test_stacked_predictor_validates_weights(pair, sim):
    with pytest.raises(ValueError, match="non-negative"):
        StackedPredictor(pair, [1.0, -0.5])
    with pytest.raises(ValueError, match="2 models"):
        StackedPredictor(pair, [1.0])
    with pytest.raises(ValueError, match="unknown models"):
        StackedPredictor(pair, {"good": 1.0, "zz": 1.0})
    sim2 = sim.rename(columns={"loss_sim": "loss_other"})
    other = fabricated_loss_law(sim2, TRUE_GADRE, loss="loss_other", seed=0)
    with pytest.raises(ValueError, match="different loss columns"):
        StackedPredictor({"a": pair["good"], "b": other}, [0.5, 0.5])


def test_from_models_uses_stacking_weights(pair):
    s = StackedPredictor.from_models(pair, warn=False)
    pd.testing.assert_series_equal(s.weights, stacking_weights(pair, warn=False))


@pytest.mark.slow
def test_law_grid_compare_and_stack_on_simulated_runs(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = fit_law_grid(sim, loss="loss_sim", sampler=FAST_SAMPLER, seed=0, warn=False)
    assert list(fits) == ["gadre/normal", "gadre/student_t", "chinchilla/normal",
                          "chinchilla/student_t"]
    table = compare_models(fits, warn=False)
    assert table["weight"].sum() == pytest.approx(1.0)
    assert (table["n_high_k"] >= 0).all()
    stacked = StackedPredictor.from_models(fits, warn=False)
    pred = stacked.predict(T1, ci_prob=0.9)
    truth = TRUE_GADRE["E"] + TRUE_GADRE["A"] * 1e9 ** -0.245 + TRUE_GADRE["B"] * 2e10 ** -0.245
    assert pred["lower"].iloc[0] < truth < pred["upper"].iloc[0]
