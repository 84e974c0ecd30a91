"""The practice settings transforms depend on, and the per-field context that gathers issues."""

from __future__ import annotations

import zoneinfo

import attrs
import phonenumbers

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.mapping._results import FieldIssue, OverflowItem

__all__ = ["FieldContext", "PracticeSettings"]


def _check_zone(_instance: object, _attribute: object, value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigurationError(f"unknown IANA time zone {value!r}") from exc


def _check_region(_instance: object, _attribute: object, value: str) -> None:
    if value not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigurationError(f"unknown phone region {value!r} (expected an ISO 3166 code such as 'US')")


@attrs.frozen(kw_only=True)
class PracticeSettings:
    """What a practice's data means: its IANA time zone (naive Dentrix times are local) and phone region."""

    timezone: str = attrs.field(default="UTC", validator=_check_zone)
    default_region: str = attrs.field(default="US", validator=_check_region)

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        # ZoneInfo caches instances per key, so this is cheap to call per value.
        return zoneinfo.ZoneInfo(self.timezone)


@attrs.define
class FieldContext:
    """Collects what happens while one field of one record is mapped (mutable on purpose: a collector)."""

    practice: PracticeSettings = attrs.field(factory=PracticeSettings)
    record_key: str = ""
    field: str = ""
    source_path: str = ""
    issues: list[FieldIssue] = attrs.field(factory=list)
    overflow: list[OverflowItem] = attrs.field(factory=list)

    def report(self, code: str, reason: str) -> None:
        """Record a field issue. ``reason`` must not contain the value."""
        self.issues.append(FieldIssue(self.record_key, self.field, self.source_path, code, reason))

    def spill(self, *, title: str, text: str, items: int) -> None:
        """Hand text that did not fit to a Note on the same record."""
        self.overflow.append(OverflowItem(self.record_key, self.field, self.source_path, title, text, items))
