"""Serialisable prior specifications and per-law defaults.

A :class:`Prior` is frozen data (a distribution name and its parameters) that turns into a NumPyro
distribution only inside a model. Priors round-trip through JSON, so a saved fit records exactly
what it assumed. A parameter value may be the symbol ``"min_observed_loss"``, resolved at fit time
to the smallest observed loss (used to keep the irreducible loss E below every observed loss).

Default loss-law priors (weakly informative; references are published point fits)
----------------------------------------------------------------------------------
``E ~ TruncatedNormal(2.0, 1.0, low=0, high=min observed loss)``
    Irreducible loss in nats/token. Published fits: Chinchilla E = 1.69 (Hoffmann et al. 2022),
    Epoch's replication 1.82 [1.77, 1.87] (Besiroglu et al. 2024), Gadre et al. (2024) fits on C4
    eval ~1.5-2.0. A scale of 1 nat covers all of them and more; the upper bound is physical:
    the mean loss of any run lies above E.
``a, b ~ Normal(-0.5, 1.5)``
    Log of the size term and data term, in nats, at the centre of the design
    (:math:`A N_0^{-\\alpha}` and :math:`B D_0^{-\\beta}`). Centred terms of published fits on their
    own designs lie between ~0.1 and ~2 nats (log -2.3 to 0.7); +-2 sd spans 0.03 to 12 nats.
``alpha, beta, eta ~ Beta(2, 4)``
    Exponents in (0, 1): mean 0.33, 95% in [0.04, 0.71]. Chinchilla 0.34 / 0.28, Epoch
    0.35 / 0.37, Kaplan et al.'s 0.076 / 0.095 and Gadre et al.'s tied fits all lie inside.
``sigma ~ LogNormal(log 0.01, 1)``
    Run-to-run scatter of log loss beyond the eval set's measurement error (seed, data order,
    hyper-parameter noise), i.e. a relative error: median 1%, 95% in [0.14%, 7%]; the posteriors
    here put it at 0.4% (Epoch's points) to 1.3% (Gadre et al.'s runs). A boundary-avoiding
    prior: on the paper's 5-run fitting sets a HalfNormal(0.05) let sigma fall into a funnel at
    0 (R-hat 1.02-1.03, up to 5 divergences, 90% intervals 20-27% wide); this prior gives R-hat
    <= 1.013, no divergences and intervals 12-18% wide, and leaves the 32-run fits unchanged
    (medians within 0.15%, measured with scratch runs of benchmarks/loss_results.py).
``outlier_prob ~ Beta(1, 9)``
    Share of runs the law does not describe (the default ``"mixture"`` noise model): mean 10%,
    mode 0, 95% below 28%. Gadre et al.'s corpora have 3 clearly outlying runs of ~32 (the M = 5
    runs); a prior centred there lets data without outliers push it towards 0.
``outlier_scale ~ LogNormal(log 0.05, 1)``
    Extra scatter of an outlying run's log loss, added in quadrature to the regular scale: median
    5%, 95% in [0.7%, 36%]; the M = 5 runs sit 4-16% above the law.
``nu ~ Gamma(2, 0.1)``
    Degrees of freedom of the Student-t noise option (Juárez & Steel 2010): mean 20, mass down to
    ~2 for heavy tails.

Examples
--------
>>> p = Prior("normal", loc=0.0, scale=1.5)
>>> Prior.from_dict(p.to_dict()) == p
True
>>> sorted(default_priors("gadre"))
['E', 'a', 'b', 'eta', 'nu', 'outlier_prob', 'outlier_scale', 'sigma']
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Prior", "default_priors", "default_error_priors", "merge_priors", "priors_to_json",
           "priors_from_json", "MIN_OBSERVED_LOSS"]

MIN_OBSERVED_LOSS = "min_observed_loss"

# distribution name -> (numpyro class name, required parameter names)
_DISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "normal": ("Normal", ("loc", "scale")),
    "lognormal": ("LogNormal", ("loc", "scale")),
    "halfnormal": ("HalfNormal", ("scale",)),
    "beta": ("Beta", ("concentration1", "concentration0")),
    "truncated_normal": ("TruncatedNormal", ("loc", "scale", "low", "high")),
    "uniform": ("Uniform", ("low", "high")),
    "gamma": ("Gamma", ("concentration", "rate")),
    "exponential": ("Exponential", ("rate",)),
    "delta": ("Delta", ("v",)),
}
_SYMBOLS = (MIN_OBSERVED_LOSS,)

# A valid call per distribution, quoted in error messages.
_EXAMPLES = {
    "normal": "Prior('normal', loc=0.0, scale=1.0)",
    "lognormal": "Prior('lognormal', loc=0.0, scale=0.75)",
    "halfnormal": "Prior('halfnormal', scale=0.05)",
    "beta": "Prior('beta', a=2.0, b=4.0)",
    "truncated_normal": "Prior('truncated_normal', loc=2.0, scale=1.0, low=0.0, high=None)",
    "uniform": "Prior('uniform', low=0.0, high=1.0)",
    "gamma": "Prior('gamma', concentration=2.0, rate=0.1)",
    "exponential": "Prior('exponential', rate=1.0)",
    "delta": "Prior('delta', v=0.3)",
}
# parameter -> what it is, for "must be > 0" messages
_POSITIVE = {
    "scale": "a standard deviation",
    "concentration1": "a concentration (beta's a)",
    "concentration0": "a concentration (beta's b)",
    "concentration": "a shape (concentration)",
    "rate": "a rate",
}


def _check_values(dist: str, values: Mapping[str, Any]) -> None:
    """Finite numbers, positive scales / concentrations / rates, low < high; else ValueError
    naming the distribution, the parameter and the fix."""
    fix = f"Fix: e.g. {_EXAMPLES[dist]}"
    for k, v in values.items():
        if not isinstance(v, float):
            continue
        if not math.isfinite(v):
            extra = " (use None for no bound)" if dist == "truncated_normal" and k in (
                "low", "high") else ""
            raise ValueError(f"Prior({dist!r}): parameter {k!r} must be finite, got {v!r}"
                             f"{extra}. {fix}")
        if k in _POSITIVE and not v > 0:
            raise ValueError(f"Prior({dist!r}): parameter {k!r} is {_POSITIVE[k]} and must be "
                             f"> 0, got {v!r}. {fix}")
    low, high = values.get("low"), values.get("high")
    if isinstance(low, float) and isinstance(high, float) and not low < high:
        raise ValueError(f"Prior({dist!r}): low must be below high, got low={low!r}, "
                         f"high={high!r}. Fix: swap them or widen the range, e.g. "
                         f"{_EXAMPLES[dist]}")


@dataclass(frozen=True)
class Prior:
    """A prior distribution as frozen, JSON-serialisable data.

    Parameters
    ----------
    dist : str
        One of ``normal, lognormal, halfnormal, beta, truncated_normal, uniform, gamma,
        exponential, delta`` (``delta`` fixes a parameter to a value).
    **params : float or str
        The distribution's parameters, NumPyro names (``beta`` uses ``concentration1`` /
        ``concentration0``; ``a``/``b`` are accepted as aliases). ``truncated_normal`` may leave
        ``low`` or ``high`` as ``None``; ``high`` may be ``"min_observed_loss"``.

    Examples
    --------
    >>> Prior("beta", a=2, b=4)
    Prior(dist='beta', params=(('concentration0', 4.0), ('concentration1', 2.0)))
    """

    dist: str
    params: tuple[tuple[str, Any], ...] = field(default=())

    def __init__(self, dist: str, params: Mapping[str, Any] | None = None, **kwargs: Any):
        if not isinstance(dist, str) or dist not in _DISTS:
            raise ValueError(f"unknown prior distribution {dist!r}; use one of {sorted(_DISTS)}")
        values = dict(params or {}, **kwargs)
        if dist == "beta":
            values = {{"a": "concentration1", "b": "concentration0"}.get(k, k): v
                      for k, v in values.items()}
        required = _DISTS[dist][1]
        if dist == "truncated_normal":
            values.setdefault("low", None)
            values.setdefault("high", None)
        missing = [k for k in required if k not in values]
        extra = [k for k in values if k not in required]
        if missing or extra:
            raise ValueError(
                f"Prior({dist!r}) takes parameters {list(required)}; "
                f"missing {missing}, unexpected {extra}. Fix: e.g. {_EXAMPLES[dist]}"
            )
        clean = {}
        for k, v in values.items():
            if (v is None and dist == "truncated_normal" and k in ("low", "high")) or (
                    isinstance(v, str) and v in _SYMBOLS):
                clean[k] = v
                continue
            if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
                allowed = "a number" + (", None (no bound)" if dist == "truncated_normal"
                                        and k in ("low", "high") else "")
                raise ValueError(
                    f"Prior({dist!r}): parameter {k!r} must be {allowed} or one of "
                    f"{list(_SYMBOLS)}; got {v!r} ({type(v).__name__}). "
                    f"Fix: e.g. {_EXAMPLES[dist]}"
                )
            clean[k] = float(v)
        _check_values(dist, clean)
        object.__setattr__(self, "dist", dist)
        object.__setattr__(self, "params", tuple(sorted(clean.items())))

    @property
    def kwargs(self) -> dict[str, Any]:
        """The parameters as a dict."""
        return dict(self.params)

    def resolve(self, context: Mapping[str, float]) -> Prior:
        """Replace symbols such as ``"min_observed_loss"`` by values from ``context``."""
        missing = [v for _, v in self.params if isinstance(v, str) and v not in context]
        if missing:
            raise ValueError(f"prior {self} needs {missing[0]!r}, which the fit did not supply")
        vals = {k: (context[v] if isinstance(v, str) else v) for k, v in self.params}
        return Prior(self.dist, vals)

    def to_numpyro(self, **overrides: Any):
        """The NumPyro distribution (parameters may be overridden by traced arrays)."""
        import numpyro.distributions as dist

        kw = self.kwargs | overrides
        unresolved = [k for k, v in kw.items() if isinstance(v, str)]
        if unresolved:
            raise ValueError(f"prior {self} has unresolved symbols in {unresolved}; call resolve()")
        if self.dist == "truncated_normal":
            kw = {k: v for k, v in kw.items() if v is not None}
        return getattr(dist, _DISTS[self.dist][0])(**kw)

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, **self.kwargs}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Prior:
        """The prior written by :meth:`to_dict`: ``{"dist": name, **params}``."""
        if not isinstance(d, Mapping):
            raise ValueError(f"a prior spec is a dict such as {{'dist': 'normal', 'loc': 0.0, "
                             f"'scale': 1.0}} or a Prior; got {type(d).__name__} ({d!r:.60})")
        d = dict(d)
        try:
            name = d.pop("dist")
        except KeyError:
            raise ValueError(f"prior spec {d!r} has no 'dist' key") from None
        return cls(name, d)

    def __str__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params)
        return f"{self.dist}({args})"


def default_priors(law: str) -> dict[str, Prior]:
    """Default priors of a loss law (see the module docstring for the justification)."""
    from bayes_scaling.laws.forms import get_law

    spec = get_law(law)
    priors: dict[str, Prior] = {
        "E": Prior("truncated_normal", loc=2.0, scale=1.0, low=0.0, high=MIN_OBSERVED_LOSS),
        "a": Prior("normal", loc=-0.5, scale=1.5),
        "b": Prior("normal", loc=-0.5, scale=1.5),
        "sigma": Prior("lognormal", loc=math.log(0.01), scale=1.0),
        "nu": Prior("gamma", concentration=2.0, rate=0.1),
        "outlier_prob": Prior("beta", a=1.0, b=9.0),
        "outlier_scale": Prior("lognormal", loc=math.log(0.05), scale=1.0),
    }
    for name in spec.exponents:
        priors[name] = Prior("beta", a=2.0, b=4.0)
    return priors


def default_error_priors(law: str) -> dict[str, Prior]:
    """Default priors of a downstream error law (:data:`bayes_scaling.laws.forms.ERROR_LAWS`).

    Both laws are sampled in a centred form: ``err_ref_frac`` is the mean error at the reference
    loss ``L_ref`` (the median observed loss of the fitted runs) as a fraction of the chance-level
    error ``c``, the one quantity the data pin down well. The rest are shape parameters.

    Shared
    ------
    ``err_ref_frac ~ Beta(1, 1)``
        Uniform on (0, 1): at the data's median loss the error may lie anywhere between 0 and
        chance. The data decide (they sit right there).
    ``sigma ~ HalfNormal(0.03)``
        Scatter of the measured error around the law *beyond* the benchmark's own sampling
        error (which the model adds from the number of test items): seed, data order, prompt
        sensitivity. Residuals of the paper's 6-run fits are 0.3-1.7 points of error with
        ~0.5-0.7 points of that being item sampling; 95% of this prior lies below 6 points.
    ``nu ~ Gamma(2, 0.1)``
        Student-t degrees of freedom (``noise="student_t"`` only), as for the loss law.
    ``inv_sqrt_items ~ HalfNormal(0.1)``
        Used only when the column's item count is unknown: the benchmark's sampling sd is then
        learned as ``sqrt(p (1 - p)) * inv_sqrt_items`` (binomial-shaped, ``1 / sqrt(n_items)``
        learned). Median 0.067 (~220 items), 95% below 0.196 (at least ~26 items); 0 (a huge
        benchmark) is allowed.

    Rates are unit-free
    -------------------
    The loss may be in nats/token, bits/byte or a per-task loss, so no prior assumes nats: the
    rate of each law is sampled per unit of *relative* loss, ``gamma_rel = gamma * L_ref`` and
    ``slope_rel = slope * L_ref`` (``L_ref`` the median observed loss), which a change of unit
    leaves unchanged. Least-squares fits of Gadre et al.'s 6 runs give gamma 0.7-1.2 per nat at
    L_ref ~ 3.3 nats, i.e. ``gamma_rel`` 2.3-4.

    ``"exponential"``: ``Err(L) = eps - k exp(-gamma L)``
    -------------------------------------------------------
    ``gamma_rel ~ LogNormal(log 3, 0.75)``
        Median 3 (1 per nat at a reference loss of 3 nats), 95% in [0.69, 13].
    ``eps_gap ~ Beta(3, 1)``
        Where ``eps`` lies between ``Err(L_ref)`` and chance: ``eps = err_ref + (c - err_ref)
        eps_gap``, so ``eps <= c`` always. Mode at 1 (eps = chance), because a model whose loss
        tends to that of a uniform guess is at chance by definition; mass below 1 lets the
        exponential form bend away from that limit (P(eps_gap < 0.5) = 0.125).

    ``"sigmoid"``: ``Err(L) = floor + (c - floor) sigmoid(slope (L - midpoint))``
    ------------------------------------------------------------------------------
    ``slope_rel ~ LogNormal(log 3, 0.75)``
        Plays gamma's role in the upper tail (Err ~ c - (c - floor) e^(-slope (L - mid))).
    ``floor_frac ~ Beta(1.5, 3)``
        The floor (the best reachable error; ``1 - floor`` is the task's accuracy ceiling) as a
        fraction of ``Err(L_ref)``: mean 1/3, so the error of a very strong model is a third of
        today's mid-range error a priori, with anything from ~0 to ~0.9 plausible. The ceiling
        is uncertain, not fixed at 0: runs well below the reference loss are needed to learn
        it, and extrapolations inherit its (honest) uncertainty.

    Examples
    --------
    >>> sorted(default_error_priors("exponential"))
    ['eps_gap', 'err_ref_frac', 'gamma_rel', 'inv_sqrt_items', 'nu', 'sigma']
    """
    from bayes_scaling.laws.forms import get_error_law

    get_error_law(law)
    shared = {
        "err_ref_frac": Prior("beta", a=1.0, b=1.0),
        "sigma": Prior("halfnormal", scale=0.03),
        "nu": Prior("gamma", concentration=2.0, rate=0.1),
        "inv_sqrt_items": Prior("halfnormal", scale=0.1),
    }
    if law == "exponential":
        return shared | {
            "gamma_rel": Prior("lognormal", loc=math.log(3.0), scale=0.75),
            "eps_gap": Prior("beta", a=3.0, b=1.0),
        }
    return shared | {
        "slope_rel": Prior("lognormal", loc=math.log(3.0), scale=0.75),
        "floor_frac": Prior("beta", a=1.5, b=3.0),
    }


def merge_priors(defaults: Mapping[str, Prior], overrides: Mapping[str, Any] | None) -> dict[str, Prior]:
    """Merge user overrides (Prior objects or dicts) over defaults, rejecting unknown names."""
    out = dict(defaults)
    for name, p in (overrides or {}).items():
        if name not in defaults:
            raise ValueError(
                f"prior given for unknown parameter {name!r}; this model's parameters are "
                f"{sorted(defaults)}"
            )
        try:
            out[name] = p if isinstance(p, Prior) else Prior.from_dict(p)
        except ValueError as err:
            raise ValueError(f"prior for {name!r}: {err}") from None
    return out


def priors_to_json(priors: Mapping[str, Prior]) -> str:
    return json.dumps({k: v.to_dict() for k, v in sorted(priors.items())}, sort_keys=True)


def priors_from_json(s: str) -> dict[str, Prior]:
    return {k: Prior.from_dict(v) for k, v in json.loads(s).items()}
