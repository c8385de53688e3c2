"""NumPyro model functions built from a law, its priors and a noise model.

Models are plain functions of arrays with ``obs=None`` for prior / posterior predictive use, as in
NumPyro's examples. Everything data-dependent (centred predictors, measurement error, the bound on
E) is a model *argument*, so one compiled sampler serves every data set of the same shape.

Noise models (default ``"mixture"``)
------------------------------------
The likelihood is on log loss, i.e. on relative error, which is how scaling-law residuals behave
(a 1% miss means the same at loss 4 and at loss 2). A *regular* run scatters normally:

.. math::

    \\log L_i \\sim \\mathcal{N}\\bigl(\\log \\mu(N_i, D_i),\\; \\sqrt{s_i^2 + \\sigma^2}\\bigr),

with :math:`s_i` the run's measurement error (the eval set's 95% CI half-width / 1.96 / L_i, zero
where the data have none) and :math:`\\sigma` a learned run-to-run term (seed, data order,
hyper-parameter scatter). The learned term is what a *new* run at a target adds.

Real scaling-law data have runs the law does not describe: in Gadre et al.'s runs the M = 5 runs
sit 4-16% above any smooth law; Epoch's Chinchilla points, read off a figure, have stray points.

``"mixture"`` (the default) is a contamination model: run i is an outlier with a learned
probability ``outlier_prob`` (pi), and an outlier's log loss scatters with the broader scale
:math:`\\sqrt{s_i^2 + \\sigma^2 + \\tau^2}` (``outlier_scale`` tau, learned):

.. math::

    p(\\log L_i) = (1 - \\pi)\\,\\mathcal{N}(\\log\\mu_i, \\sqrt{s_i^2+\\sigma^2})
                 + \\pi\\,\\mathcal{N}(\\log\\mu_i, \\sqrt{s_i^2+\\sigma^2+\\tau^2}).

The outlier component is broader by construction, so the components never swap labels. A few
outlying runs then move ``pi`` and ``tau``, not ``sigma``: the new-run predictive is that of a
regular run, and each fitted run's posterior outlier probability is reported
(:meth:`~bayes_scaling.LossLaw.outlier_probability`).

``"student_t"`` replaces the normal by a Student-t with learned degrees of freedom ``nu``. It is
robust too, but the *same* heavy tail then applies to every new run: with the 3 outlying M = 5 runs
per Gadre corpus, ``nu`` fell to 1.6-2.9 and every new-run interval came out about twice as wide
as a normal one (docs/calibration.md). ``"normal"`` is the regular component alone: outliers
inflate ``sigma`` and drag the exponents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist

from bayes_scaling.laws.forms import ErrorLawSpec, LawSpec
from bayes_scaling.laws.priors import MIN_OBSERVED_LOSS, Prior
from bayes_scaling.models.coordinates import reference_loss, shear_reference, sheared
from bayes_scaling.models.noise import INIT_SITES, NOISE_MODELS, NOISE_SITES, noise_likelihood

__all__ = ["ERROR_NOISE_MODELS", "LOSS_ERROR_MODES", "NOISE_MODELS", "NOISE_SITES", "make_error_model",
           "make_loss_model", "noise_likelihood", "prior_to_dist", "ERROR_FRACTIONS",
           "DEFAULT_POOLED", "make_pooled_error_model",
           "pooled_error_site_names"]

#: Noise models of the downstream error law (the error's own scatter).
ERROR_NOISE_MODELS = ("normal", "student_t")


class _FixedBeta(dist.Beta):
    """``Beta`` whose concentrations are numbers known when the model is built: the log
    normaliser ``betaln(a, b)`` is a float computed once here, not a subgraph.

    NumPyro's ``Beta.log_prob`` evaluates ``jax.scipy.special.betaln`` on every call (~860 jaxpr
    equations each): with two Beta priors that was 60% of the gadre model's potential
    (6241 -> 2406 lines of StableHLO) and about half the XLA compile time of a first fit
    (``benchmarks/RESULTS.md``). The density is the same, to the last bits of the normaliser;
    boundary values (0 or 1) are handled as NumPyro does (its double-``where``).
    """

    pytree_aux_fields = ("_log_norm",)

    def __init__(self, concentration1: float, concentration0: float):
        super().__init__(concentration1, concentration0)
        a, b = float(concentration1), float(concentration0)
        self._log_norm = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)

    def log_prob(self, value):
        from jax.scipy.special import xlogy

        a1, b1 = self.concentration1 - 1.0, self.concentration0 - 1.0
        edge = (value == 0.0) | (value == 1.0)
        safe = jnp.where(edge, 0.5, value)
        inner = xlogy(a1, safe) + xlogy(b1, jnp.where(edge, 0.5, 1.0 - value)) - self._log_norm
        at_edge = xlogy(a1, value) + xlogy(b1, 1.0 - value) - self._log_norm
        return jnp.where(edge, jax.lax.stop_gradient(at_edge), inner)


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def prior_to_dist(prior: Prior, context: Mapping[str, jnp.ndarray]):
    """NumPyro distribution of ``prior`` with symbols replaced by (possibly traced) ``context``."""
    overrides = {k: context[v] for k, v in prior.params if isinstance(v, str)}
    if prior.dist == "beta" and not overrides:
        kw = prior.kwargs
        if _number(kw["concentration1"]) and _number(kw["concentration0"]):
            return _FixedBeta(kw["concentration1"], kw["concentration0"])
    return prior.to_numpyro(**overrides)


def make_loss_model(law: LawSpec, priors: Mapping[str, Prior],
                    noise: str = "mixture") -> Callable:
    """Build the NumPyro model of a loss law.

    Parameters
    ----------
    law : LawSpec
        From :data:`bayes_scaling.laws.forms.LOSS_LAWS`.
    priors : mapping of str to Prior
        One prior per law parameter plus the noise model's (:data:`NOISE_SITES`).
    noise : {"mixture", "student_t", "normal"}

    Returns
    -------
    callable
        ``model(x_n, x_d, meas_sd, e_upper, log_loss=None, mask=None)``: centred log sizes and
        tokens, measurement sd on the log scale, the upper bound of E, observed log losses, and
        an optional boolean mask of the runs that count (batched fits pad tables to one length).
    """
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {NOISE_MODELS}")
    needed = list(law.params) + list(NOISE_SITES[noise])
    missing = [k for k in needed if k not in priors]
    if missing:
        raise ValueError(f"missing priors for {missing}")

    def model(x_n, x_d, meas_sd, e_upper, log_loss=None, mask=None):
        ctx = {MIN_OBSERVED_LOSS: e_upper}
        # E first, then the others sheared along the E ridge (models/coordinates.py): the
        # same priors, in coordinates where the posterior's ridge is nearly straight
        e_prior = prior_to_dist(priors["E"], ctx)
        p = {"E": numpyro.sample("E", e_prior)}
        m = shear_reference(e_prior, reference_loss(log_loss, mask, e_upper))
        for name in law.params:
            if name != "E":
                p[name] = numpyro.sample(
                    name, sheared(name, prior_to_dist(priors[name], ctx), p["E"], m))
        p["log_E"] = jnp.log(p["E"])
        sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))
        log_mu = law.log_mu(p, x_n, x_d)
        likelihood = noise_likelihood(noise, priors, ctx, log_mu, meas_sd, sigma)
        with numpyro.plate("runs", x_n.shape[0]), numpyro.handlers.mask(
                mask=True if mask is None else mask):
            numpyro.sample("log_loss", likelihood, obs=log_loss)

    model.init_sites = INIT_SITES.get(noise, {})
    return model


LOSS_ERROR_MODES = ("linearised", "latent")


def make_error_model(law: ErrorLawSpec, priors: Mapping[str, Prior], noise: str = "normal",
                     *, loss_error: str = "linearised", learn_items: bool = False) -> Callable:
    """Build the NumPyro model of a downstream error law with errors in the loss.

    The error scatters around the law on the error scale:

    .. math::

        \\operatorname{err}_i \\sim \\mathcal{N}\\bigl(\\operatorname{Err}(L_i),\\;
        \\sqrt{s_i^2 + \\sigma^2 + v_i}\\bigr),

    with :math:`s_i` the benchmark's sampling error (binomial over its test items, known; or,
    with ``learn_items``, ``sqrt(p_i (1 - p_i)) * inv_sqrt_items`` with the item count learned)
    and :math:`\\sigma` learned scatter beyond it. ``"student_t"`` swaps the normal for a
    Student-t. The observed loss carries the eval set's measurement error,
    ``loss_obs_i ~ N(L_i, loss_sd_i)``, handled in one of two ways:

    ``loss_error="linearised"`` (default)
        Marginalised analytically: ``L_i`` is replaced by ``loss_obs_i`` and the law is
        linearised there, so the measurement error adds ``v_i = (dErr/dL)^2 loss_sd_i^2`` to the
        error's variance (``dErr/dL`` by forward-mode autodiff). No per-run parameter: the
        posterior has only the law's parameters and the noise, and a fit of 1,000 runs takes
        seconds (``benchmarks/bench_error_law.py``). Exact when ``loss_sd`` is 0; the
        linearisation error is second order in ``loss_sd`` (~0.005 nats on Gadre et al.'s C4
        eval, against curvatures over ~1 nat).
    ``loss_error="latent"``
        Each run's true loss is a parameter with a flat prior, written non-centred as
        ``L_i = loss_obs_i + loss_sd_i z_i``, ``z_i ~ N(0, 1)`` (no funnel when ``loss_sd_i`` is
        tiny or zero), and ``v_i = 0``. The full errors-in-variables model, for eval sets whose
        measurement error is large compared with the law's curvature; one parameter per run.

    Parameters
    ----------
    law : ErrorLawSpec
        From :data:`bayes_scaling.laws.forms.ERROR_LAWS`.
    priors : mapping of str to Prior
        One prior per ``law.sampled`` parameter plus ``sigma`` (and ``nu`` for ``"student_t"``,
        ``inv_sqrt_items`` for ``learn_items``).
    noise : {"normal", "student_t"}
    loss_error : {"linearised", "latent"}
    learn_items : bool
        Learn the benchmark's sampling-error scale (the item count is unknown).

    Returns
    -------
    callable
        ``model(loss_obs, loss_sd, err_sd, err_unit, chance, loss_ref, error=None)``: observed
        losses and their measurement sd (in the loss's unit), the error's known sampling sd,
        ``sqrt(p (1 - p))`` of each observed error (used by ``learn_items``), the chance-level
        error and the reference loss (scalars), the observed errors and an optional boolean
        ``mask`` (runs with ``False`` leave the likelihood: a refit on a subset of the runs with
        the same array shapes, hence the same compiled sampler). Natural parameters
        (``law.params``) and, for ``"latent"``, the true losses ``loss_true`` are deterministic
        sites.
    """
    import jax

    if noise not in ERROR_NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {ERROR_NOISE_MODELS}")
    if loss_error not in LOSS_ERROR_MODES:
        raise ValueError(f"unknown loss_error {loss_error!r}; use one of {LOSS_ERROR_MODES}")
    needed = (list(law.sampled) + ["sigma"] + (["nu"] if noise == "student_t" else [])
              + (["inv_sqrt_items"] if learn_items else []))
    missing = [k for k in needed if k not in priors]
    if missing:
        raise ValueError(f"missing priors for {missing}")

    def model(loss_obs, loss_sd, err_sd, err_unit, chance, loss_ref, error=None, mask=None):
        ctx: dict = {}
        n = loss_obs.shape[0]
        if loss_error == "latent":
            with numpyro.plate("runs_loss", n):
                z = numpyro.sample("loss_z", dist.Normal(0.0, 1.0))
            loss = numpyro.deterministic("loss_true", loss_obs + loss_sd * z)
        else:
            loss = loss_obs
        p = {k: numpyro.sample(k, prior_to_dist(priors[k], ctx)) for k in law.sampled}
        natural = law.from_sampled(p, chance, loss_ref)
        for k, v in natural.items():
            if k not in p:
                numpyro.deterministic(k, v)
        var = err_sd**2
        if loss_error == "latent":
            mu = law.error(natural, loss, chance)
        else:
            mu, slope = jax.jvp(lambda x: law.error(natural, x, chance), (loss,),
                                (jnp.ones_like(loss),))
            var = var + (slope * loss_sd) ** 2
        if learn_items:
            t = numpyro.sample("inv_sqrt_items", prior_to_dist(priors["inv_sqrt_items"], ctx))
            var = var + (err_unit * t) ** 2
        sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))
        scale = jnp.sqrt(var + sigma**2)
        if noise == "normal":
            likelihood = dist.Normal(mu, scale)
        else:
            nu = numpyro.sample("nu", prior_to_dist(priors["nu"], ctx))
            likelihood = dist.StudentT(nu, mu, scale)
        with numpyro.plate("runs", n), numpyro.handlers.mask(mask=True if mask is None else mask):
            numpyro.sample("error", likelihood, obs=error)

    return model


# ---------------------------------------------------------------------------------------------
# Partial pooling across groups (datasets or eval sets): see bayes_scaling.estimators.pooled
# ---------------------------------------------------------------------------------------------


def pooled_site_names(law: LawSpec, noise: str = "mixture") -> tuple[str, ...]:
    """Prior names of the pooled model: ``<p>_loc`` and ``<p>_scale`` per law parameter, then
    ``sigma`` (and ``nu``)."""
    names: list[str] = []
    for p in law.params:
        names += [f"{p}_loc", f"{p}_scale"]
    return tuple(names + list(NOISE_SITES[noise]))


def make_pooled_loss_model(law: LawSpec, priors: Mapping[str, Prior],
                           noise: str = "mixture", group_noise: bool = False) -> Callable:
    """Build the NumPyro model of a loss law with per-group parameters partially pooled.

    Every law parameter gets one value per group, drawn from a population distribution on an
    unbounded scale and written non-centred (``z_g ~ N(0, 1)``), so that a small population
    scale ``tau`` does not make a funnel:

    - exponents: ``k_g = sigmoid(k_loc + k_scale z_g)`` (logit-normal, in (0, 1));
    - irreducible loss as a fraction of the group's smallest observed loss:
      ``E_g = e_upper_g sigmoid(E_loc + E_scale z_g)`` (the bound ``E_g < min loss`` holds by
      construction, and the fraction is comparable across groups whose losses differ in scale);
    - log amplitudes at the shared design centre: ``a_g = a_loc + a_scale z_g`` (same for b).

    The likelihood is that of :func:`make_loss_model`; ``nu`` is shared by all groups, and so
    is ``sigma`` unless ``group_noise`` gives each group its own (independent draws from the
    ``sigma`` prior: eval sets differ in run-to-run scatter, corpora scored on one eval set much
    less).

    Parameters
    ----------
    law : LawSpec
    priors : mapping of str to Prior
        One prior per name in :func:`pooled_site_names` (``<p>_loc`` on the unbounded scale
        above, ``<p>_scale`` > 0).
    noise : {"normal", "student_t"}
    group_noise : bool
        One ``sigma`` per group (shape ``(n_groups,)``) instead of one for all.

    Returns
    -------
    callable
        ``model(x_n, x_d, meas_sd, group, e_upper, log_loss=None, mask=None)``: ``group`` holds
        each row's group index and ``e_upper`` (one per group) each group's smallest observed
        loss; ``mask`` (optional, boolean per row) the rows that count (leave-future-out refits
        mask the later runs out). Per-group parameters are deterministic sites of shape
        ``(n_groups,)``.
    """
    if noise not in NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {NOISE_MODELS}")
    needed = pooled_site_names(law, noise)
    missing = [k for k in needed if k not in priors]
    if missing:
        raise ValueError(f"missing priors for {missing}")

    from jax.nn import log_sigmoid, sigmoid

    def model(x_n, x_d, meas_sd, group, e_upper, log_loss=None, mask=None):
        ctx: dict = {}
        n_groups = e_upper.shape[0]
        hyper = {}
        for name in law.params:
            hyper[name] = (numpyro.sample(f"{name}_loc", prior_to_dist(priors[f"{name}_loc"], ctx)),
                           numpyro.sample(f"{name}_scale",
                                          prior_to_dist(priors[f"{name}_scale"], ctx)))
        p = {}
        with numpyro.plate("groups", n_groups):
            for name in law.params:
                z = numpyro.sample(f"{name}_z", dist.Normal(0.0, 1.0))
                loc, scale = hyper[name]
                u = loc + scale * z
                if name == "E":
                    # log E straight from the logit, without exp/log round trips
                    p["log_E"] = jnp.log(e_upper) + log_sigmoid(u)
                    value = jnp.exp(p["log_E"])
                elif name in law.exponents:
                    value = sigmoid(u)
                else:
                    value = u
                p[name] = numpyro.deterministic(name, value)
        rows = {k: v[group] for k, v in p.items()}
        log_mu = law.log_mu(rows, x_n, x_d)
        if group_noise:
            with numpyro.plate("groups", n_groups):
                sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))[group]
        else:
            sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))
        likelihood = noise_likelihood(noise, priors, ctx, log_mu, meas_sd, sigma)
        with numpyro.plate("runs", x_n.shape[0]), numpyro.handlers.mask(
                mask=True if mask is None else mask):
            numpyro.sample("log_loss", likelihood, obs=log_loss)

    model.init_sites = INIT_SITES.get(noise, {})
    return model


# ---------------------------------------------------------------------------------------------
# Partial pooling of error laws across tasks: see bayes_scaling.estimators.pooled_error
# ---------------------------------------------------------------------------------------------

#: Sampled error-law parameters that are fractions in (0, 1) (pooled on the logit scale); the
#: others (the unit-free rates ``*_rel``) are positive and pooled on the log scale.
ERROR_FRACTIONS = frozenset({"err_ref_frac", "floor_frac", "eps_gap"})
#: Sampled error-law parameters pooled by default: the rates only (measured on Gadre et al.'s
#: tasks, see :mod:`bayes_scaling.estimators.pooled_error`: a pooled ``err_ref_frac`` made the
#: 46-task posterior multimodal, R-hat 3.9, and a pooled ``floor_frac`` drove its population sd
#: to 7.6-11.7 logit units, i.e. no pooling, at ~900 leapfrog steps per draw).
DEFAULT_POOLED = {"sigmoid": ("slope_rel",), "exponential": ("gamma_rel",)}


def pooled_error_site_names(law: ErrorLawSpec, noise: str = "normal",
                            learn_items: bool = False,
                            pooled: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Prior names of the pooled error model: ``<p>_loc`` and ``<p>_scale`` per pooled sampled
    parameter of ``law`` (``pooled``, default :data:`DEFAULT_POOLED`; the others: their own
    prior, per task), then ``sigma`` (one per
    task), ``nu`` and ``inv_sqrt_items``."""
    pooled = DEFAULT_POOLED[law.name] if pooled is None else pooled
    names: list[str] = []
    for p in law.sampled:
        names += [p] if p not in pooled else [f"{p}_loc", f"{p}_scale"]
    return tuple(names + ["sigma"] + (["nu"] if noise == "student_t" else [])
                 + (["inv_sqrt_items"] if learn_items else []))


def make_pooled_error_model(law: ErrorLawSpec, priors: Mapping[str, Prior],
                            noise: str = "normal", *, learn_items: bool = False,
                            pooled: tuple[str, ...] | None = None) -> Callable:
    """Build the NumPyro model of one error law per task, partially pooled across tasks.

    Each pooled sampled parameter of the law (the centred form of :func:`make_error_model`;
    ``pooled``, default :data:`DEFAULT_POOLED`: the rate) gets one value per task, drawn from a
    population distribution on an unbounded scale and written non-centred:
    ``u_t = <p>_loc + <p>_scale z_t``, ``z_t ~ N(0, 1)``, then ``sigmoid(u_t)`` for the
    fractions (:data:`ERROR_FRACTIONS`) and ``exp(u_t)`` for the rates. The other parameters
    are drawn per task from their single-law priors. All tasks share one reference loss.

    The likelihood is that of :func:`make_error_model` with ``loss_error="linearised"``, per
    task: each task's chance level, its known sampling sd (or, for tasks whose item count is
    unknown, ``err_unit * inv_sqrt_items_t``), and its own learned scatter ``sigma_t``
    (independent draws from the ``sigma`` prior); ``nu`` (``"student_t"``) is shared.

    Returns
    -------
    callable
        ``model(loss_obs, loss_sd, err_sd, err_unit, task, chance, learn, loss_ref,
        error=None, mask=None)``: per observation (one task's error on one run) its loss and
        loss sd, sampling sd, ``sqrt(p (1 - p))``, task index; per task its chance level and a
        0/1 ``learn`` flag (item count unknown); the shared reference loss. Per-task sampled and
        natural parameters are deterministic sites of shape ``(n_tasks,)``.
    """
    import jax

    if noise not in ERROR_NOISE_MODELS:
        raise ValueError(f"unknown noise model {noise!r}; use one of {ERROR_NOISE_MODELS}")
    pooled = DEFAULT_POOLED[law.name] if pooled is None else tuple(pooled)
    bad = sorted(set(pooled) - set(law.sampled))
    if bad:
        raise ValueError(f"cannot pool {bad}: the {law.name!r} law samples {list(law.sampled)}")
    needed = pooled_error_site_names(law, noise, learn_items, pooled)
    missing = [k for k in needed if k not in priors]
    if missing:
        raise ValueError(f"missing priors for {missing}")

    from jax.nn import sigmoid

    def model(loss_obs, loss_sd, err_sd, err_unit, task, chance, learn, loss_ref, error=None,
              mask=None):
        ctx: dict = {}
        n_tasks = chance.shape[0]
        hyper = {k: (numpyro.sample(f"{k}_loc", prior_to_dist(priors[f"{k}_loc"], ctx)),
                     numpyro.sample(f"{k}_scale", prior_to_dist(priors[f"{k}_scale"], ctx)))
                 for k in law.sampled if k in pooled}
        p = {}
        with numpyro.plate("tasks", n_tasks):
            for k in law.sampled:
                if k not in pooled:
                    p[k] = numpyro.sample(k, prior_to_dist(priors[k], ctx))
                    continue
                z = numpyro.sample(f"{k}_z", dist.Normal(0.0, 1.0))
                u = hyper[k][0] + hyper[k][1] * z
                p[k] = numpyro.deterministic(k, sigmoid(u) if k in ERROR_FRACTIONS
                                             else jnp.exp(u))
            sigma = numpyro.sample("sigma", prior_to_dist(priors["sigma"], ctx))
            if learn_items:
                t = numpyro.sample("inv_sqrt_items", prior_to_dist(priors["inv_sqrt_items"],
                                                                   ctx))
        natural = law.from_sampled(p, chance, loss_ref)
        for k, v in natural.items():
            numpyro.deterministic(k, v)
        rows = {k: v[task] for k, v in natural.items()}
        c = chance[task]
        mu, slope = jax.jvp(lambda x: law.error(rows, x, c), (loss_obs,),
                            (jnp.ones_like(loss_obs),))
        var = err_sd**2 + (slope * loss_sd) ** 2 + sigma[task] ** 2
        if learn_items:
            var = var + learn[task] * (err_unit * t[task]) ** 2
        scale = jnp.sqrt(var)
        if noise == "normal":
            likelihood = dist.Normal(mu, scale)
        else:
            nu = numpyro.sample("nu", prior_to_dist(priors["nu"], ctx))
            likelihood = dist.StudentT(nu, mu, scale)
        with numpyro.plate("obs", loss_obs.shape[0]), \
                numpyro.handlers.mask(mask=True if mask is None else mask):
            numpyro.sample("error", likelihood, obs=error)

    return model
