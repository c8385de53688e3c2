"""The discrepancy's prior: the DiscrepancyPrior spec, grid posteriors under a lognormal
population, and the population learner of benchmarks/learn_discrepancy_prior.py."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from bayes_scaling.estimators.discrepancy import Discrepancy, evidence_log_likelihood
from bayes_scaling.laws.discrepancy_prior import DiscrepancyPrior

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def learner():
    sys.path.insert(0, str(BENCH))
    try:
        import learn_discrepancy_prior
    finally:
        sys.path.remove(str(BENCH))
    return learn_discrepancy_prior


def test_prior_round_trips_and_rejects_bad_numbers():
    p = DiscrepancyPrior.lognormal(np.log(0.01), 0.8, gamma_mean=0.1, gamma_sd=0.3)
    assert DiscrepancyPrior.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    with pytest.raises(ValueError, match="kind must be one of"):
        DiscrepancyPrior("gamma")
    with pytest.raises(ValueError, match="log_kappa_sd must be a positive"):
        DiscrepancyPrior.lognormal(0.0, -1.0)
    with pytest.raises(ValueError, match="gamma_mean must be finite"):
        DiscrepancyPrior.lognormal(0.0, 1.0, gamma_mean=float("nan"))


def test_prior_only_discrepancy_under_a_lognormal_is_that_lognormal():
    prior = DiscrepancyPrior.lognormal(np.log(0.012), 0.7)
    d = Discrepancy.from_evidence([], [], prior=prior)
    assert d.method == "prior" and d.prior_() == prior
    q = d.quantiles([0.1, 0.5, 0.9])
    # 601 log-spaced cells over +-4.5 sd: a cell is 1.05% of kappa wide
    np.testing.assert_allclose(q, stats.lognorm(s=0.7, scale=0.012).ppf([0.1, 0.5, 0.9]),
                               rtol=0.01)
    k = d.kappa_draws(20000, seed=2)
    # 20000 draws: the median's standard error is ~0.6% of it (0.7 x 1.25 / sqrt(20000))
    assert abs(np.median(k) / 0.012 - 1) < 0.03
    assert Discrepancy.from_json(d.to_json()) == d


def test_no_misfit_keeps_the_population_and_strong_evidence_moves_away():
    # three cuts whose held-out runs sit on the law, but close to the design (distance
    # 0.3-0.5, 1% scatter): kappa d at the population's median 0.02 would be 0.6-1%, as large
    # as the scatter, so the evidence cannot say kappa is small and the median stays within a
    # factor 2 of the population's. Cuts 5% off at the same distances move it far above
    prior = DiscrepancyPrior.lognormal(np.log(0.02), 0.5, gamma_sd=0.3)
    rng = np.random.default_rng(0)

    def cuts(scale):
        pts = []
        for c in (1e19, 2e19, 4e19):
            r = scale * rng.choice([-1, 1]) + rng.normal(0, 0.01, 5)
            pts += [{"run_id": f"{c}-{j}", "cutoff_flops": c, "residual": float(r[j]),
                     "pred_sd": 0.01, "distance": 0.3 + 0.05 * j, "weight": 1.0}
                    for j in range(5)]
        return pts

    calm = Discrepancy.from_evidence(cuts(0.0), [1e19, 2e19, 4e19], prior=prior)
    assert 0.01 < calm.quantiles([0.5])[0] < 0.04
    wild = Discrepancy.from_evidence(cuts(0.05), [1e19, 2e19, 4e19], prior=prior)
    assert wild.quantiles([0.5])[0] > 0.05


def test_evidence_likelihood_of_one_cut_is_the_joint_normal():
    # one cut, two runs, no factor, one shared draw (no places): cov = s^2 I + kappa^2 d d^T
    pts = [{"run_id": "a", "cutoff_flops": 1e20, "residual": 0.02, "pred_sd": 0.01,
            "distance": 1.0}, {"run_id": "b", "cutoff_flops": 1e20, "residual": 0.03,
                               "pred_sd": 0.01, "distance": 2.0}]
    kappa = np.array([0.005, 0.01, 0.02])
    ll = evidence_log_likelihood(pts, kappa, np.zeros(1), log_c_ref=np.log(1e20))[:, 0]
    d, r = np.array([1.0, 2.0]), np.array([0.02, 0.03])
    want = [stats.multivariate_normal(np.zeros(2), 1e-4 * np.eye(2) + k**2 * np.outer(d, d)).logpdf(r)
            for k in kappa]
    # the cut's likelihood is interpolated in log kappa on a 100-point grid from 1e-5 to 3
    np.testing.assert_allclose(ll - ll[0], np.array(want) - want[0], atol=0.02)


def _fake_records(mu, tau, n_groups, per_group, seed):
    """Ladders whose far targets (3 per ladder, distance 2-4) miss by kappa_l * d * xi, with
    log kappa_l ~ Normal(mu, tau) per group (the ladders of a group share kappa and xi: one
    training set), no LFO cuts."""
    rng = np.random.default_rng(seed)
    recs = []
    for g in range(n_groups):
        kappa = np.exp(mu + tau * rng.normal())
        xi = rng.normal()
        for j in range(per_group):
            far = []
            for t, d in enumerate((2.0, 3.0, 4.0)):
                far.append({"run_id": str(t), "residual": float(kappa * d * xi
                                                                + rng.normal(0, 0.002)),
                            "pred_sd": 0.002, "distance": d, "weight": 1.0})
            recs.append({"ladder": f"g{g}:{j}", "group": f"g{g}", "family": "fake",
                         "log_c_fit": float(np.log(1e20)), "far": far,
                         "discrepancy": {"points": [], "log_c_ref": 0.0, "cutoffs": []}})
    return recs


def test_population_learner_recovers_a_known_population(learner):
    # 40 groups of 3 ladders, log kappa ~ Normal(log 0.01, 0.5): each group one draw of kappa
    # and of the shared miss. The predictive's median comes back within 35% (the sd of the
    # mean of 40 one-draw estimates of log kappa is ~0.2) and its sd between 0.3 and 1.3
    recs = _fake_records(np.log(0.01), 0.5, 40, 3, seed=3)
    res = learner.learn(recs)
    assert res["prior"]["kind"] == "lognormal" and res["n_groups"] == 40
    assert abs(np.exp(res["prior"]["log_kappa_mean"]) / 0.01 - 1) < 0.35
    assert 0.3 < res["prior"]["log_kappa_sd"] < 1.3
    w = learner.group_weights(recs)
    assert set(w.values()) == {1.0 / 3.0}


@pytest.mark.slow
def test_shipped_population_is_what_the_atlas_learns(learner):
    # The shipped hyperparameters are learn_discrepancy_prior.py's output on the atlas records.
    # The records take ~1-2 h of fits on 2 cores (benchmarks/extrapolation_atlas.py fit), too
    # long for a test: this one learns from the cached records (BAYES_SCALING_ATLAS_DIR, default
    # out/atlas) after checking that they hold these ladders' own far targets
    import os

    from bayes_scaling.laws.discrepancy_prior import population_prior, population_record

    root = os.environ.get("BAYES_SCALING_DATA_DIR")
    if not root or not (Path(root) / "ladders").is_dir():
        pytest.skip("needs BAYES_SCALING_DATA_DIR with ladders/ (see ladders/README.md)")
    atlas = Path(os.environ.get("BAYES_SCALING_ATLAS_DIR", BENCH.parent / "out" / "atlas"))
    if not (atlas / "records").is_dir():
        pytest.skip(f"no atlas records under {atlas}: run benchmarks/extrapolation_atlas.py fit")
    sys.path.insert(0, str(BENCH))
    try:
        import extrapolation_atlas as ea
    finally:
        sys.path.remove(str(BENCH))
    records = ea.load_records(atlas)
    shipped = population_record()
    assert shipped["n_ladders"] == len(records)
    # the real ladders (the simulated ones are drawn, not read)
    real = [f for f in ea.FAMILIES if f != "sim"]
    ladders = {lad["ladder"]: lad for lad in ea.all_ladders(real, seed=0)}
    for rec in (r for r in records if r["family"] != "sim"):
        far = ladders[rec["ladder"]]["far"]
        np.testing.assert_allclose([p["loss"] for p in rec["far"]], far[ea.LOSS], rtol=1e-12)
        assert rec["n_fit"] == len(ladders[rec["ladder"]]["fit"])
    res = learner.learn(records)
    assert res["prior"] == shipped["prior"]
    assert population_prior().to_dict() == res["prior"]
