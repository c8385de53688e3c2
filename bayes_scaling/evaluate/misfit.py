"""Where the law does not fit: systematic misses of the posterior predictive, named by region.

:func:`misfit_check` looks at a fitted :class:`~bayes_scaling.LossLaw` three ways:

- **regions**: the fitted runs grouped by tokens per parameter ``M``, by size ``N`` and by compute
  quartile. Each run's standardised residual is
  ``z_i = (log L_i - mean log mu_i) / sqrt(var log mu_i + sigma^2 + s_i^2)`` (the regular new-run
  predictive at the run itself); a group of ``n`` runs the law describes has
  ``sqrt(n) mean(z) ~ N(0, 1)``. A group is flagged when its two-sided p-value, Holm-adjusted
  over all groups of all three groupings, is below ``alpha`` (default 0.01).
- **outlying runs**: runs whose posterior outlier probability exceeds 0.5 (``"mixture"`` noise).
- **extrapolation drift**: the leave-future-out residuals the discrepancy was learned from
  (:mod:`bayes_scaling.estimators.extrapolation`), standardised by their predictive sd; a mean
  far from 0 means the law bends beyond the fitted compute in one direction.

In-sample residuals are shrunk towards the fit, so the check is conservative: a flagged region is
a real misfit, an unflagged one is not proof of fit.

Examples
--------
>>> m = misfit_check(law)                    # doctest: +SKIP
>>> m.ok, m.findings                         # doctest: +SKIP
(False, ['runs at M = 5 (3 runs) sit +8.9% above the law (z = 6.1)'])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling.estimators.loss_law import LossLaw

__all__ = ["Misfit", "misfit_check"]


@dataclass(frozen=True)
class Misfit:
    """Result of :func:`misfit_check`.

    Attributes
    ----------
    regions : DataFrame
        One row per group: ``by`` (``"tokens_per_param"``, ``"n_params"``, ``"compute"``),
        ``group`` (a readable label), ``n_runs``, ``mean_rel_residual`` (mean of
        ``loss / law median - 1``), ``z``, ``p_adjusted``, ``flagged``.
    outliers : DataFrame
        Runs with posterior outlier probability above 0.5 (empty without ``"mixture"`` noise).
    drift : dict
        ``n_points``, ``mean_z`` and ``z`` (the mean's own z-score) of the LFO residuals.
    findings : list of str
        One sentence per flagged region, outlying run group and drift.
    runs : DataFrame
        One row per fitted run (the fit's order): ``run``, ``n_params``, ``n_tokens``,
        ``tokens_per_param``, ``compute_flops``, ``rel_residual``, ``z`` and, per grouping
        ``by`` of ``regions``, ``group_<by>``: the label of the run's group there (so a
        region's runs are ``runs[runs["group_" + by] == group]``).
    """

    regions: pd.DataFrame
    outliers: pd.DataFrame
    drift: dict
    findings: list[str]
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def ok(self) -> bool:
        """No flagged region, no outlying run and no drift."""
        return not self.findings


def _si(x: float) -> str:
    for unit, f in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= f:
            return f"{x / f:.3g}{unit}"
    return f"{x:.3g}"


def _holm(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def misfit_check(law: LossLaw, *, alpha: float = 0.01, outlier_threshold: float = 0.5,
                 drift_z: float = 3.0) -> Misfit:
    """Find the runs and regions the fitted law misses systematically.

    Parameters
    ----------
    law : LossLaw
        A fitted loss law.
    alpha : float
        Family-wise level of the region flags (Holm over every group tested).
    outlier_threshold : float
        Posterior outlier probability above which a run is named an outlier.
    drift_z : float
        |z| of the mean standardised leave-future-out residual above which drift is reported.

    Returns
    -------
    Misfit
    """
    from scipy import stats

    runs, log_mu, scale, _, y = law._fitted_predictive()
    sd = np.sqrt(log_mu.var(axis=0) + np.mean(scale**2, axis=0))
    z = (y - log_mu.mean(axis=0)) / sd
    rel = np.exp(y - np.median(log_mu, axis=0)) - 1.0
    m = runs.n_tokens / runs.n_params
    comp = 6.0 * runs.n_params * runs.n_tokens
    groupings = {
        "tokens_per_param": (np.round(m, 6), lambda v: f"M = {v:.3g}"),
        "n_params": (runs.n_params.to_numpy(), lambda v: f"N = {_si(v)}"),
    }
    if len(runs) >= 8:
        q = pd.qcut(comp, 4, labels=False, duplicates="drop")
        edges = [comp[q == k] for k in range(int(q.max()) + 1)]
        groupings["compute"] = (q, lambda k, e=edges: (
            f"compute {e[int(k)].min():.2g}-{e[int(k)].max():.2g} FLOPs"))
    per_run = pd.DataFrame({
        "run": [str(r) for r in law.idata.constant_data.coords["run"].values],
        "n_params": runs.n_params.to_numpy(float), "n_tokens": runs.n_tokens.to_numpy(float),
        "tokens_per_param": np.asarray(m, float), "compute_flops": np.asarray(comp, float),
        "rel_residual": rel, "z": z})
    rows = []
    for by, (key, label) in groupings.items():
        key = np.asarray(key)
        per_run[f"group_{by}"] = [label(v) for v in key]
        for v in np.unique(key):
            sel = key == v
            n = int(sel.sum())
            if n < 2 or n == len(runs):
                continue
            zg = float(np.sqrt(n) * z[sel].mean())
            rows.append({"by": by, "group": label(v), "n_runs": n,
                         "mean_rel_residual": float(rel[sel].mean()), "z": zg,
                         "p": float(2 * stats.norm.sf(abs(zg)))})
    regions = pd.DataFrame(rows, columns=["by", "group", "n_runs", "mean_rel_residual", "z", "p"])
    regions["p_adjusted"] = _holm(regions["p"].to_numpy()) if len(regions) else []
    regions["flagged"] = regions["p_adjusted"] < alpha
    findings = [
        f"runs at {r.group} ({r.n_runs} runs) sit {100 * r.mean_rel_residual:+.1f}% "
        f"{'above' if r.mean_rel_residual > 0 else 'below'} the law (z = {r.z:.1f})"
        for r in regions[regions.flagged].itertuples()
    ]
    if law.noise == "mixture":
        op = law.outlier_probability()
        outliers = op[op.outlier_prob > outlier_threshold]
        if len(outliers):
            names = ", ".join(f"{i} ({100 * r.rel_residual:+.1f}%)"
                              for i, r in outliers.iterrows())
            findings.append(f"{len(outliers)} run(s) the law does not describe (outlier "
                            f"probability > {outlier_threshold:g}): {names}")
    else:
        outliers = pd.DataFrame()
    ev = law.discrepancy_.evidence()
    drift = {"n_points": int(len(ev)), "mean_z": float("nan"), "z": float("nan")}
    if len(ev):
        zs = (ev["residual"] / ev["pred_sd"]).to_numpy()
        w = ev["weight"].to_numpy()
        mean_z = float(np.sum(w * zs) / np.sum(w))
        zz = mean_z * np.sqrt(np.sum(w))  # each run counts once in total
        drift.update(mean_z=mean_z, z=float(zz))
        if abs(zz) > drift_z:
            findings.append(
                f"the law drifts beyond the fitted compute: runs held out above compute cut-offs "
                f"land {'above' if mean_z > 0 else 'below'} their refits' predictions "
                f"(mean z = {mean_z:+.2f} over {int(round(np.sum(w)))} runs); the discrepancy "
                "term widens the intervals for it, but the medians carry the bias")
    return Misfit(regions.drop(columns="p"), outliers, drift, findings, per_run)
