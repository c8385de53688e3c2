"""Task metadata of a downstream error column: chance level, item count and metric.

An error law is bounded by the *chance-level error* of its column (``1 - random-guess
accuracy``) and scatters by the benchmark's *sampling error*, set by its number of test items.
Both belong to the data, so :func:`task_metadata` takes them, field by field, from the first of:

1. the ``chance=`` / ``n_items=`` arguments of :class:`~bayes_scaling.estimators.error_law.ErrorLaw`;
2. a user's **task-metadata table** (``ErrorLaw(..., tasks=table)``): one row per task, indexed
   by task name (or with a ``task`` column), where a task's name is the error column without its
   ``err_`` prefix (``err_mmlu`` -> ``mmlu``; the full column name is accepted too). Columns:

   ``chance_error`` (or ``random_baseline``, random-guess accuracy in percent)
       The error of a random guess, in (0, 1]: 0.75 for 4-way multiple choice, 1.0 for
       generation tasks.
   ``n_items`` (optional)
       Test items (for an average of T tasks, the effective count ``T^2 / sum_t 1 / n_t``).
   ``metric`` (optional)
       What the column measures; the laws model an error *rate* in [0, 1] (``"top1_error"``,
       the default). An accuracy column must be turned into an error (``1 - acc``) first.

3. **columns of the runs table**: ``<error>_chance``, ``<error>_n_items``, ``<error>_metric``
   (e.g. ``err_mmlu_chance``), one value repeated on every run;
4. the **gadre2024 metadata** (``eval_metadata.csv`` of Gadre et al. 2024), used only when every
   run's ``dataset`` is one of Gadre et al.'s corpora (:data:`GADRE2024_DATASETS`) *and* the
   column is one of their tasks or averages. A column named like a Gadre task in any other data
   (``err_hellaswag`` from another lab) never borrows its metadata.

A missing chance level is an error that names these options. A missing item count is a
:class:`TaskMetadataWarning`, and the fit then *learns* the sampling-error scale
(``inv_sqrt_items``, see :func:`~bayes_scaling.models.core.make_error_model`) instead of
assuming none.

Examples
--------
>>> import pandas as pd
>>> tasks = pd.DataFrame({"chance_error": [0.75], "n_items": [14042]},
...                      index=pd.Index(["mmlu"], name="task"))
>>> runs = pd.DataFrame({"dataset": ["mine"] * 2, "err_mmlu": [0.7, 0.6]})
>>> task_metadata("err_mmlu", runs, tasks=tasks)
TaskInfo(chance=0.75, n_items=14042.0, metric='top1_error', source='tasks table')
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "GADRE2024_DATASETS",
    "TaskInfo",
    "TaskMetadataWarning",
    "chance_level",
    "effective_items",
    "gadre2024_metadata",
    "gadre2024_tasks",
    "task_metadata",
]

#: The ``dataset`` values of the gadre2024 runs table (C4, RedPajama, RefinedWeb).
GADRE2024_DATASETS = frozenset({"c4_original", "rpj", "rw_original"})

_DEFAULT_METRIC = "top1_error"


class TaskMetadataWarning(UserWarning):
    """Task metadata is incomplete (an item count is unknown and will be learned)."""


@dataclass(frozen=True)
class TaskInfo:
    """Resolved metadata of one error column.

    Attributes
    ----------
    chance : float
        Chance-level error in (0, 1].
    n_items : float or None
        (Effective) number of test items; ``None``: unknown, the sampling error is learned;
        ``0``: the user turned the sampling-error term off.
    metric : str
        What the column measures (an error rate).
    source : str
        Where the chance level came from (``"arguments"``, ``"tasks table"``, ``"runs
        columns"``, ``"gadre2024 metadata"``); recorded in the fit.
    """

    chance: float
    n_items: float | None
    metric: str
    source: str


# ---------------------------------------------------------------------------------------------
# gadre2024: the one place its metadata comes from
# ---------------------------------------------------------------------------------------------


def gadre2024_tasks(*, data_dir: str | os.PathLike[str] | None = None,
                    download: bool = True) -> pd.DataFrame:
    """The downstream tasks of Gadre et al. (2024) with their chance-level error and size.

    Read from the dataset's ``eval_metadata.csv``, found (or downloaded and verified) by
    :func:`bayes_scaling.data.fetch_dataset` exactly as :func:`~bayes_scaling.load_dataset` does.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Folder holding the raw ``gadre2024/`` files; default: the table shipped with the package.
    download : bool
        Allow a download when no local copy exists.

    Returns
    -------
    DataFrame
        Indexed by task (the 46 of :data:`~bayes_scaling.data.GADRE2024_TASKS_46`), columns
        ``random_baseline`` (percent), ``chance_error`` (``1 - random_baseline / 100``),
        ``n_items`` (test items), ``category``, ``task_type``, ``shots``.

    Examples
    --------
    >>> tasks = gadre2024_tasks()                         # doctest: +SKIP
    >>> tasks.loc[["copa", "squad"], ["chance_error", "n_items"]]  # doctest: +SKIP
           chance_error  n_items
    task
    copa            0.5      100
    squad           1.0    10570
    """
    from bayes_scaling.data import (
        GADRE2024_TASKS_46,
        RunsError,
        fetch_dataset,
        gadre2024_task_metadata,
    )

    if data_dir is None:
        # the table ships with the package (built from the same eval_metadata.csv and checked
        # against it by tests/data/test_bundled.py): no data folder or network needed
        shipped = gadre2024_task_metadata().set_index("task").loc[list(GADRE2024_TASKS_46)]
        return shipped[["random_baseline", "chance_error", "n_items", "category", "task_type",
                        "shots"]].copy()
    folder = fetch_dataset("gadre2024", data_dir=data_dir, download=download)
    path = folder / "eval_metadata.csv"
    try:
        with path.open(encoding="utf-8", newline="") as f:
            rows = {r["Eval Task"]: r for r in csv.DictReader(f)}
        out = pd.DataFrame(
            {
                "task": list(GADRE2024_TASKS_46),
                "random_baseline": [float(rows[t]["Random baseline"]) for t in GADRE2024_TASKS_46],
                "n_items": [int(rows[t]["#datapoints"]) for t in GADRE2024_TASKS_46],
                "category": [rows[t]["Task Category"] for t in GADRE2024_TASKS_46],
                "task_type": [rows[t]["Task Type"] for t in GADRE2024_TASKS_46],
                "shots": [int(rows[t]["#shots"]) for t in GADRE2024_TASKS_46],
            }
        ).set_index("task")
    except (KeyError, ValueError, csv.Error) as err:
        raise RunsError(f"{path}: not the expected task table ({err!r}); restore the file from "
                        "the pinned source (delete it and load the dataset again)") from err
    out.insert(1, "chance_error", 1.0 - out["random_baseline"] / 100.0)
    return out


def gadre2024_metadata(error: str, *, data_dir: str | os.PathLike[str] | None = None
                       ) -> TaskInfo | None:
    """Metadata of a Gadre et al. (2024) error column, or ``None`` if it is not one of theirs.

    The single supplier of gadre2024 task metadata (it reads ``eval_metadata.csv`` through
    :func:`gadre2024_tasks`; a bundled table in the data layer can replace that read here).
    Averages (``err_avg17``, ``err_avg46``) get the mean chance level of their tasks and the
    effective item count (:func:`effective_items`).
    """
    if _tasks_of(error) is None:
        return None
    tasks = gadre2024_tasks(data_dir=data_dir)
    return TaskInfo(chance=chance_level(error, tasks), n_items=effective_items(error, tasks),
                    metric=_DEFAULT_METRIC, source="gadre2024 metadata")


def _tasks_of(error: str) -> tuple[str, ...] | None:
    from bayes_scaling.data import GADRE2024_TASKS_17, GADRE2024_TASKS_46

    if error == "err_avg17":
        return GADRE2024_TASKS_17
    if error == "err_avg46":
        return GADRE2024_TASKS_46
    task = error.removeprefix("err_")
    return (task,) if error.startswith("err_") and task in GADRE2024_TASKS_46 else None


def chance_level(error: str, tasks: pd.DataFrame) -> float:
    """Chance-level error of a Gadre et al. error column (a task, or an average of tasks).

    Parameters
    ----------
    error : str
        ``err_<task>``, ``err_avg17`` or ``err_avg46``.
    tasks : DataFrame
        From :func:`gadre2024_tasks`.

    Examples
    --------
    >>> tasks = pd.DataFrame({"chance_error": [0.75, 0.5], "n_items": [100, 400]},
    ...                      index=pd.Index(["arc_easy", "copa"], name="task"))
    >>> chance_level("err_copa", tasks)
    0.5
    """
    names = _tasks_of(error)
    if names is None:
        raise ValueError(f"{error!r} is not a Gadre et al. (2024) error column; pass chance= "
                         "(the chance-level error, 1 - random-guess accuracy) to ErrorLaw")
    return float(np.mean(tasks.loc[list(names), "chance_error"].to_numpy(float)))


def effective_items(error: str, tasks: pd.DataFrame) -> float:
    """Effective number of test items of an error column: ``T^2 / sum_t 1 / n_t``.

    For one task it is the task's item count; for an average of T tasks, the item count of one
    task with the same binomial variance (see :mod:`bayes_scaling.estimators.error_law`).

    Examples
    --------
    >>> tasks = pd.DataFrame({"chance_error": [0.75, 0.5], "n_items": [100, 400]},
    ...                      index=pd.Index(["arc_easy", "copa"], name="task"))
    >>> effective_items("err_copa", tasks)
    400.0
    """
    names = _tasks_of(error)
    if names is None:
        raise ValueError(f"{error!r} is not a Gadre et al. (2024) error column; pass n_items=")
    n = tasks.loc[list(names), "n_items"].to_numpy(float)
    return float(len(n) ** 2 / np.sum(1.0 / n))


# ---------------------------------------------------------------------------------------------
# Resolution
# ---------------------------------------------------------------------------------------------


def _from_table(error: str, tasks: pd.DataFrame) -> dict:
    table = tasks.set_index("task") if "task" in tasks.columns else tasks
    key = next((k for k in (error.removeprefix("err_"), error) if k in table.index), None)
    if key is None:
        return {}
    row = table.loc[key]
    if isinstance(row, pd.DataFrame):
        raise ValueError(f"tasks table has {len(row)} rows for task {key!r}; keep one")
    out: dict = {}
    if "chance_error" in table.columns and pd.notna(row["chance_error"]):
        out["chance"] = float(row["chance_error"])
    elif "random_baseline" in table.columns and pd.notna(row["random_baseline"]):
        out["chance"] = 1.0 - float(row["random_baseline"]) / 100.0
    if "n_items" in table.columns and pd.notna(row["n_items"]):
        out["n_items"] = float(row["n_items"])
    if "metric" in table.columns and pd.notna(row["metric"]):
        out["metric"] = str(row["metric"])
    return out


def _from_columns(error: str, runs: pd.DataFrame) -> dict:
    out: dict = {}
    for field in ("chance", "n_items", "metric"):
        col = f"{error}_{field}"
        if col not in runs.columns:
            continue
        vals = runs[col].dropna().unique()
        if len(vals) > 1:
            raise ValueError(f"column {col!r} has {len(vals)} different values ({vals[:3]!r}); "
                             "task metadata is one value per task: make it constant")
        if len(vals):
            out[field] = str(vals[0]) if field == "metric" else float(vals[0])
    return out


def _is_gadre2024(runs: pd.DataFrame) -> bool:
    return ("dataset" in runs.columns and len(runs) > 0
            and set(runs["dataset"].astype(str)) <= GADRE2024_DATASETS)


def task_metadata(
    error: str,
    runs: pd.DataFrame,
    *,
    tasks: pd.DataFrame | None = None,
    chance: float | None = None,
    n_items: float | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> TaskInfo:
    """Chance level, item count and metric of ``error`` from the data's own metadata.

    Each field comes from the first source that has it: the arguments, ``tasks``, the runs
    table's ``<error>_chance`` / ``<error>_n_items`` / ``<error>_metric`` columns, and (only for
    gadre2024 runs) the gadre2024 metadata (see the module docstring).

    Parameters
    ----------
    error : str
        The error column.
    runs : DataFrame
        The runs the law is fitted on (its ``dataset`` column decides whether the gadre2024
        metadata applies).
    tasks : DataFrame, optional
        Task-metadata table (module docstring).
    chance, n_items : float, optional
        Explicit values (``n_items=0`` turns the sampling-error term off).
    data_dir : str or path-like, optional
        Where the gadre2024 files are.

    Returns
    -------
    TaskInfo

    Raises
    ------
    ValueError
        No chance level anywhere, an invalid value, or an accuracy metric.

    Warns
    -----
    TaskMetadataWarning
        No item count anywhere: the fit learns the sampling-error scale.
    """
    found: dict = {}
    sources: dict = {}
    for name, src in (("arguments", {"chance": chance, "n_items": n_items}),
                      ("tasks table", _from_table(error, tasks) if tasks is not None else {}),
                      ("runs columns", _from_columns(error, runs))):
        for k, v in src.items():
            if v is not None and k not in found:
                found[k], sources[k] = v, name
    if ("chance" not in found or "n_items" not in found) and _is_gadre2024(runs):
        g = gadre2024_metadata(error, data_dir=data_dir)
        if g is not None:
            for k, v in (("chance", g.chance), ("n_items", g.n_items), ("metric", g.metric)):
                if k not in found:
                    found[k], sources[k] = v, g.source
    if "chance" not in found:
        raise ValueError(
            f"no chance level known for {error!r}: pass chance= (the error of a random guess, "
            "e.g. 0.75 for 4-way multiple choice, 1.0 for generation) to ErrorLaw, a tasks= "
            f"table with a chance_error column, or a {error}_chance column in the runs table")
    c = float(found["chance"])
    if not 0.0 < c <= 1.0:
        raise ValueError(f"chance level of {error!r} from the {sources['chance']} is {c!r}; it "
                         "must be an error rate in (0, 1] (1 - random-guess accuracy)")
    metric = str(found.get("metric", _DEFAULT_METRIC))
    if metric.lower().startswith("acc"):
        raise ValueError(f"{error!r} is an accuracy ({metric!r}); error laws model an error "
                         f"rate: use a column of 1 - accuracy with metric 'top1_error'")
    items = found.get("n_items")
    if items is not None and not float(items) >= 0.0:
        raise ValueError(f"item count of {error!r} from the {sources['n_items']} is {items!r}; "
                         "it must be >= 0 (0: no sampling-error term)")
    if items is None:
        warnings.warn(
            f"no item count known for {error!r}: its benchmark sampling error will be learned "
            "(inv_sqrt_items). Pass n_items= (or an n_items column in tasks=, or a "
            f"{error}_n_items column) to use the known binomial error instead",
            TaskMetadataWarning, stacklevel=3)
    return TaskInfo(chance=c, n_items=None if items is None else float(items), metric=metric,
                    source=sources["chance"])
