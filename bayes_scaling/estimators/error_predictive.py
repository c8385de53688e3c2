"""The error law's posterior predictive: law mean, regular noise and extrapolation discrepancy.

:class:`ErrorPredictiveMixin` holds the draws and interval methods of
:class:`~bayes_scaling.ErrorLaw` (``error_draws``, ``predict``); the sampling-error helpers are
shared with the model's data preparation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bayes_scaling.data.targets import check_kind, interval_frame
from bayes_scaling.inference.config import check_seed, enable_x64

__all__ = ["ErrorPredictiveMixin"]


class ErrorPredictiveMixin:
    """Posterior-predictive methods of a fitted error law (needs ``spec``, ``idata``, ``noise``,
    ``chance_error``, ``n_draws``, ``discrepancy_`` and ``_require_fit`` from its class)."""

    def _mean_and_scale(self, post: Mapping[str, np.ndarray], loss: np.ndarray, loss_ref,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Law mean, regular noise scale (scatter and sampling error) and ``nu`` (Student-t;
        else None) of flat posterior draws ``post`` (sampled parameters) at losses ``loss``:
        ``(S, n)``, ``(S, n)``, ``(S, 1)``."""
        import jax.numpy as jnp

        enable_x64()
        self._require_fit()
        sampled = {k: jnp.asarray(post[k])[:, None] for k in self.spec.sampled}
        chance = jnp.asarray(self.chance_error)
        natural = self.spec.from_sampled(sampled, chance, jnp.asarray(loss_ref))
        mu = np.asarray(self.spec.error(natural, jnp.asarray(loss)[None, :], chance))
        scale = self._noise_scale(post, mu, slice(None))
        nu = np.asarray(post["nu"])[:, None] if self.noise == "student_t" else None
        return mu, scale, nu

    def _noise_scale(self, post, mu: np.ndarray, idx) -> np.ndarray:
        """Regular noise scale ``sqrt(sigma^2 + sampling sd^2)`` of draws ``idx`` at means ``mu``."""
        sigma = np.asarray(post["sigma"]).reshape(-1)[idx][:, None]
        if "inv_sqrt_items" in post:  # item count unknown: the learned sampling-error scale
            t = np.asarray(post["inv_sqrt_items"]).reshape(-1)[idx][:, None]
            samp = np.sqrt(_unit_var(mu)) * t
        else:
            samp = _sampling_sd(mu, float(self.idata.attrs["n_items"]))
        return np.sqrt(sigma**2 + samp**2)

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
        rng = np.random.default_rng(check_seed(seed))
        scale = self._noise_scale({k: post[k].values for k in ("sigma", "inv_sqrt_items")
                                   if k in post}, mu, idx)
        if self.noise == "student_t":
            nu = post["nu"].values.reshape(-1)[idx][:, None]
            eps = rng.standard_t(np.broadcast_to(nu, mu.shape))
        else:
            eps = rng.standard_normal(mu.shape)
        out = mu + scale * eps
        disc = self.discrepancy_
        if disc.method != "none":
            from bayes_scaling.estimators.error_extrapolation import loss_distance

            kappa = disc.kappa_draws(n, seed)[idx][:, None]
            d = loss_distance(loss, float(self.idata.attrs["loss_min_fit"]))
            out = out + kappa * d * rng.standard_normal(mu.shape)
        return np.clip(out, 0.0, 1.0)

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


def _unit_var(err: np.ndarray) -> np.ndarray:
    """``q (1 - q)`` of an error rate, with ``q`` kept in [0.005, 0.995] (the binomial shape of
    a learned sampling error; a rate of exactly 0 or 1 still has some)."""
    q = np.clip(np.asarray(err, dtype=float), 0.005, 0.995)
    return q * (1.0 - q)


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
