"""``PooledErrorLaw``: one downstream error law per task, partially pooled across tasks.

Why pool
--------
:class:`~bayes_scaling.ErrorLaw` fits each ``err_<task>`` column alone. A task whose runs all sit
near chance (it has not taken off yet) or scatter by its small test set says little about its
slope and ceiling, and its law then rests on the single-task priors. Fitted jointly, the tasks'
laws share population means and scales learned from all of them: a task with few informative
runs is drawn toward what the other tasks did, and only as far as the between-task spread allows.

Model (:func:`bayes_scaling.models.core.make_pooled_error_model`)
----------------------------------------------------------------
The law's rate (``slope_rel`` for the sigmoid, ``gamma_rel`` for the exponential: how fast the
error falls with loss; ``pool=`` names others) is, per task ``t``, ``u_t = p_loc + p_scale z_t`` with
``z_t ~ N(0, 1)`` (non-centred), on the logit scale for fractions and the log scale for the
rates, at one reference loss shared by all tasks (the median fitted loss). The error at that loss
(``err_ref_frac``) and the ceiling (``floor_frac``) keep their single-law priors by default:
pooled, the first made the posterior of Gadre et al.'s 46 tasks multimodal (R-hat 3.9) and the
second's population sd went to 7.6-11.7 logit units (floors near 0 or at the error itself: no
pooling in effect) at ~900 leapfrog steps per draw.
Per task as in ``ErrorLaw``: the chance level and item count
from the task metadata (:func:`~bayes_scaling.estimators.tasks.task_metadata`, field by field
from ``chance=``/``n_items=`` mappings, ``tasks=``, ``<error>_chance`` columns or Gadre et al.'s
metadata), the binomial sampling error (learned, ``inv_sqrt_items``, where the item count is
unknown), a learned scatter ``sigma_t``, the loss's measurement error linearised through the law
(``loss_error="linearised"``; a latent loss per run is not offered here), and the
leave-future-out extrapolation discrepancy, one ``kappa`` per task
(:mod:`bayes_scaling.estimators.pooled_error_lfo`). Hyperpriors:
:func:`~bayes_scaling.estimators.pooled_error_lfo.default_pooled_error_priors`.

Whether it helps is measured in ``docs/downstream.md`` (rows ``pooled_sigmoid``).

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024")                                      # doctest: +SKIP
>>> small = runs[(runs.dataset == "rpj") & (runs.compute_flops < 1e20)]     # doctest: +SKIP
>>> pooled = PooledErrorLaw(errors=["err_copa", "err_piqa", "err_boolq"]).fit(small, seed=0)  # doctest: +SKIP
>>> pooled.predict([2.6, 2.5], error="err_copa", ci_prob=0.9)              # doctest: +SKIP
>>> ScalingPredictor(loss_law, pooled.for_task("err_copa"))                 # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.estimators.base import FittedModel
from bayes_scaling.estimators.error_law import ERROR_SAMPLER_DEFAULTS, ErrorLaw
from bayes_scaling.estimators.io import FILE_FORMAT
from bayes_scaling.estimators.pooled import POPULATION
from bayes_scaling.estimators.pooled_error_data import prepare_pooled_error, task_columns
from bayes_scaling.estimators.pooled_error_lfo import (
    calibrate_pooled_discrepancy,
    default_pooled_error_priors,
)
from bayes_scaling.inference.config import SamplerConfig, check_seed, enable_x64
from bayes_scaling.inference.diagnostics import Diagnostics
from bayes_scaling.laws.forms import ErrorLawSpec, get_error_law
from bayes_scaling.laws.priors import (
    default_error_priors,
    merge_priors,
    priors_from_json,
    priors_to_json,
)
from bayes_scaling.models.core import (
    DEFAULT_POOLED,
    ERROR_NOISE_MODELS,
    make_pooled_error_model,
    pooled_error_site_names,
)

__all__ = ["POPULATION", "PooledErrorLaw", "default_pooled_error_priors", "task_columns"]

class PooledErrorLaw(FittedModel):
    """Bayesian error laws of many tasks, partially pooled across tasks (NUTS posterior).

    Parameters
    ----------
    law : {"sigmoid", "exponential"}
        The law's form, shared by every task (default ``"sigmoid"``, as ``ErrorLaw``).
    errors : sequence of str, optional
        Error columns to fit (at least 2). Default: every ``err_<task>`` column of the runs
        (:func:`task_columns`), or the keys when ``fit`` gets a mapping of tables.
    loss : str
        Loss column used as input; ``<loss>_ci`` (95% half-width) is its measurement error.
    priors : mapping, optional
        Overrides merged over :func:`default_pooled_error_priors`.
    noise : {"normal", "student_t"}
        Scatter of each task's error around its law (``nu`` shared by the tasks).
    sampler : SamplerConfig or dict, optional
        NUTS settings, merged over ``ErrorLaw``'s (4 chains x (1000 + 1000), target 0.99).
    chance, n_items : mapping of str to float, optional
        Per error column, explicit chance-level error / item count (``0``: no sampling term);
        the rest comes from ``tasks``, the runs' ``<error>_chance`` columns or, for gadre2024
        runs, Gadre et al.'s metadata, exactly as for ``ErrorLaw``.
    tasks : DataFrame, optional
        Task-metadata table (see :mod:`bayes_scaling.estimators.tasks`).
    loss_unit : str
        Unit of the loss column (recorded, shown in plots).
    data_dir : str or path-like, optional
        Where the gadre2024 metadata is.
    discrepancy : {"lfo", None}
        ``"lfo"`` (default): learn each task's extrapolation discrepancy from three masked
        refits of the pooled model; ``None``: none.
    pool : sequence of str, optional
        Sampled parameters pooled across tasks; default the rate (``slope_rel``, or
        ``gamma_rel`` for the exponential, :data:`~bayes_scaling.models.core.DEFAULT_POOLED`),
        the others keep their single-law prior per task.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior``: hyperparameters ``<p>_loc``/``<p>_scale``, standardised ``<p>_z``, the
        per-task sampled and natural parameters, ``sigma`` (and ``inv_sqrt_items``) on a
        ``task`` dimension, ``nu``; ``log_likelihood``/``observed_data``/``constant_data`` on
        an ``obs`` dimension (one task's error on one run).

    Examples
    --------
    >>> PooledErrorLaw(errors=["err_copa", "err_piqa"])
    PooledErrorLaw('sigmoid', errors=['err_copa', 'err_piqa'], loss='loss_c4_val'; not fitted)
    """

    kind = "PooledErrorLaw"

    def __init__(
        self,
        law: str = "sigmoid",
        *,
        errors: Sequence[str] | None = None,
        loss: str = "loss_c4_val",
        priors: Mapping[str, Any] | None = None,
        noise: str = "normal",
        sampler: SamplerConfig | Mapping[str, Any] | None = None,
        chance: Mapping[str, float] | None = None,
        n_items: Mapping[str, float] | None = None,
        tasks: pd.DataFrame | None = None,
        loss_unit: str = "nats/token",
        data_dir: str | os.PathLike[str] | None = None,
        discrepancy: str | None = "lfo",
        pool: Sequence[str] | None = None,
    ):
        self.spec: ErrorLawSpec = get_error_law(law)
        self.pool = tuple(DEFAULT_POOLED[law] if pool is None else pool)
        bad = sorted(set(self.pool) - set(self.spec.sampled))
        if bad or not self.pool:
            raise ValueError(f"pool must name some of the {law!r} law's sampled parameters "
                             f"{list(self.spec.sampled)}, got {list(self.pool)}")
        if noise not in ERROR_NOISE_MODELS:
            raise ValueError(f"unknown noise model {noise!r}; use one of {ERROR_NOISE_MODELS}")
        if discrepancy not in ("lfo", None):
            raise ValueError(f"discrepancy must be 'lfo' or None, got {discrepancy!r}")
        if isinstance(errors, str):
            raise TypeError(f"errors must be a list of error columns, got the string {errors!r}"
                            f"; for one column use ErrorLaw(error={errors!r})")
        for name, m in (("chance", chance), ("n_items", n_items)):
            if m is not None and not isinstance(m, Mapping):
                raise TypeError(f"{name} must map error columns to values, e.g. "
                                f"{{'err_copa': 0.5}}, got {type(m).__name__}")
        self.errors = None if errors is None else [str(e) for e in errors]
        self.loss, self.noise, self.loss_unit = loss, noise, loss_unit
        self.chance = dict(chance or {})
        self.n_items = dict(n_items or {})
        self.tasks, self.data_dir, self.discrepancy = tasks, data_dir, discrepancy
        self.priors = merge_priors(default_pooled_error_priors(law), priors)
        self.sampler = SamplerConfig.coerce(sampler, ERROR_SAMPLER_DEFAULTS)
        self.idata = None
        self._diagnostics: Diagnostics | None = None
        self._learn_items = False
        self._views: dict[str, ErrorLaw] = {}

    @property
    def law(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"PooledErrorLaw({self.law!r}, errors={self.errors!r}, loss={self.loss!r}; "
                f"{state})")

    def _model_key(self) -> tuple:
        return ("pooled_error", self.law, priors_to_json(self.priors), self.noise,
                self._learn_items, self.pool)

    def _model(self):
        return make_pooled_error_model(self.spec, self.priors, self.noise,
                                       learn_items=self._learn_items, pooled=self.pool)

    @property
    def columns(self) -> tuple[str, ...]:
        """The fitted error columns, in the order of the posterior's ``task`` dimension."""
        self._require_fit()
        return tuple(str(t) for t in self.idata.posterior["task"].values)

    @property
    def chance_error(self) -> dict[str, float]:
        """Chance-level error of each fitted column."""
        self._require_fit()
        return dict(zip(self.columns, map(float, self.idata.constant_data["chance"].values),
                        strict=True))

    @property
    def n_draws(self) -> int:
        self._require_fit()
        s = self.idata.posterior.sizes
        return int(s["chain"] * s["draw"])

    @property
    def chain_shape(self) -> tuple[int, int]:
        self._require_fit()
        s = self.idata.posterior.sizes
        return int(s["chain"]), int(s["draw"])

    # ------------------------------------------------------------------ data -> model arrays
    def _prepare(self, runs) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        kw, meta = prepare_pooled_error(self, runs)
        self._learn_items = bool(meta["learn"].any())
        return kw, meta

    @staticmethod
    def _data_hash(kw: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        h = hashlib.sha256()
        for k in ("loss_obs", "loss_sd", "err_sd", "error", "chance", "task"):
            h.update(np.ascontiguousarray(kw[k], dtype=np.float64).tobytes())
        h.update("\x00".join(map(str, meta["run_id"])).encode())
        h.update("\x01".join(meta["columns"]).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ fitting
    def fit(self, runs, *, seed: int, progress: bool = False, warn: bool = True):
        """Sample the joint posterior, then learn each task's extrapolation discrepancy.

        Parameters
        ----------
        runs : DataFrame or mapping of str to DataFrame
            One runs table holding every error column, or one table per error column (tasks
            measured on different runs).
        seed, progress, warn
            As :meth:`FittedModel.fit`.
        """
        from bayes_scaling.estimators.discrepancy import Discrepancy

        seed = check_seed(seed)
        kw, meta = self._prepare(runs)
        self._views = {}
        self._fit_prepared(kw, meta, seed=seed, progress=progress, warn=warn)
        disc = (calibrate_pooled_discrepancy(self, kw, meta, seed=seed)
                if self.discrepancy == "lfo" else
                {c: Discrepancy.none() for c in meta["columns"]})
        self.idata.attrs["discrepancy"] = json.dumps({c: d.to_json() for c, d in disc.items()})
        self.idata.attrs["loss_min_fit"] = json.dumps(
            {c: float(kw["loss_obs"][kw["task"] == j].min())
             for j, c in enumerate(meta["columns"])})
        self._warn_refits(warn)
        return self

    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):
        import arviz_base as ab
        import jax.numpy as jnp
        from numpyro.infer import log_likelihood

        enable_x64()
        n_chain, n_draw = next(iter(posterior.values())).shape[:2]
        flat = {k: jnp.asarray(v.reshape(n_chain * n_draw, *v.shape[2:]))
                for k, v in posterior.items()}
        ll = log_likelihood(self._model(), flat, **{k: jnp.asarray(v) for k, v in kw.items()})
        ll = {k: np.asarray(v).reshape(n_chain, n_draw, -1) for k, v in ll.items()}
        per_task = [*self.spec.sampled, *self.spec.params, "sigma", "inv_sqrt_items",
                    *(f"{k}_z" for k in self.spec.sampled if k in self.pool)]
        dims = {k: ["task"] for k in per_task + ["chance", "n_items", "items_learned"]}
        dims |= {k: ["obs"] for k in ("error", "loss", "loss_sd", "err_sd", "err_unit",
                                      "obs_task", "obs_run")}
        cols = meta["columns"]
        obs = [f"{r}/{cols[t]}" for r, t in zip(meta["run_id"], kw["task"], strict=True)]
        dt = ab.from_dict(
            {"posterior": {k: np.asarray(v) for k, v in posterior.items()},
             "sample_stats": stats, "log_likelihood": ll,
             "observed_data": {"error": kw["error"], "loss": kw["loss_obs"]},
             "constant_data": {"loss_sd": kw["loss_sd"], "err_sd": kw["err_sd"],
                               "err_unit": kw["err_unit"], "obs_task": kw["task"],
                               "obs_run": np.asarray(meta["run_id"], dtype=str),
                               "chance": kw["chance"], "n_items": meta["n_items"],
                               "items_learned": meta["learn"].astype(np.int8)}},
            dims=dims, coords={"task": list(cols), "obs": obs})
        dt.attrs.update({
            "bayes_scaling_kind": self.kind, "bayes_scaling_version": __version__,
            "file_format": FILE_FORMAT, "law": self.law, "errors": json.dumps(list(cols)),
            "loss": self.loss, "loss_unit": self.loss_unit, "loss_error": "linearised",
            "noise": self.noise, "priors": priors_to_json(self.priors),
            "sampler": json.dumps(self.sampler.to_dict(), sort_keys=True), "seed": int(seed),
            "data_hash": self._data_hash(kw, meta), "loss_ref": float(kw["loss_ref"]),
            "items_learned": int(self._learn_items), "pool": json.dumps(list(self.pool)),
            "metric": json.dumps(meta["metric"]),
            "task_source": json.dumps(meta["task_source"]),
            "backend": json.dumps(facts, sort_keys=True)})
        return dt

    def _diagnostic_names(self) -> list[str]:
        return [*pooled_error_site_names(self.spec, self.noise, self._learn_items, self.pool),
                *(f"{k}_z" for k in self.spec.sampled if k in self.pool),
                *self.spec.sampled]

    @property
    def discrepancy_(self):
        """Each column's learned extrapolation discrepancy:
        ``{column: Discrepancy}`` (method ``"none"`` without one)."""
        return self._discrepancy_map(self.columns)

    # ------------------------------------------------------------------ per-task views
    def _index(self, error: str) -> int:
        cols = self.columns
        if error not in cols:
            raise ValueError(f"unknown error column {error!r}; this fit has {list(cols)}")
        return cols.index(error)

    def for_task(self, error: str) -> ErrorLaw:
        """One column's posterior as a fitted :class:`~bayes_scaling.ErrorLaw`.

        The view shares the pooled draws of that task (its sampled and natural parameters,
        ``sigma``, ``inv_sqrt_items``, ``nu``), its runs, log likelihood and discrepancy, so
        anything that takes an ``ErrorLaw`` (``predict``, ``error_draws``, ``summary``,
        :class:`~bayes_scaling.ScalingPredictor`, ``save``) works on it.
        ``idata.attrs["pooled_from"]`` records the pooled fit and its hyperpriors; ``priors``
        holds the single-law defaults (the view's own prior is the pooled population).
        """
        import arviz_base as ab

        j = self._index(error)
        if error in self._views:
            return self._views[error]
        post, const = self.idata.posterior, self.idata.constant_data
        learned = bool(int(const["items_learned"].values[j]))
        names = [*self.spec.sampled, *self.spec.params, "sigma",
                 *(["inv_sqrt_items"] if learned else []),
                 *(["nu"] if self.noise == "student_t" else [])]
        p = {k: post[k].values[..., j] if "task" in post[k].dims else post[k].values
             for k in names}
        rows = const["obs_task"].values == j
        run = ["run"]
        dt = ab.from_dict(
            {"posterior": p,
             "sample_stats": {k: self.idata.sample_stats[k].values
                              for k in self.idata.sample_stats.data_vars},
             "log_likelihood": {"error": self.idata.log_likelihood["error"].values[..., rows]},
             "observed_data": {k: self.idata.observed_data[k].values[rows]
                               for k in ("error", "loss")},
             "constant_data": {k: const[k].values[rows] for k in ("loss_sd", "err_sd",
                                                                  "err_unit")}},
            dims={k: run for k in ("error", "loss", "loss_sd", "err_sd", "err_unit")},
            coords={"run": list(const["obs_run"].values[rows].astype(str))})
        a = dict(self.idata.attrs)
        disc = json.loads(a.pop("discrepancy")) if "discrepancy" in a else None
        lmin = json.loads(a.pop("loss_min_fit")) if "loss_min_fit" in a else None
        n_items = float(const["n_items"].values[j])
        a.update({"bayes_scaling_kind": ErrorLaw.kind, "error": error,
                  "chance": float(const["chance"].values[j]), "n_items": n_items,
                  "items_learned": int(learned),
                  "metric": json.loads(a["metric"])[j],
                  "task_source": json.loads(a["task_source"])[j],
                  "priors": priors_to_json(default_error_priors(self.law)),
                  "pooled_from": json.dumps({"kind": self.kind, "column": error,
                                             "data_hash": a["data_hash"],
                                             "priors": a["priors"]})})
        a.pop("errors")
        if disc is not None:
            a["discrepancy"], a["loss_min_fit"] = disc[error], float(lmin[error])
        dt.attrs.update(a)
        view = ErrorLaw(self.law, error=error, loss=self.loss, noise=self.noise,
                        sampler=self.sampler, chance=a["chance"],
                        n_items=None if learned else n_items, loss_unit=self.loss_unit,
                        discrepancy="lfo" if disc is not None else None)
        view._learn_items = learned
        view.idata = dt
        self._views[error] = view
        return view

    def error_draws(self, loss, *, error: str, kind: str = "new_run", seed: int = 0,
                    draw_index: np.ndarray | None = None) -> np.ndarray:
        """Posterior draws of column ``error`` at losses ``loss``; as
        :meth:`bayes_scaling.ErrorLaw.error_draws` (shape ``(n_rows, n_losses)``)."""
        return self.for_task(error).error_draws(loss, kind=kind, seed=seed,
                                                draw_index=draw_index)

    def predict(self, loss, *, error: str | Sequence[str] | None = None, ci_prob: float = 0.9,
                kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
        """Predictive summary at known losses, per error column.

        Parameters
        ----------
        loss : array_like
            Losses (1-D).
        error : str or sequence of str, optional
            One column (the frame of :meth:`bayes_scaling.ErrorLaw.predict`), several, or
            ``None`` for every fitted column.
        ci_prob, kind, seed
            As :meth:`bayes_scaling.ErrorLaw.predict`.

        Returns
        -------
        DataFrame
            ``error`` (the column; only when several), ``loss``, ``median``, ``mean``,
            ``lower``, ``upper``.
        """
        self._require_fit()
        if isinstance(error, str):
            return self.for_task(error).predict(loss, ci_prob=ci_prob, kind=kind, seed=seed)
        cols = list(self.columns if error is None else error)
        frames = [self.for_task(c).predict(loss, ci_prob=ci_prob, kind=kind, seed=seed)
                  .assign(error=c) for c in cols]
        out = pd.concat(frames, ignore_index=True)
        out = out[["error", *[c for c in out.columns if c != "error"]]]
        out.attrs.update({**frames[0].attrs, "error": cols})
        return out

    def summary(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """Per-column natural parameters and ``sigma``, then :data:`POPULATION` rows for the
        hyperparameters (``<p>_loc`` on the logit/log scale, ``<p>_scale`` the between-task sd
        there) and ``nu``. Index ``(error, parameter)``; columns ``median, mean, sd, lower,
        upper, rhat, ess_bulk``."""
        from arviz_stats.base import array_stats

        self._require_fit()
        post = self.idata.posterior
        rows = []

        def row(col, name, v):
            flat = v.reshape(-1)
            lo, hi = array_stats.eti(flat, ci_prob)
            mixing = v.shape[1] >= 4 and bool(np.all(np.ptp(v, axis=1) > 0))
            return {"error": col, "parameter": name, "median": float(np.median(flat)),
                    "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)),
                    "lower": float(lo), "upper": float(hi),
                    "rhat": float(array_stats.rhat(v, chain_axis=0, draw_axis=1))
                    if mixing else np.nan,
                    "ess_bulk": float(array_stats.ess(v, chain_axis=0, draw_axis=1,
                                                      method="bulk")) if mixing else np.nan}

        for j, col in enumerate(self.columns):
            for k in [*self.spec.params, "sigma"]:
                rows.append(row(col, k, post[k].values[..., j]))
        for k in pooled_error_site_names(self.spec, self.noise, pooled=self.pool):
            if k != "sigma" and k not in self.spec.sampled:
                rows.append(row(POPULATION, k, post[k].values))
        df = pd.DataFrame(rows).set_index(["error", "parameter"])
        df.attrs["ci_prob"] = ci_prob
        return df

    # ------------------------------------------------------------------ save / load
    @classmethod
    def load(cls, path, *, law: str | None = None) -> PooledErrorLaw:
        """Load a fit written by :meth:`save`.

        Raises
        ------
        bayes_scaling.estimators.io.FitFileError
            Not a PooledErrorLaw fit, an incompatible format, corrupt, or not the ``law`` asked.
        """
        from bayes_scaling.estimators.io import FitFileError

        dt = cls._load_tree(path, law)
        try:
            errors = json.loads(dt.attrs["errors"])
            missing = [k for k in ("obs_task", "chance", "n_items", "items_learned")
                       if k not in dt["constant_data"].data_vars]
        except (ValueError, KeyError, TypeError) as err:
            raise FitFileError(f"{path}: not a readable PooledErrorLaw record ({err}); refit "
                               "and save again") from None
        if missing:
            raise FitFileError(f"{path} lacks {missing} in constant_data; refit and save again")
        obj = cls(dt.attrs["law"], errors=errors, loss=dt.attrs["loss"],
                  noise=dt.attrs["noise"], priors=priors_from_json(dt.attrs["priors"]),
                  sampler=json.loads(dt.attrs["sampler"]),
                  loss_unit=str(dt.attrs.get("loss_unit", "nats/token")),
                  discrepancy="lfo" if "discrepancy" in dt.attrs else None,
                  pool=json.loads(dt.attrs.get("pool", "null")))
        obj._learn_items = bool(int(dt.attrs.get("items_learned", 0)))
        obj.idata = dt
        return obj
