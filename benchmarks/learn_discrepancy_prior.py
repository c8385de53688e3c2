"""Learn the population prior of the loss law's extrapolation discrepancy from the atlas.

Usage::

    .venv/bin/python benchmarks/learn_discrepancy_prior.py [--out out/atlas] [--write]

Reads the ladder records cached by ``benchmarks/extrapolation_atlas.py fit`` and prints the
learned hyperparameters; ``--write`` stores them as the package's default
(``bayes_scaling/data/bundled/discrepancy_population.json``).

Model
-----
Ladder ``l`` has its own ``(kappa_l, gamma_l)`` (discrepancy per unit distance at its reference
compute, and its trend with the compute of the cut; :mod:`bayes_scaling.estimators.extrapolation`).
Its evidence is its leave-future-out cuts and its far targets, the latter scored as one more
cut at the fit's largest compute: ``r ~ N(0, diag(s^2) + U U^T + kappa_c^2 (d d^T) * K)``
(:func:`~bayes_scaling.estimators.discrepancy.evidence_log_likelihood`), a likelihood surface
``L_l`` over a grid of ``(log kappa, gamma)``. The population::

    log kappa_l ~ Normal(mu, tau),     gamma_l ~ Normal(mu_g, tau_g)

with weakly informative hyperpriors ``mu`` flat on [log 1e-4, log 0.3], ``tau ~ HalfNormal(1)``,
``mu_g ~ Normal(0, 0.5)`` (the old per-ladder prior of ``gamma``), ``tau_g ~ HalfNormal(0.5)``,
and a grid posterior over the four. Each ladder's marginal ``m_l(theta) = sum L_l x prior``
enters the hyper-likelihood with weight ``1 / n_g``, ``n_g`` the number of ladders of its
group (one training set, or one simulated truth): the 8 eval sets of one training set are
scored on the same runs, so their misses are close to one draw, and a random effect on
``kappa`` alone would still count their residuals as independent. Down-weighting counts each
training set once (a power likelihood); it is the conservative choice.

The shipped prior is the population's predictive for a *new* ladder, ``log kappa ~ sum_theta
p(theta | atlas) Normal(mu, tau)`` (and the same for ``gamma``), moment-matched to one normal:
hyperparameter uncertainty from ~14 groups is part of it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy import special

from bayes_scaling.estimators.discrepancy import evidence_log_likelihood

POPULATION_PATH = (Path(__file__).resolve().parents[1] / "bayes_scaling" / "data" / "bundled"
                   / "discrepancy_population.json")
# the per-ladder likelihood grid: log kappa_ref and gamma
U_GRID = np.linspace(np.log(1e-5), np.log(2.0), 121)
G_GRID = np.linspace(-2.0, 2.0, 41)
# the hyperparameter grids
MU = np.linspace(np.log(1e-4), np.log(0.3), 61)
TAU = np.geomspace(0.05, 3.0, 40)
MU_G = np.linspace(-1.5, 1.5, 31)
TAU_G = np.geomspace(0.02, 1.5, 25)
CITATION = [
    "Gadre et al. 2024, Language models scale reliably with over-training and on downstream "
    "tasks (arXiv:2403.08540): 3 corpora x 8 eval losses (bayes_scaling's bundled gadre2024)",
    "Besiroglu et al. 2024, Chinchilla Scaling: A replication attempt (arXiv:2404.10102): "
    "Epoch's Chinchilla points",
    "Brandfonbrener, Anand, Vyas, Malach, Kakade 2024, Loss-to-Loss Prediction: Scaling Laws "
    "for All Datasets (arXiv:2411.12925); KempnerInstitute/loss-to-loss-notebooks @457ce81a",
    "Li et al. 2025, Predictable Scale: Part I, Step Law (arXiv:2503.04715); "
    "step-law/steplaw @32a8f4cc, dense grid, best run per cell",
    "simulated: the 32-run Gadre design drawn from three laws not in the model "
    "(benchmarks/calibration_suites.py TRUTHS)",
]


def ladder_points(rec: dict) -> tuple[list[dict], float]:
    """A ladder's evidence: its leave-future-out points and its far targets (one more cut, at
    the fit's largest compute), and the log compute its ``kappa_ref`` refers to."""
    disc = rec["discrepancy"]
    lfo = list(disc["points"])
    far = [dict(p, cutoff_flops=float(np.exp(rec["log_c_fit"]))) for p in rec["far"]]
    # no LFO cut: kappa_ref is the fit's kappa (the far cut gets no shift)
    log_c_ref = float(disc["log_c_ref"]) if lfo else float(rec["log_c_fit"])
    return lfo + far, log_c_ref


def ladder_surface(rec: dict) -> np.ndarray:
    """Log likelihood of the ladder's evidence on ``U_GRID x G_GRID``."""
    pts, log_c_ref = ladder_points(rec)
    return evidence_log_likelihood(pts, np.exp(U_GRID), G_GRID, log_c_ref=log_c_ref)


def surfaces(records: list[dict], cache: Path | None = None) -> dict[str, np.ndarray]:
    """Each ladder's surface, cached in ``cache`` (an .npz) keyed by ladder name."""
    have: dict[str, np.ndarray] = {}
    if cache is not None and cache.exists():
        with np.load(cache) as z:
            have = {k: z[k] for k in z.files}
    out = {}
    for r in records:
        key = r["ladder"]
        out[key] = have[key] if key in have else ladder_surface(r)
    if cache is not None and set(out) - set(have):
        np.savez(cache, **(have | out))
    return out


def _normal_cell_weights(grid: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """``(len(mean), len(grid))``: a normal's mass per cell of ``grid`` (cells between
    midpoints), the tails beyond the grid in its end cells."""
    mid = 0.5 * (grid[1:] + grid[:-1])
    edges = np.concatenate([[-np.inf], mid, [np.inf]])
    z = (edges[None, :] - mean[:, None]) / sd[:, None]
    return np.diff(special.ndtr(z), axis=1)


def hyper_log_likelihood(surf: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    """``sum_l w_l log m_l(theta)`` on the hyper grid ``(MU x TAU, MU_G x TAU_G)``."""
    mu, tau = np.meshgrid(MU, TAU, indexing="ij")
    a = _normal_cell_weights(U_GRID, mu.ravel(), tau.ravel())  # (Tu, U)
    mg, tg = np.meshgrid(MU_G, TAU_G, indexing="ij")
    b = _normal_cell_weights(G_GRID, mg.ravel(), tg.ravel())  # (Tg, G)
    total = np.zeros((a.shape[0], b.shape[0]))
    for key, s in surf.items():
        top = s.max()
        m = a @ np.exp(s - top) @ b.T
        total += weights[key] * (np.log(np.maximum(m, 1e-300)) + top)
    return total


def group_weights(records: list[dict]) -> dict[str, float]:
    """1 / (ladders in the record's group): each training set (or simulated truth) counts once."""
    counts: dict[str, int] = {}
    for r in records:
        counts[r["group"]] = counts.get(r["group"], 0) + 1
    return {r["ladder"]: 1.0 / counts[r["group"]] for r in records}


def learn(records: list[dict], cache: Path | None = None) -> dict:
    """The population's hyperposterior and its predictive for a new ladder."""
    if not records:
        raise ValueError("no ladder records: run benchmarks/extrapolation_atlas.py fit first")
    surf = surfaces(records, cache)
    ll = hyper_log_likelihood(surf, group_weights(records))
    mu, tau = (v.ravel() for v in np.meshgrid(MU, TAU, indexing="ij"))
    mg, tg = (v.ravel() for v in np.meshgrid(MU_G, TAU_G, indexing="ij"))
    # hyperpriors; tau and tau_g are on log-spaced grids: a cell's width is proportional to it
    lp_u = -0.5 * tau**2 + np.log(tau)
    lp_g = -0.5 * (mg / 0.5) ** 2 - 0.5 * (tg / 0.5) ** 2 + np.log(tg)
    lp = ll + lp_u[:, None] + lp_g[None, :]
    post = np.exp(lp - lp.max())
    post /= post.sum()
    pu, pg = post.sum(axis=1), post.sum(axis=0)
    # predictive of a new ladder, moment-matched: E[mu], E[tau^2] + Var(mu)
    m_u = float(pu @ mu)
    s_u = float(np.sqrt(pu @ tau**2 + pu @ (mu - m_u) ** 2))
    m_g = float(pg @ mg)
    s_g = float(np.sqrt(pg @ tg**2 + pg @ (mg - m_g) ** 2))
    i, j = np.unravel_index(np.argmax(ll), ll.shape)

    def q(x, w):
        order = np.argsort(x)
        return [float(np.interp(p, np.cumsum(w[order]), x[order])) for p in (0.05, 0.5, 0.95)]

    groups = sorted({r["group"] for r in records})
    return {
        "prior": {"kind": "lognormal", "kappa_scale": 0.01, "log_kappa_mean": round(m_u, 4),
                  "log_kappa_sd": round(s_u, 4), "gamma_mean": round(m_g, 4),
                  "gamma_sd": round(s_g, 4)},
        "hyperposterior": {"mu_q05_50_95": q(mu, pu), "tau_q05_50_95": q(tau, pu),
                           "mu_gamma_q05_50_95": q(mg, pg), "tau_gamma_q05_50_95": q(tg, pg),
                           "max_marginal_likelihood": {"mu": float(mu[i]), "tau": float(tau[i]),
                                                       "mu_gamma": float(mg[j]),
                                                       "tau_gamma": float(tg[j])}},
        "kappa_median_new_ladder": float(np.exp(m_u)),
        "n_ladders": len(records), "n_groups": len(groups),
        "families": sorted({r["family"] for r in records}),
    }


def population_file(result: dict) -> dict:
    """The shipped JSON: the prior, how it was learned, the data it was learned from."""
    return {
        "prior": result["prior"],
        "learned_by": "benchmarks/extrapolation_atlas.py fit; benchmarks/learn_discrepancy_prior.py",
        "model": "log kappa_ref ~ Normal(mu, tau), gamma ~ Normal(mu_g, tau_g) across ladders; "
                 "grid hyperposterior, each training set's ladders weighted to count once; the "
                 "prior is the predictive of a new ladder, moment-matched to one normal",
        "hyperposterior": result["hyperposterior"],
        "n_ladders": result["n_ladders"], "n_groups": result["n_groups"],
        "families": result["families"], "data": CITATION,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/atlas")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from extrapolation_atlas import load_records

    records = load_records(args.out)
    result = learn(records, Path(args.out) / "surfaces.npz")
    print(json.dumps(result, indent=1))
    if args.write:
        POPULATION_PATH.write_text(json.dumps(population_file(result), indent=1) + "\n")
        print(f"wrote {os.path.relpath(POPULATION_PATH)}")


if __name__ == "__main__":
    main()
