"""Partial pooling: one loss law per group (dataset or eval set), tied by population priors.

Why pool
--------
Scaling-law studies often train the same grid of small models on several corpora, or score one
grid on several eval sets. Fitted separately, each group's exponent and irreducible loss are
learned from its own ~30 runs; the exponents of Gadre et al.'s three corpora come out within
~0.02 of each other, which suggests they share most of their information. A hierarchical model
learns how alike the groups are (the population scale ``tau``) and shrinks each group toward the
others only as far as the data allow; a group with few runs borrows strength from the rest.

Model (:func:`bayes_scaling.models.core.make_pooled_loss_model`)
-----------------------------------------------------------
For groups ``g = 1..G`` with a *shared* design centre ``(N0, D0)`` (so the log amplitudes ``a_g``,
``b_g`` are the size and data terms at the same model size and token count in every group, and
are comparable), each parameter is drawn non-centred on an unbounded scale, ``z_g ~ N(0, 1)``:

.. math::

    \\eta_g &= \\sigma(\\mu_\\eta + \\tau_\\eta z_{\\eta,g})
        \\quad\\text{(each exponent; logit-normal)}\\\\
    E_g &= \\min_{i \\in g} L_i \\; \\sigma(\\mu_E + \\tau_E z_{E,g})
        \\quad\\text{(fraction of the group's smallest observed loss)}\\\\
    a_g &= \\mu_a + \\tau_a z_{a,g}, \\qquad b_g = \\mu_b + \\tau_b z_{b,g}

with the likelihood of :class:`~bayes_scaling.LossLaw` (Student-t or normal on log loss, scale
``sqrt(meas_sd^2 + sigma^2)``), one ``nu`` shared by all groups and one ``sigma`` shared too, or
one per group with ``group_noise=True`` (use it for eval sets: measured run-to-run scatter of the
gadre law on RedPajama runs ranges from 0.8% on C4 to 2.5% on PTB).

Why non-centred, and why log-normal scale priors (measured)
-----------------------------------------------------------
Every group here has ~30 runs, so its parameters are well identified, while the population scale
of three groups is not. The centred form (``u_g ~ N(mu, tau)``) then has a funnel at small
``tau``: 136-219 divergences per fit on the three corpora (half-normal scale priors). The
non-centred form has none, but how it mixes depends on the tails of the scale priors in
``log tau`` (what NUTS samples). With
half-normal priors ``tau`` reached down to 0.003, where ``z_g = (u_g - mu) / tau`` bends sharply:
220-500 leapfrog steps per draw and, on the compute-cutoff subset of the backtest, R-hat 1.11
(one chain stuck) in one seed of three. Gamma(2, rate) priors (zero at ``tau = 0``) helped on
that seed but another seed then reached R-hat 1.04, tail ESS 20, through the long upper tail
of ``eta_scale``. Log-normal priors (Gaussian tails in ``log tau`` on both sides): 127-170 steps
per draw, R-hat <= 1.0044 and bulk ESS >= 1000 in 6 of 6 fits (two subsets x three seeds), and
the group parameters did not move (eta medians within 0.001 of the half-normal fit).

Default priors (:func:`default_pooled_priors`)
----------------------------------------------
``<exponent>_loc ~ Normal(-0.8, 1.0)``
    Logit of the population exponent. Matches the mean (-0.83) and sd (0.96) of the logit of the
    single-law prior Beta(2, 4), so a single group gets about the single-law prior.
``<exponent>_scale ~ LogNormal(log 0.1, 0.75)``
    Between-group sd of the exponents on the logit scale: median 0.1, 95% in [0.023, 0.43].
    Near eta = 0.25 one logit unit is ~0.19 in eta, so the median is a spread of ~0.02 in eta
    (the three Gadre et al. corpora fitted separately: 0.239-0.259) and the upper end allows the
    spread of eval sets as different as code and prose (separate fits of the 8 eval sets on
    RedPajama runs: eta 0.26-0.50, sd 0.33 on the logit scale). The lower end says groups are
    never *exactly* alike, which three groups cannot tell apart from "nearly alike" anyway.
``E_loc ~ Normal(0.5, 1.0)``
    Logit of E as a fraction of the group's smallest observed loss: median 0.62, 95% in
    [0.18, 0.92]. Separate fits of the three Gadre et al. corpora (N < 1e9) put E at 54-64% of
    the lowest observed loss.
``E_scale ~ LogNormal(log 0.1, 0.75)``
    Between-group sd of that logit (median 0.1: fractions 0.62 +- 0.02).
``a_loc, b_loc ~ Normal(-0.5, 1.5)``
    As the single-law ``a``, ``b`` (log nats at the design centre).
``a_scale, b_scale ~ LogNormal(log 0.2, 0.75)``
    Weaker pooling of the amplitudes: median 0.2, 95% in [0.046, 0.87], i.e. terms at the
    design centre typically within ~20% across groups, up to a factor 2.4 (separate fits per
    eval set on RedPajama: ``a`` from -0.62 to 0.51).
``sigma ~ HalfNormal(0.05)``, ``nu ~ Gamma(2, 0.1)``
    As the single law (``sigma`` per group with ``group_noise=True``).

Examples
--------
>>> import bayes_scaling as bs                                               # doctest: +SKIP
>>> runs = bs.load_dataset("gadre2024").query("n_params < 1e9")              # doctest: +SKIP
>>> pooled = PooledLossLaw("gadre", loss="loss_c4_val", group="dataset").fit(runs, seed=0)  # doctest: +SKIP
>>> pooled.predict(pd.DataFrame({"dataset": ["rpj"], "n_params": [6.9e9],
...                              "n_tokens": [1.38e11]}), ci_prob=0.9)        # doctest: +SKIP
>>> long = long_format(runs[runs.dataset == "rpj"])                           # doctest: +SKIP
>>> PooledLossLaw("gadre", loss="loss_eval", group="eval_set").fit(long, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.design import DesignBounds
from bayes_scaling.data.targets import (
    check_kind,
    interval_frame,
    measurement_sd,
    resolve_targets,
)
from bayes_scaling.estimators.base import FittedModel
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.estimators.pooled_data import (
    long_format,
    pooled_loss_data_hash,
    pooled_loss_datatree,
    prepare_pooled_loss,
)
from bayes_scaling.inference.config import SamplerConfig, check_seed, enable_x64
from bayes_scaling.inference.diagnostics import Diagnostics
from bayes_scaling.laws.forms import LawSpec, get_law
from bayes_scaling.laws.priors import Prior, merge_priors, priors_from_json, priors_to_json
from bayes_scaling.models.core import make_pooled_loss_model, pooled_site_names
from bayes_scaling.models.noise import NOISE_SITES, check_noise, regular_noise_draws

__all__ = ["PooledLossLaw", "default_pooled_priors", "long_format", "POPULATION",
           "POOLED_SAMPLER"]

#: Label of the population-level (and shared-noise) rows of :meth:`PooledLossLaw.summary`.
POPULATION = "(population)"

#: Default NUTS settings of pooled fits: 4 chains x (1000 warm-up + 2000 draws). The population
#: parameters of a few groups mix slower than a single law's (measured on the three Gadre
#: corpora: smallest tail ESS 444-2600 per 8000 draws over six fits, against >= 1293 per 4000
#: for a single law), so 1000 draws per chain would sit near the ESS check's 400.
POOLED_SAMPLER = SamplerConfig(num_samples=2000)

_LOG_01, _LOG_02 = float(np.log(0.1)), float(np.log(0.2))  # medians of the scale priors

def default_pooled_priors(law: str) -> dict[str, Prior]:
    """Default hyperpriors of the pooled model of ``law`` (see the module docstring).

    Examples
    --------
    >>> sorted(default_pooled_priors("gadre"))  # doctest: +NORMALIZE_WHITESPACE
    ['E_loc', 'E_scale', 'a_loc', 'a_scale', 'b_loc', 'b_scale', 'eta_loc', 'eta_scale', 'nu',
     'outlier_prob', 'outlier_scale', 'sigma']
    """
    spec = get_law(law)
    out: dict[str, Prior] = {
        "E_loc": Prior("normal", loc=0.5, scale=1.0),
        "E_scale": Prior("lognormal", loc=_LOG_01, scale=0.75),
        "a_loc": Prior("normal", loc=-0.5, scale=1.5),
        "a_scale": Prior("lognormal", loc=_LOG_02, scale=0.75),
        "b_loc": Prior("normal", loc=-0.5, scale=1.5),
        "b_scale": Prior("lognormal", loc=_LOG_02, scale=0.75),
        "sigma": Prior("halfnormal", scale=0.05),
        "nu": Prior("gamma", concentration=2.0, rate=0.1),
        "outlier_prob": Prior("beta", a=1.0, b=9.0),
        "outlier_scale": Prior("lognormal", loc=math.log(0.05), scale=1.0),
    }
    for k in spec.exponents:
        out[f"{k}_loc"] = Prior("normal", loc=-0.8, scale=1.0)
        out[f"{k}_scale"] = Prior("lognormal", loc=_LOG_01, scale=0.75)
    return out


class PooledLossLaw(FittedModel):
    """A loss law per group with partial pooling of its parameters (NUTS posterior).

    Parameters
    ----------
    law : {"gadre", "chinchilla"}
        The law's form, shared by every group.
    loss : str
        Loss column (``<loss>_ci`` is the measurement error when present).
    group : str
        Column naming each run's group, e.g. ``"dataset"``, or ``"eval_set"`` for a table from
        :func:`long_format`.
    priors : mapping, optional
        Overrides merged over :func:`default_pooled_priors`.
    noise : {"mixture", "student_t", "normal"}
        Likelihood on log loss, as :class:`~bayes_scaling.LossLaw`.
    sampler : SamplerConfig or dict, optional
        NUTS settings; a dict is merged over :data:`POOLED_SAMPLER` (4 chains x (1000 warm-up
        + 2000 draws), dense mass, target acceptance 0.95).
    group_noise : bool
        One run-to-run scatter ``sigma`` per group instead of one shared (``nu`` stays shared).
        Use it when groups are eval sets.
    discrepancy : {"lfo", None}
        ``"lfo"`` (default): after the fit, learn each group's extrapolation discrepancy by
        leave-future-out, as :class:`~bayes_scaling.LossLaw` does: the pooled model refitted
        on the runs at or below the 50%, 65% and 80% compute quantiles (the later runs masked
        out, one compiled sampler for the three), each group scoring its own held-out runs,
        under the population prior of
        :func:`~bayes_scaling.laws.discrepancy_prior.population_prior`
        (:func:`~bayes_scaling.estimators.extrapolation.calibrate_pooled_loss_discrepancy`).
        The new-run predictive then adds it at each target's distance from its group's fitted
        runs. ``None``: no discrepancy term.

    Attributes
    ----------
    idata : xarray.DataTree
        ``posterior`` (hyperparameters ``<p>_loc``/``<p>_scale``, standardised ``<p>_z`` and the
        per-group ``E, a, b, A, B`` and exponents on a ``group`` dimension; ``sigma``, ``nu``),
        ``sample_stats``, ``log_likelihood`` (``log_loss`` per run), ``observed_data``,
        ``constant_data`` (sizes, measurement sd, each run's group, each group's ``e_upper``).

    Examples
    --------
    >>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
    >>> runs = pd.concat([simulate_runs("gadre", {"E": 1.7, "A": 100.0, "B": 200.0, "eta": e},
    ...                                 gadre_design(), sigma=0.01, seed=i, dataset=f"d{i}")
    ...                   for i, e in enumerate([0.24, 0.26])], ignore_index=True)
    >>> pooled = PooledLossLaw("gadre", loss="loss_sim", group="dataset",
    ...                        sampler=dict(num_warmup=300, num_samples=300, num_chains=2))
    >>> pooled.fit(runs, seed=0).predict(
    ...     pd.DataFrame({"dataset": ["d1"], "n_params": [1e9], "n_tokens": [2e10]}))  # doctest: +SKIP
    """

    kind = "PooledLossLaw"

    def __init__(
        self,
        law: str = "gadre",
        *,
        loss: str = "loss_c4_val",
        group: str = "dataset",
        priors: Mapping[str, Any] | None = None,
        noise: str = "mixture",
        sampler: SamplerConfig | Mapping[str, Any] | None = None,
        group_noise: bool = False,
        discrepancy: str | None = "lfo",
    ):
        self.spec: LawSpec = get_law(law)
        check_noise(noise)
        if discrepancy not in ("lfo", None):
            raise ValueError(f"discrepancy must be 'lfo' or None, got {discrepancy!r}")
        self.discrepancy = discrepancy
        self.loss = loss
        self.group = group
        self.group_noise = bool(group_noise)
        self.noise = noise
        self.priors: dict[str, Prior] = merge_priors(default_pooled_priors(law), priors)
        self.sampler = SamplerConfig.coerce(sampler, POOLED_SAMPLER.to_dict())
        self.idata = None
        self._diagnostics: Diagnostics | None = None

    # ------------------------------------------------------------------ basics
    @property
    def law(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        state = f"fitted on {len(self.groups)} groups" if self.idata is not None else "not fitted"
        return (f"PooledLossLaw({self.law!r}, loss={self.loss!r}, group={self.group!r}, "
                f"noise={self.noise!r}, group_noise={self.group_noise}, "
                f"discrepancy={self.discrepancy!r}; {state})")

    def _model_key(self) -> tuple:
        return ("pooled_loss", self.law, priors_to_json(self.priors), self.noise,
                self.group_noise)

    def _model(self):
        return make_pooled_loss_model(self.spec, self.priors, self.noise, self.group_noise)

    @property
    def groups(self) -> tuple[str, ...]:
        """Group names, in the order of the posterior's ``group`` dimension."""
        self._require_fit()
        return tuple(str(g) for g in self.idata.posterior["group"].values)

    @property
    def centring(self) -> tuple[float, float]:
        """``(log N0, log D0)``: the design centre shared by all groups."""
        self._require_fit()
        return float(self.idata.attrs["log_n0"]), float(self.idata.attrs["log_d0"])

    # ------------------------------------------------------------------ data -> model arrays
    def _prepare(self, runs: pd.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return prepare_pooled_loss(self, runs)

    @staticmethod
    def _data_hash(meta: Mapping[str, Any]) -> str:
        return pooled_loss_data_hash(meta)

    # ------------------------------------------------------------------ fitting
    def fit(self, runs: pd.DataFrame, *, seed: int, progress: bool = False,
            warn: bool = True) -> PooledLossLaw:
        """Sample the joint posterior, then learn each group's extrapolation discrepancy.

        Parameters are those of :meth:`FittedModel.fit`; ``idata.attrs["discrepancy"]`` holds
        ``{group: Discrepancy}`` as JSON (:attr:`discrepancy_`).
        """
        from bayes_scaling.estimators.discrepancy import Discrepancy
        from bayes_scaling.estimators.extrapolation import calibrate_pooled_loss_discrepancy

        seed = check_seed(seed)
        kw, meta = self._prepare(runs)
        self._fit_prepared(kw, meta, seed=seed, progress=progress, warn=warn)
        disc = (calibrate_pooled_loss_discrepancy(self, kw, meta, seed=seed)
                if self.discrepancy == "lfo" else
                {g: Discrepancy.none() for g in meta["groups"]})
        self.idata.attrs["discrepancy"] = json.dumps({g: d.to_json() for g, d in disc.items()})
        self._warn_refits(warn)
        return self

    @property
    def discrepancy_(self):
        """Each group's learned extrapolation discrepancy: ``{group: Discrepancy}`` (method
        ``"none"`` without one)."""
        return self._discrepancy_map(self.groups)

    def design_bounds(self, group: str) -> DesignBounds:
        """The fitted design of one group (its runs' sizes and tokens per parameter)."""
        self._require_fit()
        c = self.idata.constant_data
        rows = c["run_group"].values.astype(str) == group
        return DesignBounds.from_sizes(c["n_params"].values[rows], c["n_tokens"].values[rows])

    def discrepancy_sd(self, targets: pd.DataFrame, *, seed: int = 0) -> np.ndarray:
        """Draws of the extrapolation discrepancy's sd on the log scale, ``(S, T)``: the target
        group's ``kappa_s`` times the target's distance outside that group's fitted design."""
        gidx = self._group_index(targets)
        t = resolve_targets(targets)
        n = self.idata.posterior.sizes["chain"] * self.idata.posterior.sizes["draw"]
        disc = self.discrepancy_
        out = np.zeros((n, len(t)))
        for j, g in enumerate(self.groups):
            cols = np.flatnonzero(gidx == j)
            if cols.size:
                d = self.design_bounds(g).distance(t["n_params"].iloc[cols],
                                                   t["n_tokens"].iloc[cols])
                out[:, cols] = disc[g].kappa_draws(n, seed)[:, None] * d[None, :]
        return out

    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):
        return pooled_loss_datatree(self, posterior, stats, kw, meta, seed=seed, facts=facts)

    def _diagnostic_names(self) -> list[str]:
        # hyperparameters, standardised group effects, per-group law parameters and the noise
        return [*pooled_site_names(self.spec, self.noise),
                *(f"{p}_z" for p in self.spec.params), *self.spec.params]

    def summary(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """Per-group natural parameters and the population hyperparameters.

        Returns
        -------
        DataFrame
            Index ``(group, parameter)``: every group's ``E, A, B`` and exponents, then
            :data:`POPULATION` rows for the hyperparameters (``<p>_loc``: location on the
            logit scale for exponents and E's fraction, in log nats for ``a``/``b``;
            ``<p>_scale``: between-group sd on that scale) and the shared ``sigma``, ``nu``
            (with ``group_noise``, ``sigma`` is a per-group row).
            Columns ``median, mean, sd, lower, upper, rhat, ess_bulk``.
        """
        from arviz_stats.base import array_stats

        self._require_fit()
        diag = self.diagnostics(warn=False).per_parameter
        post = self.idata.posterior
        rows = []

        def row(group: str, name: str, flat: np.ndarray, src: str) -> dict:
            lo, hi = array_stats.eti(flat, ci_prob)
            return {"group": group, "parameter": name, "median": float(np.median(flat)),
                    "mean": float(flat.mean()), "sd": float(flat.std(ddof=1)),
                    "lower": float(lo), "upper": float(hi),
                    "rhat": diag.get(src, {}).get("rhat", np.nan),
                    "ess_bulk": diag.get(src, {}).get("ess_bulk", np.nan)}

        for j, g in enumerate(self.groups):
            for k in self.spec.natural_params:
                src = {"A": "a", "B": "b"}.get(k, k)
                rows.append(row(g, k, post[k].values[..., j].reshape(-1), f"{src}[{j}]"))
            if self.group_noise:
                rows.append(row(g, "sigma", post["sigma"].values[..., j].reshape(-1),
                                f"sigma[{j}]"))
        for k in pooled_site_names(self.spec, self.noise):
            if k == "sigma" and self.group_noise:
                continue
            rows.append(row(POPULATION, k, post[k].values.reshape(-1), k))
        df = pd.DataFrame(rows).set_index(["group", "parameter"])
        df.attrs["ci_prob"] = ci_prob
        return df

    def _group_index(self, targets: pd.DataFrame) -> np.ndarray:
        if self.group not in targets.columns:
            raise ValueError(f"targets need a {self.group!r} column naming each target's group "
                             f"(one of {list(self.groups)})")
        labels = targets[self.group].astype(str).to_numpy()
        known = np.asarray(self.groups)
        unknown = sorted(set(labels) - set(known))
        if unknown:
            raise ValueError(f"targets name groups {unknown} that the fit has not seen; known "
                             f"groups: {list(known)}")
        return np.searchsorted(known, labels)

    def _regular_predictive(self, flat: Mapping[str, np.ndarray], gidx: np.ndarray,
                            targets: pd.DataFrame, centring: tuple[float, float]):
        """Per flat posterior draw (``flat``: ``(S, ...)`` arrays of this fit or of a refit),
        at ``targets`` of groups ``gidx``: the law's log mean ``(S, T)``, the regular new-run
        scale ``(S, T)`` (the group's or the shared run-to-run scatter, plus the target's
        measurement error where ``targets`` has ``<loss>`` and ``<loss>_ci``) and the other
        noise parameters ``(S, 1)``; ``centring``: the ``(log N0, log D0)`` of the draws."""
        import jax.numpy as jnp

        enable_x64()
        t = resolve_targets(targets)
        log_n0, log_d0 = centring
        p = {k: jnp.asarray(flat[k][:, gidx]) for k in self.spec.params}
        p["log_E"] = jnp.log(p["E"])
        x_n = jnp.log(jnp.asarray(t["n_params"].to_numpy(float)))[None, :] - log_n0
        x_d = jnp.log(jnp.asarray(t["n_tokens"].to_numpy(float)))[None, :] - log_d0
        log_mu = np.asarray(self.spec.log_mu(p, x_n, x_d))
        sigma = (flat["sigma"][:, gidx] if self.group_noise
                 else np.asarray(flat["sigma"]).reshape(-1)[:, None])
        meas = measurement_sd(targets, self.loss)
        scale = np.sqrt(sigma**2 + meas[None, :] ** 2) * np.ones_like(log_mu)
        noise_post = {k: np.asarray(flat[k]).reshape(-1)[:, None]
                      for k in NOISE_SITES[self.noise] if k != "sigma"}
        return log_mu, scale, noise_post

    def log_loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run",
                       seed: int = 0) -> np.ndarray:
        """Posterior draws of log loss at ``targets`` (with a group column):
        ``(n_draws, n_targets)``.

        ``kind="law_mean"``: the group's law mean; ``"new_run"`` adds the shared run-to-run noise
        (the target group's with ``group_noise``), the target's measurement error where
        ``targets`` has ``<loss>_ci`` and the group's extrapolation discrepancy, as
        :meth:`bayes_scaling.LossLaw.log_loss_draws`.
        """
        self._require_fit()
        check_kind(kind)
        gidx = self._group_index(targets)
        flat = {k: v.values.reshape(-1, *v.shape[2:]) for k, v in self.idata.posterior.items()}
        log_mu, scale, noise_post = self._regular_predictive(flat, gidx, targets,
                                                             self.centring)
        if kind == "law_mean":
            return log_mu
        rng = np.random.default_rng(check_seed(seed))
        eps = regular_noise_draws(self.noise, noise_post, log_mu.shape, rng)
        disc = self.discrepancy_sd(targets, seed=seed)
        return log_mu + scale * eps + disc * rng.standard_normal(log_mu.shape)

    def loss_draws(self, targets: pd.DataFrame, *, kind: str = "new_run",
                   seed: int = 0) -> np.ndarray:
        """Posterior draws of loss at ``targets`` (see :meth:`log_loss_draws`)."""
        return np.exp(self.log_loss_draws(targets, kind=kind, seed=seed))

    def predict(self, targets: pd.DataFrame, *, ci_prob: float = 0.9, kind: str = "new_run",
                seed: int = 0) -> pd.DataFrame:
        """Predictive summary of loss at ``targets``.

        Parameters
        ----------
        targets : DataFrame
            The group column plus ``n_params`` and ``n_tokens`` (or ``compute_flops`` and
            ``tokens_per_param``).
        ci_prob : float
            Probability mass of the equal-tailed interval.
        kind : {"new_run", "law_mean"}
            Law mean, or the loss a new run would show.
        seed : int
            Seed of the noise draws (``kind="new_run"``).

        Returns
        -------
        DataFrame
            ``targets`` plus ``median, mean, lower, upper``; ``attrs``: ``ci_prob``, ``kind``,
            ``target``, ``loss``.
        """
        draws = self.loss_draws(targets, kind=kind, seed=seed)
        out = interval_frame(resolve_targets(targets), draws, ci_prob)
        out.attrs.update({"kind": kind, "target": "loss", "loss": self.loss})
        return out

    def for_group(self, group: str) -> LossLaw:
        """One group's posterior as a fitted-looking :class:`~bayes_scaling.LossLaw`.

        The view shares the pooled draws (its ``E, a, b``, exponents, ``sigma``, ``nu``), the
        design centre and the group's runs and log likelihood, so everything that takes a
        LossLaw (``predict``, :func:`bayes_scaling.evaluate.scoring.score_loss`, :mod:`.compare` on that
        group's runs) works on it. ``idata.attrs["pooled_from"]`` records the pooled fit; its
        ``priors`` attribute holds the pooled hyperpriors.
        """
        import arviz_base as ab

        self._require_fit()
        if group not in self.groups:
            raise ValueError(f"unknown group {group!r}; known groups: {list(self.groups)}")
        j = self.groups.index(group)
        post = self.idata.posterior
        names = [*self.spec.params, "A", "B", *NOISE_SITES[self.noise]]
        p = {k: (post[k].values[..., j] if "group" in post[k].dims else post[k].values)
             for k in names}
        rows = self.idata.constant_data["run_group"].values.astype(str) == group
        ll = self.idata.log_likelihood["log_loss"].values[..., rows]
        obs, const = self.idata.observed_data, self.idata.constant_data
        run_dims = {k: ["run"] for k in ("log_loss", "loss", "n_params", "n_tokens", "meas_sd")}
        dt = ab.from_dict(
            {
                "posterior": p,
                "sample_stats": {k: self.idata.sample_stats[k].values
                                 for k in self.idata.sample_stats.data_vars},
                "log_likelihood": {"log_loss": ll},
                "observed_data": {"log_loss": obs["log_loss"].values[rows],
                                  "loss": obs["loss"].values[rows]},
                "constant_data": {k: const[k].values[rows]
                                  for k in ("n_params", "n_tokens", "meas_sd")},
            },
            dims=run_dims,
            coords={"run": list(obs["run"].values[rows])},
        )
        attrs = dict(self.idata.attrs)
        disc = self.discrepancy_[group]
        attrs.update({"bayes_scaling_kind": LossLaw.kind, "e_upper": float(
            const["e_upper"].values[j]), "pooled_from": json.dumps(
                {"kind": self.kind, "group": group, "data_hash": attrs["data_hash"]}),
            "discrepancy": disc.to_json(),
            "discrepancy_method": "none" if disc.method == "none" else "lfo"})
        dt.attrs.update(attrs)
        view = LossLaw(self.law, loss=self.loss, noise=self.noise,
                       discrepancy=None if disc.method == "none" else "lfo",
                       sampler=self.sampler)
        view.idata = dt
        return view

    # ------------------------------------------------------------------ save / load
    @classmethod
    def load(cls, path, *, law: str | None = None) -> PooledLossLaw:
        """Load a fit written by :meth:`save` (refuses other kinds, formats or laws).

        Raises
        ------
        bayes_scaling.estimators.io.FitFileError
        """
        dt = cls._load_tree(path, law)
        obj = cls(dt.attrs["law"], loss=dt.attrs["loss"], group=dt.attrs["group_column"],
                  noise=dt.attrs["noise"], priors=priors_from_json(dt.attrs["priors"]),
                  sampler=json.loads(dt.attrs["sampler"]),
                  group_noise=bool(int(dt.attrs.get("group_noise", 0))))
        obj.idata = dt
        if all(d.method == "none" for d in obj.discrepancy_.values()):
            obj.discrepancy = None
        return obj
