"""load_runs: mapping user tables onto the schema, and rejecting bad ones (incl. property tests)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_scaling.data import RunsError, load_runs, validate_runs

# No example database: tests must not write into the repository.
FAST = settings(
    max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def user_table(n_rows: int = 4) -> pd.DataFrame:
    n = np.geomspace(1e7, 1e9, n_rows).round()
    return pd.DataFrame(
        {
            "N": n,
            "D": n * np.linspace(5, 320, n_rows),
            "val_loss": np.linspace(4.0, 2.5, n_rows),
            "model": [f"m{i}" for i in range(n_rows)],
        }
    )


def test_maps_and_derives_from_tokens() -> None:
    table = user_table()
    runs = load_runs(table, params="N", tokens="D", loss="val_loss")
    assert runs.columns[:6].tolist() == [
        "run_id", "dataset", "n_params", "n_tokens", "tokens_per_param", "compute_flops"
    ]
    assert runs["n_params"].dtype == np.int64
    assert runs["n_tokens"].dtype == np.float64
    np.testing.assert_allclose(runs["compute_flops"], 6 * table["N"] * table["D"], rtol=1e-15)
    np.testing.assert_allclose(runs["tokens_per_param"], table["D"] / table["N"], rtol=1e-15)
    assert runs["loss_val"].tolist() == table["val_loss"].tolist()
    assert runs["model"].tolist() == table["model"].tolist()  # extra columns kept
    assert runs["dataset"].unique().tolist() == ["runs"]
    assert runs["run_id"].is_unique
    validate_runs(runs)
    assert "N" in table.columns  # the input is not modified


def test_derives_tokens_from_compute() -> None:
    table = user_table().assign(C=lambda t: 6 * t["N"] * t["D"]).drop(columns="D")
    runs = load_runs(table, params="N", compute="C", loss={"val_loss": "c4_val"})
    np.testing.assert_allclose(runs["n_tokens"], user_table()["D"], rtol=1e-12)
    assert "loss_c4_val" in runs.columns


@pytest.mark.parametrize(
    ("loss", "column"),
    [("val_loss", "loss_val"), ("loss", "loss"), ("loss_c4_val", "loss_c4_val"),
     ("C4 Loss", "loss_c4")],
)
def test_loss_column_names(loss: str, column: str) -> None:
    table = user_table().rename(columns={"val_loss": loss})
    assert column in load_runs(table, params="N", tokens="D", loss=loss).columns


def test_extra_mapping_dataset_and_run_id() -> None:
    table = user_table().assign(avg=[0.7, 0.6, 0.5, 0.4], corpus="c4", name=[1, 2, 3, 4])
    runs = load_runs(
        table, params="N", tokens="D", loss="val_loss", dataset="corpus", run_id="name",
        err_avg17="avg",
    )
    assert runs["err_avg17"].tolist() == [0.7, 0.6, 0.5, 0.4]
    assert runs["run_id"].tolist() == ["1", "2", "3", "4"]
    assert set(runs["dataset"]) == {"c4"}


def test_canonical_csv_round_trip(tmp_path: Path) -> None:
    runs = load_runs(user_table(), params="N", tokens="D", loss="val_loss")
    path = tmp_path / "canonical.csv"
    runs.to_csv(path, index=False)
    again = load_runs(path)
    pd.testing.assert_frame_equal(again, runs, check_dtype=False)


def test_default_dataset_is_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "My Runs.csv"
    user_table().to_csv(path, index=False)
    runs = load_runs(path, params="N", tokens="D")
    assert set(runs["dataset"]) == {"my_runs"}


def test_tsv_is_read(tmp_path: Path) -> None:
    path = tmp_path / "runs.tsv"
    user_table().to_csv(path, index=False, sep="\t")
    assert len(load_runs(path, params="N", tokens="D")) == 4


def test_rounds_fractional_parameter_counts() -> None:
    table = user_table().assign(N=lambda t: t["N"] + 0.3)
    runs = load_runs(table, params="N", tokens="D")
    assert (runs["n_params"] == user_table()["N"].astype(np.int64)).all()


# --- bad input --------------------------------------------------------------------------------


def test_mapped_column_missing_suggests_names() -> None:
    with pytest.raises(RunsError, match=r"'n' \(for n_params\).*close matches: 'N'") as info:
        load_runs(user_table(), params="n", tokens="D")
    assert "The table has: 'N', 'D'" in str(info.value)


def test_no_tokens_and_no_compute() -> None:
    with pytest.raises(RunsError, match="no training tokens or compute.*tokens="):
        load_runs(user_table(), params="N")


def test_mapped_column_collides_with_existing_canonical_column() -> None:
    table = user_table().assign(n_params=1e8)
    with pytest.raises(RunsError, match="has a column 'n_params' and you also mapped 'N'"):
        load_runs(table, params="N", tokens="D")


def test_one_source_column_mapped_twice() -> None:
    with pytest.raises(RunsError, match="'D' is mapped to several canonical columns"):
        load_runs(user_table(), params="N", tokens="D", compute="D")


def test_error_names_the_users_column() -> None:
    table = user_table()
    table.loc[2, "D"] = -5.0
    with pytest.raises(RunsError) as info:
        load_runs(table, params="N", tokens="D", loss="val_loss")
    assert "column 'n_tokens' (from your column 'D')" in str(info.value)
    assert "row 2 (run_id 'runs-2')" in str(info.value)


def test_text_in_numeric_source_column() -> None:
    table = user_table().astype({"N": object})
    table.loc[1, "N"] = "1.4B"
    with pytest.raises(RunsError, match=r"from your column 'N'\) is not numeric.*'1.4B'"):
        load_runs(table, params="N", tokens="D")


def test_percent_errors_are_rejected() -> None:
    table = user_table().assign(acc_err=[70.0, 60.0, 50.0, 40.0])
    with pytest.raises(RunsError, match=r"err_avg46.*outside \[0, 1\].*not a percentage"):
        load_runs(table, params="N", tokens="D", err_avg46="acc_err")


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "runs.xlsx"
    path.write_bytes(b"not really")
    with pytest.raises(RunsError, match=r"unsupported file type '.xlsx'"):
        load_runs(path, params="N", tokens="D")


def test_empty_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(RunsError, match="empty.csv: cannot parse"):
        load_runs(path, params="N", tokens="D")


def test_missing_file() -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_runs("/nonexistent/nope.csv", params="N", tokens="D")


def test_wrong_source_type() -> None:
    with pytest.raises(RunsError, match="file path or a pandas DataFrame"):
        load_runs(42, params="N", tokens="D")  # type: ignore[arg-type]


# --- properties -------------------------------------------------------------------------------


@st.composite
def valid_tables(draw: st.DrawFn) -> pd.DataFrame:
    n_rows = draw(st.integers(1, 12))
    # N >= 1e6 and M >= 1 keep D above the schema's 1e6-token floor.
    sizes = st.floats(1e6, 1e11, allow_nan=False)
    ratios = st.floats(1.0, 1e4, allow_nan=False)
    n = np.array(draw(st.lists(sizes, min_size=n_rows, max_size=n_rows))).round()
    m = np.array(draw(st.lists(ratios, min_size=n_rows, max_size=n_rows)))
    # nats per token; a table whose every loss is above 6 would warn that it looks like
    # perplexity (data/units.py)
    losses = draw(st.lists(st.floats(1.5, 6.0), min_size=n_rows, max_size=n_rows))
    # Distinct configurations: the schema rejects two rows of one (dataset, N, D).
    table = pd.DataFrame({"N": n, "D": n * m, "loss": losses})
    table = table.drop_duplicates(subset=["N", "D"], ignore_index=True)
    return table.assign(name=[f"run{i}" for i in range(len(table))])


def _write(table: pd.DataFrame, folder: str) -> Path:
    path = Path(folder) / "runs.csv"
    table.to_csv(path, index=False)
    return path


@FAST
@given(table=valid_tables())
def test_property_valid_csv_loads_and_derives(table: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        runs = load_runs(_write(table, folder), params="N", tokens="D", loss="loss", run_id="name")
    assert len(runs) == len(table)
    np.testing.assert_allclose(runs["tokens_per_param"], runs["n_tokens"] / runs["n_params"])
    np.testing.assert_allclose(
        runs["compute_flops"], 6 * runs["n_params"] * runs["n_tokens"], rtol=1e-12
    )


@FAST
@given(
    table=valid_tables(),
    column=st.sampled_from(["N", "D", "loss"]),
    bad=st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, -1e9]),
    data=st.data(),
)
def test_property_injected_bad_value_names_its_row(
    table: pd.DataFrame, column: str, bad: float, data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, len(table) - 1), label="row")
    table.loc[row, column] = bad
    with tempfile.TemporaryDirectory() as folder:
        path = _write(table, folder)
        with pytest.raises(RunsError) as info:
            load_runs(path, params="N", tokens="D", loss="loss", run_id="name")
    message = str(info.value)
    # a mapped column is named as the user wrote it; 'loss' keeps its name
    assert (f"column '{column}'" if column == "loss" else f"from your column '{column}'") in message
    assert f"row {row} (run_id 'run{row}')" in message
    assert row in info.value.rows
    assert "Fix:" in message


@FAST
@given(table=valid_tables(), data=st.data())
def test_property_sizes_in_billions_name_their_row(
    table: pd.DataFrame, data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, len(table) - 1), label="row")
    table.loc[row, "N"] = data.draw(st.floats(0.001, 9999.0), label="billions")
    with tempfile.TemporaryDirectory() as folder:
        path = _write(table, folder)
        with pytest.raises(RunsError, match="looks like millions or billions") as info:
            load_runs(path, params="N", tokens="D", loss="loss", run_id="name")
    assert f"row {row} (run_id 'run{row}')" in str(info.value)
