"""``ErrorLaw``: downstream top-1 error as a Bayesian function of eval loss, fitted by NUTS.

Gadre et al. (2024) map C4-eval loss to average top-1 error with ``Err(L) = eps - k exp(-gamma L)``
fitted by least squares on 6 runs. Here the law's parameters get priors and a posterior, the
observed loss's measurement error is marginalised through the linearised law (or, on request,
each run's true loss is latent), and the error scatters around the law by the benchmark's own
sampling error plus a learned term (see :func:`bayes_scaling.models.core.make_error_model`).
:class:`~bayes_scaling.predict.predictor.ScalingPredictor` then feeds a loss law's posterior through
this one draw by draw.

Chance level
------------
Every law is bounded by the chance-level error ``c`` of its column: ``1 - random_baseline / 100``
for one task, and the mean of that over the tasks of an average (``err_avg17``, ``err_avg46``:
plain means of task errors, so their chance level is the plain mean of chance levels). Chance
level, item count and metric come from the data's own metadata (``chance=``/``n_items=``, a
``tasks=`` table, or ``<error>_chance``/``<error>_n_items`` columns); Gadre et al.'s
``eval_metadata.csv`` is used only for gadre2024 runs (:mod:`bayes_scaling.estimators.tasks`).

Benchmark sampling error
------------------------
A task with n test items measures a model's error p with binomial sd ``sqrt(p (1 - p) / n)``
(copa has 100 items: sd 0.05 at p = 0.5); the code uses the sd of the rate's Beta posterior,
which is the same but for errors of exactly 0 or 1 (see ``_sampling_sd``). For an average of
T tasks the variance is ``sum_t p_t (1 - p_t) / n_t / T^2``; with every ``p_t`` replaced by the
average ``p`` it is ``p (1 - p) / n_eff`` with ``n_eff = T^2 / sum_t 1 / n_t`` (5237 items for
the 17-task average, 12035 for the 46; the approximation can only overstate the variance, by
Jensen). ``n_items=0`` turns the term off; an unknown item count is a
:class:`~bayes_scaling.estimators.tasks.TaskMetadataWarning` and a learned term
``sqrt(p (1 - p)) * inv_sqrt_items``, never silently zero.

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024")                                      # doctest: +SKIP
>>> six = runs[runs.run_id.isin(PAPER_RUNS)]                                 # doctest: +SKIP
>>> err = ErrorLaw("exponential", error="err_avg17").fit(six, seed=1)        # doctest: +SKIP
>>> err.predict([2.5, 2.4], ci_prob=0.9)                                     # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.gadre2024 import paper_error_runs
from bayes_scaling.estimators.base import FittedModel
from bayes_scaling.estimators.error_law_data import (
    error_law_data_hash,
    error_law_datatree,
    error_law_from_draws,
    prepare_error_law,
)
from bayes_scaling.estimators.error_predictive import ErrorPredictiveMixin
from bayes_scaling.estimators.tasks import (
    TaskInfo,
    TaskMetadataWarning,
    chance_level,
    effective_items,
    gadre2024_tasks,
    task_metadata,
)
from bayes_scaling.inference.config import SamplerConfig, check_seed
from bayes_scaling.inference.diagnostics import Diagnostics
from bayes_scaling.laws.forms import ERROR_LAWS, ErrorLawSpec, get_error_law
from bayes_scaling.laws.priors import (
    Prior,
    default_error_priors,
    merge_priors,
    priors_from_json,
    priors_to_json,
)
from bayes_scaling.models.core import ERROR_NOISE_MODELS, LOSS_ERROR_MODES, make_error_model

__all__ = [
    "ErrorLaw",
    "TaskMetadataWarning",
    "chance_level",
    "effective_items",
    "gadre2024_tasks",
    "paper_error_runs",
]

#: NUTS defaults of error-law fits: the loss law's, with target_accept_prob 0.99. Per-task fits
#: on 6 runs put mass against the law's bounds (tasks at chance: k -> 0; tasks that take off
#: late: gamma ~ 6, where the clip at 0 is flat); at 0.95, 43 of 138 per-task fits on the
#: paper's runs had 1-25 divergences, at 0.99 none did, for ~1 s per fit (docs/downstream.md).
ERROR_SAMPLER_DEFAULTS: dict[str, Any] = {"target_accept_prob": 0.99}


# ---------------------------------------------------------------------------------------------
# ErrorLaw
# ---------------------------------------------------------------------------------------------


#: Laws that ``ErrorLaw("auto")`` chooses between, by leave-future-out (the first without data
#: to cut): the sigmoid saturates at chance and at a learned ceiling, the exponential only at
#: chance.
AUTO_LAWS = ("sigmoid", "exponential")


class ErrorLaw(ErrorPredictiveMixin, FittedModel):
    """Bayesian downstream error law ``Err(L)`` with errors in the loss and a NUTS posterior.

    Parameters
    ----------
    law : {"sigmoid", "exponential", "auto"}
        The law's form (see :data:`bayes_scaling.laws.forms.ERROR_LAWS`). Default
        ``"sigmoid"``: it saturates at chance and at a learned ceiling, and scored best per task
        on the suites of ``docs/downstream.md``; Gadre et al.'s ``"exponential"`` runs to 0%
        error but extrapolated their task *averages* better there. ``"auto"``: fit both and keep
        the one whose leave-future-out refits predicted the fitting runs' lower losses best
        (:attr:`law_choice` records the scores; measured worse than the fixed sigmoid on those
        suites).
    error : str
        Error column to model: ``err_avg17``, ``err_avg46`` or ``err_<task>``.
    loss : str
        Loss column used as input, e.g. ``"loss_c4_val"``; its ``<loss>_ci`` column (95%
        half-width), where present, is the measurement error of each run's loss.
    priors : mapping, optional
        Overrides merged over :func:`~bayes_scaling.laws.priors.default_error_priors`.
    noise : {"normal", "student_t"}
        Scatter of the error around the law, on the error scale.
    sampler : SamplerConfig or dict, optional
        NUTS settings; default 4 chains x (1000 warm-up + 1000 draws), dense mass, target
        acceptance 0.99 (a dict is merged over these; see :data:`ERROR_SAMPLER_DEFAULTS`).
    chance : float, optional
        Chance-level error of the column (1 - random-guess accuracy). Default: from ``tasks``,
        the runs table's ``<error>_chance`` column, or, for gadre2024 runs only, Gadre et al.'s
        metadata (:func:`~bayes_scaling.estimators.tasks.task_metadata`); an error when none
        has it.
    n_items : float, optional
        (Effective) number of test items behind the column, for the binomial sampling error;
        default: from the same sources. ``0`` turns the term off. Unknown: a
        :class:`TaskMetadataWarning`, and the sampling-error scale is learned.
    tasks : DataFrame, optional
        Task-metadata table (``chance_error`` or ``random_baseline``, ``n_items``, ``metric``,
        indexed by task name); see :mod:`bayes_scaling.estimators.tasks`.
    loss_unit : str
        Unit of the loss column, recorded in the fit and shown in plots (``"nats/token"``,
        ``"bits/byte"``, ...). The priors do not depend on it (rates are sampled per unit of
        relative loss; see :func:`~bayes_scaling.laws.priors.default_error_priors`).
    loss_error : {"linearised", "latent"}
        How the loss's measurement error enters (:func:`~bayes_scaling.models.core.make_error_model`):
        marginalised through the linearised law (default, fast at any size), or one latent true
        loss per run (used only where some run's loss has a measurement error).
    data_dir : str or path-like, optional
        Where to find the ``gadre2024`` metadata (see :func:`gadre2024_tasks`).
    discrepancy : {"lfo", None}
        ``"lfo"`` (default): after the fit, learn how far the task's error leaves the law below
        the fitted losses, by leave-future-out in loss (three refits of the same compiled
        sampler; :mod:`bayes_scaling.estimators.error_extrapolation`), and add it to the new-run
        predictive at losses below the smallest fitted one. ``None``: no such term.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior`` (sampled and natural parameters, ``sigma``, and for ``"latent"`` the true
        losses ``loss_true``), ``sample_stats``, ``log_likelihood``, ``observed_data``,
        ``constant_data``; root attrs record law, error and loss columns, ``loss_unit``, priors,
        noise, sampler, seed, version, data hash, chance level, item count (NaN when learned),
        metric, where the metadata came from, reference loss and backend.

    Examples
    --------
    >>> err = ErrorLaw("exponential", error="err_avg17", chance=0.809, n_items=5237)
    >>> err
    ErrorLaw('exponential', error='err_avg17', loss='loss_c4_val', noise='normal'; not fitted)
    """

    kind = "ErrorLaw"

    def __init__(
        self,
        law: str = "sigmoid",
        *,
        error: str = "err_avg17",
        loss: str = "loss_c4_val",
        priors: Mapping[str, Any] | None = None,
        noise: str = "normal",
        sampler: SamplerConfig | Mapping[str, Any] | None = None,
        chance: float | None = None,
        n_items: float | None = None,
        tasks: pd.DataFrame | None = None,
        loss_unit: str = "nats/token",
        loss_error: str = "linearised",
        data_dir: str | os.PathLike[str] | None = None,
        discrepancy: str | None = "lfo",
    ):
        if discrepancy not in ("lfo", None):
            raise ValueError(f"discrepancy must be 'lfo' or None, got {discrepancy!r}")
        self._auto = law == "auto"
        if self._auto:
            if discrepancy is None:
                raise ValueError("law='auto' chooses the law by leave-future-out, which needs "
                                 "discrepancy='lfo'; with discrepancy=None name the law "
                                 f"(one of {sorted(ERROR_LAWS)})")
            if priors:
                raise ValueError("law='auto' takes no priors= (each law has its own); name the "
                                 f"law (one of {sorted(ERROR_LAWS)}) to set priors")
            law = AUTO_LAWS[0]
        self.spec: ErrorLawSpec = get_error_law(law)
        self.discrepancy = discrepancy
        if noise not in ERROR_NOISE_MODELS:
            raise ValueError(f"unknown noise model {noise!r}; use one of {ERROR_NOISE_MODELS}")
        if loss_error not in LOSS_ERROR_MODES:
            raise ValueError(f"unknown loss_error {loss_error!r}; use one of {LOSS_ERROR_MODES}")
        if chance is not None and not 0.0 < float(chance) <= 1.0:
            raise ValueError(f"chance must be a chance-level error in (0, 1], got {chance!r}")
        if n_items is not None and not float(n_items) >= 0.0:
            raise ValueError(f"n_items must be >= 0 (0: no sampling-error term), got {n_items!r}")
        if tasks is not None and not isinstance(tasks, pd.DataFrame):
            raise TypeError(f"tasks must be a DataFrame of task metadata, got "
                            f"{type(tasks).__name__}")
        if not isinstance(loss_unit, str) or not loss_unit:
            raise ValueError(f"loss_unit must be a non-empty string such as 'nats/token' or "
                             f"'bits/byte', got {loss_unit!r}")
        self.error = error
        self.loss = loss
        self.noise = noise
        self.chance = None if chance is None else float(chance)
        self.n_items = None if n_items is None else float(n_items)
        self.tasks = tasks
        self.loss_unit = loss_unit
        self.loss_error = loss_error
        self.data_dir = data_dir
        self.priors: dict[str, Prior] = merge_priors(default_error_priors(law), priors)
        self.sampler = SamplerConfig.coerce(sampler, ERROR_SAMPLER_DEFAULTS)
        self.idata = None
        self._diagnostics: Diagnostics | None = None
        self._learn_items = False
        self._loss_error_used = loss_error

    @property
    def law(self) -> str:
        """The law's name (``"auto"`` until an ``"auto"`` law is fitted, then the chosen one)."""
        return "auto" if self._auto and self.idata is None else self.spec.name

    def _init_kwargs(self) -> dict[str, Any]:
        return {"error": self.error, "loss": self.loss, "noise": self.noise,
                "sampler": self.sampler, "chance": self.chance, "n_items": self.n_items,
                "tasks": self.tasks, "loss_unit": self.loss_unit, "loss_error": self.loss_error,
                "data_dir": self.data_dir, "discrepancy": self.discrepancy}

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"ErrorLaw({self.law!r}, error={self.error!r}, loss={self.loss!r}, "
                f"noise={self.noise!r}; {state})")

    def _model_key(self) -> tuple:
        return ("error", self.law, priors_to_json(self.priors), self.noise,
                self._loss_error_used, self._learn_items)

    def _model(self):
        return make_error_model(self.spec, self.priors, self.noise,
                                loss_error=self._loss_error_used, learn_items=self._learn_items)

    # ------------------------------------------------------------------ data -> model arrays
    def _task_info(self, runs: pd.DataFrame) -> TaskInfo:
        return task_metadata(self.error, runs, tasks=self.tasks, chance=self.chance,
                             n_items=self.n_items, data_dir=self.data_dir)

    def _prepare(self, runs: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return prepare_error_law(self, runs)

    @staticmethod
    def _data_hash(kw: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        return error_law_data_hash(kw, meta)

    # ------------------------------------------------------------------ fitting
    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):
        return error_law_datatree(self, posterior, stats, kw, meta, seed=seed, facts=facts)

    @classmethod
    def from_draws(
        cls,
        params: Mapping[str, Any],
        *,
        chance: float,
        law: str = "exponential",
        error: str = "err_avg17",
        loss: str = "loss_c4_val",
        noise: str = "normal",
        n_items: float | None = 0.0,
        loss_unit: str = "nats/token",
        seed: int = 0,
    ) -> ErrorLaw:
        """An ``ErrorLaw`` whose posterior is given draws of its natural parameters (no data).

        For fabricated posteriors in tests, and for carrying a fit made elsewhere (e.g. a point
        fit as one repeated draw) through :class:`~bayes_scaling.predict.predictor.ScalingPredictor`.

        Parameters
        ----------
        params : mapping of str to array_like
            The law's natural parameters (``law.params``), ``sigma`` (and ``nu`` for
            ``"student_t"``), each of shape ``(n_chains, n_draws)`` or ``(n_draws,)`` (one chain).
        chance : float
            Chance-level error the law is bounded by.
        law, error, loss, noise
            As for the constructor.
        n_items : float or None
            Effective number of test items for the sampling error (0: none; ``None``: learned,
            and ``params`` must hold draws of ``inv_sqrt_items``).
        loss_unit : str
            Unit of the loss, as for the constructor.
        seed : int
            Recorded in the attrs; seeds the fabricated sample stats.

        Examples
        --------
        >>> import numpy as np
        >>> e = ErrorLaw.from_draws({"eps": np.full(100, 0.8), "k": np.full(100, 4.0),
        ...                          "gamma": np.full(100, 1.0), "sigma": np.full(100, 0.01)},
        ...                         chance=0.8)
        >>> round(float(e.predict([2.5], kind="law_mean")["median"].iloc[0]), 4)  # the law
        0.4717
        """
        return error_law_from_draws(cls, params, chance=chance, law=law, error=error, loss=loss,
                                    noise=noise, n_items=n_items, loss_unit=loss_unit, seed=seed)

    def fit(self, runs: pd.DataFrame, *, seed: int, progress: bool = False, warn: bool = True):
        """Sample the posterior given ``runs``, then learn the extrapolation discrepancy.

        Parameters are those of :meth:`FittedModel.fit`; with ``discrepancy="lfo"``
        ``idata.attrs["discrepancy"]`` holds the learned discrepancy and
        ``idata.attrs["loss_min_fit"]`` the smallest fitted loss (where it starts).
        """
        from bayes_scaling.estimators.discrepancy import Discrepancy
        from bayes_scaling.estimators.error_extrapolation import calibrate_error_discrepancy

        if self._auto:
            return self._fit_auto(runs, seed=seed, progress=progress, warn=warn)
        seed = check_seed(seed)  # before any work: 1.7 or 2**64 fail here, by name
        kw, meta = self._prepare(runs)
        self._fit_prepared(kw, meta, seed=seed, progress=progress, warn=warn)
        disc = (calibrate_error_discrepancy(self, kw, meta, seed=seed)
                if self.discrepancy == "lfo" else Discrepancy.none())
        self.idata.attrs["discrepancy"] = disc.to_json()
        self.idata.attrs["loss_min_fit"] = float(np.min(kw["loss_obs"]))
        self._warn_refits(warn)
        return self

    def _fit_auto(self, runs: pd.DataFrame, *, seed: int, progress: bool, warn: bool):
        """Fit every law of :data:`AUTO_LAWS`; keep the one whose leave-future-out refits
        predicted the held-out lower-loss runs best (log density summed over the points both
        laws scored); without any such point, the first (``"sigmoid"``)."""
        from bayes_scaling.estimators.error_extrapolation import compare_lfo

        fits = {name: ErrorLaw(name, **self._init_kwargs()).fit(runs, seed=seed,
                                                                progress=progress, warn=False)
                for name in AUTO_LAWS}
        elpd = compare_lfo({name: f.discrepancy_ for name, f in fits.items()})
        best = max(elpd, key=elpd.get) if elpd else AUTO_LAWS[0]
        chosen = fits[best]
        self.spec, self.priors = chosen.spec, chosen.priors
        self._learn_items, self._loss_error_used = chosen._learn_items, chosen._loss_error_used
        self.idata = chosen.idata
        self.idata.attrs["law_choice"] = json.dumps(
            {"method": "lfo" if elpd else "default", "chosen": best, "lfo_elpd": elpd})
        self._diagnostics = None
        self.diagnostics(warn=warn)
        return self

    @property
    def law_choice(self) -> dict[str, Any] | None:
        """For a fit of ``law="auto"``: ``method`` (``"lfo"``, or ``"default"`` when too few
        runs to cut), ``chosen`` and each law's ``lfo_elpd``; ``None`` for a named law."""
        self._require_fit()
        raw = self.idata.attrs.get("law_choice")
        return None if raw is None else json.loads(raw)

    def _diagnostic_names(self) -> list[str]:
        # the latent losses too: a funnel there shows up as poor mixing of loss_z
        return [*self.spec.sampled, "sigma", "nu", "inv_sqrt_items", "loss_z"]

    # ------------------------------------------------------------------ posterior access
    @property
    def chance_error(self) -> float:
        """Chance-level error the fit was bounded by (from ``idata.attrs``)."""
        self._require_fit()
        return float(self.idata.attrs["chance"])

    @property
    def n_draws(self) -> int:
        """Number of posterior draws (chains x draws)."""
        self._require_fit()
        s = self.idata.posterior.sizes
        return int(s["chain"] * s["draw"])

    @property
    def chain_shape(self) -> tuple[int, int]:
        """``(n_chains, n_draws_per_chain)`` of the posterior."""
        self._require_fit()
        s = self.idata.posterior.sizes
        return int(s["chain"]), int(s["draw"])

    def summary(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """Natural parameters and noise: median, mean, sd, equal-tailed interval, R-hat, ESS."""
        from arviz_stats.base import array_stats

        self._require_fit()
        names = list(self.spec.params) + ["sigma"] + (["nu"] if self.noise == "student_t" else [])
        rows = []
        for k in names:
            v = self.idata.posterior[k].values
            flat = v.reshape(-1)
            lo, hi = array_stats.eti(flat, ci_prob)
            # natural parameters are derived, so their R-hat/ESS are computed here directly
            # (R-hat divides by the within-chain variance: skip chains stuck at one value)
            mixing = v.shape[1] >= 4 and bool(np.all(np.ptp(v, axis=1) > 0))
            rows.append({"parameter": k, "median": float(np.median(flat)),
                         "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)),
                         "lower": float(lo), "upper": float(hi),
                         "rhat": float(array_stats.rhat(v, chain_axis=0, draw_axis=1))
                         if mixing else np.nan,
                         "ess_bulk": float(array_stats.ess(v, chain_axis=0, draw_axis=1,
                                                           method="bulk"))
                         if mixing else np.nan})
        df = pd.DataFrame(rows).set_index("parameter")
        df.attrs["ci_prob"] = ci_prob
        return df

    # ------------------------------------------------------------------ save / load
    @classmethod
    def load(cls, path, *, law: str | None = None) -> ErrorLaw:
        """Load a fit written by :meth:`save`.

        Raises
        ------
        bayes_scaling.estimators.io.FitFileError
            Not an ErrorLaw fit, an incompatible file format, corrupt, or not the ``law`` asked.
        """
        dt = cls._load_tree(path, law)
        n_items = float(dt.attrs["n_items"])
        learned = bool(int(dt.attrs.get("items_learned", 0)))
        obj = cls(dt.attrs["law"], error=dt.attrs["error"], loss=dt.attrs["loss"],
                  noise=dt.attrs["noise"], priors=priors_from_json(dt.attrs["priors"]),
                  sampler=json.loads(dt.attrs["sampler"]), chance=float(dt.attrs["chance"]),
                  n_items=None if learned else n_items,
                  loss_unit=str(dt.attrs.get("loss_unit", "nats/token")),
                  loss_error=str(dt.attrs.get("loss_error", "latent")),
                  discrepancy="lfo" if "discrepancy" in dt.attrs
                  and json.loads(dt.attrs["discrepancy"])["method"] != "none" else None)
        obj._learn_items = learned
        obj._loss_error_used = obj.loss_error
        obj.idata = dt
        return obj
