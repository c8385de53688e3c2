"""``LossLaw``: a Bayesian scaling law for loss, fitted by NUTS, owning its ArviZ DataTree.

Examples
--------
>>> import bayes_scaling as bs                                    # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024")                           # doctest: +SKIP
>>> law = bs.LossLaw("gadre", loss="loss_c4_val")                 # doctest: +SKIP
>>> law.fit(runs.query("dataset == 'rpj' and n_params < 1e9"), seed=0)  # doctest: +SKIP
>>> law.predict(pd.DataFrame({"n_params": [1.44e9], "n_tokens": [9.2e11]}), ci_prob=0.9)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.data.design import DesignBounds, warn_far_extrapolation
from bayes_scaling.data.targets import (
    check_kind,
    interval_frame,
    measurement_sd,
    resolve_targets,
)
from bayes_scaling.estimators.base import FittedModel, NotFittedError
from bayes_scaling.estimators.io import FILE_FORMAT
from bayes_scaling.inference.config import SamplerConfig, check_seed, enable_x64
from bayes_scaling.inference.diagnostics import Diagnostics
from bayes_scaling.laws.forms import LawSpec, get_law
from bayes_scaling.laws.priors import Prior, default_priors, merge_priors, priors_from_json, priors_to_json
from bayes_scaling.models.core import make_loss_model
from bayes_scaling.models.noise import (
    NOISE_SITES,
    check_noise,
    outlier_responsibility,
    regular_noise_draws,
)

__all__ = ["LossLaw", "NotFittedError", "pad_runs"]


_LL_FNS: dict = {}


def _log_likelihood_fn(law: LossLaw):
    """Jitted pointwise log likelihood, cached per model (batched fits build many DataTrees)."""
    key = law._model_key()
    fn = _LL_FNS.get(key)
    if fn is None:
        import jax
        from numpyro.infer import log_likelihood

        model = law._model()
        fn = _LL_FNS[key] = jax.jit(lambda samples, kw: log_likelihood(model, samples, **kw))
    return fn


def pad_runs(kw: Mapping[str, Any], length: int) -> dict[str, Any]:
    """The loss model's arrays (:meth:`LossLaw._prepare`) padded to ``length`` runs, plus
    ``mask`` (True for the real runs). Padded rows sit at the design centre with zero
    measurement error and a finite log loss, so every term is finite before the mask drops it."""
    n = len(kw["log_loss"])
    if length < n:
        raise ValueError(f"cannot pad {n} runs to {length}")
    out = {}
    for k, v in kw.items():
        v = np.asarray(v, dtype=float)
        if v.ndim == 1:  # per-run arrays
            v = np.concatenate([v, np.zeros(length - n)])
        out[k] = v
    out["mask"] = np.arange(length) < n
    return out


class LossLaw(FittedModel):
    """Bayesian loss law ``L(N, D)`` with priors, a noise model and a NUTS posterior.

    Parameters
    ----------
    law : {"gadre", "chinchilla"}
        The law's form (see :mod:`bayes_scaling.laws.forms`).
    loss : str
        Column of the runs table to model, e.g. ``"loss_c4_val"``. A column ``<loss>_ci`` (95%
        half-width of the eval-set mean) is used as the run's measurement error when present.
    priors : mapping, optional
        Per-parameter overrides (:class:`~bayes_scaling.laws.priors.Prior` or its dict form) merged over
        :func:`~bayes_scaling.laws.priors.default_priors`.
    noise : {"mixture", "student_t", "normal"}
        Likelihood on log loss (see :mod:`bayes_scaling.models.core`): ``"mixture"`` (default)
        lets a learned share of runs be outliers with a broader scale, and predicts new runs as
        regular ones; ``"student_t"`` gives every run, new ones included, the same heavy tail.
    discrepancy : {"lfo", None}
        ``"lfo"`` (default): after the fit, learn the extrapolation discrepancy by
        leave-future-out refits on the fitting runs (:mod:`bayes_scaling.estimators.extrapolation`)
        and add it to the new-run predictive, growing with the target's distance outside the
        fitted design. ``None``: no discrepancy term (faster; intervals then ignore that the law
        itself may bend beyond the data).
    sampler : SamplerConfig or dict, optional
        NUTS settings; defaults to 4 chains x (1000 warm-up + 1000 draws), dense mass.

    Attributes
    ----------
    idata : xarray.DataTree
        Groups ``posterior`` (centred and natural-unit parameters), ``sample_stats``,
        ``log_likelihood``, ``observed_data``, ``constant_data``; root attrs record law, priors,
        noise, sampler, seed, package version, data hash and backend.
    """

    kind = "LossLaw"

    def __init__(
        self,
        law: str = "gadre",
        *,
        loss: str = "loss_c4_val",
        priors: Mapping[str, Any] | None = None,
        noise: str = "mixture",
        discrepancy: str | None = "lfo",
        sampler: SamplerConfig | Mapping[str, Any] | None = None,
    ):
        self.spec: LawSpec = get_law(law)
        self.loss = loss
        self.noise = check_noise(noise)
        if discrepancy not in ("lfo", None):
            raise ValueError(f"discrepancy must be 'lfo' or None, got {discrepancy!r}")
        self.discrepancy = discrepancy
        self.priors: dict[str, Prior] = merge_priors(default_priors(law), priors)
        self.sampler = SamplerConfig.coerce(sampler)
        self.idata = None
        self._diagnostics: Diagnostics | None = None

    # ------------------------------------------------------------------ properties
    @property
    def law(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        state = "fitted" if self.idata is not None else "not fitted"
        return (f"LossLaw({self.law!r}, loss={self.loss!r}, noise={self.noise!r}, "
                f"discrepancy={self.discrepancy!r}; {state})")

    def _model_key(self) -> tuple:
        return ("loss", self.law, priors_to_json(self.priors), self.noise)

    def _model(self):
        return make_loss_model(self.spec, self.priors, self.noise)

    # ------------------------------------------------------------------ fitting
    def fit(self, runs: pd.DataFrame, *, seed: int, progress: bool = False,
            warn: bool = True) -> LossLaw:
        """Sample the posterior given ``runs``, then learn the extrapolation discrepancy.

        Parameters
        ----------
        runs : DataFrame
            Runs table (see :mod:`bayes_scaling.data`), validated before sampling.
        seed : int
            Explicit random seed (recorded in ``idata.attrs``).
        progress : bool
            Show a progress bar while sampling.
        warn : bool
            Emit :class:`~bayes_scaling.inference.diagnostics.DiagnosticsWarning` when a check fails.

        Returns
        -------
        LossLaw
            ``self``, fitted; ``idata.attrs["discrepancy"]`` holds the learned discrepancy.
        """
        super().fit(runs, seed=seed, progress=progress, warn=warn)
        self._set_discrepancy(runs, seed)
        self._warn_refits(warn)
        return self

    def _set_discrepancy(self, runs: pd.DataFrame, seed: int) -> None:
        from bayes_scaling.estimators.discrepancy import Discrepancy
        from bayes_scaling.estimators.extrapolation import calibrate_discrepancy

        disc = (calibrate_discrepancy([self], [runs], seed=seed)[0]
                if self.discrepancy == "lfo" else Discrepancy.none())
        self.idata.attrs["discrepancy"] = disc.to_json()

    def _lfo_template(self, sampler_overrides: Mapping[str, Any]) -> LossLaw:
        """An unfitted copy for leave-future-out refits: same law, priors and noise, no
        discrepancy of its own, a lighter sampler."""
        base = self.sampler.to_dict()
        # never heavier than the main fit's own settings
        lighter = {k: min(int(v), int(base[k])) for k, v in sampler_overrides.items()}
        return LossLaw(self.law, loss=self.loss, priors=self.priors, noise=self.noise,
                       discrepancy=None, sampler=base | lighter)

    # ------------------------------------------------------------------ data -> model arrays
    def _prepare(self, runs: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from bayes_scaling.data import check_design, validate_runs
        from bayes_scaling.data.validation import check_fit_runs

        if not isinstance(runs, pd.DataFrame):
            raise TypeError(f"runs must be a pandas DataFrame, got {type(runs).__name__}")
        if self.loss not in runs.columns:
            from bayes_scaling.data import loss_columns

            losses = loss_columns(runs.columns)
            raise ValueError(
                f"runs have no column {self.loss!r}; pass loss= one of {losses}"
            )
        validate_runs(runs)
        check_fit_runs(runs, self.loss)  # loss column is a loss, in range; one corpus
        if len(runs) < len(self.spec.params) + 1:
            raise ValueError(
                f"{len(runs)} runs cannot identify the {self.law!r} law's "
                f"{len(self.spec.params)} parameters plus noise; use at least "
                f"{len(self.spec.params) + 1} runs"
            )
        check_design(runs, data_term=True)
        n = runs["n_params"].to_numpy(dtype=float)
        d = runs["n_tokens"].to_numpy(dtype=float)
        y = runs[self.loss].to_numpy(dtype=float)
        ci_col = f"{self.loss}_ci"
        if ci_col in runs.columns:
            meas_sd = runs[ci_col].fillna(0.0).to_numpy(dtype=float) / 1.959964 / y
        else:
            meas_sd = np.zeros_like(y)
        log_n0, log_d0 = float(np.mean(np.log(n))), float(np.mean(np.log(d)))
        kw = {
            "x_n": np.log(n) - log_n0,
            "x_d": np.log(d) - log_d0,
            "meas_sd": meas_sd,
            "e_upper": np.asarray(float(y.min())),
            "log_loss": np.log(y),
        }
        run_ids = (runs["run_id"].astype(str).to_numpy() if "run_id" in runs.columns
                   else np.asarray([str(i) for i in runs.index]))
        meta = {"log_n0": log_n0, "log_d0": log_d0, "run_id": run_ids, "n_params": n,
                "n_tokens": d, "loss": y, "meas_sd": meas_sd}
        return kw, meta

    def _sampling_kwargs(self, kw: Mapping[str, Any]) -> dict[str, Any]:
        """``kw`` padded to :func:`~bayes_scaling.inference.nuts.padded_length` runs, with the
        ``mask`` that drops the padding from the likelihood (and from the reference loss of the
        sampling coordinates): the same posterior, and one compiled program per padded length
        instead of one per number of runs."""
        from bayes_scaling.inference.nuts import padded_length

        return pad_runs(kw, padded_length(len(kw["log_loss"])))

    @staticmethod
    def _data_hash(meta: Mapping[str, Any]) -> str:
        h = hashlib.sha256()
        for k in ("n_params", "n_tokens", "loss", "meas_sd"):
            h.update(np.ascontiguousarray(meta[k], dtype=np.float64).tobytes())
        h.update("\x00".join(map(str, meta["run_id"])).encode())
        return h.hexdigest()

    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):
        import arviz_base as ab
        import jax.numpy as jnp

        enable_x64()
        flat = {k: jnp.asarray(v.reshape(-1, *v.shape[2:])) for k, v in posterior.items()}
        ll = _log_likelihood_fn(self)(flat, {k: jnp.asarray(v) for k, v in kw.items()})
        n_chain, n_draw = next(iter(posterior.values())).shape[:2]
        ll = {k: np.asarray(v).reshape(n_chain, n_draw, -1) for k, v in ll.items()}
        natural = self.spec.to_natural(posterior, meta["log_n0"], meta["log_d0"])
        post = dict(posterior)
        for k in ("A", "B"):
            post[k] = natural[k]
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
                },
            },
            dims={"log_loss": ["run"], "loss": ["run"], "n_params": ["run"],
                  "n_tokens": ["run"], "meas_sd": ["run"]},
            coords={"run": list(meta["run_id"])},
        )
        dt.attrs.update({
            "bayes_scaling_kind": self.kind,
            "bayes_scaling_version": __version__,
            "file_format": FILE_FORMAT,
            "law": self.law,
            "loss": self.loss,
            "noise": self.noise,
            "discrepancy_method": self.discrepancy or "none",
            "priors": priors_to_json(self.priors),
            "sampler": json.dumps(self.sampler.to_dict(), sort_keys=True),
            "seed": int(seed),
            "data_hash": self._data_hash(meta),
            "log_n0": meta["log_n0"],
            "log_d0": meta["log_d0"],
            "e_upper": float(kw["e_upper"]),
            "backend": json.dumps(facts, sort_keys=True),
        })
        return dt

    def _diagnostic_names(self) -> list[str]:
        return [*self.spec.params, *NOISE_SITES[self.noise]]

    # ------------------------------------------------------------------ posterior access
    @property
    def centring(self) -> tuple[float, float]:
        """``(log N0, log D0)``: the design centre used to centre the predictors."""
        self._require_fit()
        return float(self.idata.attrs["log_n0"]), float(self.idata.attrs["log_d0"])

    def summary(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """Natural-unit parameters: median, mean, sd, equal-tailed interval, R-hat, ESS."""
        from arviz_stats.base import array_stats

        self._require_fit()
        diag = self.diagnostics(warn=False).per_parameter
        rows = []
        names = list(self.spec.natural_params) + list(NOISE_SITES[self.noise])
        for k in names:
            v = self.idata.posterior[k].values
            flat = v.reshape(-1)
            lo, hi = array_stats.eti(flat, ci_prob)
            src = k if k in diag else {"A": "a", "B": "b"}.get(k, k)
            rows.append({"parameter": k, "median": float(np.median(flat)),
                         "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)),
                         "lower": float(lo), "upper": float(hi),
                         "rhat": diag.get(src, {}).get("rhat", np.nan),
                         "ess_bulk": diag.get(src, {}).get("ess_bulk", np.nan)})
        df = pd.DataFrame(rows).set_index("parameter")
        df.attrs["ci_prob"] = ci_prob
        return df

    @property
    def design_bounds(self) -> DesignBounds:
        """Ranges of the fitted runs in log compute, size and tokens per parameter."""
        self._require_fit()
        c = self.idata.constant_data
        return DesignBounds.from_sizes(c["n_params"].values, c["n_tokens"].values)

    def _regular_predictive(self, targets: pd.DataFrame):
        """Per posterior draw at ``targets``: the law's log mean ``(S, T)``, the regular new-run
        scale ``(S, T)`` (run-to-run scatter plus the target's measurement error where
        ``targets`` has ``<loss>`` and ``<loss>_ci``) and the noise parameters ``(S, 1)``."""
        import jax.numpy as jnp

        self._require_fit()
        enable_x64()
        t = resolve_targets(targets)
        log_n0, log_d0 = self.centring
        post = self.idata.posterior
        p = {k: jnp.asarray(post[k].values.reshape(-1)[:, None]) for k in self.spec.params}
        p["log_E"] = jnp.log(p["E"])
        x_n = jnp.log(jnp.asarray(t["n_params"].to_numpy(float)))[None, :] - log_n0
        x_d = jnp.log(jnp.asarray(t["n_tokens"].to_numpy(float)))[None, :] - log_d0
        log_mu = np.asarray(self.spec.log_mu(p, x_n, x_d))
        noise_post = {k: post[k].values.reshape(-1)[:, None] for k in NOISE_SITES[self.noise]}
        sigma = noise_post["sigma"]
        meas = measurement_sd(t, self.loss)
        scale = np.sqrt(sigma**2 + meas[None, :] ** 2) * np.ones_like(log_mu)
        return log_mu, scale, noise_post

    def _fitted_predictive(self):
        """The fitted runs' sizes, their regular predictive and observed log losses:
        ``(runs, log_mu, scale, post, y)``, ``scale`` with each run's own measurement error."""
        self._require_fit()
        c = self.idata.constant_data
        runs = pd.DataFrame({"n_params": c["n_params"].values, "n_tokens": c["n_tokens"].values})
        log_mu, _, post = self._regular_predictive(runs)
        scale = np.sqrt(post["sigma"] ** 2 + c["meas_sd"].values[None, :] ** 2)
        return runs, log_mu, scale, post, self.idata.observed_data["log_loss"].values

    def discrepancy_sd(self, targets: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
        """Draws of the extrapolation discrepancy's sd on the log scale, ``(S, T)``:
        ``kappa_s * d_t`` with ``d_t`` the target's distance outside the fitted design."""
        t = resolve_targets(targets)
        d = self.design_bounds.distance(t["n_params"], t["n_tokens"])
        n = self.idata.posterior.sizes["chain"] * self.idata.posterior.sizes["draw"]
        return self.discrepancy_.kappa_draws(n, seed)[:, None] * d[None, :]

    def log_loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run",
                       seed: int = 0) -> np.ndarray:
        """Posterior draws of log loss at ``targets``: shape ``(n_draws, n_targets)``.

        ``kind="new_run"`` (default) is the log loss a new run at the target would measure:
        the law's mean, the regular run-to-run noise (plus the target's measurement error where
        ``targets`` has ``<loss>_ci``) and the extrapolation discrepancy. ``"law_mean"`` is the
        law's mean alone (parameter uncertainty only).
        """
        check_kind(kind)
        log_mu, scale, noise_post = self._regular_predictive(targets)
        if kind == "law_mean":
            return log_mu
        rng = np.random.default_rng(check_seed(seed))
        eps = regular_noise_draws(self.noise, noise_post, log_mu.shape, rng)
        disc = self.discrepancy_sd(targets, seed=seed)
        return log_mu + scale * eps + disc * rng.standard_normal(log_mu.shape)

    def log_predictive_density(self, runs: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
        """Log density of each run's observed log loss under the new-run predictive.

        Exact for ``"normal"`` and ``"mixture"`` noise (a normal per draw, with the discrepancy
        added in quadrature); for ``"student_t"`` the discrepancy widens the t's scale (an
        approximation). Add ``-log(loss)`` for the density per nat.
        """
        from bayes_scaling.models.noise import regular_log_density

        log_mu, scale, post = self._regular_predictive(runs)
        disc = self.discrepancy_sd(runs, seed=seed)
        y = np.log(runs[self.loss].to_numpy(float))
        return regular_log_density(self.noise, y, log_mu, np.sqrt(scale**2 + disc**2), post)

    def outlier_probability(self) -> pd.DataFrame:
        """Each fitted run's posterior probability of being an outlier (``"mixture"`` noise).

        Returns
        -------
        DataFrame
            One row per fitted run (index ``run``): ``n_params``, ``n_tokens``,
            ``tokens_per_param``, ``loss``, ``law_median`` (posterior median of the law's mean),
            ``rel_residual`` (``loss / law_median - 1``) and ``outlier_prob``.
        """
        self._require_fit()
        if self.noise != "mixture":
            raise ValueError(f"outlier probabilities need noise='mixture'; this fit uses "
                             f"{self.noise!r}")
        runs, log_mu, scale, post, y = self._fitted_predictive()
        prob = outlier_responsibility(y, log_mu, scale, post)
        med = np.exp(np.median(log_mu, axis=0))
        out = runs.assign(tokens_per_param=runs.n_tokens / runs.n_params, loss=np.exp(y),
                          law_median=med, rel_residual=np.exp(y) / med - 1.0,
                          outlier_prob=prob)
        out.index = pd.Index(self.idata.constant_data.coords["run"].values, name="run")
        return out

    def loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run", seed: int = 0) -> np.ndarray:
        """Posterior draws of loss at ``targets`` (see :meth:`log_loss_draws`)."""
        # Student-t draws with nu ~ 1-2 (5-run fits) can exceed exp's range; a loss of e^700 and
        # e^750 are equally absurd, so clip rather than overflow to inf
        return np.exp(np.minimum(self.log_loss_draws(targets, kind=kind, seed=seed), 700.0))

    def predict(self, targets: pd.DataFrame, *, ci_prob: float = 0.9, kind: str = "new_run",
                seed: int = 0) -> pd.DataFrame:
        """Predictive summary of loss at ``targets``.

        Parameters
        ----------
        targets : DataFrame
            Columns ``n_params`` and ``n_tokens``, or ``compute_flops`` and
            ``tokens_per_param``.
        ci_prob : float
            Probability mass of the equal-tailed interval.
        kind : {"new_run", "law_mean"}
            ``"new_run"`` (default): the loss a new run at the target would measure (parameter
            uncertainty, run-to-run scatter, the target's measurement error where known and the
            extrapolation discrepancy). ``"law_mean"``: the band of the law's mean only.
        seed : int
            Seed of the noise draws for ``kind="new_run"``.

        Returns
        -------
        DataFrame
            ``targets`` with ``n_params``/``n_tokens`` filled in, plus ``median``, ``mean``,
            ``lower``, ``upper``; ``attrs`` holds ``ci_prob``, ``kind`` and ``target``.
        """
        t = resolve_targets(targets)
        warn_far_extrapolation(self.design_bounds, t)
        draws = self.loss_draws(targets, kind=kind, seed=seed)
        out = interval_frame(t, draws, ci_prob)
        out.attrs.update({"kind": kind, "target": "loss", "loss": self.loss})
        return out

    def prior_predictive(self, runs: pd.DataFrame, *, num_samples: int = 500,
                         seed: int = 0) -> np.ndarray:
        """Draws of loss at ``runs`` from the prior predictive: ``(num_samples, n_runs)``."""
        import jax.numpy as jnp
        from jax import random
        from numpyro.infer import Predictive

        enable_x64()
        kw, _ = self._prepare(runs)
        kw = {k: jnp.asarray(v) for k, v in kw.items() if k != "log_loss"}
        pred = Predictive(self._model(), num_samples=num_samples)(random.PRNGKey(seed), **kw)
        return np.exp(np.asarray(pred["log_loss"]))

    # ------------------------------------------------------------------ save / load
    @classmethod
    def load(cls, path, *, law: str | None = None) -> LossLaw:
        """Load a fit written by :meth:`save`.

        Raises
        ------
        bayes_scaling.estimators.io.FitFileError
            The file is not a LossLaw fit, was written by an incompatible file format, is
            corrupt, or holds a different law than ``law``.
        """
        dt = cls._load_tree(path, law)
        method = dt.attrs.get("discrepancy_method", "none")
        obj = cls(dt.attrs["law"], loss=dt.attrs["loss"], noise=dt.attrs["noise"],
                  discrepancy=None if method == "none" else method,
                  priors=priors_from_json(dt.attrs["priors"]),
                  sampler=json.loads(dt.attrs["sampler"]))
        obj.idata = dt
        return obj



