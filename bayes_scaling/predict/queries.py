"""Decision queries on posterior draws: P(loss < x), compute to reach a loss, compute-optimal
allocation, and scenario grids.

Every query works draw by draw, so the answer is a posterior distribution, never a point estimate
pushed through a formula. The model is either a fitted :class:`~bayes_scaling.LossLaw` or any
object with a ``draws(targets, *, target, kind, seed)`` method returning ``(n_draws, n_targets)``
draws and a ``loss_law`` attribute (a ``ScalingPredictor``, which adds ``target="error"``).

Each summary function returns a DataFrame with medians and equal-tailed intervals (``ci_prob`` is
recorded in ``attrs``); the per-draw values behind it come from the matching ``*_draws`` function,
so the return type never depends on a flag.

Examples
--------
>>> import bayes_scaling as bs
>>> from bayes_scaling.predict.queries import probability, compute_to_target, optimal_allocation
>>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
>>> from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law
>>> runs = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)
>>> law = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", seed=0)
>>> targets = {"n_params": [1.4e9], "n_tokens": [2.8e10]}
>>> probability(law, targets, below=2.9)[["p", "mcse"]].round(2)  # doctest: +SKIP
      p  mcse
0  0.91  0.01
>>> compute_to_target(law, loss=2.5, tokens_per_param=20)["compute_flops_median"]  # doctest: +SKIP
>>> optimal_allocation(law, compute_flops=1e21)["n_params_median"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.design import warn_far_extrapolation
from bayes_scaling.data.targets import interval_frame, resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.predict._common import (  # noqa: F401 - re-exported for the figures
    ArrayLike,
    DrawsModel,
    Kind,
    Model,
    Target,
    _as_1d,
    _loss_law,
    _num_chains,
)
from bayes_scaling.predict.allocation import (
    compute_to_target,
    compute_to_target_draws,
    optimal_allocation,
    optimal_allocation_draws,
)

__all__ = [
    "DrawsModel",
    "predictive_draws",
    "probability",
    "compute_to_target",
    "compute_to_target_draws",
    "optimal_allocation",
    "optimal_allocation_draws",
    "scenario_grid",
]


def predictive_draws(model: Model, targets: pd.DataFrame | Mapping[str, Any], *,
                     target: Target = "loss", kind: Kind = "new_run", seed: int = 0) -> np.ndarray:
    """Posterior predictive draws at ``targets``: shape ``(n_draws, n_targets)``.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
        A fitted loss law (``target="loss"`` only), or an object with a
        ``draws(targets, target=, kind=, seed=)`` method.
    targets : DataFrame or dict
        ``n_params`` and ``n_tokens`` (or ``compute_flops`` and ``tokens_per_param``).
    target : {"loss", "error"}
        Quantity to draw; ``"error"`` needs a predictor with an error law.
    kind : {"new_run", "law_mean"}
        Mean law (epistemic uncertainty) or the value a new run would show (adds run noise).
    seed : int
        Seed of the noise draws.

    Examples
    --------
    >>> predictive_draws(law, {"n_params": [1e9], "n_tokens": [2e10]}).shape  # doctest: +SKIP
    (1000, 1)
    """
    t = resolve_targets(targets)
    if isinstance(model, LossLaw):
        if target != "loss":
            raise ValueError(
                f"a LossLaw predicts loss only, not {target!r}; for downstream error pass "
                "ScalingPredictor(loss_law, error_law)"
            )
        return model.loss_draws(t, kind=kind, seed=seed)
    if isinstance(model, DrawsModel):
        return np.asarray(model.draws(t, target=target, kind=kind, seed=seed), dtype=float)
    raise TypeError(
        f"expected a fitted LossLaw or a ScalingPredictor, got {type(model).__name__}"
    )



# ------------------------------------------------------------------------------------ queries
def probability(model: Model, targets: pd.DataFrame | Mapping[str, Any], *,
                below: ArrayLike | None = None, above: ArrayLike | None = None,
                target: Target = "loss", kind: Kind = "new_run",
                seed: int = 0) -> pd.DataFrame:
    """Posterior probability that the loss (or error) at each target is below / above a value.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    targets : DataFrame or dict
        Planned runs (see :func:`bayes_scaling.data.targets.resolve_targets`).
    below, above : float or sequence of float, optional
        Threshold(s), one for all targets or one per target. Give ``below`` for
        ``P(X < below)``, ``above`` for ``P(X > above)``, both for ``P(above < X < below)``.
    target : {"loss", "error"}
    kind : {"new_run", "law_mean"}
        ``"new_run"`` (default) is the value the planned run would show, run-to-run noise
        included: the risk that *this run* misses. ``"law_mean"`` asks about the law's mean.
    seed : int
        Seed of the noise draws.

    Returns
    -------
    DataFrame
        The resolved targets plus ``below``/``above`` (as given), ``p``, ``mcse`` and ``ess``:
        the Monte Carlo standard error of ``p`` is ``sqrt(p (1 - p) / ess)``, with ``ess`` the
        effective sample size of the indicator over the posterior's chains. When every draw
        agrees (p = 0 or 1) ``mcse`` is the binomial error of half a draw, a floor rather than
        an estimate. A ``ScalingPredictor`` with one threshold for all targets answers through
        its own :meth:`probability` (same columns and conventions).

    Examples
    --------
    >>> probability(law, {"n_params": [1.4e9], "n_tokens": [2.8e10]}, below=2.9)  # doctest: +SKIP
    """
    from arviz_stats.base import array_stats

    if below is None and above is None:
        raise ValueError("give below= (P(X < below)) and/or above= (P(X > above))")
    t = resolve_targets(targets).reset_index(drop=True)
    warn_far_extrapolation(_loss_law(model).design_bounds, t)
    n = len(t)
    lims = {}
    for name, v in (("below", below), ("above", above)):
        arr = _as_1d(name, v, positive=False)
        if arr is None:
            continue
        if arr.size not in (1, n):
            raise ValueError(f"{name} has {arr.size} values for {n} targets: give one value or "
                             "one per target")
        lims[name] = np.broadcast_to(arr, (n,))
    if "below" in lims and "above" in lims and np.any(lims["above"] >= lims["below"]):
        raise ValueError("with both thresholds, above= must be smaller than below= "
                         "(P(above < X < below))")
    scalar = all(v.size == 1 or np.all(v == v[0]) for v in lims.values())
    if not isinstance(model, LossLaw) and scalar and callable(getattr(model, "probability", None)):
        # the predictor knows the (chain, draw) layout of its paired loss/error rows
        out = model.probability(t, target=target, kind=kind, seed=seed,
                                below=None if "below" not in lims else float(lims["below"][0]),
                                above=None if "above" not in lims else float(lims["above"][0]))
        out = out.reset_index(drop=True)
        for name, v in lims.items():
            out.insert(len(t.columns), name, v)
        return out
    draws = predictive_draws(model, t, target=target, kind=kind, seed=seed)
    hit = np.ones(draws.shape, dtype=bool)
    if "below" in lims:
        hit &= draws < lims["below"][None, :]
    if "above" in lims:
        hit &= draws > lims["above"][None, :]
    n_draws = draws.shape[0]
    p = hit.mean(axis=0)
    chains = _num_chains(model, n_draws)
    # (target, chain, draw) for arviz-stats; an indicator that never varies has no ESS
    x = np.moveaxis(hit.astype(float).reshape(chains, -1, n), -1, 0)
    varies = (p > 0) & (p < 1)
    mcse = np.empty(n)
    ess = np.full(n, float(n_draws))
    if varies.any() and x.shape[-1] >= 4:
        mcse[varies] = array_stats.mcse(x[varies], chain_axis=-2, draw_axis=-1, method="mean")
        ess[varies] = array_stats.ess(x[varies], chain_axis=-2, draw_axis=-1, method="mean")
    elif varies.any():  # too few draws per chain for autocorrelations: independent draws
        mcse[varies] = np.sqrt(p[varies] * (1 - p[varies]) / n_draws)
    # all draws agree: report the binomial error of half a draw, a floor and not an estimate
    # (the same convention as ScalingPredictor.probability)
    q = 0.5 / n_draws
    mcse[~varies] = np.sqrt(q * (1 - q) / n_draws)
    out = t.copy()
    for name, v in lims.items():
        out[name] = v
    out["p"] = p
    out["mcse"] = mcse
    out["ess"] = ess
    out.attrs.update({"target": target, "kind": kind, "n_draws": int(n_draws)})
    return out


def scenario_grid(model: Model, *, n_params: ArrayLike, tokens_per_param: ArrayLike,
                  ci_prob: float = 0.9, target: Target = "loss", kind: Kind = "new_run",
                  seed: int = 0) -> pd.DataFrame:
    """Predictive summary over every (model size, tokens per parameter) pair.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    n_params : float or sequence of float
        Model sizes (parameters).
    tokens_per_param : float or sequence of float
        Token multipliers M = D / N.
    ci_prob : float
        Probability mass of the equal-tailed interval.
    target : {"loss", "error"}
    kind : {"new_run", "law_mean"}
    seed : int

    Returns
    -------
    DataFrame
        ``n_params``, ``tokens_per_param``, ``n_tokens``, ``compute_flops`` and ``median``,
        ``mean``, ``lower``, ``upper`` (size-major order); ``attrs`` holds ``ci_prob``,
        ``target``, ``kind``.

    Examples
    --------
    >>> scenario_grid(law, n_params=[1e9, 7e9], tokens_per_param=[20, 200])  # doctest: +SKIP
    """
    ns = _as_1d("n_params", n_params)
    ms = _as_1d("tokens_per_param", tokens_per_param)
    nn, mm = (a.ravel() for a in np.meshgrid(ns, ms, indexing="ij"))
    t = resolve_targets(pd.DataFrame({"n_params": nn, "tokens_per_param": mm}))
    warn_far_extrapolation(_loss_law(model).design_bounds, t)
    draws = predictive_draws(model, t, target=target, kind=kind, seed=seed)
    out = interval_frame(t[["n_params", "tokens_per_param", "n_tokens", "compute_flops"]],
                         draws, ci_prob)
    out.attrs.update({"target": target, "kind": kind})
    return out
