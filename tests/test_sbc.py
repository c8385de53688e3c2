"""Simulation-based calibration: rank statistics and tests (fast), a quick SBC run (slow)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.evaluate.sbc import (
    SBCResult,
    _generative_priors,
    default_sbc_targets,
    sbc,
    sbc_uniformity,
)
from bayes_scaling.laws.priors import MIN_OBSERVED_LOSS, default_priors
from bayes_scaling.testing import FAST_SAMPLER


def _result(ranks: dict[str, np.ndarray], num_ranks: int) -> SBCResult:
    return SBCResult(ranks=pd.DataFrame(ranks), quantities=tuple(ranks), num_ranks=num_ranks,
                     n_attempts=len(next(iter(ranks.values()))), settings={"seed": 0})


def test_uniformity_tests_pass_uniform_and_flag_piled_ranks():
    rng = np.random.default_rng(0)
    L = 99
    res = _result({
        "uniform": rng.integers(0, L + 1, 400),
        "too_narrow": np.where(rng.uniform(size=400) < 0.5, rng.integers(0, 5, 400),
                               rng.integers(95, 100, 400)),  # ranks piled at both ends
        "too_wide": rng.integers(40, 60, 400),               # piled in the middle
        "biased": rng.integers(50, 100, 400),                # posteriors below the truth
    }, L)
    u = sbc_uniformity(res, bins=10).set_index("quantity")
    assert u.loc["uniform", "chi2_p"] > 0.01 and u.loc["uniform", "ks_p"] > 0.01
    for q in ("too_narrow", "too_wide", "biased"):
        assert u.loc[q, "chi2_p"] < 1e-6 and u.loc[q, "ks_p"] < 1e-6, q
    assert u.loc["too_narrow", "sd_u"] > 0.4 and u.loc["too_wide", "sd_u"] < 0.1
    assert u.loc["biased", "mean_u"] > 0.7
    assert abs(u.loc["uniform", "sd_u"] - 1 / np.sqrt(12)) < 0.02


def test_uniformity_bins_must_divide_rank_range_and_only_ok_filters():
    res = _result({"E": np.arange(10)}, 9)
    with pytest.raises(ValueError, match="divide"):
        sbc_uniformity(res, bins=3)
    ranks = pd.DataFrame({"E": np.arange(10), "fit_ok": [True] * 5 + [False] * 5})
    res = SBCResult(ranks=ranks, quantities=("E",), num_ranks=9, n_attempts=10)
    assert sbc_uniformity(res, bins=5, only_ok=True)["n"].iloc[0] == 5
    assert res.uniformity(bins=5)["n"].iloc[0] == 10


def test_generative_priors_drop_the_data_dependent_bound():
    pri = default_priors("gadre")
    assert dict(pri["E"].params)["high"] == MIN_OBSERVED_LOSS
    gen = _generative_priors(pri)
    assert dict(gen["E"].params)["high"] is None
    assert gen["eta"] == pri["eta"] and gen["sigma"] == pri["sigma"]
    gen["E"].to_numpyro()  # resolvable: no symbols left


def test_default_targets_are_the_papers():
    t = default_sbc_targets()
    np.testing.assert_allclose(t.n_tokens / t.n_params, [640, 20])


@pytest.mark.slow
def test_quick_sbc_gadre_ranks_are_uniform():
    """40 prior draws on the Gadre design (32 runs), small sampler (2 x 300 draws), ranks among
    49 thinned draws, 5 bins (8 simulations expected per bin).

    Tolerance: each of the 9 quantities (E, a, b, eta, sigma, outlier_prob, outlier_scale of the
    default mixture noise, and the two targets' mean log loss) gets a chi-square and a KS test at p
    > 0.001: 18 tests, so a calibrated pipeline fails with probability <= 1.8% (Bonferroni); seeds
    are fixed, so the run is reproducible. With 40 simulations the tests only catch gross errors
    (e.g. posteriors half as wide as they should be: sd of normalised ranks ~0.4 instead of 0.29, or
    a sign error in the centring), which is what a code-level check is for; benchmarks/sbc_full.py
    runs hundreds with the default sampler.
    """
    res = sbc("gadre", num_simulations=40, num_ranks=49, sampler=FAST_SAMPLER, seed=11)
    assert len(res.ranks) == 40
    rejected = sum(res.n_rejected.values())
    assert rejected == res.n_attempts - 40 and rejected < 40  # the prior mostly gives sane data
    u = sbc_uniformity(res, bins=5)
    assert len(u) == 9
    bad = u[(u.chi2_p < 1e-3) | (u.ks_p < 1e-3)]
    assert bad.empty, u
    # gross width errors show in the spread of normalised ranks (0.289 if calibrated; its
    # sampling sd at n = 40 is ~0.02)
    assert u.sd_u.between(0.2, 0.38).all(), u
