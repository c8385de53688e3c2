"""Posterior (and prior) densities of a fit's parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.plots._common import _PARAM_LABELS, _new_ax
from bayes_scaling.predict.queries import Model, _loss_law

if TYPE_CHECKING:  # matplotlib is imported lazily: importing the package stays cheap
    from matplotlib.axes import Axes


def _prior_density(law: LossLaw, name: str, x: np.ndarray) -> np.ndarray | None:
    """Density of a sampled parameter's prior at ``x`` (``None`` when the parameter is derived,
    e.g. A and B are functions of the sampled centred amplitude and the exponent)."""
    prior = law.priors.get(name)
    if prior is None or name in ("a", "b") or name not in law.idata.posterior:
        return None
    if prior.dist == "delta":
        return None
    import jax.numpy as jnp

    from bayes_scaling.laws.priors import MIN_OBSERVED_LOSS

    resolved = prior.resolve({MIN_OBSERVED_LOSS: float(law.idata.attrs["e_upper"])})
    d = resolved.to_numpyro()
    lp = np.asarray(d.log_prob(jnp.asarray(x)))
    inside = np.asarray(d.support(jnp.asarray(x)))
    return np.where(inside, np.exp(lp), 0.0)


def plot_posterior(model: Model, param: str, *, ci_prob: float = 0.9, prior: bool = True,
                   ax: Axes | None = None) -> Axes:
    """Histogram of one parameter's posterior with its median, interval and (where the
    parameter is sampled directly) its prior density.

    Parameters
    ----------
    model : LossLaw or ScalingPredictor
    param : str
        A natural-unit parameter: ``E``, ``A``, ``B``, the exponents, ``sigma``.
    ci_prob : float
    prior : bool
        Overlay the prior density.
    ax : Axes, optional

    Returns
    -------
    Axes

    Examples
    --------
    >>> ax = plot_posterior(law, "eta")  # doctest: +SKIP
    """
    ax = _new_ax(ax, (4.0, 3.0))
    law = _loss_law(model)
    if param not in law.idata.posterior:
        raise ValueError(f"no parameter {param!r}; this fit has "
                         f"{sorted(law.idata.posterior.data_vars)}")
    v = law.idata.posterior[param].values.reshape(-1)
    label, log = _PARAM_LABELS.get(param, (param, False))
    lo, hi = np.quantile(v, [(1 - ci_prob) / 2, (1 + ci_prob) / 2])
    med = float(np.median(v))
    if np.ptp(v) <= 1e-12 * max(abs(med), 1e-300):  # fixed (delta prior) or degenerate draws
        ax.axvline(med, color="tab:blue", lw=1.5, label=f"fixed at {med:.4g}")
        ax.set_xlabel(label)
        ax.set_ylabel("Posterior density (1/unit)")
        ax.legend(fontsize=7, frameon=False)
        return ax
    # a log axis only where the draws span more than a decade (else its ticks crowd)
    log = log and v.min() > 0 and v.max() / v.min() > 10
    bins = np.geomspace(v.min(), v.max(), 50) if log else 50
    ax.hist(v, bins=bins, density=True, color="tab:blue", alpha=0.55, label="posterior")
    ax.axvspan(lo, hi, color="tab:blue", alpha=0.12, label=f"{ci_prob:.0%} interval")
    ax.axvline(med, color="tab:blue", lw=1.5, label=f"median {med:.4g}")
    if prior:
        x = np.geomspace(v.min(), v.max(), 200) if log else np.linspace(v.min(), v.max(), 200)
        dens = _prior_density(law, param, x)
        if dens is not None:
            ax.plot(x, dens, color="0.4", ls="--", lw=1, label="prior")
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("Posterior density (1/unit)")
    ax.legend(fontsize=7, frameon=False)
    return ax


def posterior_params(model: Model) -> list[str]:
    """The natural-unit parameters worth plotting: the law's and the noise model's (``sigma``,
    then ``nu`` or the outlier share and scale)."""
    from bayes_scaling.models.noise import NOISE_SITES

    law = _loss_law(model)
    return [*law.spec.natural_params, *NOISE_SITES[law.noise]]


def plot_posteriors(model: Model, params: Sequence[str] | None = None, *, ci_prob: float = 0.9,
                    axes: Sequence[Axes] | None = None) -> np.ndarray:
    """:func:`plot_posterior` for several parameters side by side.

    Returns
    -------
    ndarray of Axes
        One per parameter; default parameters are :func:`posterior_params` (a grid of up to
        three columns when ``axes`` is not given).

    Examples
    --------
    >>> axes = plot_posteriors(law)  # doctest: +SKIP
    """
    law = _loss_law(model)
    if params is None:
        params = posterior_params(law)
    if axes is None:
        import matplotlib.pyplot as plt

        ncol = min(len(params), 3)
        nrow = -(-len(params) // ncol)
        _, grid = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.0 * nrow),
                               layout="constrained", squeeze=False)
        axes = grid.ravel()[: len(params)]
        for extra in grid.ravel()[len(params):]:
            extra.set_visible(False)
    if len(axes) != len(params):
        raise ValueError(f"{len(axes)} axes for {len(params)} parameters")
    for ax, p in zip(axes, params, strict=True):
        plot_posterior(law, p, ci_prob=ci_prob, ax=ax)
    return np.asarray(axes, dtype=object)


