"""Simulated runs tables from known law parameters (parameter recovery, SBC, design studies).

Examples
--------
>>> runs = simulate_runs("gadre", {"E": 1.8, "A": 400.0, "B": 900.0, "eta": 0.3},
...                      gadre_design(), sigma=0.01, seed=0)
>>> len(runs)
32
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_scaling.inference.config import check_seed
from bayes_scaling.laws.forms import get_law

__all__ = ["gadre_design", "simulate_error_runs", "simulate_runs"]

GADRE_SMALL_SIZES = (10569312, 78914048, 153677376, 411616256)
GADRE_MULTIPLIERS = (5, 10, 20, 40, 80, 160, 320, 640)


def gadre_design(sizes=GADRE_SMALL_SIZES, multipliers=GADRE_MULTIPLIERS) -> pd.DataFrame:
    """The design of Gadre et al.'s small runs: every size x every token multiplier M = D/N."""
    n, m = np.meshgrid(np.asarray(sizes, float), np.asarray(multipliers, float), indexing="ij")
    return pd.DataFrame({"n_params": n.ravel().astype(np.int64), "n_tokens": (n * m).ravel()})


def simulate_runs(law: str, params: Mapping[str, float], design: pd.DataFrame, *,
                  sigma: float = 0.0, loss: str = "loss_sim", seed: int,
                  dataset: str = "sim") -> pd.DataFrame:
    """Runs whose log loss is the law's log mean plus Normal(0, sigma) noise.

    Parameters
    ----------
    law : str
        Registered loss law.
    params : mapping
        Natural-unit parameters: ``E, A, B`` and the law's exponents.
    design : DataFrame
        ``n_params`` and ``n_tokens`` of each run.
    sigma : float
        Run-to-run noise on log loss (relative error).
    """
    spec = get_law(law)
    n = design["n_params"].to_numpy(float)
    d = design["n_tokens"].to_numpy(float)
    alpha = spec.size_exponent(params)
    beta = spec.data_exponent(params)
    mu = params["E"] + params["A"] * n ** (-alpha) + params["B"] * d ** (-beta)
    rng = np.random.default_rng(check_seed(seed))
    y = mu * np.exp(sigma * rng.standard_normal(len(n)))
    return pd.DataFrame({
        "run_id": [f"{dataset}-{i}" for i in range(len(n))],
        "dataset": dataset,
        "n_params": design["n_params"].to_numpy(np.int64),
        "n_tokens": d,
        "tokens_per_param": d / n,
        "compute_flops": 6.0 * n * d,
        loss: y,
    })


def simulate_error_runs(n_runs: int, *, chance: float = 0.75, floor: float = 0.2,
                        slope: float = 3.0, midpoint: float = 3.0, n_items: float = 1000.0,
                        sigma: float = 0.01, loss_range: tuple[float, float] = (2.2, 4.5),
                        loss_sd: float = 0.005, error: str = "err_sim", loss: str = "loss_sim",
                        seed: int) -> pd.DataFrame:
    """Runs with a downstream error that follows a sigmoid between chance and a ceiling.

    True losses are evenly spaced in log over ``loss_range`` (nats; the same ladder for every
    seed, so fits of many simulated tasks share one compiled sampler); each run's error is the
    sigmoid law (:func:`bayes_scaling.laws.forms.sigmoid_error`) at its true loss plus binomial
    sampling error over ``n_items`` test items plus normal scatter ``sigma``; the observed loss
    adds normal measurement error ``loss_sd`` (its 95% half-width is in ``<loss>_ci``). Sizes and
    tokens are made up to match (compute-optimal-ish, ``n_tokens = 20 n_params``) so the table
    validates as a runs table; higher compute means lower loss. ``true_loss`` holds the
    noise-free losses.

    Examples
    --------
    >>> runs = simulate_error_runs(30, seed=0)
    >>> runs[["loss_sim", "err_sim"]].shape
    (30, 2)
    """
    from bayes_scaling.laws.forms import sigmoid_error

    rng = np.random.default_rng(seed)
    lo, hi = loss_range
    true_loss = np.geomspace(hi, lo, n_runs)
    mean = np.asarray(sigmoid_error(true_loss, chance=chance, floor=floor, slope=slope,
                                    midpoint=midpoint))
    if n_items > 0:
        mean = rng.binomial(int(n_items), np.clip(mean, 0.0, 1.0)) / n_items
    err = np.clip(mean + sigma * rng.standard_normal(n_runs), 0.0, 1.0)
    n_params = np.geomspace(1e7, 1e10, n_runs).round()
    out = pd.DataFrame({
        "run_id": [f"sim{i:04d}" for i in range(n_runs)],
        "dataset": "simulated",
        "n_params": n_params.astype(np.int64),
        "n_tokens": 20.0 * n_params,
    })
    out["tokens_per_param"] = out["n_tokens"] / out["n_params"]
    out["compute_flops"] = 6.0 * out["n_params"] * out["n_tokens"]
    out[loss] = true_loss + loss_sd * rng.standard_normal(n_runs)
    out[f"{loss}_ci"] = 1.959964 * loss_sd
    out[error] = err
    out["true_loss"] = true_loss
    return out
