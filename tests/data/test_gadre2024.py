"""The gadre2024 reader: raw-format parsing (fake folder) and the paper's numbers (real data)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import (
    GADRE2024_EVAL_SETS,
    GADRE2024_TASKS_17,
    GADRE2024_TASKS_46,
    RunsError,
    check_design,
    load_dataset,
    load_gadre2024,
    validate_runs,
)

MODEL = "models/rpj-d=96_l=8_h=4-1.0.json"
EVAL = "evals/evaluation_rpj-d=96_l=8_h=4-1.0_heavy.json"


def _edit(path: Path, change: Callable[[dict[str, Any]], object]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_fake_folder_parses(fake_gadre: Path) -> None:
    runs = load_gadre2024(fake_gadre)
    assert len(runs) == 2
    for eval_set in GADRE2024_EVAL_SETS:
        assert f"loss_{eval_set}" in runs.columns
    row = runs.iloc[0]
    assert row["loss_openlm"] == 4.0
    assert row["loss_openlm_ci"] == pytest.approx(0.01)
    assert row["loss_openlm_ci_seq"] == pytest.approx(0.03)
    assert row["tokens_per_param"] == 20.0
    assert row["arch"] == "d=96_l=8_h=4"
    errs = [1 - (0.25 + (k % 10) / 20) for k in range(46)]
    assert row["err_avg46"] == pytest.approx(np.mean(errs))
    subset = [errs[GADRE2024_TASKS_46.index(t)] for t in GADRE2024_TASKS_17]
    assert row["err_avg17"] == pytest.approx(np.mean(subset))
    validate_runs(runs)


def test_malformed_model_json_names_the_file(fake_gadre: Path) -> None:
    (fake_gadre / MODEL).write_text('{"name": "rpj-d=96_l=8_h=4-1.0", "hyperpar')
    with pytest.raises(RunsError, match=r"rpj-d=96_l=8_h=4-1\.0\.json: malformed JSON"):
        load_gadre2024(fake_gadre)


def test_malformed_eval_json_names_the_file(fake_gadre: Path) -> None:
    (fake_gadre / EVAL).write_text("[1, 2,")
    with pytest.raises(RunsError, match=r"_heavy\.json: malformed JSON.*Fix: restore"):
        load_gadre2024(fake_gadre)


def test_missing_eval_file(fake_gadre: Path) -> None:
    (fake_gadre / EVAL).unlink()
    with pytest.raises(RunsError, match=r"_heavy\.json: file is missing"):
        load_gadre2024(fake_gadre)


def test_missing_key(fake_gadre: Path) -> None:
    _edit(fake_gadre / MODEL, lambda d: d["hyperparameters"].pop("params"))
    with pytest.raises(RunsError, match=r"1\.0\.json: missing key 'hyperparameters\.params'"):
        load_gadre2024(fake_gadre)


def test_non_numeric_loss(fake_gadre: Path) -> None:
    _edit(fake_gadre / MODEL, lambda d: d["results"][1].update(loss="NaN"))
    with pytest.raises(RunsError, match=r"'c4_val\.loss' is 'NaN', not a finite number"):
        load_gadre2024(fake_gadre)


def test_tokens_inconsistent_with_multiplier(fake_gadre: Path) -> None:
    _edit(fake_gadre / MODEL, lambda d: d["hyperparameters"].update(chinchilla_multiplier=2.0))
    with pytest.raises(RunsError, match=r"tokens .* != 20 x chinchilla_multiplier"):
        load_gadre2024(fake_gadre)


def test_unknown_or_missing_eval_set(fake_gadre: Path) -> None:
    _edit(fake_gadre / MODEL, lambda d: d["results"][0].update(val_data=["x/new_set/0.tar"]))
    with pytest.raises(RunsError, match="unknown eval set in val_data 'x/new_set/0.tar'"):
        load_gadre2024(fake_gadre)
    _edit(fake_gadre / MODEL, lambda d: d["results"].pop(0))
    with pytest.raises(RunsError, match="no results for eval set"):
        load_gadre2024(fake_gadre)


def test_missing_task_or_bad_accuracy(fake_gadre: Path) -> None:
    _edit(fake_gadre / EVAL, lambda d: d["eval_metrics"]["icl"].update(boolq=1.7))
    with pytest.raises(RunsError, match="accuracy of 'boolq' is 1.7"):
        load_gadre2024(fake_gadre)
    _edit(fake_gadre / EVAL, lambda d: d["eval_metrics"]["icl"].pop("boolq"))
    with pytest.raises(RunsError, match="no accuracy for task.*boolq"):
        load_gadre2024(fake_gadre)


def test_not_a_gadre_folder(tmp_path: Path) -> None:
    with pytest.raises(RunsError, match="no 'models' folder"):
        load_gadre2024(tmp_path)


# --- the real data ----------------------------------------------------------------------------


@pytest.fixture
def gadre(shared_data: Path) -> pd.DataFrame:
    return load_dataset("gadre2024", data_dir=shared_data, download=False)


def test_gadre_counts_and_sizes(gadre: pd.DataFrame) -> None:
    assert len(gadre) == 104
    assert gadre.groupby("dataset").size().to_dict() == {
        "c4_original": 34, "rpj": 35, "rw_original": 35,
    }
    assert set(gadre["n_params"]) == {
        10569312, 78914048, 153677376, 411616256, 1439795200, 6889410560,
    }
    assert gadre["n_params"].dtype == np.int64
    assert sorted(gadre["tokens_per_param"].unique()) == [5, 10, 20, 40, 80, 160, 320, 640]
    np.testing.assert_array_equal(gadre["n_tokens"], gadre["tokens_per_param"] * gadre["n_params"])
    np.testing.assert_allclose(
        gadre["compute_flops"], 6 * gadre["n_params"] * gadre["n_tokens"], rtol=1e-15
    )
    assert gadre["run_id"].is_unique
    validate_runs(gadre)
    assert check_design(gadre) == ()


def test_gadre_paper_numbers(gadre: pd.DataFrame) -> None:
    row = gadre.set_index("run_id").loc["rpj-open_lm_1b-32.0"]
    assert (row["dataset"], row["n_params"], row["tokens_per_param"]) == ("rpj", 1439795200, 640)
    assert round(row["loss_c4_val"], 3) == 2.502
    assert round(row["err_avg17"], 4) == 0.4752
    # err_avg17 / err_avg46 are plain means of the per-task errors.
    np.testing.assert_allclose(
        gadre["err_avg17"], gadre[[f"err_{t}" for t in GADRE2024_TASKS_17]].mean(axis=1)
    )
    np.testing.assert_allclose(
        gadre["err_avg46"], gadre[[f"err_{t}" for t in GADRE2024_TASKS_46]].mean(axis=1)
    )


def test_gadre_paper_design(gadre: pd.DataFrame) -> None:
    # Each corpus: 1.4B at M=20 and at its largest M, 6.9B at M=20 (README / paper).
    big = gadre[gadre["n_params"] > 1e9]
    largest = {"c4_original": 80, "rpj": 640, "rw_original": 320}
    for name, group in big.groupby("dataset"):
        pairs = set(zip(group["n_params"], group["tokens_per_param"], strict=True))
        assert pairs == {(1439795200, 20), (1439795200, largest[name]), (6889410560, 20)}
    # The paper's 5 fitting runs exist for every corpus.
    small = gadre[(gadre["n_params"] < 5e8) & (gadre["tokens_per_param"] == 20)]
    assert small.groupby("dataset").size().tolist() == [4, 4, 4]


def test_gadre_columns(gadre: pd.DataFrame) -> None:
    expected = {
        "loss_openlm", "loss_c4_val", "loss_paloma_c4_en",
        "loss_paloma_dolma_100_programing_languages", "loss_paloma_falcon_refinedweb",
        "loss_paloma_ptb", "loss_paloma_redpajama", "loss_de_en",
    }
    losses = {c for c in gadre.columns if c.startswith("loss_") and "_ci" not in c}
    assert losses == expected
    for column in expected:
        assert (gadre[column + "_ci"] > 0).all()
        assert (gadre[column + "_ci_seq"] > 0).all()
    assert len([c for c in gadre.columns if c.startswith("err_")]) == 46 + 2
