"""``ScalingPredictor``: a loss law chained into an error law, draw by draw.

Gadre et al. (2024) predict downstream error in two stages and plug the *point* prediction of the
loss into the error law. Here every posterior draw of the loss at a target goes through a
posterior draw of the error law (with that law's noise for ``kind="new_run"``), so the error's
interval carries the loss law's uncertainty, the error law's uncertainty and, for a new run,
both laws' scatter. :meth:`ScalingPredictor.plugin_predict` gives the plug-in answer for
comparison.

Pairing draws
-------------
The two posteriors come from separate fits, so draws are paired by index: row ``i`` uses loss draw
``i`` and error-law draw ``i``. When the counts differ, ``n = max(n_loss, n_error)`` rows are made
and the shorter posterior is cycled through seeded random permutations (each draw used
``floor(n/m)`` or ``ceil(n/m)`` times, never in chain order, so its autocorrelation does not
line up with the other's). When the loss posterior has at least as many draws as the error law's,
row ``i`` of ``draws(target="error")`` is the error of row ``i`` of ``draws(target="loss")``
(same ``seed`` and targets without a ``<loss>_ci`` column).

The loss that enters the error law is the run's *true* eval loss: the law's mean (``"law_mean"``) or
the mean plus run-to-run scatter (``"new_run"``), never the eval set's measurement error, because
the error law was fitted with latent true losses (:mod:`bayes_scaling.estimators.error_law`).

Examples
--------
>>> pred = ScalingPredictor(loss_law, error_law)                        # doctest: +SKIP
>>> pred.predict(targets, target="error", ci_prob=0.9, kind="new_run")  # doctest: +SKIP
>>> pred.probability(targets, target="error", below=0.5)                # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_scaling.data.design import warn_far_extrapolation
from bayes_scaling.data.targets import check_kind, interval_frame, resolve_targets
from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.estimators.loss_law import LossLaw, NotFittedError
from bayes_scaling.inference.config import check_seed

__all__ = ["ScalingPredictor"]

_TARGETS = ("loss", "error")


def _cycle_index(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices into ``m`` draws: concatenated random permutations, cut to length ``n``."""
    reps = -(-n // m)
    return np.concatenate([rng.permutation(m) for _ in range(reps)])[:n]


def _chain_shape(idata) -> tuple[int, int]:
    s = idata.posterior.sizes
    return int(s["chain"]), int(s["draw"])


class ScalingPredictor:
    """Predict loss and downstream error at planned runs from fitted laws.

    Parameters
    ----------
    loss_law : LossLaw
        A fitted (or loaded) loss law.
    error_law : ErrorLaw, optional
        A fitted error law whose input is the same loss column; needed for ``target="error"``.

    Examples
    --------
    >>> import pandas as pd                                                  # doctest: +SKIP
    >>> targets = pd.DataFrame({"n_params": [1.44e9], "n_tokens": [9.2e11]})  # doctest: +SKIP
    >>> pred = ScalingPredictor(loss_law, error_law)                        # doctest: +SKIP
    >>> pred.predict(targets, target="error", ci_prob=0.9)                  # doctest: +SKIP
    >>> pred.probability(targets, target="loss", below=2.5)                 # doctest: +SKIP
    """

    def __init__(self, loss_law: LossLaw, error_law: ErrorLaw | None = None):
        if not isinstance(loss_law, LossLaw):
            raise TypeError(f"loss_law must be a LossLaw, got {type(loss_law).__name__}")
        if loss_law.idata is None:
            raise NotFittedError("loss_law has no posterior: fit or load it first")
        if error_law is not None:
            if not isinstance(error_law, ErrorLaw):
                raise TypeError(f"error_law must be an ErrorLaw, got {type(error_law).__name__}")
            if error_law.idata is None:
                raise NotFittedError("error_law has no posterior: fit or load it first")
            if error_law.loss != loss_law.loss:
                raise ValueError(
                    f"the error law maps {error_law.loss!r} to error but the loss law predicts "
                    f"{loss_law.loss!r}; fit both on the same loss column"
                )
        self.loss_law = loss_law
        self.error_law = error_law

    def __repr__(self) -> str:
        err = "None" if self.error_law is None else repr(self.error_law)
        return f"ScalingPredictor({self.loss_law!r}, {err})"

    # ------------------------------------------------------------------ draws
    def _check(self, target: str, kind: str) -> None:
        if target not in _TARGETS:
            raise ValueError(f"target must be 'loss' or 'error', got {target!r}")
        check_kind(kind)
        if target == "error" and self.error_law is None:
            raise ValueError("target='error' needs an error law: "
                             "ScalingPredictor(loss_law, error_law)")

    def _pairing(self, seed: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """Row -> (loss draw, error-law draw) indices and the (chain, draw) shape of the rows."""
        n_loss = int(np.prod(_chain_shape(self.loss_law.idata)))
        n_err = self.error_law.n_draws
        n = max(n_loss, n_err)
        rng = np.random.default_rng(np.random.SeedSequence([check_seed(seed), 1]))
        loss_idx = np.arange(n) if n_loss == n else _cycle_index(n_loss, n, rng)
        err_idx = np.arange(n) if n_err == n else _cycle_index(n_err, n, rng)
        # rows follow the chains of the posterior that is used in order
        shape = (_chain_shape(self.loss_law.idata) if n_loss == n
                 else self.error_law.chain_shape)
        return loss_idx, err_idx, shape

    def _draws(self, targets: pd.DataFrame, target: str, kind: str,
               seed: int) -> tuple[np.ndarray, tuple[int, int]]:
        self._check(target, kind)
        if target == "loss":
            d = self.loss_law.loss_draws(targets, kind=kind, seed=seed)
            return d, _chain_shape(self.loss_law.idata)
        ci_col = f"{self.loss_law.loss}_ci"
        true_targets = targets.drop(columns=[ci_col], errors="ignore")
        loss = self.loss_law.loss_draws(true_targets, kind=kind, seed=seed)
        loss_idx, err_idx, shape = self._pairing(seed)
        err_seed = int(np.random.SeedSequence([check_seed(seed), 2]).generate_state(1)[0])
        err = self.error_law.error_draws(loss[loss_idx], kind=kind, seed=err_seed,
                                         draw_index=err_idx)
        return err, shape

    def draws(self, targets: pd.DataFrame, *, target: str = "loss", kind: str = "new_run",
              seed: int = 0) -> np.ndarray:
        """Posterior predictive draws at ``targets``: shape ``(n_draws, n_targets)``.

        Parameters
        ----------
        targets : DataFrame
            Columns ``n_params`` and ``n_tokens`` (or ``compute_flops`` and
            ``tokens_per_param``); see :func:`~bayes_scaling.data.targets.resolve_targets`.
        target : {"loss", "error"}
            Predict the eval loss, or the downstream error through the error law.
        kind : {"new_run", "law_mean"}
            ``"law_mean"``: the laws' means (parameter uncertainty only; the error is the error law's
            mean at the loss law's mean). ``"new_run"``: what a new run would measure: the loss
            with run-to-run scatter, the error with the error law's scatter and the benchmark's
            sampling error.
        seed : int
            Seeds the noise draws and, when the posteriors' sizes differ, the pairing.

        Returns
        -------
        ndarray
            For ``target="loss"`` the loss law's draws (as :meth:`LossLaw.loss_draws`); for
            ``"error"``, ``max(n_loss_draws, n_error_draws)`` rows, one per paired draw.

        Examples
        --------
        >>> pred.draws(targets, target="error", kind="new_run", seed=1).shape  # doctest: +SKIP
        (4000, 1)
        """
        return self._draws(targets, target, kind, seed)[0]

    # ------------------------------------------------------------------ summaries
    def predict(self, targets: pd.DataFrame, *, target: str = "loss", ci_prob: float = 0.9,
                kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
        """Predictive summary at ``targets`` (same columns as :meth:`LossLaw.predict`).

        Parameters
        ----------
        targets : DataFrame
        target : {"loss", "error"}
        ci_prob : float
            Probability mass of the equal-tailed interval.
        kind : {"new_run", "law_mean"}
        seed : int

        Returns
        -------
        DataFrame
            ``targets`` with ``n_params``, ``n_tokens``, ``tokens_per_param`` and
            ``compute_flops`` filled in, plus ``median``, ``mean``, ``lower``, ``upper``;
            ``attrs`` hold ``ci_prob``, ``kind``, ``target``, ``loss`` (and ``error``).

        Examples
        --------
        >>> pred.predict(targets, target="error", ci_prob=0.9, kind="new_run")  # doctest: +SKIP
        """
        t = resolve_targets(targets)
        warn_far_extrapolation(self.loss_law.design_bounds, t)
        draws = self.draws(targets, target=target, kind=kind, seed=seed)
        out = interval_frame(t, draws, ci_prob)
        out.attrs.update(self._attrs(target, kind))
        return out

    def _attrs(self, target: str, kind: str) -> dict:
        attrs = {"kind": kind, "target": target, "loss": self.loss_law.loss}
        if target == "error":
            attrs["error"] = self.error_law.error
        return attrs

    def probability(self, targets: pd.DataFrame, *, target: str = "loss",
                    below: float | None = None, above: float | None = None,
                    kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
        """Posterior probability that the loss or error lands below / above thresholds.

        ``P(above < X < below)`` with either bound optional (at least one given), estimated by
        the share of predictive draws, with its Monte Carlo standard error.

        Parameters
        ----------
        targets : DataFrame
        target : {"loss", "error"}
        below, above : float, optional
            Thresholds in the target's units (nats/token, or error as a fraction).
        kind : {"new_run", "law_mean"}
            ``"new_run"`` (default) answers "will the run I train land below x"; ``"law_mean"``
            answers it for the law's mean, i.e. without run-to-run scatter.
        seed : int

        Returns
        -------
        DataFrame
            ``targets`` plus ``p``, ``mcse`` and ``ess``. ``mcse`` is ``sqrt(p (1 - p) / ess)``
            through arviz-stats' MCSE of the mean of the indicator, with ``ess`` its effective
            sample size over the (chain, draw) structure of the rows. When every draw agrees
            (p = 0 or 1) the MCSE is reported as the binomial error of half a draw,
            ``sqrt(q (1 - q) / n)`` with ``q = 1 / (2 n)``: a floor, not an estimate. When the
            shorter posterior is cycled (see the module docstring), ``ess`` can overstate the
            information of the cycled posterior's draws.

        Examples
        --------
        >>> pred.probability(targets, target="error", below=0.5)[["p", "mcse"]]  # doctest: +SKIP
        """
        from arviz_stats.base import array_stats

        if below is None and above is None:
            raise ValueError("give below= and/or above=")
        if below is not None and above is not None and not above < below:
            raise ValueError(f"above ({above}) must be smaller than below ({below})")
        draws, (n_chain, n_draw) = self._draws(targets, target, kind, seed)
        ind = np.ones(draws.shape, dtype=bool)
        if below is not None:
            ind &= draws < below
        if above is not None:
            ind &= draws > above
        n = draws.shape[0]
        p = ind.mean(axis=0)
        # (target, chain, draw) for arviz-stats; constant columns are handled apart because
        # their ESS is undefined
        x = ind.astype(float).T.reshape(ind.shape[1], n_chain, n_draw)
        varies = (p > 0) & (p < 1)
        mcse = np.empty_like(p)
        ess = np.full_like(p, float(n))
        if varies.any():
            mcse[varies] = array_stats.mcse(x[varies], chain_axis=-2, draw_axis=-1,
                                            method="mean")
            ess[varies] = array_stats.ess(x[varies], chain_axis=-2, draw_axis=-1,
                                          method="mean")
        q = 0.5 / n
        mcse[~varies] = np.sqrt(q * (1 - q) / n)
        out = resolve_targets(targets).reset_index(drop=True)
        out["p"] = p
        out["mcse"] = mcse
        out["ess"] = ess
        out.attrs.update(self._attrs(target, kind) | {"below": below, "above": above})
        return out

    # ------------------------------------------------------------------ decision queries
    # one implementation, in queries.py; these are the DESIGN's method spellings of it

    def optimal_allocation(self, *, compute_flops, max_params: float | None = None,
                           min_tokens_per_param: float | None = None,
                           ci_prob: float = 0.9) -> pd.DataFrame:
        """Posterior over the loss-minimising n_params and n_tokens for a compute budget
        (see :func:`bayes_scaling.predict.queries.optimal_allocation`)."""
        from bayes_scaling.predict.queries import optimal_allocation

        return optimal_allocation(self, compute_flops=compute_flops, max_params=max_params,
                                  min_tokens_per_param=min_tokens_per_param, ci_prob=ci_prob)

    def compute_to_target(self, *, loss, tokens_per_param=20.0,
                          ci_prob: float = 0.9) -> pd.DataFrame:
        """Posterior of the compute needed to reach a mean-law loss
        (see :func:`bayes_scaling.predict.queries.compute_to_target`)."""
        from bayes_scaling.predict.queries import compute_to_target

        return compute_to_target(self, loss=loss, tokens_per_param=tokens_per_param,
                                 ci_prob=ci_prob)

    def plugin_predict(self, targets: pd.DataFrame, *, ci_prob: float = 0.9,
                       kind: str = "new_run", seed: int = 0) -> pd.DataFrame:
        """Error interval with the *median* predicted loss plugged into the error law.

        This is the two-stage practice of Gadre et al. (a point loss into the error law), kept for
        comparison: only the error law's uncertainty (and for ``kind="new_run"`` its noise)
        enters, none of the loss law's. Compare with ``predict(..., target="error")``.

        Returns
        -------
        DataFrame
            ``targets`` plus ``loss_plugin`` (the posterior median of the mean-law loss),
            ``median``, ``mean``, ``lower``, ``upper``; ``attrs`` as :meth:`predict` with
            ``plugin=True``.

        Examples
        --------
        >>> pred.plugin_predict(targets, ci_prob=0.9)                    # doctest: +SKIP
        """
        self._check("error", kind)
        loss_med = np.median(self.loss_law.loss_draws(targets, kind="law_mean"), axis=0)
        err_seed = int(np.random.SeedSequence([check_seed(seed), 2]).generate_state(1)[0])
        draws = self.error_law.error_draws(loss_med, kind=kind, seed=err_seed)
        t = resolve_targets(targets)
        t["loss_plugin"] = loss_med
        out = interval_frame(t, draws, ci_prob)
        out.attrs.update(self._attrs("error", kind) | {"plugin": True})
        return out

