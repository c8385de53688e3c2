"""The report's verdict: what the checks found (sampler, misfit by region, outlying runs, drift,
far extrapolation), in words, each graded by whether it bears on the targets.

Findings about runs are graded by nearness. A target leans on the fitted runs nearest to it:
for each quantity (tokens per parameter M, size N, compute C) the fitted values next to the
target's on each side, or the extreme one when the target lies beyond them. A region the law
misses bears on a target only when it holds such a neighbour: a misfit among the runs at
M = 5 says the law misses low M; it is a note, not a warning, when every target is at M >= 20
(their neighbours are the runs at M = 20 and above). Sampler failures bear on everything.

Runs are described by size and M ("the runs of 10.6M and 79M parameters at M = 5"), never by
run id: the ids are in the tables below the answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Finding", "Verdict", "describe_runs", "grade_findings", "neighbours"]

#: Severities, worst first: ``fail`` (a failed sampler check: no number is reliable),
#: ``affects`` (bears on at least one target), ``note`` (true, but away from the targets).
SEVERITIES = ("fail", "affects", "note")

# two values closer than this in log are one value (M = 20 and M = 20.0001 are one rung)
_LOG_TOL = 0.01
# |z| below which a region's misfit is explained once the runs of flagged M rungs are left out
# (two-sided 1%, the misfit check's own level before Holm)
_Z_EXPLAINED = 2.58


@dataclass(frozen=True)
class Finding:
    """One thing the checks found.

    Attributes
    ----------
    kind : str
        ``"sampler"``, ``"refits"``, ``"misfit"``, ``"outliers"``, ``"drift"`` or
        ``"extrapolation"``.
    severity : str
        One of :data:`SEVERITIES`.
    text : str
        The finding in words, with whether and why it bears on the targets.
    short : str
        A few words for the verdict line.
    targets : tuple of str
        Labels of the targets it bears on (empty for a note).
    """

    kind: str
    severity: str
    text: str
    short: str
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The report's one-line verdict.

    Attributes
    ----------
    level : str
        ``"fail"`` (a sampler check failed), ``"caution"`` (a finding bears on a target) or
        ``"ok"``.
    lead : str
        The verdict in a few words ("Use with care").
    detail : str
        Why, in one sentence.
    """

    level: str
    lead: str
    detail: str

    @property
    def text(self) -> str:
        return f"{self.lead}: {self.detail}"


def _si(x: float) -> str:
    for div, suf in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def _flops(v: float) -> str:
    """Compute in short scientific notation: 3.4e15."""
    return f"{v:.2g}".replace("e+", "e")


def _and(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _m_text(ms: Sequence[float]) -> str:
    ms = sorted({float(f"{m:.3g}") for m in ms})
    if len(ms) <= 3:
        return "M = " + _and([f"{m:g}" for m in ms])
    return f"M = {ms[0]:g}–{ms[-1]:g}"


def _sizes_text(ns: Sequence[float]) -> str:
    ns = sorted({float(f"{n:.3g}") for n in ns})
    if len(ns) <= 3:
        return _and([_si(n) for n in ns])
    return f"{len(ns)} sizes from {_si(ns[0])} to {_si(ns[-1])}"


def describe_runs(n_params: Sequence[float], tokens_per_param: Sequence[float]) -> str:
    """Runs in words, by size and tokens per parameter.

    Examples
    --------
    >>> describe_runs([1.06e7, 7.9e7, 1.06e7], [5, 5, 5])
    'the 3 runs of 10.6M and 79M parameters at M = 5'
    >>> describe_runs([4.1e8], [320])
    'the run of 410M parameters at M = 320'
    >>> describe_runs([1e7, 3e7, 1e8, 3e8], [5, 10, 20, 40])
    'the 4 runs of 4 sizes from 10M to 300M parameters at M = 5–40'
    """
    n = len(n_params)
    head = "the run" if n == 1 else f"the {n} runs"
    return f"{head} of {_sizes_text(n_params)} parameters at {_m_text(tokens_per_param)}"


def neighbours(fitted: Sequence[float], x: float) -> set[float]:
    """The fitted values next to ``x`` on each side (log-rounded keys): the largest at or below
    it and the smallest at or above it; one value when ``x`` lies beyond them all.

    Examples
    --------
    >>> sorted(round(math.exp(k)) for k in neighbours([5, 10, 20, 40], 30))
    [20, 40]
    >>> sorted(round(math.exp(k)) for k in neighbours([5, 10, 20, 40], 640))
    [40]
    """
    keys = np.unique(_keys(fitted))
    kx = math.log(float(x))
    below, above = keys[keys <= kx + _LOG_TOL], keys[keys >= kx - _LOG_TOL]
    out = set()
    if len(below):
        out.add(float(below.max()))
    if len(above):
        out.add(float(above.min()))
    return out


def _keys(values: Sequence[float]) -> np.ndarray:
    return np.round(np.log(np.asarray(values, float)) / _LOG_TOL) * _LOG_TOL


def _touches(group: Sequence[float], fitted: Sequence[float], x: float) -> bool:
    near = neighbours(fitted, x)
    return any(any(abs(k - n) < _LOG_TOL / 2 for n in near) for k in _keys(group))


_QUANTITY = {"tokens_per_param": "tokens_per_param", "n_params": "n_params",
             "compute": "compute_flops"}


def _nearest_words(by: str, fitted: pd.DataFrame, targets: pd.DataFrame) -> str:
    """Where the targets' nearest fitted runs are, for the quantity ``by``."""
    col = _QUANTITY[by]
    keys = {k for x in targets[col] for k in neighbours(fitted[col], x)}
    values = fitted[col].to_numpy(float)
    near = sorted({float(values[np.argmin(np.abs(_keys(values) - k))]) for k in keys})
    if by == "tokens_per_param":
        return (f"the targets are at {_m_text(targets[col])}; the fitted runs next to them are "
                f"at {_m_text(near)}")
    if by == "n_params":
        return (f"the targets have {_and([_si(v) for v in sorted(set(targets[col]))])} "
                f"parameters; the fitted sizes next to them are {_and([_si(v) for v in near])}")
    return (f"the targets' compute ({_and([_flops(v) for v in sorted(set(targets[col]))])} "
            f"FLOPs) is nearest the fitted runs of {_and([_flops(v) for v in near])} FLOPs")


def _targets_words(by: str, targets: pd.DataFrame) -> str:
    col = _QUANTITY[by]
    if by == "tokens_per_param":
        return f"at {_m_text(targets[col])}"
    if by == "n_params":
        return f"of {_and([_si(v) for v in sorted(set(targets[col]))])} parameters"
    return f"at {_and([_flops(v) for v in sorted(set(targets[col]))])} FLOPs"


def _residual_words(rel: pd.Series) -> str:
    mean = float(rel.mean())
    return f"{abs(mean):.1%} {'above' if mean > 0 else 'below'} it on average"


def grade_findings(
    misfit,
    targets: pd.DataFrame,
    labels: Sequence[str],
    reach: pd.DataFrame,
    *,
    sampler_problems: Sequence[str] = (),
    error_sampler_problems: Sequence[str] = (),
    refit_notes: Sequence[str] = (),
    outlier_prob: pd.DataFrame | None = None,
    far_ratio: float = 100.0,
) -> tuple[tuple[Finding, ...], Verdict]:
    """Every finding of the checks, graded against the targets, and the one-line verdict.

    Parameters
    ----------
    misfit : Misfit
        :func:`~bayes_scaling.evaluate.misfit.misfit_check` of the loss law (its ``runs``
        table says which runs each region holds).
    targets : DataFrame
        Resolved targets (``n_params``, ``n_tokens``, ``tokens_per_param``, ``compute_flops``).
    labels : sequence of str
        The targets' labels, in order.
    reach : DataFrame
        :meth:`DesignBounds.describe` of the targets.
    sampler_problems, error_sampler_problems : sequence of str
        Failed sampler checks of the loss law and the error law.
    refit_notes : sequence of str
        The laws' leave-future-out refits that failed their checks and were dropped
        (``diagnostics().notes``): their discrepancy, and so every target's interval, rests
        on fewer refits.
    outlier_prob : DataFrame, optional
        :meth:`LossLaw.outlier_probability` (``"mixture"`` noise).
    far_ratio : float
        A target this many times beyond the fitted compute, size or M range is far.

    Returns
    -------
    findings : tuple of Finding
        Worst first.
    verdict : Verdict
    """
    t = targets.reset_index(drop=True)
    labels = list(labels)
    runs = misfit.runs
    out: list[Finding] = []
    for p in sampler_problems:
        out.append(Finding("sampler", "fail", f"Loss-law sampler check failed: {p}.",
                           "the loss-law sampler checks failed", tuple(labels)))
    for p in error_sampler_problems:
        out.append(Finding("sampler", "fail", f"Error-law sampler check failed: {p}.",
                           "the error-law sampler checks failed", tuple(labels)))
    for n in refit_notes:
        out.append(Finding("refits", "affects", n.rstrip(".") + ".",
                           "leave-future-out refits failed their checks and were dropped",
                           tuple(labels)))

    def bearing(members: pd.DataFrame, cols: Sequence[str]) -> tuple[str, ...]:
        return tuple(lab for i, lab in enumerate(labels)
                     if all(_touches(members[c], runs[c], t.loc[i, c]) for c in cols))

    flagged = misfit.regions[misfit.regions["flagged"]] if len(misfit.regions) else \
        misfit.regions
    likely = pd.DataFrame()
    if outlier_prob is not None and len(outlier_prob):
        likely = outlier_prob[outlier_prob["outlier_prob"] > 0.5]
    likely_ids = {str(i) for i in likely.index}
    # runs of the flagged M rungs: a size or compute region flagged only because it holds them
    # is the same finding, told once
    m_rung_runs: set[str] = set()
    for r in flagged[flagged["by"] == "tokens_per_param"].itertuples():
        m_rung_runs |= set(runs.loc[runs["group_tokens_per_param"] == r.group, "run"])
    told_outliers: set[str] = set()
    also: dict[str, list[str]] = {}
    order = {"tokens_per_param": 0, "n_params": 1, "compute": 2}
    for r in sorted(flagged.itertuples(), key=lambda r: order.get(r.by, 3)):
        members = runs[runs[f"group_{r.by}"] == r.group]
        if r.by != "tokens_per_param" and m_rung_runs & set(members["run"]):
            rest = members[~members["run"].isin(m_rung_runs)]
            z_rest = float(np.sqrt(len(rest)) * rest["z"].mean()) if len(rest) else 0.0
            if abs(z_rest) < _Z_EXPLAINED:
                if r.by == "n_params":
                    also.setdefault("m", []).append(
                        f"the {_sizes_text(members['n_params'])}-parameter runs")
                else:
                    c = members["compute_flops"]
                    also.setdefault("m", []).append(
                        f"the runs of {_flops(c.min())}–{_flops(c.max())} FLOPs")
                continue
        col = _QUANTITY[r.by]
        hits = bearing(members, [col])
        where = _nearest_words(r.by, runs, t)
        text = (f"The law misses {describe_runs(members['n_params'], members['tokens_per_param'])}: "
                f"their losses sit {_residual_words(members['rel_residual'])} "
                f"({abs(r.z):.1f} standard errors).")
        out_ids = likely_ids & set(members["run"])
        if out_ids:
            told_outliers |= out_ids
            text += (f" The fit treats {len(out_ids)} of them as likely outliers and "
                     "down-weights them.")
        if r.by == "tokens_per_param":
            short = f"the misfit at {_m_text(members['tokens_per_param'])}"
        elif r.by == "n_params":
            short = f"the misfit of the {_sizes_text(members['n_params'])}-parameter runs"
        else:
            short = (f"the misfit of the runs of {_flops(members['compute_flops'].min())}–"
                     f"{_flops(members['compute_flops'].max())} FLOPs")
        if hits:
            text += f" It bears on {_and(hits)}: {where}."
            out.append(Finding("misfit", "affects", text, f"{short} bears on {_and(hits)}", hits))
        else:
            text += f" It does not reach the targets: {where}."
            out.append(Finding("misfit", "note", text, f"{short} lies away from the targets, "
                               f"which are {_targets_words(r.by, t)}"))
    if also.get("m"):
        # the follow-on regions, told inside the M-rung finding they come from
        first = next(i for i, f in enumerate(out) if f.kind == "misfit")
        f = out[first]
        head, sep, tail = f.text.partition(" It ")
        extra = (f" The misfit check also flags {_and(also['m'])}, only through these runs.")
        out[first] = Finding(f.kind, f.severity, head + extra + sep + tail, f.short, f.targets)
    rest = likely[~likely.index.astype(str).isin(told_outliers)] if len(likely) else likely
    if len(rest):
        members = rest.assign(run=rest.index.astype(str))
        hits = bearing(members, ["tokens_per_param", "n_params"])
        lo, hi = rest["outlier_prob"].min(), rest["outlier_prob"].max()
        p = f"P = {lo:.2f}" if abs(hi - lo) < 0.005 else f"P = {lo:.2f}–{hi:.2f}"
        text = (f"The fit treats {describe_runs(rest['n_params'], rest['tokens_per_param'])} "
                f"as likely outliers ({p}; losses {rest['rel_residual'].min():+.1%} to "
                f"{rest['rel_residual'].max():+.1%} off the law) and down-weights them.")
        if hits:
            text += f" They are among the fitted runs next to {_and(hits)} in size and M."
            out.append(Finding("outliers", "affects", text, f"likely outliers are among the "
                               f"runs next to {_and(hits)}", hits))
        else:
            text += " None is next to a target in both size and M."
            runs_words = describe_runs(rest["n_params"], rest["tokens_per_param"])
            out.append(Finding("outliers", "note", text,
                               f"the likely outliers ({runs_words}) lie away from the targets"))
    dz = misfit.drift.get("z", float("nan"))
    if np.isfinite(dz) and abs(dz) > 3.0:
        beyond = tuple(lab for i, lab in enumerate(labels) if reach["compute_ratio"].iloc[i] > 1)
        mean_z = misfit.drift["mean_z"]
        text = (f"The law drifts beyond the fitted compute: runs held out above compute cut-offs "
                f"land {'above' if mean_z > 0 else 'below'} their refits' predictions (mean "
                f"z = {mean_z:+.2f}); the extrapolation term widens the intervals for it, but "
                "the medians carry the bias.")
        if beyond:
            out.append(Finding("drift", "affects", text, "the law drifts beyond the fitted "
                               f"compute, where {_and(beyond)} lie{'s' if len(beyond) == 1 else ''}",
                               beyond))
        else:
            out.append(Finding("drift", "note", text + " No target lies beyond the fitted "
                               "compute.", "the law drifts beyond the fitted compute, where no "
                               "target lies"))
    for i, lab in enumerate(labels):
        r = reach.iloc[i]
        if max(r["compute_ratio"], r["params_ratio"], r["m_outside"]) > far_ratio:
            out.append(Finding(
                "extrapolation", "affects",
                f"{lab[:1].upper()}{lab[1:]} is far beyond the fitted runs "
                f"({extrapolation_words(r)}): its interval "
                "includes the learned extrapolation term, but add runs closer to it before "
                "relying on it.", f"{lab} is far beyond the fitted runs", (lab,)))
    out.sort(key=lambda f: SEVERITIES.index(f.severity))
    return tuple(out), _verdict(out)


def extrapolation_words(r: pd.Series) -> str:
    """How far a target lies beyond the fitted runs, in words (a row of
    :meth:`DesignBounds.describe`).

    Examples
    --------
    >>> extrapolation_words(pd.Series({"compute_ratio": 12.2, "params_ratio": 3.5,
    ...                                "m_outside": 1.0, "distance": 2.5}))
    '12x the largest fitted compute, 3.5x the largest fitted size, M inside the fitted range'
    """
    def ratio(x: float) -> str:
        return f"{x:.2g}x" if x < 10 else (f"{x:.0f}x" if x < 1e4 else f"{x:.1e}x")

    cr, pr, mo = float(r["compute_ratio"]), float(r["params_ratio"]), float(r["m_outside"])
    # within 5% of the fitted M range (e.g. M = 640.3 against a fitted 640) reads as inside
    m_in = mo <= 1.05
    if cr <= 1 and pr <= 1 and m_in:
        return f"inside the fitted runs ({ratio(cr)} the largest fitted compute)"
    m = "M inside the fitted range" if m_in else f"M {ratio(mo)} outside the fitted range"
    return f"{ratio(cr)} the largest fitted compute, {ratio(pr)} the largest fitted size, {m}"


def _verdict(findings: Sequence[Finding]) -> Verdict:
    fails = [f for f in findings if f.severity == "fail"]
    hits = [f for f in findings if f.severity == "affects"]
    notes = [f for f in findings if f.severity == "note"]

    def more(k: int) -> str:
        return f" (and {k} more below)" if k else ""

    if fails:
        return Verdict("fail", "Not ready to use",
                       f"{fails[0].short}{more(len(fails) - 1)}; refit with more warm-up or "
                       "draws before relying on these numbers.")
    if hits:
        # a far target is told on its own card; everything else under Findings
        where = "its answer below" if hits[0].kind == "extrapolation" else "Findings below"
        return Verdict("caution", "Use with care",
                       f"{hits[0].short}{more(len(hits) - 1)}; see {where}.")
    if notes:
        n = len(notes)
        return Verdict("ok", "Nothing found bears on the targets",
                       f"{notes[0].short}; see the note{'s' if n > 1 else ''} below.")
    return Verdict("ok", "All checks passed",
                   "sampler diagnostics, misfit by M, size and compute, outlying runs and drift "
                   "beyond the fitted compute.")
