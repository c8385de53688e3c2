"""Convergence diagnostics of a fit: R-hat, bulk/tail ESS, divergences and BFMI.

Owns :class:`Diagnostics` (the summary recorded with every fit), :func:`diagnostics` (which
computes it from posterior draws and sample stats, with arviz-stats) and
:class:`DiagnosticsWarning`, the warning :func:`diagnostics` emits when a check fails.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Diagnostics", "DiagnosticsWarning", "RefitWarning", "diagnostics"]


class DiagnosticsWarning(UserWarning):
    """Sampler diagnostics failed a check (R-hat, ESS, divergences or BFMI)."""


class RefitWarning(UserWarning):
    """Leave-future-out refits of a fit failed their diagnostics and were dropped from the
    evidence of its extrapolation discrepancy (the fit itself may be fine)."""


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of a fit.

    Attributes
    ----------
    max_rhat : float
        Largest rank-normalised split R-hat over parameters (target <= ``rhat_max``).
    min_ess_bulk, min_ess_tail : float
        Smallest bulk and tail effective sample sizes (target >= ``ess_min``).
    divergences : int
        Post-warm-up divergent transitions (target 0).
    min_bfmi : float
        Smallest per-chain Bayesian fraction of missing information (target >= 0.3).
    per_parameter : dict
        ``{name: {"rhat", "ess_bulk", "ess_tail"}}``.
    problems : tuple of str
        One line per failed check, each with what to try.
    notes : tuple of str
        What the checks of the fit's leave-future-out refits found (refits dropped from the
        discrepancy's evidence); they do not fail the fit (``ok`` reads ``problems`` only).
    """

    max_rhat: float
    min_ess_bulk: float
    min_ess_tail: float
    divergences: int
    min_bfmi: float
    n_draws: int
    per_parameter: dict = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["problems"] = list(self.problems)
        d["notes"] = list(self.notes)
        return d

    def __str__(self) -> str:
        head = (f"R-hat max {self.max_rhat:.4f}, ESS bulk min {self.min_ess_bulk:.0f}, "
                f"ESS tail min {self.min_ess_tail:.0f}, divergences {self.divergences}, "
                f"BFMI min {self.min_bfmi:.2f}: {'ok' if self.ok else 'FAILED'}")
        return "\n".join([head, *("  - " + p for p in self.problems),
                          *("  note: " + n for n in self.notes)])


def _chain_apart(posterior: Mapping[str, np.ndarray], label: str) -> str:
    """``" (chain k sits apart: mean m, the others a to b)"`` for the chain whose mean
    of ``label`` (``name`` or ``name[j]``) lies furthest from the median of the chain means;
    ``""`` when that cannot be read."""
    name, _, index = label.partition("[")
    if name not in posterior:
        return ""
    x = np.asarray(posterior[name], dtype=float)
    x = x.reshape(x.shape[0], x.shape[1], -1)[..., int(index.rstrip("]")) if index else 0]
    means = x.mean(axis=1)
    if len(means) < 3:
        return ""
    k = int(np.argmax(np.abs(means - np.median(means))))
    others = np.delete(means, k)
    return (f" (chain {k} sits apart: mean {means[k]:.4g}, the others {others.min():.4g} to "
            f"{others.max():.4g})")


def diagnostics(
    posterior: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray],
    *,
    rhat_max: float = 1.01,
    ess_min: float | None = None,
    bfmi_min: float = 0.3,
    warn: bool = True,
    superchains: int | None = None,
) -> Diagnostics:
    """R-hat, bulk/tail ESS, divergences and BFMI, with a loud warning when a check fails.

    ``posterior`` values have leading ``(chain, draw)`` dims; vector parameters are checked
    element-wise. ``ess_min`` defaults to 100 per chain (Vehtari et al. 2021): 400 for 4 chains.
    ``superchains``: many short chains in groups sharing a start (batched ChEES-HMC); R-hat is
    then the nested R-hat (:func:`bayes_scaling.inference.chees.nested_rhat`; the split R-hat
    is kept as ``split_rhat`` per parameter) and ``ess_min`` defaults to 400 (what 4 NUTS
    chains need), not 100 per chain.
    """
    from arviz_stats.base import array_stats

    if superchains:
        from bayes_scaling.inference.chees import nested_rhat

    per: dict[str, dict[str, float]] = {}
    for name, v in posterior.items():
        v = np.asarray(v, dtype=float)
        flat = v.reshape(v.shape[0], v.shape[1], -1)
        for j in range(flat.shape[-1]):
            x = flat[..., j]
            label = name if flat.shape[-1] == 1 else f"{name}[{j}]"
            if np.ptp(x) == 0:  # fixed (delta prior) parameter: nothing to diagnose
                continue
            split = float(array_stats.rhat(x, chain_axis=0, draw_axis=1))
            per[label] = {
                "rhat": nested_rhat(x, superchains) if superchains else split,
                "ess_bulk": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="bulk")),
                "ess_tail": float(array_stats.ess(x, chain_axis=0, draw_axis=1, method="tail",
                                                  prob=(0.05, 0.95))),
            }
            if superchains:
                per[label]["split_rhat"] = split
    n_chains, n_draws = next(iter(posterior.values())).shape[:2]
    if ess_min is None:
        ess_min = 400.0 if superchains else 100.0 * n_chains
    max_rhat = max((p["rhat"] for p in per.values()), default=1.0)
    min_bulk = min((p["ess_bulk"] for p in per.values()), default=math.inf)
    min_tail = min((p["ess_tail"] for p in per.values()), default=math.inf)
    div = int(np.sum(sample_stats["diverging"]))
    energy = np.asarray(sample_stats["energy"], dtype=float)
    min_bfmi = float(np.min(array_stats.bfmi(energy, chain_axis=0, draw_axis=1)))
    problems = []
    if n_chains > 1 and not max_rhat <= rhat_max:
        worst = max(per, key=lambda k: per[k]["rhat"])
        problems.append(f"R-hat {max_rhat:.3f} > {rhat_max} ({worst}): chains disagree"
                        f"{_chain_apart(posterior, worst)}; draw more (e.g. "
                        "sampler={'num_samples': 3000}) or refit with another seed, and check "
                        "the design identifies the law")
    if not min(min_bulk, min_tail) >= ess_min:
        worst = min(per, key=lambda k: min(per[k]["ess_bulk"], per[k]["ess_tail"]))
        problems.append(f"ESS {min(min_bulk, min_tail):.0f} < {ess_min:.0f} ({worst}): draw "
                        "more samples (num_samples) or more chains")
    if div:
        problems.append(f"{div} divergent transitions: raise target_accept_prob (e.g. "
                        "sampler={'target_accept_prob': 0.99}; the default is 0.95) or use "
                        "tighter priors; the posterior may be biased")
    if n_draws > 10 and not min_bfmi >= bfmi_min:
        problems.append(f"BFMI {min_bfmi:.2f} < {bfmi_min}: poor energy exploration; "
                        "reparameterise or use longer warm-up")
    d = Diagnostics(max_rhat=max_rhat, min_ess_bulk=min_bulk, min_ess_tail=min_tail,
                    divergences=div, min_bfmi=min_bfmi, n_draws=n_chains * n_draws,
                    per_parameter=per, problems=tuple(problems))
    if warn and problems:
        warnings.warn("sampler diagnostics failed:\n" + str(d), DiagnosticsWarning, stacklevel=3)
    return d
