"""The report's answer to the decision, computed before the evidence: per target, the run in
words, loss and downstream error side by side, P(thresholds), the extrapolation distance; the
runs that would most narrow the targets' intervals per FLOP; priors in readable form.

Raw numbers and short strings only; :mod:`.render` lays them out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.laws.priors import Prior

__all__ = ["describe_run", "decision_table", "plan_table", "readable_prior"]

_NAMES = {"normal": "Normal", "lognormal": "LogNormal", "halfnormal": "HalfNormal",
          "beta": "Beta", "uniform": "Uniform", "gamma": "Gamma", "exponential": "Exponential",
          "delta": "Delta", "truncated_normal": "Normal"}
_SYMBOL_WORDS = {"min_observed_loss": "the smallest observed loss"}


def _si(x: float) -> str:
    x = float(x)
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def describe_run(n_params: float, n_tokens: float) -> str:
    """A run in words.

    Examples
    --------
    >>> describe_run(1.44e9, 9.21e11)
    '1.44B params, 921B tokens (M = 640)'
    """
    return f"{_si(n_params)} params, {_si(n_tokens)} tokens (M = {n_tokens / n_params:.3g})"


def _num(v: Any) -> str:
    if isinstance(v, str):
        return _SYMBOL_WORDS.get(v, v)
    return f"{float(v):.4g}"


def _log_num(v: float) -> str:
    """``log x`` when ``v`` is the log of a short number (``-4.605...`` -> ``log 0.01``)."""
    x = math.exp(v)
    short = float(f"{x:.3g}")
    if abs(math.log(short) - v) < 1e-9 and short != 1.0:
        return f"log {short:g}"
    return _num(v)


def readable_prior(prior: Prior) -> str:
    """A prior as a reader writes it.

    Examples
    --------
    >>> readable_prior(Prior("lognormal", loc=math.log(0.01), scale=1.0))
    'LogNormal(log 0.01, 1)'
    >>> readable_prior(Prior("beta", concentration1=2.0, concentration0=4.0))
    'Beta(2, 4)'
    >>> readable_prior(Prior("truncated_normal", loc=2.0, scale=1.0, low=0.0,
    ...                      high="min_observed_loss"))
    'Normal(2, 1) truncated to [0, the smallest observed loss]'
    """
    p = dict(prior.params)
    name = _NAMES.get(prior.dist, prior.dist)
    if prior.dist == "lognormal":
        return f"LogNormal({_log_num(p['loc'])}, {_num(p['scale'])})"
    if prior.dist == "beta":
        return f"Beta({_num(p['concentration1'])}, {_num(p['concentration0'])})"
    if prior.dist == "gamma":
        return f"Gamma(shape {_num(p['concentration'])}, rate {_num(p['rate'])})"
    if prior.dist == "truncated_normal":
        lo = "-inf" if p.get("low") is None else _num(p["low"])
        hi = "inf" if p.get("high") is None else _num(p["high"])
        return f"Normal({_num(p['loc'])}, {_num(p['scale'])}) truncated to [{lo}, {hi}]"
    order = {"normal": ("loc", "scale"), "halfnormal": ("scale",), "uniform": ("low", "high"),
             "exponential": ("rate",), "delta": ("v",)}.get(prior.dist, tuple(p))
    return f"{name}({', '.join(_num(p[k]) for k in order if k in p)})"


def decision_table(loss: pd.DataFrame, error: pd.DataFrame | None, reach: pd.DataFrame,
                   wide: float, thresholds: Sequence[float]) -> pd.DataFrame:
    """One row per target: the run in words, loss and error (median and ``wide`` interval),
    observed values where known, P(loss < x) per threshold, and how far it is extrapolated.

    ``loss`` / ``error`` are :func:`~bayes_scaling.report.tables.target_table` outputs (same
    target order), ``reach`` is :meth:`DesignBounds.describe` of the targets.
    """
    w = f"{wide:.0%}"
    rows = []
    for i, r in loss.iterrows():
        row: dict[str, Any] = {
            "target": str(r["target"]),
            "run": describe_run(r["n_params"], r["n_tokens"]),
            "loss_median": float(r["median"]), "loss_lower": float(r[f"lower_{w}"]),
            "loss_upper": float(r[f"upper_{w}"]),
            "loss_observed": float(r["observed"]) if "observed" in r else np.nan,
        }
        if error is not None:
            e = error.iloc[i]
            row |= {"error_median": float(e["median"]), "error_lower": float(e[f"lower_{w}"]),
                    "error_upper": float(e[f"upper_{w}"]),
                    "error_observed": float(e["observed"]) if "observed" in e else np.nan}
        for x in thresholds:
            key = f"{x:g}"
            row[f"p_below_{key}"] = float(r[f"p_below_{key}"])
        row["compute_ratio"] = float(reach["compute_ratio"].iloc[i])
        row["params_ratio"] = float(reach["params_ratio"].iloc[i])
        row["m_outside"] = float(reach["m_outside"].iloc[i])
        row["distance"] = float(reach["distance"].iloc[i])
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["ci_prob"] = wide
    return out


def plan_table(law: Any, targets: pd.DataFrame, candidates: pd.DataFrame, *, seed: int,
               n_sims: int = 32, top: int = 5) -> tuple[pd.DataFrame, str]:
    """The ``top`` candidates by expected 90% width reduction per FLOP, with a note on how
    they were evaluated (:func:`~bayes_scaling.predict.planning.plan_runs`)."""
    from bayes_scaling.predict.planning import plan_runs

    t = targets.reset_index(drop=True).assign(label=[f"t{i}" for i in range(len(targets))])
    plan = plan_runs(law, t, candidates, ci_prob=0.9, n_sims=n_sims, k=1, seed=seed)
    c = plan.candidates.head(top)
    rows = []
    for _, r in c.iterrows():
        row: dict[str, Any] = {"run": describe_run(r["n_params"], r["n_tokens"]),
                               "cost_flops": float(r["cost_flops"])}
        for i in range(len(t)):
            row[f"width_now_{i}"] = float(r[f"width_now_t{i}"])
            row[f"width_after_{i}"] = float(r[f"width_after_t{i}"])
        row["reduction"] = float(r["score"])
        row["reduction_per_eflop"] = float(r["reduction_per_flop"]) * 1e18
        row["method"] = str(r["method"])
        rows.append(row)
    methods = plan.candidates["method"].value_counts().to_dict()
    note = (f"{len(plan.candidates)} candidates, {n_sims} simulated outcomes each; posterior "
            f"update by " + ", ".join(f"{k} ({v})" for k, v in methods.items()))
    return pd.DataFrame(rows), note
