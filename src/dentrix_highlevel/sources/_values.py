"""Cell parsers for the G export: dates, datetimes, numbers, money, booleans.

Each parser takes a trimmed, non-blank cell and returns a *normalised* text form (ISO dates, plain
integers and decimals) that staging stores, or raises ``ValueError`` with a value-free reason. Reading back
normalised text is then a cheap ``fromisoformat``/``int``/``Decimal``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

__all__ = [
    "OPEN_DATE",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "parse_int",
]

#: The "open / no end" sentinel, kept in normalised form so records can tell it from "unknown".
OPEN_DATE = "9999-12-31"

_ISO = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?Z?")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AaPp][Mm]))?)?")
_INT = re.compile(r"[-+]?\d+")
_DECIMAL = re.compile(r"[-+]?\$?(?:\d{1,3}(?:,\d{3})+|\d*)(?:\.\d+)?")
_TRUE = frozenset({"1", "true", "t", "y", "yes", "-1"})
_FALSE = frozenset({"0", "false", "f", "n", "no"})
_MIN_YEAR = 1800
_MAX_YEAR = 2200


def _split(text: str) -> tuple[int, int, int, int, int, int]:
    m = _ISO.fullmatch(text)
    if m:
        y, mo, d, hh, mm, ss = m.groups()
        return int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0)
    m = _US.fullmatch(text)
    if m:
        mo, d, y, hh, mm, ss, ampm = m.groups()
        hour = int(hh or 0)
        if ampm:
            if not 1 <= hour <= 12:
                raise ValueError("hour out of range for AM/PM")
            hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
        return int(y), int(mo), int(d), hour, int(mm or 0), int(ss or 0)
    raise ValueError("not a recognised date format")


def _check_year(year: int) -> None:
    if not (_MIN_YEAR <= year <= _MAX_YEAR or year == 9999):
        raise ValueError("year out of range")


def parse_date(text: str) -> str:
    """``YYYY-MM-DD`` from any accepted date or datetime form (the time part is dropped)."""
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():
        try:  # the common case, in C
            day = dt.date.fromisoformat(text)
        except ValueError:
            pass
        else:
            _check_year(day.year)
            return OPEN_DATE if day.year == 9999 else text
    y, mo, d, _, _, _ = _split(text)
    _check_year(y)
    if y == 9999:
        return OPEN_DATE
    try:
        return dt.date(y, mo, d).isoformat()
    except ValueError:
        raise ValueError("not a real calendar date") from None


def parse_datetime(text: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` (naive, practice-local) from any accepted form; a bare date is midnight."""
    if len(text) == 19 and text[4] == "-" and text[10] == " " and text.isascii():
        try:  # the common case, in C
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            _check_year(when.year)
            return OPEN_DATE if when.year == 9999 else when.isoformat()
    y, mo, d, hh, mm, ss = _split(text)
    _check_year(y)
    if y == 9999:
        return OPEN_DATE
    try:
        return dt.datetime(y, mo, d, hh, mm, ss).isoformat()
    except ValueError:
        raise ValueError("not a real calendar date or time") from None


def parse_int(text: str) -> str:
    if text.isdigit() and text.isascii():
        return text.lstrip("0") or "0"
    if not _INT.fullmatch(text):
        # Excel likes to turn integer columns into "12.0".
        if text.endswith(".0") and _INT.fullmatch(text[:-2]):
            return str(int(text[:-2]))
        raise ValueError("not an integer")
    return str(int(text))


def parse_decimal(text: str) -> str:
    negative = text.startswith("(") and text.endswith(")")  # accounting negatives: (12.50)
    body = text[1:-1] if negative else text
    if not body or not _DECIMAL.fullmatch(body) or not any(ch.isdigit() for ch in body):
        raise ValueError("not a decimal number")
    try:
        value = Decimal(body.replace("$", "").replace(",", ""))
    except InvalidOperation as exc:
        raise ValueError("not a decimal number") from exc
    return str(-value if negative else value)


def parse_bool(text: str) -> str:
    low = text.lower()
    if low in _TRUE:
        return "1"
    if low in _FALSE:
        return "0"
    raise ValueError("not a 0/1 flag")
