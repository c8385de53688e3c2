"""Tables shipped inside the package, so that ``load_dataset("gadre2024")`` works offline.

The folder ``bayes_scaling/data/bundled/`` holds, built from the published raw files by
``scripts/build_bundled_data.py`` through the package's own loader (never edited by hand):

- ``gadre2024_runs.csv``: the 104 runs exactly as :func:`~bayes_scaling.data.load_gadre2024`
  parses them from the raw ``exp_data/`` files (a test checks equality when the raw files are
  present);
- ``gadre2024_tasks.csv``: the 46 downstream tasks (chance-level error, item count, shots,
  category), as :func:`~bayes_scaling.data.gadre2024.load_gadre2024_tasks` reads them;
- ``NOTICE_gadre2024.txt``: the source repository, the pinned commit and the MIT licence of the
  source data.

Only datasets whose source states a licence that allows redistribution are bundled: the
Epoch AI points (``chinchilla_epoch``) have none upstream and stay download / data-dir only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_scaling.data.gadre2024 import load_gadre2024, load_gadre2024_tasks
from bayes_scaling.data.validation import RunsError, _validate

__all__ = [
    "BUNDLED_DIR",
    "BUNDLED_DATASETS",
    "gadre2024_task_metadata",
    "load_bundled",
    "write_bundled_gadre2024",
]

#: The folder of the shipped tables (package data).
BUNDLED_DIR = Path(__file__).resolve().parent / "bundled"

#: Registered datasets that have a shipped runs table.
BUNDLED_DATASETS: tuple[str, ...] = ("gadre2024",)

_MIT = """\
MIT License

Copyright (c) the authors of github.com/mlfoundations/scaling

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""

# pandas < 3 needs round_trip to read repr() floats back exactly; pandas 3 does it by default and
# warns that the argument is deprecated
_EXACT_FLOATS = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}

_REBUILD = (
    "Fix: reinstall the package, or rebuild the tables with "
    "`python scripts/build_bundled_data.py` from the raw files."
)


def _read(name: str) -> pd.DataFrame:
    path = BUNDLED_DIR / name
    try:
        # the floats were written with repr(); pandas >= 3 parses them back bit for bit (a
        # test compares the shipped table with a fresh parse of the raw files, exactly)
        return pd.read_csv(path, **_EXACT_FLOATS)
    except FileNotFoundError:
        raise RunsError(f"{path}: the shipped table is missing. {_REBUILD}") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise RunsError(f"{path}: the shipped table cannot be parsed ({err}). {_REBUILD}") from err


def load_bundled(name: str) -> pd.DataFrame:
    """The shipped runs table of a registered dataset.

    Parameters
    ----------
    name : str
        One of :data:`BUNDLED_DATASETS`.

    Returns
    -------
    pandas.DataFrame
        The canonical runs table, equal to what the dataset's raw-file reader returns.

    Raises
    ------
    KeyError
        If ``name`` has no shipped table.
    RunsError
        If the shipped file is missing or corrupt (a broken install).

    Examples
    --------
    >>> runs = load_bundled("gadre2024")
    >>> len(runs), runs["dataset"].nunique()
    (104, 3)
    """
    if name not in BUNDLED_DATASETS:
        raise KeyError(f"no shipped table for {name!r}; shipped: {', '.join(BUNDLED_DATASETS)}")
    runs = _read(f"{name}_runs.csv")
    for column in ("n_params", "n_params_no_embed"):
        if column in runs.columns:
            runs[column] = runs[column].astype(np.int64)
    _validate(runs)
    return runs


def gadre2024_task_metadata() -> pd.DataFrame:
    """The 46 downstream tasks of Gadre et al. (2024): chance-level error, size, shots, category.

    Read from the table shipped with the package (no data folder or network needed).

    Returns
    -------
    pandas.DataFrame
        One row per task of :data:`~bayes_scaling.data.GADRE2024_TASKS_46`, in that order:
        ``task``, ``chance_error`` (``1 - random_baseline / 100``, the top-1 error of guessing),
        ``random_baseline`` (percent, as the source gives it), ``n_items`` (test items),
        ``shots``, ``category``, ``task_type``, ``in_avg17`` (one of the 17 tasks of
        ``err_avg17``).

    Examples
    --------
    >>> tasks = gadre2024_task_metadata().set_index("task")
    >>> float(tasks.loc["copa", "chance_error"]), int(tasks.loc["squad", "n_items"])
    (0.5, 10570)
    >>> int(tasks["in_avg17"].sum())
    17
    """
    tasks = _read("gadre2024_tasks.csv")
    tasks["in_avg17"] = tasks["in_avg17"].astype(bool)
    return tasks


def write_bundled_gadre2024(
    raw_root: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] = BUNDLED_DIR,
    *,
    repository: str,
    commit: str,
) -> list[Path]:
    """Build the shipped gadre2024 tables from the raw files, through the package's loaders.

    Parameters
    ----------
    raw_root : str or path-like
        The raw ``exp_data/`` folder (``models/``, ``evals/``, ``eval_metadata.csv``).
    out_dir : str or path-like
        Where to write; default the package's ``bundled/`` folder.
    repository, commit : str
        Source repository (``owner/name``) and pinned commit, written into the notice.

    Returns
    -------
    list of pathlib.Path
        The files written: runs table, task table, notice.

    Examples
    --------
    >>> write_bundled_gadre2024("/data/gadre2024", "/tmp/b", repository="mlfoundations/scaling",
    ...                         commit="a003c49...")  # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_gadre2024(raw_root)
    tasks = load_gadre2024_tasks(raw_root)
    runs_path, tasks_path = out / "gadre2024_runs.csv", out / "gadre2024_tasks.csv"
    notice_path = out / "NOTICE_gadre2024.txt"
    # float_format=None writes repr(), the shortest string that reads back to the same double
    runs.to_csv(runs_path, index=False, lineterminator="\n")
    tasks.to_csv(tasks_path, index=False, lineterminator="\n")
    notice_path.write_text(
        "gadre2024_runs.csv and gadre2024_tasks.csv are derived from the files in exp_data/ of\n"
        f"https://github.com/{repository} at commit {commit}\n"
        "(Gadre et al. 2024, 'Language models scale reliably with over-training and on\n"
        "downstream tasks'), parsed by bayes_scaling.data.load_gadre2024 and\n"
        "load_gadre2024_tasks (scripts/build_bundled_data.py). The source repository is\n"
        "released under the MIT License:\n\n" + _MIT,
        encoding="utf-8",
    )
    return [runs_path, tasks_path, notice_path]
