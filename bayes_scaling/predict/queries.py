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

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bayes_scaling.data.design import warn_compute_range, warn_far_extrapolation
from bayes_scaling.data.targets import interval_frame, resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.inference.config import enable_x64

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

Target = Literal["loss", "error"]
Kind = Literal["new_run", "law_mean"]
ArrayLike = float | Sequence[float] | np.ndarray

# Search range of the allocation along a fixed compute budget, as tokens per parameter: from far
# under-trained (0.01 tokens/param) to far over-trained (1e6): every published optimum (~20) and
# over-training regime (up to a few thousand) lies well inside.
_M_SEARCH = (1e-2, 1e6)
_GRID = 257  # grid points in log N; refinement then makes the grid resolution irrelevant
_GOLDEN_ITERS = 60  # bracket shrinks 0.618**60 ~ 3e-13 of two grid cells
_BISECT_ITERS = 100  # bisection in log N from a bracket of ~100 nats down to ~1e-28


@runtime_checkable
class DrawsModel(Protocol):
    """Anything that gives predictive draws at targets (a ``ScalingPredictor``)."""

    def draws(self, targets: pd.DataFrame, *, target: str = ..., kind: str = ...,
              seed: int = ...) -> np.ndarray: ...


Model = LossLaw | DrawsModel


# ------------------------------------------------------------------------------------ helpers
def _loss_law(model: Model) -> LossLaw:
    """The fitted loss law behind ``model`` (a LossLaw, or a predictor's ``loss_law``)."""
    if isinstance(model, LossLaw):
        law = model
    else:
        law = getattr(model, "loss_law", None)
        if not isinstance(law, LossLaw):
            raise TypeError(
                f"expected a fitted LossLaw or a ScalingPredictor, got {type(model).__name__}"
            )
    law._require_fit()  # noqa: SLF001 - one error message for every query
    return law


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


def _num_chains(model: Model, n_draws: int) -> int:
    """Chains behind flattened draws (chain-major), for MCSE; 1 when it cannot be told."""
    try:
        law = _loss_law(model)
    except TypeError:
        return 1
    chains = int(law.idata.posterior.sizes.get("chain", 1))
    return chains if chains > 0 and n_draws % chains == 0 else 1


def _as_1d(name: str, value: ArrayLike | None, *, positive: bool = True) -> np.ndarray | None:
    if value is None:
        return None
    flat = np.atleast_1d(np.asarray(value, dtype=object)).ravel()
    if any(isinstance(v, str | bytes) or not isinstance(v, int | float | np.number)
           or isinstance(v, bool | np.bool_) for v in flat):
        raise TypeError(f"{name} must be a number or a sequence of numbers, got {value!r}; "
                        "write e.g. 2.5 or [1e21, 1e22], not strings")
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a number or a non-empty 1-D sequence, got {value!r}")
    bad = ~np.isfinite(arr) | ((arr <= 0) if positive else False)
    if np.any(bad):
        raise ValueError(f"{name} must be {'positive ' if positive else ''}finite numbers; "
                         f"got {arr[bad][0]!r} at position {int(np.flatnonzero(bad)[0])}")
    return arr


def _summary(draws: np.ndarray, ci_prob: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median and equal-tailed interval over axis 0, robust to +inf draws (unreachable
    targets): with any inf the quantiles use the inverted CDF, which never subtracts infs."""
    if not 0.0 < ci_prob < 1.0:
        raise ValueError(f"ci_prob must lie in (0, 1), got {ci_prob!r}")
    q = [(1 - ci_prob) / 2, 0.5, (1 + ci_prob) / 2]
    method = "linear" if np.all(np.isfinite(draws)) else "inverted_cdf"
    lo, med, hi = np.quantile(draws, q, axis=0, method=method)
    return med, lo, hi


def _add_summary(out: pd.DataFrame, name: str, draws: np.ndarray, ci_prob: float) -> None:
    med, lo, hi = _summary(draws, ci_prob)
    out[f"{name}_median"] = med
    out[f"{name}_lower"] = lo
    out[f"{name}_upper"] = hi


def _centred_params(law: LossLaw) -> tuple[Any, dict[str, np.ndarray], float, float]:
    """The law's spec, its centred parameter draws as ``(n_draws, 1)`` arrays, and the centre."""
    enable_x64()
    post = law.idata.posterior
    p = {k: post[k].values.reshape(-1)[:, None].astype(float) for k in law.spec.params}
    p["log_E"] = np.log(p["E"])
    log_n0, log_d0 = law.centring
    return law.spec, p, log_n0, log_d0


_JITTED: dict[str, Any] = {}


def _log_mu(spec, p, log_n, log_d, log_n0, log_d0) -> np.ndarray:
    """Mean-law log loss at natural log sizes (broadcast against the ``(n_draws, 1)`` params).

    Jitted once per law: run eagerly, each of the law's ~10 array ops would compile its own
    kernel for every new shape (~0.1 s each on CPU), which dominated the queries' run time.
    """
    import jax

    fn = _JITTED.get(spec.name)
    if fn is None:
        fn = _JITTED[spec.name] = jax.jit(spec.log_mu)
    x_n = np.asarray(log_n, dtype=float) - log_n0
    x_d = np.asarray(log_d, dtype=float) - log_d0
    return np.asarray(fn(p, x_n, x_d))


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
        holds ``ci_prob``. ``outside_fitted_range`` marks answers whose median lies below the
        smallest fitted run's compute or over 100x the largest (also warned as
        :class:`~bayes_scaling.ExtrapolationWarning`). Per-draw values:
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
    # an answer outside the fitted compute range is an extrapolation of the law
    out["outside_fitted_range"] = warn_compute_range(
        _loss_law(model).design_bounds, out["compute_flops_median"],
        what="compute-to-target answers (medians) lie")
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
        budgets below the smallest fitted run's compute or over 100x the largest (warned as
        :class:`~bayes_scaling.ExtrapolationWarning`). Per-draw values:
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
    out["p_constrained"] = d["constrained"].mean(axis=0)
    if max_params is not None or min_tokens_per_param is not None:
        _add_summary(out, "excess_loss", d["excess_loss"], ci_prob)
    out.attrs.update({"ci_prob": ci_prob, "query": "optimal_allocation"})
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
