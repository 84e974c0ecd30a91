"""Cell parsers: every accepted date form, the open sentinel, numbers, money, flags; bad values refused."""

from __future__ import annotations

import pytest

from dentrix_highlevel.sources._values import (
    OPEN_DATE,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1984-07-02", "1984-07-02"),
        ("1984-07-02 00:00:00", "1984-07-02"),
        ("07/02/1984", "1984-07-02"),
        ("7/2/1984", "1984-07-02"),
        ("07/02/1984 14:30", "1984-07-02"),
        ("1984/07/02", "1984-07-02"),
        ("9999-12-31", OPEN_DATE),
        ("9999/12/31", OPEN_DATE),
        ("12/31/9999", OPEN_DATE),
    ],
)
def test_parse_date_accepts_the_documented_forms(text: str, expected: str) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-03-01 17:22:05", "2025-03-01T17:22:05"),
        ("2025-03-01", "2025-03-01T00:00:00"),
        ("03/01/2025 17:22", "2025-03-01T17:22:00"),
        ("03/01/2025 5:22 PM", "2025-03-01T17:22:00"),
        ("03/01/2025 12:05 am", "2025-03-01T00:05:00"),
        ("2025-03-01T17:22:05.120Z", "2025-03-01T17:22:05"),
    ],
)
def test_parse_datetime(text: str, expected: str) -> None:
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    ["02/30/1985", "1985-13-01", "N/A", "00/00/0000", "31/12/1990", "tomorrow", "0001-01-01", "2024-1-1x"],
)
def test_bad_dates_raise_without_echoing_the_value(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"^(not a recognised date format|not a real calendar date|year out of range)$"
    ) as info:
        parse_date(text)
    assert text not in str(info.value)


@pytest.mark.parametrize(
    ("text", "expected"), [("12", "12"), ("-106", "-106"), ("007", "7"), ("12.0", "12"), ("+3", "3")]
)
def test_parse_int(text: str, expected: str) -> None:
    assert parse_int(text) == expected


@pytest.mark.parametrize("text", ["12.5", "abc", "1,000", ""])
def test_parse_int_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="integer"):
        parse_int(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("145.00", "145.00"),
        ("-20.50", "-20.50"),
        ("$1,234.50", "1234.50"),
        ("(12.50)", "-12.50"),
        ("0", "0"),
        (".5", "0.5"),
    ],
)
def test_parse_decimal(text: str, expected: str) -> None:
    assert parse_decimal(text) == expected


@pytest.mark.parametrize("text", ["12.3.4", "$-", "abc", "1,23", "()", "--5"])
def test_parse_decimal_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="decimal"):
        parse_decimal(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("1", "1"), ("0", "0"), ("True", "1"), ("n", "0"), ("-1", "1"), ("YES", "1")]
)
def test_parse_bool(text: str, expected: str) -> None:
    assert parse_bool(text) == expected


def test_parse_bool_refuses_other_values() -> None:
    with pytest.raises(ValueError, match="flag"):
        parse_bool("2")
