"""Human-readable segment rules: conjunctions of covariate conditions.

A segment (a leaf of the policy tree) is described by a :class:`SegmentRule`, an AND of
:class:`Condition` clauses written with the user's own column names and category labels::

    visits_30d < 4 and device in {mobile}
    visits_30d >= 4 and device not in {mobile, tablet}

The string form is exact: :func:`parse_rule` reads it back and :func:`apply_rule` on the
fitting frame reproduces the leaf membership visitor for visitor (numeric thresholds are
chosen to print exactly, see :mod:`pytyche.analysis.binning`).

Grammar of the string form
--------------------------
``rule := "all visitors" | clause ("and" clause)*``;
``clause := column ("<" | ">=") number | column ("in" | "not in") "{" label ("," label)* "}"``.
A column or label that is not a plain word (letters, digits, ``_``, ``.``, ``-``) is quoted:
columns with backticks (as in :meth:`pandas.DataFrame.query`), labels with Python quotes.
Labels are matched to the frame's values by their ``str()`` form.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import pandas as pd

__all__ = ["ALL_VISITORS", "Condition", "SegmentRule", "apply_rule", "parse_rule"]

ALL_VISITORS = "all visitors"
"""String form of the empty rule (the whole population)."""

Operator = Literal["<", ">=", "in", "not in"]
_NUMERIC_OPS = ("<", ">=")
_SET_OPS = ("in", "not in")
_PLAIN_WORD = re.compile(r"^[A-Za-z0-9_.\-]+$")
_PLAIN_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<backtick>`[^`]*`)
      | (?P<quoted>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<symbol>>=|<|\{|\}|,)
      | (?P<word>[^\s{},<>=`'"]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Condition:
    """One clause of a rule.

    Attributes
    ----------
    column : str
        Covariate column name, as in the user's frame.
    op : {"<", ">=", "in", "not in"}
        Numeric threshold (``<``, ``>=``) or category membership (``in``, ``not in``).
    value : float or tuple
        The threshold (numeric ops) or the tuple of category labels (set ops).
    """

    column: str
    op: Operator
    value: float | tuple

    def __post_init__(self) -> None:
        if self.op in _NUMERIC_OPS:
            if not isinstance(self.value, int | float) or not math.isfinite(self.value):
                raise ValueError(f"condition on {self.column!r}: threshold must be a finite number")
        elif self.op in _SET_OPS:
            if not isinstance(self.value, tuple):
                raise ValueError(f"condition on {self.column!r}: labels must be a tuple")
        else:
            raise ValueError(f"condition op must be one of <, >=, in, not in; got {self.op!r}")

    @property
    def threshold(self) -> float:
        """The threshold of a numeric condition."""
        if isinstance(self.value, tuple):
            raise TypeError(f"condition {self} has labels, not a threshold")
        return float(self.value)

    @property
    def labels(self) -> tuple:
        """The category labels of a set condition."""
        if not isinstance(self.value, tuple):
            raise TypeError(f"condition on {self.column!r} has a threshold, not labels")
        return self.value

    def __str__(self) -> str:
        column = _format_column(self.column)
        if self.op in _NUMERIC_OPS:
            return f"{column} {self.op} {_format_number(self.threshold)}"
        labels = ", ".join(_format_label(label) for label in self.labels)
        return f"{column} {self.op} {{{labels}}}"

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean membership of each row of ``frame``, shape (n,)."""
        if self.column not in frame.columns:
            raise ValueError(f"rule needs covariate column {self.column!r}, absent from frame")
        series = frame[self.column]
        if self.op in _NUMERIC_OPS:
            values = series.to_numpy(dtype=float)
            return values < self.threshold if self.op == "<" else values >= self.threshold
        member = _label_membership(series, self.labels)
        return member if self.op == "in" else ~member


@dataclass(frozen=True)
class SegmentRule:
    """A conjunction of conditions; the empty rule selects every visitor.

    Attributes
    ----------
    conditions : tuple of Condition
        The clauses, combined with AND, in the order they are printed.
    """

    conditions: tuple[Condition, ...] = ()

    def __str__(self) -> str:
        if not self.conditions:
            return ALL_VISITORS
        return " and ".join(str(c) for c in self.conditions)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean membership of each row of ``frame``, shape (n,)."""
        out = np.ones(len(frame), dtype=bool)
        for condition in self.conditions:
            out &= condition.mask(frame)
        return out

    @classmethod
    def from_path(cls, path: Iterable[Condition]) -> SegmentRule:
        """Simplify the conditions met on a root-to-leaf path into one rule.

        Per column, numeric bounds are tightened (largest ``>=``, smallest ``<``) and
        category conditions are intersected (``in A`` and ``not in B`` becomes
        ``in A minus B``; several ``not in`` merge their labels). Columns keep the order
        in which the path first tested them.
        """
        order: list[str] = []
        lower: dict[str, float] = {}
        upper: dict[str, float] = {}
        include: dict[str, tuple] = {}
        exclude: dict[str, tuple] = {}
        for c in path:
            if c.column not in order:
                order.append(c.column)
            if c.op == ">=":
                lower[c.column] = max(lower.get(c.column, -math.inf), c.threshold)
            elif c.op == "<":
                upper[c.column] = min(upper.get(c.column, math.inf), c.threshold)
            elif c.op == "in":
                kept = include.get(c.column, c.labels)
                include[c.column] = tuple(x for x in kept if x in c.labels)
            else:
                extra = tuple(x for x in c.labels if x not in exclude.get(c.column, ()))
                exclude[c.column] = exclude.get(c.column, ()) + extra
        conditions: list[Condition] = []
        for column in order:
            if column in lower:
                conditions.append(Condition(column, ">=", lower[column]))
            if column in upper:
                conditions.append(Condition(column, "<", upper[column]))
            if column in include:
                labels = tuple(x for x in include[column] if x not in exclude.get(column, ()))
                conditions.append(Condition(column, "in", labels))
            elif column in exclude:
                conditions.append(Condition(column, "not in", exclude[column]))
        return cls(tuple(conditions))


def apply_rule(frame: pd.DataFrame, rule: SegmentRule | str) -> np.ndarray:
    """Rows of ``frame`` that satisfy ``rule``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Covariates, one row per visitor, with the columns the rule names.
    rule : SegmentRule or str
        A rule object or its string form (see the module docstring).

    Returns
    -------
    ndarray of bool, shape (n,)
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(rule, str):
        rule = parse_rule(rule)
    if not isinstance(rule, SegmentRule):
        raise TypeError(f"rule must be a SegmentRule or str, got {type(rule).__name__}")
    return rule.mask(frame)


def parse_rule(text: str) -> SegmentRule:
    """Read the string form of a rule back into a :class:`SegmentRule`.

    Category labels come back as strings; :meth:`SegmentRule.mask` matches them to the
    frame's values by ``str()``.
    """
    if not isinstance(text, str):
        raise TypeError(f"rule text must be a str, got {type(text).__name__}")
    if text.strip() == ALL_VISITORS:
        return SegmentRule()
    tokens = _tokenize(text)
    conditions: list[Condition] = []
    position = 0
    while True:
        condition, position = _parse_clause(tokens, position, text)
        conditions.append(condition)
        if position == len(tokens):
            return SegmentRule(tuple(conditions))
        if tokens[position] != ("word", "and"):
            raise ValueError(f"rule {text!r}: expected 'and' at {tokens[position][1]!r}")
        position += 1


def _parse_clause(tokens: list[tuple[str, str]], position: int, text: str) -> tuple[Condition, int]:
    def take() -> tuple[str, str]:
        nonlocal position
        if position >= len(tokens):
            raise ValueError(f"rule {text!r} ends in the middle of a clause")
        token = tokens[position]
        position += 1
        return token

    kind, raw = take()
    if kind not in ("word", "backtick"):
        raise ValueError(f"rule {text!r}: expected a column name, got {raw!r}")
    column = raw[1:-1] if kind == "backtick" else raw
    _, op = take()
    if op == "not":
        if take() != ("word", "in"):
            raise ValueError(f"rule {text!r}: expected 'in' after 'not'")
        op = "not in"
    if op in _NUMERIC_OPS:
        kind, raw = take()
        try:
            return Condition(column, cast(Operator, op), float(raw)), position
        except ValueError:
            raise ValueError(f"rule {text!r}: {raw!r} is not a number") from None
    if op != "in" and op != "not in":
        raise ValueError(f"rule {text!r}: unknown operator {op!r} after column {column!r}")
    if take() != ("symbol", "{"):
        raise ValueError(f"rule {text!r}: expected '{{' after {op!r}")
    labels: list[str] = []
    while True:
        kind, raw = take()
        if kind == "quoted":
            labels.append(ast.literal_eval(raw))
        elif kind == "word":
            labels.append(raw)
        else:
            raise ValueError(f"rule {text!r}: expected a category label, got {raw!r}")
        _, separator = take()
        if separator == "}":
            return Condition(column, cast(Operator, op), tuple(labels)), position
        if separator != ",":
            raise ValueError(f"rule {text!r}: expected ',' or '}}' in a label set")


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"rule {text!r}: cannot read from {text[position:]!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def _label_membership(series: pd.Series, labels: tuple) -> np.ndarray:
    wanted = np.array([str(label) for label in labels], dtype=object)
    if isinstance(series.dtype, pd.CategoricalDtype):
        names = np.array([str(c) for c in series.cat.categories], dtype=object)
        in_set = np.isin(names, wanted)
        codes = series.cat.codes.to_numpy()
        return np.where(codes >= 0, in_set[np.maximum(codes, 0)], False)
    return series.astype(str).isin(set(wanted)).to_numpy() & series.notna().to_numpy()


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _format_label(label: object) -> str:
    text = str(label)
    if _PLAIN_WORD.match(text) and text not in ("and", "in", "not"):
        return text
    return repr(text)


def _format_column(column: str) -> str:
    if _PLAIN_COLUMN.match(column) and column not in ("and", "in", "not"):
        return column
    if "`" in column:
        raise ValueError(f"column name {column!r} contains a backtick; rename it")
    return f"`{column}`"
