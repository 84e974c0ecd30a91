"""The emulator's ``filter=`` parser and matcher."""

from __future__ import annotations

import pytest

from dentrix_highlevel.ascend_emulator._filters import FilterError, Term, matches, parse_filter

APPOINTMENT = {
    "id": "7000000000120",
    "start": "2025-07-01T15:00:00.000Z",
    "lastModified": "2025-03-01T17:22:05.120Z",
    "status": "CONFIRMED",
    "duration": 60,
    "patient": {"id": "7000000001001"},
    "location": {"id": "7000000000114"},
    "title": "Crown Seat",
    "note": None,
}


def test_comma_is_and_and_brackets_keep_their_commas() -> None:
    terms = parse_filter("lastModified>=2025-01-01T00:00:00Z,patient.id->[7000000001001, 7000000001002]")
    assert terms == [
        Term("lastModified", ">=", "2025-01-01T00:00:00Z"),
        Term("patient.id", "->", ("7000000001001", "7000000001002")),
    ]
    assert matches(APPOINTMENT, terms)
    assert not matches(APPOINTMENT, parse_filter("lastModified>=2025-06-01T00:00:00Z,patient.id->[1]"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status==CONFIRMED", True),
        ("status==UNCONFIRMED", False),
        ("start>2025-07-01T14:59:59.999Z", True),
        ("start>2025-07-01T15:00:00Z", False),  # same instant, different spelling
        ("start>=2025-07-01T09:00:00-06:00", True),  # an offset is the same instant
        ("start<2025-07-02", True),
        ("start<=2025-07-01T15:00:00.000Z", True),
        ("duration>=60", True),
        ("duration>100", False),  # numeric, not text order ("60" > "100" as text)
        ("title~=crown", True),  # partial, case-insensitive
        ("title~=bridge", False),
        ("location.id==7000000000114", True),
        ("note==null", True),
        ("missing.field==x", False),
        ("id->[7000000000120]", True),
        ("id->[]", False),
    ],
)
def test_operators(text: str, expected: bool) -> None:
    assert matches(APPOINTMENT, parse_filter(text)) is expected


def test_empty_filter_matches_everything() -> None:
    assert parse_filter("") == []
    assert matches(APPOINTMENT, [])


@pytest.mark.parametrize("text", ["status", "patient.id->7000", "id->[1,2", "id->]1[", "=x"])
def test_unparseable_filters_are_refused(text: str) -> None:
    with pytest.raises(FilterError):
        parse_filter(text)
