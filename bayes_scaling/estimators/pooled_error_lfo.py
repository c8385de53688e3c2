"""Priors and leave-future-out discrepancy of :class:`~bayes_scaling.estimators.pooled_error.PooledErrorLaw`.

Default hyperpriors (:func:`default_pooled_error_priors`)
--------------------------------------------------------
Each sampled parameter ``p`` of the law (the centred form of
:func:`~bayes_scaling.laws.priors.default_error_priors`) is pooled on an unbounded scale,
``u_t = p_loc + p_scale z_t`` (logit for fractions, log for the rates). The locations match the
single-task priors' mean on that scale; the scales are log-normal (Gaussian tails in
``log scale`` on both sides: the non-centred sampler mixes well at small and at large scales,
as measured for :class:`~bayes_scaling.estimators.pooled.PooledLossLaw`).

Parameters not pooled (by default all but the rate; ``PooledErrorLaw(pool=...)``) keep their
single-task prior, one draw per task.

``err_ref_frac_loc ~ N(0, 1.5)``, ``err_ref_frac_scale ~ LogNormal(log 1, 0.75)``
    Only with ``pool=`` naming it: tasks sit anywhere from far below chance to at chance (logit
    -> infinity), which one normal population describes badly (on Gadre et al.'s 46 tasks:
    multimodal, R-hat 3.9, 1,000 leapfrog steps per draw).
``floor_frac_loc ~ N(-0.9, 1)``, ``floor_frac_scale ~ LogNormal(log 0.5, 0.75)``
    The single-task ``Beta(1.5, 3)`` has logit mean -0.89, sd 1.15. Only with ``pool=`` naming
    it: on Gadre et al.'s tasks the floors sit near 0 or at the error itself, and the
    population sd went to 7.6-11.7 logit units (no pooling in effect) at ~900 leapfrog steps
    per draw, so it is not pooled by default.
``slope_rel_loc ~ N(log 3, 0.75)``, ``slope_rel_scale ~ LogNormal(log 0.5, 0.75)``
    The single-task ``LogNormal(log 3, 0.75)`` as the location, the tasks' rates typically
    within a factor ``e^0.5 = 1.6`` of each other (same for ``gamma_rel``).
``eps_gap_loc ~ N(1.5, 1)``, ``eps_gap_scale ~ LogNormal(log 0.5, 0.75)``
    The single-task ``Beta(3, 1)`` has logit mean 1.5.
``sigma``, ``nu``, ``inv_sqrt_items``
    As the single law's, ``sigma`` and ``inv_sqrt_items`` one per task.

Leave-future-out discrepancy (:func:`calibrate_pooled_discrepancy`)
------------------------------------------------------------------
As :mod:`bayes_scaling.estimators.error_extrapolation`, with the pooled model refitted (all
tasks at once, the lower-loss observations masked out) at the 50%, 35% and 20% quantiles of the
fitted losses: three refits for all tasks instead of three per task. Each task's held-out points
give that task its own ``kappa`` (prior ``HalfNormal(0.5)``), exactly as an ``ErrorLaw`` fit of
the task would learn it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_scaling.estimators.discrepancy import Discrepancy
from bayes_scaling.estimators.error_extrapolation import (
    ERROR_KAPPA_PRIOR_SCALE,
    ERROR_LFO_QUANTILES,
    loss_distance,
)
from bayes_scaling.estimators.error_predictive import _sampling_sd, _unit_var
from bayes_scaling.estimators.lfo import (
    Cut,
    Refit,
    held_out_points,
    leave_future_out,
    masked_refits,
)
from bayes_scaling.laws.forms import get_error_law
from bayes_scaling.laws.priors import Prior, default_error_priors

if TYPE_CHECKING:
    from bayes_scaling.estimators.pooled_error import PooledErrorLaw

__all__ = ["calibrate_pooled_discrepancy", "default_pooled_error_priors", "task_mean_scale"]

_HYPER: dict[str, tuple[float, float, float]] = {  # name: (loc mean, loc sd, scale median)
    "err_ref_frac": (0.0, 1.5, 1.0),
    "floor_frac": (-0.9, 1.0, 0.5),
    "slope_rel": (math.log(3.0), 0.75, 0.5),
    "gamma_rel": (math.log(3.0), 0.75, 0.5),
    "eps_gap": (1.5, 1.0, 0.5),
}


def default_pooled_error_priors(law: str) -> dict[str, Prior]:
    """Default hyperpriors of the pooled error model of ``law`` (module docstring).

    Examples
    --------
    >>> sorted(default_pooled_error_priors("sigmoid"))  # doctest: +NORMALIZE_WHITESPACE
    ['err_ref_frac', 'err_ref_frac_loc', 'err_ref_frac_scale', 'floor_frac', 'floor_frac_loc',
     'floor_frac_scale', 'inv_sqrt_items', 'nu', 'sigma', 'slope_rel', 'slope_rel_loc',
     'slope_rel_scale']
    """
    single = default_error_priors(law)
    out = {k: single[k] for k in ("sigma", "nu", "inv_sqrt_items")}
    for k in get_error_law(law).sampled:
        out[k] = single[k]  # its own prior where not pooled
        loc, loc_sd, scale = _HYPER[k]
        out[f"{k}_loc"] = Prior("normal", loc=loc, scale=loc_sd)
        out[f"{k}_scale"] = Prior("lognormal", loc=math.log(scale), scale=0.75)
    return out


def task_mean_scale(law: PooledErrorLaw, post: Mapping[str, np.ndarray], j: int,
                    loss: np.ndarray, loss_ref: float, meta: Mapping[str, Any]):
    """Law mean, regular noise scale and ``nu`` (or None) of task ``j`` for flat draws ``post``
    (per-task sites ``(S, n_tasks)``) at losses ``loss``: ``(S, n)``, ``(S, n)``, ``(S, 1)``."""
    import jax.numpy as jnp

    chance = float(meta["chance"][j])
    sampled = {k: jnp.asarray(post[k][:, j])[:, None] for k in law.spec.sampled}
    natural = law.spec.from_sampled(sampled, chance, jnp.asarray(loss_ref))
    mu = np.asarray(law.spec.error(natural, jnp.asarray(loss)[None, :], chance))
    sigma = post["sigma"][:, j][:, None]
    if meta["learn"][j]:
        samp = np.sqrt(_unit_var(mu)) * post["inv_sqrt_items"][:, j][:, None]
    else:
        samp = _sampling_sd(mu, float(meta["n_items"][j]))
    nu = post["nu"][:, None] if law.noise == "student_t" else None
    return mu, np.sqrt(sigma**2 + samp**2), nu


def lfo_cuts(kw: Mapping[str, Any], n_tasks: int, min_fit: int) -> list[tuple[float, np.ndarray]]:
    """``(cut, fit_mask)`` per usable cut in loss: every task keeps at least 2 observations
    above the cut, at least ``min_fit`` distinct losses lie above it and one observation below."""
    loss, task = kw["loss_obs"], kw["task"]
    distinct = np.unique(loss)
    out, seen = [], set()
    for q in ERROR_LFO_QUANTILES:
        cut = float(np.quantile(distinct, q))
        fit = loss > cut
        key = tuple(np.flatnonzero(fit))
        per_task = np.bincount(task[fit], minlength=n_tasks)
        if (per_task.min() < 2 or np.unique(loss[fit]).size < min_fit or fit.all()
                or key in seen):
            continue
        seen.add(key)
        out.append((cut, fit))
    return out


def calibrate_pooled_discrepancy(law: PooledErrorLaw, kw: Mapping[str, Any],
                                 meta: Mapping[str, Any], *, seed: int) -> dict[str, Discrepancy]:
    """Each task's learned discrepancy, from three masked refits of the pooled model (module
    docstring), given the model arrays ``kw, meta = law._prepare(runs)`` of its fit, through
    the leave-future-out engine (:func:`~bayes_scaling.estimators.lfo.leave_future_out`)."""
    columns = list(meta["columns"])
    loss, err, task = kw["loss_obs"], kw["error"], kw["task"]
    cuts = [Cut(0, cut, int(fit.sum()), int((~fit).sum()),
                dict(kw, mask=fit, loss_ref=np.asarray(float(np.median(loss[fit])))),
                unit="loss")
            for cut, fit in lfo_cuts(kw, len(columns), len(law.spec.sampled) + 3)]

    def score(c: Cut, r: Refit) -> dict[str, list[dict]]:
        fit = c.payload["mask"]
        post = {k: np.reshape(v, (-1, *np.shape(v)[2:])) for k, v in r.posterior.items()}
        out = {}
        for j, col in enumerate(columns):
            held = np.flatnonzero(~fit & (task == j))
            if not held.size:
                continue
            mu, scale, nu = task_mean_scale(law, post, j, loss[held],
                                            float(c.payload["loss_ref"]), meta)
            dist = loss_distance(loss[held], float(loss[fit & (task == j)].min()))
            out[col] = held_out_points([meta["run_id"][r] for r in held], err[held], mu, scale,
                                       nu, dist, {"cutoff": c.cutoff})
        return out

    # checked: what the held-out predictive is computed from (each task's law parameters and
    # noise), not the population scales, which a few tasks leave slow to mix
    names = [*law.spec.sampled, "sigma", "nu", "inv_sqrt_items"]
    evidence = leave_future_out(cuts, masked_refits(law, seed), score, names=names)
    return {col: evidence.discrepancy(col, prior_scale=ERROR_KAPPA_PRIOR_SCALE, trend=False)
            for col in columns}
