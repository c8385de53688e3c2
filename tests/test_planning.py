"""The run planner (preposterior value of a candidate run) on fabricated posteriors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.estimators.discrepancy import Discrepancy
from bayes_scaling.predict.planning import RunPlan, plan_runs, weighted_quantile_width
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

TARGET = {"n_params": [1.4e9], "n_tokens": [2.8e10]}
CANDS = pd.DataFrame({"run_id": ["tiny", "mid", "big"], "n_params": [1e7, 1e8, 4e8],
                      "n_tokens": [2e8, 2e9, 8e10]})


@pytest.fixture(scope="module")
def law(sim_runs):
    # sigma 0.005 against a parameter spread of 2%: the law's mean at the target is uncertain
    # far beyond the run-to-run scatter, the regime where one run at the target says a lot
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", sigma=0.005,
                               num_draws=1000, seed=0)


def test_exported_from_the_package_root():
    assert bs.plan_runs is plan_runs
    assert bs.RunPlan is RunPlan


def test_weighted_quantile_width_matches_numpy_unweighted():
    x = np.random.default_rng(0).standard_normal(4000)
    w = weighted_quantile_width(x, np.ones((1, x.size)), 0.9)[0]
    lo, hi = np.quantile(x, [0.05, 0.95])
    assert w == pytest.approx(hi - lo, rel=0.01)  # mid-point vs linear interpolation: < 1%


def test_a_run_at_the_target_leaves_the_closed_form_width(sim_runs):
    """Observing one run at the target itself with run scatter sigma, where the prior on the
    law's mean there is much broader than sigma: the law's mean is then known to ~sigma, so a new
    run's log loss has sd ~ sqrt(2) sigma and the 90% width ~ 2 * 1.645 * sqrt(2) * sigma * L.
    Normal noise (no outlier component, which would leave some outcomes uninformative).
    Tolerance 10%: 64 simulated outcomes, ESS ~ 120 draws each."""
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", sigma=0.005, noise="normal",
                              num_draws=1000, seed=0)
    plan = plan_runs(law, TARGET, pd.DataFrame(TARGET), n_sims=64, refit=False, seed=0)
    row = plan.candidates.iloc[0]
    median = law.predict(pd.DataFrame(TARGET))["median"].iloc[0]
    expected = 2 * 1.644854 * np.sqrt(2) * 0.005 * median
    assert row["width_after_t0"] == pytest.approx(expected, rel=0.10)
    assert row["width_now_t0"] > 4 * row["width_after_t0"]
    assert row["method"] == "reweight"


def test_ranking_columns_batch_and_determinism(law):
    plan = plan_runs(law, TARGET, CANDS, n_sims=16, k=2, refit=False, seed=3)
    c = plan.candidates
    assert list(c.columns[:5]) == ["n_params", "n_tokens", "cost_flops", "method", "ess_frac"]
    assert c["reduction_per_flop"].is_monotonic_decreasing
    assert c["rank"].tolist() == [1, 2, 3]
    assert np.allclose(c.sort_index()["cost_flops"], 6 * CANDS["n_params"] * CANDS["n_tokens"])
    assert (c["width_after_t0"] < c["width_now_t0"]).all()
    assert len(plan.batch) == 2 and plan.batch["candidate"].iloc[0] == c.index[0]
    assert plan.batch["candidate"].nunique() == 2
    # a second run can only narrow the interval further (in expectation, same outcomes)
    assert plan.batch["width_after_t0"].iloc[1] <= plan.batch["width_after_t0"].iloc[0] + 1e-9
    again = plan_runs(law, TARGET, CANDS, n_sims=16, k=2, refit=False, seed=3)
    pd.testing.assert_frame_equal(plan.candidates, again.candidates)


def test_cost_column_changes_the_ranking_not_the_widths(law):
    cheap_big = CANDS.assign(cost=[1e30, 1e30, 1.0])
    a = plan_runs(law, TARGET, CANDS, n_sims=16, refit=False, seed=0).candidates.sort_index()
    b = plan_runs(law, TARGET, cheap_big, n_sims=16, refit=False, seed=0).candidates
    assert b["run_id"].iloc[0] == "big"
    assert np.allclose(a["width_after_t0"], b.sort_index()["width_after_t0"])


def test_discrepancy_shrinks_when_the_candidate_moves_the_design_to_the_target(sim_runs):
    far = {"n_params": [7e9], "n_tokens": [1.4e11]}
    with_disc = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", sigma=0.005,
                                    num_draws=1000, seed=1)
    with_disc.idata.attrs["discrepancy"] = Discrepancy.from_evidence([], []).to_json()  # prior
    cands = pd.DataFrame({"n_params": [7e9, 1e7], "n_tokens": [1.4e11, 2e8]})
    plan = plan_runs(with_disc, far, cands, n_sims=16, refit=False, seed=0)
    assert plan.targets["distance"].iloc[0] > 1.0
    c = plan.candidates.sort_index()
    # the run at the target removes the target's distance (its discrepancy term): narrower than
    # the tiny run inside the design, which leaves the distance as it is
    assert c["width_after_t0"].iloc[0] < 0.9 * c["width_after_t0"].iloc[1]
    assert c["width_after_t0"].iloc[1] < c["width_now_t0"].iloc[1]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"k": 4}, "k must be an integer in \\[1, 3\\]"),
    ({"ci_prob": 1.5}, "ci_prob must lie in"),
    ({"n_sims": 1}, "n_sims must be an integer"),
    ({"rank_by": "nope"}, "rank_by='nope' is not a target label"),
    ({"min_ess_frac": 1.0}, "min_ess_frac"),
])
def test_bad_settings_are_named(law, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plan_runs(law, TARGET, CANDS, **kwargs)


def test_bad_candidates_are_named(law):
    with pytest.raises(ValueError, match="candidate row 1: cost"):
        plan_runs(law, TARGET, CANDS.assign(cost=[1.0, -1.0, 2.0]))
    with pytest.raises(ValueError, match="no candidate runs"):
        plan_runs(law, TARGET, CANDS.iloc[:0])
    with pytest.raises(TypeError, match="needs a fitted LossLaw"):
        plan_runs(object(), TARGET, CANDS)
    with pytest.raises(bs.NotFittedError):
        plan_runs(bs.LossLaw("gadre"), TARGET, CANDS)


@pytest.mark.slow
def test_low_ess_falls_back_to_refits(law):
    """min_ess_frac near 1 forces the refit path for every candidate: the widths still shrink
    and the method column says so."""
    plan = plan_runs(law, TARGET, CANDS.iloc[:1], n_sims=4, n_refit_sims=2,
                     min_ess_frac=0.99, seed=0)
    row = plan.candidates.iloc[0]
    assert row["method"] == "refit"
    assert 0 < row["width_after_t0"] < row["width_now_t0"]


def test_fitted_run_noise_is_the_fit_likelihood():
    """The planner's outcome model is the fit's likelihood: the mixture density in closed form,
    and outlier draws as broad as the outlier component. Tolerance 3%: 200k draws put the sd's
    Monte Carlo error near 0.2%."""
    from scipy import stats

    from bayes_scaling.models.noise import fitted_run_draws, fitted_run_log_likelihood

    post = {"outlier_prob": np.array([[0.2]]), "outlier_scale": np.array([[0.3]])}
    y, loc, sc = np.array([[0.5]]), np.zeros((1, 1)), np.full((1, 1), 0.1)
    got = fitted_run_log_likelihood("mixture", y, loc, sc, post)
    want = np.log(0.8 * stats.norm.pdf(0.5, 0, 0.1) + 0.2 * stats.norm.pdf(0.5, 0, np.hypot(0.1, 0.3)))
    assert got[0, 0] == pytest.approx(want, rel=1e-12)
    assert fitted_run_log_likelihood("normal", y, loc, sc, post)[0, 0] == pytest.approx(
        stats.norm.logpdf(0.5, 0, 0.1), rel=1e-12)
    rng = np.random.default_rng(0)
    shape = (200_000, 1)
    always = {"outlier_prob": np.ones((1, 1)), "outlier_scale": np.full((1, 1), 0.3)}
    draws = fitted_run_draws("mixture", always, np.zeros(shape), np.full(shape, 0.1), rng)
    assert draws.std() == pytest.approx(np.hypot(0.1, 0.3), rel=0.03)
    regular = fitted_run_draws("normal", {}, np.zeros(shape), np.full(shape, 0.1), rng)
    assert regular.std() == pytest.approx(0.1, rel=0.03)


def test_a_run_likely_to_be_an_outlier_narrows_less(sim_runs):
    """With half the runs outliers (broad scale 0.2), a run at the target is a coin flip between
    pinning the law's mean and saying little: its expected width after is well above that of
    the same run under a clean fit (outlier_prob 0.001). Margin 1.3x: the clean case is ~sqrt(2)
    sigma wide, the contaminated one mixes that with the current width (> 4x wider)."""
    kw = dict(loss="loss_sim", sigma=0.005, num_draws=1000, seed=0, outlier_scale=0.2)
    clean = fabricated_loss_law(sim_runs, TRUE_GADRE, outlier_prob=0.001, **kw)
    dirty = fabricated_loss_law(sim_runs, TRUE_GADRE, outlier_prob=0.5, **kw)
    a = plan_runs(clean, TARGET, pd.DataFrame(TARGET), n_sims=64, refit=False, seed=0)
    b = plan_runs(dirty, TARGET, pd.DataFrame(TARGET), n_sims=64, refit=False, seed=0)
    wa = a.candidates["width_after_t0"].iloc[0]
    wb = b.candidates["width_after_t0"].iloc[0]
    assert wb > 1.3 * wa
    assert wb < b.candidates["width_now_t0"].iloc[0]


def test_outcome_widths_and_attainable_rank_correlation(law):
    cands = pd.concat([CANDS, pd.DataFrame(TARGET)], ignore_index=True)
    plan = plan_runs(law, TARGET, cands, n_sims=16, refit=False, seed=0)
    assert plan.outcome_widths.shape == (4, 16, 1)
    assert np.allclose(np.nanmean(plan.outcome_widths, axis=1)[:, 0],
                       plan.candidates.sort_index()["width_after_t0"])
    rc = plan.attainable_rank_correlation(n_rep=300, seed=1)
    assert -1 <= rc["q05"] <= rc["median"] <= rc["q95"] <= 1
    # the run at the target is far better than the rest whatever its outcome: never ranked last
    assert rc["q95"] > 0
    assert rc == plan.attainable_rank_correlation(n_rep=300, seed=1)
    with pytest.raises(ValueError, match="not a target label"):
        plan.attainable_rank_correlation("nope")


def test_evaluate_given_batches(law):
    plan = plan_runs(law, TARGET, CANDS, n_sims=16, k=2, refit=False, seed=3,
                     evaluate=[[int(i) for i in plan_first_two(law)], [0]])
    ev = plan.evaluated
    assert list(ev.columns) == ["candidates", "cost_flops", "ess_frac", "width_after_t0"]
    # the greedy batch scored again through evaluate= gives the greedy batch's own width
    assert ev["width_after_t0"].iloc[0] == pytest.approx(plan.batch["width_after_t0"].iloc[1])
    # one run alone: its row of the candidates table
    assert ev["width_after_t0"].iloc[1] == pytest.approx(
        plan.candidates.loc[0, "width_after_t0"])
    assert ev["cost_flops"].iloc[1] == pytest.approx(6 * 1e7 * 2e8)
    with pytest.raises(ValueError, match=r"evaluate\[0\]"):
        plan_runs(law, TARGET, CANDS, n_sims=4, refit=False, evaluate=[[0, 0]])
    with pytest.raises(ValueError, match=r"evaluate\[1\]"):
        plan_runs(law, TARGET, CANDS, n_sims=4, refit=False, evaluate=[[0], [7]])


def plan_first_two(law):
    return plan_runs(law, TARGET, CANDS, n_sims=16, k=2, refit=False, seed=3).batch["candidate"]
