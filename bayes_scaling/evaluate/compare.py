"""Model comparison by PSIS-LOO, stacking weights, and predictions from the stacked mixture.

Which law (``gadre`` or ``chinchilla``) and which noise model (``normal`` or ``student_t``) to
trust is itself uncertain. This module scores fitted laws by their expected log pointwise
predictive density under leave-one-out cross-validation, estimated by Pareto-smoothed importance
sampling (``arviz_stats.loo``; Vehtari, Gelman & Gabry 2017), reports the Pareto-k diagnostic of
every estimate, and combines the laws by *stacking* (Yao, Vehtari, Simpson & Gelman 2018): the
weights that maximise the LOO log score of the weighted mixture of their predictive
distributions (``arviz_stats.compare(..., method="stacking")``). :class:`StackedPredictor` then
draws from that mixture.

What LOO measures here
----------------------
LOO asks how well a law predicts a *held-out run inside the design*, not how well it
extrapolates to a run ten times larger; stacking weights inherit that. Read them as "which law
describes these runs", and check extrapolation with a backtest (``benchmarks/pooling_results.py``,
``docs/pooling.md``).

Pareto k
--------
Each run's importance weights get a Pareto-k: ``k <= 0.7`` (``min(1 - 1/log10 S, 0.7)`` for S
draws) means the PSIS estimate of that run's LOO density is reliable; above it the run is so
influential that removing it changes the posterior a lot, and the estimate (and the weights) may
be biased. The tables count them (``n_high_k``), and a warning names the models that have any.
Outlying runs under a normal likelihood are the usual cause; a Student-t likelihood usually
brings k down.

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.filter_runs(bs.load_dataset("gadre2024"),
...                       "dataset == 'rpj' and n_params < 1e9")  # doctest: +SKIP
>>> fits = fit_law_grid(runs, loss="loss_c4_val", seed=0)                    # doctest: +SKIP
>>> compare_models(fits)                                                     # doctest: +SKIP
>>> stacked = StackedPredictor.from_models(fits)                             # doctest: +SKIP
>>> stacked.predict(pd.DataFrame({"n_params": [6.9e9], "n_tokens": [1.38e11]}))  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import interval_frame, resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.inference.config import SamplerConfig, check_seed

__all__ = [
    "lfo_compare",
    "PARETO_K_THRESHOLD",
    "ParetoKWarning",
    "LossModel",
    "StackedPredictor",
    "compare_models",
    "fit_law_grid",
    "loo_table",
    "stacking_weights",
]

#: Pareto-k above which a PSIS-LOO estimate is unreliable (Vehtari et al. 2024: 0.7 for S >=
#: 2200 draws, ``1 - 1/log10(S)`` below that; the tables report both counts' threshold).
PARETO_K_THRESHOLD = 0.7


class ParetoKWarning(UserWarning):
    """Some PSIS-LOO estimates have Pareto k above the threshold (the LOO estimate, and any
    weights built on it, may be biased)."""


class LossModel(Protocol):
    """What the comparison functions need of a fitted model (``LossLaw``, ``PooledLossLaw``)."""

    idata: Any
    loss: str

    def log_loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run",
                       seed: int = 0) -> np.ndarray: ...


def _name(law: str, noise: str) -> str:
    return f"{law}/{noise}"


def fit_law_grid(
    runs: pd.DataFrame,
    *,
    loss: str = "loss_c4_val",
    laws: Sequence[str] = ("gadre", "chinchilla"),
    noises: Sequence[str] = ("normal", "student_t"),
    priors: Mapping[str, Mapping[str, Any]] | None = None,
    sampler: SamplerConfig | Mapping[str, Any] | None = None,
    seed: int,
    warn: bool = True,
) -> dict[str, LossLaw]:
    """Fit every law x noise model to the same runs.

    Parameters
    ----------
    runs : DataFrame
        One runs table (fit each dataset separately).
    loss : str
        Loss column.
    laws, noises : sequence of str
        Law forms and noise models to cross.
    priors : mapping, optional
        ``{law: overrides}`` per law.
    sampler : SamplerConfig or dict, optional
    seed : int
        Every fit uses this seed (different models, so no shared randomness to worry about).
    warn : bool
        Passed to each fit's diagnostics.

    Returns
    -------
    dict of str to LossLaw
        Keyed ``"<law>/<noise>"``, e.g. ``"gadre/student_t"``, in ``laws`` x ``noises`` order.

    Examples
    --------
    >>> fits = fit_law_grid(runs, loss="loss_c4_val", seed=0)                  # doctest: +SKIP
    >>> list(fits)                                                           # doctest: +SKIP
    ['gadre/normal', 'gadre/student_t', 'chinchilla/normal', 'chinchilla/student_t']
    """
    out: dict[str, LossLaw] = {}
    for law in laws:
        for noise in noises:
            m = LossLaw(law, loss=loss, noise=noise, sampler=sampler,
                        priors=(priors or {}).get(law))
            out[_name(law, noise)] = m.fit(runs, seed=seed, warn=warn)
    return out


def _as_mapping(models: Mapping[str, Any] | Sequence[Any]) -> dict[str, Any]:
    if isinstance(models, Mapping):
        out = dict(models)
    else:
        out = {}
        for m in models:
            key = _name(m.law, m.noise) if hasattr(m, "law") and hasattr(m, "noise") else None
            if key is None or key in out:
                key = f"model_{len(out)}"
            out[key] = m
    if not out:
        raise ValueError("no models given")
    for k, m in out.items():
        if getattr(m, "idata", None) is None:
            raise ValueError(f"model {k!r} is not fitted (no idata); fit or load it first")
        if "log_likelihood" not in m.idata.children:
            raise ValueError(f"model {k!r} has no log_likelihood group; LOO needs pointwise "
                             "log likelihoods")
    return out


def _check_same_data(models: Mapping[str, Any]) -> None:
    """LOO comparisons are only meaningful on the same observations."""
    ref_name, ref = next(iter(models.items()))
    y0 = np.asarray(ref.idata.observed_data["log_loss"].values)
    for k, m in models.items():
        y = np.asarray(m.idata.observed_data["log_loss"].values)
        if y.shape != y0.shape or not np.allclose(y, y0, rtol=0, atol=1e-12):
            raise ValueError(f"models {ref_name!r} and {k!r} were fitted on different runs "
                             f"({y0.size} vs {y.size} observations or different losses); LOO "
                             "can only compare models of the same data")


def _loo(model: Any):
    import arviz_stats as azs

    # arviz-stats warns on any k above its threshold; the tables report the counts instead,
    # and _warn_high_k raises one warning naming the models
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Pareto distribution.*", category=UserWarning)
        return azs.loo(model.idata, pointwise=True, var_name="log_loss")


def _warn_high_k(rows: pd.DataFrame, stacklevel: int = 3) -> None:
    bad = rows[rows["n_high_k"] > 0]
    if len(bad):
        items = ", ".join(f"{k} ({int(r.n_high_k)} of {int(r.n_obs)} runs, max k "
                          f"{r.max_pareto_k:.2f})" for k, r in bad.iterrows())
        warnings.warn(f"PSIS-LOO Pareto k > {PARETO_K_THRESHOLD} for {items}: those runs' LOO "
                      "estimates (and weights built on them) may be biased; consider a "
                      "Student-t likelihood, or refit without the run to check",
                      ParetoKWarning, stacklevel=stacklevel)


def loo_table(models: Mapping[str, Any] | Sequence[Any], *, warn: bool = True) -> pd.DataFrame:
    """PSIS-LOO of each fitted model with its Pareto-k diagnostics.

    Parameters
    ----------
    models : mapping of str to model, or sequence
        Fitted models with a ``log_likelihood`` group (``LossLaw``, ``PooledLossLaw``, or a
        ``PooledLossLaw.for_group`` view). They need not share data.
    warn : bool
        Warn (:class:`ParetoKWarning`) when any model has a Pareto k above
        :data:`PARETO_K_THRESHOLD`.

    Returns
    -------
    DataFrame
        Index ``model``; columns ``elpd_loo`` (sum over runs of the LOO log density of log
        loss), ``se``, ``p_loo`` (effective number of parameters), ``n_obs``, ``n_draws``,
        ``max_pareto_k``, ``n_high_k`` (runs with k > 0.7), ``good_k`` (arviz-stats' sample-size
        dependent threshold) and ``n_above_good_k``.

    Examples
    --------
    >>> loo_table({"gadre/student_t": fit})[["elpd_loo", "n_high_k"]]           # doctest: +SKIP
    """
    ms = _as_mapping(models)
    out = _loo_rows({k: _loo(m) for k, m in ms.items()})
    if warn:
        _warn_high_k(out)
    return out


def _loo_rows(loos: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for k, res in loos.items():
        pk = np.asarray(res.pareto_k.values, dtype=float).ravel()
        rows.append({
            "model": k,
            "elpd_loo": float(res.elpd),
            "se": float(res.se),
            "p_loo": float(res.p),
            "n_obs": int(res.n_data_points),
            "n_draws": int(res.n_samples),
            "max_pareto_k": float(np.nanmax(pk)),
            "n_high_k": int(np.sum(pk > PARETO_K_THRESHOLD)),
            "good_k": float(res.good_k),
            "n_above_good_k": int(np.sum(pk > res.good_k)),
        })
    return pd.DataFrame(rows).set_index("model")


def compare_models(models: Mapping[str, Any] | Sequence[Any], *, method: str = "stacking",
                   warn: bool = True) -> pd.DataFrame:
    """Rank fitted models of the same runs by PSIS-LOO, with weights and Pareto-k counts.

    Parameters
    ----------
    models : mapping of str to model, or sequence
        Fitted models of the *same* runs (checked).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        Weighting method of :func:`arviz_stats.compare`.
    warn : bool
        Warn when any model has a Pareto k above :data:`PARETO_K_THRESHOLD`.

    Returns
    -------
    DataFrame
        :func:`arviz_stats.compare`'s table, unrounded (``rank, elpd_diff, dse, p_worse,
        diag_diff, diag_elpd, p, elpd, se, weight``), best first, plus ``max_pareto_k`` and
        ``n_high_k`` from :func:`loo_table`.

    Examples
    --------
    >>> compare_models(fit_law_grid(runs, seed=0))[["elpd", "weight", "n_high_k"]]  # doctest: +SKIP
    """
    import arviz_stats as azs

    ms = _as_mapping(models)
    _check_same_data(ms)
    loos = {k: _loo(m) for k, m in ms.items()}
    if len(ms) == 1:  # arviz-stats compares two or more
        k, res = next(iter(loos.items()))
        table = pd.DataFrame({"rank": [0], "elpd_diff": [0.0], "dse": [0.0], "p_worse": [np.nan],
                              "diag_diff": [""], "diag_elpd": [""], "p": [float(res.p)],
                              "elpd": [float(res.elpd)], "se": [float(res.se)],
                              "weight": [1.0]}, index=[k])
    else:
        table = azs.compare(loos, method=method, round_to="none")
    lt = _loo_rows(loos)
    table["max_pareto_k"] = lt.loc[table.index, "max_pareto_k"]
    table["n_high_k"] = lt.loc[table.index, "n_high_k"]
    table.index.name = "model"
    if warn:
        _warn_high_k(lt)
    return table


def stacking_weights(models: Mapping[str, Any] | Sequence[Any], *,
                     warn: bool = True) -> pd.Series:
    """Stacking weights of fitted models of the same runs (non-negative, sum to 1).

    Returns
    -------
    Series
        Indexed by model name, in the order given.

    Examples
    --------
    >>> stacking_weights(fit_law_grid(runs, seed=0)).round(2)                  # doctest: +SKIP
    """
    ms = _as_mapping(models)
    table = compare_models(ms, method="stacking", warn=warn)
    w = np.clip(table.loc[list(ms), "weight"].to_numpy(float), 0.0, None)
    return pd.Series(w / w.sum(), index=list(ms), name="weight")


class StackedPredictor:
    """Predictions from a weighted mixture of fitted loss models.

    Each predictive draw comes from one component, chosen with probability equal to its weight:
    the counts per component are multinomial, each component's draws are a random subset of its
    own predictive draws (without replacement while it has enough), and the pooled draws are
    shuffled. A draw is therefore a whole draw of one model, never a blend of two.

    Parameters
    ----------
    models : mapping of str to model, or sequence
        Fitted models with ``log_loss_draws(targets, kind=, seed=)`` (``LossLaw``,
        ``PooledLossLaw``, ``StackedPredictor``) of the same loss column.
    weights : mapping, Series or sequence of float
        Non-negative; normalised to sum to 1. A mapping or Series is matched by name.

    Examples
    --------
    >>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
    >>> from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law
    >>> runs = simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=0)
    >>> a = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", seed=0)
    >>> b = fabricated_loss_law(runs, TRUE_GADRE | {"E": 1.5}, loss="loss_sim", seed=1)
    >>> stacked = StackedPredictor({"a": a, "b": b}, {"a": 0.75, "b": 0.25})
    >>> t = pd.DataFrame({"n_params": [1e9], "n_tokens": [2e10]})
    >>> stacked.loss_draws(t, seed=0).shape
    (1000, 1)
    >>> float(np.mean(stacked.component_index(1000, seed=0) == 0))  # weight 0.75
    0.746
    """

    def __init__(self, models: Mapping[str, Any] | Sequence[Any],
                 weights: Mapping[str, float] | pd.Series | Sequence[float]):
        ms = dict(models) if isinstance(models, Mapping) else {
            f"model_{i}": m for i, m in enumerate(models)}
        if not ms:
            raise ValueError("StackedPredictor needs at least one model")
        names = list(ms)
        if isinstance(weights, Mapping | pd.Series):
            w = dict(weights)
            unknown = sorted(set(w) - set(names))
            if unknown:
                raise ValueError(f"weights name unknown models {unknown}; models: {names}")
            arr = np.asarray([float(w.get(k, 0.0)) for k in names])
        else:
            arr = np.asarray(list(weights), dtype=float)
            if arr.shape != (len(names),):
                raise ValueError(f"{arr.size} weights for {len(names)} models")
        if not np.all(np.isfinite(arr)) or np.any(arr < 0) or arr.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero; got "
                             f"{arr.tolist()}")
        losses = {getattr(m, "loss", None) for m in ms.values()}
        if len(losses) > 1:
            raise ValueError(f"the models predict different loss columns {sorted(map(str, losses))};"
                             " stack models of one loss")
        self.models: dict[str, Any] = ms
        self.loss: str | None = losses.pop()
        self._weights = arr / arr.sum()

    @classmethod
    def from_models(cls, models: Mapping[str, Any] | Sequence[Any], *,
                    warn: bool = True) -> StackedPredictor:
        """Stack fitted models of the same runs with their :func:`stacking_weights`."""
        ms = _as_mapping(models)
        return cls(ms, stacking_weights(ms, warn=warn))

    @property
    def weights(self) -> pd.Series:
        """Normalised weights, by model name."""
        return pd.Series(self._weights, index=list(self.models), name="weight")

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {w:.3f}" for k, w in self.weights.items())
        return f"StackedPredictor({parts})"

    @property
    def n_draws(self) -> int:
        """Default number of mixture draws: the smallest component's number of posterior draws
        (so no component is resampled with replacement)."""
        sizes = []
        for m in self.models.values():
            if isinstance(m, StackedPredictor):
                sizes.append(m.n_draws)
            else:
                post = m.idata.posterior
                sizes.append(int(post.sizes["chain"] * post.sizes["draw"]))
        return min(sizes)

    def _plan(self, n_draws: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Component of each output draw (after shuffling), the shuffle, and per-component
        counts; deterministic in ``seed``."""
        rng = np.random.default_rng(np.random.SeedSequence([check_seed(seed), 0x57AC]))
        counts = rng.multinomial(n_draws, self._weights).tolist()
        comp = np.repeat(np.arange(len(counts)), counts)
        perm = rng.permutation(n_draws)
        return comp[perm], perm, counts

    def component_index(self, n_draws: int | None = None, *, seed: int = 0) -> np.ndarray:
        """Which component each draw of :meth:`log_loss_draws` (same ``n_draws``, ``seed``)
        comes from: integer positions into :attr:`weights`."""
        return self._plan(self.n_draws if n_draws is None else int(n_draws), seed)[0]

    def log_loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run", seed: int = 0,
                       n_draws: int | None = None) -> np.ndarray:
        """Draws of log loss from the stacked mixture: ``(n_draws, n_targets)``.

        Parameters
        ----------
        targets : DataFrame
            As each component needs (a group column for a pooled model).
        kind : {"new_run", "law_mean"}
            Passed to every component.
        seed : int
            Seeds the component choice, the subsets and each component's noise draws.
        n_draws : int, optional
            Default :attr:`n_draws`.
        """
        n = self.n_draws if n_draws is None else int(n_draws)
        if n < 1:
            raise ValueError(f"n_draws must be positive, got {n}")
        _, perm, counts = self._plan(n, seed)
        parts = []
        for i, (m, c) in enumerate(zip(self.models.values(), counts, strict=True)):
            if c == 0:
                continue
            child = int(np.random.SeedSequence([check_seed(seed), i, 1]).generate_state(1)[0])
            d = np.asarray(m.log_loss_draws(targets, kind=kind, seed=child))
            rng = np.random.default_rng(np.random.SeedSequence([check_seed(seed), i, 2]))
            idx = rng.choice(d.shape[0], size=c, replace=c > d.shape[0])
            parts.append(d[idx])
        stacked = np.concatenate(parts, axis=0)
        return stacked[perm]

    def loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run", seed: int = 0,
                   n_draws: int | None = None) -> np.ndarray:
        """Draws of loss from the stacked mixture (see :meth:`log_loss_draws`)."""
        return np.exp(self.log_loss_draws(targets, kind=kind, seed=seed, n_draws=n_draws))

    def predict(self, targets: pd.DataFrame, *, ci_prob: float = 0.9, kind: str = "new_run",
                seed: int = 0, n_draws: int | None = None) -> pd.DataFrame:
        """Median, mean and equal-tailed ``ci_prob`` interval of the mixture at ``targets``.

        Returns
        -------
        DataFrame
            ``targets`` plus ``median, mean, lower, upper``; ``attrs``: ``ci_prob``, ``kind``,
            ``target``, ``loss``, ``weights``.
        """
        draws = self.loss_draws(targets, kind=kind, seed=seed, n_draws=n_draws)
        out = interval_frame(resolve_targets(targets), draws, ci_prob)
        out.attrs.update({"kind": kind, "target": "loss", "loss": self.loss,
                          "weights": {k: float(v) for k, v in self.weights.items()}})
        return out


def lfo_compare(models: Mapping[str, LossLaw]) -> pd.DataFrame:
    """Compare fitted loss laws by their leave-future-out skill on their own runs.

    PSIS-LOO rewards the laws that interpolate best, which here are not the ones that
    extrapolate best (docs/pooling.md); scaling laws are used to extrapolate. Each law's
    leave-future-out points (the refits below compute cut-offs made when it learned its
    discrepancy, :mod:`bayes_scaling.estimators.extrapolation`) score how well it predicted the
    runs above each cut-off.

    Parameters
    ----------
    models : mapping of str to LossLaw
        Fitted laws with ``discrepancy="lfo"``, fitted on the same runs.

    Returns
    -------
    DataFrame
        One row per model, best first: ``elpd_lfo`` (summed log predictive density of the
        held-out log losses, each run weighted to count once), ``se``, ``n_points``,
        ``delta_elpd`` (from the best) and ``weight`` (pseudo-BMA: proportional to
        ``exp(elpd_lfo)``).

    Examples
    --------
    >>> lfo_compare({"gadre": g, "chinchilla": c})             # doctest: +SKIP
    """
    rows = []
    for name, m in models.items():
        lp = m.discrepancy_.lfo_log_density()
        if len(lp) == 0:
            raise ValueError(f"model {name!r} has no leave-future-out points: fit it with "
                             "discrepancy='lfo' on enough runs to refit below a compute cut-off")
        rows.append({"model": name, "elpd_lfo": float(lp.sum()),
                     "se": float(np.sqrt(len(lp)) * lp.std(ddof=1)) if len(lp) > 1 else np.nan,
                     "n_points": int(len(lp))})
    out = pd.DataFrame(rows).sort_values("elpd_lfo", ascending=False).reset_index(drop=True)
    out["delta_elpd"] = out.elpd_lfo - out.elpd_lfo.iloc[0]
    w = np.exp(out.delta_elpd.to_numpy())
    out["weight"] = w / w.sum()
    return out
