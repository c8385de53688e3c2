"""What every query shares: the model types (a fitted ``LossLaw`` or anything with
``draws``), argument checks, summaries of draws, and the law's mean at centred predictors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.inference.config import enable_x64

Target = Literal["loss", "error"]
Kind = Literal["new_run", "law_mean"]
ArrayLike = float | Sequence[float] | np.ndarray


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
