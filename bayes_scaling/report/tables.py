"""The report's tables: per-corpus data summary, sampler checks, priors and the predictive
table of loss or error at each target (raw numbers; :mod:`.render` formats them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.predict.queries import DrawsModel, predictive_draws, probability

__all__ = ["si", "summarize_datasets", "target_table"]


def _diagnostics_table(diag: Mapping[str, Any]) -> pd.DataFrame:
    rows = [
        ("max R-hat", diag.get("max_rhat"), "<= 1.01"),
        ("min bulk ESS", diag.get("min_ess_bulk"), ">= 100 per chain"),
        ("min tail ESS", diag.get("min_ess_tail"), ">= 100 per chain"),
        ("divergent transitions", diag.get("divergences"), "0"),
        ("min BFMI", diag.get("min_bfmi"), ">= 0.3"),
        ("draws", diag.get("n_draws"), ""),
    ]
    return pd.DataFrame(rows, columns=["check", "value", "target"])


def summarize_datasets(runs: pd.DataFrame, fit_ids: Sequence[str] = ()) -> pd.DataFrame:
    """Per training corpus: runs, distinct sizes, size / token-ratio / compute ranges and how
    many runs the fit used."""
    fit = set(map(str, fit_ids))
    rows = []
    for name, g in runs.groupby("dataset", sort=True):
        rows.append({
            "dataset": str(name),
            "runs": len(g),
            "sizes": int(g["n_params"].nunique()),
            "n_params_min": float(g["n_params"].min()),
            "n_params_max": float(g["n_params"].max()),
            "tokens_per_param_min": float(g["tokens_per_param"].min()),
            "tokens_per_param_max": float(g["tokens_per_param"].max()),
            "compute_flops_min": float(g["compute_flops"].min()),
            "compute_flops_max": float(g["compute_flops"].max()),
            "runs_in_fit": int(g["run_id"].astype(str).isin(fit).sum()),
        })
    return pd.DataFrame(rows)


def _target_labels(t: pd.DataFrame) -> list[str]:
    if "run_id" in t.columns:
        return t["run_id"].astype(str).tolist()
    if "label" in t.columns:
        return t["label"].astype(str).tolist()
    return [f"N={si(n)}, D={si(d)}" for n, d in zip(t["n_params"], t["n_tokens"], strict=True)]


def si(x: float) -> str:
    """Compact count with an SI-style suffix: 1.44e9 -> '1.44B', 2.9e10 -> '29B'.

    Examples
    --------
    >>> si(1439795200), si(2.88e10), si(1.4e12), si(1.1e7)
    ('1.44B', '28.8B', '1.4T', '11M')
    """
    x = float(x)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def _threshold_key(x: float) -> str:
    return f"{x:g}"


def target_table(model: LossLaw | DrawsModel, targets: pd.DataFrame, *, target: str,
                 observed: str | None, ci_probs: Sequence[float], thresholds: Sequence[float],
                 max_fit_compute: float, seed: int) -> pd.DataFrame:
    """Predictive table of loss or error at ``targets`` (new-run predictive, noise included)."""
    t = resolve_targets(targets).reset_index(drop=True)
    draws = predictive_draws(model, t, target=target, kind="new_run", seed=seed)
    out = pd.DataFrame({
        "target": _target_labels(t),
        "n_params": t["n_params"].to_numpy(float),
        "n_tokens": t["n_tokens"].to_numpy(float),
        "tokens_per_param": t["tokens_per_param"].to_numpy(float),
        "compute_flops": t["compute_flops"].to_numpy(float),
        # how far the target lies beyond the largest fitted run, in compute
        "extrapolation": t["compute_flops"].to_numpy(float) / max_fit_compute,
    })
    obs = None
    if observed is not None and observed in t.columns:
        obs = t[observed].to_numpy(float)
        out["observed"] = obs
    out["median"] = np.median(draws, axis=0)
    for p in ci_probs:
        lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2], axis=0)
        out[f"lower_{p:.0%}"] = lo
        out[f"upper_{p:.0%}"] = hi
    if obs is not None:
        out["rel_error"] = out["median"] / obs - 1.0
        wide = max(ci_probs)
        inside = (out[f"lower_{wide:.0%}"] <= obs) & (obs <= out[f"upper_{wide:.0%}"])
        out[f"in_{wide:.0%}"] = np.where(np.isfinite(obs), inside, np.nan)
    for x in thresholds:
        pr = probability(model, t, below=x, target=target, kind="new_run", seed=seed)
        out[f"p_below_{_threshold_key(x)}"] = pr["p"].to_numpy()
        out[f"mcse_below_{_threshold_key(x)}"] = pr["mcse"].to_numpy()
    out.attrs.update({"target": target, "kind": "new_run", "ci_probs": tuple(ci_probs)})
    return out


def _priors_table(law: LossLaw) -> pd.DataFrame:
    from bayes_scaling.report.decision import readable_prior

    return pd.DataFrame({"parameter": list(law.priors),
                         "prior": [readable_prior(p) for p in law.priors.values()]})
