"""Ascend's ``filter=`` syntax: ``field<op>value`` terms joined by commas (AND).

Operators (SOURCE-NOTES §6): ``==``, ``>=``, ``>``, ``<``, ``<=``, ``~=`` (partial match; we take it as a
case-insensitive *contains* — contains vs prefix is unspecified), ``->[a,b]`` (value in a list). Fields are
dotted paths (``location.id``). Values compare as instants when both sides are ISO date-times, as numbers
when both are numeric, else as text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

import attrs

__all__ = ["FilterError", "Term", "matches", "parse_filter"]

_TERM = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*(==|>=|<=|~=|->|>|<)\s*(.*?)\s*$", re.DOTALL)
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


class FilterError(ValueError):
    """A filter the emulator cannot parse (answered with 400)."""


@attrs.frozen
class Term:
    field: str
    op: str
    value: str | tuple[str, ...]


def _split(text: str) -> list[str]:
    """Split on commas outside ``[...]``."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise FilterError("unbalanced ']'")
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    if depth != 0:
        raise FilterError("unbalanced '['")
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def parse_filter(text: str) -> list[Term]:
    terms = []
    for part in _split(text):
        m = _TERM.match(part)
        if m is None:
            raise FilterError("a filter term is not field<op>value")
        field, op, value = m.groups()
        if op == "->":
            if not (value.startswith("[") and value.endswith("]")):
                raise FilterError("'->' takes a [a,b] list")
            items = tuple(v.strip() for v in value[1:-1].split(",") if v.strip())
            terms.append(Term(field, op, items))
        else:
            terms.append(Term(field, op, value))
    return terms


def _lookup(obj: Mapping[str, Any], path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _instant(text: str) -> dt.datetime | None:
    if "T" not in text and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _compare(left: str, right: str) -> int:
    a, b = _instant(left), _instant(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if _NUMBER.fullmatch(left) and _NUMBER.fullmatch(right):
        x, y = float(left), float(right)
        return (x > y) - (x < y)
    return (left > right) - (left < right)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def matches(obj: Mapping[str, Any], terms: list[Term]) -> bool:
    for term in terms:
        actual = _text(_lookup(obj, term.field))
        if term.op == "->":
            if actual not in term.value:
                return False
            continue
        assert isinstance(term.value, str)
        if actual is None:
            if term.op == "==" and term.value.lower() == "null":
                continue
            return False
        if term.op == "~=":
            if term.value.lower() not in actual.lower():
                return False
            continue
        order = _compare(actual, term.value)
        ok = {"==": order == 0, ">=": order >= 0, ">": order > 0, "<": order < 0, "<=": order <= 0}[term.op]
        if not ok:
            return False
    return True
