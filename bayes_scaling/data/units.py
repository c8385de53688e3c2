"""Columns whose values do not look like what their place in the schema says, and columns that
look like losses under another name.

A ``loss_<eval>`` column must hold mean cross-entropy in **nats** per token; an ``err_<task>``
column top-1 **error** (1 - accuracy), which falls as the loss falls. Values in other units pass
the range checks of :func:`~bayes_scaling.data.validate_runs` and give a wrong law, so
:func:`load_runs <bayes_scaling.data.load_runs>` warns (:class:`SuspectUnitsWarning`, naming the
column) where they look like

- **perplexity** (``exp`` of the loss): the column's name says so (``ppl``, ``perplexity``), or
  every value exceeds :data:`PERPLEXITY_MIN_LOSS` nats, which no trained ladder of language
  models shows at all of its runs;
- **bits** (log2: nats / ln 2): the name says so (``bits``, ``bpb``, ``bpc``, ``log2``); bits
  cannot be told from nats by value;
- **log10** (nats / ln 10): the name says so (``log10``), or every value lies below
  :data:`LOG10_MAX_LOSS` nats;
- **accuracy** in an error column: the name says so (``acc``), or the column *rises* as the
  loss falls (Spearman correlation below :data:`ACCURACY_MAX_RANK_CORRELATION` over at least
  :data:`MIN_RUNS_FOR_TREND` runs).

A loss range given to ``load_runs(..., loss_range=...)`` says the units are deliberate: the
value checks of the losses are then skipped (the name checks are kept).
:func:`loss_like_columns` finds columns such as ``c4_val_loss`` or ``val_ppl`` that hold a loss
under a name the schema does not recognise.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from bayes_scaling.data.schema import error_columns, loss_columns, snake_case

__all__ = [
    "ACCURACY_MAX_RANK_CORRELATION",
    "LOG10_MAX_LOSS",
    "MIN_RUNS_FOR_TREND",
    "PERPLEXITY_MIN_LOSS",
    "SuspectUnitsWarning",
    "loss_like_columns",
    "suspect_units",
    "warn_suspect_units",
]

#: A loss column whose every value exceeds this (nats/token) looks like perplexity.
PERPLEXITY_MIN_LOSS = 6.0
#: A loss column whose every value lies below this (nats/token) looks like log10 (or bits per
#: byte): nats losses of language models on text lie above ~1.5 except at very large scale.
LOG10_MAX_LOSS = 1.3
#: An error column whose Spearman correlation with the loss is below this rises as loss falls.
ACCURACY_MAX_RANK_CORRELATION = -0.5
#: Fewest runs with both values for the trend check of an error column.
MIN_RUNS_FOR_TREND = 6

_LOSS_WORDS = re.compile(r"(^|_)(loss|losses|nll|xent|ce|cross_entropy|ppl|perplexity|bpb|bpc|"
                         r"bits|bits_per_byte|bits_per_token)(_|$)")
_PPL = re.compile(r"(^|_)(ppl|perplexity|perp)(_|$)")
_BITS = re.compile(r"(^|_)(bits?|bpb|bpc|bpt|log2|bits_per_byte|bits_per_token)(_|$)")
_LOG10 = re.compile(r"(^|_)log10(_|$)")
_ACC = re.compile(r"(^|_)(acc|accuracy|correct)(_|$)")


class SuspectUnitsWarning(UserWarning):
    """A loss column that looks like perplexity, bits or log10, or an error column that looks
    like accuracy; the message names the column and the conversion."""


def loss_like_columns(columns: Iterable[object]) -> list[str]:
    """Columns whose name says they hold a loss (``c4_val_loss``, ``val_ppl``, ``nll``) but that
    are not ``loss`` or ``loss_<eval>`` columns of the schema: map one with ``loss=`` (CLI:
    ``--loss COLUMN``).

    Examples
    --------
    >>> loss_like_columns(["params", "c4_val_loss", "loss_c4", "val_ppl", "lossy", "name"])
    ['c4_val_loss', 'val_ppl']
    """
    names = [str(c) for c in columns]
    known = set(loss_columns(names))
    return [c for c in names if c not in known and _LOSS_WORDS.search(snake_case(c))]


def _user_name(column: str, labels: Mapping[str, str]) -> str:
    src = labels.get(column)
    return f"'{column}' (your column '{src}')" if src and src != column else f"'{column}'"


def suspect_units(runs: pd.DataFrame, labels: Mapping[str, str] | None = None, *,
                  check_loss_values: bool = True) -> list[str]:
    """Messages, one per suspect column of a runs table (see the module docstring).

    Parameters
    ----------
    runs : pandas.DataFrame
        A canonical runs table.
    labels : mapping, optional
        Canonical column -> the user's column name, for the names checks and the message.
    check_loss_values : bool, default True
        Also judge loss columns by their values (off when a loss range was given).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"loss_val": [30.0, 20.0, 12.0]})
    >>> print(suspect_units(t)[0][:61])
    loss column 'loss_val': every value is above 6 nats per token
    """
    labels = dict(labels or {})
    out: list[str] = []
    losses = loss_columns(runs.columns)
    for column in losses:
        name = snake_case(labels.get(column, column))
        x = pd.to_numeric(runs[column], errors="coerce").to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        who = _user_name(column, labels)
        if _PPL.search(name):
            out.append(f"loss column {who}: the name says perplexity; the loss is its natural "
                       "log, ln(perplexity), in nats per token. Fix: convert the column "
                       "(loss = ln(perplexity)) before fitting")
        elif _BITS.search(name):
            out.append(f"loss column {who}: the name says bits (log2); losses are modelled in "
                       "nats per token. Fix: multiply by ln 2 = 0.6931 (bits per byte also "
                       "need the bytes per token)")
        elif _LOG10.search(name):
            out.append(f"loss column {who}: the name says log10; losses are modelled in nats "
                       "per token. Fix: multiply by ln 10 = 2.3026")
        elif check_loss_values and x.size and x.min() > PERPLEXITY_MIN_LOSS:
            out.append(f"loss column {who}: every value is above {PERPLEXITY_MIN_LOSS:g} nats "
                       f"per token (smallest {x.min():.4g}), which looks like perplexity. Fix: "
                       "if it is, give ln(perplexity); if these really are nats, ignore this")
        elif check_loss_values and x.size and x.max() < LOG10_MAX_LOSS:
            out.append(f"loss column {who}: every value is below {LOG10_MAX_LOSS:g} nats per "
                       f"token (largest {x.max():.4g}), which looks like log10 or bits per "
                       "byte. Fix: convert to nats per token (log10 x 2.3026); if these really "
                       "are nats, ignore this")
    loss = losses[0] if losses else None
    for column in error_columns(runs.columns):
        name = snake_case(labels.get(column, column))
        who = _user_name(column, labels)
        if _ACC.search(name):
            out.append(f"error column {who}: the name says accuracy; error columns hold top-1 "
                       "error. Fix: give 1 - accuracy")
            continue
        if loss is None:
            continue
        both = runs[[loss, column]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(both) < MIN_RUNS_FOR_TREND or both[column].nunique() < 3:
            continue
        rho = both[loss].rank().corr(both[column].rank())
        if np.isfinite(rho) and rho < ACCURACY_MAX_RANK_CORRELATION:
            out.append(f"error column {who}: it rises as {loss} falls (Spearman {rho:.2f} over "
                       f"{len(both)} runs), as accuracy does; error should fall with the loss. "
                       "Fix: if it is accuracy, give 1 - accuracy")
    return out


def warn_suspect_units(runs: pd.DataFrame, labels: Mapping[str, str] | None = None, *,
                       check_loss_values: bool = True, stacklevel: int = 3) -> list[str]:
    """Warn (:class:`SuspectUnitsWarning`) once per message of :func:`suspect_units`."""
    messages = suspect_units(runs, labels, check_loss_values=check_loss_values)
    for message in messages:
        warnings.warn(message, SuspectUnitsWarning, stacklevel=stacklevel)
    return messages
