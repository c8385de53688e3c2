"""check_design's identifiability warnings and data_hash's canonical form."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.data import (
    IdentifiabilityWarning,
    RunsError,
    check_design,
    data_hash,
    load_runs,
)


def runs_from(n: list[float], m: list[float]) -> pd.DataFrame:
    n_arr = np.array(n)
    table = pd.DataFrame({"N": n_arr, "D": n_arr * np.array(m), "loss": np.linspace(4, 3, len(n))})
    return load_runs(table, params="N", tokens="D", loss="loss")


def test_good_design_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_design(runs_from([1e7, 1e8, 1e7], [20, 20, 80])) == ()


def test_one_size_warns_alpha() -> None:
    with pytest.warns(IdentifiabilityWarning, match="'alpha'") as record:
        assert check_design(runs_from([1e8, 1e8], [20, 80])) == ("alpha",)
    assert len(record) == 1


def test_one_token_ratio_warns_beta() -> None:
    with pytest.warns(IdentifiabilityWarning, match="'beta'.*tokens-per-parameter"):
        assert check_design(runs_from([1e7, 1e8, 1e9], [20, 20, 20])) == ("beta",)


def test_one_ratio_is_fine_without_data_term() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_design(runs_from([1e7, 1e8], [20, 20]), data_term=False) == ()


def test_single_run_warns_both() -> None:
    with pytest.warns(IdentifiabilityWarning) as record:
        assert check_design(runs_from([1e8], [20])) == ("alpha", "beta")
    assert [str(w.message).split(":")[0] for w in record] == [
        "only 1 distinct model size (n_params)",
        "only 1 distinct token ratio (tokens_per_param)",
    ]


def test_warning_is_a_user_warning() -> None:
    assert issubclass(IdentifiabilityWarning, UserWarning)


def test_check_design_validates_input() -> None:
    with pytest.raises(RunsError, match="missing required column.*'n_params'"):
        check_design(pd.DataFrame({"n_tokens": [1e9]}))


def test_check_design_without_ratio_column() -> None:
    table = pd.DataFrame({"n_params": [1e7, 1e8], "n_tokens": [2e8, 2e9]})
    with pytest.warns(IdentifiabilityWarning, match="beta"):
        check_design(table)


def test_data_hash_is_canonical() -> None:
    runs = runs_from([1e7, 1e8, 1e9], [20, 40, 80]).assign(flag=[True, False, True])
    digest = data_hash(runs)
    assert len(digest) == 64 and int(digest, 16) >= 0
    shuffled = runs.iloc[[2, 0, 1]][list(reversed(runs.columns))].set_index(pd.Index([7, 8, 9]))
    assert data_hash(shuffled) == digest
    assert data_hash(runs.astype({"n_params": np.float64})) == digest


def test_data_hash_sees_every_change() -> None:
    runs = runs_from([1e7, 1e8, 1e9], [20, 40, 80])
    digest = data_hash(runs)
    changed = runs.copy()
    changed.loc[1, "loss"] = np.nextafter(changed.loc[1, "loss"], 10)
    assert data_hash(changed) != digest
    assert data_hash(runs.rename(columns={"loss": "loss_x"})) != digest
    assert data_hash(runs.assign(dataset="other")) != digest
    assert data_hash(runs.iloc[:2]) != digest


def test_data_hash_handles_missing_values() -> None:
    a = pd.DataFrame({"x": [1.0, np.nan], "s": ["a", None]})
    b = pd.DataFrame({"x": [1.0, float("nan")], "s": ["a", np.nan]})
    assert data_hash(a) == data_hash(b)
