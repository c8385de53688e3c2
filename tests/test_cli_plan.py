"""``bayes-scaling plan`` on a saved (fabricated) fit: output, CSV, and bad input before any work."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture
def saved(sim_runs, tmp_path) -> Path:
    path = tmp_path / "fit.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0).save(path)
    return path


def test_plan_ranks_candidates_and_writes_csv(saved, tmp_path, capsys):
    cands = tmp_path / "cands.csv"
    pd.DataFrame({"run_id": ["a", "b"], "n_params": [1e7, 4e8],
                  "n_tokens": [2e8, 8e10]}).to_csv(cands, index=False)
    out = tmp_path / "plan.csv"
    argv = ["plan", str(saved), "--target", "1.4B:28B", "--target", "6.9B:138B",
            "--candidates-csv", str(cands), "--candidate", "100M:2B", "--k", "2",
            "--n-sims", "8", "--rank-by", "2", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    text = captured.out
    assert "greedy batch of 2 run(s)" in text and "reweight" in text
    # ranked by the second target, so the firmness line speaks of it
    assert "how firm the ranking is (6.9B:138B)" in captured.err
    table = pd.read_csv(out)
    assert len(table) == 3 and table["rank"].tolist() == [1, 2, 3]
    assert {"width_after_1.4B:28B", "width_after_6.9B:138B"} <= set(table.columns)
    assert table["reduction_per_flop"].is_monotonic_decreasing


def test_plan_default_grid(saved, capsys):
    assert main(["plan", str(saved), "--target", "1.4B:28B", "--n-sims", "4", "--k", "1"]) == 0
    captured = capsys.readouterr()
    assert "a grid of 16 runs" in captured.err


@pytest.mark.parametrize(("extra", "message"), [
    (["--k", "5"], "--k"),
    (["--rank-by", "3", "--k", "1"], "--rank-by"),
    (["--n-sims", "1"], "--n-sims"),
    (["--out", "plan.txt"], "--out"),
])
def test_plan_bad_input_exit_1_before_any_work(saved, tmp_path, capsys, extra, message):
    argv = ["plan", str(saved), "--target", "1.4B:28B", "--candidate", "10M:200M",
            "--candidate", "100M:2B", *extra]
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_plan_bad_candidates_csv(saved, tmp_path, capsys):
    cands = tmp_path / "c.csv"
    pd.DataFrame({"n_params": [1e7, "1B"], "n_tokens": [2e8, 2e9]}).to_csv(cands, index=False)
    assert main(["plan", str(saved), "--target", "1.4B:28B", "--candidates-csv",
                 str(cands)]) == 1
    assert "'n_params' holds '1B'" in capsys.readouterr().err
    assert main(["plan", str(tmp_path / "missing.nc"), "--target", "1.4B:28B"]) == 1
    assert main(["plan", str(saved)]) == 1  # no targets


# ------------------------------------------------------------------------------ report --fit
def test_report_reuses_a_saved_fit(saved, sim_runs, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    sim_runs.to_csv(runs, index=False)
    out = tmp_path / "report.html"
    argv = ["report", str(runs), "--loss", "loss_sim", "--fit", str(saved), "--no-error",
            "--target", "1.4B:922B", "--out", str(out), "--allow-warnings", "--no-progress"]
    assert main(argv) == 0
    html = out.read_text()
    assert "The answer" in html and "1.4B params, 922B tokens (M = 659)" in html
    assert "The runs that would most narrow your target's interval, per FLOP" in html


def test_report_refuses_a_fit_of_other_runs(saved, sim_runs, tmp_path, capsys):
    runs = tmp_path / "runs.csv"
    sim_runs.iloc[:-3].to_csv(runs, index=False)
    argv = ["report", str(runs), "--loss", "loss_sim", "--fit", str(saved), "--no-error",
            "--target", "1.4B:922B", "--out", str(tmp_path / "r.html")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the saved fit was fitted on 32 runs, the report selects 29" in err
    assert not (tmp_path / "r.html").exists()
    assert main([*argv[:-2], "--error-fit", str(saved), "--out", str(tmp_path / "r.html")]) == 1
