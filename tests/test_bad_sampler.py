"""Bad sampler settings and seeds fail at construction (or before any work), by name."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.inference.config import MAX_SEED, SamplerConfig, check_seed


@pytest.mark.parametrize(("kwargs", "exc", "words"), [
    ({"num_chains": True}, TypeError, "num_chains must be a whole number (int), got True"),
    ({"num_samples": 10.0}, TypeError, "num_samples must be a whole number (int), got 10.0"),
    ({"num_samples": "100"}, TypeError, "num_samples"),
    ({"num_warmup": -1}, ValueError, "num_warmup must be >= 0, got -1"),
    ({"num_samples": 0}, ValueError, "num_samples must be >= 1"),
    ({"num_chains": 0}, ValueError, "num_chains must be >= 1"),
    ({"max_tree_depth": 0}, ValueError, "max_tree_depth must be >= 1"),
    ({"max_tree_depth": 64}, ValueError, "max_tree_depth must be <= 20"),
    ({"target_accept_prob": 0.0}, ValueError, "target_accept_prob must lie in (0, 1), got 0.0"),
    ({"target_accept_prob": 1.0}, ValueError, "target_accept_prob must lie in (0, 1)"),
    ({"target_accept_prob": 95}, ValueError, "target_accept_prob must lie in (0, 1), got 95"),
    ({"target_accept_prob": math.nan}, ValueError, "target_accept_prob must be finite"),
    ({"target_accept_prob": "high"}, TypeError, "target_accept_prob must be a number"),
    ({"target_accept_prob": None}, TypeError, "target_accept_prob must be a number"),
    ({"init_radius": 0.0}, ValueError, "init_radius must be > 0"),
    ({"init_radius": math.inf}, ValueError, "init_radius must be finite"),
    ({"dense_mass": "yes"}, TypeError, "dense_mass must be True or False"),
    ({"chain_method": "pmap"}, ValueError, "chain_method must be 'auto'"),
    ({"chain_method": 1}, ValueError, "chain_method must be 'auto'"),
])
def test_bad_setting_named(kwargs, exc, words):
    with pytest.raises(exc) as info:
        SamplerConfig(**kwargs)
    assert words in str(info.value)
    assert "SamplerConfig." in str(info.value)


def test_numpy_integers_accepted():
    cfg = SamplerConfig(num_samples=np.int64(10), num_chains=np.int32(2))
    assert cfg.num_samples == 10


def test_coerce():
    with pytest.raises(ValueError, match="unknown sampler setting 'num_sample' \\(did you mean "
                                         "'num_samples'\\?\\)"):
        SamplerConfig.coerce({"num_sample": 10})
    with pytest.raises(TypeError, match="sampler must be a SamplerConfig or a dict"):
        SamplerConfig.coerce(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sampler must be a SamplerConfig or a dict"):
        bs.LossLaw("gadre", sampler="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="num_chains must be >= 1"):
        bs.LossLaw("gadre", sampler={"num_chains": 0})
    assert SamplerConfig.coerce({"num_samples": 5}, {"num_chains": 2}).num_chains == 2


@pytest.mark.parametrize(("seed", "exc", "words"), [
    (1.7, TypeError, "got 1.7 (float)"),
    (2.0, TypeError, "(float)"),
    ("0", TypeError, "got '0' (str)"),
    (None, TypeError, "got None"),
    (True, TypeError, "got True (bool)"),
    (-1, ValueError, "got -1"),
    (2**63, ValueError, "must lie in [0, 2**63 - 1]"),
    (2**64 + 1, ValueError, "must lie in"),
    (99999999999999999999999, ValueError, "got 99999999999999999999999"),
])
def test_bad_seed(seed, exc, words):
    with pytest.raises(exc) as info:
        check_seed(seed)
    assert words in str(info.value) and "seed" in str(info.value)


def test_seed_checked_before_fitting(sim_runs, monkeypatch):
    # Fails before validation or sampling: the runs would also be rejected (wrong type).
    law = bs.LossLaw("gadre", loss="loss_sim")
    monkeypatch.setattr(law, "_prepare", lambda runs: pytest.fail("prepared before seed check"))
    with pytest.raises(TypeError, match="seed must be a whole number"):
        law.fit(sim_runs, seed=1.7)
    with pytest.raises(ValueError, match="seed must lie in"):
        law.fit(sim_runs, seed=2**64)
    with pytest.raises(TypeError, match="seed must be a whole number"):
        bs.fit_many(law, [sim_runs], seed=0.5)


def test_check_seed_name():
    with pytest.raises(TypeError, match="fit_seed must be"):
        check_seed(0.5, name="fit_seed")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_property_integer_seeds(seed):
    if 0 <= seed <= MAX_SEED:
        assert check_seed(seed) == seed and type(check_seed(np.int64(seed) if seed < 2**63
                                                            else seed)) is int
    else:
        with pytest.raises(ValueError):
            check_seed(seed)




@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=MAX_SEED), st.integers(min_value=0, max_value=10**6))
def test_derived_seeds_stay_valid_for_every_valid_seed(seed, offset):
    # refits and the error law use seed + offset: at the top of the range that must wrap, not
    # fail inside the fit with a seed the user never passed
    from bayes_scaling.inference.config import derive_seed

    d = derive_seed(seed, offset)
    assert check_seed(d) == d and d == (seed + offset) % (MAX_SEED + 1)
    assert derive_seed(MAX_SEED, 1) == 0
