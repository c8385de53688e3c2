"""From a dataset name or runs file to a :class:`~.data.ReportData`: load, select, fit, build.

Registered datasets can carry report defaults (:data:`PRESETS`) so that
``bayes-scaling report gadre2024 --out report.html`` needs no other argument: for ``gadre2024``
the RedPajama runs, fitted on the models under 1e9 parameters, predicting the held-out 1.4B and
6.9B runs (the extrapolation of Gadre et al. 2024), with the 17-task average error downstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from bayes_scaling.data import (
    DatasetError,
    filter_runs,
    list_datasets,
    load_dataset,
    load_runs,
    loss_columns,
)
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.report.data import REPORT_CI_PROBS, ReportData, build_report_data
from bayes_scaling.report.tables import si

__all__ = ["ReportDefaults", "PRESETS", "load_source", "select_runs", "make_report", "AUTO"]

#: ``error=AUTO``: the preset's error column, else ``err_avg17`` when the runs have it.
AUTO = "auto"


@dataclass(frozen=True)
class ReportDefaults:
    """Defaults a registered dataset brings to fits and reports (each overridable).

    Attributes
    ----------
    dataset_filter : str or None
        Training corpus (``dataset`` column value) to keep.
    max_params : float or None
        Fit on runs with ``n_params < max_params``; the larger runs are the held-out targets.
    law : str
        Loss law.
    loss : str or None
        Loss column.
    error : str or None
        Error column for the downstream law.
    error_law : str or None
        Error law's form (None: :class:`~bayes_scaling.ErrorLaw`'s default, ``"sigmoid"``).
    description : str
        One line shown in the report and by the CLI.
    """

    dataset_filter: str | None = None
    max_params: float | None = None
    law: str = "gadre"
    loss: str | None = None
    error: str | None = None
    error_law: str | None = None
    description: str = ""

    def error_law_for(self, column: str, asked: str | None = None) -> str:
        """The error law's form for ``column``: ``asked`` if given, else the preset's for its own
        error column, else :class:`~bayes_scaling.ErrorLaw`'s default ``"sigmoid"``."""
        return asked or (self.error_law if column == self.error else None) or "sigmoid"


PRESETS: dict[str, ReportDefaults] = {
    "gadre2024": ReportDefaults(
        dataset_filter="rpj",
        max_params=1e9,
        law="gadre",
        loss="loss_c4_val",
        error="err_avg17",
        # the 17-task average: Gadre et al.'s exponential extrapolated it best (docs/downstream.md:
        # 17 held-out intervals, mean abs. error 0.023 against the sigmoid's 0.052)
        error_law="exponential",
        description=(
            "gadre2024 defaults: RedPajama (rpj) runs; fit on the models under 1e9 parameters; "
            "targets: the held-out 1.4B and 6.9B runs (Gadre et al. 2024's extrapolation); "
            "downstream: 17-task average top-1 error (err_avg17)."
        ),
    ),
}


def load_source(source: str | Path, *, data_dir: str | Path | None = None,
                offline: bool = False, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """A registered dataset by name, or a runs file (``.csv``, ``.tsv``, ``.parquet``).

    Parameters
    ----------
    source : str or Path
        Dataset name (see :func:`~bayes_scaling.data.list_datasets`) or file path.
    data_dir : str or Path, optional
        Folder holding ``<name>/`` for registered datasets.
    offline : bool
        Never download.
    mapping : mapping, optional
        Column mapping for a file (``params``, ``tokens``, ``compute``, ``loss``, ... as in
        :func:`~bayes_scaling.data.load_runs`).

    Raises
    ------
    DatasetError
        ``source`` is neither a registered dataset nor a file name.

    Examples
    --------
    >>> runs = load_source("gadre2024")  # doctest: +SKIP
    """
    name = str(source)
    if name in list_datasets():
        return load_dataset(name, data_dir=data_dir, download=not offline)
    if Path(name).suffix:
        return load_runs(name, **dict(mapping or {}))
    raise DatasetError(f"unknown dataset {name!r}. Registered: {', '.join(list_datasets())}; "
                       "or give a .csv/.tsv/.parquet file of runs.")


def preset_for(source: str | Path) -> ReportDefaults:
    """The defaults of a registered dataset (empty defaults for anything else)."""
    return PRESETS.get(str(source), ReportDefaults())


def select_runs(runs: pd.DataFrame, *, dataset_filter: str | None = None,
                max_params: float | None = None,
                query: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Split a runs table into the runs to fit and the held-out larger runs.

    Parameters
    ----------
    runs : DataFrame
    dataset_filter : str, optional
        Keep one training corpus (``dataset`` column).
    max_params : float, optional
        Fit on ``n_params < max_params``; runs at or above it are held out.
    query : str, optional
        Extra filter on the kept runs, in the grammar of :mod:`bayes_scaling.data.filters`
        (e.g. ``"tokens_per_param <= 80"``); parsed, never evaluated as code.

    Returns
    -------
    fit_runs, held_out : DataFrame
    description : str
        Human-readable selection, for reports and logs.

    Raises
    ------
    FilterError
        ``query`` is not a valid filter for these runs.
    ValueError
        The selection is empty, or the runs mix corpora without a filter.
    """
    kept = runs
    parts = []
    if dataset_filter is not None:
        corpora = sorted(map(str, runs["dataset"].unique()))
        if dataset_filter not in corpora:
            raise ValueError(f"no runs with dataset == {dataset_filter!r}; the runs have "
                             f"{corpora}: pass --dataset-filter one of them")
        kept = kept[kept["dataset"] == dataset_filter]
        parts.append(f"dataset == {dataset_filter!r}")
    elif kept["dataset"].nunique() > 1:
        corpora = sorted(map(str, kept["dataset"].unique()))
        raise ValueError(f"the runs mix {len(corpora)} training corpora {corpora}; one law per "
                         "corpus: pass --dataset-filter (dataset_filter=) one of them")
    if query:
        kept = filter_runs(kept, query)  # parsed, never evaluated; FilterError names the fix
        parts.append(f"({query})")
    if max_params is not None:
        fit = kept[kept["n_params"] < max_params]
        held = kept[kept["n_params"] >= max_params]
        parts.append(f"n_params < {si(max_params)}")
    else:
        fit, held = kept, kept.iloc[:0]
    if fit.empty:
        raise ValueError(f"no runs left to fit after selecting {' and '.join(parts) or 'all'}")
    desc = (" and ".join(parts) or "all runs") + f" ({len(fit)} of {len(runs)} runs)"
    if len(held):
        desc += f"; held out as targets: {len(held)} runs with n_params >= {si(max_params)}"
    return fit, held, desc


def resolve_loss(runs: pd.DataFrame, loss: str | None) -> str:
    """The loss column to model: as given, else ``loss_c4_val`` or the only loss column."""
    have = loss_columns(runs.columns)
    if loss is not None:
        if loss not in runs.columns:
            raise ValueError(f"runs have no column {loss!r}; pass --loss one of {have}")
        return loss
    if "loss_c4_val" in have:
        return "loss_c4_val"
    if len(have) == 1:
        return have[0]
    raise ValueError(f"the runs have {len(have)} loss columns {have}: choose one with --loss")


def make_report(
    source: str | Path,
    *,
    targets: pd.DataFrame | None = None,
    thresholds: Sequence[float] = (),
    dataset_filter: str | None = None,
    max_params: float | None = None,
    query: str | None = None,
    law: str | None = None,
    loss: str | None = None,
    error: str | None = AUTO,
    error_chance: float | None = None,
    error_law: str | None = None,
    noise: str | None = None,
    seed: int = 0,
    sampler: Mapping[str, Any] | None = None,
    budgets: Sequence[float] | None = None,
    allocation_constraints: Mapping[str, float] | None = None,
    backtest: pd.DataFrame | None = None,
    ci_probs: Sequence[float] = REPORT_CI_PROBS,
    data_dir: str | Path | None = None,
    offline: bool = False,
    mapping: Mapping[str, str] | None = None,
    progress: bool = False,
    title: str | None = None,
    extra_provenance: Mapping[str, Any] | None = None,
    figures: bool = True,
    fit: LossLaw | str | Path | None = None,
    error_fit: Any = None,
) -> ReportData:
    """Load a dataset or runs file, fit the loss law (and the error law), build the report.

    Arguments left ``None`` take the dataset's :data:`PRESETS` defaults where it has them.

    Parameters
    ----------
    source : str or Path
        Registered dataset name or runs file.
    targets : DataFrame, optional
        Planned runs; default the held-out runs (``n_params >= max_params``).
    thresholds : sequence of float
        Losses for ``P(loss < x)`` and compute-to-reach.
    dataset_filter, max_params, query
        Run selection (see :func:`select_runs`).
    law, loss, noise
        Loss law, loss column and noise model.
    error : str or None
        Error column for the downstream law; ``"auto"``: the preset's, else ``err_avg17`` when
        present; ``None``: no error law.
    error_chance : float, optional
        Chance-level error for an error column that is not one of Gadre et al.'s.
    error_law : {"sigmoid", "exponential", "auto"}, optional
        Error law's form; default the preset's for its own error column, else ``"sigmoid"``.
    seed : int
        Loss-law fit seed (the error law uses ``seed + 1``; predictions ``seed``).
    sampler : mapping, optional
        :class:`~bayes_scaling.inference.config.SamplerConfig` fields for both fits.
    budgets, allocation_constraints, backtest, ci_probs, title, extra_provenance, figures
        Passed to :func:`~.data.build_report_data`.
    data_dir, offline, mapping
        Passed to :func:`load_source`.
    progress : bool
        Progress bars while sampling.
    fit : LossLaw or path, optional
        A fitted loss law (or a file saved by ``LossLaw.save``) to reuse instead of fitting;
        it must have been fitted on the runs this selection picks (checked by run id and data
        hash), and ``law``, ``noise`` and ``loss``, where given, must be the fit's.
    error_fit : ErrorLaw or path, optional
        A fitted error law (or its saved file) to reuse; without it the error law is fitted.
        Its runs, errors and losses are checked; ``error``, ``error_law`` and
        ``error_chance``, where given, must be the fit's.

    Returns
    -------
    ReportData

    Examples
    --------
    >>> data = make_report("gadre2024")                          # doctest: +SKIP
    >>> write_report(data, html="report.html")                   # doctest: +SKIP
    """
    preset = preset_for(source)
    # the preset's note is shown only when the report actually relies on its selection
    uses_preset = bool(preset.description) and dataset_filter is None and max_params is None
    runs = load_source(source, data_dir=data_dir, offline=offline, mapping=mapping)
    dataset_filter = dataset_filter if dataset_filter is not None else preset.dataset_filter
    max_params = max_params if max_params is not None else preset.max_params
    fit_runs, held, selection = select_runs(runs, dataset_filter=dataset_filter,
                                            max_params=max_params, query=query)
    if targets is None:
        if held.empty:
            raise ValueError("no targets: give --target N:D (targets=), or --max-params to "
                             "hold out the larger runs as targets")
        targets = held
    if fit is not None:
        # the saved fit's loss, law and noise unless asked otherwise (then it is refused)
        loss_law = _reuse_fit(fit, fit_runs, loss, law_name=law, noise=noise)
        loss_col = loss_law.loss
    else:
        loss_col = resolve_loss(fit_runs, loss if loss is not None else preset.loss)
        kw: dict[str, Any] = {"loss": loss_col, "sampler": sampler}
        if noise is not None:
            kw["noise"] = noise
        loss_law = LossLaw(law or preset.law, **kw).fit(fit_runs, seed=seed, progress=progress,
                                                        warn=False)

    err_col = error
    err_given = None
    if error_fit is not None and err_col is None:
        raise ValueError("error=None (no error law) contradicts error_fit=: drop one of them")
    if error_fit is not None:
        from bayes_scaling.estimators.error_law import ErrorLaw

        err_given = error_fit if isinstance(error_fit, ErrorLaw) else ErrorLaw.load(error_fit)
        if err_col not in (AUTO, err_given.error):
            raise ValueError(f"error={err_col!r} contradicts the saved error-law fit, a law of "
                             f"{err_given.error!r}: drop error= (the fit's column is used) or "
                             f"give an error-law fit of {err_col!r}")
        err_col = err_given.error
    if err_col == AUTO:
        err_col = preset.error or ("err_avg17" if "err_avg17" in fit_runs.columns else None)
    predictor = None
    if err_col is not None:
        from bayes_scaling.estimators.error_law import ErrorLaw
        from bayes_scaling.inference.config import derive_seed
        from bayes_scaling.predict.predictor import ScalingPredictor

        if err_col not in fit_runs.columns:
            raise ValueError(f"runs have no error column {err_col!r}; pass --error one of "
                             f"{[c for c in fit_runs.columns if c.startswith('err_')][:8]} "
                             "or --no-error")
        err_runs = fit_runs[fit_runs[err_col].notna()]
        err_kw: dict[str, Any] = {"error": err_col, "loss": loss_col, "sampler": sampler,
                                  "data_dir": data_dir}
        if error_chance is not None:
            err_kw["chance"] = error_chance
        if err_given is not None:
            err_law = err_given
            for what, asked, saved in (("error_law", error_law, err_law.law),
                                       ("loss", loss_col, err_law.loss),
                                       ("error_chance", error_chance, err_law.chance)):
                if asked not in (None, AUTO, saved):
                    raise ValueError(f"{what}={asked!r} contradicts the saved error-law fit, "
                                     f"whose {what} is {saved!r}: drop {what}= or refit the "
                                     "error law")
            problem = error_fit_data_mismatch(err_law, err_runs)
            if problem is not None:
                raise ValueError(f"the saved error-law fit was not fitted on the runs this "
                                 f"report selects: {problem}; refit the error law on them")
        else:
            err_law = ErrorLaw(preset.error_law_for(err_col, error_law), **err_kw).fit(
                err_runs, seed=derive_seed(seed, 1), progress=progress, warn=False)
        predictor = ScalingPredictor(loss_law, err_law)

    prov = {"source": str(source)}
    if uses_preset:
        prov["defaults"] = preset.description
    prov.update(dict(extra_provenance or {}))
    data = build_report_data(
        loss_law, fit_runs, targets, predictor=predictor, all_runs=runs, thresholds=thresholds,
        budgets=budgets, allocation_constraints=allocation_constraints, backtest=backtest,
        ci_probs=ci_probs, source=str(source), selection=selection, title=title, seed=seed,
        extra_provenance=prov, figures=figures,
    )
    if uses_preset:
        data = replace(data, notes=(preset.description, *data.notes))
    return data


def _run_ids(runs: pd.DataFrame) -> list[str]:
    return (runs["run_id"].astype(str).tolist() if "run_id" in runs.columns
            else [str(i) for i in runs.index])


def _differences(saved: Mapping[str, Any], now: Mapping[str, Any], ids: Sequence[str],
                 units: Mapping[str, str]) -> list[str]:
    """Per quantity, how the runs' values now differ from the ones a fit saw, in words."""
    import numpy as np

    out = []
    for name, old in saved.items():
        old, new = np.asarray(old, float), np.asarray(now[name], float)
        diff = ~np.isclose(old, new, rtol=1e-9, atol=1e-12, equal_nan=True)
        if not diff.any():
            continue
        i = int(np.flatnonzero(diff)[0])
        unit = units.get(name, "")
        delta = float(np.mean(new[diff] - old[diff]))
        out.append(f"the {name} of {int(diff.sum())} of {len(old)} runs (mean change "
                   f"{delta:+.4g}{unit}; e.g. run {ids[i]}: {old[i]:.6g} in the fit, "
                   f"{new[i]:.6g} now)")
    return out


def fit_data_mismatch(law: LossLaw, fit_runs: pd.DataFrame) -> str | None:
    """``None`` when the fitted ``law`` saw exactly ``fit_runs`` (the same run ids and the same
    data hash: sizes, tokens, losses and their measurement errors); else what differs.

    Examples
    --------
    >>> fit_data_mismatch(law, runs) is None                     # doctest: +SKIP
    True
    >>> fit_data_mismatch(law, runs.assign(loss_c4_val=runs.loss_c4_val + 0.3))  # doctest: +SKIP
    'the loss of 32 of 32 runs (mean change +0.3 nats/token; ...)'
    """
    fitted = [str(r) for r in law.idata.constant_data.coords["run"].values]
    ids = _run_ids(fit_runs)
    if sorted(fitted) != sorted(ids):
        extra = sorted(set(fitted) - set(ids))
        missing = sorted(set(ids) - set(fitted))
        return (f"the saved fit was fitted on {len(fitted)} runs, the report selects {len(ids)} "
                f"(in the fit only: {extra[:3]}; selected only: {missing[:3]})")
    if law.loss not in fit_runs.columns:
        return f"it models the column {law.loss!r}, which the runs lack"
    ordered = fit_runs.assign(_key=ids).set_index("_key").loc[fitted].reset_index(drop=True)
    _, meta = law._prepare(ordered)  # noqa: SLF001 - the arrays the fit hashed
    if meta["loss"].shape == law.idata.observed_data["loss"].shape \
            and law._data_hash(meta) == law.idata.attrs.get("data_hash"):  # noqa: SLF001
        return None
    c = law.idata.constant_data
    saved = {"size": c["n_params"].values, "token count": c["n_tokens"].values,
             "loss": law.idata.observed_data["loss"].values,
             "loss measurement error": c["meas_sd"].values}
    now = {"size": meta["n_params"], "token count": meta["n_tokens"], "loss": meta["loss"],
           "loss measurement error": meta["meas_sd"]}
    found = _differences(saved, now, fitted, {"loss": " nats/token"})
    return "; ".join(found) if found else "their data hash differs from the fit's"


def error_fit_data_mismatch(err_law: Any, err_runs: pd.DataFrame) -> str | None:
    """``None`` when the fitted error law saw ``err_runs`` (the same run ids, errors and losses);
    else what differs. A law built from given draws (no data) is never refused."""
    dt = err_law.idata
    if "observed_data" not in dt.children or "run" not in dt["observed_data"].coords:
        return None
    fitted = [str(r) for r in dt["observed_data"].coords["run"].values]
    ids = _run_ids(err_runs)
    if sorted(fitted) != sorted(ids):
        extra = sorted(set(fitted) - set(ids))
        missing = sorted(set(ids) - set(fitted))
        return (f"it was fitted on {len(fitted)} runs with {err_law.error}, the selection has "
                f"{len(ids)} (in the fit only: {extra[:3]}; selected only: {missing[:3]})")
    for col in (err_law.error, err_law.loss):
        if col not in err_runs.columns:
            return f"it uses the column {col!r}, which the runs lack"
    ordered = err_runs.assign(_key=ids).set_index("_key").loc[fitted]
    obs = dt["observed_data"]
    found = _differences({"error": obs["error"].values, "loss": obs["loss"].values},
                         {"error": ordered[err_law.error].to_numpy(float),
                          "loss": ordered[err_law.loss].to_numpy(float)},
                         fitted, {"loss": " nats/token"})
    return "; ".join(found) if found else None


def _reuse_fit(fit: LossLaw | str | Path, fit_runs: pd.DataFrame, loss: str | None, *,
               law_name: str | None = None, noise: str | None = None) -> LossLaw:
    """A saved or given fitted loss law, checked against the runs the report selected and the
    options asked (``None``: take the fit's)."""
    law = fit if isinstance(fit, LossLaw) else LossLaw.load(fit)
    law._require_fit()  # noqa: SLF001
    for what, asked, saved in (("law", law_name, law.law), ("noise", noise, law.noise),
                               ("loss", loss, law.loss)):
        if asked is not None and asked != saved:
            raise ValueError(f"{what}={asked!r} contradicts the saved fit, whose {what} is "
                             f"{saved!r}: drop {what}= (the fit's is used) or drop fit= to "
                             "refit")
    problem = fit_data_mismatch(law, fit_runs)
    if problem is not None:
        raise ValueError(
            f"the saved fit was not fitted on the runs this report selects: {problem}; give "
            "the runs and selection (dataset_filter=, max_params=, query=) the fit was made "
            "from, or drop fit= to refit")
    return law
