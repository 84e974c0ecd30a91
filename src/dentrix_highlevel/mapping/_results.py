"""What applying a map to one record produces: the payload, the field issues, the overflow items.

Reprs never show values: issues carry identifiers and reasons only, and payload/overflow text is hidden
behind counts, because results end up in logs and notebooks next to patient data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Generic, TypeVar

import attrs

__all__ = ["FieldIssue", "MappingResult", "OverflowItem", "TransformOutcome"]

T = TypeVar("T")


@attrs.frozen
class FieldIssue:
    """One field of one record could not be mapped (or was mapped with a loss worth a look).

    ``reason`` says why in words that never quote the value, e.g. "7 digits: no area code".
    """

    record_key: str
    field: str
    source_path: str
    code: str
    reason: str

    def line(self) -> str:
        """The one-line form used in reports: record, field, source path, code and reason."""
        return f"record {self.record_key}: {self.field} <- {self.source_path}: {self.code}: {self.reason}"


@attrs.frozen
class OverflowItem:
    """Text that did not fit in its field and should become a HighLevel Note on the same record.

    ``text`` is the patient data itself; it is kept out of ``repr`` (only its length shows).
    """

    record_key: str
    field: str
    source_path: str
    title: str
    text: str = attrs.field(repr=False)
    items: int = 1

    def __repr__(self) -> str:
        return (
            f"OverflowItem(record_key={self.record_key!r}, field={self.field!r}, "
            f"source_path={self.source_path!r}, title={self.title!r}, items={self.items}, "
            f"chars={len(self.text)})"
        )


@attrs.frozen
class MappingResult:
    """The HighLevel payload for one record, plus every field issue and overflow item of that record."""

    record_key: str
    object: str
    payload: Mapping[str, Any] = attrs.field(repr=False)
    issues: tuple[FieldIssue, ...] = ()
    overflow: tuple[OverflowItem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no field of the record had an issue."""
        return not self.issues

    def __repr__(self) -> str:
        return (
            f"MappingResult(record_key={self.record_key!r}, object={self.object!r}, "
            f"fields={sorted(self.payload)!r}, issues={len(self.issues)}, overflow={len(self.overflow)})"
        )


@attrs.frozen
class TransformOutcome(Generic[T]):
    """A transform run on its own (``transform.run(value)``): the value, and what it reported."""

    value: T | None = attrs.field(repr=False)
    issues: tuple[FieldIssue, ...] = ()
    overflow: tuple[OverflowItem, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.issues

    @property
    def codes(self) -> tuple[str, ...]:
        """The issue codes, in the order they were reported (handy in tests and triage)."""
        return tuple(issue.code for issue in self.issues)
