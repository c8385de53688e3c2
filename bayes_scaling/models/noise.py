"""Noise models on log loss, in both forms: the NumPyro likelihood, and NumPy functions of
posterior draws for the new-run predictive (draws, log density) and outlier probabilities.

One module owns each noise model, so the model that is fitted, the predictive that is drawn and
the density that is scored can never disagree (see :mod:`bayes_scaling.models.core` for the
models and why ``"mixture"`` is the default).

A *regular* run's log loss is ``log mu + e`` with ``e`` of scale
``sqrt(meas_sd^2 + sigma^2)``: normal for ``"normal"`` and ``"mixture"``, Student-t(``nu``) for
``"student_t"``. Under ``"mixture"`` a fitted run is an outlier with probability
``outlier_prob``, scattering with scale ``sqrt(meas_sd^2 + sigma^2 + outlier_scale^2)``; a new
run's predictive is that of a regular run (the outlier component describes runs the law does not
describe, which the report names run by run).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["NOISE_MODELS", "NOISE_SITES", "INIT_SITES", "noise_likelihood",
           "regular_noise_draws", "regular_log_density", "outlier_responsibility",
           "fitted_run_draws", "fitted_run_log_likelihood"]

NOISE_MODELS = ("mixture", "student_t", "normal")

#: Prior names each noise model adds to a law's parameters.
NOISE_SITES: dict[str, tuple[str, ...]] = {
    "normal": ("sigma",),
    "student_t": ("sigma", "nu"),
    "mixture": ("sigma", "outlier_prob", "outlier_scale"),
}


#: Where chains start the noise model's own sites: ``(centre, half-width)`` of a uniform draw in
#: the unconstrained space (logit for ``outlier_prob``, log for ``outlier_scale``), instead of the
#: sampler's ``(-init_radius, init_radius)``. A chain that starts with most runs in the outlier
#: component (``outlier_prob`` up to 0.88 from a uniform logit in (-2, 2)) can stay in the
#: degenerate mode where the regular component fits a handful of runs: seen once in CI on the
#: pooled three-corpus fit (R-hat 1.56, 83 divergences) and never with this start. Chains start
#: as if 1-5% of runs were outliers, with an outlier scale of 2-14% of the loss; the law's own
#: parameters still start dispersed.
INIT_SITES: dict[str, dict[str, tuple[float, float]]] = {
    "mixture": {"outlier_prob": (-4.0, 1.0), "outlier_scale": (-3.0, 1.0)},
}


def check_noise(noise: str) -> str:
    """Return ``noise`` if it names a loss noise model, else raise a ValueError listing them."""
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {NOISE_MODELS}")
    return noise


def noise_likelihood(noise: str, priors: Mapping, ctx: Mapping, log_mu, meas_sd, sigma):
    """Sample the noise model's own parameters (NumPyro sites) and return the distribution of
    log loss around ``log_mu``.

    ``sigma`` (already sampled: a scalar, or one per row) is the regular run-to-run scatter,
    ``meas_sd`` the rows' measurement error on the log scale.
    """
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    from bayes_scaling.models.core import prior_to_dist

    scale = jnp.sqrt(meas_sd**2 + sigma**2)
    if noise == "normal":
        return dist.Normal(log_mu, scale)
    if noise == "student_t":
        nu = numpyro.sample("nu", prior_to_dist(priors["nu"], ctx))
        return dist.StudentT(nu, log_mu, scale)
    pi = numpyro.sample("outlier_prob", prior_to_dist(priors["outlier_prob"], ctx))
    tau = numpyro.sample("outlier_scale", prior_to_dist(priors["outlier_scale"], ctx))
    # the outlier component is broader by construction: the labels never swap
    scales = jnp.stack(jnp.broadcast_arrays(scale, jnp.sqrt(scale**2 + tau**2)), axis=-1)
    loc = jnp.broadcast_to(log_mu, scales.shape[:-1])
    probs = jnp.broadcast_to(jnp.stack([1.0 - pi, pi], axis=-1), scales.shape)
    return dist.MixtureSameFamily(dist.Categorical(probs=probs),
                                  dist.Normal(loc[..., None], scales))


def regular_noise_draws(noise: str, post: Mapping[str, np.ndarray], shape: tuple[int, int],
                        rng: np.random.Generator) -> np.ndarray:
    """Standardised noise of a regular new run, one per (draw, target): ``shape`` is
    ``(n_draws, n_targets)`` and ``post`` maps names to per-draw arrays of shape ``(n_draws, 1)``.
    """
    if noise == "student_t":
        return rng.standard_t(np.broadcast_to(post["nu"], shape))
    return rng.standard_normal(shape)


def regular_log_density(noise: str, y: np.ndarray, loc: np.ndarray, scale: np.ndarray,
                        post: Mapping[str, np.ndarray]) -> np.ndarray:
    """log of ``mean_s f(y; loc_s, scale_s)`` for a regular run, ``f`` the noise model's density.

    ``loc`` and ``scale`` are ``(n_draws, n_targets)``, ``y`` is ``(n_targets,)``: the exact
    posterior predictive density of log loss (a mixture over posterior draws).
    """
    from scipy import stats
    from scipy.special import logsumexp

    z = (np.asarray(y, float)[None, :] - loc) / scale
    if noise == "student_t":
        lp = stats.t.logpdf(z, df=post["nu"]) - np.log(scale)
    else:
        lp = stats.norm.logpdf(z) - np.log(scale)
    return logsumexp(lp, axis=0) - np.log(loc.shape[0])


def fitted_run_draws(noise: str, post: Mapping[str, np.ndarray], loc: np.ndarray,
                     scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Log losses a run *added to the fitted runs* would measure, one per row of ``loc``.

    Unlike a new run's predictive (a regular run), a run that joins the fit is drawn from the
    whole likelihood: under ``"mixture"`` it is an outlier with probability ``outlier_prob``
    (scattering with the broader scale), under ``"student_t"`` a t(``nu``) draw. ``loc`` and
    ``scale`` are ``(J, C)`` (one posterior draw per row), ``post`` maps names to ``(J, 1)``.
    The planner simulates candidate runs with this, so it expects of a candidate what the refit
    would make of it.
    """
    shape = np.shape(loc)
    if noise == "student_t":
        return loc + scale * rng.standard_t(np.broadcast_to(post["nu"], shape))
    eps = rng.standard_normal(shape)
    if noise == "mixture":
        out = rng.random(shape) < np.broadcast_to(post["outlier_prob"], shape)
        scale = np.where(out, np.sqrt(scale**2 + np.asarray(post["outlier_scale"]) ** 2), scale)
    return loc + scale * eps


def fitted_run_log_likelihood(noise: str, y: np.ndarray, loc: np.ndarray, scale: np.ndarray,
                              post: Mapping[str, np.ndarray]) -> np.ndarray:
    """Log likelihood of observed log losses ``y`` of fitted runs, per posterior draw.

    The fit's own likelihood (the mixture of both components, or the t), evaluated by
    broadcasting: e.g. ``y`` ``(J, 1)`` against ``loc``/``scale`` ``(1, S)`` and ``post`` values
    ``(1, S)`` gives ``(J, S)``, the importance log weights of draw ``s`` had ``y_j`` been
    observed.
    """
    from scipy import stats

    z = (y - loc) / scale
    if noise == "student_t":
        return stats.t.logpdf(z, df=post["nu"]) - np.log(scale)
    lp_reg = stats.norm.logpdf(z) - np.log(scale)
    if noise != "mixture":
        return lp_reg
    pi = post["outlier_prob"]
    wide = np.sqrt(scale**2 + np.asarray(post["outlier_scale"]) ** 2)
    lp_out = stats.norm.logpdf(y, loc, wide)
    return np.logaddexp(np.log1p(-pi) + lp_reg, np.log(pi) + lp_out)


def outlier_responsibility(y: np.ndarray, loc: np.ndarray, scale: np.ndarray,
                           post: Mapping[str, np.ndarray]) -> np.ndarray:
    """Posterior probability that each observed run is an outlier (``"mixture"`` noise).

    Per draw, Bayes' rule between the two components at the observed log loss ``y``; averaged
    over draws. ``loc``/``scale`` are the regular component's ``(n_draws, n_runs)``.
    """
    from scipy import stats

    pi = post["outlier_prob"]
    tau = post["outlier_scale"]
    y = np.asarray(y, float)[None, :]
    lp_reg = np.log1p(-pi) + stats.norm.logpdf(y, loc, scale)
    lp_out = np.log(pi) + stats.norm.logpdf(y, loc, np.sqrt(scale**2 + tau**2))
    return np.mean(1.0 / (1.0 + np.exp(lp_reg - lp_out)), axis=0)
