"""Bad priors fail at construction, naming the distribution, the parameter and the fix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.laws.priors import Prior, merge_priors, priors_from_json, priors_to_json


@pytest.mark.parametrize(("dist", "params", "words"), [
    ("normal", {"loc": 0.0, "scale": -1.0}, "'scale' is a standard deviation and must be > 0"),
    ("normal", {"loc": 0.0, "scale": 0.0}, "'scale'"),
    ("lognormal", {"loc": 0.0, "scale": -0.5}, "'scale'"),
    ("halfnormal", {"scale": -0.05}, "'scale'"),
    ("truncated_normal", {"loc": 2.0, "scale": 0.0, "low": 0.0}, "'scale'"),
    ("uniform", {"low": 3.0, "high": 1.0}, "low must be below high, got low=3.0, high=1.0"),
    ("uniform", {"low": 1.0, "high": 1.0}, "low must be below high"),
    ("truncated_normal", {"loc": 2.0, "scale": 1.0, "low": 5.0, "high": 1.0}, "low must be below"),
    ("beta", {"a": 0.0, "b": 4.0}, "'concentration1' is a concentration (beta's a)"),
    ("beta", {"a": 2.0, "b": -1.0}, "'concentration0' is a concentration (beta's b)"),
    ("gamma", {"concentration": 0.0, "rate": 0.1}, "'concentration'"),
    ("gamma", {"concentration": 2.0, "rate": -0.1}, "'rate' is a rate and must be > 0"),
    ("exponential", {"rate": 0.0}, "'rate'"),
    ("normal", {"loc": math.nan, "scale": 1.0}, "'loc' must be finite, got nan"),
    ("normal", {"loc": math.inf, "scale": 1.0}, "'loc' must be finite"),
    ("normal", {"loc": 0.0, "scale": math.inf}, "'scale' must be finite"),
    ("truncated_normal", {"loc": 0.0, "scale": 1.0, "low": -math.inf}, "use None for no bound"),
    ("delta", {"v": math.nan}, "'v' must be finite"),
    ("normal", {"loc": True, "scale": 1.0}, "got True (bool)"),
    ("normal", {"loc": "0", "scale": 1.0}, "got '0' (str)"),
    ("normal", {"loc": [0.0], "scale": 1.0}, "(list)"),
    ("normal", {"loc": None, "scale": 1.0}, "got None"),
    ("normal", {"scale": 1.0}, "missing ['loc']"),
    ("normal", {"loc": 0.0, "scale": 1.0, "sd": 1.0}, "unexpected ['sd']"),
])
def test_bad_prior_named(dist, params, words):
    with pytest.raises(ValueError) as info:
        Prior(dist, **params)
    msg = str(info.value)
    assert words in msg
    assert f"Prior({dist!r})" in msg
    assert "Fix:" in msg and "e.g. Prior(" in msg


def test_unknown_distribution():
    with pytest.raises(ValueError, match="unknown prior distribution 'cauchy'; use one of"):
        Prior("cauchy", loc=0, scale=1)
    with pytest.raises(ValueError, match="unknown prior distribution 3"):
        Prior(3)  # type: ignore[arg-type]


def test_numpy_numbers_and_symbols_accepted():
    p = Prior("normal", loc=np.float32(0.5), scale=np.int64(2))
    assert p.kwargs == {"loc": 0.5, "scale": 2.0}
    t = Prior("truncated_normal", loc=2.0, scale=1.0, low=0.0, high="min_observed_loss")
    assert t.resolve({"min_observed_loss": 2.5}).kwargs["high"] == 2.5
    with pytest.raises(ValueError, match="low must be below high"):
        t.resolve({"min_observed_loss": -1.0})
    with pytest.raises(ValueError, match="needs 'min_observed_loss', which the fit did not"):
        t.resolve({})


def test_from_dict_and_merge_name_the_parameter():
    with pytest.raises(ValueError, match="a prior spec is a dict"):
        Prior.from_dict(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="has no 'dist' key"):
        Prior.from_dict({"loc": 0})
    with pytest.raises(ValueError, match=r"prior for 'E': Prior\('normal'\): parameter 'scale'"):
        merge_priors(bs.default_priors("gadre"), {"E": {"dist": "normal", "loc": 1, "scale": -1}})
    with pytest.raises(ValueError, match="prior for 'eta': a prior spec is a dict"):
        merge_priors(bs.default_priors("gadre"), {"eta": 0.3})
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        merge_priors(bs.default_priors("gadre"), {"alpha": Prior("beta", a=2, b=4)})


def test_loss_law_rejects_bad_prior_at_construction():
    with pytest.raises(ValueError, match="prior for 'eta'.*concentration"):
        bs.LossLaw("gadre", loss="loss_c4_val", priors={"eta": {"dist": "beta", "a": 0, "b": 1}})


def test_defaults_valid_and_round_trip():
    for law in bs.LOSS_LAWS:
        pri = bs.default_priors(law)
        assert priors_from_json(priors_to_json(pri)) == pri


@settings(max_examples=200, deadline=None)
@given(loc=st.floats(allow_nan=True, allow_infinity=True),
       scale=st.floats(allow_nan=True, allow_infinity=True))
def test_property_normal_valid_iff_finite_and_positive_scale(loc, scale):
    ok = math.isfinite(loc) and math.isfinite(scale) and scale > 0
    if ok:
        assert Prior("normal", loc=loc, scale=scale).kwargs == {"loc": loc, "scale": scale}
    else:
        with pytest.raises(ValueError, match="Prior\\('normal'\\): parameter '(loc|scale)'"):
            Prior("normal", loc=loc, scale=scale)


@settings(max_examples=200, deadline=None)
@given(low=st.floats(-1e6, 1e6), high=st.floats(-1e6, 1e6))
def test_property_uniform_needs_low_below_high(low, high):
    if low < high:
        Prior("uniform", low=low, high=high)
    else:
        with pytest.raises(ValueError, match="low must be below high"):
            Prior("uniform", low=low, high=high)
