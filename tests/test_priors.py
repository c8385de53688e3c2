import json

import numpy as np
import pytest

from bayes_scaling.laws.priors import (
    MIN_OBSERVED_LOSS,
    Prior,
    default_priors,
    merge_priors,
    priors_from_json,
    priors_to_json,
)


@pytest.mark.parametrize("law", ["gadre", "chinchilla"])
def test_default_priors_roundtrip_json(law):
    p = default_priors(law)
    back = priors_from_json(priors_to_json(p))
    assert back == p
    json.loads(priors_to_json(p))  # plain JSON, no pickle


def test_exponent_priors_live_in_unit_interval():
    from jax import random

    d = default_priors("chinchilla")["alpha"].to_numpyro()
    x = np.asarray(d.sample(random.PRNGKey(0), (2000,)))
    assert x.min() > 0 and x.max() < 1


def test_e_prior_upper_bound_is_resolved():
    from jax import random

    e = default_priors("gadre")["E"]
    assert dict(e.params)["high"] == MIN_OBSERVED_LOSS
    with pytest.raises(ValueError, match="unresolved"):
        e.to_numpyro()
    x = np.asarray(e.resolve({MIN_OBSERVED_LOSS: 2.5}).to_numpyro().sample(random.PRNGKey(1),
                                                                          (2000,)))
    assert x.max() < 2.5 and x.min() > 0


def test_override_and_reject_unknown():
    p = merge_priors(default_priors("gadre"), {"eta": {"dist": "beta", "a": 3, "b": 6}})
    assert p["eta"] == Prior("beta", a=3.0, b=6.0)
    with pytest.raises(ValueError, match="unknown parameter 'alpha'"):
        merge_priors(default_priors("gadre"), {"alpha": Prior("beta", a=2, b=2)})


@pytest.mark.parametrize(
    "args, match",
    [(("cauchy",), "unknown prior distribution"),
     (("normal",), "missing"),
     (("normal", {"loc": 0, "scale": 1, "df": 3}), "unexpected"),
     (("normal", {"loc": "zero", "scale": 1}), "must be a number")],
)
def test_bad_prior_specs(args, match):
    with pytest.raises(ValueError, match=match):
        Prior(*args)
