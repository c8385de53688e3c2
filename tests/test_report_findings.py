"""The report's verdict is graded by whether a finding bears on the targets, and its first screen
answers first: each target's loss (nats/token) and error (%), M defined in words, one verdict
line; findings below, in words (size and M), each told once. Fabricated posteriors, no NUTS."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.estimators.error_law import ErrorLaw
from bayes_scaling.evaluate.misfit import Misfit
from bayes_scaling.predict.predictor import ScalingPredictor
from bayes_scaling.report import build_report_data, render_html, render_markdown
from bayes_scaling.report.findings import describe_runs, grade_findings, neighbours
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law

FAR_M = pd.DataFrame({"n_params": [1.44e9, 6.89e9], "n_tokens": [1.44e9 * 640, 6.89e9 * 20]})
AT_M5 = pd.DataFrame({"n_params": [1.44e9], "n_tokens": [1.44e9 * 5]})


# ------------------------------------------------------------------------- grading, by hand
def _misfit(flag_m: float | None = 5.0, flag_n: float | None = None) -> Misfit:
    """A misfit result over a 4 sizes x 4 M ladder with the M = ``flag_m`` rung flagged."""
    sizes, ms = [1e7, 3e7, 1e8, 3e8], [5.0, 20.0, 80.0, 320.0]
    n = np.repeat(sizes, len(ms))
    m = np.tile(ms, len(sizes))
    runs = pd.DataFrame({"run": [f"r{i}" for i in range(len(n))], "n_params": n,
                         "n_tokens": n * m, "tokens_per_param": m, "compute_flops": 6 * n * n * m,
                         "rel_residual": np.where(m == flag_m, 0.08, 0.0),
                         "z": np.where(m == flag_m, 6.0, 0.0),
                         "group_tokens_per_param": [f"M = {v:g}" for v in m],
                         "group_n_params": [f"N = {v:g}" for v in n]})
    rows = [{"by": "tokens_per_param", "group": f"M = {v:g}", "n_runs": 4,
             "mean_rel_residual": 0.08 if v == flag_m else 0.0, "z": 12.0 if v == flag_m else 0,
             "p_adjusted": 1e-9 if v == flag_m else 1.0, "flagged": v == flag_m} for v in ms]
    rows += [{"by": "n_params", "group": f"N = {v:g}", "n_runs": 4, "mean_rel_residual": 0.02,
              "z": 3.0 if v == flag_n else 0.0, "p_adjusted": 1e-4 if v == flag_n else 1.0,
              "flagged": v == flag_n} for v in sizes]
    return Misfit(pd.DataFrame(rows), pd.DataFrame(), {"z": float("nan")}, [], runs)


def _reach(n: int) -> pd.DataFrame:
    return pd.DataFrame({"compute_ratio": [12.0] * n, "params_ratio": [5.0] * n,
                         "m_outside": [1.0] * n, "distance": [2.5] * n})


def _grade(misfit: Misfit, targets: pd.DataFrame):
    t = targets.assign(tokens_per_param=targets.n_tokens / targets.n_params,
                       compute_flops=6 * targets.n_params * targets.n_tokens)
    labels = [f"t{i}" for i in range(len(t))]
    return grade_findings(misfit, t, labels, _reach(len(t)))


def test_a_misfit_at_m5_is_a_note_when_every_target_is_at_m20_or_more():
    findings, verdict = _grade(_misfit(5.0), FAR_M)
    assert [(f.kind, f.severity) for f in findings] == [("misfit", "note")]
    assert verdict.level == "ok" and verdict.lead == "Nothing found bears on the targets"
    assert "M = 5" in verdict.detail and "M = 20 and 640" in verdict.detail
    text = findings[0].text
    assert "the 4 runs of 4 sizes from 10M to 300M parameters at M = 5" in text
    assert "does not reach the targets" in text and not re.search(r"\br\d+\b", text)


def test_a_misfit_at_the_targets_m_bears_on_them():
    findings, verdict = _grade(_misfit(5.0), AT_M5)
    assert [(f.severity, f.targets) for f in findings] == [("affects", ("t0",))]
    assert verdict.level == "caution"
    assert verdict.text.startswith("Use with care: the misfit at M = 5 bears on t0")
    # the rung next to a target between rungs bears on it; one two rungs away does not
    between = pd.DataFrame({"n_params": [1.44e9], "n_tokens": [1.44e9 * 40]})
    assert _grade(_misfit(20.0), between)[1].level == "caution"
    assert _grade(_misfit(80.0), between)[1].level == "caution"
    assert _grade(_misfit(320.0), between)[1].level == "ok"
    # beyond every fitted M, the last rung is the neighbour
    beyond = pd.DataFrame({"n_params": [1.44e9], "n_tokens": [1.44e9 * 1000]})
    assert _grade(_misfit(320.0), beyond)[1].level == "caution"
    assert _grade(_misfit(80.0), beyond)[1].level == "ok"


def test_a_size_region_flagged_only_through_the_m5_runs_is_told_once():
    # the 10M runs' misfit is all in their M = 5 run: leaving the M = 5 rung out, z = 0
    findings, _ = _grade(_misfit(5.0, flag_n=1e7), FAR_M)
    assert len(findings) == 1
    assert "also flags the 10M-parameter runs, only through these runs" in findings[0].text


def test_a_size_region_of_its_own_is_graded_by_size():
    m = _misfit(None, flag_n=3e8)
    m.runs.loc[m.runs.n_params == 3e8, "z"] = 3.0  # its own misfit, not the M rungs'
    findings, verdict = _grade(m, FAR_M)
    assert [f.severity for f in findings] == ["affects"]  # the largest size: the targets' neighbour
    assert "the 300M-parameter runs" in verdict.detail
    m = _misfit(None, flag_n=1e7)
    m.runs.loc[m.runs.n_params == 1e7, "z"] = 3.0
    assert [f.severity for f in _grade(m, FAR_M)[0]] == ["note"]


def test_dropped_refits_bear_on_every_target_and_reach_the_verdict():
    t = FAR_M.assign(tokens_per_param=FAR_M.n_tokens / FAR_M.n_params,
                     compute_flops=6 * FAR_M.n_params * FAR_M.n_tokens)
    note = ("Loss law: 1 of 3 leave-future-out refits failed their sampler diagnostics and were "
            "dropped (cut at 1e+20 (R-hat 1.090 > 1.05)); the discrepancy was learned from the "
            "other 2")
    findings, verdict = grade_findings(_misfit(None), t, ["t0", "t1"], _reach(2),
                                       refit_notes=[note])
    assert [(f.kind, f.severity, f.targets) for f in findings] == [
        ("refits", "affects", ("t0", "t1"))]
    assert findings[0].text == note + "."
    assert verdict.level == "caution"
    assert verdict.text.startswith("Use with care: leave-future-out refits failed their checks")


def test_neighbours_and_describe_runs():
    assert {round(np.exp(k)) for k in neighbours([5, 20, 80], 20.0001)} == {20}
    assert describe_runs([1e7], [5]) == "the run of 10M parameters at M = 5"


# ---------------------------------------------------- the report, on a fabricated real misfit
@pytest.fixture(scope="module")
def misfit_law(sim_runs):
    """The sim ladder with every M = 5 run's loss 8% too high: the misfit check flags M = 5 (the
    fabricated posterior is the truth, so the law misses exactly those runs)."""
    runs = sim_runs.copy()
    runs.loc[runs.tokens_per_param == 5, "loss_sim"] *= 1.08
    runs["err_avg17"] = np.clip(0.8 - 4.0 * np.exp(-runs["loss_sim"]), 0, 1)
    law = fabricated_loss_law(runs, TRUE_GADRE, loss="loss_sim", seed=0, spread=0.002)
    n = 1000
    err = ErrorLaw.from_draws({"eps": np.full(n, 0.8), "k": np.linspace(3.8, 4.2, n),
                               "gamma": np.full(n, 1.0), "sigma": np.full(n, 0.01)},
                              chance=0.81, loss="loss_sim")
    return law, ScalingPredictor(law, err), runs


def _report(misfit_law, targets):
    law, pred, runs = misfit_law
    return build_report_data(law, runs, targets, predictor=pred, figures=False, plan=False,
                             source="sim.csv")


def test_report_grades_the_m5_misfit_by_the_targets_m(misfit_law):
    far = _report(misfit_law, FAR_M)
    assert far.verdict.level == "ok" and far.ok and far.warnings == ()
    (f,) = [f for f in far.findings if f.kind == "misfit"]
    assert f.severity == "note" and "at M = 5" in f.text and "likely outliers" in f.text
    assert not [x for x in far.findings if x.kind == "outliers"]  # told inside the misfit
    near = _report(misfit_law, AT_M5)
    assert near.verdict.level == "caution" and not near.ok
    assert near.warnings == tuple(f.text for f in near.findings if f.severity == "affects")
    assert "the 1.44B target (M = 5)" in near.verdict.text
    assert set(near.tables()["findings"]["severity"]) == {"affects"}


def _first_screen_order(html: str) -> list[int]:
    return [html.index(s) for s in ("<h1>", 'id="verdict"', 'id="m-definition"',
                                    'class="card target-card', 'id="findings"', 'id="plan"',
                                    'id="data"')]


def test_first_screen_content_order_units_and_words(misfit_law):
    data = _report(misfit_law, FAR_M)
    html = render_html(data)
    pos = _first_screen_order(html)
    assert pos == sorted(pos), pos
    assert 'class="verdict ok"' in html
    assert "training tokens per parameter" in html
    cards = re.findall(r'<div class="card target-card.*?</div>\n</div>', html, re.S)
    assert len(cards) == 2
    for card in cards:
        assert re.search(r'class="v loss"><b>[\d.]+</b> nats/token, 90% interval '
                         r"\[[\d.]+, [\d.]+\]", card), card
        assert re.search(r'class="v error"><b>[\d.]+%</b>, 90% interval \[[\d.]+%, [\d.]+%\]',
                         card), card
        assert "the largest fitted compute" in card and "log units" not in card
    # every finding once on the page, and no run id (they are in the fit_runs CSV table)
    assert data.findings
    for f in data.findings:
        assert html.count(f.text) == 1, f.text
    assert not re.search(r"\bsim-\d+\b", html)
    assert "sim-0" in data.tables()["fit_runs"]["run_id"].tolist()
    md = render_markdown(data)
    assert md.index("Nothing found bears on the targets") < md.index("## The answer") \
        < md.index("M = D/N: training tokens per parameter") < md.index("## Findings")
    assert "nats/token" in md.split("## Findings")[0]


def test_verdict_line_when_the_misfit_bears_on_a_target(misfit_law):
    html = render_html(_report(misfit_law, AT_M5))
    assert 'class="verdict caution"' in html and 'role="alert"' in html
    assert html.index('id="findings-bearing"') < html.index('id="plan"')
    assert 'id="findings-notes"' not in html


def test_a_far_target_is_told_once_on_its_card(misfit_law):
    far = pd.DataFrame({"n_params": [1e11], "n_tokens": [2e12]})
    data = _report(misfit_law, far)
    assert data.verdict.level == "caution"
    assert data.verdict.text.startswith("Use with care: the 100B target (M = 20) is far beyond")
    assert data.verdict.text.endswith("see its answer below.")
    html = render_html(data)
    assert 'class="card target-card far"' in html
    assert html.count("Far beyond the fitted runs:") == 1
    assert 'id="findings-bearing"' not in html  # the card says it; the findings do not repeat it
    assert [f.kind for f in data.findings if f.severity == "affects"] == ["extrapolation"]
