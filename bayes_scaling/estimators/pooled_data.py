"""The data side of :class:`~bayes_scaling.estimators.pooled.PooledLossLaw`: runs tables in long
format (one row per run and eval set), a runs table -> the pooled model's arrays (with the
checks), their content hash, and the posterior DataTree with the attrs a saved fit records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.estimators.io import FILE_FORMAT
from bayes_scaling.estimators.loss_law import _log_likelihood_fn
from bayes_scaling.inference.config import enable_x64
from bayes_scaling.laws.priors import priors_to_json

if TYPE_CHECKING:
    from bayes_scaling.estimators.pooled import PooledLossLaw

__all__ = ["long_format", "pooled_loss_data_hash", "pooled_loss_datatree", "prepare_pooled_loss"]

_CORE = ("run_id", "dataset", "n_params", "n_tokens", "tokens_per_param", "compute_flops")


def long_format(runs: pd.DataFrame, losses: Sequence[str] | None = None, *,
                column: str = "loss_eval", group: str = "eval_set") -> pd.DataFrame:
    """Reshape a runs table to one row per (run, eval set), for pooling across eval sets.

    Parameters
    ----------
    runs : DataFrame
        Runs table with ``loss_<eval>`` columns (and their ``_ci`` half-widths).
    losses : sequence of str, optional
        Loss columns to stack; default every ``loss_<eval>`` column.
    column : str
        Name of the stacked loss column (must start with ``loss_``); its measurement error goes
        to ``<column>_ci`` when the sources have ``_ci`` columns.
    group : str
        Name of the column holding the eval set (the loss column without ``loss_``).

    Returns
    -------
    DataFrame
        ``run_id`` (``<run_id>/<eval>``, unique), ``source_run_id``, the size columns,
        ``dataset``, ``group`` and ``column`` (``<column>_ci``); rows with a missing loss are
        dropped.

    Examples
    --------
    >>> runs = pd.DataFrame({"run_id": ["r1"], "n_params": [1e8], "n_tokens": [2e9],
    ...                      "loss_c4": [3.1], "loss_c4_ci": [0.01], "loss_ptb": [3.9]})
    >>> long_format(runs)[["run_id", "eval_set", "loss_eval", "loss_eval_ci"]].to_dict("records")
    [{'run_id': 'r1/c4', 'eval_set': 'c4', 'loss_eval': 3.1, 'loss_eval_ci': 0.01}, \
{'run_id': 'r1/ptb', 'eval_set': 'ptb', 'loss_eval': 3.9, 'loss_eval_ci': 0.0}]
    """
    from bayes_scaling.data import loss_columns

    if not column.startswith("loss_"):
        raise ValueError(f"column must start with 'loss_' (the runs-table convention), got "
                         f"{column!r}")
    losses = list(loss_columns(runs.columns) if losses is None else losses)
    missing = [c for c in losses if c not in runs.columns]
    if missing or not losses:
        raise ValueError(f"loss columns {missing or losses} not in the runs table; available: "
                         f"{loss_columns(runs.columns)}")
    has_ci = any(f"{c}_ci" in runs.columns for c in losses)
    ids = (runs["run_id"].astype(str) if "run_id" in runs.columns
           else pd.Series([str(i) for i in runs.index], index=runs.index))
    keep = [c for c in _CORE if c in runs.columns and c != "run_id"]
    parts = []
    for c in losses:
        name = c.removeprefix("loss_")
        part = runs[keep].copy()
        part.insert(0, "run_id", ids + "/" + name)
        part.insert(1, "source_run_id", ids)
        part[group] = name
        part[column] = runs[c].to_numpy(float)
        if has_ci:
            ci = runs[f"{c}_ci"] if f"{c}_ci" in runs.columns else 0.0
            part[f"{column}_ci"] = np.nan_to_num(np.asarray(ci, dtype=float)
                                                 * np.ones(len(runs)))
        parts.append(part[np.isfinite(part[column].to_numpy(float))])
    return pd.concat(parts, ignore_index=True)


def prepare_pooled_loss(law: PooledLossLaw, runs: pd.DataFrame
                        ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Model arrays ``kw`` and run metadata ``meta`` of ``law`` fitted on ``runs``
    (:meth:`PooledLossLaw._prepare`)."""
    from bayes_scaling.data import check_design, loss_columns, validate_runs

    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
    if law.loss not in runs.columns:
        raise ValueError(f"runs have no column {law.loss!r}; pass loss= one of "
                         f"{loss_columns(runs.columns)} (or reshape with long_format)")
    if law.group not in runs.columns:
        raise ValueError(f"runs have no group column {law.group!r}; pass group= a column "
                         "naming each run's group (e.g. 'dataset', or 'eval_set' after "
                         "long_format)")
    labels = runs[law.group]
    if labels.isna().any():
        row = runs.index[labels.isna().to_numpy()][0]
        raise ValueError(f"row {row!r}: group column {law.group!r} is empty; give every "
                         "run a group")
    labels = labels.astype(str)
    names = sorted(labels.unique())
    # each group is a runs table in its own right (a long-format table repeats a run's
    # (dataset, n_params, n_tokens) once per eval set, so the union is not)
    for g in names:
        validate_runs(runs[(labels == g).to_numpy()])
    n_par = len(law.spec.params)
    if len(runs) < n_par + 1:
        raise ValueError(f"{len(runs)} runs cannot identify the {law.law!r} law's {n_par} "
                         f"parameters plus noise; use at least {n_par + 1} runs")
    # the design of the union, each (size, tokens) once (long format repeats them)
    sizes = [c for c in ("n_params", "n_tokens", "tokens_per_param") if c in runs.columns]
    check_design(runs[sizes].drop_duplicates(), data_term=True)
    n = runs["n_params"].to_numpy(dtype=float)
    d = runs["n_tokens"].to_numpy(dtype=float)
    y = runs[law.loss].to_numpy(dtype=float)
    ci_col = f"{law.loss}_ci"
    meas_sd = (runs[ci_col].fillna(0.0).to_numpy(dtype=float) / 1.959964 / y
               if ci_col in runs.columns else np.zeros_like(y))
    gidx = np.searchsorted(np.asarray(names), labels.to_numpy())
    e_upper = np.asarray([y[gidx == j].min() for j in range(len(names))])
    log_n0, log_d0 = float(np.mean(np.log(n))), float(np.mean(np.log(d)))
    kw = {
        "x_n": np.log(n) - log_n0,
        "x_d": np.log(d) - log_d0,
        "meas_sd": meas_sd,
        "group": gidx.astype(np.int32),
        "e_upper": e_upper,
        "log_loss": np.log(y),
    }
    run_ids = (runs["run_id"].astype(str).to_numpy() if "run_id" in runs.columns
               else np.asarray([str(i) for i in runs.index]))
    if len(set(run_ids)) != len(run_ids):
        raise ValueError("run ids are not unique across groups; make them unique (e.g. "
                         "long_format appends the eval set)")
    meta = {"log_n0": log_n0, "log_d0": log_d0, "run_id": run_ids, "n_params": n,
            "n_tokens": d, "loss": y, "meas_sd": meas_sd, "groups": names,
            "run_group": labels.to_numpy()}
    return kw, meta


def pooled_loss_data_hash(meta: Mapping[str, Any]) -> str:
    """SHA-256 of the runs a pooled fit saw (``idata.attrs["data_hash"]``)."""
    h = hashlib.sha256()
    for k in ("n_params", "n_tokens", "loss", "meas_sd"):
        h.update(np.ascontiguousarray(meta[k], dtype=np.float64).tobytes())
    h.update("\x00".join(map(str, meta["run_id"])).encode())
    h.update("\x01".join(map(str, meta["run_group"])).encode())
    return h.hexdigest()


def pooled_loss_datatree(law: PooledLossLaw, posterior, stats, kw, meta, *, seed, facts):
    """The fit's DataTree: posterior (with the natural ``A``, ``B`` per group), sample stats,
    pointwise log likelihood, observed and constant data, and the root attrs
    (:meth:`PooledLossLaw._build_datatree`)."""
    import arviz_base as ab
    import jax.numpy as jnp

    enable_x64()
    flat = {k: jnp.asarray(v.reshape(-1, *v.shape[2:])) for k, v in posterior.items()}
    ll = _log_likelihood_fn(law)(flat, {k: jnp.asarray(v) for k, v in kw.items()})
    n_chain, n_draw = next(iter(posterior.values())).shape[:2]
    ll = {k: np.asarray(v).reshape(n_chain, n_draw, -1) for k, v in ll.items()}
    post = {k: np.asarray(v) for k, v in posterior.items()}
    natural = law.spec.to_natural(post, meta["log_n0"], meta["log_d0"])
    post["A"], post["B"] = natural["A"], natural["B"]
    per_group = [*law.spec.params, "A", "B"] + [f"{p}_z" for p in law.spec.params]
    dims: dict[str, list[str]] = {k: ["group"] for k in per_group}
    dims |= {k: ["run"] for k in ("log_loss", "loss", "n_params", "n_tokens", "meas_sd",
                                  "run_group")}
    dims["e_upper"] = ["group"]
    if law.group_noise:
        dims["sigma"] = ["group"]
    dt = ab.from_dict(
        {
            "posterior": post,
            "sample_stats": stats,
            "log_likelihood": ll,
            "observed_data": {"log_loss": kw["log_loss"], "loss": meta["loss"]},
            "constant_data": {
                "n_params": meta["n_params"],
                "n_tokens": meta["n_tokens"],
                "meas_sd": meta["meas_sd"],
                "run_group": np.asarray(meta["run_group"], dtype=str),
                "e_upper": np.asarray(kw["e_upper"]),
            },
        },
        dims=dims,
        coords={"run": list(meta["run_id"]), "group": list(meta["groups"])},
    )
    dt.attrs.update({
        "bayes_scaling_kind": law.kind,
        "bayes_scaling_version": __version__,
        "file_format": FILE_FORMAT,
        "law": law.law,
        "loss": law.loss,
        "group_column": law.group,
        "noise": law.noise,
        "group_noise": int(law.group_noise),
        "priors": priors_to_json(law.priors),
        "sampler": json.dumps(law.sampler.to_dict(), sort_keys=True),
        "seed": int(seed),
        "data_hash": law._data_hash(meta),
        "log_n0": meta["log_n0"],
        "log_d0": meta["log_d0"],
        "backend": json.dumps(facts, sort_keys=True),
    })
    return dt
