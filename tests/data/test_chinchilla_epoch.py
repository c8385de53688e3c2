"""The chinchilla_epoch reader: Epoch's CSV to runs, and its main-fit flag."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import CHINCHILLA_LOSS, RunsError, load_chinchilla_epoch, load_dataset

HEADER = "x,y,color,Model Size,Training FLOP,hex_color,loss\n"


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "svg_extracted_data.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def fake_rows(k: int = 7) -> list[str]:
    return [
        f"1,2,#fff,{(i + 1) * 1.0e8 + 0.4},{(i + 1) ** 2 * 1.0e19},#fff,{2.0 + i / 4}"
        for i in range(k)
    ]


def test_fake_file(tmp_path: Path) -> None:
    runs = load_chinchilla_epoch(_csv(tmp_path, fake_rows()).parent)
    assert runs.columns.tolist() == [
        "run_id", "dataset", "n_params", "n_tokens", "tokens_per_param", "compute_flops",
        CHINCHILLA_LOSS, "in_main_fit",
    ]
    assert runs["n_params"].tolist() == [(i + 1) * 100_000_000 for i in range(7)]
    np.testing.assert_allclose(
        runs["n_tokens"], runs["compute_flops"] / (6 * runs["n_params"]), rtol=1e-15
    )
    # The 5 highest losses are out of the main fit.
    assert runs["in_main_fit"].tolist() == [True, True, False, False, False, False, False]


def test_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "svg_extracted_data.csv"
    path.write_text("Model Size,loss\n1e8,3.0\n")
    with pytest.raises(RunsError, match=r"missing column\(s\) \['Training FLOP'\]"):
        load_chinchilla_epoch(path)


def test_bad_value_names_row_and_source_column(tmp_path: Path) -> None:
    rows = fake_rows()
    rows[3] = rows[3].rsplit(",", 1)[0] + ",-2.5"
    with pytest.raises(RunsError) as info:
        load_chinchilla_epoch(_csv(tmp_path, rows))
    message = str(info.value)
    assert "from your column 'loss'" in message
    assert "row 3 (run_id 'chinchilla-003')" in message


def test_real_data(shared_data: Path) -> None:
    runs = load_dataset("chinchilla_epoch", data_dir=shared_data, download=False)
    assert len(runs) == 245
    assert int(runs["in_main_fit"].sum()) == 240
    raw = pd.read_csv(shared_data / "chinchilla_epoch" / "svg_extracted_data.csv")
    dropped = runs.loc[~runs["in_main_fit"], CHINCHILLA_LOSS]
    assert sorted(dropped) == sorted(raw["loss"].nlargest(5))
    np.testing.assert_allclose(runs["compute_flops"], raw["Training FLOP"], rtol=0)
    np.testing.assert_allclose(
        6 * runs["n_params"] * runs["n_tokens"], runs["compute_flops"], rtol=1e-12
    )
    assert (runs["dataset"] == "massivetext").all()
