"""Reader for the 104 runs of Gadre et al. (2024), from the raw ``exp_data/`` files.

Source: github.com/mlfoundations/scaling, folder ``exp_data/`` (MIT licence). Layout::

    models/<dataset>-<arch>-<cc>.json               one per run: hyper-parameters and 8 eval losses
    evals/evaluation_<same name>_heavy.json         46 downstream accuracies ("eval_metrics.icl")
    eval_metadata.csv                               task list (shots, random baseline, category)

How the columns are made (checked against the paper's ``scaling/shared.py``,
``parse_model_json``):

- ``n_params`` = ``hyperparameters.params`` (embeddings included), ``n_tokens`` =
  ``hyperparameters.tokens``, ``compute_flops`` = 6 N D, ``tokens_per_param`` = D / N, which is
  exactly 20 x ``hyperparameters.chinchilla_multiplier``.
- ``loss_<eval>``: each entry of ``results`` is one eval set, named by the folder of its
  ``val_data`` path, snake-cased (``.../paloma_falcon-refinedweb/00000001.tar`` ->
  ``loss_paloma_falcon_refinedweb``, ``.../de-en/val_de-en_100.tar`` -> ``loss_de_en``); see
  :data:`~bayes_scaling.data.schema.GADRE2024_EVAL_SETS`.
- ``loss_<eval>_ci`` = (``loss_tokens_upper_95`` - ``loss_tokens_lower_95``) / 2, a token-level
  interval; ``loss_<eval>_ci_seq`` = the same from ``loss_sequences_*_95``, the (wider)
  sequence-level interval that the paper's code plots.
- ``err_<task>`` = 1 - accuracy for the 46 tasks; ``err_avg46`` and ``err_avg17`` are plain
  (unweighted) means of ``err_<task>`` over the 46 tasks and over the 17-task subset, as the
  paper's ``parse_model_json`` computes ``err_avg`` and ``err_avg_subset``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import (
    CI_SEQ_SUFFIX,
    CI_SUFFIX,
    GADRE2024_EVAL_SETS,
    GADRE2024_TASKS_17,
    GADRE2024_TASKS_46,
    order_columns,
    snake_case,
)
from bayes_scaling.data.validation import RunsError, _validate

__all__ = ["load_gadre2024", "load_gadre2024_tasks", "paper_error_runs"]

_FIX = (
    "Fix: restore the file from the pinned source (delete the dataset folder and call "
    "load_dataset('gadre2024') again to re-download it)."
)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise RunsError(f"{path}: file is missing. {_FIX}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunsError(f"{path}: malformed JSON ({err}). {_FIX}") from err
    if not isinstance(data, dict):
        raise RunsError(f"{path}: expected a JSON object, got {type(data).__name__}. {_FIX}")
    return data


def _get(data: dict[str, Any], path: Path, *keys: str) -> Any:
    node: Any = data
    for i, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            raise RunsError(f"{path}: missing key '{'.'.join(keys[: i + 1])}'. {_FIX}")
        node = node[key]
    return node


def _number(value: Any, path: Path, what: str) -> float:
    # bool is an int subclass; a true/false here is a corrupted file, not a number.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise RunsError(f"{path}: '{what}' is {value!r}, not a finite number. {_FIX}")
    return float(value)


def _eval_set(result: dict[str, Any], path: Path) -> str:
    val_data = result.get("val_data")
    if not (isinstance(val_data, list) and val_data and isinstance(val_data[0], str)):
        raise RunsError(f"{path}: a 'results' entry has no 'val_data' path list. {_FIX}")
    parts = val_data[0].split("/")
    # The eval set is the folder that holds the shard (the paper's code takes parts[-2] too).
    name = snake_case(parts[-2]) if len(parts) >= 2 else ""
    if name not in GADRE2024_EVAL_SETS:
        raise RunsError(
            f"{path}: unknown eval set in val_data '{val_data[0]}'; expected one of "
            f"{', '.join(GADRE2024_EVAL_SETS)}. {_FIX}"
        )
    return name


def _parse_model(path: Path) -> dict[str, Any]:
    data = _read_json(path)
    name = _get(data, path, "name")
    if name != path.stem:
        raise RunsError(f"{path}: 'name' is {name!r} but the file is named '{path.name}'. {_FIX}")
    n_params = _number(_get(data, path, "hyperparameters", "params"), path, "params")
    n_tokens = _number(_get(data, path, "hyperparameters", "tokens"), path, "tokens")
    cc = _number(
        _get(data, path, "hyperparameters", "chinchilla_multiplier"), path, "chinchilla_multiplier"
    )
    if n_params != round(n_params) or n_params <= 0:
        raise RunsError(f"{path}: 'params' is {n_params}, not a positive count. {_FIX}")
    # The paper's design fixes D = 20 cc N; a mismatch means a corrupted or foreign file.
    if not math.isclose(n_tokens, 20.0 * cc * n_params, rel_tol=1e-9):
        raise RunsError(
            f"{path}: tokens ({n_tokens:.6g}) != 20 x chinchilla_multiplier ({cc}) x params "
            f"({n_params:.6g}). {_FIX}"
        )
    row: dict[str, Any] = {
        "run_id": name,
        "dataset": _get(data, path, "dataset_name"),
        "n_params": int(n_params),
        "n_tokens": n_tokens,
        "arch": str(_get(data, path, "hyperparameters", "model")).split("/")[-1],
        "n_params_no_embed": int(
            _number(
                _get(data, path, "hyperparameters", "params_no_embed"), path, "params_no_embed"
            )
        ),
    }
    results = _get(data, path, "results")
    if not isinstance(results, list):
        raise RunsError(f"{path}: 'results' is not a list. {_FIX}")
    seen: set[str] = set()
    for result in results:
        if not isinstance(result, dict):
            raise RunsError(f"{path}: a 'results' entry is not an object. {_FIX}")
        eval_set = _eval_set(result, path)
        if eval_set in seen:
            raise RunsError(f"{path}: eval set '{eval_set}' appears twice in 'results'. {_FIX}")
        seen.add(eval_set)
        column = f"loss_{eval_set}"

        def value(key: str, _r: dict[str, Any] = result, _e: str = eval_set) -> float:
            return _number(_get(_r, path, key), path, f"{_e}.{key}")

        row[column] = value("loss")
        row[column + CI_SUFFIX] = (
            value("loss_tokens_upper_95") - value("loss_tokens_lower_95")
        ) / 2.0
        row[column + CI_SEQ_SUFFIX] = (
            value("loss_sequences_upper_95") - value("loss_sequences_lower_95")
        ) / 2.0
    absent = [e for e in GADRE2024_EVAL_SETS if e not in seen]
    if absent:
        raise RunsError(f"{path}: no results for eval set(s) {', '.join(absent)}. {_FIX}")
    return row


def _parse_eval(path: Path) -> dict[str, float]:
    data = _read_json(path)
    icl = _get(data, path, "eval_metrics", "icl")
    if not isinstance(icl, dict):
        raise RunsError(f"{path}: 'eval_metrics.icl' is not an object. {_FIX}")
    missing = [t for t in GADRE2024_TASKS_46 if t not in icl]
    if missing:
        raise RunsError(f"{path}: no accuracy for task(s) {', '.join(missing)}. {_FIX}")
    row: dict[str, float] = {}
    # Only the paper's 46 tasks, as its parse_model_json keeps only FRIENDLY_CITATIONS.
    for task in GADRE2024_TASKS_46:
        accuracy = _number(icl[task], path, f"eval_metrics.icl.{task}")
        if not 0.0 <= accuracy <= 1.0:
            raise RunsError(f"{path}: accuracy of '{task}' is {accuracy}, not in [0, 1]. {_FIX}")
        row[f"err_{task}"] = 1.0 - accuracy
    row["err_avg17"] = float(np.mean([row[f"err_{t}"] for t in GADRE2024_TASKS_17]))
    row["err_avg46"] = float(np.mean([row[f"err_{t}"] for t in GADRE2024_TASKS_46]))
    return row


def _check_metadata(path: Path) -> None:
    try:
        with path.open(encoding="utf-8", newline="") as f:
            tasks = {row["Eval Task"] for row in csv.DictReader(f)}
    except FileNotFoundError:
        raise RunsError(f"{path}: file is missing. {_FIX}") from None
    except (KeyError, csv.Error, UnicodeDecodeError) as err:
        raise RunsError(f"{path}: not the expected task table ({err!r}). {_FIX}") from err
    unknown = [t for t in GADRE2024_TASKS_46 if t not in tasks]
    if unknown:
        raise RunsError(f"{path}: task(s) {', '.join(unknown)} are not listed. {_FIX}")


def load_gadre2024(root: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the Gadre et al. (2024) runs from a folder holding ``models/``, ``evals/`` and
    ``eval_metadata.csv`` (the source repository's ``exp_data/``).

    Parameters
    ----------
    root : str or path-like
        The folder. :func:`~bayes_scaling.data.load_dataset` finds or downloads it for you.

    Returns
    -------
    pandas.DataFrame
        104 runs, sorted by ``dataset``, ``n_params``, ``n_tokens``; columns as described in
        this module's docstring and :mod:`bayes_scaling.data.schema`, plus ``arch`` (the source's
        model name, e.g. ``d=96_l=8_h=4``, ``open_lm_1b``) and ``n_params_no_embed``.

    Raises
    ------
    RunsError
        If a file is missing, is not valid JSON, or lacks a field; the message names the file.

    Examples
    --------
    >>> runs = load_gadre2024("/path/to/gadre2024")  # doctest: +SKIP
    >>> runs.loc[runs.run_id == "rpj-open_lm_1b-32.0", ["loss_c4_val", "err_avg17"]].round(4)
    ... # doctest: +SKIP
        loss_c4_val  err_avg17
    67       2.5021     0.4752
    """
    root = Path(root)
    models = root / "models"
    if not models.is_dir():
        raise RunsError(
            f"{root}: no 'models' folder; expected the gadre2024 layout (models/, evals/, "
            f"eval_metadata.csv). {_FIX}"
        )
    _check_metadata(root / "eval_metadata.csv")
    rows = []
    for path in sorted(models.glob("*.json")):
        row = _parse_model(path)
        row.update(_parse_eval(root / "evals" / f"evaluation_{path.stem}_heavy.json"))
        rows.append(row)
    if not rows:
        raise RunsError(f"{models}: no model files (*.json). {_FIX}")
    runs = pd.DataFrame(rows)
    runs["n_params"] = runs["n_params"].astype(np.int64)
    runs["n_params_no_embed"] = runs["n_params_no_embed"].astype(np.int64)
    runs["compute_flops"] = 6.0 * runs["n_params"].to_numpy(np.float64) * runs["n_tokens"]
    runs["tokens_per_param"] = runs["n_tokens"] / runs["n_params"]
    runs = runs.sort_values(["dataset", "n_params", "n_tokens"], kind="stable")
    runs = runs.reset_index(drop=True)[order_columns(runs.columns)]
    _validate(runs)
    return runs


def load_gadre2024_tasks(root: str | os.PathLike[str]) -> pd.DataFrame:
    """The 46 downstream tasks of Gadre et al. (2024), from the raw ``eval_metadata.csv``.

    Parameters
    ----------
    root : str or path-like
        The folder holding ``eval_metadata.csv`` (the source repository's ``exp_data/``).

    Returns
    -------
    pandas.DataFrame
        One row per task of :data:`~bayes_scaling.data.GADRE2024_TASKS_46`, in that order, with
        columns ``task``, ``chance_error`` (``1 - random_baseline / 100``: the top-1 error of
        guessing), ``random_baseline`` (accuracy of guessing, percent, as the source gives it),
        ``n_items`` (test items, the source's ``#datapoints``), ``shots``, ``category``,
        ``task_type`` and ``in_avg17`` (the task is one of the 17 of ``err_avg17``).

    Raises
    ------
    RunsError
        If the file is missing, lacks a column or a task, or a value is not a number.

    Examples
    --------
    >>> tasks = load_gadre2024_tasks("/path/to/gadre2024")  # doctest: +SKIP
    >>> tasks.set_index("task").loc[["copa", "squad"], ["chance_error", "n_items"]]
    ... # doctest: +SKIP
           chance_error  n_items
    task
    copa            0.5      100
    squad           1.0    10570
    """
    path = Path(root) / "eval_metadata.csv"
    _check_metadata(path)
    with path.open(encoding="utf-8", newline="") as f:
        rows = {row["Eval Task"]: row for row in csv.DictReader(f)}
    try:
        records = [
            {
                "task": task,
                "random_baseline": float(rows[task]["Random baseline"]),
                "n_items": int(rows[task]["#datapoints"]),
                "shots": int(rows[task]["#shots"]),
                "category": rows[task]["Task Category"],
                "task_type": rows[task]["Task Type"],
                "in_avg17": task in GADRE2024_TASKS_17,
            }
            for task in GADRE2024_TASKS_46
        ]
    except (KeyError, ValueError) as err:
        raise RunsError(f"{path}: not the expected task table ({err!r}). {_FIX}") from err
    tasks = pd.DataFrame(records)
    tasks.insert(1, "chance_error", 1.0 - tasks["random_baseline"] / 100.0)
    return tasks


#: The 6 runs per corpus of Gadre et al.'s downstream fit: (n_params, tokens_per_param).
_PAPER_ERROR_DESIGN = ((10569312, 20), (78914048, 20), (153677376, 20), (411616256, 20),
                       (10569312, 320), (1439795200, 20))


def paper_error_runs(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The 6 runs of one corpus that Gadre et al. (2024) fit their error law on.

    The four small models (0.011B, 0.079B, 0.154B, 0.411B) at M = 20, 0.011B at M = 320 and
    1.4B at M = 20.

    Examples
    --------
    >>> six = paper_error_runs(runs, "rpj")               # doctest: +SKIP
    >>> len(six)                                          # doctest: +SKIP
    6
    """
    r = runs[runs["dataset"] == dataset]
    m = np.rint(r["tokens_per_param"].to_numpy(float))
    keep = np.zeros(len(r), bool)
    for n, mult in _PAPER_ERROR_DESIGN:
        keep |= (r["n_params"].to_numpy() == n) & (m == mult)
    if keep.sum() != len(_PAPER_ERROR_DESIGN):
        raise ValueError(f"dataset {dataset!r} has {int(keep.sum())} of the paper's 6 error-fit "
                         "runs; is this the gadre2024 runs table?")
    return r[keep]
