"""The command line speaks one vocabulary (issue 26): flags in messages, one column mapping for
runs, targets and candidates, run names carried, replicates, loss look-alikes, warnings as CLI
messages, 100 columns, exact interval labels, a quiet closed pipe. Fabricated fits only."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.cli import main
from bayes_scaling.cli.common import EXIT_BROKEN_PIPE, WIDTH, ci_label
from bayes_scaling.cli.errors import run_handler
from bayes_scaling.cli.outputs import print_table
from bayes_scaling.data import registry
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))

    def refuse(url: str, timeout: float) -> bytes:
        raise AssertionError(f"CLI test tried to download {url}")

    monkeypatch.setattr(registry, "_fetch", refuse)


@pytest.fixture
def saved(sim_runs, tmp_path) -> Path:
    path = tmp_path / "fit.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0).save(path)
    return path


@pytest.fixture
def foreign_csv(sim_runs, tmp_path) -> Path:
    """The simulated ladder under a new user's column names, with two reruns."""
    t = pd.DataFrame({"params": sim_runs["n_params"], "tokens": sim_runs["n_tokens"],
                      "val_loss": sim_runs["loss_sim"].round(5),
                      "name": [f"run{i}" for i in range(len(sim_runs))]})
    reruns = t.iloc[[3, 5]].assign(val_loss=lambda d: d.val_loss + 0.01,
                                   name=["rerun-a", "rerun-b"])
    path = tmp_path / "runs.csv"
    pd.concat([t, reruns], ignore_index=True).to_csv(path, index=False)
    return path


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


# ------------------------------------------------------------------------ flags in messages
def test_messages_name_cli_flags_not_python_arguments(foreign_csv, tmp_path, capsys):
    out = str(tmp_path / "f.nc")
    assert main(["fit", str(foreign_csv), "--out", out]) == 1
    err = capsys.readouterr().err
    assert "--tokens COLUMN" in err and "--compute COLUMN" in err
    assert "load_runs" not in err and "tokens=" not in err
    assert main(["fit", str(foreign_csv), "--params", "params", "--tokens", "nope",
                 "--loss", "val_loss", "--out", out]) == 1
    err = capsys.readouterr().err
    assert "'nope' (for n_tokens)" in err and "Fix: give --tokens a column" in err
    assert "load_runs" not in err
    # the Python API keeps its own words
    from bayes_scaling.data import RunsError, load_runs

    with pytest.raises(RunsError, match="tokens='<column with D>'.*load_runs"):
        load_runs(foreign_csv)


def test_no_loss_column_names_the_lookalikes_and_the_flag(sim_runs, tmp_path, capsys):
    path = tmp_path / "c4.csv"
    sim_runs[["n_params", "n_tokens"]].assign(c4_val_loss=sim_runs["loss_sim"]).to_csv(
        path, index=False)
    assert main(["datasets", "--summary", str(path)]) == 1
    captured = capsys.readouterr()
    assert "loss columns (0): none" not in captured.out
    assert "look like losses (1): c4_val_loss" in captured.out
    assert "--loss c4_val_loss" in captured.err
    assert main(["datasets", "--summary", str(path), "--loss", "c4_val_loss"]) == 0
    assert "loss columns (1): loss_c4_val" in capsys.readouterr().out
    assert main(["fit", str(path), "--out", str(tmp_path / "f.nc")]) == 1
    assert "pick one with --loss c4_val_loss" in capsys.readouterr().err


# --------------------------------------------------------------- run names and replicates
def test_replicates_are_accepted_with_a_notice_and_names_are_kept(foreign_csv, capsys):
    argv = ["datasets", "--summary", str(foreign_csv), "--params", "params", "--tokens",
            "tokens", "--loss", "val_loss"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "4 runs are replicates" in captured.err and "'seed' column" in captured.err
    assert "run ids: numbered" in captured.out and "--name COLUMN" in captured.out
    assert main([*argv, "--name", "name"]) == 0
    assert "run ids: from the file" in capsys.readouterr().out


def test_python_run_names_are_the_run_ids(foreign_csv):
    from bayes_scaling.data import load_runs

    runs = load_runs(foreign_csv, params="params", tokens="tokens", loss="val_loss",
                     run_id="name")
    assert runs["run_id"].tolist()[-2:] == ["rerun-a", "rerun-b"]


def test_targets_csv_takes_the_runs_mapping_flags_and_names(saved, tmp_path, capsys):
    tcsv = tmp_path / "targets.csv"
    pd.DataFrame({"params": [1.4e9, 7e9], "tokens": [2.9e10, 1.4e11],
                  "name": ["big", "huge"]}).to_csv(tcsv, index=False)
    out = tmp_path / "pred.csv"
    argv = ["predict", str(saved), "--targets-csv", str(tcsv), "--params", "params",
            "--tokens", "tokens", "--name", "name", "--target", "1B:20B", "--out", str(out)]
    assert main(argv) == 0
    table = pd.read_csv(out)
    assert table["run_id"].tolist() == ["1B:20B", "big", "huge"]
    assert "big" in capsys.readouterr().out
    # without the mapping the file's columns are named with the flags to use
    assert main(["predict", str(saved), "--targets-csv", str(tcsv)]) == 1
    err = capsys.readouterr().err
    assert "--params COLUMN" in err and "--tokens COLUMN" in err and "'params'" in err


def test_candidates_csv_takes_the_same_mapping(saved, tmp_path, capsys):
    cands = tmp_path / "cands.csv"
    pd.DataFrame({"p": [1e7, 1e8], "t": [2e8, 2e9], "name": ["small", "mid"]}).to_csv(
        cands, index=False)
    out = tmp_path / "plan.csv"
    argv = ["plan", str(saved), "--target", "1.4B:28B", "--candidates-csv", str(cands),
            "--params", "p", "--tokens", "t", "--name", "name", "--k", "2", "--n-sims", "4",
            "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    table = pd.read_csv(out)
    assert set(table["run_id"]) == {"small", "mid"}
    # the greedy batch names its runs by the ranks (and names) of the table above it
    batch = captured.out.split("greedy batch")[1].splitlines()[2:4]
    ranked = dict(zip(table["run_id"], table["rank"], strict=True))
    for line in batch:
        rank, name = line.split()[:2]
        assert ranked[name] == int(rank)
    assert all(len(line) <= WIDTH for line in captured.out.splitlines())
    assert all(len(line) <= WIDTH for line in captured.err.splitlines())


# ---------------------------------------------------------------- extrapolation warnings
def test_extrapolation_warning_is_the_same_cli_message_everywhere(saved, capsys):
    from bayes_scaling.data.design import ExtrapolationWarning
    from bayes_scaling.estimators.loss_law import LossLaw

    with pytest.warns(ExtrapolationWarning) as caught:
        LossLaw.load(saved).predict(pd.DataFrame({"n_params": [1e15], "n_tokens": [2e16]}))
    python_text = " ".join(str(caught[0].message).split())
    for argv in (["predict", str(saved), "--target", "1e15:2e16"],
                 ["query", "probability", str(saved), "--target", "1e15:2e16", "--below", "2"]):
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert err.count("bayes-scaling: warning:") == 1, err
        assert " ".join(err.replace("bayes-scaling: warning:", "").split()) == python_text
        assert ".py:" not in err and "Warning:" not in err
    # 202x the largest fitted compute at a fitted size
    law = LossLaw.load(saved)
    n = float(np.exp(law.design_bounds.log_n_max))
    c = 202 * float(np.exp(law.design_bounds.log_c_max))
    assert main(["predict", str(saved), "--target", f"{n:.6g}:{c / (6 * n):.6g}"]) == 0
    assert "202x the largest fitted compute" in capsys.readouterr().err


def test_compute_to_target_far_beyond_the_largest_size_is_outside(saved, capsys):
    from bayes_scaling.estimators.loss_law import LossLaw
    from bayes_scaling.predict.queries import compute_to_target

    law = LossLaw.load(saved)
    out = compute_to_target(law, loss=[2.3, 3.5])
    ratio = out["n_params_median"] / np.exp(law.design_bounds.log_n_max)
    assert ratio.iloc[0] > 18 and bool(out["outside_fitted_range"].iloc[0])
    assert ratio.iloc[1] < 1 and not bool(out["outside_fitted_range"].iloc[1])
    assert main(["query", "compute-to-target", str(saved), "--reach", "2.3"]) == 0
    text = capsys.readouterr().out
    assert "outside fitted range" in text and text.split("outside fitted range")[-1].split()[
        1] == "yes"


# ------------------------------------------------------------------- layout and intervals
def test_wide_tables_are_split_into_blocks_within_100_columns(capsys):
    df = pd.DataFrame({"rank": [1, 2]} | {f"width_after_target_{i}": [0.1, 0.2]
                                          for i in range(12)})
    print_table(df, "a title " * 20)
    text = capsys.readouterr().out
    assert all(len(line) <= WIDTH for line in text.splitlines())
    headers = [line for line in text.splitlines() if line.strip().startswith("rank")]
    assert len(headers) >= 3  # the key column repeated in every block
    assert all(f"width after target {i}" in text for i in range(12))


def test_every_interval_level_keeps_its_own_label(saved, tmp_path, capsys):
    out = tmp_path / "p.csv"
    assert main(["predict", str(saved), "--target", "1B:20B", "--ci-prob", "0.899",
                 "--ci-prob", "0.9", "--ci-prob", "0.9", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "89.9% interval" in text and "90% interval" in text
    cols = pd.read_csv(out).columns
    assert {"lower_89.9%", "upper_89.9%", "lower_90%", "upper_90%"} <= set(cols)
    assert len([c for c in cols if c.startswith("lower_")]) == 2
    assert [ci_label(p) for p in (0.5, 0.95, 0.975)] == ["50%", "95%", "97.5%"]


def test_a_level_the_draws_cannot_support_is_refused(saved, tmp_path, capsys):
    n_draws = 1000  # fabricated: 4 chains x 250 draws
    assert main(["predict", str(saved), "--target", "1B:20B", "--ci-prob", "0.9999"]) == 1
    err = capsys.readouterr().err
    assert "--ci-prob '0.9999'" in err and f"the fit has {n_draws}" in err
    assert "at most 0.99" in err and "--draws" in err
    assert main(["query", "compute-to-target", str(saved), "--reach", "2.5",
                 "--ci-prob", "0.999"]) == 1
    assert "99.9% interval" in capsys.readouterr().err


# ------------------------------------------------------------------------------ closed pipe
def test_a_closed_pipe_ends_quietly(capsys):
    def handler(args):
        raise BrokenPipeError(32, "Broken pipe")

    assert run_handler(handler, None) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_predict_into_a_closed_pipe_ends_quietly(saved, tmp_path):
    """`predict ... | head -1`, for real: enough rows to fill the pipe, then the reader goes."""
    tcsv = tmp_path / "t.csv"
    n = np.geomspace(1e8, 4e8, 1500)
    pd.DataFrame({"n_params": n, "n_tokens": 20 * n}).to_csv(tcsv, index=False)
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, "-m", "bayes_scaling.cli", "predict", str(saved),
                             "--targets-csv", str(tcsv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    code = proc.wait(timeout=300)
    assert first.startswith(b"predictions")
    assert code == EXIT_BROKEN_PIPE, err
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception" not in err


def test_user_warnings_become_messages_and_other_filters_stay(capsys):
    """A UserWarning inside a handler is printed as a CLI warning (no path, no line); a
    DeprecationWarning keeps the filters in force (an error under pytest: exit 4)."""
    from bayes_scaling.cli.common import EXIT_INTERNAL

    def user(args):
        warnings.warn("look out", UserWarning, stacklevel=1)
        return 0

    def deprecated(args):
        warnings.warn("old", DeprecationWarning, stacklevel=1)
        return 0

    assert run_handler(user, None) == 0
    assert capsys.readouterr().err == "bayes-scaling: warning: look out\n"
    assert run_handler(deprecated, None) == EXIT_INTERNAL
    assert "DeprecationWarning" in capsys.readouterr().err
