"""NumPyro model functions built from a law, its priors and a noise model.

Models are plain functions of arrays with ``obs=None`` for prior / posterior predictive use, as in
NumPyro's examples. Everything data-dependent (centred predictors, measurement error, the bound on
E) is a model *argument*, so one compiled sampler serves every data set of the same shape.

Noise model (default ``"normal"``)
----------------------------------
The likelihood is on log loss, i.e. on relative error, which is how scaling-law residuals behave
(a 1% miss means the same at loss 4 and at loss 2):

.. math::

    \\log L_i \\sim \\mathcal{N}\\bigl(\\log \\mu(N_i, D_i),\\; \\sqrt{s_i^2 + \\sigma^2}\\bigr),

with :math:`s_i` the run's measurement error (the eval set's 95% CI half-width / 1.96 / L_i, zero
where the data have none) and :math:`\\sigma` a learned run-to-run term (seed, data order,
hyper-parameter scatter). The measurement term keeps runs with small eval sets from dominating;
the learned term is what a *new* run at a target adds, and is included in the ``"observed"``
predictive. ``"student_t"`` replaces the normal by a Student-t with learned ``nu`` for data with
outlying runs; it costs sharpness when there are none, so it is not the default.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from .laws import LawSpec
from .priors import MIN_OBSERVED_LOSS, Prior

__all__ = ["NOISE_MODELS", "make_loss_model", "prior_to_dist"]

NOISE_MODELS = ("normal", "student_t")


def prior_to_dist(prior: Prior, context: Mapping[str, jnp.ndarray]):
    """NumPyro distribution of ``prior`` with symbols replaced by (possibly traced) ``context``."""
    overrides = {k: context[v] for k, v in prior.params if isinstance(v, str)}
    return prior.to_numpyro(**overrides)


def make_loss_model(law: LawSpec, priors: Mapping[str, Prior], noise: str = "normal") -> Callable:
    """Build the NumPyro model of a loss law.

    Parameters
    ----------
    law : LawSpec
        From :data:`bayes_scaling.laws.LOSS_LAWS`.
    priors : mapping of str to Prior
        One prior per law parameter plus ``sigma`` (and ``nu`` for ``"student_t"``).
    noise : {"normal", "student_t"}

    Returns
    -------
    callable
        ``model(x_n, x_d, meas_sd, e_upper, log_loss=None)``: centred log sizes and tokens,
        measurement sd on the log scale, the upper bound of E, and observed log losses.
    """
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {NOISE_MODELS}")
    needed = list(law.params) + ["sigma"] + (["nu"] if noise == "student_t" else [])
    missing = [k for k in needed if k not in priors]
    if missing:
        raise ValueError(f"missing priors for {missing}")

    def model(x_n, x_d, meas_sd, e_upper, log_loss=None):
        ctx = {MIN_OBSERVED_LOSS: e_upper}
        p = {name: numpyro.sample(name, prior_to_dist(priors[name], ctx)) for name in law.params}
        p["log_E"] = jnp.log(p["E"])
        sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))
        log_mu = law.log_mu(p, x_n, x_d)
        scale = jnp.sqrt(meas_sd**2 + sigma**2)
        if noise == "normal":
            likelihood = dist.Normal(log_mu, scale)
        else:
            nu = numpyro.sample("nu", prior_to_dist(priors["nu"], ctx))
            likelihood = dist.StudentT(nu, log_mu, scale)
        with numpyro.plate("runs", x_n.shape[0]):
            numpyro.sample("log_loss", likelihood, obs=log_loss)

    return model
