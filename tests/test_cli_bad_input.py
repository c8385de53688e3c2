"""The CLI on bad input: a one-line message naming the argument, the value and the fix; the
documented exit code; no traceback; nothing written; no code run from a user string."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.cli import EXIT_INPUT, EXIT_INTERNAL, EXIT_USAGE, main
from bayes_scaling.cli import common as cli_common
from bayes_scaling.cli import outputs as cli_outputs
from bayes_scaling.data import registry
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(registry.DATA_URL_ENV, raising=False)
    monkeypatch.delenv("BAYES_SCALING_DEBUG", raising=False)

    def refuse(url: str, timeout: float) -> bytes:
        raise AssertionError(f"tried to download {url} ({urllib.parse.urlsplit(url).hostname})")

    monkeypatch.setattr(registry, "_fetch", refuse)


@pytest.fixture
def runs_csv(sim_runs, tmp_path) -> Path:
    path = tmp_path / "runs.csv"
    sim_runs.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def saved(sim_runs, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "fit.nc"
    fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", seed=0).save(path)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def _input_error(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    """Exit 1 with one ``bayes-scaling: error:`` line holding every needle and a fix."""
    code, err = _run(argv, capsys)
    assert code == EXIT_INPUT, err
    lines = [line for line in err.splitlines() if line.startswith("bayes-scaling: error:")]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Fix:" in lines[0] or "fix" in lines[0].lower(), lines[0]
    return lines[0]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ------------------------------------------------------------------ output locations, before fits


@pytest.mark.parametrize("command", ["fit", "report"])
def test_a_folder_as_out_is_refused_before_any_work(command, runs_csv, tmp_path, capsys):
    folder = tmp_path / "outdir"
    folder.mkdir()
    _input_error([command, str(runs_csv), "--out", str(folder)], capsys, "--out", "is a folder")
    assert _files(folder) == []


def test_predict_out_folder_and_missing_parent(saved, tmp_path, capsys):
    _input_error(["predict", str(saved), "--target", "1B:20B", "--out", str(tmp_path)], capsys,
                 "--out", "is a folder")
    _input_error(["predict", str(saved), "--target", "1B:20B", "--out",
                  str(tmp_path / "no" / "p.csv")], capsys, "--out", "does not exist")


def test_fit_error_without_error_out_writes_nothing(runs_csv, tmp_path, capsys):
    out = tmp_path / "f.nc"
    _input_error(["fit", str(runs_csv), "--out", str(out), "--error", "err_avg17"], capsys,
                 "--error", "--error-out")
    assert not out.exists()


def test_fit_unknown_error_column_writes_nothing(runs_csv, tmp_path, capsys):
    out, err_out = tmp_path / "f.nc", tmp_path / "e.nc"
    _input_error(["fit", str(runs_csv), "--out", str(out), "--error", "err_nope",
                  "--error-out", str(err_out)], capsys, "--error", "err_nope")
    assert not out.exists() and not err_out.exists()


def test_fit_error_out_without_error_and_same_file(runs_csv, tmp_path, capsys):
    out = tmp_path / "f.nc"
    _input_error(["fit", str(runs_csv), "--out", str(out), "--error-out", str(tmp_path / "e.nc")],
                 capsys, "--error-out", "without --error")
    _input_error(["fit", str(runs_csv), "--out", str(out), "--error", "err_x", "--error-out",
                  str(out)], capsys, "--error-out", "also given as --out")


def test_fit_out_suffix(runs_csv, tmp_path, capsys):
    _input_error(["fit", str(runs_csv), "--out", str(tmp_path / "f.csv")], capsys,
                 "--out", ".nc")


def test_report_csv_dir_that_is_a_file_writes_no_html(runs_csv, tmp_path, capsys):
    html, blocker = tmp_path / "r.html", tmp_path / "tables"
    blocker.write_text("a file where a folder is needed")
    _input_error(["report", str(runs_csv), "--out", str(html), "--csv-dir", str(blocker)],
                 capsys, "--csv-dir", "is an existing file")
    assert not html.exists()


def test_report_needs_an_output_and_right_suffixes(runs_csv, tmp_path, capsys):
    _input_error(["report", str(runs_csv)], capsys, "nothing to write")
    _input_error(["report", str(runs_csv), "--markdown", str(tmp_path / "r.html")], capsys,
                 "--markdown", ".md")


def test_backtest_outputs_checked(runs_csv, tmp_path, capsys):
    _input_error(["backtest", str(runs_csv), "--out", str(tmp_path)], capsys, "--out")
    _input_error(["backtest", str(runs_csv), "--protocol", "paper", "--cutoff-flops", "1e20"],
                 capsys, "--cutoff-flops", "compute_cutoff")


# ------------------------------------------------------------------------------------- inputs


def test_a_folder_as_targets_csv(saved, tmp_path, capsys):
    _input_error(["predict", str(saved), "--targets-csv", str(tmp_path)], capsys,
                 "--targets-csv", "is a folder")


def test_targets_csv_with_strings_names_the_column(saved, tmp_path, capsys):
    path = tmp_path / "t.csv"
    pd.DataFrame({"n_params": ["1.4B"], "n_tokens": [2.9e10]}).to_csv(path, index=False)
    code, err = _run(["predict", str(saved), "--targets-csv", str(path)], capsys)
    assert code == EXIT_INPUT and "n_params" in err


def test_missing_and_folder_inputs(saved, tmp_path, capsys):
    _input_error(["predict", str(tmp_path / "none.nc"), "--target", "1B:20B"], capsys,
                 "FIT.nc", "no such file")
    _input_error(["predict", str(tmp_path), "--target", "1B:20B"], capsys, "FIT.nc",
                 "is a folder")
    _input_error(["predict", str(saved), "--error-fit", str(tmp_path / "e.nc"), "--target",
                  "1B:20B"], capsys, "--error-fit", "no such file")
    folder_csv = tmp_path / "runs.csv"
    folder_csv.mkdir()
    _input_error(["datasets", "--summary", str(folder_csv)], capsys, "--summary", "is a folder")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path, capsys):
    path = tmp_path / "runs.csv"
    path.write_text("n_params,n_tokens,loss\n1e8,2e9,3.1\n")
    path.chmod(0)
    try:
        _input_error(["datasets", "--summary", str(path)], capsys, "--summary", "cannot be read")
    finally:
        path.chmod(0o600)


def test_junk_fit_file(tmp_path, capsys):
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    code, err = _run(["predict", str(junk), "--target", "1B:20B"], capsys)
    assert code == EXIT_INPUT and "junk.nc" in err


def test_semicolon_csv_and_unknown_suffix(tmp_path, capsys):
    semi = tmp_path / "semi.csv"
    semi.write_text("n_params;n_tokens;loss\n1e8;2e9;3.1\n4e8;8e9;2.9\n")
    code, err = _run(["datasets", "--summary", str(semi)], capsys)
    assert code == EXIT_INPUT and "semi.csv" in err
    txt = tmp_path / "runs.txt"
    txt.write_text("x")
    code, err = _run(["datasets", "--summary", str(txt)], capsys)
    assert code == EXIT_INPUT and ".txt" in err


def test_unknown_loss_column(runs_csv, tmp_path, capsys):
    _input_error(["fit", str(runs_csv), "--out", str(tmp_path / "f.nc"), "--loss", "nope"],
                 capsys, "nope")
    assert not (tmp_path / "f.nc").exists()


def test_query_probability_needs_a_threshold_and_the_error_fit(saved, capsys):
    _input_error(["query", "probability", str(saved), "--target", "1B:20B"], capsys, "--below")
    _input_error(["query", "probability", str(saved), "--target", "1B:20B", "--below", "3",
                  "--quantity", "error"], capsys, "--error-fit")


def test_compute_to_target_without_tokens_per_param_uses_20(saved, capsys):
    code, err = _run(["query", "compute-to-target", str(saved), "--reach", "2.5"], capsys)
    assert code == 0, err
    _input_error(["query", "compute-to-target", str(saved), "--reach", "-1"], capsys,
                 "--reach", "-1")


# -------------------------------------------------------------------------- the run filter


def test_query_syntax_error_names_the_option(runs_csv, tmp_path, capsys):
    for command in ("fit", "backtest"):
        out = tmp_path / ("f.nc" if command == "fit" else "b.csv")
        _input_error([command, str(runs_csv), "--query", "n_params <", "--out", str(out)],
                     capsys, "--query", "n_params <")
        assert not out.exists()


@pytest.mark.parametrize("expr", [
    "@pd.io.common.os.system('touch {marker}') > 0",
    "n_params.__class__.__init__.__globals__ == 0",
])
@pytest.mark.parametrize("command", ["fit", "backtest", "report"])
def test_hostile_query_runs_nothing(command, expr, runs_csv, tmp_path, capsys):
    marker = tmp_path / "MARKER"
    out = tmp_path / {"fit": "f.nc", "backtest": "b.csv", "report": "r.html"}[command]
    _input_error([command, str(runs_csv), "--query", expr.format(marker=marker), "--out",
                  str(out)], capsys, "--query")
    assert not marker.exists() and not out.exists()


def test_a_query_that_keeps_nothing(runs_csv, tmp_path, capsys):
    _input_error(["fit", str(runs_csv), "--query", "n_params > 1e15", "--out",
                  str(tmp_path / "f.nc")], capsys, "--query", "keeps none")


# --------------------------------------------------------------------- command-line errors


@pytest.mark.parametrize("argv", [
    ["fit", "x.csv", "--out", "f.nc", "--seed", "99999999999999999999999"],
    ["fit", "x.csv", "--out", "f.nc", "--seed", "-1"],
    ["fit", "x.csv", "--out", "f.nc", "--seed", "1.7"],
    ["fit", "x.csv", "--out", "f.nc", "--chains", "0"],
    ["fit", "x.csv", "--out", "f.nc", "--warmup", "-5"],
    ["fit", "x.csv", "--out", "f.nc", "--target-accept", "1.5"],
    ["fit", "x.csv", "--out", "f.nc", "--law", "nope"],
    ["fit", "x.csv"],
    ["predict", "f.nc", "--target", "1B"],
    ["predict", "f.nc", "--target", "1B:-3"],
    ["predict", "f.nc", "--target", "1B:20B", "--ci-prob", "1.5"],
    ["predict", "f.nc", "--target", "1B:20B", "--kind", "observed"],
    ["query", "probability", "f.nc", "--target", "1B:20B", "--below", "nan"],
    ["query", "optimal-allocation", "f.nc"],
    ["report", "gadre2024", "--threshold", "inf", "--out", "r.html"],
    ["nope"],
    [],
])
def test_usage_errors_exit_2_without_traceback(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "Traceback" not in err and "error:" in err


def test_seed_message_names_the_range(capsys):
    main(["fit", "x.csv", "--out", "f.nc", "--seed", "99999999999999999999999"])
    assert "[0, 4294967295]" in capsys.readouterr().err


def test_help_texts_have_no_format_leftovers(capsys):
    for argv in (["--help"], *([c, "--help"] for c in ("datasets", "fit", "predict", "query",
                                                      "backtest", "report"))):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "%%" not in out and "(targets=)" not in out and "exit codes:" in out


# ------------------------------------------------------------------------- the one handler


def test_a_bug_is_one_line_and_exit_4(monkeypatch, capsys):
    from bayes_scaling.cli import datasets

    def broken(args):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(datasets, "_cmd_datasets", broken)  # bound when main builds the parser
    code, err = _run(["datasets"], capsys)
    assert code == EXIT_INTERNAL and "internal error (TypeError" in err and "bug" in err


def test_interrupt_exits_130(monkeypatch, capsys):
    from bayes_scaling.cli import datasets

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "_cmd_datasets", interrupted)
    code, err = _run(["datasets"], capsys)
    assert code == 130 and "interrupted" in err


def test_os_errors_on_user_paths_are_messages(monkeypatch, capsys):
    from bayes_scaling.cli import datasets

    def denied(args):
        raise PermissionError(13, "Permission denied", "/some/file.csv")

    monkeypatch.setattr(datasets, "_cmd_datasets", denied)
    line = _input_error(["datasets"], capsys, "Permission denied", "/some/file.csv")
    assert "permissions" in line


# ----------------------------------------------------------------------------- staged writes


def test_staged_outputs_leave_nothing_on_failure(tmp_path):
    existing = tmp_path / "keep.csv"
    existing.write_text("old")
    with pytest.raises(RuntimeError), cli_outputs.staged_outputs() as stage:
        stage.path(existing).write_text("new")
        stage.path(tmp_path / "other.html").write_text("x")
        raise RuntimeError("second output failed")
    assert _files(tmp_path) == ["keep.csv"] and existing.read_text() == "old"


def test_staged_outputs_merge_into_an_existing_folder(tmp_path):
    tables = tmp_path / "tables"
    tables.mkdir()
    (tables / "old.csv").write_text("o")
    with cli_outputs.staged_outputs() as stage:
        staged = stage.path(tables)
        staged.mkdir()
        (staged / "new.csv").write_text("n")
    assert _files(tables) == ["new.csv", "old.csv"] and _files(tmp_path) == ["tables"]


# ------------------------------------------------------------------------------- fast start


def test_cli_import_loads_no_heavy_module():
    code = ("import sys, bayes_scaling.cli\n"
            "heavy = [m for m in ('jax', 'numpyro', 'arviz', 'matplotlib', 'pandas', 'numpy') "
            "if m in sys.modules]\n"
            "print(','.join(heavy))")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout.strip()
    assert out == ""


def test_cli_choices_match_the_library():
    from bayes_scaling.evaluate.splits import PROTOCOLS
    from bayes_scaling.laws.forms import LOSS_LAWS
    from bayes_scaling.models.core import NOISE_MODELS

    assert cli_common.LAW_CHOICES == tuple(sorted(LOSS_LAWS))
    assert cli_common.NOISE_CHOICES == tuple(NOISE_MODELS)
    assert cli_common.PROTOCOL_CHOICES == tuple(PROTOCOLS)
