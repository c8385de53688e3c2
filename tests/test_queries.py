"""Decision queries on fabricated posteriors: checked against closed forms draw by draw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.predict import queries as q
from bayes_scaling.predict.predictor import ScalingPredictor
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

TRUE_CHINCHILLA = {"E": 1.8, "A": 480.0, "B": 2000.0, "alpha": 0.35, "beta": 0.37}
TARGETS = pd.DataFrame({"n_params": [1.44e9, 6.89e9], "n_tokens": [1.44e9 * 640, 6.89e9 * 20]})


@pytest.fixture(scope="module")
def law(sim_runs):
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0)


@pytest.fixture(scope="module")
def chin(sim_runs):
    return fabricated_loss_law(sim_runs, TRUE_CHINCHILLA, law="chinchilla", loss="loss_sim",
                               seed=1)


@pytest.fixture(scope="module")
def predictor(law):
    rng = np.random.default_rng(0)
    n = law.idata.posterior.sizes["chain"] * law.idata.posterior.sizes["draw"]
    err = ErrorLaw.from_draws(
        {"eps": np.full(n, 0.8), "k": 4.0 * np.exp(0.05 * rng.standard_normal(n)),
         "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
        chance=0.81, loss="loss_sim")
    return ScalingPredictor(law, err)


def _natural(law):
    post = law.idata.posterior
    return {k: post[k].values.reshape(-1) for k in ("E", "A", "B", *law.spec.exponents)}


# ------------------------------------------------------------------------------ compute_to_target
def test_compute_to_target_solves_the_law_per_draw(law):
    d = q.compute_to_target_draws(law, loss=[2.5, 2.2], tokens_per_param=[20, 320])
    p = _natural(law)
    for j, (loss, m) in enumerate(zip(d["loss"], d["tokens_per_param"], strict=True)):
        # tied exponent: (A + B M^-eta) N^-eta = loss - E has a closed form
        n = ((p["A"] + p["B"] * m ** -p["eta"]) / (loss - p["E"])) ** (1 / p["eta"])
        np.testing.assert_allclose(d["n_params"][:, j], n, rtol=1e-9)
        np.testing.assert_allclose(d["compute_flops"][:, j], 6 * m * n**2, rtol=1e-9)
    assert d["loss"].tolist() == [2.5, 2.5, 2.2, 2.2]  # loss-major pairs


def test_compute_to_target_flags_targets_below_E(law):
    e = _natural(law)["E"]
    target = float(np.median(e))  # half the draws put E above it
    d = q.compute_to_target_draws(law, loss=target, tokens_per_param=20)
    unreachable = e >= target
    assert np.all(np.isinf(d["compute_flops"][unreachable, 0]))
    assert np.all(np.isfinite(d["compute_flops"][~unreachable, 0]))
    # a loss near E takes compute far beyond the fitted runs: flagged as an extrapolation
    with pytest.warns(bs.ExtrapolationWarning, match="compute-to-target answers"):
        t = q.compute_to_target(law, loss=[target, 2.5], ci_prob=0.9)
    assert bool(t.loc[0, "outside_fitted_range"])
    assert t.loc[0, "p_reachable"] == pytest.approx(np.mean(~unreachable))
    assert np.isinf(t.loc[0, "compute_flops_upper"])
    row = t.iloc[1]
    assert row["p_reachable"] == 1.0
    assert row.compute_flops_lower < row.compute_flops_median < row.compute_flops_upper
    assert t.attrs["ci_prob"] == 0.9


def test_compute_to_target_general_law_bisection(chin):
    d = q.compute_to_target_draws(chin, loss=2.4, tokens_per_param=20)
    p = _natural(chin)
    n, dd = d["n_params"][:, 0], d["n_tokens"][:, 0]
    back = p["E"] + p["A"] * n ** -p["alpha"] + p["B"] * dd ** -p["beta"]
    np.testing.assert_allclose(back, 2.4, rtol=1e-10)


@pytest.mark.parametrize("kw", [{"loss": -1.0}, {"loss": [np.nan]}, {"loss": 2.5,
                                                                      "tokens_per_param": 0}])
def test_compute_to_target_rejects_bad_input(law, kw):
    with pytest.raises(ValueError):
        q.compute_to_target(law, **kw)


# ---------------------------------------------------------------------------- optimal allocation
def test_optimal_allocation_matches_closed_form(law, chin):
    for model in (law, chin):
        p = _natural(model)
        alpha = p.get("alpha", p.get("eta"))
        beta = p.get("beta", p.get("eta"))
        d = q.optimal_allocation_draws(model, compute_flops=[1e20, 1e23])
        for j, c in enumerate([1e20, 1e23]):
            # dL/dN = 0 for L = E + A N^-a + B (C/6N)^-b
            n = (alpha * p["A"] / (beta * p["B"])) ** (1 / (alpha + beta)) * (c / 6) ** (
                beta / (alpha + beta))
            np.testing.assert_allclose(d["n_params"][:, j], n, rtol=1e-5)
            np.testing.assert_allclose(6 * d["n_params"][:, j] * d["n_tokens"][:, j], c)
        assert not d["constrained"].any()
        np.testing.assert_array_equal(d["excess_loss"], 0.0)


def test_optimal_allocation_overtraining_constraints(law):
    free = q.optimal_allocation(law, compute_flops=1e22)
    m_free = free.loc[0, "tokens_per_param_median"]
    assert 5 < m_free < 60  # near-Chinchilla optimum for the fabricated truth
    over = q.optimal_allocation(law, compute_flops=1e22, min_tokens_per_param=200)
    assert over.loc[0, "p_constrained"] == 1.0
    assert over.loc[0, "tokens_per_param_median"] == pytest.approx(200)
    assert over.loc[0, "loss_median"] > free.loc[0, "loss_median"]
    assert over.loc[0, "excess_loss_lower"] > 0
    cap = q.optimal_allocation(law, compute_flops=1e22, max_params=1e8)
    assert cap.loc[0, "n_params_upper"] == pytest.approx(1e8)
    # a cap above every draw's optimum changes nothing
    loose = q.optimal_allocation(law, compute_flops=1e22, max_params=1e15)
    assert loose.loc[0, "p_constrained"] == 0.0
    np.testing.assert_allclose(loose.loc[0, "n_params_median"], free.loc[0, "n_params_median"])


def test_optimal_allocation_accepts_predictor_and_rejects_bad_input(law, predictor):
    a = q.optimal_allocation(law, compute_flops=1e21)
    b = q.optimal_allocation(predictor, compute_flops=1e21)
    pd.testing.assert_frame_equal(a, b)
    for kw in ({"compute_flops": 0}, {"compute_flops": 1e21, "max_params": -1},
               {"compute_flops": 1e21, "min_tokens_per_param": np.inf}):
        with pytest.raises(ValueError):
            q.optimal_allocation(law, **kw)


# -------------------------------------------------------------------------------- probability
def test_probability_is_the_share_of_draws_with_mcse(law):
    draws = q.predictive_draws(law, TARGETS, kind="new_run", seed=3)
    x = float(np.median(draws[:, 0]))
    out = q.probability(law, TARGETS, below=[x, 10.0], seed=3)
    np.testing.assert_allclose(out["p"], (draws < [x, 10.0]).mean(axis=0))
    assert out.loc[0, "p"] == pytest.approx(0.5, abs=0.01)
    n = draws.shape[0]
    # fabricated draws are independent: MCSE close to the binomial formula
    assert out.loc[0, "mcse"] == pytest.approx(np.sqrt(0.25 / n), rel=0.25)
    assert out.loc[1, "p"] == 1.0 and 0 < out.loc[1, "mcse"] < 1 / n  # floor, not zero
    assert {"below", "p", "mcse", "ess", "n_params", "compute_flops"} <= set(out.columns)


def test_probability_bounds_and_per_target_thresholds(law):
    draws = q.predictive_draws(law, TARGETS, kind="law_mean")
    lo, hi = np.quantile(draws, [0.2, 0.8], axis=0)
    out = q.probability(law, TARGETS, above=lo, below=hi, kind="law_mean")
    np.testing.assert_allclose(out["p"], 0.6, atol=0.01)
    above = q.probability(law, TARGETS, above=lo, kind="law_mean")
    np.testing.assert_allclose(above["p"], 0.8, atol=0.01)
    with pytest.raises(ValueError, match="above= must be smaller"):
        q.probability(law, TARGETS, above=3.0, below=2.0)
    with pytest.raises(ValueError, match="give below="):
        q.probability(law, TARGETS)
    with pytest.raises(ValueError, match="one per target"):
        q.probability(law, TARGETS, below=[1.0, 2.0, 3.0])


def test_probability_of_error_through_predictor(law, predictor):
    with pytest.raises(ValueError, match="ScalingPredictor"):
        q.probability(law, TARGETS, below=0.5, target="error")
    out = q.probability(predictor, TARGETS, below=0.5, target="error")
    draws = predictor.draws(TARGETS, target="error", kind="new_run", seed=0)
    np.testing.assert_allclose(out["p"], (draws < 0.5).mean(axis=0))
    # per-target thresholds take the generic path: same answer
    both = q.probability(predictor, TARGETS, below=[0.5, 0.5], target="error")
    np.testing.assert_allclose(both["p"], out["p"])


def test_predictive_draws_rejects_other_objects():
    with pytest.raises(TypeError, match="LossLaw or a ScalingPredictor"):
        q.predictive_draws(object(), TARGETS)


# ------------------------------------------------------------------------------- scenario grid
def test_scenario_grid_is_the_product_of_sizes_and_ratios(law):
    # 7e9 x 2000 tokens per parameter is ~900x the fitted compute: warned, as predict warns
    with pytest.warns(bs.ExtrapolationWarning, match="far outside the fitted runs"):
        grid = q.scenario_grid(law, n_params=[1e9, 7e9], tokens_per_param=[20, 200, 2000],
                               ci_prob=0.8)
    assert len(grid) == 6
    assert grid["n_params"].tolist() == [1e9] * 3 + [7e9] * 3
    np.testing.assert_allclose(grid["n_tokens"], grid["n_params"] * grid["tokens_per_param"])
    with pytest.warns(bs.ExtrapolationWarning):
        ref = law.predict(grid[["n_params", "n_tokens"]], ci_prob=0.8)
    np.testing.assert_allclose(grid["median"], ref["median"])
    np.testing.assert_allclose(grid["lower"], ref["lower"])
    assert grid.attrs["ci_prob"] == 0.8
    # over-training lowers the loss at fixed size, more data never hurts under the law
    assert np.all(np.diff(grid["median"].to_numpy()[:3]) < 0)


def test_scenario_grid_error_target(predictor):
    grid = q.scenario_grid(predictor, n_params=[1e9], tokens_per_param=[20, 200],
                           target="error")
    assert grid.attrs["target"] == "error"
    assert np.all((grid["median"] > 0) & (grid["median"] < 0.81))
