"""ScalingPredictor on fabricated posteriors: propagation, pairing, bounds, probability and MCSE."""

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.estimators.loss_law import NotFittedError
from bayes_scaling.predict.predictor import ScalingPredictor
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

TARGETS = pd.DataFrame({"n_params": [1.44e9, 6.89e9, 4.1e8],
                        "n_tokens": [1.44e9 * 640, 6.89e9 * 20, 4.1e8 * 20]})
CHANCE = 0.8


@pytest.fixture(scope="module")
def loss_law(sim_runs):
    # 4 chains x 250 draws = 1000 draws
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=1)


def _error_law(n_chains=4, n_draws=250, *, spread=0.05, sigma=0.01, n_items=0.0, seed=2):
    rng = np.random.default_rng(seed)
    shape = (n_chains, n_draws)
    params = {"eps": np.full(shape, 0.78),
              "k": 4.0 * np.exp(spread * rng.standard_normal(shape)),
              "gamma": 1.05 * np.exp(spread * rng.standard_normal(shape)),
              "sigma": np.full(shape, sigma)}
    return ErrorLaw.from_draws(params, chance=CHANCE, loss="loss_sim", n_items=n_items, seed=seed)


@pytest.fixture(scope="module")
def pred(loss_law):
    return ScalingPredictor(loss_law, _error_law(n_items=5000.0))


def test_loss_target_is_the_loss_law(pred, loss_law):
    for kind in ("law_mean", "new_run"):
        pd.testing.assert_frame_equal(pred.predict(TARGETS, kind=kind, seed=3),
                                      loss_law.predict(TARGETS, kind=kind, seed=3),
                                      check_like=True)


def test_error_draws_are_the_error_law_applied_draw_by_draw(pred, loss_law):
    loss = pred.draws(TARGETS, target="loss", kind="law_mean")
    err = pred.draws(TARGETS, target="error", kind="law_mean")
    d = pred.error_law.draws()
    want = d["eps"][:, None] - d["k"][:, None] * np.exp(-d["gamma"][:, None] * loss)
    np.testing.assert_allclose(err, np.clip(want, 0, 0.78), rtol=1e-12)
    # same rows for kind="new_run": row i of the error is the error of loss row i
    loss_o = pred.draws(TARGETS, target="loss", kind="new_run", seed=5)
    err_o = pred.draws(TARGETS, target="error", kind="new_run", seed=5)
    noise_free = d["eps"][:, None] - d["k"][:, None] * np.exp(-d["gamma"][:, None] * loss_o)
    # the error noise is sigma 0.01 plus sampling sd <= 0.5/sqrt(5000) = 0.007: |diff| < 6 sd
    assert np.max(np.abs(err_o - noise_free)) < 6 * np.sqrt(0.01**2 + 0.25 / 5000)


def test_error_predictions_respect_bounds(pred):
    mean = pred.draws(TARGETS, target="error", kind="law_mean")
    obs = pred.draws(TARGETS, target="error", kind="new_run", seed=1)
    assert mean.min() >= 0 and mean.max() <= 0.78 <= CHANCE
    assert obs.min() >= 0 and obs.max() <= 1
    out = pred.predict(TARGETS, target="error", kind="new_run")
    for col in ("median", "mean", "lower", "upper", "tokens_per_param", "compute_flops"):
        assert col in out.columns
    assert out.attrs == {"ci_prob": 0.9, "kind": "new_run", "target": "error",
                         "loss": "loss_sim", "error": "err_avg17"}


def test_degenerate_error_law_maps_loss_quantiles(loss_law):
    # One error law with no parameter spread and no noise is a fixed decreasing map of loss, so
    # the error quantiles are the map of the loss quantiles (up to quantile interpolation: 1e-3)
    p = ScalingPredictor(loss_law, _error_law(spread=0.0, sigma=0.0))
    lo = p.predict(TARGETS, target="loss")
    er = p.predict(TARGETS, target="error")
    f = lambda x: 0.78 - 4.0 * np.exp(-1.05 * np.asarray(x))  # noqa: E731
    np.testing.assert_allclose(er["median"], f(lo["median"]), rtol=1e-3)
    np.testing.assert_allclose(er["lower"], f(lo["lower"]), rtol=1e-3)
    np.testing.assert_allclose(er["upper"], f(lo["upper"]), rtol=1e-3)


def test_full_propagation_is_wider_than_plugin(pred):
    full = pred.predict(TARGETS, target="error", kind="law_mean")
    plug = pred.plugin_predict(TARGETS, kind="law_mean")
    assert np.all(full.upper - full.lower > plug.upper - plug.lower)
    assert plug.attrs["plugin"] is True
    # the plug-in loss is the posterior median of the mean-law loss
    np.testing.assert_allclose(plug["loss_plugin"],
                               pred.predict(TARGETS, target="loss", kind="law_mean")["median"], rtol=1e-12)
    direct = pred.error_law.predict(plug["loss_plugin"].to_numpy(), kind="law_mean")
    np.testing.assert_allclose(plug["median"], direct["median"], rtol=1e-12)


def test_unequal_draw_counts_are_cycled_with_a_seed(loss_law):
    small = _error_law(n_chains=2, n_draws=150)  # 300 error draws vs 1000 loss draws
    p = ScalingPredictor(loss_law, small)
    a = p.draws(TARGETS, target="error", seed=7)
    assert a.shape == (1000, 3)
    np.testing.assert_array_equal(a, p.draws(TARGETS, target="error", seed=7))
    assert not np.array_equal(a, p.draws(TARGETS, target="error", seed=8))
    _, err_idx, shape = p._pairing(7)
    counts = np.bincount(err_idx, minlength=300)
    assert counts.min() == 3 and counts.max() == 4  # 1000 / 300: each draw 3 or 4 times
    assert shape == (4, 250)
    # more error draws than loss draws: rows follow the error law's chains
    big = ScalingPredictor(loss_law, _error_law(n_chains=4, n_draws=500))
    assert big.draws(TARGETS, target="error").shape == (2000, 3)
    assert big._pairing(0)[2] == (4, 500)


def test_probability_matches_draws_and_complements(pred):
    d = pred.draws(TARGETS, target="error", kind="new_run", seed=2)
    thr = float(np.median(d[:, 0]))
    below = pred.probability(TARGETS, target="error", below=thr, seed=2)
    above = pred.probability(TARGETS, target="error", above=thr, seed=2)
    np.testing.assert_allclose(below["p"], (d < thr).mean(axis=0))
    np.testing.assert_allclose(below["p"] + above["p"], 1.0)  # continuous draws: no ties
    band = pred.probability(TARGETS, target="error", above=thr - 0.02, below=thr + 0.02, seed=2)
    np.testing.assert_allclose(band["p"], ((d > thr - 0.02) & (d < thr + 0.02)).mean(axis=0))
    assert below.attrs["below"] == thr and below.attrs["kind"] == "new_run"


def test_mcse_is_binomial_for_independent_draws(pred):
    # Fabricated draws are independent, so ESS ~ n and MCSE ~ sqrt(p(1-p)/n). The ESS estimate of
    # 1000 independent draws scatters by ~5-10%; 25% tolerance keeps the test deterministic in
    # practice while catching an MCSE that ignores n (x30) or the chain layout.
    d = pred.draws(TARGETS, target="loss", kind="new_run", seed=0)
    thr = np.median(d, axis=0)
    out = pred.probability(TARGETS, target="loss", below=float(thr[0]), seed=0)
    p = out["p"].iloc[0]
    assert p == pytest.approx(0.5, abs=0.002)
    assert out["mcse"].iloc[0] == pytest.approx(np.sqrt(p * (1 - p) / 1000), rel=0.25)


def test_mcse_grows_with_autocorrelation(sim_runs):
    # each draw repeated 10 times along its chain: 1000 rows carry ~100 draws of information
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", num_draws=25, seed=3)
    post = law.idata.posterior.to_dataset()
    law.idata["posterior"] = post.isel(draw=np.repeat(np.arange(25), 10)).assign_coords(
        draw=np.arange(250))
    p = ScalingPredictor(law)
    d = p.draws(TARGETS, target="loss", kind="law_mean")
    out = p.probability(TARGETS, target="loss", below=float(np.median(d[:, 0])), kind="law_mean")
    binomial = np.sqrt(0.25 / 1000)
    assert out["mcse"].iloc[0] > 2 * binomial and out["ess"].iloc[0] < 400


def test_certain_events_get_a_floor_not_zero(pred):
    out = pred.probability(TARGETS, target="error", below=0.999)
    assert np.all(out["p"] == 1.0)
    n = 1000
    q = 0.5 / n
    np.testing.assert_allclose(out["mcse"], np.sqrt(q * (1 - q) / n))
    assert np.all(out["mcse"] > 0)


def test_bad_arguments(pred, loss_law):
    with pytest.raises(ValueError, match="target"):
        pred.predict(TARGETS, target="accuracy")
    with pytest.raises(ValueError, match="kind"):
        pred.draws(TARGETS, kind="posterior")
    with pytest.raises(ValueError, match="below= and/or above="):
        pred.probability(TARGETS)
    with pytest.raises(ValueError, match="smaller"):
        pred.probability(TARGETS, above=3.0, below=2.0)
    with pytest.raises(ValueError, match="needs an error law"):
        ScalingPredictor(loss_law).predict(TARGETS, target="error")
    other = ErrorLaw.from_draws({"eps": [0.8], "k": [4.0], "gamma": [1.0], "sigma": [0.0]},
                                chance=CHANCE, loss="loss_c4_val")
    with pytest.raises(ValueError, match="same loss column"):
        ScalingPredictor(loss_law, other)
    with pytest.raises(NotFittedError):
        ScalingPredictor(loss_law, ErrorLaw(loss="loss_sim"))
    with pytest.raises(TypeError):
        ScalingPredictor(loss_law, "exponential")


def test_predictor_decision_query_methods_delegate_to_queries(sim_runs):
    from bayes_scaling.predict import queries
    from bayes_scaling.predict.predictor import ScalingPredictor
    from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

    pred = ScalingPredictor(fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=2))
    a = pred.optimal_allocation(compute_flops=1e21)
    b = queries.optimal_allocation(pred.loss_law, compute_flops=1e21)
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    c = pred.compute_to_target(loss=2.6, tokens_per_param=20.0)
    assert (c["compute_flops_median"] > 0).all() and (c["p_reachable"] > 0.99).all()
