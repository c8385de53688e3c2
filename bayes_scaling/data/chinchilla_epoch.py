"""Reader for Epoch AI's 245 Chinchilla points (Besiroglu et al., 2024).

Source: github.com/epoch-research/analyzing-chinchilla, ``data/svg_extracted_data.csv``: points
read off Figure 4 of Hoffmann et al. (2022). Columns used: ``Model Size`` (N), ``Training FLOP``
(C) and ``loss``; the pixel coordinates and colours (``x``, ``y``, ``color``, ``hex_color``) are
dropped.

How the columns are made:

- ``n_params`` = ``Model Size`` rounded to an integer (the extracted sizes are not whole numbers);
  ``compute_flops`` = ``Training FLOP`` as given; ``n_tokens`` = C / (6 N), as Epoch derives it;
  ``tokens_per_param`` = D / N.
- ``loss_chinchilla``: the final training loss on MassiveText that Hoffmann et al. fit (one epoch
  or less, so close to a held-out loss). No confidence interval is available.
- ``dataset`` = ``"massivetext"`` (the training corpus); ``run_id`` = ``"chinchilla-<row>"`` with
  the 0-based row of the source file.
- ``in_main_fit``: False for the 5 highest-loss points, which Epoch's main fit drops (it keeps
  ``loss < sorted(loss)[-5]``), leaving 240.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.tables import read_table
from bayes_scaling.data.validation import RunsError, _validate

__all__ = ["CHINCHILLA_FILE", "CHINCHILLA_LOSS", "load_chinchilla_epoch"]

#: File name in the source repository's ``data/`` folder.
CHINCHILLA_FILE = "svg_extracted_data.csv"
#: Name of the loss column of the Chinchilla runs.
CHINCHILLA_LOSS = "loss_chinchilla"
# Epoch's main fit leaves out this many highest-loss points.
_N_EXCLUDED = 5
_SOURCE_COLUMNS = {"Model Size": "N", "Training FLOP": "C", "loss": "loss"}


def load_chinchilla_epoch(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read Epoch's Chinchilla data from ``svg_extracted_data.csv`` or the folder holding it.

    Parameters
    ----------
    path : str or path-like
        The CSV file, or a folder containing it.
        :func:`~bayes_scaling.data.load_dataset` finds or downloads it for you.

    Returns
    -------
    pandas.DataFrame
        245 runs in source order, with ``loss_chinchilla`` and ``in_main_fit`` (240 True).

    Raises
    ------
    RunsError
        If the file lacks a column or holds an unusable value (the message names the row).

    Examples
    --------
    >>> runs = load_chinchilla_epoch("/path/to/chinchilla_epoch")  # doctest: +SKIP
    >>> int(runs["in_main_fit"].sum())  # doctest: +SKIP
    240
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHINCHILLA_FILE
    raw = read_table(path)
    missing = [c for c in _SOURCE_COLUMNS if c not in raw.columns]
    if missing:
        raise RunsError(
            f"{path}: missing column(s) {missing}; expected Epoch's svg_extracted_data.csv with "
            "'Model Size', 'Training FLOP' and 'loss'. Fix: restore the file from the pinned "
            "source (delete it and call load_dataset('chinchilla_epoch') again).",
            column=missing[0],
        )
    runs = pd.DataFrame(
        {
            "run_id": [f"chinchilla-{i:03d}" for i in range(len(raw))],
            "dataset": "massivetext",
            "n_params": raw["Model Size"],
            "compute_flops": raw["Training FLOP"],
            CHINCHILLA_LOSS: raw["loss"],
        }
    )
    labels = {
        "n_params": "Model Size",
        "compute_flops": "Training FLOP",
        CHINCHILLA_LOSS: "loss",
    }
    _validate(runs, required=("n_params", "compute_flops"), labels=labels, integral_params=False)
    n_params = np.rint(runs["n_params"].to_numpy(np.float64)).astype(np.int64)
    compute = runs["compute_flops"].to_numpy(np.float64)
    loss = runs[CHINCHILLA_LOSS].to_numpy(np.float64)
    n_tokens = compute / (6.0 * n_params)
    # Same rule as Epoch's notebook (strict '<' against the 5th-highest loss).
    threshold = np.sort(loss)[-_N_EXCLUDED] if len(loss) >= _N_EXCLUDED else -np.inf
    runs = pd.DataFrame(
        {
            "run_id": runs["run_id"],
            "dataset": runs["dataset"],
            "n_params": n_params,
            "n_tokens": n_tokens,
            "tokens_per_param": n_tokens / n_params,
            "compute_flops": compute,
            CHINCHILLA_LOSS: loss,
            "in_main_fit": loss < threshold,
        }
    )
    _validate(runs, labels=labels)
    return runs
