"""The canonical runs table: one row per training run, one place that defines it.

Every loader in :mod:`bayes_scaling.data` returns a :class:`pandas.DataFrame` in this form, and
:func:`~bayes_scaling.data.validate_runs` checks it. Fits, predictions and reports only ever read
these column names, so a new data source needs a loader and nothing else.

==========================  ===========  ==========================================================
column                      dtype        meaning
==========================  ===========  ==========================================================
``run_id``                  str          unique id of the run (the source's name where it has one)
``dataset``                 str          training corpus, raw source name (``c4_original``, ``rpj``,
                                         ``rw_original``, ``massivetext``, ...)
``n_params``                int64        N, all parameters *including* embeddings, as a raw count
``n_tokens``                float64      D, training tokens (float: C / 6N need not be whole)
``tokens_per_param``        float64      M = D / N (Chinchilla-optimal is about 20)
``compute_flops``           float64      C, training FLOPs; 6 N D unless the source gives C itself
``loss_<eval>``             float64      mean cross-entropy (nats/token) on eval set ``<eval>``;
                                         ``<eval>`` is snake_case, e.g. ``loss_c4_val``
``loss_<eval>_ci``          float64      95 % confidence half-width of ``loss_<eval>`` (where given)
``loss_<eval>_ci_seq``      float64      the same from the sequence-level bounds (gadre2024 only;
                                         the paper's code plots it; 4x narrower than ``_ci`` on
                                         c4_val, wider on small eval sets such as openlm)
``err_<task>``              float64      top-1 error (1 - accuracy) on downstream task ``<task>``
``err_avg17``               float64      plain mean of ``err_<task>`` over the 17 tasks of
                                         :data:`GADRE2024_TASKS_17`
``err_avg46``               float64      plain mean of ``err_<task>`` over all 46 tasks of
                                         :data:`GADRE2024_TASKS_46`
==========================  ===========  ==========================================================

Extra source columns are allowed and kept (``arch``, ``n_params_no_embed``, ``in_main_fit``,
``seed``, ...). A ``seed`` column, where present, distinguishes repeated runs of one configuration.

Sizes are raw counts: ``n_params=1_439_795_200``, never ``1.44`` (billions). Tables whose smallest
model has fewer than :data:`MIN_N_PARAMS` parameters or fewer than :data:`MIN_N_TOKENS` tokens are
rejected, because that is what a column in millions or billions looks like.

Examples
--------
>>> from bayes_scaling.data import schema
>>> schema.REQUIRED_COLUMNS
('run_id', 'dataset', 'n_params', 'n_tokens', 'tokens_per_param', 'compute_flops')
>>> schema.loss_columns(["n_params", "loss_c4_val", "loss_c4_val_ci", "err_avg17"])
['loss_c4_val']
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "CI_SEQ_SUFFIX",
    "CI_SUFFIX",
    "ERR_PREFIX",
    "GADRE2024_EVAL_SETS",
    "GADRE2024_TASKS_17",
    "GADRE2024_TASKS_46",
    "LOSS_PREFIX",
    "COMPUTE_RATIO_TOLERANCE",
    "LOSS_RANGE",
    "MAX_N_PARAMS",
    "MAX_N_TOKENS",
    "MIN_N_PARAMS",
    "MIN_N_TOKENS",
    "REQUIRED_COLUMNS",
    "SIZE_COLUMNS",
    "ci_columns",
    "error_columns",
    "loss_columns",
    "order_columns",
    "snake_case",
]

#: Columns every canonical runs table has.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "run_id",
    "dataset",
    "n_params",
    "n_tokens",
    "tokens_per_param",
    "compute_flops",
)

#: Numeric columns that must be finite and strictly positive.
SIZE_COLUMNS: tuple[str, ...] = ("n_params", "n_tokens", "tokens_per_param", "compute_flops")

LOSS_PREFIX = "loss_"
#: A column named just ``loss`` is a loss column too (kept under that name by ``load_runs``).
BARE_LOSS = "loss"
ERR_PREFIX = "err_"
CI_SUFFIX = "_ci"
CI_SEQ_SUFFIX = "_ci_seq"

#: Smallest plausible parameter count. The smallest model in any scaling study we know of has
#: ~1e6 parameters; a value under 1e5 almost surely means the column is in thousands, millions
#: or billions (a 10M-parameter model given in thousands is 1e4).
MIN_N_PARAMS = 1e5
#: Largest plausible parameter count (1e15, ~1000x the largest dense models trained so far); a
#: larger value is a unit slip, and above ~9.2e18 it would not even fit the int64 ``n_params``.
MAX_N_PARAMS = 1e15
#: Largest plausible token count (1e17, ~1000x the largest training sets so far).
MAX_N_TOKENS = 1e17
#: Plausible range of a mean cross-entropy in nats/token: a uniform guess over a 50k vocabulary
#: is ln(50257) = 10.8 nats; perplexities (e.g. 25) and percentages lie outside. Override with
#: ``loss_range=`` in :func:`~bayes_scaling.data.validate_runs` and ``load_runs``.
LOSS_RANGE: tuple[float, float] = (0.1, 20.0)
#: Largest accepted ratio between a given ``compute_flops`` and 6 N D (either way). Sources that
#: count attention or embedding FLOPs differ from 6 N D by well under 2x; a 10x gap is a unit or
#: column-mapping slip.
COMPUTE_RATIO_TOLERANCE = 4.0
#: Smallest plausible token count, for the same reason (a run on < 1e6 tokens is not a data point
#: of a language-model scaling law).
MIN_N_TOKENS = 1e6

#: The 8 validation sets of Gadre et al. (2024), as the ``<eval>`` of their ``loss_<eval>`` columns,
#: in the order the source files list them. ``c4_val`` is the paper's default "C4 eval".
GADRE2024_EVAL_SETS: tuple[str, ...] = (
    "openlm",
    "c4_val",
    "paloma_c4_en",
    "paloma_dolma_100_programing_languages",
    "paloma_falcon_refinedweb",
    "paloma_ptb",
    "paloma_redpajama",
    "de_en",
)

#: The 46 downstream tasks of Gadre et al. (2024) (``FRIENDLY_CITATIONS`` in the paper's
#: ``scaling/constants.py``); ``err_avg46`` averages them. ``eval_metadata.csv`` lists 5 more
#: generative tasks (agi_eval_sat_math, aqua, gsm8k, svamp, triviaqa_sm_sub) that no run evaluated.
GADRE2024_TASKS_46: tuple[str, ...] = (
    "agi_eval_lsat_ar",
    "agi_eval_lsat_rc",
    "agi_eval_lsat_lr",
    "agi_eval_sat_en",
    "arc_easy",
    "arc_challenge",
    "bbq",
    "bigbench_conceptual_combinations",
    "bigbench_conlang_translation",
    "bigbench_cs_algorithms",
    "bigbench_dyck_languages",
    "bigbench_elementary_math_qa",
    "bigbench_misconceptions",
    "bigbench_language_identification",
    "bigbench_logical_deduction",
    "bigbench_novel_concepts",
    "bigbench_operators",
    "bigbench_repeat_copy_logic",
    "bigbench_qa_wikidata",
    "bigbench_strange_stories",
    "bigbench_strategy_qa",
    "bigbench_understanding_fables",
    "boolq",
    "commonsense_qa",
    "copa",
    "coqa",
    "enterprise_pii_classification",
    "hellaswag",
    "hellaswag_zeroshot",
    "jeopardy",
    "lambada_openai",
    "logi_qa",
    "math_qa",
    "mmlu",
    "mmlu_zeroshot",
    "openbook_qa",
    "piqa",
    "pubmed_qa_labeled",
    "simple_arithmetic_nospaces",
    "simple_arithmetic_withspaces",
    "siqa",
    "squad",
    "winogender_mc_female",
    "winogender_mc_male",
    "winograd",
    "winogrande",
)

#: The paper's "17-task split" (``SUBSET`` in its ``scaling/constants.py``); ``err_avg17``
#: averages them. ``hellaswag`` is the 10-shot variant, ``hellaswag_zeroshot`` the 0-shot one.
GADRE2024_TASKS_17: tuple[str, ...] = (
    "arc_easy",
    "bigbench_cs_algorithms",
    "bigbench_dyck_languages",
    "bigbench_novel_concepts",
    "bigbench_operators",
    "bigbench_qa_wikidata",
    "boolq",
    "commonsense_qa",
    "copa",
    "coqa",
    "hellaswag_zeroshot",
    "hellaswag",
    "lambada_openai",
    "piqa",
    "pubmed_qa_labeled",
    "squad",
    "winograd",
)

_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")


def snake_case(name: str) -> str:
    """Turn a source label into a column-name fragment.

    Runs of anything but ASCII letters and digits become one underscore; the result is lower case
    without leading or trailing underscores.

    Parameters
    ----------
    name : str
        A label such as ``"paloma_falcon-refinedweb"``.

    Returns
    -------
    str

    Examples
    --------
    >>> snake_case("paloma_falcon-refinedweb")
    'paloma_falcon_refinedweb'
    >>> snake_case("Val Loss (C4)")
    'val_loss_c4'
    """
    return _NON_WORD.sub("_", name).strip("_").lower()


def _is_ci(column: str) -> bool:
    return column.endswith(CI_SUFFIX) or column.endswith(CI_SEQ_SUFFIX)


def loss_columns(columns: Iterable[str]) -> list[str]:
    """Measured-loss columns (``loss_<eval>``), without their confidence-interval companions.

    Parameters
    ----------
    columns : iterable of str
        Column names, e.g. ``runs.columns``.

    Returns
    -------
    list of str
        In the order given.

    Examples
    --------
    >>> loss_columns(["loss_c4_val", "loss_c4_val_ci", "loss_c4_val_ci_seq", "n_params"])
    ['loss_c4_val']
    >>> loss_columns(["n_params", "n_tokens", "loss"])  # a plain 'loss' column is one too
    ['loss']
    """
    return [c for c in columns if c == BARE_LOSS or (c.startswith(LOSS_PREFIX) and not _is_ci(c))]


def ci_columns(columns: Iterable[str]) -> list[str]:
    """Confidence half-width columns (``loss_<eval>_ci`` and ``loss_<eval>_ci_seq``).

    Examples
    --------
    >>> ci_columns(["loss_c4_val", "loss_c4_val_ci", "loss_c4_val_ci_seq"])
    ['loss_c4_val_ci', 'loss_c4_val_ci_seq']
    """
    return [c for c in columns if c.startswith(LOSS_PREFIX) and _is_ci(c)]


def error_columns(columns: Iterable[str]) -> list[str]:
    """Downstream error columns (``err_<task>``, ``err_avg17``, ``err_avg46``).

    Examples
    --------
    >>> error_columns(["err_boolq", "err_avg17", "loss_c4_val"])
    ['err_boolq', 'err_avg17']
    """
    return [c for c in columns if c.startswith(ERR_PREFIX)]


def order_columns(columns: Iterable[str]) -> list[str]:
    """Canonical column order: required columns, then each loss with its CIs, errors, the rest.

    Parameters
    ----------
    columns : iterable of str

    Returns
    -------
    list of str
        The same names, reordered (names not in the schema keep their relative order).

    Examples
    --------
    >>> order_columns(["arch", "err_avg17", "loss_c4_val_ci", "loss_c4_val", "run_id"])
    ['run_id', 'loss_c4_val', 'loss_c4_val_ci', 'err_avg17', 'arch']
    """
    cols = [str(c) for c in columns]
    head = [c for c in REQUIRED_COLUMNS if c in cols]
    losses: list[str] = []
    for column in loss_columns(cols):
        losses.append(column)
        losses += [c for c in (column + CI_SUFFIX, column + CI_SEQ_SUFFIX) if c in cols]
    losses += [c for c in ci_columns(cols) if c not in losses]
    errors = error_columns(cols)
    taken = set(head) | set(losses) | set(errors)
    return head + losses + errors + [c for c in cols if c not in taken]
