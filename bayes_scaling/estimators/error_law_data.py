"""The data side of :class:`~bayes_scaling.estimators.error_law.ErrorLaw`: a runs table -> the
error model's arrays (with the checks and task metadata), their content hash, and the posterior
DataTree with the attrs a saved fit records, of a fit or of given draws (``from_draws``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.estimators.error_predictive import _sampling_sd, _unit_var
from bayes_scaling.estimators.io import FILE_FORMAT
from bayes_scaling.inference.config import check_seed, enable_x64
from bayes_scaling.laws.priors import priors_to_json

if TYPE_CHECKING:
    from bayes_scaling.estimators.error_law import ErrorLaw

__all__ = ["error_law_data_hash", "error_law_datatree", "error_law_from_draws", "prepare_error_law"]

_Z95 = 1.959964  # 95% two-sided normal quantile: CI half-width -> sd


def prepare_error_law(law: ErrorLaw, runs: pd.DataFrame
                      ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Model arrays ``kw`` and run metadata ``meta`` of ``law`` fitted on ``runs``; sets
    ``law._learn_items`` and ``law._loss_error_used`` (:meth:`ErrorLaw._prepare`)."""
    from bayes_scaling.data import validate_runs

    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    for col, what in ((law.error, "error"), (law.loss, "loss")):
        if col not in runs.columns:
            prefix = "err_" if what == "error" else "loss_"
            have = [c for c in runs.columns if c.startswith(prefix) and not c.endswith("_ci")]
            raise ValueError(f"runs have no column {col!r}; pass {what}= one of {have[:8]}"
                             f"{' ...' if len(have) > 8 else ''}")
    validate_runs(runs)
    n_min = len(law.spec.sampled) + 1
    if len(runs) < n_min:
        raise ValueError(f"{len(runs)} runs cannot identify the {law.law!r} error law's "
                         f"{len(law.spec.sampled)} parameters plus noise; use at least "
                         f"{n_min} runs")
    err = runs[law.error].to_numpy(dtype=float)
    loss = runs[law.loss].to_numpy(dtype=float)
    for col, v in ((law.error, err), (law.loss, loss)):
        bad = ~np.isfinite(v)
        if bad.any():
            raise ValueError(f"column {col!r} row {runs.index[np.flatnonzero(bad)[0]]!r} is "
                             f"not a finite number; drop the run or fill the value")
    info = law._task_info(runs)
    law._learn_items = info.n_items is None
    n_items = 0.0 if info.n_items is None else info.n_items
    ci_col = f"{law.loss}_ci"
    loss_sd = (runs[ci_col].fillna(0.0).to_numpy(dtype=float) / _Z95
               if ci_col in runs.columns else np.zeros_like(loss))
    err_sd = _sampling_sd(np.clip(err, 0.0, 1.0), n_items)
    kw = {
        "loss_obs": loss,
        "loss_sd": loss_sd,
        "err_sd": err_sd,
        # binomial shape of a learned sampling error, with the Beta-posterior floor of
        # _sampling_sd (an error of exactly 0 or 1 still has some sampling error)
        "err_unit": np.sqrt(_unit_var(err)),
        "chance": np.asarray(info.chance),
        # centring: the data's median loss, where the error is best determined; also the
        # scale of the unit-free rates (laws.forms)
        "loss_ref": np.asarray(float(np.median(loss))),
        "error": err,
        # every run in the likelihood; leave-future-out refits mask some out
        "mask": np.ones(len(err), dtype=bool),
    }
    if not kw["loss_ref"] > 0:
        raise ValueError(f"the median of {law.loss!r} is {float(kw['loss_ref'])!r}; error "
                         "laws need a positive loss (a cross-entropy, in any unit)")
    # latent true losses only where some loss has a measurement error; otherwise they would
    # equal the observed ones and only cost one parameter per run
    law._loss_error_used = ("latent" if law.loss_error == "latent" and np.any(loss_sd > 0)
                             else "linearised")
    run_ids = (runs["run_id"].astype(str).to_numpy() if "run_id" in runs.columns
               else np.asarray([str(i) for i in runs.index]))
    meta = {"run_id": run_ids, "chance": info.chance,
            "n_items": np.nan if info.n_items is None else info.n_items,
            "metric": info.metric, "task_source": info.source}
    return kw, meta


def error_law_data_hash(kw: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """SHA-256 of the arrays an error-law fit saw (``idata.attrs["data_hash"]``)."""
    h = hashlib.sha256()
    for k in ("loss_obs", "loss_sd", "err_sd", "error", "chance"):
        h.update(np.ascontiguousarray(kw[k], dtype=np.float64).tobytes())
    h.update("\x00".join(map(str, meta["run_id"])).encode())
    return h.hexdigest()


def error_law_datatree(law: ErrorLaw, posterior, stats, kw, meta, *, seed, facts):
    """The fit's DataTree: posterior (with the natural parameters), sample stats, pointwise log
    likelihood, observed and constant data, and the root attrs (:meth:`ErrorLaw._build_datatree`)."""
    import arviz_base as ab
    import jax.numpy as jnp
    from numpyro.infer import log_likelihood

    enable_x64()
    n_chain, n_draw = next(iter(posterior.values())).shape[:2]
    post = dict(posterior)
    sampled = {k: post[k] for k in law.spec.sampled if k in post}
    if len(sampled) == len(law.spec.sampled):
        ll_in = {k: jnp.asarray(np.reshape(v, (n_chain * n_draw, *np.shape(v)[2:])))
                 for k, v in post.items()}
        ll = log_likelihood(law._model(), ll_in, **{k: jnp.asarray(v) for k, v in kw.items()})
        ll = {k: np.asarray(v).reshape(n_chain, n_draw, -1) for k, v in ll.items()}
        natural = law.spec.from_sampled(sampled, kw["chance"], kw["loss_ref"])
        for k, v in natural.items():
            post.setdefault(k, np.asarray(v))
    else:  # fabricated from natural parameters: nothing to recompute
        ll = {}
    groups = {"posterior": post, "sample_stats": stats}
    if ll:
        groups["log_likelihood"] = ll
    if len(meta["run_id"]):
        groups["observed_data"] = {"error": kw["error"], "loss": kw["loss_obs"]}
        groups["constant_data"] = {"loss_sd": kw["loss_sd"], "err_sd": kw["err_sd"],
                                   "err_unit": kw["err_unit"]}
    dims = {k: ["run"] for k in ("error", "loss", "loss_sd", "err_sd", "err_unit",
                                 "loss_true", "loss_z")}
    dt = ab.from_dict(groups, dims=dims, coords={"run": list(meta["run_id"])})
    dt.attrs.update({
        "bayes_scaling_kind": law.kind,
        "bayes_scaling_version": __version__,
        "file_format": FILE_FORMAT,
        "law": law.law,
        "error": law.error,
        "loss": law.loss,
        "loss_unit": law.loss_unit,
        "loss_error": law._loss_error_used,
        "noise": law.noise,
        "priors": priors_to_json(law.priors),
        "sampler": json.dumps(law.sampler.to_dict(), sort_keys=True),
        "seed": int(seed),
        "data_hash": law._data_hash(kw, meta),
        "chance": float(meta["chance"]),
        "n_items": float(meta["n_items"]),
        "items_learned": int(law._learn_items),
        "metric": str(meta["metric"]),
        "task_source": str(meta["task_source"]),
        "loss_ref": float(kw["loss_ref"]),
        "backend": json.dumps(facts, sort_keys=True),
    })
    return dt


def error_law_from_draws(cls: type[ErrorLaw], params: Mapping[str, Any], *, chance: float, law: str,
                         error: str, loss: str, noise: str, n_items: float | None, loss_unit: str,
                         seed: int) -> ErrorLaw:
    """An ``ErrorLaw`` whose posterior is the given natural-parameter draws
    (:meth:`ErrorLaw.from_draws`, which documents the arguments)."""
    obj = cls(law, error=error, loss=loss, noise=noise, chance=chance, n_items=n_items,
              loss_unit=loss_unit)
    obj._learn_items = n_items is None
    needed = (list(obj.spec.params) + ["sigma"] + (["nu"] if noise == "student_t" else [])
              + (["inv_sqrt_items"] if n_items is None else []))
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
    rng = np.random.default_rng(check_seed(seed))
    stats = {"diverging": np.zeros(shape, bool), "energy": rng.standard_normal(shape)}
    kw = {"loss_obs": np.zeros(0), "loss_sd": np.zeros(0), "err_sd": np.zeros(0),
          "err_unit": np.zeros(0), "chance": np.asarray(float(chance)),
          "loss_ref": np.asarray(np.nan), "error": np.zeros(0)}
    meta = {"run_id": np.asarray([], dtype=str), "chance": float(chance),
            "n_items": np.nan if n_items is None else float(n_items),
            "metric": "top1_error", "task_source": "arguments"}
    facts = {"chain_method": "from_draws"}
    obj.idata = obj._build_datatree(post, stats, kw, meta, seed=seed, facts=facts)
    return obj
