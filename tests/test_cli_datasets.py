"""`bayes-scaling datasets`: listing, summaries, and exit codes on bad input."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.cli import build_parser, main
from bayes_scaling.data import registry


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Private empty cache, and any download attempt off this machine fails the test."""
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(registry.DATA_URL_ENV, raising=False)

    def refuse(url: str, timeout: float) -> bytes:
        host = urllib.parse.urlsplit(url).hostname
        raise AssertionError(f"CLI test tried to download {url} (host {host})")

    monkeypatch.setattr(registry, "_fetch", refuse)


def _csv(tmp_path: Path, **columns: list[object]) -> Path:
    path = tmp_path / "runs.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


def test_lists_registered_datasets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "gadre2024" in out and "chinchilla_epoch" in out
    assert "mlfoundations/scaling @ a003c49" in out


def test_summary_of_a_runs_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv(
        tmp_path, N=[1e7, 1e8, 1e8], D=[2e8, 2e9, 8e9], loss=[4.0, 3.4, 3.2],
        corpus=["a", "a", "b"],
    )
    argv = ["datasets", "--summary", str(path), "--params", "N", "--tokens", "D", "--loss", "loss"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "runs.csv: 3 runs in 1 dataset" in out
    assert "1e+07 .. 1e+08" in out and "20 .. 80" in out
    assert "loss columns (1): loss" in out
    assert "data hash: " in out


def test_bad_runs_file_exits_1_with_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(tmp_path, N=[1e7, float("nan")], D=[2e8, 2e9])
    assert main(["datasets", "--summary", str(path), "--params", "N", "--tokens", "D"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bayes-scaling: error:" in captured.err
    assert "from your column 'N'" in captured.err and "row 1" in captured.err


def test_unmapped_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _csv(tmp_path, N=[1e7], D=[2e8])
    assert main(["datasets", "--summary", str(path)]) == 1
    assert "no training tokens or compute" in capsys.readouterr().err


def test_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--summary", str(tmp_path / "nope.csv")]) == 1
    assert "nope.csv" in capsys.readouterr().err


def test_unknown_dataset_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--summary", "gadre"]) == 1
    assert "--summary 'gadre': unknown dataset" in capsys.readouterr().err


def test_offline_without_local_data_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)
    assert main(["datasets", "--summary", "chinchilla_epoch", "--offline"]) == 1
    assert "download=False" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "--help"]) == 0
    assert "--summary" in capsys.readouterr().out


def test_parser_has_subcommands() -> None:
    args = build_parser().parse_args(["datasets", "--summary", "gadre2024", "--offline"])
    assert (args.command, args.summary, args.offline) == ("datasets", "gadre2024", True)


def test_summary_of_gadre2024(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the shipped table: no data folder, no network
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)
    assert main(["datasets", "--summary", "gadre2024", "--offline"]) == 0
    out = capsys.readouterr().out
    assert "gadre2024: 104 runs in 3 datasets" in out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:5]}
    assert lines["c4_original"][1] == "34"
    assert lines["rpj"][1:3] == ["35", "6"]
    assert "loss columns (8): loss_openlm, loss_c4_val," in out
    assert "46 per-task err_<task>; averages: err_avg17, err_avg46" in out


def test_a_plain_csv_needs_no_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`n_params,n_tokens,loss`: summarised as is, the loss column keeps its name."""
    path = _csv(tmp_path, n_params=[1e7, 1e8, 4e8], n_tokens=[2e8, 2e9, 8e9],
                loss=[4.0, 3.4, 3.2])
    assert main(["datasets", "--summary", str(path)]) == 0
    assert "loss columns (1): loss\n" in capsys.readouterr().out
