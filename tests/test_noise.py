"""The noise models: mixture likelihood, regular new-run predictive, outlier probabilities."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.models.noise import (
    NOISE_SITES,
    outlier_responsibility,
    regular_log_density,
)
from bayes_scaling.testing import FAST_SAMPLER, TRUE_GADRE, fabricated_loss_law


def test_default_noise_is_the_mixture_and_priors_cover_its_sites():
    law = bs.LossLaw("gadre")
    assert law.noise == "mixture" and law.discrepancy == "lfo"
    for noise, sites in NOISE_SITES.items():
        assert set(sites) <= set(bs.default_priors("gadre")), noise
    with pytest.raises(ValueError, match="unknown noise model"):
        bs.LossLaw("gadre", noise="cauchy")
    with pytest.raises(ValueError, match="discrepancy must be"):
        bs.LossLaw("gadre", discrepancy="gp")


def test_regular_log_density_is_the_draw_mixture():
    rng = np.random.default_rng(0)
    loc = rng.normal(0, 0.1, (50, 3))
    scale = rng.uniform(0.01, 0.05, (50, 3))
    y = np.array([0.0, 0.05, -0.2])
    want = np.log(np.mean(stats.norm.pdf(y, loc, scale), axis=0))
    np.testing.assert_allclose(regular_log_density("mixture", y, loc, scale, {}), want,
                               rtol=1e-10)
    nu = np.full((50, 1), 3.0)
    want_t = np.log(np.mean(stats.t.pdf((y - loc) / scale, df=3.0) / scale, axis=0))
    np.testing.assert_allclose(regular_log_density("student_t", y, loc, scale, {"nu": nu}),
                               want_t, rtol=1e-10)


def test_outlier_responsibility_is_bayes_rule():
    post = {"outlier_prob": np.full((1, 1), 0.1), "outlier_scale": np.full((1, 1), 0.1)}
    loc, scale = np.zeros((1, 2)), np.full((1, 2), 0.01)
    p = outlier_responsibility(np.array([0.0, 0.1]), loc, scale, post)
    s_out = np.sqrt(0.01**2 + 0.1**2)
    for y, got in zip((0.0, 0.1), p, strict=True):
        reg, out = 0.9 * stats.norm.pdf(y, 0, 0.01), 0.1 * stats.norm.pdf(y, 0, s_out)
        np.testing.assert_allclose(got, out / (reg + out), rtol=1e-10)
    assert p[0] < 0.02 and p[1] > 0.99


@pytest.fixture(scope="module")
def contaminated():
    """The 32-run Gadre design at 0.8% scatter, with its four M = 5 runs 12% too high."""
    runs = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.008, seed=3)
    bad = np.isclose(runs.tokens_per_param, 5.0)
    runs.loc[bad, "loss_sim"] *= 1.12
    return runs, bad


def test_mixture_fit_names_the_outliers_and_keeps_sigma_small(contaminated):
    runs, bad = contaminated
    law = bs.LossLaw("gadre", loss="loss_sim", discrepancy=None, sampler=FAST_SAMPLER)
    law.fit(runs, seed=1, warn=False)
    op = law.outlier_probability()
    assert list(op.columns) == ["n_params", "n_tokens", "tokens_per_param", "loss",
                                "law_median", "rel_residual", "outlier_prob"]
    # the four 12% outliers against 0.8% scatter: each is far in the outlier component; of the 28
    # regular runs a 2.5-3 sd draw may get a coin flip (seed 3 has one at 0.66), most sit near 0
    p = op.outlier_prob.to_numpy()
    assert (p[bad] > 0.9).all()
    assert np.median(p[~bad]) < 0.1 and (p[~bad] > 0.5).sum() <= 1
    # sigma stays near the regular scatter (a normal likelihood would inflate it to ~4%)
    assert law.summary().loc["sigma", "median"] < 0.015
    m = bs.misfit_check(law)
    assert not m.ok and any("outlier probability" in f for f in m.findings)
    assert set(runs.run_id[bad]) <= set(m.outliers.index)
    assert m.regions.set_index("group").loc["M = 5", "flagged"]


def test_misfit_check_is_quiet_on_a_law_that_fits(sim_runs):
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=3, spread=0.002,
                              outlier_prob=0.01)
    m = bs.misfit_check(law)
    assert m.ok, m.findings
    assert {"tokens_per_param", "n_params", "compute"} == set(m.regions.by)
    assert m.drift["n_points"] == 0


def test_outlier_probability_needs_the_mixture(sim_runs):
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=3, noise="normal")
    with pytest.raises(ValueError, match="noise='mixture'"):
        law.outlier_probability()
    assert bs.misfit_check(law).outliers.empty


def test_new_run_predictive_is_a_regular_run(sim_runs):
    # a huge outlier share and scale in the posterior must not widen the new-run band
    t = pd.DataFrame({"n_params": [1e8], "n_tokens": [2e9]})
    a = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=4, outlier_prob=0.01,
                            outlier_scale=0.01)
    b = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=4, outlier_prob=0.4,
                            outlier_scale=0.5)
    np.testing.assert_array_equal(a.log_loss_draws(t, seed=1), b.log_loss_draws(t, seed=1))
