"""Plan the next runs: the expected value of a candidate run for a target's interval.

Preposterior analysis. Before a candidate run ``c`` (size ``N_c``, tokens ``D_c``, cost
``6 N_c D_c`` FLOPs unless given) is trained, its result is unknown; the fitted posterior says what
it would likely be. For each of ``n_sims`` simulated outcomes ``y_j`` (a posterior draw ``s_j``,
then a regular new run's log loss at the candidate under that draw), the posterior is updated to
what it would be had ``y_j`` been observed, and the target's new-run 90% interval width is read
off the updated posterior. A simulated outcome is drawn from the fit's whole likelihood, as the
refit would see it (:func:`~bayes_scaling.models.noise.fitted_run_draws`): under the default
mixture noise a candidate is an outlier with the learned ``outlier_prob``, and an outcome that
looks like one moves the posterior as little as it would in a refit. The expected width after the
run is the mean over the ``y_j``:

.. math::

    \\mathbb{E}[W_t \\mid c] = \\frac1J \\sum_j W_t\\bigl(p(\\theta \\mid \\text{runs}, y_j)\\bigr).

The update is, where it is reliable, **importance reweighting** of the existing draws:
``w_s \\propto p(y_j \\mid \\theta_s)``, the fit's likelihood of a run at the candidate
(:func:`~bayes_scaling.models.noise.fitted_run_log_likelihood`: for the mixture
``(1 - \\pi_s) N(y_j; \\log\\mu_c, s_c^2) + \\pi_s N(y_j; \\log\\mu_c, s_c^2 + \\tau_s^2)`` with
``s_c^2 = \\sigma_s^2 + m_c^2 + (\\kappa_s d_c)^2``: the run-to-run scatter, the candidate's
measurement error ``m_c`` when its ``<loss>_ci`` is given, and the discrepancy at the candidate,
zero inside the design), and the width is the weighted-quantile width of the target's new-run
draws. Where the weights' effective sample size is
below ``min_ess_frac`` of the draws for most simulated outcomes (a run that would move the
posterior far), the candidate is evaluated by **refits** instead: ``n_refit_sims`` simulated
outcomes, each refitted with the candidate added (one :func:`~bayes_scaling.fit_many` batch over
all such candidates, ``discrepancy=None``, a lighter sampler). The ``method`` column says which was
used.

The target's new-run draws carry the law's extrapolation discrepancy ``kappa_s d_t``; with the
candidate added, ``d_t`` is recomputed from the design bounds including the candidate, so a run
that moves the design towards the target also shrinks the discrepancy term. (A candidate outside
the fitted design is simulated with its own discrepancy ``kappa_s d_c``, treated as independent of
the target's: conservative, since a run near the target shares much of the target's discrepancy.)

Candidates are ranked by expected width reduction per FLOP (the mean over targets of the relative
reduction ``1 - E[W_t | c] / W_t`` divided by the cost, unless ``rank_by`` names one target).
``k > 1`` builds a greedy batch: the next run is the one that most reduces the width given the
runs already chosen (joint importance weights of the chosen candidates' simulated outcomes,
drawn from the same posterior draw; the greedy steps always use reweighting).

Examples
--------
>>> import pandas as pd
>>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
>>> from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law
>>> runs = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)
>>> law = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", seed=0)
>>> cands = pd.DataFrame({"n_params": [1e8, 4e8], "n_tokens": [2e9, 8e10]})
>>> plan = plan_runs(law, {"n_params": [1.4e9], "n_tokens": [2.8e10]}, cands, seed=0)
>>> list(plan.candidates.columns[:4])
['n_params', 'n_tokens', 'cost_flops', 'method']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.design import DesignBounds
from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.inference.config import check_seed, derive_seed
from bayes_scaling.models.noise import fitted_run_draws, fitted_run_log_likelihood
from bayes_scaling.predict.run_plan import RunPlan

__all__ = ["FITTED_DATASET", "RunPlan", "candidate_grid", "fit_runs_table", "plan_runs",
           "weighted_quantile_width"]

#: Token multipliers of :func:`candidate_grid` (under-trained to heavily over-trained).
GRID_M = (5.0, 20.0, 80.0, 320.0)

_Z95 = 1.959964
#: Sampler of the fallback refits: a width needs its quantiles, not a publication posterior.
REFIT_SAMPLER = {"num_warmup": 300, "num_samples": 300, "num_chains": 2}
#: ``dataset`` value of the runs rebuilt by :func:`fit_runs_table` (one corpus per fit).
FITTED_DATASET = "fitted"


# ------------------------------------------------------------------------------------ helpers
def weighted_quantile_width(values: np.ndarray, weights: np.ndarray, ci_prob: float) -> np.ndarray:
    """Width of the equal-tailed ``ci_prob`` interval of weighted draws.

    Parameters
    ----------
    values : ndarray, shape (S,)
        Draws (one set shared by every row of ``weights``).
    weights : ndarray, shape (J, S)
        Non-negative weights, one row per weighting (rows need not be normalised).
    ci_prob : float

    Returns
    -------
    ndarray, shape (J,)

    Examples
    --------
    >>> x = np.linspace(0, 1, 1001)
    >>> float(np.round(weighted_quantile_width(x, np.ones((1, 1001)), 0.9)[0], 4))  # midpoints
    0.9009
    """
    order = np.argsort(values)
    v = values[order]
    w = np.atleast_2d(weights)[:, order]
    cdf = np.cumsum(w, axis=1)
    cdf = cdf / cdf[:, -1:]
    lo_q, hi_q = (1 - ci_prob) / 2, (1 + ci_prob) / 2
    # mid-point rule (the unweighted case reproduces the usual plotting-position quantiles)
    mid = cdf - 0.5 * w / w.sum(axis=1, keepdims=True)
    lo = np.array([np.interp(lo_q, m, v) for m in mid])
    hi = np.array([np.interp(hi_q, m, v) for m in mid])
    return hi - lo


def candidate_grid(law: LossLaw, n_sizes: int = 4) -> pd.DataFrame:
    """Default candidates: ``n_sizes`` log-spaced sizes from the smallest to the largest fitted
    size, each at the token multipliers :data:`GRID_M` (``n_sizes * 4`` runs)."""
    law._require_fit()
    n = law.idata.constant_data["n_params"].values.astype(float)
    sizes = np.geomspace(n.min(), n.max(), n_sizes)
    return pd.DataFrame([(s, s * m) for s in sizes for m in GRID_M],
                        columns=["n_params", "n_tokens"])


def _ess_frac(log_w: np.ndarray) -> np.ndarray:
    """ESS / S of each row of log weights (Kish)."""
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return (w.sum(axis=1) ** 2 / (w**2).sum(axis=1)) / log_w.shape[1]


def fit_runs_table(law: LossLaw) -> pd.DataFrame:
    """The runs a fitted law was fitted on, rebuilt from its DataTree (``run_id``, sizes, loss
    and ``<loss>_ci`` from the recorded measurement error; ``dataset`` is
    :data:`FITTED_DATASET`, since the fit does not record its corpus name)."""
    law._require_fit()
    c = law.idata.constant_data
    y = law.idata.observed_data["loss"].values
    n = c["n_params"].values.astype(float)
    d = c["n_tokens"].values.astype(float)
    return pd.DataFrame({
        "run_id": [str(r) for r in c.coords["run"].values],
        "dataset": FITTED_DATASET,
        "n_params": n,
        "n_tokens": d,
        "tokens_per_param": d / n,
        "compute_flops": 6.0 * n * d,
        law.loss: y,
        f"{law.loss}_ci": c["meas_sd"].values * _Z95 * y,
    })


def _check_inputs(law: Any, candidates: Any, ci_prob: float, n_sims: int, k: int,
                  min_ess_frac: float, n_refit_sims: int) -> pd.DataFrame:
    if not isinstance(law, LossLaw):
        raise TypeError(f"plan_runs needs a fitted LossLaw, got {type(law).__name__}; pass "
                        "predictor.loss_law for a ScalingPredictor")
    law._require_fit()
    if not 0 < ci_prob < 1:
        raise ValueError(f"ci_prob must lie in (0, 1), got {ci_prob!r}")
    if int(n_sims) != n_sims or n_sims < 2:
        raise ValueError(f"n_sims must be an integer >= 2, got {n_sims!r}")
    if int(n_refit_sims) != n_refit_sims or n_refit_sims < 1:
        raise ValueError(f"n_refit_sims must be an integer >= 1, got {n_refit_sims!r}")
    if not 0 <= min_ess_frac < 1:
        raise ValueError(f"min_ess_frac must lie in [0, 1), got {min_ess_frac!r}")
    cand = resolve_targets(candidates).reset_index(drop=True)
    if cand.empty:
        raise ValueError("no candidate runs: give at least one row with n_params and n_tokens")
    if int(k) != k or not 1 <= k <= len(cand):
        raise ValueError(f"k must be an integer in [1, {len(cand)}] (the number of candidates), "
                         f"got {k!r}")
    if "cost" in cand.columns:
        cost = pd.to_numeric(cand["cost"], errors="coerce").to_numpy(float)
        if not np.all(np.isfinite(cost) & (cost > 0)):
            bad = int(np.flatnonzero(~(np.isfinite(cost) & (cost > 0)))[0])
            raise ValueError(f"candidate row {bad}: cost {cand['cost'].iloc[bad]!r} is not a "
                             "positive number of FLOPs; fix the 'cost' column or drop it (6ND)")
        cand["cost_flops"] = cost
    else:
        cand["cost_flops"] = 6.0 * cand["n_params"] * cand["n_tokens"]
    return cand


def _labels(t: pd.DataFrame) -> list[str]:
    if "label" in t.columns:
        return [str(x) for x in t["label"]]
    if "run_id" in t.columns:
        return [str(x) for x in t["run_id"]]
    return [f"t{i}" for i in range(len(t))]


# ------------------------------------------------------------------------------------ planner
def plan_runs(law: LossLaw, targets: pd.DataFrame | Mapping[str, Any],
              candidates: pd.DataFrame | Mapping[str, Any], *, ci_prob: float = 0.9,
              n_sims: int = 64, k: int = 1, seed: int = 0, min_ess_frac: float = 0.1,
              n_refit_sims: int = 4, rank_by: str | None = None,
              refit: bool = True,
              evaluate: Sequence[Sequence[int]] | None = None) -> RunPlan:
    """Expected new-run interval width at ``targets`` after adding each candidate run.

    Parameters
    ----------
    law : LossLaw
        A fitted loss law (its posterior, noise model and learned discrepancy are used).
    targets : DataFrame or dict
        Target runs (``n_params`` and ``n_tokens``, or ``compute_flops`` and
        ``tokens_per_param``); optional ``label`` (else ``run_id``, else ``t0, t1, ...``).
    candidates : DataFrame or dict
        Candidate runs, the same columns; optional ``cost`` (FLOPs, default ``6 N D``) and
        ``<loss>_ci`` (95% half-width of the candidate's measured loss; default 0).
    ci_prob : float
        Probability of the interval whose width is planned for (default 0.9).
    n_sims : int
        Simulated outcomes per candidate (the Monte Carlo error of the expected width falls as
        ``1/sqrt(n_sims)``; common random numbers across candidates keep the ranking stabler).
    k : int
        Size of the greedy batch in ``RunPlan.batch``.
    seed : int
        Seed of the simulated outcomes, the predictive noise and the refits.
    min_ess_frac : float
        Below this ESS / draws (median over outcomes) a candidate is evaluated by refits.
    n_refit_sims : int
        Simulated outcomes refitted per such candidate.
    rank_by : str, optional
        Rank by one target's relative reduction (its label) instead of the mean over targets.
    refit : bool
        ``False``: never refit (reweighting everywhere, the ESS still reported).
    evaluate : list of lists of int, optional
        Batches of your own to score the same way as the greedy one: each a list of candidate
        row positions (0-based, input order). Their expected widths, by joint importance
        reweighting, are in ``RunPlan.evaluated``.

    Returns
    -------
    RunPlan

    Raises
    ------
    ValueError
        Bad targets or candidates (named by row and column), bad settings, an unknown
        ``rank_by`` label.
    """
    seed = check_seed(seed)
    cand = _check_inputs(law, candidates, ci_prob, n_sims, k, min_ess_frac, n_refit_sims)
    t = resolve_targets(targets).reset_index(drop=True)
    labels = _labels(t)
    if len(set(labels)) != len(labels):
        raise ValueError(f"target labels must be unique, got {labels}; give a 'label' column")
    if rank_by is not None and rank_by not in labels:
        raise ValueError(f"rank_by={rank_by!r} is not a target label; use one of {labels}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x91A7]))

    # --- draws at the targets: law mean, regular scale, standardised noise (common numbers)
    log_mu_t, scale_t, _ = law._regular_predictive(t)
    n_draws = log_mu_t.shape[0]
    kappa = law.discrepancy_.kappa_draws(n_draws, seed)
    eps_t = rng.standard_normal(log_mu_t.shape)
    eps_d = rng.standard_normal(log_mu_t.shape)
    bounds = law.design_bounds
    fitted = fit_runs_table(law)

    def target_draws(dist: np.ndarray) -> np.ndarray:
        return np.exp(log_mu_t + scale_t * eps_t + kappa[:, None] * dist[None, :] * eps_d)

    dist_now = bounds.distance(t["n_params"], t["n_tokens"])
    uniform = np.ones((1, n_draws))
    now = target_draws(dist_now)
    width_now = np.array([weighted_quantile_width(now[:, i], uniform, ci_prob)[0]
                          for i in range(len(t))])

    # --- simulated outcomes at every candidate, from the same posterior draws
    log_mu_c, scale_c, noise_c = law._regular_predictive(
        cand.drop(columns=[law.loss], errors="ignore"))
    meas_c = np.zeros(len(cand))
    ci_col = f"{law.loss}_ci"
    if ci_col in cand.columns:
        med = np.exp(np.median(log_mu_c, axis=0))
        meas_c = cand[ci_col].fillna(0.0).to_numpy(float) / _Z95 / med
    d_c = bounds.distance(cand["n_params"], cand["n_tokens"])
    sd_c = np.sqrt(scale_c**2 + meas_c[None, :] ** 2 + (kappa[:, None] * d_c[None, :]) ** 2)
    s_idx = rng.integers(0, n_draws, size=n_sims)
    y_sim = fitted_run_draws(law.noise, {k: v[s_idx] for k, v in noise_c.items()},
                             log_mu_c[s_idx], sd_c[s_idx], rng)  # (J, C)
    noise_row = {k: v[:, 0][None, :] for k, v in noise_c.items()}  # (1, S)

    def log_lik(c: int) -> np.ndarray:  # (J, S) log weights of outcome j under draw s
        return fitted_run_log_likelihood(law.noise, y_sim[:, c][:, None], log_mu_c[None, :, c],
                                         sd_c[None, :, c], noise_row)

    def new_dist(idx: Sequence[int]) -> np.ndarray:
        n = np.concatenate([fitted["n_params"], cand["n_params"].to_numpy(float)[list(idx)]])
        d = np.concatenate([fitted["n_tokens"], cand["n_tokens"].to_numpy(float)[list(idx)]])
        return DesignBounds.from_sizes(n, d).distance(t["n_params"], t["n_tokens"])

    def outcome_widths(log_w: np.ndarray, dist: np.ndarray) -> np.ndarray:  # (J, T)
        w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
        after = target_draws(dist)
        return np.stack([weighted_quantile_width(after[:, i], w, ci_prob)
                         for i in range(len(t))], axis=1)

    def widths_after(log_w: np.ndarray, dist: np.ndarray) -> np.ndarray:
        return outcome_widths(log_w, dist).mean(axis=0)

    n_c = len(cand)
    per_outcome = np.full((n_c, n_sims, len(t)), np.nan)
    ess = np.zeros(n_c)
    method = np.array(["reweight"] * n_c, dtype=object)
    lls = [log_lik(c) for c in range(n_c)]
    for c in range(n_c):
        ess[c] = float(np.median(_ess_frac(lls[c])))
        per_outcome[c] = outcome_widths(lls[c], new_dist([c]))
    low = np.flatnonzero(ess < min_ess_frac) if refit else np.array([], int)
    if low.size:
        per_outcome[low] = np.nan
        refitted = _refit_widths(law, fitted, cand, low, y_sim, t, kappa, new_dist, ci_prob,
                                 n_refit_sims, seed)
        per_outcome[low, : refitted.shape[1]] = refitted
        method[low] = "refit"
    after = np.nanmean(per_outcome, axis=1)

    out = cand.copy()
    out["method"] = method
    out["ess_frac"] = ess
    red = 1.0 - after / width_now[None, :]
    for i, lab in enumerate(labels):
        out[f"width_now_{lab}"] = width_now[i]
        out[f"width_after_{lab}"] = after[:, i]
        out[f"reduction_{lab}"] = red[:, i]
    out["score"] = red[:, labels.index(rank_by)] if rank_by is not None else red.mean(axis=1)
    out["reduction_per_flop"] = out["score"] / out["cost_flops"]
    out = out.sort_values("reduction_per_flop", ascending=False, kind="stable")
    out["rank"] = np.arange(1, n_c + 1)
    first = ["n_params", "n_tokens", "cost_flops", "method", "ess_frac"]
    out = out[first + [c for c in out.columns if c not in first]]

    batch = _greedy(lls, cand, k, int(out.index[0]), after[int(out.index[0])], width_now,
                    labels, rank_by, new_dist, widths_after)
    evaluated = _evaluate_batches(evaluate, lls, cand, labels, new_dist, widths_after)
    tinfo = t.assign(label=labels, width_now=width_now, distance=dist_now)
    return RunPlan(candidates=out, batch=batch, targets=tinfo, ci_prob=float(ci_prob),
                   n_sims=int(n_sims), seed=seed, outcome_widths=per_outcome,
                   evaluated=evaluated)


def _evaluate_batches(batches, lls, cand, labels, new_dist, widths_after) -> pd.DataFrame | None:
    """Expected widths after each given batch of candidates (joint importance weights)."""
    if batches is None:
        return None
    cost = cand["cost_flops"].to_numpy(float)
    rows = []
    for b, batch in enumerate(batches):
        idx = [int(i) for i in batch]
        if not idx or len(set(idx)) != len(idx) or any(not 0 <= i < len(cand) for i in idx):
            raise ValueError(f"evaluate[{b}] = {list(batch)!r}: give distinct candidate row "
                             f"positions in [0, {len(cand) - 1}]")
        log_w = np.sum([lls[i] for i in idx], axis=0)
        row = {"candidates": idx, "cost_flops": float(cost[idx].sum()),
               "ess_frac": float(np.median(_ess_frac(log_w)))}
        for lab, w in zip(labels, widths_after(log_w, new_dist(idx)), strict=True):
            row[f"width_after_{lab}"] = float(w)
        rows.append(row)
    return pd.DataFrame(rows)


def _greedy(lls, cand, k, first, first_after, width_now, labels, rank_by, new_dist,
            widths_after) -> pd.DataFrame:
    """Greedy batch: each step adds the run with the largest further reduction per FLOP."""
    cost = cand["cost_flops"].to_numpy(float)
    chosen, rows = [first], []
    acc = lls[first].copy()
    cur = first_after
    rows.append((first, cur))
    while len(chosen) < k:
        best, best_val, best_after = -1, -np.inf, None
        for c in range(len(cand)):
            if c in chosen:
                continue
            a = widths_after(acc + lls[c], new_dist([*chosen, c]))
            gain = (cur - a) / width_now
            val = (gain[labels.index(rank_by)] if rank_by is not None else gain.mean()) / cost[c]
            if val > best_val:
                best, best_val, best_after = c, val, a
        chosen.append(best)
        acc = acc + lls[best]
        cur = best_after
        rows.append((best, cur))
    out = pd.DataFrame({"candidate": [c for c, _ in rows],
                        "n_params": cand["n_params"].to_numpy(float)[[c for c, _ in rows]],
                        "n_tokens": cand["n_tokens"].to_numpy(float)[[c for c, _ in rows]],
                        "cost_flops": cost[[c for c, _ in rows]]})
    out["cum_cost_flops"] = out["cost_flops"].cumsum()
    for i, lab in enumerate(labels):
        out[f"width_after_{lab}"] = [a[i] for _, a in rows]
    return out


def _refit_widths(law, fitted, cand, idx, y_sim, t, kappa, new_dist, ci_prob, n_refit_sims,
                  seed) -> np.ndarray:
    """Widths after refitting on simulated outcomes (one batch for all candidates):
    ``(len(idx), n_refits, n_targets)``, one row of outcomes per candidate."""
    from bayes_scaling.estimators.batch import fit_many

    template = law._lfo_template(REFIT_SAMPLER)
    tables, owners = [], []
    for c in idx:
        for j in range(min(n_refit_sims, y_sim.shape[0])):
            n, d = float(cand["n_params"].iloc[c]), float(cand["n_tokens"].iloc[c])
            row = {"run_id": f"candidate-{c}-sim{j}", "dataset": FITTED_DATASET,
                   "n_params": n, "n_tokens": d, "tokens_per_param": d / n,
                   "compute_flops": 6.0 * n * d, law.loss: float(np.exp(y_sim[j, c])),
                   f"{law.loss}_ci": 0.0}
            tables.append(pd.concat([fitted, pd.DataFrame([row])], ignore_index=True))
            owners.append(c)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # refits on simulated data: diagnostics are not the point
        fits = fit_many(template, tables, seed=derive_seed(seed, 104729), warn=False)
    n_rep = min(n_refit_sims, y_sim.shape[0])
    out = np.zeros((len(idx), n_rep, len(t)))
    counts = np.zeros(len(idx), int)
    pos = {c: i for i, c in enumerate(idx)}
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x2EF1]))
    for c, f in zip(owners, fits, strict=True):
        log_mu, scale, _ = f._regular_predictive(t)
        kap = rng.choice(kappa, size=log_mu.shape[0])
        dist = new_dist([c])
        draws = np.exp(log_mu + scale * rng.standard_normal(log_mu.shape)
                       + kap[:, None] * dist[None, :] * rng.standard_normal(log_mu.shape))
        lo, hi = np.quantile(draws, [(1 - ci_prob) / 2, (1 + ci_prob) / 2], axis=0)
        out[pos[c], counts[pos[c]]] = hi - lo
        counts[pos[c]] += 1
    return out
