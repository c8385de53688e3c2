"""Runs tables for scaling-law fits: schema, validation, loaders and a dataset registry.

A *runs table* is a :class:`pandas.DataFrame` with one row per training run and the columns
documented in :mod:`bayes_scaling.data.schema` (``run_id``, ``dataset``, ``n_params``,
``n_tokens``, ``tokens_per_param``, ``compute_flops``, ``loss_<eval>``, ``err_<task>``, ...).

Examples
--------
>>> import pandas as pd
>>> from bayes_scaling.data import load_runs, check_design
>>> table = pd.DataFrame({"N": [1e8, 4e8, 1e8], "D": [2e9, 8e9, 8e9], "loss": [3.1, 2.8, 3.0]})
>>> runs = load_runs(table, params="N", tokens="D", loss="loss")
>>> runs.columns.tolist()
['run_id', 'dataset', 'n_params', 'n_tokens', 'tokens_per_param', 'compute_flops', 'loss']
>>> check_design(runs)
()
"""

from bayes_scaling.data.bundle import BUNDLED_DATASETS, gadre2024_task_metadata
from bayes_scaling.data.chinchilla_epoch import CHINCHILLA_LOSS, load_chinchilla_epoch
from bayes_scaling.data.filters import Filter, FilterError, filter_runs, parse_filter
from bayes_scaling.data.gadre2024 import load_gadre2024, load_gadre2024_tasks
from bayes_scaling.data.hashing import data_hash
from bayes_scaling.data.identifiability import IdentifiabilityWarning, check_design
from bayes_scaling.data.registry import (
    CACHE_DIR_ENV,
    DATA_DIR_ENV,
    DATA_URL_ENV,
    DatasetError,
    DatasetInfo,
    dataset_info,
    fetch_dataset,
    list_datasets,
    load_dataset,
)
from bayes_scaling.data.schema import (
    CI_SEQ_SUFFIX,
    CI_SUFFIX,
    ERR_PREFIX,
    GADRE2024_EVAL_SETS,
    GADRE2024_TASKS_17,
    GADRE2024_TASKS_46,
    LOSS_PREFIX,
    MIN_N_PARAMS,
    MIN_N_TOKENS,
    REQUIRED_COLUMNS,
    SIZE_COLUMNS,
    ci_columns,
    error_columns,
    loss_columns,
    order_columns,
)
from bayes_scaling.data.tables import load_runs
from bayes_scaling.data.validation import RunsError, validate_runs

__all__ = [
    "BUNDLED_DATASETS",
    "CACHE_DIR_ENV",
    "CHINCHILLA_LOSS",
    "CI_SEQ_SUFFIX",
    "CI_SUFFIX",
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "ERR_PREFIX",
    "GADRE2024_EVAL_SETS",
    "GADRE2024_TASKS_17",
    "GADRE2024_TASKS_46",
    "LOSS_PREFIX",
    "MIN_N_PARAMS",
    "MIN_N_TOKENS",
    "REQUIRED_COLUMNS",
    "SIZE_COLUMNS",
    "DatasetError",
    "DatasetInfo",
    "Filter",
    "FilterError",
    "IdentifiabilityWarning",
    "RunsError",
    "check_design",
    "ci_columns",
    "data_hash",
    "dataset_info",
    "error_columns",
    "fetch_dataset",
    "filter_runs",
    "gadre2024_task_metadata",
    "list_datasets",
    "load_chinchilla_epoch",
    "load_dataset",
    "load_gadre2024",
    "load_gadre2024_tasks",
    "load_runs",
    "loss_columns",
    "order_columns",
    "parse_filter",
    "validate_runs",
]
