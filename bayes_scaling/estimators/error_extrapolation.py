"""Extrapolation discrepancy of a downstream error law, learned by leave-future-out in loss.

An error law ``Err(L)`` fitted on small runs is used at losses below all of them: the larger the
step down in loss, the more a task's real curve can leave the fitted one (a ceiling the law did
not see, a bend, a plateau). The new-run predictive of :class:`~bayes_scaling.ErrorLaw` adds,
on the error scale,

.. math::

    \\delta \\sim \\mathcal{N}(0, (\\kappa\\, d)^2),\\qquad
    d = \\max(0, \\log L_{min} - \\log L),

with ``L_min`` the smallest fitted loss and ``kappa`` learned from the fitting runs themselves,
by the same leave-future-out as the loss law's discrepancy
(:mod:`bayes_scaling.estimators.extrapolation`), with cuts in loss instead of compute:

1. cut the fitting runs at the 50%, 35% and 20% quantiles of their loss; refit the law on the
   runs above each cut (the same compiled sampler: the runs below are masked out of the
   likelihood, so the three refits share one compiled sampler; always the linearised model,
   also for ``loss_error="latent"`` fits, and at most 2 chains x (500 + 500) draws) and
   predict the runs below it at their measured losses;
2. score the held-out runs of one cut jointly,
   ``r ~ N(0, diag(s^2) + U U^T + kappa^2 d d^T)``: their regular scatter and sampling error
   ``s``, the refit's parameter uncertainty ``U`` (shared across them) and one discrepancy draw
   growing with their distance below the refit's smallest loss;
3. ``kappa ~ HalfNormal(0.5)`` (error per unit of log loss: 0.5 x a 10% step down in loss is
   ~0.05 error), grid posterior, no trend with scale.

Fits with too few runs above every cut (fewer than the law's sampled parameters + 3 runs) keep
the prior (``method="prior"``). ``ErrorLaw(discrepancy=None)`` turns the term off.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_scaling.estimators.discrepancy import Discrepancy, cut_key
from bayes_scaling.estimators.lfo import (
    Cut,
    Refit,
    held_out_points,
    leave_future_out,
    masked_refits,
)

if TYPE_CHECKING:
    from bayes_scaling.estimators.error_law import ErrorLaw

__all__ = ["ERROR_KAPPA_PRIOR_SCALE", "ERROR_LFO_QUANTILES", "calibrate_error_discrepancy",
           "compare_lfo", "error_lfo_splits", "loss_distance"]

#: Prior scale of the error law's kappa (HalfNormal): error per natural-log unit of loss.
ERROR_KAPPA_PRIOR_SCALE = 0.5
#: Loss quantiles of the fitting runs at which the error law's leave-future-out cuts.
ERROR_LFO_QUANTILES = (0.5, 0.35, 0.2)


def loss_distance(loss: np.ndarray, loss_min_fit: float) -> np.ndarray:
    """How far (natural-log units) each loss lies below the smallest fitted loss (0 above)."""
    return np.maximum(0.0, np.log(loss_min_fit) - np.log(np.asarray(loss, dtype=float)))


def error_lfo_splits(loss: np.ndarray, min_fit: int,
                     quantiles=ERROR_LFO_QUANTILES) -> list[tuple[float, np.ndarray]]:
    """``(cut, fit_mask)`` per usable cut: the runs with loss above the cut are fitted (at
    least ``min_fit``), at least one run lies at or below it, no repeated split."""
    loss = np.asarray(loss, dtype=float)
    out, seen = [], set()
    for q in quantiles:
        cut = float(np.quantile(loss, q))
        fit = loss > cut
        key = tuple(np.flatnonzero(fit))
        if fit.sum() < min_fit or fit.all() or key in seen:
            continue
        seen.add(key)
        out.append((cut, fit))
    return out


def calibrate_error_discrepancy(law: ErrorLaw, kw: Mapping[str, Any], meta: Mapping[str, Any],
                                *, seed: int) -> Discrepancy:
    """Learn the fitted error law's discrepancy by leave-future-out in loss (module docstring),
    from the model arrays ``kw, meta = law._prepare(runs)`` of its fit, through the
    leave-future-out engine (:func:`~bayes_scaling.estimators.lfo.leave_future_out`)."""
    # the refits only need predictive means and variances: the linearised model (no latent
    # loss per run) gives them at a fraction of the latent model's cost
    lin = copy.copy(law)
    lin._loss_error_used = "linearised"
    loss, err = kw["loss_obs"], kw["error"]
    cuts = [Cut(0, cut, int(fit.sum()), int((~fit).sum()),
                dict(kw, mask=fit, loss_ref=np.asarray(float(np.median(loss[fit])))),
                unit="loss")
            for cut, fit in error_lfo_splits(loss, len(law.spec.sampled) + 3)]

    def score(c: Cut, r: Refit) -> dict[int, list[dict]]:
        fit = c.payload["mask"]
        post = {k: np.reshape(v, (-1, *np.shape(v)[2:])) for k, v in r.posterior.items()}
        held = np.flatnonzero(~fit)
        mu, scale, nu = law._mean_and_scale(post, loss[held], c.payload["loss_ref"])
        return {0: held_out_points([meta["run_id"][j] for j in held], err[held], mu, scale, nu,
                                   loss_distance(loss[held], float(loss[fit].min())),
                                   {"cutoff": c.cutoff})}

    evidence = leave_future_out(cuts, masked_refits(lin, seed), score,
                                names=lin._diagnostic_names())
    return evidence.discrepancy(0, prior_scale=ERROR_KAPPA_PRIOR_SCALE, trend=False)


def compare_lfo(discrepancies: dict[str, Discrepancy]) -> dict[str, float]:
    """Leave-future-out log score of each law (sum of its held-out points' log densities, no
    discrepancy), over the ``(run, cut)`` points every law scored; ``{}`` when there are none.
    The laws must come from the same runs (the same cuts in loss)."""
    keyed = {}
    for name, disc in discrepancies.items():
        dens = disc.lfo_log_density()
        keyed[name] = {(p["run_id"], cut_key(p)): float(v)
                       for p, v in zip(disc.points, dens, strict=True)}
    common = set.intersection(*(set(k) for k in keyed.values())) if keyed else set()
    if not common:
        return {}
    return {name: float(sum(k[key] for key in common)) for name, k in keyed.items()}
