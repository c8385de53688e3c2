"""Slow statistical checks of the loss laws: parameter recovery and real-data fits."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayes_scaling as bs
from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
from bayes_scaling.testing import TRUE_GADRE

pytestmark = pytest.mark.slow
SAMPLER = {"num_warmup": 500, "num_samples": 500, "num_chains": 4}


@pytest.mark.parametrize("law, truth", [
    ("gadre", TRUE_GADRE),
    ("chinchilla", {"E": 1.7, "A": 120.0, "B": 300.0, "alpha": 0.28, "beta": 0.3}),
])
def test_parameter_recovery_10_seeds(law, truth):
    """Each parameter's truth lies inside its 90% interval in >= 8 of 10 simulated data sets.

    Tolerance: with calibrated intervals the number of hits per parameter is Binomial(10, 0.9),
    so P(>= 8) = 0.93; a biased model (e.g. a wrong centring or a prior that pins E) fails it.
    Seeds are fixed, so the outcome is deterministic on a given platform.
    """
    sigma = 0.01
    truth = dict(truth, sigma=sigma)
    hits = {k: 0 for k in truth}
    for seed in range(10):
        runs = simulate_runs(law, truth, gadre_design(), sigma=sigma, loss="loss_sim", seed=seed)
        fit = bs.LossLaw(law, loss="loss_sim", noise="normal", sampler=SAMPLER)
        with warnings.catch_warnings():
            # small samplers, and refits of 16 runs: what is checked here is the posterior
            warnings.simplefilter("ignore", bs.DiagnosticsWarning)
            warnings.simplefilter("ignore", bs.RefitWarning)
            fit.fit(runs, seed=seed)
        s = fit.summary(ci_prob=0.9)
        for k, v in truth.items():
            hits[k] += int(s.loc[k, "lower"] <= v <= s.loc[k, "upper"])
    assert min(hits.values()) >= 8, hits


def _targets(d):
    big = d[d.n_params > 1e9]
    t14 = big[big.n_params < 2e9]
    return pd.concat([t14[t14.tokens_per_param == t14.tokens_per_param.max()],
                      big[big.n_params > 5e9]])


# C4 with the default mixture noise failed at seed 0 (R-hat 1.021, ESS 55) while chains started
# with up to 88% of runs in the outlier component; with the noise sites' start (models.noise
# INIT_SITES) it passes (R-hat 1.0055, ESS 1284, 12.8 s; measured 2026-12-02)
@pytest.mark.parametrize("dataset", ["rpj", "c4_original", "rw_original"])
def test_gadre_real_data_converges_and_predicts(gadre_runs, dataset):
    d = gadre_runs[gadre_runs.dataset == dataset]
    law = bs.LossLaw("gadre", loss="loss_c4_val").fit(d[d.n_params < 1e9], seed=0)
    diag = law.diagnostics()
    assert diag.max_rhat <= 1.01 and diag.divergences == 0, diag
    t = _targets(d)
    p = law.predict(t, ci_prob=0.9)
    rel = np.abs(p["median"].to_numpy() / t["loss_c4_val"].to_numpy() - 1)
    # measured (benchmarks/loss_results.py): 0.04-0.68% except C4's 6.9B run (5.1%), which the
    # paper's own fit also misses by 4.3%
    limit = 0.06 if dataset == "c4_original" else 0.01
    assert rel.max() < limit, rel


def test_epoch_chinchilla_matches_bootstrap(data_dir):
    runs = bs.load_dataset("chinchilla_epoch", data_dir=data_dir)
    law = bs.LossLaw("chinchilla", loss="loss_chinchilla").fit(runs[runs.in_main_fit], seed=0)
    assert law.diagnostics().ok
    s = law.summary(ci_prob=0.95)
    epoch = {"A": 482, "B": 2085, "E": 1.817, "alpha": 0.348, "beta": 0.366}
    for k, v in epoch.items():  # Epoch's point estimate inside our 95% interval
        assert s.loc[k, "lower"] <= v <= s.loc[k, "upper"], (k, s.loc[k])
