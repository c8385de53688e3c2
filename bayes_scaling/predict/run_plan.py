"""The run planner's answer, :class:`RunPlan`: the ranked candidates, the greedy batch, the
targets' widths, and how well the expected widths can rank real outcomes
(:func:`~bayes_scaling.predict.planning.plan_runs` computes it)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_scaling.inference.config import check_seed

__all__ = ["RunPlan"]


@dataclass(frozen=True)
class RunPlan:
    """The planner's answer (see :func:`~bayes_scaling.predict.planning.plan_runs`).

    Attributes
    ----------
    candidates : DataFrame
        One row per candidate, best first: ``n_params``, ``n_tokens``, ``cost_flops``,
        ``method`` (``"reweight"`` or ``"refit"``), ``ess_frac`` (median over simulated outcomes
        of the importance weights' ESS / draws), and per target ``t`` (labels in
        ``targets["label"]``): ``width_now_<t>``, ``width_after_<t>`` (expected),
        ``reduction_<t>`` (``1 - after / now``); then ``score`` (relative reduction used for the
        ranking), ``reduction_per_flop`` (``score / cost_flops``) and ``rank`` (1 = best).
        The candidates' own columns (e.g. ``run_id``) are kept.
    batch : DataFrame
        The greedy batch of ``k`` runs in the order chosen: the candidate's row index
        (``candidate``), ``cost_flops``, ``cum_cost_flops`` and, per target, the expected width
        after all runs so far (``width_after_<t>``).
    targets : DataFrame
        The targets with ``label``, the current ``width_now`` and extrapolation ``distance``.
    ci_prob : float
    n_sims : int
    seed : int
    outcome_widths : ndarray, shape (n_candidates, n_sims, n_targets)
        The target's width after each simulated outcome of each candidate (candidates in their
        input order, i.e. ``candidates.sort_index()``); ``width_after_<t>`` is its mean over
        outcomes. Refitted candidates fill their first ``n_refit_sims`` outcomes, NaN after.
    evaluated : DataFrame or None
        The batches given as ``evaluate=``, one row each: ``candidates`` (the row positions),
        ``cost_flops``, ``ess_frac`` (median ESS / draws of the joint weights) and per target
        the expected ``width_after_<t>``.
    """

    candidates: pd.DataFrame
    batch: pd.DataFrame
    targets: pd.DataFrame
    ci_prob: float
    n_sims: int
    seed: int
    outcome_widths: np.ndarray
    evaluated: pd.DataFrame | None = None

    def best(self, n: int = 3) -> pd.DataFrame:
        """The ``n`` candidates with the largest expected width reduction per FLOP."""
        return self.candidates.head(n)

    def attainable_rank_correlation(self, target: str | None = None, *, n_rep: int = 2000,
                                    seed: int = 0) -> dict[str, float]:
        """How well the expected widths can rank what one real run per candidate will give.

        A candidate's realised width depends on the outcome the run will measure, which no plan
        knows; ``width_after`` is its expectation. This draws, ``n_rep`` times, one simulated
        outcome per candidate and takes the Spearman rank correlation between the expected
        widths and those outcome widths: the correlation a check of the plan against real
        results should expect *if the fitted model were true* (its median and 5%/95% quantiles).
        A real check scoring well below it says the model misjudges the candidates; one near it
        says the plan is as good as the outcomes allow.

        Parameters
        ----------
        target : str, optional
            A target label (default: the first target).
        n_rep : int
        seed : int

        Returns
        -------
        dict with ``median``, ``q05``, ``q95``.
        """
        labels = self.targets["label"].tolist()
        if target is not None and target not in labels:
            raise ValueError(f"target={target!r} is not a target label; use one of {labels}")
        ti = labels.index(target) if target is not None else 0
        w = self.outcome_widths[:, :, ti]
        expected = self.candidates.sort_index()[f"width_after_{labels[ti]}"].to_numpy(float)
        if len(expected) < 3:
            raise ValueError("a rank correlation needs at least 3 candidates")
        rng = np.random.default_rng(check_seed(seed))
        n_ok = np.sum(np.isfinite(w), axis=1)
        rank_e = pd.Series(expected).rank().to_numpy()
        rho = np.empty(n_rep)
        for r in range(n_rep):
            pick = w[np.arange(len(w)), (rng.random(len(w)) * n_ok).astype(int)]
            rho[r] = np.corrcoef(rank_e, pd.Series(pick).rank().to_numpy())[0, 1]
        q05, med, q95 = np.quantile(rho, [0.05, 0.5, 0.95])
        return {"median": float(med), "q05": float(q05), "q95": float(q95)}
