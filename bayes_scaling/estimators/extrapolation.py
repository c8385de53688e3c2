"""Extrapolation discrepancy of a loss law, learned from its own fitting runs by leave-future-out.

A scaling law fitted on small runs is most wrong where it is extrapolated furthest. The new-run
predictive therefore adds, on the log scale, a discrepancy

.. math::

    \\delta \\sim \\mathcal{N}(0, (\\kappa\\, d)^2),

with ``d`` the target's extrapolation distance outside the fitted design (natural-log units in
log compute and log tokens per parameter, :class:`~bayes_scaling.data.design.DesignBounds`) and
``kappa`` the discrepancy per unit of distance. ``kappa`` is learned from the fitting runs
themselves, by leave-future-out (LFO):

1. cut the fitting runs at successive compute quantiles (50, 65, 80%); for each cut, refit the
   same law on the runs at or below it (one batched program, :func:`~bayes_scaling.fit_many`) and
   predict the runs above it;
2. each held-out run ``j`` gives a residual ``r_j`` (observed minus predictive mean of log loss),
   its predictive variance ``v_j`` (parameter uncertainty, run-to-run scatter and measurement
   error of that refit, no discrepancy) and its distance ``d_j`` from that refit's design;
3. ``kappa`` gets a grid posterior. The held-out runs of one refit share that refit's error:
   its parameter error (the same wrong exponent for every held-out run) and the law's
   discrepancy, correlated across the runs of one extrapolation. So the residuals
   ``r`` of one cut are scored jointly,

   .. math::

       r \\sim \\mathcal{N}\\big(0,\\; \\mathrm{diag}(s^2) + U U^\\top
           + \\kappa^2\\, (d\\, d^\\top) \\circ K_\\ell\\big),

   with ``s`` each run's regular scatter and measurement error, ``U`` a rank-6 factor of the
   covariance of the refit's log-mean draws at the held-out runs (parameter uncertainty,
   correlated across runs) and ``d`` the runs' distances from that refit's design. The
   discrepancy of one cut is correlated across its runs, by nearness in the design:
   ``K_ell`` is a squared-exponential kernel over ``(log N, log M)`` with length ``ell``
   (natural-log units), marginalised over ``ell`` in {0.5, 1, 2, 4, inf} with equal weights
   (``inf``: one shared draw per cut). A law that is wrong in how loss trades N against M
   misses the runs of one cut with signs that follow M (Epoch's Chinchilla points: the held-out
   runs at M ~ 60 fall below, those at M ~ 3 above); one shared draw cannot say that, so it
   read those cuts as small discrepancy. Under the ``"mixture"`` noise a held-out run may be an
   outlier (the refit's outlier probability and scale): its diagonal term gets ``tau^2`` times
   its outlier responsibility at that ``kappa``, so one stray run does not set ``kappa``.
4. ``kappa`` may trend with the scale of the fit: at a cut ``c``,
   ``kappa_c = kappa_ref * exp(gamma * (log c - log c_ref))`` with ``c_ref`` the geometric
   mean of the cut-offs, and the fit itself (all its runs) is the cut at its largest compute.
   The prior of ``(kappa_ref, gamma)`` is the population learned across public ladders
   (:func:`~bayes_scaling.laws.discrepancy_prior.population_prior`: ``log kappa_ref`` and
   ``gamma`` normal, fitted to how laws fitted this way missed their far targets, in
   ``docs/extrapolation_atlas.md``), so a ladder whose own cuts show no misfit keeps the
   population's typical miss at its distance, and strong evidence of its own moves it away.
   Until 2026-12-07 it was ``kappa_ref ~ HalfNormal(0.01)`` (1% of log loss per unit of
   distance) and ``gamma ~ Normal(0, 0.5)``, still the default of
   :meth:`Discrepancy.from_evidence` and the error laws' form. The cuts count as independent
   extrapolations and ``(kappa_ref, gamma)`` gets a grid posterior. On Epoch's points below
   1e21 FLOPs the per-cut ``kappa`` grew from 0.0026 (cut at 5.9e19) to 0.0063 (2.9e20); without
   the trend, the fit's ``kappa`` stayed at the cuts' average and 43% of the runs above 1e21 fell
   inside their 90% intervals, with it 87% (the same fit, ``kappa`` median 0.0083).
   A single cut leaves ``gamma`` to its prior, which widens the fit's ``kappa`` by the unknown
   trend over the distance from that cut to the fit's largest run.

   Scoring runs one by one (as before 2026-12-02) treated the ~20-100 held-out runs of a cut as
   independent evidence: on Epoch's Chinchilla points cut at 1e20 FLOPs it pinned ``kappa`` at
   0.0007 from 228 points whose errors were really a few draws, and 52% of the held-out runs
   fell inside the 90% intervals. A cut's likelihood uses at most 120 of its held-out runs
   (evenly spread), enough for a few correlated draws and cheap to factor.

Fits with too few runs to refit below a cut (fewer than the law's parameters + 3, or a design that
cannot identify the law) keep the prior: ``method="prior"``. The refits run through the one
leave-future-out engine (:mod:`bayes_scaling.estimators.lfo`): a refit that fails its sampler
diagnostics is dropped from the evidence and recorded in :attr:`Discrepancy.refits`. Every cut
gets a refit (no PSIS shortcut): removing the ~20-50% largest-compute runs leaves importance
weights with Pareto k far above 0.7, where PSIS is unreliable.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling.data.design import DesignBounds
from bayes_scaling.estimators.discrepancy import Discrepancy
from bayes_scaling.estimators.lfo import (
    REFIT_SAMPLER,
    Cut,
    Refit,
    held_out_points,
    leave_future_out,
    masked_refits,
)
from bayes_scaling.inference.config import derive_seed
from bayes_scaling.laws.discrepancy_prior import DiscrepancyPrior, population_prior
from bayes_scaling.models.noise import NOISE_SITES

if TYPE_CHECKING:
    from bayes_scaling.estimators.loss_law import LossLaw
    from bayes_scaling.estimators.pooled import PooledLossLaw

__all__ = ["LFO_QUANTILES", "calibrate_discrepancy", "calibrate_pooled_loss_discrepancy",
           "lfo_splits", "pooled_lfo_cuts"]

#: Compute quantiles of the fitting runs at which leave-future-out cuts.
LFO_QUANTILES = (0.5, 0.65, 0.8)


def _compute_cuts(compute: np.ndarray, min_fit: int, quantiles: Sequence[float] = LFO_QUANTILES,
                  group: np.ndarray | None = None,
                  n_groups: int = 1) -> list[tuple[float, np.ndarray]]:
    """``(cutoff_flops, below)`` per usable cut at the ``quantiles`` of ``compute``: at least
    ``min_fit`` runs at or below the cut (in every group, when ``group`` gives each run's group
    index), at least one above, and no repeated split."""
    out, seen = [], set()
    for q in quantiles:
        cut = float(np.quantile(compute, q))
        below = compute <= cut
        key = tuple(np.flatnonzero(below))
        kept = (below.sum() if group is None
                else np.bincount(group[below], minlength=n_groups).min())
        if kept < min_fit or below.all() or key in seen:
            continue
        seen.add(key)
        out.append((cut, below))
    return out


def lfo_splits(runs: pd.DataFrame, min_fit: int,
               quantiles: Sequence[float] = LFO_QUANTILES) -> list[tuple[float, pd.Index, pd.Index]]:
    """``(cutoff_flops, fit_index, held_index)`` per usable cut: at least ``min_fit`` runs at
    or below the cut, at least one above, and no repeated split."""
    c = 6.0 * runs["n_params"].to_numpy(float) * runs["n_tokens"].to_numpy(float)
    return [(cut, runs.index[below], runs.index[~below])
            for cut, below in _compute_cuts(c, min_fit, quantiles)]


def _usable(template: LossLaw, sub: pd.DataFrame) -> bool:
    """Can the law be fitted on ``sub`` (validation passes, the design identifies the law)?"""
    from bayes_scaling.data import IdentifiabilityWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", IdentifiabilityWarning)
        try:
            template._prepare(sub)
        except (ValueError, IdentifiabilityWarning):
            return False
    return True


def calibrate_discrepancy(laws: Sequence[LossLaw], runs_list: Sequence[pd.DataFrame], *,
                          seed: int, prior: DiscrepancyPrior | None = None) -> list[Discrepancy]:
    """Learn each fitted law's discrepancy by leave-future-out on its own runs.

    All refits of all laws run as one batch (:func:`~bayes_scaling.fit_many`) through the
    leave-future-out engine (:func:`~bayes_scaling.estimators.lfo.leave_future_out`: refits
    that fail their diagnostics are dropped and recorded). ``laws`` are fitted LossLaws (their
    form, priors and noise are reused); returns one :class:`Discrepancy` per law, in order.
    ``prior``: of ``(kappa_ref, gamma)``, default the population learned across ladders
    (:func:`~bayes_scaling.laws.discrepancy_prior.population_prior`).
    """
    if prior is None:
        prior = population_prior()
    if not laws:
        return []
    template = laws[0]._lfo_template(REFIT_SAMPLER)
    min_fit = len(template.spec.params) + 3
    cuts: list[Cut] = []
    for i, runs in enumerate(runs_list):
        for cut, fit_idx, held_idx in lfo_splits(runs, min_fit):
            sub = runs.loc[fit_idx]
            if _usable(template, sub):
                cuts.append(Cut(i, cut, len(fit_idx), len(held_idx), (sub, runs.loc[held_idx]),
                                unit="FLOPs"))

    def refit(cs: Sequence[Cut]) -> list[Refit]:
        from bayes_scaling.estimators.batch import fit_many

        fits = fit_many(template, [c.payload[0] for c in cs], seed=derive_seed(seed, 7919),
                        warn=False)
        return [Refit({k: v.values for k, v in f.idata.posterior.data_vars.items()},
                      {k: f.idata.sample_stats[k].values for k in ("diverging", "energy")}, f)
                for f in fits]

    def score(c: Cut, r: Refit) -> dict[int, list[dict]]:
        return {c.owner: _lfo_points(r.fitted, *c.payload, c.cutoff)}

    evidence = leave_future_out(cuts, refit, score, names=template._diagnostic_names())
    out = []
    for i, runs in enumerate(runs_list):
        log_c = np.log(6.0 * runs["n_params"].to_numpy(float) * runs["n_tokens"].to_numpy(float))
        out.append(evidence.discrepancy(i, i, prior=prior, log_c_fit=float(log_c.max())))
    return out


def _lfo_points(refit: LossLaw, sub: pd.DataFrame, held: pd.DataFrame,
                cut: float) -> list[dict[str, Any]]:
    """Residuals of the held-out runs under the refit's regular new-run predictive."""
    log_mu, scale, post = refit._regular_predictive(held)
    ids = (held["run_id"].astype(str).to_numpy() if "run_id" in held.columns
           else np.asarray([str(i) for i in held.index]))
    return _loss_points(ids, held["n_params"].to_numpy(float), held["n_tokens"].to_numpy(float),
                        np.log(held[refit.loss].to_numpy(float)), log_mu, scale, post,
                        refit.noise, sub["n_params"].to_numpy(float),
                        sub["n_tokens"].to_numpy(float), cut)


def _loss_points(run_ids: Sequence[str], n: np.ndarray, d: np.ndarray, log_y: np.ndarray,
                 log_mu: np.ndarray, scale: np.ndarray, noise_post: Mapping[str, np.ndarray],
                 noise: str, fit_n: np.ndarray, fit_d: np.ndarray,
                 cut: float) -> list[dict[str, Any]]:
    """The points of a loss law's held-out runs (sizes ``n``, ``d``, observed ``log_y``) under a
    refit's regular predictive (``log_mu``, ``scale``, its noise draws ``noise_post``), at their
    distance from the refit's runs (``fit_n``, ``fit_d``), with their place in the design and,
    under the ``"mixture"`` noise, the refit's outlier probability and scale."""
    outlier = {}
    if noise == "mixture":
        outlier = {"outlier_prob": float(np.mean(noise_post["outlier_prob"])),
                   "outlier_scale": float(np.sqrt(np.mean(noise_post["outlier_scale"] ** 2)))}
    log_n = np.log(n)
    log_m = np.log(d) - log_n
    extra = [{"log_n": float(log_n[j]), "log_m": float(log_m[j]), **outlier}
             for j in range(len(n))]
    return held_out_points(run_ids, log_y, log_mu, scale,
                           noise_post["nu"] if noise == "student_t" else None,
                           DesignBounds.from_sizes(fit_n, fit_d).distance(n, d),
                           {"cutoff_flops": float(cut)}, extra)


def pooled_lfo_cuts(kw: Mapping[str, Any], meta: Mapping[str, Any],
                    min_fit: int) -> list[tuple[float, np.ndarray]]:
    """``(cutoff_flops, fit_mask)`` per usable cut of a pooled fit's runs (rows of ``kw``): the
    runs at or below the cut are refitted, and every group keeps at least ``min_fit`` of them;
    at least one run lies above it; no repeated split."""
    c = 6.0 * np.asarray(meta["n_params"], float) * np.asarray(meta["n_tokens"], float)
    return _compute_cuts(c, min_fit, group=np.asarray(kw["group"]), n_groups=len(meta["groups"]))


def calibrate_pooled_loss_discrepancy(law: PooledLossLaw, kw: Mapping[str, Any],
                                      meta: Mapping[str, Any], *, seed: int,
                                      prior: DiscrepancyPrior | None = None,
                                      ) -> dict[str, Discrepancy]:
    """Each group's discrepancy of a pooled loss law, by leave-future-out in compute.

    The pooled model is refitted at each cut of :func:`pooled_lfo_cuts` (the runs above it
    masked out of the likelihood, so the refits share one compiled sampler; each group's
    ``e_upper`` and the design centre recomputed from the runs the refit sees, so nothing of
    the held-out runs' losses reaches it), through the leave-future-out engine
    (:func:`~bayes_scaling.estimators.lfo.leave_future_out`). Each group scores its own
    held-out runs, exactly as a :class:`~bayes_scaling.LossLaw` of that group would, and gets
    its own :class:`Discrepancy` under ``prior`` (default: the population of
    :func:`~bayes_scaling.laws.discrepancy_prior.population_prior`).
    """
    if prior is None:
        prior = population_prior()
    groups = list(meta["groups"])
    n, d = np.asarray(meta["n_params"], float), np.asarray(meta["n_tokens"], float)
    y, group = np.asarray(meta["loss"], float), np.asarray(kw["group"])

    def centre(fit: np.ndarray) -> tuple[float, float]:
        """The design centre of the runs a refit sees (its arrays are centred there)."""
        return float(np.mean(np.log(n[fit]))), float(np.mean(np.log(d[fit])))

    cuts = []
    for cut, fit in pooled_lfo_cuts(kw, meta, len(law.spec.params) + 3):
        log_n0, log_d0 = centre(fit)
        payload = dict(kw, mask=fit, x_n=np.log(n) - log_n0, x_d=np.log(d) - log_d0,
                       e_upper=np.array([y[fit & (group == j)].min()
                                         for j in range(len(groups))]))
        cuts.append(Cut(0, cut, int(fit.sum()), int((~fit).sum()), payload, unit="FLOPs"))

    def score(c: Cut, r: Refit) -> dict[str, list[dict]]:
        fit = c.payload["mask"]
        flat = {k: np.reshape(v, (-1, *np.shape(v)[2:])) for k, v in r.posterior.items()}
        out = {}
        for j, g in enumerate(groups):
            held = np.flatnonzero(~fit & (group == j))
            if not held.size:
                continue
            mine = fit & (group == j)
            targets = pd.DataFrame({"n_params": n[held], "n_tokens": d[held]})
            log_mu, scale, noise_post = law._regular_predictive(
                flat, np.full(held.size, j), targets, centre(fit))
            out[g] = _loss_points([str(meta["run_id"][i]) for i in held], n[held], d[held],
                                  np.log(y[held]), log_mu, scale, noise_post, law.noise,
                                  n[mine], d[mine], c.cutoff)
        return out

    # checked: what the held-out predictive is computed from (each group's law parameters and
    # the noise), not the population scales, which a few groups leave slow to mix
    names = [*law.spec.params, *NOISE_SITES[law.noise]]
    evidence = leave_future_out(cuts, masked_refits(law, seed), score, names=names)
    out = {}
    for j, g in enumerate(groups):
        log_c = np.log(6.0 * n[group == j] * d[group == j])
        out[g] = evidence.discrepancy(g, prior=prior, log_c_fit=float(log_c.max()))
    return out
