"""Design distances, the leave-future-out discrepancy and the far-extrapolation warning."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import bayes_scaling as bs
from bayes_scaling.data.design import DesignBounds, warn_far_extrapolation
from bayes_scaling.estimators.discrepancy import KAPPA_PRIOR_SCALE, Discrepancy
from bayes_scaling.estimators.extrapolation import lfo_splits
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

BOUNDS = DesignBounds.from_sizes([1e7, 1e8, 1e8], [2e8, 2e9, 8e9])  # M in [20, 80]


def test_distance_is_zero_inside_and_log_units_outside():
    # inside the design (a fitted point, and one between them)
    assert BOUNDS.distance([1e8], [2e9])[0] == 0.0
    assert BOUNDS.distance([3e7], [1.2e9])[0] == 0.0
    # 100x the largest compute at M = 20: ln(100) beyond in compute, inside in M
    c_max = 6 * 1e8 * 8e9
    n = np.sqrt(100 * c_max / (6 * 20))
    np.testing.assert_allclose(BOUNDS.distance([n], [20 * n]), [np.log(100)], rtol=1e-12)
    # same compute as the largest run, M = 800 (10x above the range): ln(10) in M only
    n = np.sqrt(c_max / (6 * 800))
    u = BOUNDS.components([n], [800 * n])
    np.testing.assert_allclose([u["u_c"][0], u["u_m"][0]], [0.0, np.log(10)], atol=1e-12)
    # below the M range counts the same way
    n = np.sqrt(c_max / (6 * 2))
    np.testing.assert_allclose(BOUNDS.components([n], [2 * n])["u_m"], [np.log(10)], rtol=1e-12)
    d = BOUNDS.describe(pd.DataFrame({"n_params": [1e9], "n_tokens": [2e10]}))
    np.testing.assert_allclose(d["compute_ratio"], [6 * 1e9 * 2e10 / c_max])
    assert DesignBounds.from_dict(BOUNDS.to_dict()) == BOUNDS


def test_far_extrapolation_warns_beyond_100x_only():
    c_max = 6 * 1e8 * 8e9
    near = pd.DataFrame({"n_params": [np.sqrt(50 * c_max / 120)], "n_tokens": [0.0]})
    near["n_tokens"] = 20 * near.n_params
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_far_extrapolation(BOUNDS, near)  # 50x: no warning
    far = near.assign(n_params=near.n_params * 10, n_tokens=near.n_tokens * 10)  # 5000x
    with pytest.warns(bs.ExtrapolationWarning, match=r"5e\+03x the largest fitted compute"):
        warn_far_extrapolation(BOUNDS, far)


def test_prior_only_discrepancy_is_the_halfnormal_prior():
    d = Discrepancy.from_evidence([], [])
    assert d.method == "prior"
    q = d.quantiles([0.5, 0.9])
    np.testing.assert_allclose(q, stats.halfnorm(scale=KAPPA_PRIOR_SCALE).ppf([0.5, 0.9]),
                               rtol=0.02)  # grid step 2.5e-4 against quantiles of 7e-3, 1.6e-2
    k = d.kappa_draws(20000, seed=1)
    np.testing.assert_array_equal(k, d.kappa_draws(20000, seed=1))
    # 20000 draws: the median's standard error is ~1% of it
    assert abs(np.median(k) / q[0] - 1) < 0.05


def test_lfo_evidence_recovers_a_known_discrepancy():
    # 300 cuts of 3 held-out runs each; within a cut the runs share one discrepancy draw
    # kappa * d * xi (kappa = 0.03, distances 1-4) plus their own noise 0.01 and a shared
    # parameter error 0.005 (the factor U). 300 draws of xi pin kappa to a few per cent (its
    # posterior sd is 0.0012 here), far from the prior's median 0.007
    rng = np.random.default_rng(0)
    pts = []
    for c in range(300):
        d = rng.uniform(1, 4, 3)
        r = 0.03 * d * rng.normal() + 0.005 * rng.normal() + rng.normal(0, 0.01, 3)
        pts += [{"run_id": f"{c}-{j}", "cutoff_flops": 1e18 * (1 + c), "residual": float(r[j]),
                 "pred_sd": float(np.hypot(0.01, 0.005)), "noise_sd": 0.01,
                 "param_factor": [0.005], "distance": float(d[j]), "weight": 1.0}
                for j in range(3)]
    disc = Discrepancy.from_evidence(pts, [1e20])
    lo, med, hi = disc.quantiles([0.05, 0.5, 0.95])
    assert disc.method == "lfo" and lo < 0.03 < hi and abs(med - 0.03) < 0.005
    back = Discrepancy.from_json(disc.to_json())
    assert back == disc and json.loads(disc.to_json())["method"] == "lfo"
    assert len(back.evidence()) == 900


def test_runs_of_one_cut_are_one_draw_of_the_discrepancy():
    # 60 held-out runs of ONE cut, all 2% below the refit at distance 2, with 0.5% noise: scored
    # one by one they would pin kappa near 0.01 (60 independent residuals of 2%); as one shared
    # draw they are a single |kappa * d * xi| = 0.02, which leaves kappa broad (the 95% quantile
    # above 0.02 and the 5% below 0.005: a half-normal-like spread, not a spike)
    pts = [{"run_id": str(i), "cutoff_flops": 1e20, "residual": -0.02, "pred_sd": 0.005,
            "noise_sd": 0.005, "param_factor": [0.0], "distance": 2.0, "weight": 1.0}
           for i in range(60)]
    lo, hi = Discrepancy.from_evidence(pts, [1e20]).quantiles([0.05, 0.95])
    assert lo < 0.005 and hi > 0.02


def test_one_outlying_lfo_point_does_not_set_kappa():
    # 40 clean cuts of one run each (kappa = 0) plus one cut whose run is 30% off: with the
    # mixture's outlier component the posterior median of kappa stays below the prior's median;
    # without it that run drags kappa up
    rng = np.random.default_rng(1)
    pts = [{"run_id": str(i), "cutoff_flops": 1e18 * (1 + i), "residual": float(rng.normal(0, 0.01)),
            "pred_sd": 0.01, "distance": 2.0, "weight": 1.0} for i in range(40)]
    bad = {"run_id": "x", "cutoff_flops": 1e20, "residual": 0.3, "pred_sd": 0.01,
           "distance": 2.0, "weight": 1.0}
    robust = [p | {"outlier_prob": 0.1, "outlier_scale": 0.1} for p in pts + [bad]]
    naive = Discrepancy.from_evidence(pts + [bad], [1e20]).quantiles([0.5])[0]
    assert Discrepancy.from_evidence(robust, [1e20]).quantiles([0.5])[0] < 0.0067 < naive


def test_lfo_splits_respect_minimum_and_are_distinct(sim_runs):
    splits = lfo_splits(sim_runs, min_fit=7)
    assert 1 <= len(splits) <= 3
    seen = set()
    for cut, fit_idx, held_idx in splits:
        c = sim_runs.loc[fit_idx, "compute_flops"]
        assert len(fit_idx) >= 7 and len(held_idx) >= 1 and c.max() <= cut
        assert (sim_runs.loc[held_idx, "compute_flops"] > cut).all()
        seen.add(tuple(fit_idx))
    assert len(seen) == len(splits)
    assert lfo_splits(sim_runs.head(5), min_fit=7) == []


def test_fabricated_fit_has_no_discrepancy_and_new_run_adds_only_noise(sim_runs):
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=2, noise="normal")
    assert law.discrepancy_.method == "none"
    t = pd.DataFrame({"n_params": [7e9], "n_tokens": [1.4e11]})
    np.testing.assert_array_equal(law.discrepancy_sd(t), 0.0)
    # normal noise, no discrepancy: new-run log draws = law mean + sigma * N(0, 1)
    rng = np.random.default_rng(5)
    want = (law.log_loss_draws(t, kind="law_mean")
            + law.idata.posterior["sigma"].values.reshape(-1)[:, None]
            * rng.standard_normal((1000, 1)))
    np.testing.assert_allclose(law.log_loss_draws(t, seed=5), want, rtol=1e-12)


def test_fit_learns_discrepancy_and_widens_far_targets(fitted_sim, tmp_path):
    law = fitted_sim
    disc = law.discrepancy_
    assert disc.method == "lfo" and len(disc.points) > 0 and len(disc.cutoffs) >= 1
    near = pd.DataFrame({"n_params": [1e8], "n_tokens": [2e9]})
    far = pd.DataFrame({"n_params": [7e9], "n_tokens": [1.4e11]})
    assert law.discrepancy_sd(near).max() == 0.0  # inside the design
    assert (law.discrepancy_sd(far) > 0).mean() > 0.99
    # the law-mean band never includes it; the new-run band at the far target does
    w = {}
    for kind in ("new_run", "law_mean"):
        p = law.predict(far, kind=kind, seed=0)
        w[kind] = float((p.upper - p.lower).iloc[0])
    assert w["new_run"] > w["law_mean"]
    law.save(tmp_path / "f.nc")
    back = bs.LossLaw.load(tmp_path / "f.nc")
    assert back.discrepancy == "lfo" and back.discrepancy_ == disc
    np.testing.assert_array_equal(back.loss_draws(far, seed=3), law.loss_draws(far, seed=3))


def test_queries_flag_budgets_outside_the_fitted_range(sim_runs):
    law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=2)
    c_min = sim_runs.compute_flops.min()
    c_max = sim_runs.compute_flops.max()
    with pytest.warns(bs.ExtrapolationWarning, match="below the smallest fitted run"):
        out = bs.optimal_allocation(law, compute_flops=[1.0, 10 * c_min])
    assert out.outside_fitted_range.tolist() == [True, False]
    with pytest.warns(bs.ExtrapolationWarning, match="more than 100x the largest"):
        out = bs.optimal_allocation(law, compute_flops=[1e3 * c_max])
    assert out.outside_fitted_range.tolist() == [True]
    with pytest.warns(bs.ExtrapolationWarning, match="far outside the fitted runs"):
        bs.probability(law, {"n_params": [1e15], "n_tokens": [2e16]}, below=2.0)
    with pytest.warns(bs.ExtrapolationWarning, match="far outside the fitted runs"):
        law.predict(pd.DataFrame({"n_params": [1e15], "n_tokens": [2e16]}))


def test_lfo_compare_prefers_the_law_that_extrapolated_better(sim_runs):
    def law_with(residual: float):
        law = fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=2)
        pts = [{"run_id": str(i), "residual": residual, "pred_sd": 0.01, "distance": 1.0,
                "weight": 1.0} for i in range(5)]
        law.idata.attrs["discrepancy"] = Discrepancy.from_evidence(pts, [1e20]).to_json()
        return law

    tab = bs.lfo_compare({"off": law_with(0.03), "close": law_with(0.002)})
    assert tab.model.tolist() == ["close", "off"]
    # each point: log N(r; 0, 0.01^2); 5 points at r = 0.03 vs 0.002 differ by 5 * (9 - 0.04) / 2
    np.testing.assert_allclose(tab.delta_elpd.iloc[1], -5 * (9 - 0.04) / 2, rtol=1e-9)
    assert tab.weight.iloc[0] > 0.999
    with pytest.raises(ValueError, match="no leave-future-out points"):
        bs.lfo_compare({"none": fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim",
                                                    seed=2)})


def _cut_points(rng, cut, kappa, n=12, ell=None):
    """Held-out points of one cut: residuals kappa * d * xi with xi shared (``ell=None``) or
    following log M (a smooth sign change across the cut's M range), plus 0.3% noise."""
    d = rng.uniform(0.5, 2.0, n)
    log_m = np.linspace(np.log(2), np.log(100), n)
    xi = rng.normal() if ell is None else np.sin(log_m * 1.5 + rng.uniform(0, 6))
    r = kappa * d * xi + rng.normal(0, 0.003, n)
    return [{"run_id": f"{cut:.0e}-{j}", "cutoff_flops": cut, "residual": float(r[j]),
             "pred_sd": 0.003, "noise_sd": 0.003, "param_factor": [0.0], "distance": float(d[j]),
             "log_n": 20.0, "log_m": float(log_m[j]), "weight": 1.0} for j in range(n)]


def test_kappa_trend_with_the_cut_compute_carries_to_the_fit():
    # 30 cuts from 1e19 to 1e21 whose kappa doubles per e-fold of compute (gamma = ln 2 ~ 0.69),
    # each cut one shared draw: 30 draws put gamma's median at 0.48 (the N(0, 0.5) prior pulls
    # it in) and its 5% quantile above 0.2, and the fit's kappa (at 1e22, 2.3 e-folds beyond the
    # last cut) above the last cut's; without the trend gamma's median is within 0.2 of 0
    rng = np.random.default_rng(3)
    cuts = np.geomspace(1e19, 1e21, 30)
    lc = np.log(cuts)
    grow = sum((_cut_points(rng, c, 0.004 * np.exp(0.69 * (lg - lc.mean())))
                for c, lg in zip(cuts, lc, strict=True)), [])
    flat = sum((_cut_points(rng, c, 0.004) for c in cuts), [])
    g = Discrepancy.from_evidence(grow, list(cuts), log_c_fit=float(np.log(1e22)))
    f = Discrepancy.from_evidence(flat, list(cuts), log_c_fit=float(np.log(1e22)))
    assert g.trend([0.05])[0] > 0.2 and 0.3 < g.trend([0.5])[0] < 1.0
    assert abs(f.trend([0.5])[0]) < 0.2
    k_last = 0.004 * np.exp(0.69 * (lc[-1] - lc.mean()))
    assert g.quantiles([0.5])[0] > k_last  # carried beyond the last cut
    assert f.quantiles([0.05])[0] < 0.004 < f.quantiles([0.95])[0]
    back = Discrepancy.from_json(g.to_json())
    assert back == g
    np.testing.assert_array_equal(back.kappa_draws(100, seed=1), g.kappa_draws(100, seed=1))


def test_discrepancy_that_follows_m_within_a_cut_is_not_read_as_small():
    # within each cut the residuals change sign along log M: one shared draw per cut cannot
    # explain them (it would read them as noise and keep kappa small); with the runs' places in
    # the design the kernel does, and kappa's median rises towards the truth 0.006
    rng = np.random.default_rng(4)
    cuts = np.geomspace(1e19, 1e21, 8)
    pts = sum((_cut_points(rng, c, 0.006, ell=1.0) for c in cuts), [])
    blind = [{k: v for k, v in p.items() if k not in ("log_n", "log_m")} for p in pts]
    k_kernel = Discrepancy.from_evidence(pts, list(cuts)).quantiles([0.5])[0]
    k_blind = Discrepancy.from_evidence(blind, list(cuts)).quantiles([0.5])[0]
    assert k_kernel > 1.5 * k_blind and 0.003 < k_kernel < 0.012


def test_discrepancy_saved_before_the_trend_still_loads_as_it_was():
    # a fit saved before 2026-12-02 has a 1-D kappa posterior and no gamma grid: it loads with
    # gamma = 0, and its draws and quantiles are those of the stored kappa posterior
    grid = np.linspace(0.0, 0.15, 601)
    w = stats.halfnorm(scale=0.004).pdf(grid)
    old = json.dumps({"method": "lfo", "kappa_grid": list(grid), "weights": list(w / w.sum()),
                      "points": [], "cutoffs": [1e20]})
    d = Discrepancy.from_json(old)
    assert d.gamma_grid == (0.0,) and d.trend().tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(d.quantiles([0.5]), stats.halfnorm(scale=0.004).ppf([0.5]),
                               rtol=0.05)  # grid step 2.5e-4 against a median of 2.7e-3
    k = d.kappa_draws(20000, seed=0)
    assert abs(np.median(k) / stats.halfnorm(scale=0.004).median() - 1) < 0.1
