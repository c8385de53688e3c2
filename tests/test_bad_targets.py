"""Bad prediction targets: strings, booleans, dates, non-finite or non-positive sizes, by column."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.data.targets import TargetError, resolve_targets
from bayes_scaling.testing import TRUE_GADRE, fabricated_loss_law


@pytest.fixture(scope="module")
def fab(sim_runs):
    return fabricated_loss_law(sim_runs, TRUE_GADRE, loss="loss_sim", num_chains=2, num_draws=50)


@pytest.mark.parametrize(("targets", "words"), [
    ({"n_params": ["1.4B"], "n_tokens": [2.9e10]}, "target column 'n_params', row 0: '1.4B' is not"),
    ({"n_params": [1.4e9], "n_tokens": ["29B"]}, "target column 'n_tokens', row 0: '29B'"),
    ({"n_params": [1.4e9, "x"], "n_tokens": [2.9e10, 1e10]}, "row 1: 'x'"),
    ({"n_params": [1.4e9], "n_tokens": [True]}, "holds bool values"),
    ({"n_params": pd.to_datetime(["2024-01-01"]), "n_tokens": [1e10]}, "holds datetime64"),
    ({"n_params": [np.nan], "n_tokens": [1e10]}, "must be a positive finite number, got nan"),
    ({"n_params": [np.inf], "n_tokens": [1e10]}, "got inf"),
    ({"n_params": [-1e9], "n_tokens": [1e10]}, "got -1000000000.0"),
    ({"n_params": [0], "n_tokens": [1e10]}, "got 0.0"),
    ({"compute_flops": ["1e22"], "tokens_per_param": [20]}, "'compute_flops', row 0: '1e22'"),
    ({"compute_flops": [1e22], "tokens_per_param": [-20.0]}, "'tokens_per_param', row 0"),
    ({"n_params": [None], "n_tokens": [1e10]}, "None is not a number"),
    ({"n_params": [1.4e9]}, "targets need columns"),
])
def test_bad_targets_named(targets, words):
    with pytest.raises(TargetError) as info:
        resolve_targets(pd.DataFrame(targets))
    assert words in str(info.value)


def test_through_predict(fab):
    with pytest.raises(bs.TargetError, match="'1.4B' is not a number"):
        fab.predict(pd.DataFrame({"n_params": ["1.4B"], "n_tokens": [2.9e10]}))
    with pytest.raises(bs.TargetError, match="targets must be a DataFrame, got list"):
        fab.predict([1.4e9, 2.9e10])  # type: ignore[arg-type]
    with pytest.raises(bs.TargetError, match="targets dict cannot form a table"):
        resolve_targets({"n_params": 1.4e9, "n_tokens": 2.9e10})


def test_numeric_strings_in_object_column_rejected_but_numbers_kept():
    t = resolve_targets(pd.DataFrame({"n_params": np.array([1.4e9, 2e9], dtype=object),
                                      "n_tokens": [2.9e10, 4e10]}))
    assert t["n_params"].dtype == np.float64
    kept = resolve_targets(pd.DataFrame({"n_params": [10**9], "n_tokens": [2e10]}))
    assert kept["n_params"].dtype == np.int64  # numeric columns are not converted


@settings(max_examples=100, deadline=None)
@given(n=st.floats(allow_nan=True, allow_infinity=True), d=st.floats(1e6, 1e15))
def test_property_n_params_positive_finite(n, d):
    t = pd.DataFrame({"n_params": [n], "n_tokens": [d]})
    if np.isfinite(n) and n > 1e30:
        with pytest.raises(TargetError, match="n_params = .* is beyond any model"):
            resolve_targets(t)
    elif np.isfinite(n) and 0 < n < 1:
        with pytest.raises(TargetError, match="n_params = .* is less than one"):
            resolve_targets(t)
    elif np.isfinite(n) and n > 0:
        assert resolve_targets(t)["tokens_per_param"].iloc[0] == pytest.approx(d / n)
    else:
        with pytest.raises(TargetError, match="'n_params', row 0"):
            resolve_targets(t)
