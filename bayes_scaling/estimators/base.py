"""The estimator pattern shared by every Bayesian model here: fit -> DataTree -> diagnostics.

A subclass supplies the model (``_model``, ``_model_key``), the data preparation (``_prepare``)
and the DataTree construction (``_build_datatree``); this base class owns sampling, the
not-fitted guard, diagnostics with their loud warning, flattened draws, and save/load with the
kind / law checks of :mod:`bayes_scaling.estimators.io`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.inference.config import check_seed
from bayes_scaling.inference.diagnostics import (
    Diagnostics,
    DiagnosticsWarning,
    RefitWarning,
    diagnostics,
)
from bayes_scaling.inference.nuts import sample_nuts

__all__ = ["FittedModel", "NotFittedError"]


class NotFittedError(RuntimeError, ValueError):
    """A method that needs a posterior was called before ``fit`` (or ``load``).

    Also a ValueError (as scikit-learn's is), so that one ``except ValueError`` catches every
    bad-input error of the package.
    """


class FittedModel:
    """Base class: subclasses set ``kind`` and implement the model-specific hooks."""

    kind = "FittedModel"
    idata: Any
    _diagnostics: Diagnostics | None

    # -- hooks -----------------------------------------------------------------------------
    def _model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _model_key(self) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def _prepare(self, runs: pd.DataFrame):  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_datatree(self, posterior, stats, kw, meta, *, seed, facts):  # pragma: no cover
        raise NotImplementedError

    def _sampling_kwargs(self, kw):
        """The model arrays the sampler gets (a subclass may pad them: same posterior, fewer
        distinct compiled programs); the DataTree is built from ``kw`` itself."""
        return kw

    def _diagnostic_names(self) -> list[str]:
        """Posterior variables whose convergence is checked."""
        raise NotImplementedError  # pragma: no cover

    # -- shared behaviour ------------------------------------------------------------------
    def fit(self, runs: pd.DataFrame, *, seed: int, progress: bool = False, warn: bool = True):
        """Sample the posterior given ``runs``; returns ``self``.

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
        """
        seed = check_seed(seed)  # before any work: 1.7 or 2**64 fail here, by name
        return self._fit_prepared(*self._prepare(runs), seed=seed, progress=progress, warn=warn)

    def _fit_prepared(self, kw, meta, *, seed: int, progress: bool, warn: bool):
        """Sample given the model arrays of :meth:`_prepare` (a checked seed); returns ``self``."""
        posterior, stats, facts = sample_nuts(
            self._model(), self._sampling_kwargs(kw), config=self.sampler, seed=seed,
            model_key=self._model_key(), progress=progress,
        )
        self.idata = self._build_datatree(posterior, stats, kw, meta, seed=seed, facts=facts)
        self._diagnostics = None
        self.diagnostics(warn=warn)
        return self

    def _require_fit(self) -> None:
        if self.idata is None:
            raise NotFittedError(f"this {self.kind} has no posterior yet: call fit(runs, seed=...)"
                                 f" or {self.kind}.load(path)")

    def diagnostics(self, *, warn: bool = True) -> Diagnostics:
        """R-hat, ESS bulk/tail, divergences, BFMI and ``ok`` (warns when a check fails);
        ``notes``: the leave-future-out refits that failed their own checks and were dropped
        (:mod:`bayes_scaling.estimators.lfo`)."""
        self._require_fit()
        if self._diagnostics is None:
            post = self.idata.posterior
            names = [k for k in self._diagnostic_names() if k in post]
            stats = {k: self.idata.sample_stats[k].values for k in ("diverging", "energy")}
            sc = self.idata.attrs.get("num_superchains")  # batched ChEES: nested R-hat
            self._diagnostics = diagnostics({k: post[k].values for k in names}, stats, warn=warn,
                                            superchains=int(sc) if sc else None)
        elif warn and not self._diagnostics.ok:
            warnings.warn("sampler diagnostics failed:\n" + str(self._diagnostics),
                          DiagnosticsWarning, stacklevel=2)
        return replace(self._diagnostics, notes=self._refit_notes())

    def _discrepancy_map(self, names) -> dict:
        """``{name: Discrepancy}`` of a pooled fit, from ``idata.attrs["discrepancy"]`` (one
        JSON per group or task; method ``"none"`` for each name without it)."""
        import json

        from bayes_scaling.estimators.discrepancy import Discrepancy

        self._require_fit()
        raw = self.idata.attrs.get("discrepancy")
        if raw is None:
            return {n: Discrepancy.none() for n in names}
        return {n: Discrepancy.from_json(s) for n, s in json.loads(raw).items()}

    def _discrepancies(self) -> list:
        """The fit's learned discrepancies (one, or one per task or group)."""
        d = self.discrepancy_
        return list(d.values()) if isinstance(d, Mapping) else [d]

    def _refit_notes(self) -> tuple[str, ...]:
        if self.idata is None or "discrepancy" not in self.idata.attrs:
            return ()
        return tuple(dict.fromkeys(n for d in self._discrepancies()
                                   if (n := d.refit_note()) is not None))

    def _warn_refits(self, warn: bool) -> None:
        """After the discrepancy is learned: warn when refits were dropped (``warn=True``)."""
        if warn and (notes := self._refit_notes()):
            warnings.warn("; ".join(notes) + "; see diagnostics().notes", RefitWarning,
                          stacklevel=3)

    @property
    def discrepancy_(self):
        """The learned extrapolation
        :class:`~bayes_scaling.estimators.discrepancy.Discrepancy` in ``idata.attrs``
        (method ``"none"`` for fits without one)."""
        from bayes_scaling.estimators.discrepancy import Discrepancy

        self._require_fit()
        raw = self.idata.attrs.get("discrepancy")
        return Discrepancy.none() if raw is None else Discrepancy.from_json(raw)

    def draws(self) -> dict[str, np.ndarray]:
        """Scalar posterior draws flattened over (chain, draw)."""
        self._require_fit()
        post = self.idata.posterior
        return {k: post[k].values.reshape(-1) for k in post.data_vars if post[k].ndim == 2}

    def save(self, path) -> None:
        """Write the posterior as netCDF (DataTree) with JSON attrs; never pickle. Atomic."""
        from bayes_scaling.estimators.io import save_datatree

        self._require_fit()
        save_datatree(self.idata, path)

    @classmethod
    def _load_tree(cls, path, law: str | None):
        """Open ``path``, check kind and format (io.load_datatree) and the law asked for."""
        from bayes_scaling.estimators.io import FitFileError, load_datatree

        dt = load_datatree(path, kind=cls.kind)  # checks the attrs and groups a fit needs
        if law is not None and dt.attrs["law"] != law:
            raise FitFileError(f"{path} holds a {dt.attrs['law']!r} law, not {law!r}; "
                               f"load it with law={dt.attrs['law']!r} or refit")
        return dt
