"""Leave-future-out: the one engine behind every estimator's extrapolation discrepancy.

Every estimator learns its discrepancy the same way: cut its fitting runs, refit the law on the
runs before each cut, predict the runs after it, and score the misses
(:class:`~bayes_scaling.estimators.discrepancy.Discrepancy`). What differs between estimators is
only what a cut is (compute for loss laws, loss for error laws) and how its refit is run (a
batch of re-prepared runs tables for loss laws, the same arrays with the later runs masked out
for error laws). An estimator therefore states:

- its cuts (:class:`Cut`: whose fit it belongs to, the cut-off, how many runs the refit sees and
  predicts, and whatever the estimator's own functions need);
- ``refit(cuts)``: runs the refits of a list of cuts and returns one :class:`Refit` each (the
  draws with leading ``(chain, draw)`` dims, the sampler stats);
- ``score(cut, refit)``: the held-out runs' points, per group (a pooled fit scores each of its
  tasks or datasets), built with :func:`held_out_points`;

and :func:`leave_future_out` does the rest: it checks every refit's sampler diagnostics, keeps
the evidence of the refits that pass, and returns it with a record of **every** refit
(:class:`Evidence`). Each estimator's :class:`Discrepancy` carries its refits' records, which
``diagnostics()`` and the report show.

A refit passes when its split R-hat is at most :data:`REFIT_RHAT_MAX` (1.05), at most
:data:`REFIT_MAX_DIVERGENT` (1%) of its transitions diverged and its bulk and tail ESS are at
least :data:`REFIT_ESS_MIN` (25). A refit whose chains disagree, or whose sampler could not
follow the posterior, gives biased held-out predictions. The ESS bound is loose on purpose: the
refits feed only the predictive mean and variance of the held-out runs (2 chains x 500 draws by
default), and at ESS 25 the Monte Carlo error of a mean is 20% of its posterior sd, small beside
the predictive sd it is scored against (measured: on simulated Gadre-design ladders of 32 runs,
refits on the 16 runs below the median compute reached bulk/tail ESS 31-72 of 1000 draws with
R-hat under 1.05; a bound of 100 dropped one or two of their three refits). A main fit, whose
draws are the answer itself, is held to R-hat 1.01 and ESS 100 per chain. A refit that fails
is dropped from the evidence, never used unchecked; when every refit of a fit fails, its
discrepancy keeps the prior (``method="prior"``) and says why.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bayes_scaling.estimators.discrepancy import (
    Discrepancy,
    noise_variance,
    param_factor,
    weigh_by_run,
)
from bayes_scaling.inference.config import SamplerConfig, derive_seed
from bayes_scaling.inference.diagnostics import diagnostics
from bayes_scaling.laws.discrepancy_prior import DiscrepancyPrior

__all__ = ["REFIT_ESS_MIN", "REFIT_MAX_DIVERGENT", "REFIT_RHAT_MAX", "REFIT_SAMPLER", "Cut",
           "Evidence", "Refit", "held_out_points", "leave_future_out", "masked_refits",
           "refit_record"]

#: Largest split R-hat of a refit whose evidence is used.
REFIT_RHAT_MAX = 1.05
#: Smallest bulk and tail ESS of a refit whose evidence is used (Monte Carlo error of a
#: held-out mean at most 20% of its posterior sd).
REFIT_ESS_MIN = 25.0
#: Largest fraction of a refit's transitions that may diverge.
REFIT_MAX_DIVERGENT = 0.01
#: The refits' sampler settings (each capped at the main fit's own): they only need the
#: held-out runs' predictive means and variances, which fewer, shorter chains give.
REFIT_SAMPLER = {"num_warmup": 500, "num_samples": 500, "num_chains": 2}


@dataclass(frozen=True)
class Cut:
    """One leave-future-out split.

    Attributes
    ----------
    owner : int
        The fit the cut belongs to (its index in a batch of fits; 0 for a single fit).
    cutoff : float
        Where the runs were cut: compute in FLOPs (loss laws) or loss (error laws).
    n_fit, n_held : int
        Runs (observations) the refit sees, and runs it predicts.
    payload : object
        What the estimator's ``refit`` and ``score`` need (a runs table, a mask).
    unit : str
        Unit of ``cutoff`` in messages (``"FLOPs"``, ``"loss"``).
    """

    owner: int
    cutoff: float
    n_fit: int
    n_held: int
    payload: Any = field(default=None, compare=False, repr=False)
    unit: str = ""


@dataclass(frozen=True)
class Refit:
    """A refit's draws (leading ``(chain, draw)`` dims) and sampler stats (``diverging`` and
    ``energy`` at least); ``fitted``: the refitted estimator, where there is one."""

    posterior: Mapping[str, np.ndarray]
    sample_stats: Mapping[str, np.ndarray]
    fitted: Any = None


@dataclass(frozen=True)
class Evidence:
    """What :func:`leave_future_out` learned: the points of the refits that passed their
    diagnostics, by group, and a record of every refit (:func:`refit_record`), by owner."""

    points: dict[Hashable, list[dict]]
    refits: dict[int, list[dict]]

    def discrepancy(self, group: Hashable, owner: int = 0, *, prior: DiscrepancyPrior | None = None,
                    prior_scale: float | None = None, trend: bool = True,
                    log_c_fit: float | None = None) -> Discrepancy:
        """The :class:`Discrepancy` of ``group`` (a fit, a task, a dataset) learned from its
        points, with the records of its owner's refits. Its points are weighted so that a run
        counts once however many refits predicted it."""
        pts = [dict(p) for p in self.points.get(group, [])]
        weigh_by_run(pts)
        records = self.refits.get(owner, [])
        cutoffs = [r["cutoff"] for r in records if r["used"]]
        kw: dict[str, Any] = {"prior": prior, "trend": trend, "log_c_fit": log_c_fit}
        if prior_scale is not None:
            kw["prior_scale"] = prior_scale
        return Discrepancy.from_evidence(pts, cutoffs, refits=records, **kw)


def refit_record(cut: Cut, refit: Refit, names: Sequence[str]) -> dict[str, Any]:
    """The diagnostics of one refit and whether its evidence is used (module docstring)."""
    post = {k: refit.posterior[k] for k in names if k in refit.posterior}
    if not post:
        raise ValueError(f"none of the variables {list(names)} is in the refit's posterior "
                         f"(it has {sorted(refit.posterior)}): name the sampled variables")
    d = diagnostics(post, refit.sample_stats, rhat_max=REFIT_RHAT_MAX, ess_min=REFIT_ESS_MIN,
                    warn=False)
    n_draws = max(d.n_draws, 1)
    problems = []
    if not d.max_rhat <= REFIT_RHAT_MAX:
        problems.append(f"R-hat {d.max_rhat:.3f} > {REFIT_RHAT_MAX}")
    ess = min(d.min_ess_bulk, d.min_ess_tail)
    if not ess >= REFIT_ESS_MIN:
        problems.append(f"ESS {ess:.0f} < {REFIT_ESS_MIN:.0f}")
    if d.divergences > REFIT_MAX_DIVERGENT * n_draws:
        problems.append(f"{d.divergences} of {n_draws} transitions divergent")
    return {"cutoff": float(cut.cutoff), "unit": cut.unit, "n_fit": int(cut.n_fit),
            "n_held": int(cut.n_held),
            "max_rhat": float(d.max_rhat), "min_ess": float(ess),
            "divergences": int(d.divergences), "n_draws": int(d.n_draws),
            "used": not problems, "problems": problems}


def leave_future_out(cuts: Sequence[Cut], refit: Callable[[Sequence[Cut]], Sequence[Refit]],
                     score: Callable[[Cut, Refit], Mapping[Hashable, list[dict]]], *,
                     names: Sequence[str]) -> Evidence:
    """Run the refits of ``cuts``, check each one's diagnostics (of the posterior variables
    ``names``: those the held-out predictive is computed from, e.g. a pooled law's per-group
    parameters and noise but not its population scales) and collect the held-out points of
    those that pass (module docstring).

    ``refit(cuts)`` returns one :class:`Refit` per cut, in order; ``score(cut, refit)`` the
    points of the runs the cut held out, by group. The cuts may belong to several fits
    (``Cut.owner``), all refitted in one call (one batched program where the estimator can).
    """
    points: dict[Hashable, list[dict]] = {}
    records: dict[int, list[dict]] = {}
    results = list(refit(list(cuts))) if cuts else []
    if len(results) != len(cuts):
        raise RuntimeError(f"refit returned {len(results)} refits for {len(cuts)} cuts")
    for cut, res in zip(cuts, results, strict=True):
        rec = refit_record(cut, res, names)
        records.setdefault(cut.owner, []).append(rec)
        if rec["used"]:
            for group, pts in score(cut, res).items():
                points.setdefault(group, []).extend(pts)
    return Evidence(points, records)


def held_out_points(run_ids: Sequence[str], observed: np.ndarray, mean_draws: np.ndarray,
                    scale: np.ndarray, nu: np.ndarray | None, distance: np.ndarray,
                    cut: Mapping[str, float], extra: Sequence[Mapping[str, Any]] | None = None,
                    ) -> list[dict[str, Any]]:
    """One point per held-out run: its residual against the refit's predictive mean, the
    predictive sd (parameter uncertainty plus regular noise, no discrepancy), the noise sd, its
    row of the refit's parameter factor (:func:`param_factor`) and its distance.

    ``mean_draws``: the law's mean at the held-out runs, ``(S, n)`` draws, on the scale of
    ``observed`` (log loss, or error); ``scale``, ``nu``: the regular noise's scale ``(S, n)``
    and Student-t degrees of freedom (``None``: normal); ``cut``: the key of the cut
    (``{"cutoff_flops": c}`` or ``{"cutoff": c}``); ``extra``: more fields per point.
    """
    noise_var = noise_variance(scale, nu)
    mean = mean_draws.mean(axis=0)
    var = mean_draws.var(axis=0) + noise_var
    factor = param_factor(mean_draws)
    return [{"run_id": str(run_ids[j]), **cut, "distance": float(distance[j]),
             "residual": float(observed[j] - mean[j]), "pred_sd": float(np.sqrt(var[j])),
             "noise_sd": float(np.sqrt(noise_var[j])),
             "param_factor": [float(x) for x in factor[j]],
             **(extra[j] if extra is not None else {})}
            for j in range(len(observed))]


def masked_refits(law: Any, seed: int) -> Callable[[Sequence[Cut]], list[Refit]]:
    """``refit(cuts)`` for :func:`~bayes_scaling.estimators.lfo.leave_future_out` of a law
    whose cuts mask its own model arrays (``cut.payload``: the model's keyword arrays, ``mask``
    set): one NUTS run each, with the law's sampler settings capped at
    :data:`REFIT_SAMPLER` (the same compiled sampler for every cut, whose arrays keep their
    shapes). Cut ``i`` is sampled with seed ``derive_seed(seed, 7919 + i)``."""
    from bayes_scaling.inference.nuts import sample_nuts

    base = law.sampler.to_dict()
    # never heavier than the main fit's own settings (the same program when they are lighter)
    config = SamplerConfig.coerce(
        base | {k: min(int(v), int(base[k])) for k, v in REFIT_SAMPLER.items()}, base)

    def refit(cuts: Sequence[Cut]) -> list[Refit]:
        out = []
        for i, c in enumerate(cuts):
            posterior, stats, _ = sample_nuts(law._model(), c.payload, config=config,
                                              seed=derive_seed(seed, 7919 + i),
                                              model_key=law._model_key(), progress=False)
            out.append(Refit(posterior, stats))
        return out

    return refit
