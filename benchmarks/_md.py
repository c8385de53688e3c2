"""Markdown tables of the benchmark pages (shared by calibration_suites.py and
calibration_diagnosis.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def md(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    def cell(v):
        if isinstance(v, bool | np.bool_):
            return "yes" if v else "**no**"
        if isinstance(v, float | np.floating):
            return format(float(v), floatfmt) if np.isfinite(v) else "-"
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])
