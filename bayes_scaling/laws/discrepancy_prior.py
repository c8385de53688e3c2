"""Prior of a loss law's extrapolation discrepancy, and the population learned across ladders.

The new-run predictive of a loss law adds, on the log scale, ``N(0, (kappa d)^2)`` with ``d`` the
target's distance outside the fitted design and ``kappa = kappa_ref * exp(gamma (log c - log
c_ref))`` (:mod:`bayes_scaling.estimators.extrapolation`). A :class:`DiscrepancyPrior` is the
prior of ``(kappa_ref, gamma)`` that each fit's own leave-future-out evidence updates:

``"half_normal"``
    ``kappa_ref ~ HalfNormal(kappa_scale)``, ``gamma ~ Normal(gamma_mean, gamma_sd)``. The loss
    law's default until 2026-12-07 (``kappa_scale = 0.01``, ``gamma_sd = 0.5``), and the error
    laws' prior (in their own units).
``"lognormal"``
    ``log kappa_ref ~ Normal(log_kappa_mean, log_kappa_sd)``, ``gamma ~ Normal(gamma_mean,
    gamma_sd)``: the population of the discrepancy across ladders, learned from an atlas of
    public ladders (``benchmarks/extrapolation_atlas.py``, ``benchmarks/learn_discrepancy_prior.py``,
    ``docs/extrapolation_atlas.md``). The shipped numbers are in
    ``bayes_scaling/data/bundled/discrepancy_population.json`` and
    :func:`population_prior` reads them; it is the default loss law's prior.

A leaf module: numpy and the standard library only.

Examples
--------
>>> p = DiscrepancyPrior.half_normal(0.01)
>>> DiscrepancyPrior.from_dict(p.to_dict()) == p
True
>>> float(p.kappa_grid()[-1])
0.15
>>> population_prior().kind
'lognormal'
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np

__all__ = ["DiscrepancyPrior", "POPULATION_FILE", "population_prior", "population_record"]

#: The shipped population of the loss law's discrepancy (package data of bayes_scaling.data).
POPULATION_FILE = "bundled/discrepancy_population.json"

_KINDS = ("half_normal", "lognormal")
# grid sizes of kappa_ref and gamma for a grid posterior
_N_KAPPA = 601
_N_GAMMA = 81
# a lognormal grid spans this many sd either side of the mean of log kappa_ref
_LOG_SPAN = 4.5


@dataclass(frozen=True)
class DiscrepancyPrior:
    """Prior of ``(kappa_ref, gamma)``: see the module docstring.

    Attributes
    ----------
    kind : {"half_normal", "lognormal"}
    kappa_scale : float
        ``"half_normal"``: scale of ``kappa_ref``.
    log_kappa_mean, log_kappa_sd : float
        ``"lognormal"``: mean and sd of ``log kappa_ref``.
    gamma_mean, gamma_sd : float
        Normal prior of the trend ``gamma``.
    """

    kind: str
    kappa_scale: float = 0.01
    log_kappa_mean: float = math.log(0.01)
    log_kappa_sd: float = 1.0
    gamma_mean: float = 0.0
    gamma_sd: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {self.kind!r}")
        for name in ("kappa_scale", "log_kappa_sd", "gamma_sd"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        for name in ("log_kappa_mean", "gamma_mean"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")

    @classmethod
    def half_normal(cls, kappa_scale: float = 0.01, gamma_sd: float = 0.5) -> DiscrepancyPrior:
        return cls("half_normal", kappa_scale=float(kappa_scale), gamma_sd=float(gamma_sd))

    @classmethod
    def lognormal(cls, log_kappa_mean: float, log_kappa_sd: float, gamma_mean: float = 0.0,
                  gamma_sd: float = 0.5) -> DiscrepancyPrior:
        return cls("lognormal", log_kappa_mean=float(log_kappa_mean),
                   log_kappa_sd=float(log_kappa_sd), gamma_mean=float(gamma_mean),
                   gamma_sd=float(gamma_sd))

    # ------------------------------------------------------------------ grids
    def kappa_grid(self) -> np.ndarray:
        """Grid of ``kappa_ref`` for a grid posterior: linear from 0 to 15 scales (half-normal;
        the loss law's grid until 2026-12-07) or log-spaced over +-4.5 sd (lognormal)."""
        if self.kind == "half_normal":
            return np.linspace(0.0, 15.0 * self.kappa_scale, _N_KAPPA)
        m, s = self.log_kappa_mean, self.log_kappa_sd
        return np.exp(np.linspace(m - _LOG_SPAN * s, m + _LOG_SPAN * s, _N_KAPPA))

    def gamma_grid(self) -> np.ndarray:
        """Grid of ``gamma``: [-2, 2] (4 sd of the old Normal(0, 0.5)), wider where the prior's
        4 sd reach beyond."""
        lo = min(-2.0, self.gamma_mean - 4.0 * self.gamma_sd)
        hi = max(2.0, self.gamma_mean + 4.0 * self.gamma_sd)
        return np.linspace(lo, hi, _N_GAMMA)

    def log_weights(self, kappa: np.ndarray, gamma: np.ndarray | None = None) -> np.ndarray:
        """Unnormalised log prior mass of each grid cell of :meth:`kappa_grid` (x ``gamma``):
        ``(K,)``, or ``(K, G)`` with ``gamma``. A log-spaced grid's cells have equal width in
        ``log kappa``, so the lognormal's mass per cell is its normal density in ``log kappa``."""
        kappa = np.asarray(kappa, float)
        if self.kind == "half_normal":
            lk = -0.5 * (kappa / self.kappa_scale) ** 2
        else:
            with np.errstate(divide="ignore"):
                u = np.log(kappa)
            lk = -0.5 * ((u - self.log_kappa_mean) / self.log_kappa_sd) ** 2
        if gamma is None:
            return lk
        lg = -0.5 * ((np.asarray(gamma, float) - self.gamma_mean) / self.gamma_sd) ** 2
        return lk[:, None] + lg[None, :]

    def kappa_cap(self) -> float:
        """Largest ``kappa`` a draw may take (a guard against a runaway trend)."""
        return 100.0 * self.kappa_scale if self.kind == "half_normal" else 1.0

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DiscrepancyPrior:
        return cls(**d)


@lru_cache(maxsize=1)
def population_record() -> dict[str, Any]:
    """The shipped population file as a dict (hyperparameters, how they were learned, the
    data's citation); see ``docs/extrapolation_atlas.md``."""
    text = resources.files("bayes_scaling.data").joinpath(POPULATION_FILE).read_text()
    return json.loads(text)


def population_prior() -> DiscrepancyPrior:
    """The default loss law's discrepancy prior: the population learned across ladders."""
    return DiscrepancyPrior.from_dict(population_record()["prior"])
