"""The report's data: computed once from a fitted law, frozen, then rendered to any format.

Nothing here formats text for a reader or knows HTML: :func:`build_report_data` computes every
table (raw numbers, :mod:`.tables`) and figure (PNG bytes, base64, :mod:`.figures`) a report
shows; :mod:`.render` turns a :class:`ReportData` into HTML, Markdown and CSV files.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling._version import __version__
from bayes_scaling.data import data_hash
from bayes_scaling.data.design import FAR_EXTRAPOLATION_RATIO, ExtrapolationWarning
from bayes_scaling.data.targets import resolve_targets
from bayes_scaling.estimators.loss_law import LossLaw
from bayes_scaling.evaluate.misfit import misfit_check
from bayes_scaling.predict.queries import DrawsModel, compute_to_target, optimal_allocation
from bayes_scaling.report.figures import ReportFigure, _error_law_of, _make_figures
from bayes_scaling.report.findings import Finding, Verdict, grade_findings
from bayes_scaling.report.tables import (
    _diagnostics_table,
    _priors_table,
    summarize_datasets,
    target_table,
)
from bayes_scaling.report.tables import si as si  # re-exported: render, presets and the CLI use it

__all__ = ["ReportData", "ReportFigure", "build_report_data", "REPORT_CI_PROBS"]

#: Interval probabilities of the target tables (the 50% and the 90% interval).
REPORT_CI_PROBS: tuple[float, ...] = (0.5, 0.9)


@dataclass(frozen=True)
class ReportData:
    """Everything a risk report shows, computed once (treat the tables as read-only).

    Attributes
    ----------
    title : str
    source : str
        Dataset name or runs file the report was built from.
    selection : str
        How the fitted runs were chosen from the source.
    data_summary : DataFrame
        One row per training corpus of the source: runs, sizes, ranges, runs used in the fit.
    fit_runs : DataFrame
        The runs the law was fitted on (identity, sizes, observed loss).
    law : dict
        ``name``, ``formula``, ``loss`` column, ``noise``, ``n_runs``.
    priors : DataFrame
        Prior of each parameter.
    posterior : DataFrame
        Natural-unit posterior summary (median, mean, sd, 90% interval, R-hat, ESS).
    diagnostics : dict
        :meth:`Diagnostics.to_dict` of the loss-law fit (``ok``, ``problems``, ...).
    targets : DataFrame
        Loss at each target: observed (where known), median, the ``ci_probs`` intervals of the
        loss a new run would show, relative error and coverage where observed, and one
        ``p_below_<x>`` / ``mcse_below_<x>`` pair per threshold.
    error_law : dict or None
        Downstream error law facts (``name``, ``formula``, ``error`` column, ``n_runs``), or
        ``None`` when no error law was fitted.
    error_targets : DataFrame or None
        Like ``targets`` for the downstream error.
    error_posterior : DataFrame or None
    allocation : DataFrame
        Compute-optimal allocation at each budget
        (:func:`~bayes_scaling.predict.queries.optimal_allocation`).
    compute_to_target : DataFrame or None
        Compute needed to reach each threshold (when thresholds were asked).
    backtest : DataFrame or None
        Calibration of a backtest (``ci_prob``, ``coverage`` ...); ``None``: not run.
    figures : tuple of ReportFigure
    warnings : tuple of str
        The findings that bear on the targets (failed sampler checks, misfit next to a target,
        far extrapolation ...), in words; empty when none does. Notes are only in
        ``findings``.
    provenance : dict
        Package version, seeds, data hashes, sampler settings, device, timestamps.
    ci_probs : tuple of float
        Interval probabilities of the target tables.
    thresholds : tuple of float
        Losses asked about with ``P(loss < x)``.
    notes : tuple of str
        Lines shown under the answer (e.g. the dataset defaults that were applied).
    misfit : DataFrame or None
        :func:`~bayes_scaling.evaluate.misfit.misfit_check` regions (flagged ones are in
        ``findings``).
    decision : DataFrame or None
        The answer first, one row per target (:func:`.decision.decision_table`): the run in
        words, loss and error with the widest interval, P(loss < x), extrapolation distance.
    plan : DataFrame or None
        The candidate runs that would most narrow the targets' 90% intervals per FLOP
        (:func:`.decision.plan_table`); ``plan_note`` says how they were evaluated.
    findings : tuple of Finding
        What the checks found (sampler, misfit by region, outlying runs, drift, far
        extrapolation), in words, worst first, each graded by whether it bears on the targets
        (:func:`.findings.grade_findings`).
    verdict : Verdict or None
        The one-line verdict of the first screen, graded from ``findings``.
    """

    title: str
    source: str
    selection: str
    data_summary: pd.DataFrame
    fit_runs: pd.DataFrame
    law: dict[str, Any]
    priors: pd.DataFrame
    posterior: pd.DataFrame
    diagnostics: dict[str, Any]
    targets: pd.DataFrame
    allocation: pd.DataFrame
    provenance: dict[str, Any]
    figures: tuple[ReportFigure, ...] = ()
    warnings: tuple[str, ...] = ()
    error_law: dict[str, Any] | None = None
    error_targets: pd.DataFrame | None = None
    error_posterior: pd.DataFrame | None = None
    compute_to_target: pd.DataFrame | None = None
    backtest: pd.DataFrame | None = None
    ci_probs: tuple[float, ...] = REPORT_CI_PROBS
    thresholds: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()
    misfit: pd.DataFrame | None = None
    decision: pd.DataFrame | None = None
    plan: pd.DataFrame | None = None
    plan_note: str = ""
    findings: tuple[Finding, ...] = ()
    verdict: Verdict | None = None

    @property
    def ok(self) -> bool:
        """True when no finding bears on the targets (notes may remain)."""
        return not self.warnings

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by file stem (what :func:`~.render.write_tables` writes)."""
        out = {
            "data_summary": self.data_summary,
            "fit_runs": self.fit_runs,
            "priors": self.priors,
            "posterior": self.posterior.reset_index(),
            "diagnostics": _diagnostics_table(self.diagnostics),
            "targets_loss": self.targets,
            "allocation": self.allocation,
            "provenance": pd.DataFrame({"key": list(self.provenance),
                                        "value": [str(v) for v in self.provenance.values()]}),
        }
        if self.error_targets is not None:
            out["targets_error"] = self.error_targets
        if self.error_posterior is not None:
            out["error_posterior"] = self.error_posterior.reset_index()
        if self.compute_to_target is not None:
            out["compute_to_target"] = self.compute_to_target
        if self.backtest is not None:
            out["backtest"] = self.backtest
        if self.misfit is not None:
            out["misfit"] = self.misfit
        if self.decision is not None:
            out["decision"] = self.decision
        if self.plan is not None:
            out["plan"] = self.plan
        if self.findings:
            out["findings"] = pd.DataFrame(
                {"severity": [f.severity for f in self.findings],
                 "kind": [f.kind for f in self.findings],
                 "targets": ["; ".join(f.targets) for f in self.findings],
                 "finding": [f.text for f in self.findings]})
        return out


# ------------------------------------------------------------------------------------ builder
def build_report_data(
    law: LossLaw,
    fit_runs: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    predictor: DrawsModel | None = None,
    all_runs: pd.DataFrame | None = None,
    thresholds: Sequence[float] = (),
    budgets: Sequence[float] | None = None,
    allocation_constraints: Mapping[str, float] | None = None,
    backtest: pd.DataFrame | None = None,
    ci_probs: Sequence[float] = REPORT_CI_PROBS,
    source: str = "runs",
    selection: str = "all runs",
    title: str | None = None,
    seed: int = 0,
    extra_provenance: Mapping[str, Any] | None = None,
    figures: bool = True,
    prior_predictive: bool = False,
    plan_candidates: pd.DataFrame | None = None,
    plan: bool = True,
) -> ReportData:
    """Compute every table and figure of a risk report from a fitted law.

    Parameters
    ----------
    law : LossLaw
        Fitted loss law.
    fit_runs : DataFrame
        The runs ``law`` was fitted on.
    targets : DataFrame
        Planned (or held-out) runs: ``n_params`` and ``n_tokens`` (or compute and ratio); a
        ``run_id`` and the observed loss / error columns are shown when present.
    predictor : ScalingPredictor, optional
        ``ScalingPredictor(law, error_law)``: adds the downstream-error section.
    all_runs : DataFrame, optional
        The whole source table (data summary, over-training overlay); default ``fit_runs``.
    thresholds : sequence of float
        Losses x for ``P(loss < x)`` at each target and the compute needed to reach x.
    budgets : sequence of float, optional
        Compute budgets (FLOPs) for the optimal allocation; default the targets' compute.
    allocation_constraints : mapping, optional
        ``max_params`` and/or ``min_tokens_per_param`` for the over-trained allocation.
    backtest : DataFrame, optional
        Backtest calibration (columns ``ci_prob`` and ``coverage``); ``None`` shows "not run".
    ci_probs : sequence of float
        Interval probabilities of the target tables.
    source, selection, title : str
        Shown in the header and data section.
    seed : int
        Seed of the predictive noise draws.
    extra_provenance : mapping, optional
        More provenance entries (e.g. the command line).
    figures : bool
        Draw the figures (off in some tests to save time).
    prior_predictive : bool
        Add the prior predictive check figure (compiles NumPyro's ``Predictive``: a few
        seconds, so off by default).
    plan_candidates : DataFrame, optional
        Candidate runs for the planning section (default
        :func:`~bayes_scaling.predict.planning.candidate_grid`).
    plan : bool
        Compute the planning section (:func:`~bayes_scaling.predict.planning.plan_runs`).

    Returns
    -------
    ReportData

    Examples
    --------
    >>> data = build_report_data(law, fit_runs, targets)        # doctest: +SKIP
    >>> from bayes_scaling.report import render_html
    >>> html = render_html(data)                                 # doctest: +SKIP
    """
    t0 = time.perf_counter()
    law._require_fit()  # noqa: SLF001
    model: LossLaw | DrawsModel = predictor if predictor is not None else law
    all_runs = fit_runs if all_runs is None else all_runs
    ci_probs = tuple(sorted(float(p) for p in ci_probs))
    thresholds = tuple(float(x) for x in thresholds)
    t = resolve_targets(targets).reset_index(drop=True)
    max_fit_compute = float(resolve_targets(fit_runs)["compute_flops"].max())

    diag = law.diagnostics(warn=False)
    misfit = misfit_check(law)
    reach = law.design_bounds.describe(t)
    # findings name targets by size and M, as a reader knows them
    labels = [f"the {si(n)} target (M = {m:.3g})"
              for n, m in zip(t["n_params"], t["tokens_per_param"], strict=True)]

    loss_table = target_table(model, t, target="loss", observed=law.loss, ci_probs=ci_probs,
                              thresholds=thresholds, max_fit_compute=max_fit_compute, seed=seed)

    err_law = _error_law_of(predictor)
    error_info = error_table = error_post = None
    error_problems: list[str] = []
    refit_notes = [f"Loss law: {n}" for n in diag.notes]
    if err_law is not None:
        err_col = err_law.error
        error_table = target_table(model, t, target="error", observed=err_col,
                                   ci_probs=ci_probs, thresholds=(),
                                   max_fit_compute=max_fit_compute, seed=seed)
        dt = err_law.idata
        # a law built from given draws (ErrorLaw.from_draws) has no data behind it
        n_err = (int(dt["observed_data"].sizes.get("run", 0)) or None
                 if "observed_data" in dt.children else None)
        error_info = {"name": err_law.law, "formula": err_law.spec.formula, "error": err_col,
                      "loss": err_law.loss, "n_runs": n_err,
                      "chance": float(err_law.idata.attrs.get("chance", np.nan))}
        error_post = err_law.summary(ci_prob=0.9)
        err_diag = err_law.diagnostics(warn=False)
        error_problems = list(err_diag.problems)
        refit_notes += [f"Error law: {n}" for n in err_diag.notes]

    if budgets is None:
        budgets = sorted({float(f"{c:.3g}") for c in t["compute_flops"]})
    # the report states extrapolation in its findings: collect the queries' warnings there
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExtrapolationWarning)
        allocation = optimal_allocation(law, compute_flops=list(budgets),
                                        ci_prob=max(ci_probs),
                                        **dict(allocation_constraints or {}))
        ctt = None
        if thresholds:
            ms = sorted({float(f"{m:.3g}") for m in t["tokens_per_param"]} | {20.0})
            ctt = compute_to_target(law, loss=list(thresholds), tokens_per_param=ms,
                                    ci_prob=max(ci_probs))
    query_warnings = [str(w.message) for w in caught
                      if issubclass(w.category, ExtrapolationWarning)]

    from bayes_scaling.report.decision import decision_table, plan_table

    decision = decision_table(loss_table, error_table, reach, max(ci_probs), thresholds)
    plan_df, plan_note, t_plan = None, "", time.perf_counter()
    if plan:
        from bayes_scaling.predict.planning import candidate_grid

        cands = candidate_grid(law) if plan_candidates is None else plan_candidates
        plan_df, plan_note = plan_table(law, t, cands, seed=seed)
    t_plan = time.perf_counter() - t_plan
    op = law.outlier_probability() if law.noise == "mixture" else None
    findings, verdict = grade_findings(
        misfit, t, labels, reach, sampler_problems=diag.problems if not diag.ok else (),
        error_sampler_problems=error_problems, refit_notes=refit_notes, outlier_prob=op,
        far_ratio=FAR_EXTRAPOLATION_RATIO)
    far_compute = any(f.kind == "extrapolation" for f in findings)
    for w in query_warnings:
        # a budget defaulted from a far target's compute is the same fact as that target's
        if far_compute and "more than" in w and "largest fitted compute" in w:
            continue
        findings += (Finding("extrapolation", "note",
                             f"Allocation and compute-to-target tables: {w}.",
                             "a budget in the allocation tables lies far beyond the fitted "
                             "compute"),)
    warnings_ = tuple(f.text for f in findings if f.severity != "note")

    figs: tuple[ReportFigure, ...] = ()
    if figures:
        figs = _make_figures(law, model, fit_runs, all_runs, t, backtest, seed,
                             prior_predictive)

    attrs = law.idata.attrs
    backend = json.loads(attrs.get("backend", "{}"))
    fit_cols = [c for c in ("run_id", "dataset", "n_params", "n_tokens", "tokens_per_param",
                            "compute_flops", law.loss, f"{law.loss}_ci") if c in fit_runs.columns]
    fit_table = fit_runs[fit_cols].reset_index(drop=True)
    if law.noise == "mixture" and len(fit_table) == law.idata.constant_data.sizes["run"]:
        # the fit's own run order: the table passed is the one the law was fitted on
        fit_table["outlier_prob"] = law.outlier_probability()["outlier_prob"].to_numpy()
    disc = law.discrepancy_
    kappa = disc.quantiles([0.05, 0.5, 0.95])
    provenance: dict[str, Any] = {
        "bayes_scaling version": __version__,
        "created (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "fit seed": attrs.get("seed"),
        "prediction seed": seed,
        "fit runs data hash": data_hash(fit_runs),
        "source data hash": data_hash(all_runs),
        "posterior data hash": attrs.get("data_hash"),
        "sampler": attrs.get("sampler"),
        "device": f"{backend.get('platform', '?')} ({backend.get('device_kind', '?')}), "
                  f"{backend.get('device_count', '?')} device(s), "
                  f"chains {backend.get('chain_method', '?')}",
        "jax / numpyro": f"{backend.get('jax_version', '?')} / "
                         f"{backend.get('numpyro_version', '?')}",
        "float64": backend.get("x64"),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    if err_law is not None:
        provenance["error-law fit seed"] = err_law.idata.attrs.get("seed")
        provenance["error-law sampler"] = err_law.idata.attrs.get("sampler")
    provenance.update(dict(extra_provenance or {}))
    provenance["tables and figures (s)"] = round(time.perf_counter() - t0, 2)
    if plan:
        provenance["planning section (s)"] = round(t_plan, 2)

    return ReportData(
        title=title or f"Scaling-law risk report: {source}",
        source=source,
        selection=selection,
        data_summary=summarize_datasets(all_runs, fit_runs["run_id"].astype(str)),
        fit_runs=fit_table,
        law={"name": law.law, "formula": law.spec.formula, "loss": law.loss,
             "noise": law.noise, "n_runs": len(fit_runs),
             "discrepancy": disc.method,
             "kappa": f"{kappa[1]:.3g} [{kappa[0]:.3g}, {kappa[2]:.3g}] per log unit of "
                      "distance outside the fitted design (90% interval)",
             "misfit_ok": misfit.ok,
             "outlier_share": None if op is None else float(
                 np.mean(law.idata.posterior["outlier_prob"].values))},
        misfit=misfit.regions,
        priors=_priors_table(law),
        posterior=law.summary(ci_prob=0.9),
        diagnostics=diag.to_dict(),
        targets=loss_table,
        allocation=allocation,
        provenance=provenance,
        figures=figs,
        warnings=warnings_,
        error_law=error_info,
        error_targets=error_table,
        error_posterior=error_post,
        compute_to_target=ctt,
        backtest=None if backtest is None else backtest.reset_index(drop=True),
        ci_probs=ci_probs,
        thresholds=thresholds,
        decision=decision,
        plan=plan_df,
        plan_note=plan_note,
        findings=tuple(findings),
        verdict=verdict,
    )
