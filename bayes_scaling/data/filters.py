"""A small filter language for runs tables, parsed here and never evaluated as code.

Every user-supplied selection of runs (``query=`` arguments, ``--query`` on the command line,
report presets, backtest ``fit_filter``) goes through :func:`filter_runs`. The expression is
read by a hand-written tokenizer and recursive-descent parser into a :class:`Filter` (a tree of
frozen nodes) and applied with plain pandas boolean indexing. Nothing in it can reach a Python
object: there is no attribute access, no call, no ``@`` variable, no backtick quoting, no
arithmetic. (``DataFrame.query`` hands its string to pandas' expression evaluator, which
reaches Python objects through ``@``: ``"@pd.io.common.os.system('...') > 0"`` runs a shell
command.)

Grammar
-------
::

    filter      := or_expr
    or_expr     := and_expr ("or" and_expr)*
    and_expr    := not_expr ("and" not_expr)*
    not_expr    := "not" not_expr | primary
    primary     := "(" or_expr ")" | comparison
    comparison  := operand OP operand
                 | column ["not"] "in" "[" literal ("," literal)* [","] "]"
    OP          := "==" | "!=" | "<" | "<=" | ">" | ">="
    operand     := column | literal              (at least one side is a column)
    literal     := number | string | "True" | "False"
    column      := [A-Za-z_][A-Za-z0-9_]*        (not a keyword)
    number      := [+-] digits ["." digits] [("e" | "E") [+-] digits]   e.g. 20, 1e9, 1.4e9, -0.5
    string      := '...' or "..."                (backslash escapes the next character)

Keywords (``and or not in True False``) are case-sensitive, as in Python. Comparisons of a
numeric column take numbers; text columns (``dataset``, ``run_id``) take quoted strings and
only ``==``, ``!=``, ``in`` and ``not in``. A missing value (NaN) fails every comparison except
``!=`` and ``not in``, as in pandas.

Examples
--------
>>> import pandas as pd
>>> runs = pd.DataFrame({"dataset": ["rpj", "rpj", "c4"], "n_params": [1e8, 2e9, 1e8],
...                      "tokens_per_param": [20.0, 20.0, 80.0]})
>>> filter_runs(runs, "dataset == 'rpj' and n_params < 1e9")
  dataset     n_params  tokens_per_param
0     rpj  100000000.0              20.0
>>> str(parse_filter("not (tokens_per_param in [20, 80]) or dataset=='c4'"))
"not tokens_per_param in [20, 80] or dataset == 'c4'"
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_scaling.data._filter_syntax import (
    FILTER_EXAMPLE,
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    Column,
    Compare,
    FilterError,
    Literal,
    Membership,
    Node,
    Not,
    Operand,
    Or,
    _kind,
    parse_node,
)

# Errors print as the public module's, where users import them from.
FilterError.__module__ = __name__

__all__ = [
    "And",
    "Column",
    "Compare",
    "Filter",
    "FilterError",
    "Literal",
    "Membership",
    "Not",
    "Or",
    "filter_runs",
    "parse_filter",
    "FILTER_EXAMPLE",
    "MAX_FILTER_LENGTH",
    "MAX_FILTER_DEPTH",
]


@dataclass(frozen=True)
class Filter:
    """A parsed filter: :func:`parse_filter` builds it, ``str()`` prints it back.

    ``parse_filter(str(f)) == f`` for every filter ``f``.

    Attributes
    ----------
    root : Compare, Membership, Not, And or Or
        The expression tree.

    Examples
    --------
    >>> f = parse_filter("n_params<1e9 and (dataset=='rpj' or dataset=='c4')")
    >>> str(f)
    "n_params < 1000000000 and (dataset == 'rpj' or dataset == 'c4')"
    >>> f.columns
    ('dataset', 'n_params')
    """

    root: Node
    #: The text it was parsed from, quoted in error messages (not part of equality).
    source: str = field(default="", compare=False, repr=False)

    def __str__(self) -> str:
        return str(self.root)

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the columns the filter reads, sorted."""
        found: set[str] = set()

        def walk(node: object) -> None:
            if isinstance(node, Column):
                found.add(node.name)
            elif isinstance(node, Compare):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, Membership):
                walk(node.column)
            elif isinstance(node, Not):
                walk(node.operand)
            elif isinstance(node, (And, Or)):
                for p in node.parts:
                    walk(p)

        walk(self.root)
        return tuple(sorted(found))

    def mask(self, runs: pd.DataFrame) -> np.ndarray:
        """Boolean array, one entry per row of ``runs``: True where the row passes."""
        if not isinstance(runs, pd.DataFrame):
            raise TypeError(f"a filter applies to a pandas DataFrame, got {type(runs).__name__}")
        text = self.source or str(self)
        for name in self.columns:
            if name not in runs.columns:
                raise FilterError(f"unknown column {name!r}{_did_you_mean(name, runs.columns)}",
                                  expr=text, token=name)
        return _evaluate(self.root, runs, text)

    def apply(self, runs: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``runs`` that pass (index and column order kept)."""
        return runs.loc[self.mask(runs)]


def parse_filter(expr: str | Filter) -> Filter:
    """Parse a filter expression (see the module docstring for the grammar).

    Parameters
    ----------
    expr : str or Filter
        The expression; a :class:`Filter` is returned as is.

    Returns
    -------
    Filter
        ``str()`` of it prints the expression back in a canonical form that parses to an equal
        filter.

    Raises
    ------
    FilterError
        Naming the position, the offending token and an example of valid syntax.

    Examples
    --------
    >>> str(parse_filter("dataset in ['rpj','c4'] and not n_params >= 1.4e9"))
    "dataset in ['rpj', 'c4'] and not n_params >= 1400000000"
    >>> try:
    ...     parse_filter("__import__('os').system('true')")
    ... except FilterError as err:
    ...     print(err.position, err.token)
    16 .
    """  # noqa: E501
    if isinstance(expr, Filter):
        return expr
    if not isinstance(expr, str):
        raise FilterError(f"a filter is a string, got {type(expr).__name__} ({expr!r:.60})")
    return Filter(parse_node(expr), source=expr)


def filter_runs(runs: pd.DataFrame, expr: str | Filter) -> pd.DataFrame:
    """The rows of ``runs`` that pass the filter ``expr``; the string is parsed, never run.

    Parameters
    ----------
    runs : pandas.DataFrame
        Any table (usually a runs table).
    expr : str or Filter
        A filter in the grammar of :mod:`bayes_scaling.data.filters`, e.g.
        ``"dataset == 'rpj' and n_params < 1e9"``.

    Returns
    -------
    pandas.DataFrame
        The passing rows, in their order, with their index labels.

    Raises
    ------
    FilterError
        The expression is not valid, names a column the table lacks (with a "did you mean"
        suggestion) or compares a column with a value of the wrong type.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"n_params": [1e8, 2e9], "dataset": ["rpj", "rpj"]})
    >>> len(filter_runs(runs, "n_params < 1e9"))
    1
    >>> filter_runs(runs, "n_param < 1e9")
    Traceback (most recent call last):
    ...
    bayes_scaling.data.filters.FilterError: bad filter 'n_param < 1e9' (token 'n_param'): unknown column 'n_param' (did you mean 'n_params'?)
    A valid filter looks like: dataset == 'rpj' and n_params < 1e9 and tokens_per_param in [20, 80]
    """  # noqa: E501
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"filter_runs needs a pandas DataFrame, got {type(runs).__name__}")
    return parse_filter(expr).apply(runs)


# ------------------------------------------------------------------------------------ evaluation
def _did_you_mean(name: str, columns: Iterable[object]) -> str:
    cols = [str(c) for c in columns]
    by_lower = {c.lower(): c for c in cols}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {by_lower[close[0]]!r}?)"
    shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
    return f"; the table has columns: {shown}"


def _column_kind(series: pd.Series) -> str:
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "booleans"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numbers"
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "dates"
    return "strings"


def _side(operand: Operand, runs: pd.DataFrame) -> tuple[str, object]:
    if isinstance(operand, Column):
        series = runs[operand.name]
        return _column_kind(series), series.to_numpy()
    return _kind(operand.value), operand.value


def _same(a: object, b: object) -> bool:
    """Equality of two text or boolean cells; a missing value (None, NaN, NA) equals nothing."""
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, bool | np.bool_) and isinstance(b, bool | np.bool_):
        return bool(a) == bool(b)
    return False


_NUMPY_OPS = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


def _compare(node: Compare, runs: pd.DataFrame, text: str) -> np.ndarray:
    lkind, lval = _side(node.left, runs)
    rkind, rval = _side(node.right, runs)
    names = [str(s) for s in (node.left, node.right) if isinstance(s, Column)]
    if "dates" in (lkind, rkind):
        raise FilterError(f"column {names[0]!r} holds dates, which filters cannot compare",
                          expr=text, token=names[0])
    if lkind != rkind:
        col = node.left if isinstance(node.left, Column) else node.right
        ckind = lkind if col is node.left else rkind
        example = {"numbers": f"{col} >= 1e9", "strings": f"{col} == 'rpj'",
                   "booleans": f"{col} == True"}[ckind]
        raise FilterError(f"column {str(col)!r} holds {ckind} but is compared with "
                          f"{rkind if col is node.left else lkind}: e.g. {example}",
                          expr=text, token=node.op)
    if lkind in ("strings", "booleans") and node.op not in ("==", "!="):
        raise FilterError(f"{lkind} can only be compared with ==, !=, 'in' or 'not in', "
                          f"not {node.op!r}", expr=text, token=node.op)
    n = len(runs)
    if lkind == "numbers":
        left = np.asarray(lval, dtype=np.float64)
        right = np.asarray(rval, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            out = _NUMPY_OPS[node.op](left, right)
    else:
        pairs = np.broadcast(np.asarray(lval, dtype=object), np.asarray(rval, dtype=object))
        eq = np.fromiter((_same(a, b) for a, b in pairs), dtype=bool, count=pairs.size)
        out = eq if node.op == "==" else ~eq
    return np.broadcast_to(np.asarray(out, dtype=bool), (n,)).copy()


def _membership(node: Membership, runs: pd.DataFrame, text: str) -> np.ndarray:
    series = runs[node.column.name]
    ckind = _column_kind(series)
    vkind = _kind(node.values[0].value)
    if ckind != vkind:
        raise FilterError(f"column {node.column.name!r} holds {ckind} but its list holds {vkind}",
                          expr=text, token=node.column.name)
    values = [v.value for v in node.values]
    if ckind == "numbers":
        x = series.to_numpy(dtype=np.float64, na_value=np.nan)
        out = np.isin(x, np.asarray(values, dtype=np.float64))
    else:
        out = np.fromiter((any(_same(x, v) for v in values) for x in series.tolist()),
                          dtype=bool, count=len(series))
    return ~out if node.negate else out


def _evaluate(node: Node, runs: pd.DataFrame, text: str) -> np.ndarray:
    if isinstance(node, Compare):
        return _compare(node, runs, text)
    if isinstance(node, Membership):
        return _membership(node, runs, text)
    if isinstance(node, Not):
        return ~_evaluate(node.operand, runs, text)
    if isinstance(node, And):
        out = np.ones(len(runs), dtype=bool)
        for p in node.parts:
            out &= _evaluate(p, runs, text)
        return out
    if isinstance(node, Or):
        out = np.zeros(len(runs), dtype=bool)
        for p in node.parts:
            out |= _evaluate(p, runs, text)
        return out
    raise TypeError(f"not a filter node: {node!r}")  # pragma: no cover


