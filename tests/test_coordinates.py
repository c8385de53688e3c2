"""The sheared coordinates of a loss law (bayes_scaling/models/coordinates.py): the same
priors and samples, a shifted bijection, used by the loss model, and only where E is bounded."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.distributions.transforms import biject_to
from numpyro.infer import MCMC, NUTS
from scipy import stats

from bayes_scaling.laws.forms import get_law
from bayes_scaling.laws.priors import default_priors
from bayes_scaling.models.coordinates import reference_loss, shear_reference, sheared
from bayes_scaling.models.core import make_loss_model

HIGH, REF = 2.94, 3.85
E_PRIOR = dist.TruncatedNormal(2.0, 1.0, low=0.0, high=HIGH)


def test_sheared_prior_keeps_samples_and_density():
    beta = dist.Beta(2.0, 4.0)
    s = sheared("eta", beta, 1.5, REF)
    x = jnp.array([0.1, 0.25, 0.7])
    np.testing.assert_allclose(s.log_prob(x), beta.log_prob(x))
    key = jax.random.PRNGKey(0)
    np.testing.assert_array_equal(s.sample(key, (5,)), beta.sample(key, (5,)))


def test_shear_shifts_the_unconstrained_value():
    """Amplitudes: a = z + log(m - E); exponents: logit(eta) = z - log(m - E)."""
    t = float(np.log(REF - 1.5))
    a = biject_to(sheared("a", dist.Normal(-0.5, 1.5), 1.5, REF).support)
    eta = biject_to(sheared("eta", dist.Beta(2.0, 4.0), 1.5, REF).support)
    z = jnp.array([-1.0, 0.0, 2.0])
    np.testing.assert_allclose(a(z), z + t)
    np.testing.assert_allclose(eta(z), jax.nn.sigmoid(z - t))
    np.testing.assert_allclose(eta._inverse(eta(z)), z, atol=1e-12)
    # a shift has unit Jacobian; the sigmoid's own stays
    np.testing.assert_allclose(a.log_abs_det_jacobian(z, a(z)), 0.0)
    numeric = jnp.log(jax.vmap(jax.grad(lambda v: eta(v)))(z))
    np.testing.assert_allclose(eta.log_abs_det_jacobian(z, eta(z)), numeric, atol=1e-12)


def test_no_shear_without_an_upper_bound_on_E():
    assert shear_reference(dist.LogNormal(0.5, 0.3), REF) is None
    normal = dist.Normal(0.0, 1.0)
    assert sheared("a", normal, 1.0, None) is normal
    # an upper bound above the reference lifts the reference above it
    assert float(shear_reference(dist.Uniform(0.0, 5.0), REF)) == pytest.approx(5.25)
    assert float(shear_reference(E_PRIOR, REF)) == pytest.approx(REF)


def test_reference_loss():
    y = jnp.log(jnp.array([3.0, 4.0, 12.0]))
    assert float(reference_loss(y, None, 3.0)) == pytest.approx(np.exp(np.log([3, 4, 12]).mean()))
    # masked runs do not count; the reference stays above the bound
    assert float(reference_loss(y, jnp.array([True, False, False]), 3.0)) == pytest.approx(3.15)
    assert float(reference_loss(None, None, 3.0)) == pytest.approx(3.75)


def test_sampling_in_the_coordinates_recovers_the_prior():
    """NUTS on the priors alone, eta sheared along E, draws both from their priors: a wrong
    Jacobian would tilt them (KS tests on 4,000 draws thinned to near independence; each
    p > 1e-3 fails 1 in 1,000 times for right coordinates)."""
    beta = dist.Beta(2.0, 4.0)

    def model():
        e = numpyro.sample("E", E_PRIOR)
        numpyro.sample("eta", sheared("eta", beta, e, REF))

    mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=8000, progress_bar=False)
    mcmc.run(jax.random.PRNGKey(1))
    draws = {k: np.asarray(v)[::2] for k, v in mcmc.get_samples().items()}
    grid = np.linspace(0.0, HIGH, 4001)
    pdf = np.exp(np.asarray(E_PRIOR.log_prob(jnp.asarray(grid))))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(grid))])
    p_e = stats.kstest(draws["E"], lambda x: np.interp(x, grid, cdf)).pvalue
    p_eta = stats.kstest(draws["eta"], stats.beta(2.0, 4.0).cdf).pvalue
    assert p_e > 1e-3, f"draws of E differ from its prior (KS p = {p_e:.2g})"
    assert p_eta > 1e-3, f"draws of eta differ from its prior (KS p = {p_eta:.2g})"


def test_loss_model_samples_in_the_sheared_coordinates():
    law = get_law("gadre")
    model = make_loss_model(law, default_priors("gadre"))
    y = jnp.log(jnp.array([3.0, 3.4, 4.0]))
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model, 0)).get_trace(
        jnp.zeros(3), jnp.zeros(3), jnp.zeros(3), jnp.asarray(3.0), log_loss=y)
    m = float(np.exp(y.mean()))
    t = np.log(m - float(tr["E"]["value"]))
    for name, shift in (("a", t), ("b", t), ("eta", -t)):
        support = tr[name]["fn"].support
        assert float(support.shift) == pytest.approx(shift), name
    # E itself keeps NumPyro's coordinate (logit of E / e_upper)
    assert type(tr["E"]["fn"].support).__name__ == "_Interval"
