"""Backtest protocols: how a runs table is split into the runs a law is fitted on and those it predicts.

Owns the registered protocols (:data:`PROTOCOLS`), :class:`Split` (one fit/predict split per
``dataset``), :func:`protocol_splits`, the nominal model sizes of Gadre et al.'s (2024) design that
the ``"paper"`` protocols match runs by, and the relative errors Gadre et al. report for the
paper targets (:data:`GADRE_REPORTED`). :func:`bayes_scaling.evaluate.backtest.backtest` fits
and scores on these splits.

Protocols
---------
``"paper"``
    Gadre et al.'s (2024) fitting sets, per dataset. Loss law: the four small models (0.011B,
    0.079B, 0.154B, 0.411B) at M = 20 and 0.011B at M = 320. Error law: those five plus 1.4B at
    M = 20. Targets: 1.4B at the dataset's largest M and 6.9B at M = 20. Runs are found by
    ``n_params`` and ``tokens_per_param`` (within 5% of the nominal values), never by name.
``"paper_all_below"``
    Same targets, but each law is fitted on *every* run whose compute is at most the largest
    compute of its paper fitting set (2.0e19 FLOPs for the loss law, 2.5e20 for the error law on
    the Gadre et al. design): what the same compute budget buys when no run is thrown away.
``"compute_cutoff"``
    Fit on every run with ``compute_flops <= cutoff``, predict every run above it. Options:
    ``cutoff_flops`` (one cutoff for every dataset) or ``cutoff_quantile`` (default 0.8: per
    dataset, the 80% quantile of the runs' compute, so the ~20% largest-compute runs are held out).
``"leave_largest_out"``
    Fit on every run except those of the largest model size; predict those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PROTOCOLS", "GADRE_REPORTED", "Split", "protocol_splits"]

#: Registered protocols (see the module docstring).
PROTOCOLS: tuple[str, ...] = ("paper", "paper_all_below", "compute_cutoff", "leave_largest_out")

# Nominal model sizes of Gadre et al. (2024), in parameters; runs match within 5%.
_SMALL = (0.011e9, 0.079e9, 0.154e9, 0.411e9)
_SIZE_1B4, _SIZE_6B9 = 1.4e9, 6.9e9
_TOL = 0.05

#: Relative errors of Gadre et al.'s point predictions as they report them (their Table 2 /
#: Figure 5): one row per dataset and target, C4-eval loss and 17-task average top-1 error.
GADRE_REPORTED: pd.DataFrame = pd.DataFrame(
    [
        ("c4_original", 1.4e9, 80, 0.015, 0.096),
        ("c4_original", 6.9e9, 20, 0.043, 0.0014),
        ("rpj", 1.4e9, 640, 0.0071, 0.0364),
        ("rpj", 6.9e9, 20, 0.0073, 0.0005),
        ("rw_original", 1.4e9, 320, 0.0001, 0.056),
        ("rw_original", 6.9e9, 20, 0.016, 0.0294),
    ],
    columns=["dataset", "n_params_nominal", "tokens_per_param", "loss_c4_val", "err_avg17"],
)


# ---------------------------------------------------------------------------------------------
# Protocols
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """One fit/predict split of a backtest.

    Attributes
    ----------
    dataset : str
        The group (value of the runs table's ``dataset`` column, or ``"all"``).
    fit : pandas.Index
        Index labels of the runs the loss law is fitted on.
    error_fit : pandas.Index
        Index labels of the runs the error law is fitted on.
    targets : pandas.Index
        Index labels of the runs to predict.
    note : str
        How the split was made (e.g. the cutoff), for the record.
    """

    dataset: str
    fit: pd.Index
    error_fit: pd.Index
    targets: pd.Index
    note: str = ""


def _near(x: np.ndarray, value: float) -> np.ndarray:
    return np.abs(np.asarray(x, float) / value - 1.0) <= _TOL


def _paper_sets(g: pd.DataFrame, dataset: str) -> tuple[pd.Index, pd.Index, pd.Index]:
    n = g["n_params"].to_numpy(float)
    m = g["tokens_per_param"].to_numpy(float)
    want = [(s, 20.0) for s in _SMALL] + [(_SMALL[0], 320.0)]
    masks = [_near(n, s) & _near(m, mm) for s, mm in want]
    missing = [f"{s / 1e9:g}B at M={mm:g}" for (s, mm), k in zip(want, masks, strict=True)
               if k.sum() != 1]
    is_1b4 = _near(n, _SIZE_1B4)
    is_1b4_20 = is_1b4 & _near(m, 20.0)
    is_6b9_20 = _near(n, _SIZE_6B9) & _near(m, 20.0)
    over = is_1b4 & ~_near(m, 20.0)
    if is_1b4_20.sum() != 1:
        missing.append("1.4B at M=20")
    if is_6b9_20.sum() != 1:
        missing.append("6.9B at M=20")
    if not over.any():
        missing.append("1.4B at an M other than 20")
    if missing:
        raise ValueError(
            f"dataset {dataset!r} lacks (or has duplicates of) the paper protocol's runs: "
            f"{', '.join(missing)}; the 'paper' protocols need the Gadre et al. (2024) design "
            "(use 'compute_cutoff' or 'leave_largest_out' for other tables)"
        )
    fit = np.logical_or.reduce(masks)
    largest_m = over & (m == m[over].max())
    return (g.index[fit], g.index[fit | is_1b4_20], g.index[largest_m | is_6b9_20])


def protocol_splits(runs: pd.DataFrame, protocol: str, *, error: str | None = None,
                    **options: Any) -> list[Split]:
    """Split ``runs`` into fit and target sets, one :class:`Split` per ``dataset``.

    Parameters
    ----------
    runs : DataFrame
        Runs table with ``n_params``, ``tokens_per_param`` and ``compute_flops`` (and optionally
        ``dataset``; without it all runs form one group ``"all"``).
    protocol : {"paper", "paper_all_below", "compute_cutoff", "leave_largest_out"}
        See the module docstring.
    error : str, optional
        Error column: runs where it is missing are dropped from the error law's fitting set.
    **options
        ``compute_cutoff`` only: ``cutoff_flops`` (float) or ``cutoff_quantile`` (in (0, 1),
        default 0.8).

    Returns
    -------
    list of Split

    Examples
    --------
    >>> runs = pd.DataFrame({"n_params": [1e7, 1e8, 1e9] * 3, "tokens_per_param": [20.0] * 9,
    ...                      "compute_flops": [1.2e16, 1.2e18, 1.2e20] * 3})
    >>> s = protocol_splits(runs, "compute_cutoff", cutoff_flops=1e19)[0]
    >>> (len(s.fit), len(s.targets))
    (6, 3)
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; use one of {PROTOCOLS}")
    allowed = {"compute_cutoff": {"cutoff_flops", "cutoff_quantile"}}.get(protocol, set())
    extra = set(options) - allowed
    if extra:
        raise TypeError(f"protocol {protocol!r} takes options {sorted(allowed) or 'none'}; "
                        f"got {sorted(extra)}")
    need = {"n_params", "tokens_per_param", "compute_flops"} - set(runs.columns)
    if need:
        raise ValueError(f"runs need columns {sorted(need)} for backtest protocols")
    if "cutoff_flops" in options and "cutoff_quantile" in options:
        raise TypeError("give cutoff_flops or cutoff_quantile, not both")
    q = float(options.get("cutoff_quantile", 0.8))
    if not 0.0 < q < 1.0:
        raise ValueError(f"cutoff_quantile must lie in (0, 1), got {q!r}")
    groups = (list(runs.groupby("dataset", sort=True)) if "dataset" in runs.columns
              else [("all", runs)])
    out = []
    for name, g in groups:
        name = str(name)
        c = g["compute_flops"].to_numpy(float)
        if protocol in ("paper", "paper_all_below"):
            fit, err_fit, targets = _paper_sets(g, name)
            note = "Gadre et al. (2024) fitting sets"
            if protocol == "paper_all_below":
                c_loss = float(g.loc[fit, "compute_flops"].max())
                c_err = float(g.loc[err_fit, "compute_flops"].max())
                fit = g.index[c <= c_loss]
                err_fit = g.index[c <= c_err]
                note = f"all runs with C <= {c_loss:.3g} (loss), <= {c_err:.3g} (error) FLOPs"
            # a target never leaks into a fitting set (it cannot on the paper design)
            fit, err_fit = fit.difference(targets), err_fit.difference(targets)
        elif protocol == "compute_cutoff":
            cut = (float(options["cutoff_flops"]) if "cutoff_flops" in options
                   else float(np.quantile(c, q)))
            fit = err_fit = g.index[c <= cut]
            targets = g.index[c > cut]
            note = f"cutoff {cut:.3g} FLOPs"
        else:
            n = g["n_params"].to_numpy(float)
            big = n == n.max()
            fit = err_fit = g.index[~big]
            targets = g.index[big]
            note = f"held out n_params = {n.max():.4g}"
        if error is not None and error in g.columns:
            err_fit = err_fit[g.loc[err_fit, error].notna().to_numpy()]
        if len(targets) == 0:
            raise ValueError(f"protocol {protocol!r} leaves dataset {name!r} no target runs "
                             f"({note}); lower the cutoff")
        out.append(Split(dataset=name, fit=fit, error_fit=err_fit, targets=targets, note=note))
    return out
