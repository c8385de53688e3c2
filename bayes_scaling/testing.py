"""Fabricated posteriors for tests and examples: a fitted-looking ``LossLaw`` without sampling.

Everything after sampling (prediction, queries, plots, reports, save/load) is tested on these, so
the default test suite stays fast; only a few tests run NUTS.

Examples
--------
>>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
>>> truth = {"E": 1.66, "A": 101.0, "B": 206.0, "eta": 0.245}
>>> runs = simulate_runs("gadre", truth, gadre_design(), sigma=0.01, seed=0)
>>> law = fabricated_loss_law(runs, truth, loss="loss_sim", seed=0)
>>> law.idata.posterior.sizes["draw"]
250
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from bayes_scaling.estimators.loss_law import LossLaw

__all__ = ["fabricated_loss_law", "FAST_SAMPLER", "TRUE_GADRE"]

#: Small NUTS settings for tests: 2 chains x (300 warm-up + 300 draws).
FAST_SAMPLER = {"num_warmup": 300, "num_samples": 300, "num_chains": 2}
#: Natural-unit gadre-law parameters close to the RedPajama C4-eval posterior median.
TRUE_GADRE = {"E": 1.66, "A": 101.0, "B": 206.0, "eta": 0.245}


def fabricated_loss_law(
    runs: pd.DataFrame,
    truth: Mapping[str, float],
    *,
    law: str = "gadre",
    loss: str = "loss_c4_val",
    sigma: float = 0.01,
    nu: float = 30.0,
    noise: str = "mixture",
    outlier_prob: float = 0.05,
    outlier_scale: float = 0.05,
    spread: float = 0.02,
    num_chains: int = 4,
    num_draws: int = 250,
    seed: int = 0,
) -> LossLaw:
    """A ``LossLaw`` whose posterior is fabricated around natural-unit ``truth``.

    Each parameter's draws scatter around its true value with relative sd ``spread`` (exponents
    and E) and the run-to-run noise draws around ``sigma``. Sample stats mimic a clean fit
    (no divergences), so diagnostics pass unless the draws themselves disagree. With Student-t
    noise the degrees of freedom scatter around ``nu``; with the mixture (default) the outlier
    probability and scale around ``outlier_prob`` and ``outlier_scale``. The fabricated fit has
    no extrapolation discrepancy (``discrepancy_.method == "none"``).
    """
    obj = LossLaw(law, loss=loss, noise=noise)
    kw, meta = obj._prepare(runs)
    rng = np.random.default_rng(seed)
    shape = (num_chains, num_draws)
    spec = obj.spec
    post = {}
    for k in spec.exponents:
        post[k] = truth[k] * np.exp(spread * rng.standard_normal(shape))
    post["E"] = truth["E"] * np.exp(spread * rng.standard_normal(shape))
    # centred amplitudes from natural ones: a = log A - alpha log N0 (per draw)
    post["a"] = np.log(truth["A"]) - spec.size_exponent(post) * meta["log_n0"]
    post["b"] = np.log(truth["B"]) - spec.data_exponent(post) * meta["log_d0"]
    post["sigma"] = np.abs(sigma * (1 + 0.1 * rng.standard_normal(shape)))
    if noise == "student_t":
        post["nu"] = nu * np.exp(0.1 * rng.standard_normal(shape))
    if noise == "mixture":
        post["outlier_prob"] = np.clip(outlier_prob * np.exp(0.1 * rng.standard_normal(shape)),
                                       1e-6, 0.999)
        post["outlier_scale"] = outlier_scale * np.exp(0.1 * rng.standard_normal(shape))
    stats = {
        "diverging": np.zeros(shape, bool),
        "n_steps": np.full(shape, 7),
        "tree_depth": np.full(shape, 3),
        "lp": rng.standard_normal(shape),
        "energy": rng.standard_normal(shape) * 2.0,
        "acceptance_rate": np.full(shape, 0.9),
        "step_size": np.full(shape, 0.3),
    }
    from bayes_scaling.inference.config import backend_info

    facts = {"chain_method": "fabricated", **backend_info()}
    obj.idata = obj._build_datatree(post, stats, kw, meta, seed=seed, facts=facts)
    return obj
