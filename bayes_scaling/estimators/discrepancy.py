"""The extrapolation discrepancy of a fit, as a value: :class:`Discrepancy`.

A law fitted on small runs is most wrong where it is extrapolated furthest. Every estimator's
new-run predictive adds a discrepancy ``delta ~ N(0, (kappa d)^2)`` at a target's extrapolation
distance ``d`` beyond its fitted runs (log compute and log tokens per parameter for loss laws,
:class:`~bayes_scaling.data.design.DesignBounds`; log loss below the smallest fitted loss for
error laws). :class:`Discrepancy` holds the grid posterior of ``kappa`` (and of its trend with
the compute of the fit), the leave-future-out evidence it was learned from, and the record of
every refit that produced that evidence (:mod:`bayes_scaling.estimators.lfo`, the one engine
that runs them). :func:`evidence_log_likelihood` scores the evidence: the held-out runs of one
cut jointly (their scatter, the refit's shared parameter error and one discrepancy draw
correlated by nearness in the design), the cuts independently
(:mod:`bayes_scaling.estimators.extrapolation` gives the full story for loss laws).

This module is a leaf of the estimators: it imports no estimator, so any of them, the
predictors and the report can read a discrepancy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.inference.config import check_seed
from bayes_scaling.laws.discrepancy_prior import DiscrepancyPrior

__all__ = ["Discrepancy", "GAMMA_PRIOR_SCALE", "KAPPA_PRIOR_SCALE", "cut_key",
           "evidence_log_likelihood", "noise_variance", "param_factor", "weigh_by_run"]

#: Scale of :meth:`Discrepancy.from_evidence`'s default prior of kappa (HalfNormal): log-loss
#: discrepancy per natural-log unit of distance. The loss law's prior until 2026-12-07; since
#: then :func:`~bayes_scaling.laws.discrepancy_prior.population_prior`.
KAPPA_PRIOR_SCALE = 0.01
#: Prior scale of the trend gamma (Normal): d log kappa / d log compute of the cut-off.
GAMMA_PRIOR_SCALE = 0.5
# kappa at a cut is evaluated on this grid (log-spaced) and interpolated in log kappa; a
# lognormal prior's grid reaches lower (below 1e-5 a cut's likelihood is flat)
_KCUT_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 3.0, 90)])
_KCUT_GRID_WIDE = np.concatenate([[0.0], np.geomspace(1e-5, 3.0, 100)])
# correlation lengths (natural-log units in N and M) of the discrepancy across one cut's runs,
# marginalised with equal weights; inf: one shared draw per cut
_LENGTH_SCALES = (0.5, 1.0, 2.0, 4.0, np.inf)
_MAX_CUT_POINTS = 120
# rank of the factor of the refit's log-mean covariance at the held-out runs: a law has 4-5
# parameters, so 6 directions hold nearly all of it
_FACTOR_RANK = 6


@dataclass(frozen=True)
class Discrepancy:
    """The learned extrapolation discrepancy of one fit.

    Attributes
    ----------
    method : {"lfo", "prior", "none"}
        ``"lfo"``: ``kappa``'s posterior from leave-future-out; ``"prior"``: too few runs to
        refit, the prior alone; ``"none"``: no discrepancy (``LossLaw(discrepancy=None)``).
    kappa_grid, gamma_grid : tuple of float
        Grids of ``kappa_ref`` (discrepancy per unit distance at the reference compute) and of
        the trend ``gamma`` (``gamma_grid == (0.0,)``: no trend, e.g. fits saved before the trend).
    weights : tuple of float
        Grid posterior over ``kappa_grid x gamma_grid`` (row-major, sums to 1).
    points : tuple of dict
        The LFO evidence: ``run_id``, ``cutoff_flops``, ``distance``, ``residual``, ``pred_sd``.
    cutoffs : tuple of float
        Compute cut-offs of the refits.
    log_c_ref, log_c_fit : float
        Log compute at which ``kappa_ref`` applies (mean log cut-off) and of the fit itself (its
        largest run): the fit's ``kappa = kappa_ref * exp(gamma * (log_c_fit - log_c_ref))``.
    prior : dict or None
        The prior of ``(kappa_ref, gamma)``
        (:meth:`~bayes_scaling.laws.discrepancy_prior.DiscrepancyPrior.to_dict`); ``None`` in
        files written before 2026-12-07, whose prior was ``HalfNormal(kappa_grid[-1] / 15)``.
    refits : tuple of dict
        One record per leave-future-out refit (:func:`~bayes_scaling.estimators.lfo.refit_record`:
        ``cutoff`` and its ``unit``, ``n_fit``, ``n_held``, ``max_rhat``, ``min_ess``, ``divergences``,
        ``used``, ``problems``); a refit that failed its diagnostics has ``used=False`` and
        gave no points. Empty in files written before 2026-12-08.
    """

    method: str
    kappa_grid: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()
    points: tuple[dict, ...] = field(default=())
    cutoffs: tuple[float, ...] = ()
    gamma_grid: tuple[float, ...] = (0.0,)
    log_c_ref: float = 0.0
    log_c_fit: float = 0.0
    prior: dict | None = None
    refits: tuple[dict, ...] = ()

    @classmethod
    def none(cls) -> Discrepancy:
        return cls("none")

    @classmethod
    def from_evidence(cls, points: Sequence[dict], cutoffs: Sequence[float], *,
                      log_c_fit: float | None = None, prior: DiscrepancyPrior | None = None,
                      prior_scale: float = KAPPA_PRIOR_SCALE, trend: bool = True,
                      refits: Sequence[dict] = ()) -> Discrepancy:
        """Grid posterior of ``(kappa_ref, gamma)`` from LFO points (see the module docstring).

        Points of one cut (same ``cutoff_flops``, or ``cutoff`` for cuts not made in compute)
        are scored jointly. A point may carry ``noise_sd`` (its regular scatter and measurement
        error), ``param_factor`` (its row of the low-rank factor ``U``) and ``log_n``, ``log_m``
        (its place in the design, for the correlation kernel); without them its whole
        ``pred_sd`` is independent noise and the cut shares one discrepancy draw.
        ``log_c_fit``: log compute of the fit the discrepancy is for (default: the largest
        cut-off). ``prior``: of ``(kappa_ref, gamma)``; default ``HalfNormal(prior_scale)`` on
        ``kappa_ref`` (its grid spans 15x that) and ``Normal(0, 0.5)`` on ``gamma``
        (:class:`~bayes_scaling.laws.discrepancy_prior.DiscrepancyPrior`). ``trend=False``: no
        trend (``gamma = 0``), e.g. for cuts not made in compute. ``refits``: the records of
        the refits the points came from (kept as :attr:`refits`).
        """
        refits = tuple(dict(r) for r in refits)
        if prior is None:
            prior = DiscrepancyPrior.half_normal(prior_scale, GAMMA_PRIOR_SCALE)
        k = prior.kappa_grid()
        g = prior.gamma_grid() if trend else np.zeros(1)
        cuts = {cut_key(p) for p in points}
        if not cuts:
            w = np.exp(prior.log_weights(k))
            return cls("prior", tuple(map(float, k)), tuple(map(float, w / w.sum())), (),
                       tuple(map(float, cutoffs)), prior=prior.to_dict(), refits=refits)
        log_cuts = np.log(np.array([c for c in cuts if c > 0] or [1.0]))
        log_c_ref = float(log_cuts.mean()) if trend else 0.0
        if log_c_fit is None or not trend:
            log_c_fit = float(log_cuts.max()) if trend else 0.0
        log_post = prior.log_weights(k, g) + evidence_log_likelihood(
            points, k, g, log_c_ref=log_c_ref, trend=trend, cut_grid=_kcut_grid(prior))
        p = np.exp(log_post - log_post.max())
        p /= p.sum()
        return cls("lfo", tuple(map(float, k)), tuple(map(float, p.ravel())), tuple(points),
                   tuple(map(float, cutoffs)), tuple(map(float, g)), log_c_ref, float(log_c_fit),
                   prior=prior.to_dict(), refits=refits)

    def prior_(self) -> DiscrepancyPrior:
        """The prior of ``(kappa_ref, gamma)`` this discrepancy was learned under."""
        if self.prior is not None:
            return DiscrepancyPrior.from_dict(self.prior)
        scale = (self.kappa_grid[-1] / 15.0) if self.kappa_grid else KAPPA_PRIOR_SCALE
        return DiscrepancyPrior.half_normal(scale, GAMMA_PRIOR_SCALE)

    def kappa_draws(self, n: int, seed: int) -> np.ndarray:
        """``n`` draws of the fit's ``kappa`` (zeros for ``method="none"``)."""
        if self.method == "none":
            return np.zeros(n)
        rng = np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0xD15C]))
        kg, gg = np.asarray(self.kappa_grid), np.asarray(self.gamma_grid)
        idx = rng.choice(len(kg) * len(gg), size=n, p=np.asarray(self.weights))
        ki, gi = np.divmod(idx, len(gg))
        # uniform within each draw's grid cell (cells of a log-spaced grid differ in width)
        k_lo, k_hi = _cell_edges(kg)
        kappa = np.clip(k_lo[ki] + (k_hi[ki] - k_lo[ki]) * rng.random(n), 0.0, None)
        if len(gg) > 1:
            g_lo, g_hi = _cell_edges(gg)
            gamma = g_lo[gi] + (g_hi[gi] - g_lo[gi]) * rng.random(n)
            kappa = kappa * np.exp(gamma * (self.log_c_fit - self.log_c_ref))
        return np.minimum(kappa, self.prior_().kappa_cap())

    def quantiles(self, q: Sequence[float] = (0.05, 0.5, 0.95)) -> np.ndarray:
        """Quantiles of the fit's ``kappa`` (zeros for ``method="none"``)."""
        if self.method == "none":
            return np.zeros(len(q))
        if len(self.gamma_grid) > 1:
            return np.quantile(self.kappa_draws(40_000, seed=0), q)
        # each weight is the mass of a cell around its grid point: the CDF reaches
        # cumsum[i] at the cell's right edge
        return np.interp(q, np.cumsum(self.weights), _cell_edges(np.asarray(self.kappa_grid))[1])

    def trend(self, q: Sequence[float] = (0.05, 0.5, 0.95)) -> np.ndarray:
        """Quantiles of the trend ``gamma`` (zeros without one)."""
        if self.method == "none" or len(self.gamma_grid) == 1:
            return np.zeros(len(q))
        w = np.asarray(self.weights).reshape(len(self.kappa_grid), -1).sum(axis=0)
        return np.interp(q, np.cumsum(w), _cell_edges(np.asarray(self.gamma_grid))[1])

    def to_json(self) -> str:
        return json.dumps({"method": self.method, "kappa_grid": self.kappa_grid,
                           "weights": self.weights, "points": list(self.points),
                           "cutoffs": self.cutoffs, "gamma_grid": self.gamma_grid,
                           "log_c_ref": self.log_c_ref, "log_c_fit": self.log_c_fit,
                           "prior": self.prior, "refits": list(self.refits)})

    @classmethod
    def from_json(cls, s: str) -> Discrepancy:
        d = json.loads(s)
        return cls(d["method"], tuple(d["kappa_grid"]), tuple(d["weights"]),
                   tuple(d["points"]), tuple(d["cutoffs"]), tuple(d.get("gamma_grid", (0.0,))),
                   float(d.get("log_c_ref", 0.0)), float(d.get("log_c_fit", 0.0)),
                   d.get("prior"), tuple(d.get("refits", ())))

    def dropped_refits(self) -> list[dict]:
        """The records of the refits that failed their diagnostics (their evidence unused)."""
        return [r for r in self.refits if not r.get("used", True)]

    def refit_note(self) -> str | None:
        """One line on the refits that failed their diagnostics; ``None`` when none did."""
        bad = self.dropped_refits()
        if not bad:
            return None
        cuts = "; ".join(
            f"cut at {r['cutoff']:.3g}{' ' + r['unit'] if r.get('unit') else ''} "
            f"({', '.join(r['problems'])})" for r in bad)
        left = len(self.refits) - len(bad)
        tail = (f"the discrepancy was learned from the other {left}" if left
                else "the discrepancy keeps its prior")
        return (f"{len(bad)} of {len(self.refits)} leave-future-out refits failed their "
                f"sampler diagnostics and were dropped ({cuts}); {tail}")

    def lfo_log_density(self) -> np.ndarray:
        """Per LFO point, the log density of its held-out log loss under its refit's predictive
        (normal approximation, outlier component included, no discrepancy), times the point's
        weight: the leave-future-out predictive skill of the law on its own runs."""
        if not self.points:
            return np.zeros(0)
        r = np.array([p["residual"] for p in self.points])
        v = np.array([p["pred_sd"] for p in self.points]) ** 2
        w = np.array([p["weight"] for p in self.points])
        pi = np.array([p.get("outlier_prob", 0.0) for p in self.points])
        v_o = v + np.array([p.get("outlier_scale", 0.0) for p in self.points]) ** 2
        lp_reg = np.log1p(-pi) - 0.5 * (np.log(2 * np.pi * v) + r**2 / v)
        with np.errstate(divide="ignore"):
            lp_out = np.log(pi) - 0.5 * (np.log(2 * np.pi * v_o) + r**2 / v_o)
        return w * np.logaddexp(lp_reg, lp_out)

    def evidence(self) -> pd.DataFrame:
        """The LFO points as a table (one row per held-out run and cut)."""
        return pd.DataFrame(list(self.points))


def _cell_edges(grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Left and right edges of the cells around each grid point (midpoints between points;
    the end cells are as wide as their neighbour's half-gap, mirrored)."""
    if len(grid) == 1:
        return grid.copy(), grid.copy()
    mid = 0.5 * (grid[1:] + grid[:-1])
    left = np.concatenate([[grid[0] - (mid[0] - grid[0])], mid])
    right = np.concatenate([mid, [grid[-1] + (grid[-1] - mid[-1])]])
    return left, right


def _kcut_grid(prior: DiscrepancyPrior) -> np.ndarray:
    """The grid on which one cut's likelihood is evaluated (and interpolated in log kappa)."""
    if prior.kind == "half_normal":
        return _KCUT_GRID * (prior.kappa_scale / KAPPA_PRIOR_SCALE)
    return _KCUT_GRID_WIDE


def evidence_log_likelihood(points: Sequence[dict], kappa: np.ndarray, gamma: np.ndarray, *,
                            log_c_ref: float, trend: bool = True,
                            cut_grid: np.ndarray | None = None) -> np.ndarray:
    """Log likelihood of ``(kappa_ref, gamma)`` on the grid ``kappa x gamma``, ``(K, G)``, from
    points grouped in cuts (see :meth:`Discrepancy.from_evidence`): each cut scored jointly at
    ``kappa_c = kappa_ref * exp(gamma * (log c - log_c_ref))``, the cuts independent given
    ``(kappa_ref, gamma)``, the correlation length of the discrepancy across a cut's runs
    averaged over its equal-weight grid (one length for all cuts). Up to a constant.

    ``cut_grid``: the grid on which a cut's likelihood is evaluated (default 0 and 1e-5
    to 3, log-spaced). The atlas (``benchmarks/extrapolation_atlas.py``) adds a fit's far
    targets as one more cut, at the fit's largest compute, to learn the population prior.
    """
    kappa, gamma = np.asarray(kappa, float), np.asarray(gamma, float)
    cuts: dict[float, list[dict]] = {}
    for p in points:
        cuts.setdefault(cut_key(p), []).append(p)
    kc_grid = _KCUT_GRID_WIDE if cut_grid is None else np.asarray(cut_grid, float)
    floor = kc_grid[1] / 100.0
    kc_log = np.log(np.maximum(kc_grid, floor))
    placed = all("log_n" in p and "log_m" in p for p in points)
    by_ell = []
    for ell in (_LENGTH_SCALES if placed else (np.inf,)):
        ll = np.zeros((len(kappa), len(gamma)))
        for c, pts in cuts.items():
            shift = np.log(c) - log_c_ref if (trend and c > 0) else 0.0
            k_cut = kappa[:, None] * np.exp(gamma[None, :] * shift)
            ll = ll + np.interp(np.log(np.maximum(k_cut, floor)), kc_log,
                                _cut_log_likelihood(pts, kc_grid, ell))
        by_ell.append(ll)
    return np.logaddexp.reduce(np.stack(by_ell), axis=0) - np.log(len(by_ell))


def _thin(pts: Sequence[dict]) -> list[dict]:
    """At most :data:`_MAX_CUT_POINTS` of a cut's points, evenly spread in the cut's own order
    (the residuals of one cut are strongly correlated: more points add cost, little evidence)."""
    if len(pts) <= _MAX_CUT_POINTS:
        return list(pts)
    keep = np.unique(np.linspace(0, len(pts) - 1, _MAX_CUT_POINTS).round().astype(int))
    return [pts[i] for i in keep]


def _cut_log_likelihood(pts: Sequence[dict], kappa: np.ndarray,
                        ell: float = np.inf) -> np.ndarray:
    """Log density of one cut's residuals at each ``kappa``: ``N(r; 0, D + U U^T + kappa^2 B)``
    with ``D`` the diagonal (scatter, plus ``tau^2`` times the outlier responsibility under the
    mixture), ``U`` the refit's parameter factor and ``B = d d^T * K_ell`` the discrepancy's
    covariance (``K_ell`` a squared-exponential kernel over ``(log N, log M)``; all ones for
    ``ell = inf``, or when the points do not carry their place in the design)."""
    pts = _thin(pts)
    r = np.array([p["residual"] for p in pts])
    d = np.array([p["distance"] for p in pts])
    total = np.array([p["pred_sd"] for p in pts]) ** 2
    if all("param_factor" in p and "noise_sd" in p for p in pts):
        u = np.array([p["param_factor"] for p in pts], dtype=float).reshape(len(pts), -1)
        noise = np.array([p["noise_sd"] for p in pts]) ** 2
    else:
        u = np.zeros((len(pts), 0))
        noise = total
    corr = np.ones((len(pts), len(pts)))
    if np.isfinite(ell) and all("log_n" in p and "log_m" in p for p in pts):
        z = np.array([[p["log_n"], p["log_m"]] for p in pts], dtype=float)
        corr = np.exp(-0.5 * np.sum((z[:, None] - z[None]) ** 2, axis=2) / ell**2)
    pi = np.array([p.get("outlier_prob", 0.0) for p in pts])
    tau2 = np.array([p.get("outlier_scale", 0.0) for p in pts]) ** 2
    # outlier responsibility of each run at each kappa, from its marginal predictive
    marg = total[None, :] + (kappa[:, None] * d[None, :]) ** 2  # (K, n)
    lp_reg = np.log1p(-pi)[None, :] - 0.5 * (np.log(marg) + r**2 / marg)
    with np.errstate(divide="ignore"):
        lp_out = (np.log(pi)[None, :] - 0.5 * (np.log(marg + tau2) + r**2 / (marg + tau2)))
    resp = np.exp(lp_out - np.logaddexp(lp_reg, lp_out))
    diag = noise[None, :] + resp * tau2[None, :]  # (K, n)
    cov = (u @ u.T)[None] + (kappa**2)[:, None, None] * (d[:, None] * d[None, :] * corr)[None]
    cov[:, np.arange(len(r)), np.arange(len(r))] += diag
    chol = np.linalg.cholesky(cov)  # diag > 0: positive definite
    z = np.linalg.solve(chol, np.broadcast_to(r, (len(kappa), len(r)))[:, :, None])[:, :, 0]
    logdet = 2.0 * np.sum(np.log(np.diagonal(chol, axis1=1, axis2=2)), axis=1)
    return -0.5 * (len(r) * np.log(2 * np.pi) + logdet + np.sum(z**2, axis=1))


def cut_key(point: Mapping[str, Any]) -> float:
    """The cut an LFO point belongs to: ``cutoff_flops`` (loss laws) or ``cutoff`` (cuts not
    made in compute, e.g. the error law's in loss)."""
    return float(point["cutoff_flops"] if "cutoff_flops" in point else point.get("cutoff", 0.0))


def weigh_by_run(points: Sequence[dict]) -> None:
    """Set each point's ``weight`` to 1 / (number of cuts that held its run out), in place: a run
    counts once in the LFO log score however many refits predicted it."""
    counts = pd.Series([p["run_id"] for p in points], dtype=object).value_counts()
    for p in points:
        p["weight"] = 1.0 / float(counts[p["run_id"]])


def noise_variance(scale: np.ndarray, nu: np.ndarray | None = None) -> np.ndarray:
    """Mean over draws (axis 0) of the regular noise variance with scale ``scale``: ``scale^2``,
    or for a Student-t with ``nu`` degrees of freedom ``scale^2 nu / (nu - 2)``, ``nu`` capped
    at 2.5 (near 2 the variance diverges)."""
    if nu is None:
        return np.mean(scale**2, axis=0)
    nu = np.maximum(nu, 2.5)
    return np.mean(scale**2 * nu / (nu - 2.0), axis=0)


def param_factor(draws: np.ndarray) -> np.ndarray:
    """Rank-6 factor ``U`` (rows: the columns of ``draws``) of the covariance of ``(S, n)``
    draws across their columns: ``U U^T`` ~ ``cov(draws)``, the parameter uncertainty a refit
    shares across its held-out runs."""
    centred = (draws - draws.mean(axis=0)[None, :]) / np.sqrt(draws.shape[0])
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    return vt[:_FACTOR_RANK].T * sv[:_FACTOR_RANK][None, :]
