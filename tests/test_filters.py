"""The runs filter language: grammar, errors, hostile input (nothing runs), and properties."""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bayes_scaling as bs
from bayes_scaling.data.filters import (
    MAX_FILTER_DEPTH,
    MAX_FILTER_LENGTH,
    And,
    Column,
    Compare,
    Filter,
    FilterError,
    Literal,
    Membership,
    Not,
    Or,
    filter_runs,
    parse_filter,
)


@pytest.fixture
def runs() -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": ["a", "b", "c", "d", "e"],
        "dataset": ["rpj", "rpj", "c4_original", "rw_original", "rpj"],
        "n_params": np.array([10**7, 10**8, 4 * 10**8, 1_400_000_000, 6_900_000_000], np.int64),
        "tokens_per_param": [20.0, 80.0, 20.0, 320.0, np.nan],
        "in_main_fit": [True, False, True, True, False],
    })


def test_exported_from_package():
    assert bs.filter_runs is filter_runs and bs.FilterError is FilterError
    assert bs.data.filter_runs is filter_runs and bs.data.FilterError is FilterError
    assert issubclass(FilterError, ValueError)


@pytest.mark.parametrize(("expr", "ids"), [
    ("dataset == 'rpj'", "abe"),
    ('dataset == "rpj"', "abe"),
    ("dataset != 'rpj'", "cd"),
    ("n_params < 1e9", "abc"),
    ("n_params < 1.4e9", "abc"),
    ("n_params <= 1.4e9", "abcd"),
    ("n_params >= 1400000000", "de"),
    ("n_params > 4E8", "de"),
    ("1e9 < n_params", "de"),
    ("tokens_per_param == 20", "ac"),
    ("tokens_per_param != 20", "bde"),  # NaN != 20 is true, as in pandas
    ("tokens_per_param > -1", "abcd"),  # NaN fails an ordering
    ("tokens_per_param in [20, 320]", "acd"),
    ("tokens_per_param not in [20, 320]", "be"),
    ("dataset in ['c4_original', 'rw_original',]", "cd"),
    ("dataset not in ['rpj']", "cd"),
    ("in_main_fit == True", "acd"),
    ("in_main_fit != True", "be"),
    ("not dataset == 'rpj'", "cd"),
    ("not not dataset == 'rpj'", "abe"),
    ("dataset == 'rpj' and n_params < 1e9 or dataset == 'c4_original'", "abc"),
    ("dataset == 'rpj' and (n_params < 1e8 or n_params > 1e9)", "ae"),
    ("((dataset == 'rpj'))", "abe"),
    ("n_params < 1e9 and not (tokens_per_param in [80])", "ac"),
    ("n_params * 1 < 1e9".replace(" * 1", ""), "abc"),
    ("tokens_per_param * 0 == 0".replace(" * 0", ""), ""),
    ("n_params < tokens_per_param", ""),
    ("run_id == 'a' or run_id == 'e'", "ae"),
    ("  n_params\t<\n1e9  ", "abc"),
])
def test_selects_rows(runs, expr, ids):
    out = filter_runs(runs, expr)
    assert "".join(out["run_id"]) == ids
    assert list(out.columns) == list(runs.columns)
    assert out.index.equals(runs.index[runs["run_id"].isin(list(ids))])


def test_matches_pandas_query_on_plain_expressions(runs):
    # The same selections DataFrame.query made (on the expressions both accept).
    for expr in ("dataset == 'rpj' and n_params < 1e9", "tokens_per_param in [20, 80]",
                 "not (n_params >= 1e9) or dataset != 'rpj'"):
        assert filter_runs(runs, expr).equals(runs.query(expr))


def test_str_round_trip_examples():
    for expr, canon in [
        ("n_params<1e9", "n_params < 1000000000"),
        ("a == 1.5e-3", "a == 0.0015"),
        ("a==-2", "a == -2"),
        ("x in [1,2]", "x in [1, 2]"),
        ("d == 'it\\'s'", "d == 'it\\'s'"),
        ('d == "say \\"hi\\""', "d == 'say \"hi\"'"),
        ("not (a < 1 and b < 2)", "not (a < 1 and b < 2)"),
        ("(a < 1 or b < 2) and c < 3", "(a < 1 or b < 2) and c < 3"),
        ("a < 1 or (b < 2 and c < 3)", "a < 1 or b < 2 and c < 3"),
        ("a < 1 and (b < 2 and c < 3)", "a < 1 and b < 2 and c < 3"),
        ("f == True", "f == True"),
        ("a < 1e300", "a < 1e+300"),
    ]:
        f = parse_filter(expr)
        assert str(f) == canon
        assert parse_filter(str(f)) == f


def test_tree_shape():
    f = parse_filter("a < 1 and (b == 'x' or not c in [2])")
    assert f == Filter(And((
        Compare(Column("a"), "<", Literal(1.0)),
        Or((Compare(Column("b"), "==", Literal("x")),
            Not(Membership(Column("c"), (Literal(2.0),))))),
    )))
    assert f.columns == ("a", "b", "c")
    assert parse_filter(f) is f


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(("expr", "position", "token", "words"), [
    ("n_params >> 1e9", 10, ">", "expected a column name or a value"),
    ("n_params = 1e9", 9, "=", "'=='"),
    ("n_params < 1.4B", 11, "1.4B", "not a number"),
    ("n_params < 10M", 11, "10M", "not a number"),
    ("dataset == 'rpj", 11, "'rpj", "unterminated"),
    ("n_params < 1e9 &  dataset == 'rpj'", 15, "&", "'and'"),
    ("n_params < 1e9 AND dataset == 'rpj'", 15, "AND", "lower case"),
    ("n_params < 1e9 and", 18, "end of input", "ends too early"),
    ("(n_params < 1e9", 15, "end of input", "')'"),
    ("n_params < 1e9)", 14, ")", "expected 'and', 'or'"),
    ("1 < n_params < 5", 13, "<", "chained"),
    ("1 < 2", 2, "<", "column on at least one side"),
    ("dataset in 'rpj'", 11, "'rpj'", "'['"),
    ("dataset in []", 12, "]", "expected a value"),
    ("dataset in ['a' 'b']", 16, "'b'", "',' or ']'"),
    ("n_params < 1e999", 11, "1e999", "out of range"),
    ("n_params < true", 11, "true", "True and False"),
    ("", None, None, "empty"),
    ("   ", None, None, "empty"),
    ("n_params", 8, "end of input", "expected a comparison"),
    ("and", 0, "and", "keyword"),
])
def test_syntax_errors_name_position_and_token(expr, position, token, words):
    with pytest.raises(FilterError) as info:
        parse_filter(expr)
    err = info.value
    assert err.position == position
    assert err.token == token
    msg = str(err)
    assert words in msg
    assert "A valid filter looks like: dataset == 'rpj'" in msg
    if position is not None:
        assert f"at position {position}" in msg and repr(token) in msg


def test_mixed_list_rejected():
    with pytest.raises(FilterError, match="mixes numbers and strings"):
        parse_filter("x in [1, 'a']")


def test_unknown_column_suggests(runs):
    with pytest.raises(FilterError, match=r"unknown column 'n_param' \(did you mean 'n_params'\?\)"):
        filter_runs(runs, "n_param < 1e9")
    with pytest.raises(FilterError, match="unknown column 'Dataset'.*did you mean 'dataset'"):
        filter_runs(runs, "Dataset == 'rpj'")
    with pytest.raises(FilterError, match="the table has columns: run_id, dataset"):
        filter_runs(runs, "zzzzzz == 1")


@pytest.mark.parametrize(("expr", "words"), [
    ("dataset < 'rpj'", "only be compared with ==, !="),
    ("dataset == 1", "holds strings but is compared with numbers: e.g. dataset == 'rpj'"),
    ("n_params == 'big'", "holds numbers but is compared with strings: e.g. n_params >= 1e9"),
    ("in_main_fit == 1", "holds booleans"),
    ("dataset in [1, 2]", "holds strings but its list holds numbers"),
    ("n_params in ['a']", "holds numbers but its list holds strings"),
    ("dataset == n_params", "holds strings but is compared with numbers"),
])
def test_type_errors_name_column(runs, expr, words):
    with pytest.raises(FilterError, match=words.replace("(", r"\(").replace("[", r"\[")):
        filter_runs(runs, expr)


def test_dates_rejected():
    t = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"]), "x": [1.0]})
    with pytest.raises(FilterError, match="holds dates"):
        filter_runs(t, "when == 1")


def test_wrong_argument_types(runs):
    with pytest.raises(FilterError, match="a filter is a string, got int"):
        parse_filter(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="needs a pandas DataFrame, got list"):
        filter_runs([1, 2], "a < 1")  # type: ignore[arg-type]


def test_missing_values_in_text_column():
    t = pd.DataFrame({"d": pd.array(["a", None, "b"], dtype="string"), "e": ["a", np.nan, "b"]})
    assert filter_runs(t, "d == 'a'").index.tolist() == [0]
    assert filter_runs(t, "d != 'a'").index.tolist() == [1, 2]
    assert filter_runs(t, "e in ['a', 'b']").index.tolist() == [0, 2]
    assert filter_runs(t, "e not in ['a']").index.tolist() == [1, 2]


# ------------------------------------------------------------------------------------ hostile
HOSTILE = [
    "@pd.io.common.os.system('touch {marker}') > 0",
    "@os.system('touch {marker}')",
    "__import__('os').system('touch {marker}')",
    "n_params.__class__.__mro__[1].__subclasses__()",
    "n_params > 0 and __import__('pathlib').Path('{marker}').touch()",
    "`n_params` > 0 or __import__('os').system('touch {marker}') == 0",
    "(lambda: __import__('os').system('touch {marker}'))() == 0",
    "lambda x: x",
    "open('{marker}', 'w')",
    "n_params.apply(lambda x: open('{marker}', 'w'))",
    "exec(\"open('{marker}','w')\")",
    "eval('1')",
    "dataset == 'rpj'; import os",
    "dataset == 'rpj' # comment",
    "n_params > 0 if True else 0",
    "[x for x in ()]",
    "{{'a': 1}}",
    "n_params + 1 > 0",
    "n_params ** 2 > 0",
    "dataset == 'rpj' and pd.read_csv('/etc/passwd')",
    "dataset.str.contains('r')",
    "index > 0 and @__builtins__",
    "n_params > 0 \\\n and 1",
    "globals()['__builtins__']",
    "dataset == 'rpj' | n_params > 0",
    "~(n_params > 0)",
    "n_params > 0 & n_params < 1",
    "dataset == f'{{__import__(\"os\").system(\"touch {marker}\")}}'",
    "n_params > 0 and $(touch {marker})",
    "n_params > 0 and \x00",
    "n_params > 0 and \u202e",
    "n_params < 1e9 and " * 2 + "os.system('touch {marker}')",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_strings_never_run(tmp_path, runs, template, monkeypatch):
    marker = tmp_path / "MARKER"
    expr = template.format(marker=marker)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FilterError) as info:
        filter_runs(runs, expr)
    assert "A valid filter looks like" in str(info.value)
    assert not marker.exists()
    assert list(Path(tmp_path).iterdir()) == []


def test_hostile_inside_a_string_is_just_text(tmp_path, runs):
    marker = tmp_path / "M"
    expr = f"dataset == \"@pd.io.common.os.system('touch {marker}')\""
    assert filter_runs(runs, expr).empty
    assert not marker.exists()


def test_very_long_and_deeply_nested_input(runs):
    with pytest.raises(FilterError, match="over the limit"):
        parse_filter("n_params > 0 and " * 1000 + "n_params > 0")
    long_ok = " and ".join(["n_params > 0"] * 500)
    assert len(long_ok) < MAX_FILTER_LENGTH
    assert len(filter_runs(runs, long_ok)) == 5
    with pytest.raises(FilterError, match="nested more than"):
        parse_filter("(" * 2000 + "n_params > 0" + ")" * 2000)
    with pytest.raises(FilterError, match="nested more than"):
        parse_filter("not " * 2000 + "n_params > 0")
    deep = "(" * (MAX_FILTER_DEPTH - 1) + "n_params > 0" + ")" * (MAX_FILTER_DEPTH - 1)
    assert len(filter_runs(runs, deep)) == 5
    with pytest.raises(FilterError):
        parse_filter("x == '" + "a" * (MAX_FILTER_LENGTH + 1) + "'")


# ------------------------------------------------------------------------------------ properties
_NUM_COLS = ("n_params", "tokens_per_param", "loss")
_TEXT_COLS = ("dataset",)
_TABLE = pd.DataFrame({
    "n_params": [1e7, 1e8, 4e8, 1.4e9, 6.9e9, 1e8, 2.5e8, np.nan],
    "tokens_per_param": [20.0, 80.0, 20.0, 320.0, 20.0, 5.0, 640.0, 20.0],
    "loss": [3.5, 3.1, 2.9, 2.6, 2.4, 3.4, np.nan, 3.0],
    "dataset": ["rpj", "c4", "rpj", "rw", None, "rpj", "c4", "rw"],
})
_NUM_VALUES = st.sampled_from([0.0, 5.0, 20.0, 80.0, 1e8, 4e8, 1.4e9, 2.9, 3.1, -1.0, 1e300]) | \
    st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
_TEXT_VALUES = st.sampled_from(["rpj", "c4", "rw", "", "it's", 'q"uote', "back\\slash", "@x"])
_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def _leaf() -> st.SearchStrategy:
    num_cmp = st.builds(
        lambda c, op, v, flip: Compare(Literal(v), op, Column(c)) if flip
        else Compare(Column(c), op, Literal(v)),
        st.sampled_from(_NUM_COLS), st.sampled_from(list(_OPS)), _NUM_VALUES, st.booleans())
    text_cmp = st.builds(lambda c, op, v: Compare(Column(c), op, Literal(v)),
                         st.sampled_from(_TEXT_COLS), st.sampled_from(["==", "!="]), _TEXT_VALUES)
    col_cmp = st.builds(lambda a, op, b: Compare(Column(a), op, Column(b)),
                        st.sampled_from(_NUM_COLS), st.sampled_from(list(_OPS)),
                        st.sampled_from(_NUM_COLS))
    num_in = st.builds(lambda c, vs, neg: Membership(Column(c), tuple(map(Literal, vs)), neg),
                       st.sampled_from(_NUM_COLS), st.lists(_NUM_VALUES, min_size=1, max_size=4),
                       st.booleans())
    text_in = st.builds(lambda c, vs, neg: Membership(Column(c), tuple(map(Literal, vs)), neg),
                        st.sampled_from(_TEXT_COLS),
                        st.lists(_TEXT_VALUES, min_size=1, max_size=3), st.booleans())
    return num_cmp | text_cmp | col_cmp | num_in | text_in


def _flat(cls, parts):
    out = []
    for p in parts:
        out.extend(p.parts if isinstance(p, cls) else (p,))
    return cls(tuple(out))


_TREES = st.recursive(
    _leaf(),
    lambda kids: st.builds(Not, kids)
    | st.builds(lambda ps: _flat(And, ps), st.lists(kids, min_size=2, max_size=3))
    | st.builds(lambda ps: _flat(Or, ps), st.lists(kids, min_size=2, max_size=3)),
    max_leaves=12,
)


def _reference(node, table: pd.DataFrame) -> np.ndarray:
    """Independent evaluation with numpy on plain Python values (no code shared with filters)."""
    def value(operand):
        if isinstance(operand, Column):
            return table[operand.name].to_numpy(dtype=object)
        return np.full(len(table), operand.value, dtype=object)

    def cell_cmp(op, a, b):
        missing = a is None or b is None or (isinstance(a, float) and np.isnan(a)) or (
            isinstance(b, float) and np.isnan(b))
        if missing:
            return op == "!="
        return bool(_OPS[op](a, b))

    if isinstance(node, Compare):
        a, b = value(node.left), value(node.right)
        return np.array([cell_cmp(node.op, x, y) for x, y in zip(a, b, strict=True)], bool)
    if isinstance(node, Membership):
        col = table[node.column.name].tolist()
        vals = [v.value for v in node.values]
        hit = np.array([x is not None and not (isinstance(x, float) and np.isnan(x))
                        and any(x == v for v in vals) for x in col], bool)
        return ~hit if node.negate else hit
    if isinstance(node, Not):
        return ~_reference(node.operand, table)
    parts = [_reference(p, table) for p in node.parts]
    return np.logical_and.reduce(parts) if isinstance(node, And) else np.logical_or.reduce(parts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES)
def test_property_print_parse_select(tree):
    f = Filter(tree)
    text = str(f)
    again = parse_filter(text)
    assert again == f, text
    assert str(again) == text
    got = f.mask(_TABLE)
    assert np.array_equal(got, _reference(tree, _TABLE)), text
    assert filter_runs(_TABLE, text).index.tolist() == _TABLE.index[got].tolist()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_property_arbitrary_text_parses_or_raises_filter_error(text):
    # Any string: either a filter or a FilterError, never another exception.
    try:
        f = parse_filter(text)
    except FilterError as err:
        assert "A valid filter looks like" in str(err)
        return
    assert parse_filter(str(f)) == f


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab()=!<>[],'\" andortinTrueFals0123.e-", max_size=40))
def test_property_grammar_alphabet_parses_or_raises_filter_error(text):
    try:
        f = parse_filter(text)
    except FilterError:
        return
    assert parse_filter(str(f)) == f
