"""The exception tree: messages carry ids and request info, never values."""

from __future__ import annotations

from dentrix_highlevel.errors import (
    AmbiguousWriteError,
    DailyCapReachedError,
    DuplicateContactError,
    HighLevelError,
    RateLimitedError,
    ValidationError,
)


def test_highlevel_error_renders_request_and_trace() -> None:
    err = HighLevelError("boom", method="GET", path="/contacts/abc", status_code=502, trace_id="t-1")
    assert str(err) == "boom [GET /contacts/abc -> 502] traceId=t-1"


def test_subclass_relationships() -> None:
    assert issubclass(DuplicateContactError, ValidationError)
    assert issubclass(DailyCapReachedError, RateLimitedError)
    dup = DuplicateContactError("dup", contact_id="c1", matching_field="email")
    assert dup.contact_id == "c1"
    assert dup.matching_field == "email"


def test_ambiguous_write_hides_lookup_values() -> None:
    err = AmbiguousWriteError(
        "create may have happened",
        resource="contact",
        lookup={"email": "pat@example.com"},
        method="POST",
        path="/contacts/",
    )
    assert "pat@example.com" not in str(err)
    assert "pat@example.com" not in repr(err)
    assert err.lookup == {"email": "pat@example.com"}
