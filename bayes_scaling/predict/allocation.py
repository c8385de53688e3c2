"""Compute queries, draw by draw: the training compute at which the mean law reaches a loss,
and the compute-optimal split of a budget into parameters and tokens (with bounds on tokens
per parameter)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling.data.design import warn_compute_range
from bayes_scaling.predict._common import (
    ArrayLike,
    Model,
    _add_summary,
    _as_1d,
    _centred_params,
    _log_mu,
    _loss_law,
)

__all__ = ["compute_to_target", "compute_to_target_draws", "optimal_allocation",
           "optimal_allocation_draws"]

# Search range of the allocation along a fixed compute budget, as tokens per parameter: from far
# under-trained (0.01 tokens/param) to far over-trained (1e6): every published optimum (~20) and
# over-training regime (up to a few thousand) lies well inside.
_M_SEARCH = (1e-2, 1e6)
_GRID = 257  # grid points in log N; refinement then makes the grid resolution irrelevant
_GOLDEN_ITERS = 60  # bracket shrinks 0.618**60 ~ 3e-13 of two grid cells
_BISECT_ITERS = 100  # bisection in log N from a bracket of ~100 nats down to ~1e-28


def compute_to_target_draws(model: Model, *, loss: ArrayLike,
                            tokens_per_param: ArrayLike = 20.0) -> dict[str, np.ndarray]:
    """Per-draw training compute at which the mean-law loss reaches ``loss``, along the ray of
    fixed tokens per parameter ``M = D / N``.

    Each draw's law is solved for ``N`` with ``L(N, M N) = loss`` by bisection in ``log N`` (the
    mean law falls monotonically along the ray); then ``C = 6 M N^2``. A draw whose irreducible
    loss ``E`` is at or above ``loss`` can never reach it: its compute is ``+inf``.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    loss : float or sequence of float
        Target mean losses (nats/token).
    tokens_per_param : float or sequence of float
        Token multipliers; every loss is paired with every multiplier (loss-major order).

    Returns
    -------
    dict of str to ndarray
        ``loss``, ``tokens_per_param`` (``(n_queries,)``) and ``compute_flops``, ``n_params``,
        ``n_tokens`` (``(n_draws, n_queries)``, ``inf`` where unreachable) and ``reachable``
        (bool, same shape).

    Examples
    --------
    >>> d = compute_to_target_draws(law, loss=[2.6, 2.5], tokens_per_param=20)  # doctest: +SKIP
    >>> d["compute_flops"].shape  # doctest: +SKIP
    (1000, 2)
    """
    law = _loss_law(model)
    losses = _as_1d("loss", loss)
    ms = _as_1d("tokens_per_param", tokens_per_param)
    lq, mq = (a.ravel() for a in np.meshgrid(losses, ms, indexing="ij"))
    spec, p, log_n0, log_d0 = _centred_params(law)
    log_target = np.log(lq)[None, :]
    log_m = np.log(mq)[None, :]
    reachable = np.broadcast_to(p["E"] < lq[None, :], (p["E"].shape[0], lq.size)).copy()

    def excess(x):  # > 0 while the law at N = e^x is still above the target
        return _log_mu(spec, p, x, x + log_m, log_n0, log_d0) - log_target

    # bracket: one parameter up to 1e40 parameters, far past anything trainable; a target the
    # law reaches only beyond it is reported unreachable too
    lo = np.zeros(reachable.shape)
    hi = np.full(reachable.shape, np.log(1e40))
    reachable &= excess(hi) <= 0
    for _ in range(_BISECT_ITERS):
        mid = 0.5 * (lo + hi)
        above = excess(mid) > 0
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
        if np.max(hi - lo) < 1e-13:
            break
    log_n = np.where(reachable, hi, np.inf)
    n_params = np.exp(log_n)
    return {
        "loss": lq,
        "tokens_per_param": mq,
        "n_params": n_params,
        "n_tokens": n_params * mq[None, :],
        "compute_flops": 6.0 * mq[None, :] * n_params**2,
        "reachable": reachable,
    }


def compute_to_target(model: Model, *, loss: ArrayLike, tokens_per_param: ArrayLike = 20.0,
                      ci_prob: float = 0.9) -> pd.DataFrame:
    """Posterior of the compute needed to reach a mean-law loss at fixed tokens per parameter.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    loss : float or sequence of float
        Target mean losses (nats/token).
    tokens_per_param : float or sequence of float
        Token multipliers M = D / N (20 is roughly compute-optimal); all pairs are queried.
    ci_prob : float
        Probability mass of the equal-tailed intervals.

    Returns
    -------
    DataFrame
        One row per (loss, tokens_per_param): ``compute_flops_{median,lower,upper}``,
        ``n_params_*``, ``n_tokens_*`` and ``p_reachable`` (share of draws whose irreducible
        loss lies below the target). Unreachable draws count as ``+inf`` compute, so an upper
        bound of ``inf`` says the target may be out of reach at that credibility; ``attrs``
        holds ``ci_prob``. ``outside_fitted_range`` marks answers whose median run lies outside
        the fitted runs at all (a larger model, more compute, or tokens per parameter outside
        their range: :meth:`~bayes_scaling.data.design.DesignBounds.outside`); medians below
        the smallest fitted run's compute or over 100x the largest are also warned as
        :class:`~bayes_scaling.ExtrapolationWarning`. Per-draw values:
        :func:`compute_to_target_draws`.

    Examples
    --------
    >>> compute_to_target(law, loss=[2.6, 2.5], tokens_per_param=[20, 320])  # doctest: +SKIP
    """
    d = compute_to_target_draws(model, loss=loss, tokens_per_param=tokens_per_param)
    out = pd.DataFrame({"loss": d["loss"], "tokens_per_param": d["tokens_per_param"]})
    for name in ("compute_flops", "n_params", "n_tokens"):
        _add_summary(out, name, d[name], ci_prob)
    out["p_reachable"] = d["reachable"].mean(axis=0)
    # an answer outside the fitted runs is an extrapolation of the law (warned when far)
    bounds = _loss_law(model).design_bounds
    far = warn_compute_range(bounds, out["compute_flops_median"],
                             what="compute-to-target answers (medians) lie")
    out["outside_fitted_range"] = far | bounds.outside(out["n_params_median"],
                                                       out["n_tokens_median"])
    out.attrs.update({"ci_prob": ci_prob, "query": "compute_to_target"})
    return out


def _golden_min(f, lo: np.ndarray, hi: np.ndarray, iters: int) -> np.ndarray:
    """Vectorised golden-section search for the minimum of unimodal ``f`` on ``[lo, hi]``."""
    r = (np.sqrt(5.0) - 1.0) / 2.0
    c = hi - r * (hi - lo)
    d = lo + r * (hi - lo)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        left = fc < fd  # minimum in [lo, d]
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        c_new = hi - r * (hi - lo)
        d_new = lo + r * (hi - lo)
        # golden ratio: one of the two interior points (and its value) carries over
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
        f_new = f(np.where(left, c, d))
        fc, fd = np.where(left, f_new, fd), np.where(left, fc, f_new)
    return 0.5 * (lo + hi)


def _argmin_log_n(spec, p, log_c6: float, lo: float, hi: float, log_n0, log_d0) -> np.ndarray:
    """Per-draw loss-minimising log N on ``[lo, hi]`` for budget ``C = 6 e^{log_c6}``."""
    n_draws = p["E"].shape[0]
    if hi - lo < 1e-12:
        return np.full(n_draws, hi)
    grid = np.linspace(lo, hi, _GRID)[None, :]
    vals = _log_mu(spec, p, grid, log_c6 - grid, log_n0, log_d0)
    i = np.argmin(vals, axis=1)
    # the minimum of a unimodal function lies between the grid neighbours of the grid argmin
    step = grid[0, 1] - grid[0, 0]
    a = np.maximum(grid[0, i] - step, lo)[:, None]
    b = np.minimum(grid[0, i] + step, hi)[:, None]

    def f(x):
        return _log_mu(spec, p, x, log_c6 - x, log_n0, log_d0)

    return _golden_min(f, a, b, _GOLDEN_ITERS)[:, 0]


def optimal_allocation_draws(model: Model, *, compute_flops: ArrayLike,
                             max_params: float | None = None,
                             min_tokens_per_param: float | None = None) -> dict[str, np.ndarray]:
    """Per-draw loss-minimising allocation of a training budget ``C = 6 N D``.

    For each posterior draw, minimises the mean-law loss over ``log N`` with ``D = C / (6 N)``:
    a grid over tokens per parameter from 0.01 to 1e6 finds the basin, a golden-section search
    refines it, all draws at once. ``max_params`` and ``min_tokens_per_param`` (over-training
    for cheaper inference) both cap N; the law is unimodal along the budget, so the constrained
    optimum is the cap whenever the unconstrained one lies beyond it.

    Returns
    -------
    dict of str to ndarray
        ``compute_flops`` ``(n_budgets,)``; ``n_params``, ``n_tokens``, ``tokens_per_param``,
        ``loss`` (mean law at the optimum) and ``constrained`` (the cap binds) each
        ``(n_draws, n_budgets)``; ``excess_loss``: loss at the constrained optimum minus the
        unconstrained one (zeros without constraints).
    """
    law = _loss_law(model)
    budgets = _as_1d("compute_flops", compute_flops)
    if max_params is not None and not (np.isfinite(max_params) and max_params > 0):
        raise ValueError(f"max_params must be a positive number, got {max_params!r}")
    if min_tokens_per_param is not None and not (
            np.isfinite(min_tokens_per_param) and min_tokens_per_param > 0):
        raise ValueError(f"min_tokens_per_param must be a positive number, "
                         f"got {min_tokens_per_param!r}")
    spec, p, log_n0, log_d0 = _centred_params(law)
    n_draws = p["E"].shape[0]
    shape = (n_draws, budgets.size)
    out = {k: np.empty(shape) for k in ("n_params", "loss", "excess_loss")}
    out["constrained"] = np.zeros(shape, dtype=bool)
    for j, c in enumerate(budgets):
        log_c6 = np.log(c / 6.0)  # log N + log D
        # N = sqrt(C / (6 M)): the M search range in log N
        lo = 0.5 * (log_c6 - np.log(_M_SEARCH[1]))
        hi_free = 0.5 * (log_c6 - np.log(_M_SEARCH[0]))
        cap = np.inf
        if max_params is not None:
            cap = min(cap, np.log(max_params))
        if min_tokens_per_param is not None:
            cap = min(cap, 0.5 * (log_c6 - np.log(min_tokens_per_param)))
        free = _argmin_log_n(spec, p, log_c6, lo, hi_free, log_n0, log_d0)
        free_loss = np.exp(_log_mu(spec, p, free[:, None], log_c6 - free[:, None],
                                   log_n0, log_d0)[:, 0])
        if np.isfinite(cap):
            hi = min(hi_free, cap)
            x = _argmin_log_n(spec, p, log_c6, min(lo, hi), hi, log_n0, log_d0)
            # binds when the free optimum lies past the cap (tolerance: refinement precision)
            out["constrained"][:, j] = free > hi + 1e-9
        else:
            x = free
        loss = np.exp(_log_mu(spec, p, x[:, None], log_c6 - x[:, None], log_n0, log_d0)[:, 0])
        out["n_params"][:, j] = np.exp(x)
        out["loss"][:, j] = loss
        out["excess_loss"][:, j] = np.maximum(loss - free_loss, 0.0)
    out["n_tokens"] = budgets[None, :] / (6.0 * out["n_params"])
    out["tokens_per_param"] = out["n_tokens"] / out["n_params"]
    out["compute_flops"] = budgets
    return out


def optimal_allocation(model: Model, *, compute_flops: ArrayLike,
                       max_params: float | None = None,
                       min_tokens_per_param: float | None = None,
                       ci_prob: float = 0.9) -> pd.DataFrame:
    """Posterior over the loss-minimising model size and token count for a compute budget.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    compute_flops : float or sequence of float
        Training budgets C = 6 N D in FLOPs.
    max_params : float, optional
        Largest model you would serve (parameters): over-training when it binds.
    min_tokens_per_param : float, optional
        Train at least this many tokens per parameter (e.g. 100 for a model built to be cheap
        at inference): the over-trained variant of the allocation.
    ci_prob : float
        Probability mass of the equal-tailed intervals.

    Returns
    -------
    DataFrame
        One row per budget: ``n_params_*``, ``n_tokens_*``, ``tokens_per_param_*``, ``loss_*``
        (median, lower, upper; loss is the mean law at the optimum), ``p_constrained`` (share of
        draws whose optimum is cut by the constraints) and, with a constraint,
        ``excess_loss_*``: what the constraint costs in loss; ``outside_fitted_range`` marks
        budgets whose median optimum lies outside the fitted runs at all (see
        :func:`compute_to_target`); budgets below the smallest fitted run's compute or over
        100x the largest are also warned as :class:`~bayes_scaling.ExtrapolationWarning`.
        Per-draw values:
        :func:`optimal_allocation_draws`.

    Examples
    --------
    >>> optimal_allocation(law, compute_flops=[1e21, 1e23])  # doctest: +SKIP
    >>> optimal_allocation(law, compute_flops=1e23, min_tokens_per_param=200)  # doctest: +SKIP
    """
    d = optimal_allocation_draws(model, compute_flops=compute_flops, max_params=max_params,
                                 min_tokens_per_param=min_tokens_per_param)
    out = pd.DataFrame({"compute_flops": d["compute_flops"]})
    out["outside_fitted_range"] = warn_compute_range(_loss_law(model).design_bounds,
                                                     d["compute_flops"], what="budgets lie")
    out["max_params"] = np.nan if max_params is None else float(max_params)
    out["min_tokens_per_param"] = (np.nan if min_tokens_per_param is None
                                   else float(min_tokens_per_param))
    for name in ("n_params", "n_tokens", "tokens_per_param", "loss"):
        _add_summary(out, name, d[name], ci_prob)
    out["outside_fitted_range"] |= _loss_law(model).design_bounds.outside(
        out["n_params_median"], out["n_tokens_median"])
    out["p_constrained"] = d["constrained"].mean(axis=0)
    if max_params is not None or min_tokens_per_param is not None:
        _add_summary(out, "excess_loss", d["excess_loss"], ci_prob)
    out.attrs.update({"ci_prob": ci_prob, "query": "optimal_allocation"})
    return out
