"""``ErrorLaw``: downstream top-1 error as a Bayesian function of eval loss, fitted by NUTS.

Gadre et al. (2024) map C4-eval loss to average top-1 error with ``Err(L) = eps - k exp(-gamma L)``
fitted by least squares on 6 runs. Here the law's parameters get priors and a posterior, each
run's true loss is latent (its observed loss carries the eval set's measurement error), and the
error scatters around the law by the benchmark's own sampling error plus a learned term (see
:func:`bayes_scaling.models.core.make_error_model`).
:class:`~bayes_scaling.predict.predictor.ScalingPredictor` then feeds a loss law's posterior through
this one draw by draw.

Chance level
------------
Every law is bounded by the chance-level error ``c`` of its column: ``1 - random_baseline / 100``
for one task, and the mean of that over the tasks of an average (``err_avg17``, ``err_avg46``:
plain means of task errors, so their chance level is the plain mean of chance levels). The runs
table does not carry the random baselines, so for the Gadre et al. columns they are read from the
dataset's ``eval_metadata.csv`` through the data layer (:func:`gadre2024_tasks`); for any other
column pass ``chance=``.

Benchmark sampling error
------------------------
A task with n test items measures a model's error p with binomial sd ``sqrt(p (1 - p) / n)``
(copa has 100 items: sd 0.05 at p = 0.5); the code uses the sd of the rate's Beta posterior,
which is the same but for errors of exactly 0 or 1 (see ``_sampling_sd``). For an average of
T tasks the variance is ``sum_t p_t (1 - p_t) / n_t / T^2``; with every ``p_t`` replaced by the
average ``p`` it is ``p (1 - p) / n_eff`` with ``n_eff = T^2 / sum_t 1 / n_t`` (5237 items for
the 17-task average, 12035 for the 46; the approximation can only overstate the variance, by
Jensen). ``n_items`` is read from the same metadata (``#datapoints``) or passed by the user;
``n_items=0`` turns the term off.

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024")                                      # doctest: +SKIP
>>> six = runs[runs.run_id.isin(PAPER_RUNS)]                                 # doctest: +SKIP
>>> err = ErrorLaw("exponential", error="err_avg17").fit(six, seed=1)        # doctest: +SKIP
>>> err.predict([2.5, 2.4], ci_prob=0.9)                                     # doctest: +SKIP
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.data.targets import check_kind, interval_frame
from bayes_scaling.estimators.base import FittedModel
from bayes_scaling.estimators.io import FILE_FORMAT
from bayes_scaling.inference.nuts import (
    Diagnostics,
    SamplerConfig,
    enable_x64,
)
from bayes_scaling.laws.forms import ErrorLawSpec, get_error_law
from bayes_scaling.laws.priors import (
    Prior,
    default_error_priors,
    merge_priors,
    priors_from_json,
    priors_to_json,
)
from bayes_scaling.models.core import ERROR_NOISE_MODELS, make_error_model

__all__ = [
    "ErrorLaw",
    "chance_level",
    "effective_items",
    "gadre2024_tasks",
    "paper_error_runs",
]

_Z95 = 1.959964  # 95% two-sided normal quantile: CI half-width -> sd

#: NUTS defaults of error-law fits: the loss law's, with target_accept_prob 0.99. Per-task fits
#: on 6 runs put mass against the law's bounds (tasks at chance: k -> 0; tasks that take off
#: late: gamma ~ 6, where the clip at 0 is flat); at 0.95, 43 of 138 per-task fits on the
#: paper's runs had 1-25 divergences, at 0.99 none did, for ~1 s per fit (docs/downstream.md).
ERROR_SAMPLER_DEFAULTS: dict[str, Any] = {"target_accept_prob": 0.99}



# ---------------------------------------------------------------------------------------------
# Task metadata (random baselines and item counts) of the Gadre et al. benchmark suite
# ---------------------------------------------------------------------------------------------


def gadre2024_tasks(*, data_dir: str | os.PathLike[str] | None = None,
                    download: bool = True) -> pd.DataFrame:
    """The downstream tasks of Gadre et al. (2024) with their chance-level error and size.

    Read from the dataset's ``eval_metadata.csv``, found (or downloaded and verified) by
    :func:`bayes_scaling.data.fetch_dataset` exactly as :func:`~bayes_scaling.load_dataset` does.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Folder holding ``gadre2024/``; default ``$BAYES_SCALING_DATA_DIR``, then the cache.
    download : bool
        Allow a download when no local copy exists.

    Returns
    -------
    DataFrame
        Indexed by task (the 46 of :data:`~bayes_scaling.data.GADRE2024_TASKS_46`), columns
        ``random_baseline`` (percent), ``chance_error`` (``1 - random_baseline / 100``),
        ``n_items`` (test items), ``category``, ``task_type``, ``shots``.

    Examples
    --------
    >>> tasks = gadre2024_tasks()                         # doctest: +SKIP
    >>> tasks.loc[["copa", "squad"], ["chance_error", "n_items"]]  # doctest: +SKIP
           chance_error  n_items
    task
    copa            0.5      100
    squad           1.0    10570
    """
    from bayes_scaling.data import GADRE2024_TASKS_46, RunsError, fetch_dataset

    folder = fetch_dataset("gadre2024", data_dir=data_dir, download=download)
    path = folder / "eval_metadata.csv"
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = {r["Eval Task"]: r for r in csv.DictReader(f)}
        out = pd.DataFrame(
            {
                "task": list(GADRE2024_TASKS_46),
                "random_baseline": [float(rows[t]["Random baseline"]) for t in GADRE2024_TASKS_46],
                "n_items": [int(rows[t]["#datapoints"]) for t in GADRE2024_TASKS_46],
                "category": [rows[t]["Task Category"] for t in GADRE2024_TASKS_46],
                "task_type": [rows[t]["Task Type"] for t in GADRE2024_TASKS_46],
                "shots": [int(rows[t]["#shots"]) for t in GADRE2024_TASKS_46],
            }
        ).set_index("task")
    except (KeyError, ValueError, csv.Error) as err:
        raise RunsError(f"{path}: not the expected task table ({err!r}); restore the file from "
                        "the pinned source (delete it and load the dataset again)") from err
    out.insert(1, "chance_error", 1.0 - out["random_baseline"] / 100.0)
    return out


def _tasks_of(error: str) -> tuple[str, ...] | None:
    from bayes_scaling.data import GADRE2024_TASKS_17, GADRE2024_TASKS_46

    if error == "err_avg17":
        return GADRE2024_TASKS_17
    if error == "err_avg46":
        return GADRE2024_TASKS_46
    task = error.removeprefix("err_")
    return (task,) if error.startswith("err_") and task in GADRE2024_TASKS_46 else None


def chance_level(error: str, tasks: pd.DataFrame) -> float:
    """Chance-level error of a Gadre et al. error column (a task, or an average of tasks).

    Parameters
    ----------
    error : str
        ``err_<task>``, ``err_avg17`` or ``err_avg46``.
    tasks : DataFrame
        From :func:`gadre2024_tasks`.

    Examples
    --------
    >>> tasks = pd.DataFrame({"chance_error": [0.75, 0.5], "n_items": [100, 400]},
    ...                      index=pd.Index(["arc_easy", "copa"], name="task"))
    >>> chance_level("err_copa", tasks)
    0.5
    """
    names = _tasks_of(error)
    if names is None:
        raise ValueError(f"{error!r} is not a Gadre et al. (2024) error column; pass chance= "
                         "(the chance-level error, 1 - random-guess accuracy) to ErrorLaw")
    return float(np.mean(tasks.loc[list(names), "chance_error"].to_numpy(float)))


def effective_items(error: str, tasks: pd.DataFrame) -> float:
    """Effective number of test items of an error column: ``T^2 / sum_t 1 / n_t``.

    For one task it is the task's item count; for an average of T tasks, the item count of one
    task with the same binomial variance (see the module docstring).

    Examples
    --------
    >>> tasks = pd.DataFrame({"chance_error": [0.75, 0.5], "n_items": [100, 400]},
    ...                      index=pd.Index(["arc_easy", "copa"], name="task"))
    >>> effective_items("err_copa", tasks)
    400.0
    """
    names = _tasks_of(error)
    if names is None:
        raise ValueError(f"{error!r} is not a Gadre et al. (2024) error column; pass n_items=")
    n = tasks.loc[list(names), "n_items"].to_numpy(float)
    return float(len(n) ** 2 / np.sum(1.0 / n))


#: The 6 runs per corpus of Gadre et al.'s downstream fit: (n_params, tokens_per_param).
_PAPER_ERROR_DESIGN = ((10569312, 20), (78914048, 20), (153677376, 20), (411616256, 20),
                       (10569312, 320), (1439795200, 20))


def paper_error_runs(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The 6 runs of one corpus that Gadre et al. (2024) fit their error law on.

    The four small models (0.011B, 0.079B, 0.154B, 0.411B) at M = 20, 0.011B at M = 320 and
    1.4B at M = 20.

    Examples
    --------
    >>> six = paper_error_runs(runs, "rpj")               # doctest: +SKIP
    >>> len(six)                                          # doctest: +SKIP
    6
    """
    r = runs[runs["dataset"] == dataset]
    m = np.rint(r["tokens_per_param"].to_numpy(float))
    keep = np.zeros(len(r), bool)
    for n, mult in _PAPER_ERROR_DESIGN:
        keep |= (r["n_params"].to_numpy() == n) & (m == mult)
    if keep.sum() != len(_PAPER_ERROR_DESIGN):
        raise ValueError(f"dataset {dataset!r} has {int(keep.sum())} of the paper's 6 error-fit "
                         "runs; is this the gadre2024 runs table?")
    return r[keep]


# ---------------------------------------------------------------------------------------------
# ErrorLaw
# ---------------------------------------------------------------------------------------------


class ErrorLaw(FittedModel):
    """Bayesian downstream error law ``Err(L)`` with latent true losses and a NUTS posterior.

    Parameters
    ----------
    law : {"exponential", "sigmoid"}
        The law's form (see :data:`bayes_scaling.laws.forms.ERROR_LAWS`).
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
        Chance-level error of the column; default: looked up for Gadre et al. columns
        (:func:`chance_level`), required otherwise.
    n_items : float, optional
        (Effective) number of test items behind the column, for the binomial sampling error;
        default: looked up for Gadre et al. columns, else 0 (no sampling-error term).
    data_dir : str or path-like, optional
        Where to find the ``gadre2024`` metadata for the look-ups (see :func:`gadre2024_tasks`).

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior`` (sampled and natural parameters, ``sigma``, latent ``loss_true``),
        ``sample_stats``, ``log_likelihood``, ``observed_data``, ``constant_data``; root attrs
        record law, error and loss columns, priors, noise, sampler, seed, version, data hash,
        chance level, item count, reference loss and backend.

    Examples
    --------
    >>> err = ErrorLaw("exponential", error="err_avg17", chance=0.809, n_items=5237)
    >>> err
    ErrorLaw('exponential', error='err_avg17', loss='loss_c4_val', noise='normal'; not fitted)
    """

    kind = "ErrorLaw"

    def __init__(
        self,
        law: str = "exponential",
        *,
        error: str = "err_avg17",
        loss: str = "loss_c4_val",
        priors: Mapping[str, Any] | None = None,
        noise: str = "normal",
        sampler: SamplerConfig | Mapping[str, Any] | None = None,
        chance: float | None = None,
        n_items: float | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ):
        self.spec: ErrorLawSpec = get_error_law(law)
        if noise not in ERROR_NOISE_MODELS:
            raise ValueError(f"unknown noise model {noise!r}; use one of {ERROR_NOISE_MODELS}")
        if chance is not None and not 0.0 < float(chance) <= 1.0:
            raise ValueError(f"chance must be a chance-level error in (0, 1], got {chance!r}")
        if n_items is not None and not float(n_items) >= 0.0:
            raise ValueError(f"n_items must be >= 0 (0: no sampling-error term), got {n_items!r}")
        self.error = error
        self.loss = loss
        self.noise = noise
        self.chance = None if chance is None else float(chance)
        self.n_items = None if n_items is None else float(n_items)
        self.data_dir = data_dir
        self.priors: dict[str, Prior] = merge_priors(default_error_priors(law), priors)
        self.sampler = SamplerConfig.coerce(sampler, ERROR_SAMPLER_DEFAULTS)
        self.idata = None
        self._diagnostics: Diagnostics | None = None

    @property
    def law(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"ErrorLaw({self.law!r}, error={self.error!r}, loss={self.loss!r}, "
                f"noise={self.noise!r}; {state})")

    def _model_key(self) -> tuple:
        return ("error", self.law, priors_to_json(self.priors), self.noise)

    def _model(self):
        return make_error_model(self.spec, self.priors, self.noise)

    # ------------------------------------------------------------------ data -> model arrays
    def _resolve_task_constants(self) -> tuple[float, float]:
        chance, n_items = self.chance, self.n_items
        if chance is None or (n_items is None and _tasks_of(self.error) is not None):
            if _tasks_of(self.error) is None:
                raise ValueError(
                    f"no chance level known for {self.error!r}: pass chance= (the error of a "
                    "random guess, e.g. 0.75 for 4-way multiple choice) to ErrorLaw"
                )
            tasks = gadre2024_tasks(data_dir=self.data_dir)
            chance = chance_level(self.error, tasks) if chance is None else chance
            n_items = effective_items(self.error, tasks) if n_items is None else n_items
        return float(chance), float(0.0 if n_items is None else n_items)

    def _prepare(self, runs: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bayes_scaling.data import validate_runs

        if not isinstance(runs, pd.DataFrame):
            raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
        for col, what in ((self.error, "error"), (self.loss, "loss")):
            if col not in runs.columns:
                prefix = "err_" if what == "error" else "loss_"
                have = [c for c in runs.columns if c.startswith(prefix) and not c.endswith("_ci")]
                raise ValueError(f"runs have no column {col!r}; pass {what}= one of {have[:8]}"
                                 f"{' ...' if len(have) > 8 else ''}")
        validate_runs(runs)
        n_min = len(self.spec.sampled) + 1
        if len(runs) < n_min:
            raise ValueError(f"{len(runs)} runs cannot identify the {self.law!r} error law's "
                             f"{len(self.spec.sampled)} parameters plus noise; use at least "
                             f"{n_min} runs")
        err = runs[self.error].to_numpy(dtype=float)
        loss = runs[self.loss].to_numpy(dtype=float)
        for col, v in ((self.error, err), (self.loss, loss)):
            bad = ~np.isfinite(v)
            if bad.any():
                raise ValueError(f"column {col!r} row {runs.index[np.flatnonzero(bad)[0]]!r} is "
                                 f"not a finite number; drop the run or fill the value")
        chance, n_items = self._resolve_task_constants()
        ci_col = f"{self.loss}_ci"
        loss_sd = (runs[ci_col].fillna(0.0).to_numpy(dtype=float) / _Z95
                   if ci_col in runs.columns else np.zeros_like(loss))
        err_sd = _sampling_sd(np.clip(err, 0.0, 1.0), n_items)
        kw = {
            "loss_obs": loss,
            "loss_sd": loss_sd,
            "err_sd": err_sd,
            "chance": np.asarray(chance),
            # centring: the data's median loss, where the error is best determined
            "loss_ref": np.asarray(float(np.median(loss))),
            "error": err,
        }
        run_ids = (runs["run_id"].astype(str).to_numpy() if "run_id" in runs.columns
                   else np.asarray([str(i) for i in runs.index]))
        meta = {"run_id": run_ids, "chance": chance, "n_items": n_items}
        return kw, meta

    @staticmethod
    def _data_hash(kw: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
        h = hashlib.sha256()
        for k in ("loss_obs", "loss_sd", "err_sd", "error", "chance"):
            h.update(np.ascontiguousarray(kw[k], dtype=np.float64).tobytes())
        h.update("\x00".join(map(str, meta["run_id"])).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ fitting
    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):
        import arviz_base as ab
        import jax.numpy as jnp
        from numpyro.infer import log_likelihood

        enable_x64()
        n_chain, n_draw = next(iter(posterior.values())).shape[:2]
        post = dict(posterior)
        sampled = {k: post[k] for k in self.spec.sampled if k in post}
        if len(sampled) == len(self.spec.sampled):
            ll_in = {k: jnp.asarray(np.reshape(v, (n_chain * n_draw, *np.shape(v)[2:])))
                     for k, v in post.items()}
            ll = log_likelihood(self._model(), ll_in, **{k: jnp.asarray(v) for k, v in kw.items()})
            ll = {k: np.asarray(v).reshape(n_chain, n_draw, -1) for k, v in ll.items()}
            natural = self.spec.from_sampled(sampled, kw["chance"], kw["loss_ref"])
            for k, v in natural.items():
                post.setdefault(k, np.asarray(v))
        else:  # fabricated from natural parameters: nothing to recompute
            ll = {}
        groups = {"posterior": post, "sample_stats": stats}
        if ll:
            groups["log_likelihood"] = ll
        if len(meta["run_id"]):
            groups["observed_data"] = {"error": kw["error"], "loss": kw["loss_obs"]}
            groups["constant_data"] = {"loss_sd": kw["loss_sd"], "err_sd": kw["err_sd"]}
        dims = {k: ["run"] for k in ("error", "loss", "loss_sd", "err_sd", "loss_true", "loss_z")}
        dt = ab.from_dict(groups, dims=dims, coords={"run": list(meta["run_id"])})
        dt.attrs.update({
            "bayes_scaling_kind": self.kind,
            "bayes_scaling_version": __version__,
            "file_format": FILE_FORMAT,
            "law": self.law,
            "error": self.error,
            "loss": self.loss,
            "noise": self.noise,
            "priors": priors_to_json(self.priors),
            "sampler": json.dumps(self.sampler.to_dict(), sort_keys=True),
            "seed": int(seed),
            "data_hash": self._data_hash(kw, meta),
            "chance": float(meta["chance"]),
            "n_items": float(meta["n_items"]),
            "loss_ref": float(kw["loss_ref"]),
            "backend": json.dumps(facts, sort_keys=True),
        })
        return dt

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
        n_items: float = 0.0,
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
        n_items : float
            Effective number of test items for the sampling error (0: none).
        seed : int
            Recorded in the attrs; seeds the fabricated sample stats.

        Examples
        --------
        >>> import numpy as np
        >>> e = ErrorLaw.from_draws({"eps": np.full(100, 0.8), "k": np.full(100, 4.0),
        ...                          "gamma": np.full(100, 1.0), "sigma": np.full(100, 0.01)},
        ...                         chance=0.8)
        >>> round(float(e.predict([2.5])["median"].iloc[0]), 4)
        0.4717
        """
        obj = cls(law, error=error, loss=loss, noise=noise, chance=chance, n_items=n_items)
        needed = list(obj.spec.params) + ["sigma"] + (["nu"] if noise == "student_t" else [])
        missing = [k for k in needed if k not in params]
        if missing:
            raise ValueError(f"params lack {missing}; a {law!r} law needs {needed}")
        post = {}
        for k in needed:
            v = np.asarray(params[k], dtype=float)
            post[k] = v[None, :] if v.ndim == 1 else v
            if post[k].ndim != 2 or post[k].shape != post[needed[0]].shape:
                raise ValueError(f"params[{k!r}] must be (n_chains, n_draws) like the others, "
                                 f"got shape {np.shape(params[k])}")
        shape = post[needed[0]].shape
        rng = np.random.default_rng(seed)
        stats = {"diverging": np.zeros(shape, bool), "energy": rng.standard_normal(shape)}
        kw = {"loss_obs": np.zeros(0), "loss_sd": np.zeros(0), "err_sd": np.zeros(0),
              "chance": np.asarray(float(chance)), "loss_ref": np.asarray(np.nan),
              "error": np.zeros(0)}
        meta = {"run_id": np.asarray([], dtype=str), "chance": float(chance),
                "n_items": float(n_items)}
        facts = {"chain_method": "from_draws"}
        obj.idata = obj._build_datatree(post, stats, kw, meta, seed=seed, facts=facts)
        return obj

    def _diagnostic_names(self) -> list[str]:
        # the latent losses too: a funnel there shows up as poor mixing of loss_z
        return [*self.spec.sampled, "sigma", "nu", "loss_z"]

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

    def error_draws(self, loss: Sequence[float] | np.ndarray, *, kind: str = "new_run",
                    seed: int = 0, draw_index: np.ndarray | None = None) -> np.ndarray:
        """Posterior draws of the error at given losses: shape ``(n_rows, n_losses)``.

        Parameters
        ----------
        loss : array_like
            Either ``(n_losses,)``: every posterior draw is evaluated at these losses
            (``n_rows = n_draws``); or ``(n_rows, n_losses)``: row ``i`` is evaluated with
            posterior draw ``draw_index[i]`` (default ``i``; then ``n_rows`` must equal
            :attr:`n_draws`). This is how loss draws are carried through draw by draw.
        kind : {"new_run", "law_mean"}
            ``"law_mean"``: the law's mean error, always in ``[0, chance]``. ``"new_run"``: the error
            a run would *measure*: adds the learned scatter and the benchmark's sampling error,
            clipped to ``[0, 1]`` (a measured error can exceed chance: the smallest runs' 17-task
            error is 0.82 against a chance level of 0.81).
        seed : int
            Seed of the noise draws for ``kind="new_run"``.
        draw_index : ndarray of int, optional
            Posterior draw (flat index) paired with each row of a 2-D ``loss``.

        Examples
        --------
        >>> law.error_draws([2.5, 2.4]).shape               # doctest: +SKIP
        (4000, 2)
        """
        import jax.numpy as jnp

        self._require_fit()
        check_kind(kind)
        enable_x64()
        loss = np.asarray(loss, dtype=float)
        n = self.n_draws
        if loss.ndim == 1:
            if draw_index is not None:
                raise ValueError("draw_index pairs rows of a 2-D loss array; loss is 1-D")
            idx = np.arange(n)
            loss = np.broadcast_to(loss, (n, loss.shape[0]))
        elif loss.ndim == 2:
            idx = np.arange(loss.shape[0]) if draw_index is None else np.asarray(draw_index)
            if idx.shape != (loss.shape[0],):
                raise ValueError(f"draw_index must have one entry per row of loss "
                                 f"({loss.shape[0]}), got shape {idx.shape}")
            if draw_index is None and loss.shape[0] != n:
                raise ValueError(f"loss has {loss.shape[0]} rows but the posterior has {n} "
                                 "draws; pass draw_index= to pair them (ScalingPredictor does)")
            if idx.min(initial=0) < 0 or idx.max(initial=0) >= n:
                raise ValueError(f"draw_index must lie in [0, {n})")
        else:
            raise ValueError(f"loss must be 1-D or 2-D, got shape {loss.shape}")
        if not np.all(np.isfinite(loss)):
            raise ValueError("loss contains NaN or infinite values")
        post = self.idata.posterior
        p = {k: jnp.asarray(post[k].values.reshape(-1)[idx][:, None]) for k in self.spec.params}
        chance = self.chance_error
        mu = np.asarray(self.spec.error(p, jnp.asarray(loss), chance))
        if kind == "law_mean":
            return mu
        rng = np.random.default_rng(seed)
        sigma = post["sigma"].values.reshape(-1)[idx][:, None]
        scale = np.sqrt(sigma**2 + _sampling_sd(mu, float(self.idata.attrs["n_items"])) ** 2)
        if self.noise == "student_t":
            nu = post["nu"].values.reshape(-1)[idx][:, None]
            eps = rng.standard_t(np.broadcast_to(nu, mu.shape))
        else:
            eps = rng.standard_normal(mu.shape)
        return np.clip(mu + scale * eps, 0.0, 1.0)

    def predict(self, loss: Sequence[float] | np.ndarray, *, ci_prob: float = 0.9,
                kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
        """Predictive summary of the error at known losses (no loss uncertainty).

        For losses that are themselves predictions use
        :class:`~bayes_scaling.predict.predictor.ScalingPredictor`, which carries their uncertainty.

        Returns
        -------
        DataFrame
            Columns ``loss``, ``median``, ``mean``, ``lower``, ``upper``; ``attrs`` hold
            ``ci_prob``, ``kind``, ``target="error"`` and the error column.
        """
        loss = np.atleast_1d(np.asarray(loss, dtype=float))
        if loss.ndim != 1:
            raise ValueError(f"loss must be 1-D, got shape {loss.shape}")
        draws = self.error_draws(loss, kind=kind, seed=seed)
        out = interval_frame(pd.DataFrame({"loss": loss}), draws, ci_prob)
        out.attrs.update({"kind": kind, "target": "error", "error": self.error})
        return out

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
        obj = cls(dt.attrs["law"], error=dt.attrs["error"], loss=dt.attrs["loss"],
                  noise=dt.attrs["noise"], priors=priors_from_json(dt.attrs["priors"]),
                  sampler=json.loads(dt.attrs["sampler"]), chance=float(dt.attrs["chance"]),
                  n_items=float(dt.attrs["n_items"]))
        obj.idata = dt
        return obj


def _sampling_sd(err: np.ndarray, n_items: float) -> np.ndarray:
    """Sampling sd of an error rate measured on ``n_items`` test items (0 when n_items is 0).

    The sd of the Beta(x + 1, n - x + 1) posterior of the rate after x errors in n items,
    ``sqrt(q (1 - q) / (n + 3))`` with ``q = (x + 1) / (n + 2)``, rather than the plug-in binomial
    ``sqrt(p (1 - p) / n)``: the two agree to < 1% for the averages, but a task that a small
    model gets *all* wrong (32 of 32 on repeat_copy_logic) has plug-in sd 0, which pins the
    law's mean at exactly 1 and made those fits multimodal (R-hat 3-17 before this change).
    """
    err = np.asarray(err, dtype=float)
    if not n_items > 0:
        return np.zeros_like(err)
    q = (np.clip(err, 0.0, 1.0) * n_items + 1.0) / (n_items + 2.0)
    return np.sqrt(q * (1.0 - q) / (n_items + 3.0))
