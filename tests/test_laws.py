import jax.numpy as jnp
import numpy as np
import pytest

from bayes_scaling.laws import forms as laws


def test_centred_log_form_equals_natural_form():
    rng = np.random.default_rng(0)
    n = np.exp(rng.uniform(15, 23, 50))
    d = n * np.exp(rng.uniform(1, 7, 50))
    log_n0, log_d0 = np.log(n).mean(), np.log(d).mean()
    spec = laws.get_law("chinchilla")
    p = {"E": 1.8, "a": -0.3, "b": 0.2, "alpha": 0.34, "beta": 0.28}
    nat = spec.to_natural(p, log_n0, log_d0)
    direct = laws.chinchilla(n, d, **nat)
    via_log = spec.loss(p, n, d, log_n0, log_d0)
    np.testing.assert_allclose(np.asarray(via_log), np.asarray(direct), rtol=1e-12)


def test_gadre_ties_exponents_and_paper_form():
    n, d = 1.4e9, 1.4e9 * 640
    A, B, eta = 101.0, 206.0, 0.245
    natural = float(laws.gadre(n, d, E=1.66, A=A, B=B, eta=eta))
    f = laws.gadre_paper_form(A=A, B=B, eta=eta)
    c, m = 6 * n * d, d / n
    paper = 1.66 + (f["a"] * m ** f["eta_compute"] + f["b"] * m ** -f["eta_compute"]) * c ** -f[
        "eta_compute"]
    assert natural == pytest.approx(float(paper), rel=1e-12)


def test_log_mu_is_stable_for_extreme_sizes():
    spec = laws.get_law("gadre")
    p = {"log_E": jnp.log(1.7), "a": 0.0, "b": 0.0, "eta": 0.3}
    out = spec.log_mu(p, jnp.array([-200.0, 0.0, 200.0]), jnp.array([-200.0, 0.0, 200.0]))
    assert np.all(np.isfinite(np.asarray(out)))
    assert float(out[2]) == pytest.approx(np.log(1.7), abs=1e-6)  # huge N, D -> loss -> E


def test_unknown_law_lists_registered():
    with pytest.raises(ValueError, match="chinchilla"):
        laws.get_law("kaplan")


@pytest.mark.parametrize("name", sorted(laws.ERROR_LAWS))
def test_error_laws_stay_in_bounds(name):
    spec = laws.get_error_law(name)
    loss = jnp.linspace(0.5, 10.0, 50)
    if name == "exponential":
        err = spec.fn(loss, eps=0.7, k=5.0, gamma=1.0)
        hi = 0.7
    else:
        err = spec.fn(loss, chance=0.7, floor=0.1, slope=2.0, midpoint=3.0)
        hi = 0.7
    err = np.asarray(err)
    assert np.all(err >= 0) and np.all(err <= hi)
