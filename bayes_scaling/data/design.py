"""Where a target lies relative to the fitted design: compute, size and tokens-per-parameter ranges.

The fitted design is summarised by its ranges in log compute ``C = 6 N D``, log size ``N`` and log
tokens per parameter ``M = D / N``. A target's *extrapolation distance* is how far (natural-log
units) it lies outside them in the ``(log C, log M)`` plane, the coordinates of the over-training
form of the law:

.. math::

    d = \\sqrt{u_C^2 + u_M^2},\\qquad u_C = \\max(0, \\log C - \\log C_{max}),\\qquad
    u_M = \\max(0, \\log M - \\log M_{max}) + \\max(0, \\log M_{min} - \\log M).

A target inside the design has ``d = 0``. Size needs no term of its own: ``N^2 = C / (6 M)``, so a
target beyond the largest fitted size is beyond the compute range or below the M range. The
distance scales the extrapolation discrepancy of the loss law (see
:mod:`bayes_scaling.estimators.extrapolation`) and drives the far-extrapolation warning.

Examples
--------
>>> b = DesignBounds.from_sizes([1e7, 1e8], [2e8, 2e9])
>>> float(np.round(b.distance([1e9], [2e10])[0], 3))   # 100x the largest compute, M = 20
4.605
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["DesignBounds", "ExtrapolationWarning", "FAR_EXTRAPOLATION_RATIO",
           "warn_compute_range", "warn_far_extrapolation"]

#: A target more than this many times beyond the fitted compute (or size, or outside the M range
#: by this factor) gets an :class:`ExtrapolationWarning`.
FAR_EXTRAPOLATION_RATIO = 100.0


class ExtrapolationWarning(UserWarning):
    """A target lies far outside the fitted design: the law is extrapolated a long way."""


@dataclass(frozen=True)
class DesignBounds:
    """Ranges of the fitted runs in natural-log units (``log_c`` of ``6 N D``, ``log_n``,
    ``log_m`` of ``D / N``)."""

    log_c_min: float
    log_c_max: float
    log_n_min: float
    log_n_max: float
    log_m_min: float
    log_m_max: float

    @classmethod
    def from_sizes(cls, n_params: Sequence[float], n_tokens: Sequence[float]) -> DesignBounds:
        n = np.asarray(n_params, dtype=float)
        d = np.asarray(n_tokens, dtype=float)
        log_c, log_n, log_m = np.log(6.0 * n * d), np.log(n), np.log(d / n)
        return cls(float(log_c.min()), float(log_c.max()), float(log_n.min()),
                   float(log_n.max()), float(log_m.min()), float(log_m.max()))

    @classmethod
    def from_dict(cls, d: dict) -> DesignBounds:
        return cls(**{k: float(d[k]) for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    def components(self, n_params, n_tokens) -> dict[str, np.ndarray]:
        """``u_c``, ``u_m`` and ``u_n`` (log units beyond the fitted ranges, >= 0) per target."""
        n = np.asarray(n_params, dtype=float)
        d = np.asarray(n_tokens, dtype=float)
        log_c, log_n, log_m = np.log(6.0 * n * d), np.log(n), np.log(d / n)
        return {
            "u_c": np.maximum(0.0, log_c - self.log_c_max),
            "u_m": np.maximum(0.0, log_m - self.log_m_max) + np.maximum(0.0, self.log_m_min - log_m),
            "u_n": np.maximum(0.0, log_n - self.log_n_max),
        }

    def outside(self, n_params, n_tokens) -> np.ndarray:
        """True where a run of this size lies outside the fitted runs at all: a larger model,
        more or less compute, or tokens per parameter outside their range (any amount; the
        far-extrapolation warning is for :data:`FAR_EXTRAPOLATION_RATIO` times beyond).

        Examples
        --------
        >>> b = DesignBounds.from_sizes([1e7, 1e8], [2e8, 2e9])
        >>> b.outside([1e8, 1.8e9], [2e9, 3.6e10]).tolist()   # inside; 18x the largest size
        [False, True]
        """
        n = np.asarray(n_params, dtype=float)
        d = np.asarray(n_tokens, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_c, log_n, log_m = np.log(6.0 * n * d), np.log(n), np.log(d / n)
        tol = 1e-9  # a fitted run itself is inside
        return ((log_n > self.log_n_max + tol) | (log_c > self.log_c_max + tol)
                | (log_c < self.log_c_min - tol) | (log_m > self.log_m_max + tol)
                | (log_m < self.log_m_min - tol))

    def distance(self, n_params, n_tokens) -> np.ndarray:
        """Extrapolation distance ``sqrt(u_c^2 + u_m^2)`` of each target (0 inside the design)."""
        u = self.components(n_params, n_tokens)
        return np.sqrt(u["u_c"] ** 2 + u["u_m"] ** 2)

    def describe(self, targets: pd.DataFrame) -> pd.DataFrame:
        """Per target: ``compute_ratio`` (C / largest fitted C), ``params_ratio`` (N / largest
        fitted N), ``m_outside`` (factor outside the fitted M range, 1 inside) and ``distance``."""
        n = targets["n_params"].to_numpy(float)
        d = targets["n_tokens"].to_numpy(float)
        u = self.components(n, d)
        return pd.DataFrame({
            "compute_ratio": np.exp(np.log(6.0 * n * d) - self.log_c_max),
            "params_ratio": np.exp(np.log(n) - self.log_n_max),
            "m_outside": np.exp(u["u_m"]),
            "distance": np.sqrt(u["u_c"] ** 2 + u["u_m"] ** 2),
        }, index=targets.index)


def warn_far_extrapolation(bounds: DesignBounds, targets: pd.DataFrame, *,
                           stacklevel: int = 3) -> pd.DataFrame:
    """Warn (:class:`ExtrapolationWarning`) when a target is more than
    :data:`FAR_EXTRAPOLATION_RATIO` times beyond the fitted compute or size, or outside the fitted
    tokens-per-parameter range by that factor. Returns :meth:`DesignBounds.describe`."""
    info = bounds.describe(targets)
    far = ((info["compute_ratio"] > FAR_EXTRAPOLATION_RATIO)
           | (info["params_ratio"] > FAR_EXTRAPOLATION_RATIO)
           | (info["m_outside"] > FAR_EXTRAPOLATION_RATIO))
    if far.any():
        i = int(np.flatnonzero(far.to_numpy())[0])
        row = info.iloc[i]
        t = targets.iloc[i]
        warnings.warn(
            f"{int(far.sum())} of {len(targets)} targets lie far outside the fitted runs, e.g. "
            f"n_params={t['n_params']:.3g}, n_tokens={t['n_tokens']:.3g}: "
            f"{row['compute_ratio']:.3g}x the largest fitted compute, "
            f"{row['params_ratio']:.3g}x the largest fitted size, tokens per parameter "
            f"{row['m_outside']:.3g}x outside the fitted range. The interval includes the "
            "extrapolation discrepancy learned from the fitting runs, but a law this far from its "
            "data is a guess: add runs closer to the target",
            ExtrapolationWarning, stacklevel=stacklevel)
    return info


def warn_compute_range(bounds: DesignBounds, compute_flops, *, what: str,
                       stacklevel: int = 3) -> np.ndarray:
    """Warn when compute budgets (or answers in compute) lie below the smallest fitted run's
    compute or more than :data:`FAR_EXTRAPOLATION_RATIO` times beyond the largest. Returns a
    boolean array: True where the value lies outside ``[C_min, 100 C_max]``."""
    c = np.asarray(compute_flops, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_c = np.log(c)
    below = log_c < bounds.log_c_min
    above = log_c > bounds.log_c_max + np.log(FAR_EXTRAPOLATION_RATIO)
    if below.any():
        warnings.warn(
            f"{int(below.sum())} {what} below the smallest fitted run's compute "
            f"({np.exp(bounds.log_c_min):.3g} FLOPs): the law is extrapolated downwards, where "
            "no run constrains it; fit runs at that scale or ask about larger budgets",
            ExtrapolationWarning, stacklevel=stacklevel)
    if above.any():
        warnings.warn(
            f"{int(above.sum())} {what} more than {FAR_EXTRAPOLATION_RATIO:g}x the largest "
            f"fitted compute ({np.exp(bounds.log_c_max):.3g} FLOPs): a far extrapolation",
            ExtrapolationWarning, stacklevel=stacklevel)
    return below | above
