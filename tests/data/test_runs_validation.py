"""Bad input to validate_runs: every error names the column, the row and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import RunsError, validate_runs


def good_runs() -> pd.DataFrame:
    n = np.array([10_000_000, 80_000_000, 150_000_000, 400_000_000], dtype=np.int64)
    d = n * 20.0
    return pd.DataFrame(
        {
            "run_id": ["a", "b", "c", "d"],
            "dataset": "rpj",
            "n_params": n,
            "n_tokens": d,
            "tokens_per_param": d / n,
            "compute_flops": 6.0 * n * d,
            "loss_c4_val": [4.0, 3.5, 3.2, 3.0],
            "loss_c4_val_ci": [0.01, 0.01, 0.01, 0.01],
            "err_avg17": [0.7, 0.65, 0.6, 0.55],
        }
    )


def test_good_runs_pass() -> None:
    validate_runs(good_runs())


def test_not_a_dataframe() -> None:
    with pytest.raises(RunsError, match="pandas DataFrame, got list"):
        validate_runs([{"n_params": 1e8}])  # type: ignore[arg-type]


def test_no_rows() -> None:
    with pytest.raises(RunsError, match="no rows"):
        validate_runs(good_runs().iloc[:0])


@pytest.mark.parametrize("column", ["run_id", "n_params", "n_tokens", "compute_flops"])
def test_missing_required_column(column: str) -> None:
    with pytest.raises(RunsError, match=f"missing required column.*'{column}'") as info:
        validate_runs(good_runs().drop(columns=column))
    assert info.value.column == column
    assert "load_runs" in str(info.value)


def test_missing_column_suggests_close_match() -> None:
    runs = good_runs().rename(columns={"n_params": "n_param"})
    with pytest.raises(RunsError, match="close matches: 'n_param'"):
        validate_runs(runs)


def test_required_can_be_narrowed() -> None:
    runs = good_runs()[["n_params", "n_tokens", "loss_c4_val"]]
    validate_runs(runs, required=("n_params", "n_tokens", "loss_c4_val"))


def test_duplicated_column_names() -> None:
    runs = pd.concat([good_runs(), good_runs()[["loss_c4_val"]]], axis=1)
    with pytest.raises(RunsError, match="duplicated column names.*loss_c4_val"):
        validate_runs(runs)


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("n_params", np.nan, "missing value"),
        ("n_tokens", np.inf, "infinite value"),
        ("loss_c4_val", np.nan, "missing value"),
        ("loss_c4_val", -np.inf, "infinite value"),
        ("err_avg17", np.nan, "missing value"),
        ("loss_c4_val_ci", np.inf, "infinite value"),
    ],
)
def test_non_finite_values_name_row_and_run(column: str, value: float, problem: str) -> None:
    runs = good_runs()
    runs[column] = runs[column].astype(float)
    runs.loc[2, column] = value
    with pytest.raises(RunsError, match=problem) as info:
        validate_runs(runs)
    message = str(info.value)
    assert f"column '{column}'" in message
    assert "row 2 (run_id 'c')" in message
    assert "Fix:" in message
    assert info.value.rows == (2,)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("n_params", 0),
        ("n_params", -80_000_000),
        ("n_tokens", -1.0),
        ("compute_flops", 0.0),
        ("tokens_per_param", -20.0),
        ("loss_c4_val", 0.0),
        ("loss_c4_val", -3.0),
    ],
)
def test_non_positive_values(column: str, value: float) -> None:
    runs = good_runs()
    runs[column] = runs[column].astype(float)
    runs.loc[1, column] = value
    if column != "tokens_per_param":
        # Keep the derived ratio consistent so the sign check is what fails.
        runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    with pytest.raises(RunsError, match=r"zero or negative value in row 1 \(run_id 'b'\)"):
        validate_runs(runs)


def test_negative_confidence_half_width() -> None:
    runs = good_runs()
    runs.loc[3, "loss_c4_val_ci"] = -0.01
    with pytest.raises(RunsError, match="negative confidence half-width in row 3"):
        validate_runs(runs)


@pytest.mark.parametrize("value", [-0.01, 1.5, 55.0])
def test_error_rate_outside_unit_interval(value: float) -> None:
    runs = good_runs()
    runs.loc[0, "err_avg17"] = value
    with pytest.raises(RunsError, match=r"outside \[0, 1\] in row 0 .*not a percentage"):
        validate_runs(runs)


def test_sizes_in_billions_are_rejected() -> None:
    runs = good_runs()
    runs["n_params"] = runs["n_params"] / 1e9
    runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    with pytest.raises(RunsError, match="looks like millions or billions") as info:
        validate_runs(runs)
    assert info.value.column == "n_params"
    assert "raw parameter counts" in str(info.value)


def test_tokens_in_billions_are_rejected() -> None:
    runs = good_runs()
    runs["n_tokens"] = runs["n_tokens"] / 1e9
    runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    with pytest.raises(RunsError, match="n_tokens.*looks like millions or billions"):
        validate_runs(runs)


def test_non_integer_parameter_count() -> None:
    runs = good_runs()
    runs["n_params"] = runs["n_params"].astype(float)
    runs.loc[1, "n_params"] += 0.5
    runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    with pytest.raises(RunsError, match="non-integer parameter count in row 1"):
        validate_runs(runs)


def test_inconsistent_tokens_per_param() -> None:
    runs = good_runs()
    runs.loc[2, "tokens_per_param"] = 40.0
    with pytest.raises(RunsError, match=r"tokens_per_param != n_tokens / n_params in row 2"):
        validate_runs(runs)


def test_non_numeric_text_in_numeric_column() -> None:
    runs = good_runs()
    runs["n_params"] = ["10M", "80M", "150M", "400M"]
    with pytest.raises(RunsError, match="not numeric.*'10M'.*not '1.4B'"):
        validate_runs(runs)


def test_boolean_loss_column() -> None:
    runs = good_runs()
    runs["loss_c4_val"] = True
    with pytest.raises(RunsError, match="booleans"):
        validate_runs(runs)


def test_duplicated_run_ids() -> None:
    runs = good_runs()
    runs.loc[3, "run_id"] = "a"
    with pytest.raises(RunsError, match="duplicated run ids") as info:
        validate_runs(runs)
    assert info.value.rows == (0, 3)


@pytest.mark.parametrize("column", ["run_id", "dataset"])
def test_missing_or_non_string_ids(column: str) -> None:
    runs = good_runs()
    runs[column] = runs[column].astype(object)
    runs.loc[1, column] = None
    with pytest.raises(RunsError, match=f"column '{column}': missing value in row 1"):
        validate_runs(runs)
    runs.loc[1, column] = 7
    with pytest.raises(RunsError, match="non-string value.*astype"):
        validate_runs(runs)


def test_reruns_with_different_values_are_replicates() -> None:
    """Two runs at one (dataset, N, D) that measured different losses are reruns: kept, each
    one observation, and described in words; without a seed column too."""
    from bayes_scaling.data.validation import describe_replicates

    runs = good_runs()
    for column in ("n_params", "n_tokens", "tokens_per_param", "compute_flops"):
        runs.loc[3, column] = runs.loc[2, column]
    assert runs.loc[3, "loss_c4_val"] != runs.loc[2, "loss_c4_val"]
    validate_runs(runs)
    notice = describe_replicates(runs)
    assert notice is not None and notice.startswith("2 runs are replicates")
    assert describe_replicates(good_runs()) is None


def test_reruns_with_a_copied_row_are_refused() -> None:
    runs = good_runs()
    rerun = runs.iloc[[2]].assign(run_id="c-rerun", loss_c4_val=3.21)
    copy = runs.iloc[[2]].assign(run_id="c-copy")
    with pytest.raises(RunsError, match="duplicate rows.*same measurements") as info:
        validate_runs(pd.concat([runs, rerun, copy], ignore_index=True))
    assert "c-copy" in str(info.value) and "c-rerun" not in str(info.value)


def test_same_configuration_duplicated() -> None:
    runs = good_runs()
    copy = runs.iloc[[2]].assign(run_id="c-copy")
    with pytest.raises(RunsError, match="duplicate rows"):
        validate_runs(pd.concat([runs, copy], ignore_index=True))


def test_seed_column_separates_repeated_runs() -> None:
    runs = good_runs()
    repeat = runs.iloc[[2]].assign(run_id="c-seed2", loss_c4_val=3.21)
    both = pd.concat([runs, repeat], ignore_index=True).assign(seed=[0, 0, 0, 0, 1])
    validate_runs(both)


def test_errors_show_index_labels_not_positions() -> None:
    runs = good_runs().set_index(pd.Index([10, 20, 30, 40]))
    runs.loc[30, "loss_c4_val"] = np.nan
    with pytest.raises(RunsError, match="row 30 "):
        validate_runs(runs)


def test_many_bad_rows_are_summarized() -> None:
    n = 12
    runs = pd.concat([good_runs()] * 3, ignore_index=True)
    runs["run_id"] = [f"r{i}" for i in range(n)]
    runs["n_tokens"] = runs["n_tokens"] * np.arange(1, n + 1)
    runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    runs["compute_flops"] = 6 * runs["n_params"] * runs["n_tokens"]
    runs["loss_c4_val"] = np.nan
    with pytest.raises(RunsError, match="and 7 more"):
        validate_runs(runs)
