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

from bayes_scaling.inference.nuts import check_seed
from bayes_scaling.laws.forms import get_law

__all__ = ["gadre_design", "simulate_runs"]

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
