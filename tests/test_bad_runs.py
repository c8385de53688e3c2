"""Bad runs tables: each is refused before any fit, naming the column, the row and the fix."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.data import RunsError, load_runs, validate_runs
from bayes_scaling.data.validation import check_fit_runs


def _table(**over) -> pd.DataFrame:
    n = np.array([1e7, 4e7, 1e8, 4e8, 1e9, 1e8])
    d = n * np.array([20, 20, 20, 20, 20, 80])
    base = {"N": n, "D": d, "loss": [3.9, 3.5, 3.2, 2.9, 2.7, 3.0]}
    return pd.DataFrame(base | over)


def _runs(**over) -> pd.DataFrame:
    return load_runs(_table(**over), params="N", tokens="D", loss="loss")


@pytest.mark.parametrize(("over", "words"), [
    ({"loss": [25.0, 3.5, 3.2, 2.9, 2.7, 3.0]}, "outside the plausible range (0.1, 20) nats/token"),
    ({"loss": [1e30, 3.5, 3.2, 2.9, 2.7, 3.0]}, "outside the plausible range"),
    ({"loss": [0.01, 3.5, 3.2, 2.9, 2.7, 3.0]}, "outside the plausible range"),
    ({"loss": [39.0, 35.0, 32.0, 29.0, 27.0, 30.0]}, "not perplexity"),
    ({"N": [1e30, 4e7, 1e8, 4e8, 1e9, 1e8]}, "implausibly large value (over 1e+15"),
    ({"D": [1e30, 8e8, 2e9, 8e9, 2e10, 8e9]}, "implausibly large value (over 1e+17"),
    ({"N": [1e4, 4e4, 1e5, 4e5, 1e6, 1e5]}, "count in thousands"),
    ({"N": [10.0, 40.0, 100.0, 400.0, 1000.0, 100.0]}, "looks like millions or billions"),
    ({"N": [1e7, np.inf, 1e8, 4e8, 1e9, 1e8]}, "infinite value"),
    ({"N": [1e7, np.nan, 1e8, 4e8, 1e9, 1e8]}, "missing value (NaN)"),
    ({"N": [1e7, -4e7, 1e8, 4e8, 1e9, 1e8]}, "zero or negative"),
    ({"N": ["10M", "40M", "100M", "400M", "1B", "100M"]}, "values such as '10M'"),
    ({"N": [True, False, True, True, True, True]}, "holds booleans"),
    ({"D": pd.to_datetime([f"2024-01-0{i}" for i in range(1, 7)])}, "holds dates or times"),
    ({"D": pd.to_timedelta(np.arange(1, 7), unit="s")}, "holds dates or times"),
    ({"D": np.array([1 + 1j] * 6)}, "complex numbers"),
    ({"loss": [[1.0]] * 6}, "holds list values"),
    ({"loss": ["3.9", "3.5", "x", "2.9", "2.7", "3.0"]}, "values such as 'x'"),
])
def test_bad_column_named(over, words):
    with pytest.raises(RunsError) as info:
        _runs(**over)
    msg = str(info.value)
    assert words in msg, msg
    assert "column '" in msg and "Fix:" in msg


def test_loss_range_override():
    runs = load_runs(_table(loss=[25.0, 24.0, 23.0, 22.0, 21.0, 22.5]), params="N", tokens="D",
                     loss="loss", loss_range=(1.0, 100.0))
    assert runs.attrs["loss_range"] == (1.0, 100.0)
    validate_runs(runs)  # the recorded range is used
    with pytest.raises(RunsError, match="outside the plausible range"):
        validate_runs(runs, loss_range=(0.1, 20.0))
    with pytest.raises(RunsError, match="loss_range must satisfy 0 <= low < high"):
        validate_runs(runs, loss_range=(5.0, 1.0))
    with pytest.raises(RunsError, match="loss_range must be a pair"):
        validate_runs(runs, loss_range="wide")  # type: ignore[arg-type]


def test_compute_inconsistent_with_6nd():
    t = _table()
    t["C"] = 100 * 6 * t["N"] * t["D"]
    with pytest.raises(RunsError, match=r"compute_flops differs from 6 \* n_params \* n_tokens by "
                                        r"more than 4x \(e.g. \[100.0\] x 6ND\)"):
        load_runs(t, params="N", tokens="D", compute="C", loss="loss")
    t["C"] = 1.3 * 6 * t["N"] * t["D"]  # attention FLOPs etc.: accepted
    load_runs(t, params="N", tokens="D", compute="C", loss="loss")


def test_one_corpus_per_fit(sim_runs):
    mixed = pd.concat([sim_runs, sim_runs.assign(dataset="other", run_id=sim_runs.run_id + "x")])
    with pytest.raises(RunsError, match=r"the runs mix 2 training corpora .*PooledLossLaw"):
        bs.LossLaw("gadre", loss="loss_sim").fit(mixed, seed=0)
    check_fit_runs(mixed, "loss_sim", group="dataset")  # pooled: fine


@pytest.mark.parametrize(("loss", "words"), [
    ("n_tokens", "is a size column, not a loss"),
    ("compute_flops", "is a size column"),
    ("err_avg17", "a downstream error column (fit it with ErrorLaw)"),
    ("loss_sim_ci", "a confidence half-width column"),
    ("seed", "not a loss column"),
])
def test_loss_column_must_be_a_loss(sim_runs, loss, words):
    runs = sim_runs.assign(err_avg17=0.5, loss_sim_ci=0.01, seed=1)
    with pytest.raises(RunsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        bs.LossLaw("gadre", loss=loss).fit(runs, seed=0)


def test_semicolon_csv(tmp_path):
    path = tmp_path / "runs.csv"
    _table().to_csv(path, sep=";", index=False)
    with pytest.raises(RunsError, match="looks semicolon-separated.*sep=';'"):
        load_runs(path, params="N", tokens="D", loss="loss")


def test_parquet_without_pyarrow_says_what_to_install(tmp_path):
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pyarrow is installed")
    path = tmp_path / "runs.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(RunsError, match="needs the pyarrow package.*pip install pyarrow"):
        load_runs(path, params="N", tokens="D", loss="loss")


def test_paths(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder, not a table file"):
        load_runs(_dir_csv(tmp_path))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_runs(tmp_path / "nope.csv")
    with pytest.raises(RunsError, match="unsupported file type '.xlsx'"):
        load_runs(tmp_path / "runs.xlsx")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(RunsError, match="cannot parse"):
        load_runs(empty)


def _dir_csv(tmp_path):
    d = tmp_path / "folder.csv"
    d.mkdir()
    return d


@settings(max_examples=60, deadline=None)
@given(loss=st.floats(0.1, 20.0).filter(lambda x: 0.1 < x < 20.0),
       bad=st.one_of(st.floats(20.0, 1e300, exclude_min=True), st.floats(1e-300, 0.1,
                                                                        exclude_max=True)),
       row=st.integers(0, 5))
def test_property_loss_range(loss, bad, row):
    import warnings

    from bayes_scaling.data.units import SuspectUnitsWarning

    values = [loss] * 6
    with warnings.catch_warnings():  # losses all above 6 or below 1.3 look like other units
        warnings.simplefilter("ignore", SuspectUnitsWarning)
        load_runs(_table(loss=values), params="N", tokens="D", loss="loss")
    values[row] = bad
    with pytest.raises(RunsError, match=rf"plausible range .* in row {row}"):
        load_runs(_table(loss=values), params="N", tokens="D", loss="loss")


@settings(max_examples=60, deadline=None)
@given(n=st.floats(1e15, 1e300, exclude_min=True), row=st.integers(0, 5))
def test_property_huge_sizes_are_not_called_negative(n, row):
    sizes = [1e7, 4e7, 1e8, 4e8, 1e9, 1e8]
    sizes[row] = n
    with pytest.raises(RunsError) as info:
        _runs(N=sizes, D=[2e8] * 6)
    assert "implausibly large" in str(info.value) and "negative" not in str(info.value)


def test_moved_names_still_import_from_validation():
    """check_design, IdentifiabilityWarning and data_hash moved out of data/validation.py; the old
    import path gives the same objects, and an unknown name is still an AttributeError."""
    from bayes_scaling.data import hashing, identifiability, validation
    from bayes_scaling.data.validation import IdentifiabilityWarning, check_design, data_hash

    assert check_design is identifiability.check_design
    assert IdentifiabilityWarning is identifiability.IdentifiabilityWarning
    assert data_hash is hashing.data_hash
    with pytest.raises(AttributeError, match="no_such_name"):
        validation.no_such_name  # noqa: B018
