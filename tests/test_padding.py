"""Run counts padded to a few lengths (inference/nuts.py ``padded_length``) with a mask: the
padded model has the same log density as the unpadded one, so one compiled program serves every
ladder of a padded length (issue 26); the Beta prior's constant normaliser (models/core.py)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from jax import random
from numpyro.infer.util import initialize_model

import bayes_scaling as bs
from bayes_scaling.estimators.loss_law import pad_runs
from bayes_scaling.inference.config import enable_x64
from bayes_scaling.inference.nuts import padded_length
from bayes_scaling.models.core import _FixedBeta


def test_padded_lengths_are_few_and_hold_the_runs():
    lengths = [padded_length(n) for n in range(1, 1001)]
    assert all(p >= n for n, p in zip(range(1, 1001), lengths, strict=True))
    assert all(p <= max(8, 1.5 * n) for n, p in zip(range(1, 1001), lengths, strict=True))
    assert sorted(set(lengths)) == [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512,
                                    768, 1024]
    with pytest.raises(ValueError, match="at least one run"):
        padded_length(0)


@pytest.mark.parametrize("noise", ["mixture", "student_t", "normal"])
def test_padded_model_has_the_same_log_density(sim_runs, noise):
    """At 20 random points the potential (negative log density) and its gradient of the padded
    model equal the unpadded model's to 1e-12 (relative): the masked rows add exact zeros; only
    the order of summation over the runs may change the last bits."""
    enable_x64()
    law = bs.LossLaw("gadre", loss="loss_sim", noise=noise)
    kw, _ = law._prepare(sim_runs.iloc[:29])
    padded = law._sampling_kwargs(kw)
    assert len(padded["log_loss"]) == 32 and padded["mask"].sum() == 29
    model = law._model()
    fns = []
    for k in (kw, padded):
        k = {n: jnp.asarray(v) for n, v in k.items()}
        info = initialize_model(random.PRNGKey(0), model, model_kwargs=k, dynamic_args=True)
        fns.append(jax.value_and_grad(info.potential_fn(**k)))
    z0 = info.param_info.z
    for i in range(20):
        keys = random.split(random.PRNGKey(i), len(z0))
        z = {n: random.uniform(key, jnp.shape(v), minval=-2, maxval=2)
             for (n, v), key in zip(z0.items(), keys, strict=True)}
        (v1, g1), (v2, g2) = fns[0](z), fns[1](z)
        assert np.isfinite(float(v1))
        np.testing.assert_allclose(float(v2), float(v1), rtol=1e-12)
        for n in g1:
            np.testing.assert_allclose(np.asarray(g2[n]), np.asarray(g1[n]), rtol=1e-10,
                                       atol=1e-12, err_msg=n)


def test_pad_runs_refuses_to_shrink(sim_runs):
    kw, _ = bs.LossLaw("gadre", loss="loss_sim")._prepare(sim_runs)
    with pytest.raises(ValueError, match="cannot pad"):
        pad_runs(kw, 10)


@pytest.mark.parametrize("a,b", [(2.0, 4.0), (1.0, 9.0), (3.0, 1.0), (1.0, 1.0), (0.5, 0.7)])
def test_fixed_beta_is_numpyros_beta(a, b):
    enable_x64()
    x = jnp.array([0.0, 1e-300, 1e-9, 0.1, 0.5, 0.9, 1 - 1e-9, 1.0])
    ref, fixed = dist.Beta(a, b), _FixedBeta(a, b)
    np.testing.assert_allclose(fixed.log_prob(x), ref.log_prob(x), rtol=1e-13, atol=1e-13)
    grad = jax.vmap(jax.grad(lambda v, d: d.log_prob(v)), in_axes=(0, None))
    np.testing.assert_allclose(grad(x, fixed), grad(x, ref), rtol=1e-12)
    assert fixed.support is ref.support or type(fixed.support) is type(ref.support)
