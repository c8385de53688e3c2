"""The one leave-future-out engine: refit checks, dropped refits, and where they are reported.

Everything here runs on fabricated draws (no sampling): the engine's logic is what is tested.
The refit thresholds (R-hat 1.05, ESS 100, 1% divergent) are exercised far on either side:
chains offset by 5 posterior sds (R-hat ~ 3) against well-mixed chains (R-hat ~ 1.00), and
50 of 1000 transitions divergent against none.
"""

import json
import warnings

import numpy as np
import pytest

from bayes_scaling.estimators.discrepancy import Discrepancy
from bayes_scaling.estimators.lfo import (
    REFIT_RHAT_MAX,
    Cut,
    Refit,
    held_out_points,
    leave_future_out,
    refit_record,
)
from bayes_scaling.inference.diagnostics import RefitWarning
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


def _refit(seed: int, *, apart: float = 0.0, divergent: int = 0) -> Refit:
    """2 chains x 500 iid normal draws of two parameters; chain 1 shifted by ``apart`` sds;
    ``divergent`` transitions marked divergent."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 500, 2))
    x[1] += apart
    div = np.zeros((2, 500), bool)
    div.flat[:divergent] = True
    return Refit({"a": x[..., 0], "b": x[..., 1]},
                 {"diverging": div, "energy": rng.normal(size=(2, 500)) * 3})


def _points(c: Cut, r: Refit) -> dict[int, list[dict]]:
    """Two held-out runs per cut, residuals from the refit's draws of ``a`` (as a law mean)."""
    mu = np.stack([r.posterior["a"].reshape(-1) * 0.01] * 2, axis=1)
    scale = np.full_like(mu, 0.01)
    return {c.owner: held_out_points([f"r{c.cutoff:g}a", f"r{c.cutoff:g}b"],
                                     np.array([0.02, -0.01]), mu, scale, None,
                                     np.array([0.5, 1.0]), {"cutoff": c.cutoff})}


def test_refit_record_far_on_either_side_of_each_threshold():
    cut = Cut(0, 1e20, 30, 10)
    good = refit_record(cut, _refit(0), ["a", "b"])
    assert good["used"] and good["problems"] == [] and good["max_rhat"] < 1.02
    apart = refit_record(cut, _refit(1, apart=5.0), ["a", "b"])
    assert not apart["used"] and apart["max_rhat"] > 2 * REFIT_RHAT_MAX - 1
    assert any(p.startswith("R-hat") for p in apart["problems"])
    diverged = refit_record(cut, _refit(2, divergent=50), ["a", "b"])
    assert not diverged["used"] and diverged["problems"] == ["50 of 1000 transitions divergent"]
    # a few divergences (under 1% of a refit's transitions) do not drop the refit
    assert refit_record(cut, _refit(3, divergent=3), ["a", "b"])["used"]
    # only the named variables are checked
    assert refit_record(cut, _refit(1, apart=5.0), ["a"])["used"] is False
    with pytest.raises(ValueError, match="none of the variables"):
        refit_record(cut, _refit(4), ["loss_z"])


def test_failed_refits_give_no_evidence_and_are_recorded():
    cuts = [Cut(0, 1e19, 20, 10, unit="FLOPs"), Cut(0, 1e20, 25, 5, unit="FLOPs"),
            Cut(1, 3e19, 20, 8)]
    made = []

    def refit(cs):
        made.append(len(cs))  # one call for all cuts (one batch)
        return [_refit(0), _refit(1, apart=5.0), _refit(2)]

    ev = leave_future_out(cuts, refit, _points, names=["a", "b"])
    assert made == [3]
    assert [r["used"] for r in ev.refits[0]] == [True, False]
    assert [r["used"] for r in ev.refits[1]] == [True]
    assert {p["cutoff"] for p in ev.points[0]} == {1e19}  # the failed cut gave no points
    d = ev.discrepancy(0, 0, trend=False, prior_scale=0.01)
    assert d.method == "lfo" and d.cutoffs == (1e19,)
    assert len(d.refits) == 2 and len(d.dropped_refits()) == 1
    note = d.refit_note()
    assert note.startswith("1 of 2 leave-future-out refits failed")
    assert "cut at 1e+20 FLOPs (R-hat" in note and "learned from the other 1" in note
    assert ev.discrepancy(1, 1, trend=False).refit_note() is None


def test_all_refits_failing_keeps_the_prior_and_says_so():
    cuts = [Cut(0, 1e19, 20, 10), Cut(0, 1e20, 25, 5)]
    ev = leave_future_out(cuts, lambda cs: [_refit(1, apart=5.0), _refit(5, divergent=40)],
                          _points, names=["a", "b"])
    d = ev.discrepancy(0, 0, trend=False)
    assert d.method == "prior" and not d.points
    assert d.refit_note().endswith("the discrepancy keeps its prior")


def test_refit_count_mismatch_is_an_error():
    with pytest.raises(RuntimeError, match="returned 1 refits for 2 cuts"):
        leave_future_out([Cut(0, 1.0, 5, 1), Cut(0, 2.0, 6, 1)], lambda cs: [_refit(0)],
                         _points, names=["a"])


def test_points_weigh_each_run_once():
    # one run held out by both cuts counts 1/2 in each
    def score(c, r):
        pts = _points(c, r)[0][:1]
        pts[0]["run_id"] = "same"
        return {0: pts}

    ev = leave_future_out([Cut(0, 1.0, 5, 1), Cut(0, 2.0, 6, 1)],
                          lambda cs: [_refit(0), _refit(2)], score, names=["a"])
    d = ev.discrepancy(0, trend=False)
    assert [p["weight"] for p in d.points] == [0.5, 0.5]


def test_refits_survive_json_and_old_files_read_without_them():
    ev = leave_future_out([Cut(0, 1e19, 20, 10), Cut(0, 1e20, 25, 5)],
                          lambda cs: [_refit(0), _refit(1, apart=5.0)], _points, names=["a"])
    d = ev.discrepancy(0, trend=False)
    back = Discrepancy.from_json(d.to_json())
    assert back == d and back.refits[1]["used"] is False
    old = json.loads(d.to_json())
    del old["refits"]
    assert Discrepancy.from_json(json.dumps(old)).refits == ()


def test_diagnostics_notes_name_dropped_refits_without_failing_the_fit(gadre_runs):
    rpj = gadre_runs[(gadre_runs["dataset"] == "rpj") & (gadre_runs["n_params"] < 1e9)]
    law = fabricated_loss_law(rpj, TRUE_GADRE)
    assert law.diagnostics(warn=False).notes == ()
    ev = leave_future_out([Cut(0, 1e19, 20, 10), Cut(0, 1e20, 25, 5)],
                          lambda cs: [_refit(0), _refit(1, apart=5.0)], _points, names=["a"])
    law.idata.attrs["discrepancy"] = ev.discrepancy(0, trend=False).to_json()
    diag = law.diagnostics(warn=False)
    assert diag.ok and len(diag.notes) == 1 and "were dropped" in diag.notes[0]
    assert "  note: 1 of 2 leave-future-out refits" in str(diag)
    assert diag.to_dict()["notes"] == list(diag.notes)
    with pytest.warns(RefitWarning, match="see diagnostics"):
        law._warn_refits(True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        law._warn_refits(False)
