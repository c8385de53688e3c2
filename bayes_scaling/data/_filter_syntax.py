"""Syntax of the runs filter language: its error type, expression tree, tokenizer and parser.

Nothing here evaluates anything: the parser turns a string into frozen nodes. The grammar and
the public functions are in :mod:`bayes_scaling.data.filters`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["And", "Column", "Compare", "FilterError", "Literal", "Membership", "Node", "Not",
           "Or", "parse_node", "FILTER_EXAMPLE", "MAX_FILTER_DEPTH", "MAX_FILTER_LENGTH"]

#: Shown in every error message: what a valid filter looks like.
FILTER_EXAMPLE = "dataset == 'rpj' and n_params < 1e9 and tokens_per_param in [20, 80]"
#: Longest expression accepted (characters). Real selections are a line or two.
MAX_FILTER_LENGTH = 10_000
#: Deepest nesting of parentheses / ``not`` accepted (keeps the parser far from Python's
#: recursion limit, whatever the input).
MAX_FILTER_DEPTH = 64

_OPS = ("==", "!=", "<=", ">=", "<", ">")
_KEYWORDS = {"and", "or", "not", "in", "True", "False"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class FilterError(ValueError):
    """A filter expression that is not valid, or does not fit the table it is applied to.

    The message names the position (0-based character offset), the offending token and the fix,
    and shows an example of valid syntax.

    Attributes
    ----------
    expr : str
        The expression (possibly truncated).
    position : int or None
        Character offset of the problem, where there is one.
    token : str or None
        The offending token, where there is one.

    Examples
    --------
    >>> try:
    ...     parse_node("n_params >> 1e9")
    ... except FilterError as err:
    ...     print(err.position, err.token)
    10 >
    """

    def __init__(self, message: str, *, expr: str = "", position: int | None = None,
                 token: str | None = None) -> None:
        shown = expr if len(expr) <= 200 else expr[:200] + "..."
        where = []
        if position is not None:
            where.append(f"at position {position}")
        if token is not None:
            where.append(f"(token {token!r})")
        text = f"bad filter {shown!r}" if expr else "bad filter"
        text += f" {' '.join(where)}: {message}" if where else f": {message}"
        if position is not None and len(expr) <= 200 and "\n" not in expr:
            text += f"\n    {expr}\n    {' ' * position}^"
        text += f"\nA valid filter looks like: {FILTER_EXAMPLE}"
        super().__init__(text)
        self.expr = shown
        self.position = position
        self.token = token


# ------------------------------------------------------------------------------------ the tree
@dataclass(frozen=True)
class Column:
    """A column of the runs table, by name."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Literal:
    """A number (always a finite float), a string or a boolean."""

    value: float | str | bool

    def __str__(self) -> str:
        v = self.value
        if isinstance(v, bool):
            return "True" if v else "False"
        if isinstance(v, str):
            return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"
        if v == int(v) and abs(v) < 1e16:
            return str(int(v))
        return repr(v)


Operand = Column | Literal


@dataclass(frozen=True)
class Compare:
    """``left op right``, one of :data:`_OPS`; at least one side is a :class:`Column`."""

    left: Operand
    op: str
    right: Operand

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class Membership:
    """``column in [values]`` (or ``not in`` when ``negate``)."""

    column: Column
    values: tuple[Literal, ...]
    negate: bool = False

    def __str__(self) -> str:
        word = "not in" if self.negate else "in"
        return f"{self.column} {word} [{', '.join(map(str, self.values))}]"


@dataclass(frozen=True)
class Not:
    """Negation of a sub-filter."""

    operand: Node

    def __str__(self) -> str:
        inner = str(self.operand)
        if isinstance(self.operand, (And, Or)):
            inner = f"({inner})"
        return f"not {inner}"


@dataclass(frozen=True)
class And:
    """Conjunction of two or more sub-filters (flattened: no And directly inside an And)."""

    parts: tuple[Node, ...]

    def __str__(self) -> str:
        return " and ".join(f"({p})" if isinstance(p, Or) else str(p) for p in self.parts)


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more sub-filters (flattened: no Or directly inside an Or)."""

    parts: tuple[Node, ...]

    def __str__(self) -> str:
        return " or ".join(str(p) for p in self.parts)


Node = Compare | Membership | Not | And | Or


# ------------------------------------------------------------------------------------ tokenizer
@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "keyword", "number", "string", "op", "(", ")", "[", "]", ",", "end"
    text: str
    pos: int
    value: object = None


def _tokenize(expr: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(expr)
    while i < n:
        c = expr[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c in "()[],":
            tokens.append(_Token(c, c, i))
            i += 1
            continue
        two = expr[i:i + 2]
        if two in ("==", "!=", "<=", ">="):
            tokens.append(_Token("op", two, i))
            i += 2
            continue
        if c in "<>":
            tokens.append(_Token("op", c, i))
            i += 1
            continue
        if c == "=":
            raise FilterError("a single '=' assigns in Python; compare with '=='",
                              expr=expr, position=i, token=c)
        if c in "'\"":
            j, chars = i + 1, []
            while j < n and expr[j] != c:
                if expr[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(expr[j])
                j += 1
            if j >= n:
                raise FilterError(f"unterminated string: add the closing {c}",
                                  expr=expr, position=i, token=expr[i:i + 20])
            tokens.append(_Token("string", expr[i:j + 1], i, "".join(chars)))
            i = j + 1
            continue
        m = _NUMBER.match(expr, i)
        if m and (c.isdigit() or c == "." or (c in "+-" and m.end() > i + 1)):
            end = m.end()
            if end < n and (expr[end].isalpha() or expr[end] == "_"):
                # '1.4B', '10M', '1e9x': a number glued to letters
                word = _NAME.match(expr, end)
                bad = expr[i:word.end() if word else end + 1]
                raise FilterError(
                    f"{bad!r} is not a number: write plain numbers such as 1400000000 or "
                    "1.4e9, not '1.4B'", expr=expr, position=i, token=bad)
            value = float(m.group())
            if not math.isfinite(value):
                raise FilterError("number out of range (overflows to infinity)",
                                  expr=expr, position=i, token=m.group())
            tokens.append(_Token("number", m.group(), i, value))
            i = end
            continue
        m = _NAME.match(expr, i)
        if m:
            word = m.group()
            kind = "keyword" if word in _KEYWORDS else "name"
            if word in ("true", "false", "TRUE", "FALSE"):
                raise FilterError(f"booleans are written True and False, not {word}",
                                  expr=expr, position=i, token=word)
            tokens.append(_Token(kind, word, i))
            i = m.end()
            continue
        hint = {
            "@": "'@' (pandas' local-variable syntax) is not part of the filter language; "
                 "write the value itself",
            "`": "backtick-quoted column names are not supported; columns are plain names "
                 "such as n_params",
            "&": "write 'and', not '&'",
            "|": "write 'or', not '|'",
            "~": "write 'not', not '~'",
            "!": "write 'not' or '!=', not '!'",
            ".": "attribute access is not part of the filter language",
        }.get(c, f"character {c!r} is not part of the filter language")
        raise FilterError(hint, expr=expr, position=i, token=c)
    tokens.append(_Token("end", "", n))
    return tokens


# ------------------------------------------------------------------------------------ parser
class _Parser:
    def __init__(self, expr: str) -> None:
        self.expr = expr
        self.tokens = _tokenize(expr)
        self.i = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.i + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: _Token | None = None) -> FilterError:
        tok = tok or self.peek()
        return FilterError(message, expr=self.expr, position=tok.pos,
                           token=tok.text if tok.kind != "end" else "end of input")

    def expect(self, kind: str, text: str | None = None, what: str = "") -> _Token:
        tok = self.peek()
        if tok.kind != kind or (text is not None and tok.text != text):
            raise self.error(f"expected {what or repr(text or kind)}")
        return self.take()

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise FilterError("the filter is empty: give a condition on the runs' columns",
                              expr=self.expr)
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            if tok.kind == "op":
                raise self.error("chained comparisons (a < b < c) are not supported: write "
                                 "'a < b and b < c'")
            if tok.kind == "(":
                raise self.error("function calls are not part of the filter language")
            if tok.kind == "name" and tok.text.lower() in ("and", "or", "not", "in"):
                raise self.error(f"keywords are lower case: write {tok.text.lower()!r}")
            raise self.error("expected 'and', 'or', ')' or the end of the filter")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_FILTER_DEPTH:
            raise self.error(f"nested more than {MAX_FILTER_DEPTH} levels deep: simplify the "
                             "filter")

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.peek().kind == "keyword" and self.peek().text == "or":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        flat: list[Node] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, Or) else (p,))
        return Or(tuple(flat))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.peek().kind == "keyword" and self.peek().text == "and":
            self.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        flat: list[Node] = []
        for p in parts:
            flat.extend(p.parts if isinstance(p, And) else (p,))
        return And(tuple(flat))

    def not_expr(self) -> Node:
        tok = self.peek()
        if tok.kind == "keyword" and tok.text == "not":
            self._enter()
            self.take()
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok.kind == "(":
            self._enter()
            self.take()
            node = self.or_expr()
            self.expect(")", what="')' to close the '(' at position " + str(tok.pos))
            self.depth -= 1
            return node
        return self.comparison()

    def operand(self) -> Operand:
        tok = self.peek()
        if tok.kind == "name":
            self.take()
            nxt = self.peek()
            if nxt.kind == "(":
                raise self.error("function calls are not part of the filter language", nxt)
            return Column(tok.text)
        if tok.kind in ("number", "string") or tok.text in ("True", "False"):
            return self.literal()
        if tok.kind == "keyword":
            raise self.error(f"{tok.text!r} is a keyword; expected a column name or a value")
        if tok.kind == "end":
            raise self.error("the filter ends too early; expected a column name or a value")
        raise self.error("expected a column name or a value")

    def literal(self) -> Literal:
        tok = self.peek()
        if tok.kind in ("number", "string"):
            self.take()
            return Literal(tok.value)  # type: ignore[arg-type]
        if tok.kind == "keyword" and tok.text in ("True", "False"):
            self.take()
            return Literal(tok.text == "True")
        raise self.error("expected a value: a number, a quoted string, True or False")

    def comparison(self) -> Node:
        left = self.operand()
        tok = self.peek()
        negate = False
        if tok.kind == "keyword" and tok.text == "not" and self.peek(1).text == "in":
            self.take()
            negate = True
            tok = self.peek()
        if tok.kind == "keyword" and tok.text == "in":
            if not isinstance(left, Column):
                raise self.error("'in' needs a column on its left, e.g. dataset in ['rpj']", tok)
            self.take()
            return self.membership(left, negate)
        if tok.kind != "op":
            if tok.kind == "name" and tok.text.lower() in ("and", "or", "not", "in"):
                raise self.error(f"keywords are lower case: write {tok.text.lower()!r}")
            raise self.error("expected a comparison (== != < <= > >=) or 'in' after "
                             f"{str(left)!r}")
        op = self.take().text
        right = self.operand()
        if not isinstance(left, Column) and not isinstance(right, Column):
            raise FilterError("a comparison needs a column on at least one side",
                              expr=self.expr, position=tok.pos, token=op)
        return Compare(left, op, right)

    def membership(self, column: Column, negate: bool) -> Membership:
        self.expect("[", what="'[' to start the list of values, e.g. in [20, 80]")
        values: list[Literal] = []
        while True:
            if self.peek().kind == "]" and values:
                break
            values.append(self.literal())
            if self.peek().kind == ",":
                self.take()
                continue
            break
        self.expect("]", what="',' or ']' in the list of values")
        kinds = {_kind(v.value) for v in values}
        if len(kinds) > 1:
            raise FilterError(f"the list for {column.name!r} mixes {' and '.join(sorted(kinds))}:"
                              " give values of one type", expr=self.expr, token=column.name)
        return Membership(column, tuple(values), negate)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "booleans"
    return "strings" if isinstance(value, str) else "numbers"



def parse_node(expr: str) -> Node:
    """Parse ``expr`` into the root node of its tree (raises :class:`FilterError`)."""
    if len(expr) > MAX_FILTER_LENGTH:
        raise FilterError(f"the filter is {len(expr)} characters long, over the limit of "
                          f"{MAX_FILTER_LENGTH}: simplify it", expr=expr)
    return _Parser(expr).parse()
