"""A content hash of a runs table (ignores the index, the column order and, by run_id, the row
order), for provenance records."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.validation import RunsError

__all__ = ["data_hash"]


_HASH_VERSION = "bayes_scaling.data_hash.v1"


def _canonical_column(series: pd.Series) -> bytes:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(
        series.dtype
    ):
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        # One NaN bit pattern and +0.0 for -0.0, so equal tables hash equal; ints and floats of
        # the same value (1e9 vs 1000000000) hash the same.
        x = np.where(np.isnan(x), np.nan, x + 0.0)
        return b"f8:" + x.astype("<f8").tobytes()

    def plain(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            return None
        if isinstance(v, np.generic):
            return v.item()
        return v if isinstance(v, (str, bool, int, float)) else str(v)

    return b"json:" + json.dumps([plain(v) for v in series.tolist()]).encode()


def data_hash(runs: pd.DataFrame) -> str:
    """SHA-256 of a canonical serialisation of a runs table, for provenance records.

    The hash ignores the index, the column order and, when a ``run_id`` column exists, the row
    order (rows are sorted by ``run_id``); numbers hash by float64 value, so an ``int64``
    ``n_params`` and the same values as floats agree. Any change to a value changes it.

    Parameters
    ----------
    runs : pandas.DataFrame

    Returns
    -------
    str
        64 hex digits.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"run_id": ["x", "y"], "n_params": [10**8, 4 * 10**8]})
    >>> b = a.iloc[::-1][["n_params", "run_id"]].astype({"n_params": float})
    >>> data_hash(a) == data_hash(b)
    True
    """
    if not isinstance(runs, pd.DataFrame):
        raise RunsError(f"runs must be a pandas DataFrame, got {type(runs).__name__}.")
    table = runs
    if "run_id" in table.columns and table["run_id"].is_unique:
        table = table.sort_values("run_id", kind="stable")
    digest = hashlib.sha256(_HASH_VERSION.encode())
    for column in sorted(table.columns, key=str):
        name = str(column).encode()
        body = _canonical_column(table[column])
        digest.update(len(name).to_bytes(8, "little") + name)
        digest.update(len(body).to_bytes(8, "little") + body)
    return digest.hexdigest()
