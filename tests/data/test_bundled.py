"""The tables shipped in the package: equal to a fresh parse of the raw files, used offline."""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest

from bayes_scaling.data import (
    GADRE2024_TASKS_17,
    GADRE2024_TASKS_46,
    data_hash,
    gadre2024_task_metadata,
    load_dataset,
    load_gadre2024,
    load_gadre2024_tasks,
    registry,
)
from bayes_scaling.data.bundle import BUNDLED_DIR, load_bundled


def test_shipped_files_exist_with_notice() -> None:
    notice = (BUNDLED_DIR / "NOTICE_gadre2024.txt").read_text(encoding="utf-8")
    assert "MIT License" in notice
    assert "github.com/mlfoundations/scaling" in notice
    assert registry.dataset_info("gadre2024").commit in notice
    # a ~150 kB table, not a copy of the 209 raw files
    assert (BUNDLED_DIR / "gadre2024_runs.csv").stat().st_size < 300_000


def test_shipped_runs_equal_the_raw_parse(shared_data: Path) -> None:
    raw = load_gadre2024(shared_data / "gadre2024")
    shipped = load_bundled("gadre2024")
    # exact: the floats were written with repr() and read back bit for bit
    pd.testing.assert_frame_equal(shipped, raw, check_exact=True)
    assert data_hash(shipped) == data_hash(raw)


def test_shipped_tasks_equal_the_raw_parse(shared_data: Path) -> None:
    raw = load_gadre2024_tasks(shared_data / "gadre2024")
    pd.testing.assert_frame_equal(gadre2024_task_metadata(), raw, check_exact=True)


def test_task_metadata() -> None:
    tasks = gadre2024_task_metadata()
    assert tasks["task"].tolist() == list(GADRE2024_TASKS_46)
    assert set(tasks.loc[tasks["in_avg17"], "task"]) == set(GADRE2024_TASKS_17)
    assert tasks["chance_error"].between(0, 1).all()
    assert (tasks["n_items"] > 0).all()
    row = tasks.set_index("task").loc["copa"]
    assert (row["chance_error"], row["n_items"], row["shots"]) == (0.5, 100, 0)


def test_load_dataset_uses_the_shipped_table_offline(
    no_data_dir: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_dataset tried to open a socket")

    monkeypatch.setattr(socket, "create_connection", no_network)
    runs = load_dataset("gadre2024")
    assert len(runs) == 104
    assert runs.groupby("dataset").size().to_dict() == {
        "c4_original": 34, "rpj": 35, "rw_original": 35}
    assert runs["n_params"].dtype == "int64"


def test_a_missing_data_dir_falls_back_to_the_shipped_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(registry.DATA_DIR_ENV, str(tmp_path / "does_not_exist"))
    assert len(load_dataset("gadre2024")) == 104


def test_raw_true_never_uses_the_shipped_table(no_data_dir: None) -> None:
    with pytest.raises(registry.DatasetError, match="download=False"):
        load_dataset("gadre2024", raw=True, download=False)


def test_epoch_points_are_not_shipped(no_data_dir: None) -> None:
    with pytest.raises(registry.DatasetError, match="download=False"):
        load_dataset("chinchilla_epoch", download=False)
