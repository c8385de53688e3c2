"""Many independent posterior fits in one compiled program: ``fit_many``.

Backtests, simulation-based calibration and design studies need hundreds to thousands of fits.
``fit_many`` pads the runs tables to one length (a mask drops the padding from the likelihood),
stacks them on a leading fit axis and runs all (fit, chain) lanes together in one jitted program,
sharded over the available devices: NUTS (:func:`bayes_scaling.inference.nuts.sample_nuts_batch`,
every lane waiting for the deepest tree of each iteration) or, with ``kernel="chees"``, batched
ChEES-HMC (:func:`bayes_scaling.inference.chees.sample_chees_batch`, every lane the same
leapfrog steps while sampling).
Each fit comes back as an ordinary fitted :class:`~bayes_scaling.LossLaw` with its own DataTree and
diagnostics, the same interface as a single fit.

Defaults: ``backend="auto"`` batches when there is more than one fit or an accelerator, and runs a
single fit on CPU through the ordinary single-fit path.

Examples
--------
>>> from bayes_scaling.evaluate.simulate import gadre_design, simulate_runs
>>> from bayes_scaling.testing import TRUE_GADRE
>>> tables = [simulate_runs("gadre", TRUE_GADRE, gadre_design(), sigma=0.01, seed=s,
...                         loss="loss_sim") for s in range(3)]
>>> law = LossLaw("gadre", loss="loss_sim", sampler=dict(num_warmup=200, num_samples=200))
>>> fits = fit_many(law, tables, seed=0, warn=False)                  # doctest: +SKIP
>>> [f.diagnostics(warn=False).ok for f in fits]                      # doctest: +SKIP
[True, True, True]
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.estimators.loss_law import LossLaw, pad_runs
from bayes_scaling.inference.chees import ChEESConfig, sample_chees_batch
from bayes_scaling.inference.config import check_seed
from bayes_scaling.inference.diagnostics import DiagnosticsWarning, RefitWarning
from bayes_scaling.inference.nuts import padded_length, sample_nuts_batch

__all__ = ["fit_many", "use_batched", "DEFAULT_BATCH_KERNEL", "batch_kernel"]

#: Sampler of batched fits when ``kernel="auto"`` (and no :func:`batch_kernel` is active).
DEFAULT_BATCH_KERNEL = "nuts"
_KERNEL: ContextVar[str | None] = ContextVar("bayes_scaling_batch_kernel", default=None)


@contextmanager
def batch_kernel(kernel: str) -> Iterator[None]:
    """Within the block, batched fits with ``kernel="auto"`` use ``kernel``.

    Reaches the fits a function makes inside (e.g. the leave-future-out refits of every
    default ``LossLaw.fit``), which take no kernel argument themselves.

    Examples
    --------
    >>> with batch_kernel("chees"):                                   # doctest: +SKIP
    ...     law = LossLaw("gadre").fit(runs, seed=0)  # its LFO refits run ChEES-HMC
    """
    if kernel not in ("auto", "chees", "nuts"):
        raise ValueError(f"kernel must be 'auto', 'chees' or 'nuts', got {kernel!r}")
    token = _KERNEL.set(None if kernel == "auto" else kernel)
    try:
        yield
    finally:
        _KERNEL.reset(token)


def use_batched(n_fits: int) -> bool:
    """Default path: batch when there are several fits or an accelerator is the default device."""
    import jax

    return n_fits > 1 or jax.devices()[0].platform != "cpu"


def fit_many(
    law: LossLaw,
    runs_list: Sequence[pd.DataFrame],
    *,
    seed: int,
    backend: str = "auto",
    kernel: str = "auto",
    chees: ChEESConfig | Mapping[str, Any] | None = None,
    progress: bool = False,
    warn: bool = True,
) -> list[LossLaw]:
    """Fit ``law`` (its form, priors, noise and sampler settings) to each runs table.

    Parameters
    ----------
    law : LossLaw
        A template; it is not modified. Each result is a copy with its own posterior.
    runs_list : sequence of DataFrame
        The runs tables; they may have different numbers of runs.
    seed : int
        One seed for the whole batch (fit i's chains use keys split from it, so results are
        reproducible for the same list, but differ from ``law.fit(runs, seed=seed)``).
    backend : {"auto", "batched", "sequential"}
        ``"sequential"`` loops over single fits (the cached single-fit program).
    kernel : {"auto", "chees", "nuts"}
        Sampler of a batched run. ``"chees"``: batched ChEES-HMC
        (:func:`~bayes_scaling.inference.chees.sample_chees_batch`; 16 short chains per fit,
        every lane the same leapfrog steps); ``"nuts"``: NUTS with the template's sampler
        settings, every lane waiting for the deepest tree. ``"auto"`` is the kernel of an
        enclosing :func:`batch_kernel` block, else :data:`DEFAULT_BATCH_KERNEL` (``"nuts"``
        until ChEES is validated against single NUTS fits and by SBC:
        ``benchmarks/RESULTS.md``). Sequential fits are always NUTS.
    chees : ChEESConfig or dict, optional
        ChEES settings (default :class:`~bayes_scaling.inference.chees.ChEESConfig`).
    progress : bool
        Progress bar over iterations (batched NUTS) or fits (sequential).
    warn : bool
        Warn once, listing the fits whose diagnostics failed.

    Returns
    -------
    list of LossLaw
        Fitted copies of ``law``, in order; ``fit.idata.attrs["batch_index"]`` is the position.
    """
    seed = check_seed(seed)
    runs_list = list(runs_list)
    if not runs_list:
        raise ValueError("runs_list is empty: pass at least one runs table")
    if backend not in ("auto", "batched", "sequential"):
        raise ValueError(f"backend must be 'auto', 'batched' or 'sequential', got {backend!r}")
    if kernel not in ("auto", "chees", "nuts"):
        raise ValueError(f"kernel must be 'auto', 'chees' or 'nuts', got {kernel!r}")
    if kernel == "auto":
        kernel = _KERNEL.get() or DEFAULT_BATCH_KERNEL
    batched = use_batched(len(runs_list)) if backend == "auto" else backend == "batched"
    fits: list[LossLaw] = []
    if not batched:
        it = runs_list
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(runs_list, desc="fits", unit="fit")
        for i, runs in enumerate(it):
            f = _blank_copy(law).fit(runs, seed=seed + i, warn=False)
            f.idata.attrs["batch_index"] = i
            fits.append(f)
    else:
        prepared = [law._prepare(r) for r in runs_list]  # validates every table first
        # padded to a fixed ladder of lengths (padded runs masked out of the likelihood): one
        # compiled program serves every batch whose largest table fits the same length
        n_max = padded_length(max(len(m["loss"]) for _, m in prepared))
        padded = [pad_runs(kw, n_max) for kw, _ in prepared]
        batch_kw = {k: np.stack([p[k] for p in padded]) for k in padded[0]}
        if kernel == "chees":
            config = ChEESConfig.coerce(chees)
            posterior, stats, facts = sample_chees_batch(
                law._model(), batch_kw, config=config, seed=seed, model_key=law._model_key())
        else:
            posterior, stats, facts = sample_nuts_batch(
                law._model(), batch_kw, config=law.sampler, seed=seed,
                model_key=law._model_key(), progress=progress,
            )
        for i, (kw, meta) in enumerate(prepared):
            f = _blank_copy(law)
            f.idata = f._build_datatree({k: v[i] for k, v in posterior.items()},
                                        {k: v[i] for k, v in stats.items()}, kw, meta,
                                        seed=seed, facts=facts)
            f.idata.attrs["batch_index"] = i
            if kernel == "chees":
                f.idata.attrs["kernel"] = json.dumps(config.to_dict(), sort_keys=True)
                f.idata.attrs["num_superchains"] = config.num_superchains
            fits.append(f)
        if law.discrepancy == "lfo":  # the sequential path learned it in each fit
            from bayes_scaling.estimators.extrapolation import calibrate_discrepancy

            for f, d in zip(fits, calibrate_discrepancy(fits, runs_list, seed=seed), strict=True):
                f.idata.attrs["discrepancy"] = d.to_json()
    diags = [f.diagnostics(warn=False) for f in fits]
    failed = [i for i, d in enumerate(diags) if not d.ok]
    dropped = [i for i, d in enumerate(diags) if d.notes]
    if warn and failed:
        warnings.warn(
            f"{len(failed)} of {len(fits)} fits failed their diagnostics (indices "
            f"{failed[:20]}{'...' if len(failed) > 20 else ''}); inspect fits[i].diagnostics()",
            DiagnosticsWarning, stacklevel=2)
    if warn and dropped:
        warnings.warn(
            f"{len(dropped)} of {len(fits)} fits dropped leave-future-out refits that failed "
            f"their diagnostics (indices {dropped[:20]}{'...' if len(dropped) > 20 else ''}); "
            "inspect fits[i].diagnostics().notes", RefitWarning, stacklevel=2)
    return fits


def _blank_copy(law: LossLaw) -> LossLaw:
    f = copy.copy(law)
    f.idata = None
    f._diagnostics = None
    return f
