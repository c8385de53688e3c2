"""Simulation-based calibration (SBC) of the loss laws.

SBC (Talts et al. 2018; Modrák et al. 2023) checks the whole inference pipeline at once: draw
parameters from the prior, simulate a runs table from them, fit, and find the rank of each true
value among (thinned) posterior draws. If the sampler and the model's code are right, every rank is
uniform on ``{0, ..., L}``. A posterior that is too narrow piles ranks at both ends, one that is
too wide piles them in the middle, a biased one tilts them.

What is simulated
-----------------
A design (default: Gadre et al.'s small runs, 4 sizes x 8 token multipliers, see
:func:`~bayes_scaling.evaluate.simulate.gadre_design`) is fixed; the law's parameters (centred ``a``, ``b``
as the model samples them, at the design's own centre), ``sigma`` and ``nu`` are drawn from the
law's priors, and the log losses from the noise model (Student-t or normal around ``log mu``;
no measurement-error term). Besides the parameters, the true mean log loss at extrapolation
targets (default: 1.4B at M = 640 and 6.9B at M = 20, the paper's targets) is ranked: that is the
quantity the package exists to predict.

Rejected draws (and why that is still exact)
--------------------------------------------
The default prior on E is truncated at the smallest observed loss, a bound that depends on the
data. A draw is therefore rejected when ``E >= min(loss)``, and also when any simulated loss is
not finite or exceeds ``max_loss`` (default 20 nats: prior draws with huge amplitudes or tiny
``nu``, data no one would fit). Both rejections are events of the data (given the drawn
parameters, which is all the truncation refers to), so the accepted pairs are draws from
``p(theta) p(y | theta) 1[E < min y]`` restricted to plausible ``y``, whose posterior given ``y``
is exactly the one the model samples. Rejection counts are reported.

Examples
--------
>>> res = sbc("gadre", num_simulations=20, num_ranks=49, seed=0,
...           sampler=FAST_SAMPLER)                           # doctest: +SKIP
>>> sbc_uniformity(res, bins=5)[["quantity", "chi2_p", "ks_p"]]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.evaluate.simulate import gadre_design
from bayes_scaling.inference.config import SamplerConfig, check_seed
from bayes_scaling.laws.priors import MIN_OBSERVED_LOSS, Prior
from bayes_scaling.models.noise import NOISE_SITES, check_noise

__all__ = ["SBCResult", "sbc", "sbc_uniformity", "default_sbc_targets"]

_SIM_LOSS = "loss_sim"


def default_sbc_targets() -> pd.DataFrame:
    """The paper's extrapolation targets: 1.4B at M = 640 and 6.9B at M = 20.

    Examples
    --------
    >>> default_sbc_targets()["label"].tolist()
    ['log_mu[1.4B,M=640]', 'log_mu[6.9B,M=20]']
    """
    n = np.array([1439795200.0, 6889410560.0])
    m = np.array([640.0, 20.0])
    return pd.DataFrame({"label": ["log_mu[1.4B,M=640]", "log_mu[6.9B,M=20]"],
                         "n_params": n, "n_tokens": n * m})


@dataclass(frozen=True)
class SBCResult:
    """Ranks of true values among posterior draws, one row per accepted simulation.

    Attributes
    ----------
    ranks : DataFrame
        Columns ``simulation``, ``fit_seed``, one integer rank column per checked quantity (see
        :attr:`quantities`), the true values as ``true_<quantity>``, and the fit's
        ``divergences``, ``max_rhat``, ``min_ess`` and ``fit_ok``.
    quantities : tuple of str
        Checked quantities: the law's sampled parameters, ``sigma`` (``nu``) and the targets'
        mean log losses.
    num_ranks : int
        L: posterior draws each truth is ranked among (ranks lie in ``0..L``).
    n_attempts : int
        Prior draws made, accepted or not.
    n_rejected : dict
        Rejections by reason: ``"E >= min loss"``, ``"loss > max_loss or not finite"``.
    settings : dict
        law, noise, priors (JSON), sampler, seed, design size, max_loss.
    """

    ranks: pd.DataFrame
    quantities: tuple[str, ...]
    num_ranks: int
    n_attempts: int
    n_rejected: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def uniformity(self, bins: int = 10, *, only_ok: bool = False) -> pd.DataFrame:
        """Uniformity tests per quantity (see :func:`sbc_uniformity`)."""
        return sbc_uniformity(self, bins=bins, only_ok=only_ok)


def _generative_priors(priors: Mapping[str, Prior]) -> dict[str, Prior]:
    """Priors with the data-dependent bound removed: it is imposed by rejection instead."""
    out = {}
    for k, p in priors.items():
        if any(v == MIN_OBSERVED_LOSS for _, v in p.params):
            p = p.resolve({MIN_OBSERVED_LOSS: None})
        out[k] = p
    return out


def _draw_prior(priors: Mapping[str, Prior], names: tuple[str, ...], seed: int) -> dict:
    import jax

    keys = jax.random.split(jax.random.PRNGKey(seed), len(names))
    return {k: float(priors[k].to_numpyro().sample(key)) for k, key in zip(names, keys,
                                                                           strict=True)}


def sbc(
    law: str = "gadre",
    *,
    design: pd.DataFrame | None = None,
    priors: Mapping[str, Any] | None = None,
    noise: str = "mixture",
    sampler: SamplerConfig | Mapping[str, Any] | None = None,
    num_simulations: int = 100,
    num_ranks: int = 99,
    targets: pd.DataFrame | None = None,
    max_loss: float = 20.0,
    seed: int,
    progress: bool = False,
    backend: str = "auto",
    kernel: str = "auto",
    chees: Mapping[str, Any] | None = None,
) -> SBCResult:
    """Run simulation-based calibration of a loss law on a fixed design.

    Parameters
    ----------
    law : {"gadre", "chinchilla"}
    design : DataFrame, optional
        ``n_params`` and ``n_tokens`` of the simulated runs; default
        :func:`~bayes_scaling.evaluate.simulate.gadre_design` (32 runs).
    priors : mapping, optional
        Prior overrides, used both to simulate and to fit.
    noise : {"mixture", "student_t", "normal"}
        Noise model, used both to simulate and to fit (fits have no extrapolation discrepancy:
        SBC checks the posterior of the parameters, which the discrepancy does not change).
    sampler : SamplerConfig or dict, optional
        NUTS settings of every fit. Fits with the same design reuse one compiled sampler.
    num_simulations : int
        Accepted simulations to run.
    num_ranks : int
        L: posterior draws (evenly thinned over chains and draws, which also breaks the
        autocorrelation SBC assumes away) each truth is ranked among; needs
        ``num_ranks <= chains x draws``.
    targets : DataFrame, optional
        Extrapolation targets whose mean log loss is ranked too: columns ``label``,
        ``n_params``, ``n_tokens``; default :func:`default_sbc_targets`.
    max_loss : float
        Reject simulations with any loss above this (nats/token).
    seed : int
        Root seed of prior draws, noise and fits.
    progress : bool
        Print one line per 10 simulations (and a progress bar while batched fits sample).
    backend : {"auto", "batched", "sequential"}
        How the fits run (:func:`bayes_scaling.estimators.batch.fit_many`): all simulations in one compiled
        program (the default for more than one simulation), or one after another.
    kernel : {"auto", "chees", "nuts"}
        Sampler of the batched fits (see :func:`~bayes_scaling.fit_many`); with ``"chees"``
        ``sampler`` is not used and ``chees`` (a :class:`~bayes_scaling.inference.chees.ChEESConfig`
        or dict) sets the fits.
    chees : ChEESConfig or dict, optional
        ChEES settings when the batch runs ChEES-HMC.

    Returns
    -------
    SBCResult

    Examples
    --------
    >>> from bayes_scaling.testing import FAST_SAMPLER
    >>> res = sbc(num_simulations=10, num_ranks=49, sampler=FAST_SAMPLER,
    ...           seed=0)                                           # doctest: +SKIP
    >>> res.uniformity(bins=5)                                      # doctest: +SKIP
    """
    from bayes_scaling.laws.forms import get_law
    from bayes_scaling.laws.priors import default_priors, merge_priors, priors_to_json

    spec = get_law(law)
    design = gadre_design() if design is None else design
    targets = default_sbc_targets() if targets is None else targets
    fit_priors = merge_priors(default_priors(law), priors)
    gen = _generative_priors(fit_priors)
    names = tuple(spec.params) + NOISE_SITES[check_noise(noise)]
    n = design["n_params"].to_numpy(float)
    d = design["n_tokens"].to_numpy(float)
    # the centre LossLaw will use for these runs: the priors on a, b refer to it
    log_n0, log_d0 = float(np.mean(np.log(n))), float(np.mean(np.log(d)))
    x_n, x_d = np.log(n) - log_n0, np.log(d) - log_d0
    t_xn = np.log(targets["n_params"].to_numpy(float)) - log_n0
    t_xd = np.log(targets["n_tokens"].to_numpy(float)) - log_d0
    labels = [str(v) for v in targets["label"]]
    quantities = names + tuple(labels)
    base = pd.DataFrame({
        "run_id": [f"sim-{i}" for i in range(len(n))], "dataset": "sim",
        "n_params": design["n_params"].to_numpy(np.int64), "n_tokens": d,
        "tokens_per_param": d / n, "compute_flops": 6.0 * n * d,
    })
    rows: list[dict[str, Any]] = []
    sims: list[tuple[dict, dict, pd.DataFrame]] = []
    rejected = {"E >= min loss": 0, "loss > max_loss or not finite": 0}
    attempts = 0
    max_attempts = 20 * num_simulations + 100
    while len(sims) < num_simulations:
        if attempts >= max_attempts:
            raise RuntimeError(f"SBC: {attempts} prior draws gave only {len(sims)} acceptable "
                               f"simulations ({rejected}); the priors put little mass on "
                               "plausible data for this design")
        ss = np.random.SeedSequence([check_seed(seed), attempts])
        k_prior, k_noise = (int(v) for v in ss.generate_state(2))
        attempts += 1
        theta = _draw_prior(gen, names, k_prior)
        p = {k: np.asarray(v) for k, v in theta.items()}
        p["log_E"] = np.log(p["E"])
        log_mu = np.asarray(spec.log_mu(p, x_n, x_d))
        rng = np.random.default_rng(k_noise)
        eps = (rng.standard_t(theta["nu"], len(n)) if noise == "student_t"
               else rng.standard_normal(len(n)))
        scale = np.full(len(n), theta["sigma"])
        if noise == "mixture":  # each run an outlier with probability pi, broader by tau
            out = rng.random(len(n)) < theta["outlier_prob"]
            scale = np.sqrt(scale**2 + out * theta["outlier_scale"] ** 2)
        with np.errstate(over="ignore"):
            y = np.exp(log_mu + scale * eps)
        if not np.all(np.isfinite(y)) or y.max() > max_loss:
            rejected["loss > max_loss or not finite"] += 1
            continue
        if theta["E"] >= y.min():
            rejected["E >= min loss"] += 1
            continue
        sims.append((theta, p, base.assign(**{_SIM_LOSS: y})))
        if progress and len(sims) % 10 == 0:
            print(f"SBC {law}: {len(sims)}/{num_simulations} simulations, {attempts} draws",
                  flush=True)
    # all fits at once (one compiled program over every simulation's chains) or one by one
    from bayes_scaling.estimators.batch import fit_many

    template = LossLaw(law, loss=_SIM_LOSS, priors=priors, noise=noise, discrepancy=None,
                       sampler=sampler)
    fits = fit_many(template, [r for *_, r in sims], seed=int(seed), backend=backend,
                    kernel=kernel, chees=chees, progress=progress, warn=False)
    for (theta, p, _), fit in zip(sims, fits, strict=True):
        post = fit.idata.posterior
        n_total = post.sizes["chain"] * post.sizes["draw"]
        if num_ranks > n_total:
            raise ValueError(f"num_ranks={num_ranks} exceeds the {n_total} posterior draws; "
                             "lower it or draw more samples")
        idx = np.linspace(0, n_total - 1, num_ranks).round().astype(int)
        # fit_many's seed for this fit: the root seed (batched: lanes split from it) or seed + i
        row: dict[str, Any] = {"simulation": len(rows), "fit_seed": int(seed) + (
            len(rows) if fit.idata.attrs.get("seed") != int(seed) else 0)}
        for k in names:
            draws = post[k].values.reshape(-1)[idx]
            row[k] = int(np.sum(draws < theta[k]))
            row[f"true_{k}"] = theta[k]
        tgt = fit.log_loss_draws(targets[["n_params", "n_tokens"]], kind="law_mean")[idx]
        t_true = np.asarray(spec.log_mu(p, t_xn, t_xd))
        for j, lab in enumerate(labels):
            row[lab] = int(np.sum(tgt[:, j] < t_true[j]))
            row[f"true_{lab}"] = float(t_true[j])
        diag = fit.diagnostics(warn=False)
        row.update({"divergences": diag.divergences, "max_rhat": diag.max_rhat,
                    "min_ess": min(diag.min_ess_bulk, diag.min_ess_tail), "fit_ok": diag.ok})
        rows.append(row)
    cfg = SamplerConfig.coerce(sampler)
    settings = {"law": law, "noise": noise, "priors": priors_to_json(fit_priors),
                "sampler": cfg.to_dict(), "seed": int(seed), "n_runs": len(n),
                "max_loss": float(max_loss),
                "kernel": fits[0].idata.attrs.get("kernel", "nuts")}
    return SBCResult(ranks=pd.DataFrame(rows), quantities=quantities, num_ranks=num_ranks,
                     n_attempts=attempts, n_rejected=rejected, settings=settings)


def sbc_uniformity(result: SBCResult, *, bins: int = 10, only_ok: bool = False) -> pd.DataFrame:
    """Test the uniformity of SBC ranks, per quantity.

    Parameters
    ----------
    result : SBCResult
    bins : int
        Rank histogram bins for the chi-square test; must divide ``num_ranks + 1``. Keep
        ``num_simulations / bins >= 5`` for the chi-square approximation.
    only_ok : bool
        Use only simulations whose fit passed the sampler diagnostics.

    Returns
    -------
    DataFrame
        One row per quantity: ``n`` simulations, ``chi2`` and ``chi2_p`` (Pearson test of the
        rank histogram against equal counts, ``bins - 1`` degrees of freedom), ``ks`` and
        ``ks_p`` (Kolmogorov-Smirnov test of ``(rank + U) / (L + 1)``, jittered by a uniform U so
        that it is exactly uniform on (0, 1) under calibration), ``mean_u`` (0.5 if unbiased; above
        0.5: posteriors sit below the truth) and ``sd_u`` (0.289 if calibrated; smaller:
        posteriors too wide, larger: too narrow).

    Examples
    --------
    >>> ranks = pd.DataFrame({"E": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]})
    >>> res = SBCResult(ranks=ranks, quantities=("E",), num_ranks=9, n_attempts=10)
    >>> float(sbc_uniformity(res, bins=5)["chi2"].iloc[0])
    0.0
    """
    from scipy import stats

    L = result.num_ranks
    if bins < 2 or (L + 1) % bins:
        raise ValueError(f"bins={bins} must be >= 2 and divide num_ranks + 1 = {L + 1}")
    df = result.ranks
    if only_ok and "fit_ok" in df:
        df = df[df["fit_ok"].astype(bool)]
    rng = np.random.default_rng(int(result.settings.get("seed", 0)) + 1)
    rows = []
    for q in result.quantities:
        r = df[q].to_numpy(int)
        counts = np.bincount(r * bins // (L + 1), minlength=bins)
        chi2 = stats.chisquare(counts) if len(r) else None
        u = (r + rng.uniform(size=len(r))) / (L + 1)
        ks = stats.kstest(u, "uniform") if len(r) else None
        rows.append({
            "quantity": q,
            "n": len(r),
            "chi2": float(chi2.statistic) if chi2 is not None else np.nan,
            "chi2_p": float(chi2.pvalue) if chi2 is not None else np.nan,
            "ks": float(ks.statistic) if ks is not None else np.nan,
            "ks_p": float(ks.pvalue) if ks is not None else np.nan,
            "mean_u": float(u.mean()) if len(r) else np.nan,
            "sd_u": float(u.std(ddof=1)) if len(r) > 1 else np.nan,
        })
    return pd.DataFrame(rows)
