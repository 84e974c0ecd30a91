"""What HighLevel answers, as frozen attrs classes (read through the tolerant converter).

Only the fields a migration uses are typed; unknown keys are ignored. Fields that can hold patient data are
left out of ``repr`` (``repr`` shows ids), because reprs end up in logs and tracebacks.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

__all__ = [
    "Appointment",
    "Calendar",
    "Contact",
    "CustomField",
    "CustomFieldReading",
    "CustomValue",
    "Location",
    "LocationSettings",
    "LocationTag",
    "Note",
    "Opportunity",
    "OpportunityUpsertResult",
    "Pipeline",
    "PipelineStage",
    "Task",
    "UploadedFile",
    "UpsertResult",
    "User",
    "UserRoles",
    "Workflow",
]


def _phi(**kwargs: Any) -> Any:
    """A field that may hold patient data: optional, and never in repr."""
    return attrs.field(default=None, repr=False, **kwargs)


@attrs.frozen(kw_only=True)
class CustomFieldReading:
    """One custom field value as read back: contacts use ``value``, opportunities ``fieldValue``."""

    id: str
    value: Any = attrs.field(default=None, repr=False)
    field_value: Any = attrs.field(default=None, repr=False)

    @property
    def current(self) -> Any:
        return self.value if self.value is not None else self.field_value

    def as_date(self) -> dt.date | None:
        """A DATE field's value: HighLevel reads these back as ISO strings or epoch ms (UTC midnight)."""
        raw = self.current
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            return dt.datetime.fromtimestamp(raw / 1000, tz=dt.UTC).date()
        if isinstance(raw, str):
            try:
                return dt.date.fromisoformat(raw[:10])
            except ValueError:
                return None
        return None


@attrs.frozen(kw_only=True)
class Contact:
    id: str
    location_id: str | None = None
    first_name: str | None = _phi()
    last_name: str | None = _phi()
    name: str | None = _phi()
    email: str | None = _phi()
    phone: str | None = _phi()
    address1: str | None = _phi()
    city: str | None = _phi()
    state: str | None = _phi()
    postal_code: str | None = _phi()
    country: str | None = None
    website: str | None = _phi()
    timezone: str | None = None
    company_name: str | None = _phi()
    source: str | None = None
    assigned_to: str | None = None
    dnd: bool | None = None
    type: str | None = None
    tags: tuple[str, ...] = attrs.field(factory=tuple, repr=False)
    custom_fields: tuple[CustomFieldReading, ...] = attrs.field(factory=tuple, repr=False)
    date_of_birth: Any = attrs.field(default=None, repr=False)
    date_added: str | None = None
    date_updated: str | None = None
    search_after: tuple[Any, ...] | None = attrs.field(default=None, repr=False)

    def custom_reading(self, field_id: str) -> CustomFieldReading | None:
        return next((r for r in self.custom_fields if r.id == field_id), None)

    def custom_value(self, field_id: str) -> Any:
        """The value of custom field ``field_id`` as read back, or None."""
        reading = self.custom_reading(field_id)
        return None if reading is None else reading.current


@attrs.frozen(kw_only=True)
class UpsertResult:
    contact: Contact
    new: bool
    trace_id: str | None = None


@attrs.frozen(kw_only=True)
class Note:
    id: str
    body: str | None = _phi()
    title: str | None = _phi()
    user_id: str | None = None
    contact_id: str | None = None
    color: str | None = None
    pinned: bool | None = None
    date_added: str | None = None


@attrs.frozen(kw_only=True)
class Task:
    id: str
    title: str | None = _phi()
    body: str | None = _phi()
    assigned_to: str | None = None
    due_date: str | None = None
    completed: bool | None = None
    contact_id: str | None = None


@attrs.frozen(kw_only=True)
class CustomField:
    """A location's contact/opportunity custom field (its ``data_type`` decides the value shape)."""

    id: str
    name: str | None = None
    field_key: str | None = None
    data_type: str | None = None
    placeholder: str | None = None
    position: int | None = None
    picklist_options: tuple[Any, ...] = ()
    model: str | None = None
    location_id: str | None = None


@attrs.frozen(kw_only=True)
class CustomValue:
    id: str
    name: str | None = None
    field_key: str | None = None
    value: str | None = _phi()
    location_id: str | None = None


@attrs.frozen(kw_only=True)
class LocationSettings:
    allow_duplicate_contact: bool | None = None
    allow_duplicate_opportunity: bool | None = None
    allow_facebook_name_merge: bool | None = None
    disable_contact_timezone: bool | None = None


@attrs.frozen(kw_only=True)
class Location:
    id: str
    company_id: str | None = None
    name: str | None = None
    timezone: str | None = None
    country: str | None = None
    email: str | None = _phi()
    phone: str | None = _phi()
    settings: LocationSettings | None = None

    @property
    def allows_duplicate_contacts(self) -> bool:
        return bool(self.settings and self.settings.allow_duplicate_contact)


@attrs.frozen(kw_only=True)
class LocationTag:
    id: str
    name: str | None = None
    location_id: str | None = None


@attrs.frozen(kw_only=True)
class UserRoles:
    type: str | None = None
    role: str | None = None
    location_ids: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class User:
    id: str
    name: str | None = _phi()
    first_name: str | None = _phi()
    last_name: str | None = _phi()
    email: str | None = _phi()
    phone: str | None = _phi()
    roles: UserRoles | None = None
    deleted: bool | None = None


@attrs.frozen(kw_only=True)
class Calendar:
    id: str
    name: str | None = None
    location_id: str | None = None
    group_id: str | None = None
    calendar_type: str | None = None
    slot_duration: int | None = None
    is_active: bool | None = None
    team_members: tuple[Any, ...] = attrs.field(factory=tuple, repr=False)


@attrs.frozen(kw_only=True)
class Appointment:
    id: str
    calendar_id: str | None = None
    location_id: str | None = None
    contact_id: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    title: str | None = _phi()
    appointment_status: str | None = None
    assigned_user_id: str | None = None
    address: str | None = _phi()
    is_recurring: bool | None = None
    rrule: str | None = None
    date_added: str | None = None
    date_updated: str | None = None


@attrs.frozen(kw_only=True)
class Opportunity:
    id: str
    name: str | None = _phi()
    monetary_value: float | None = None
    pipeline_id: str | None = None
    pipeline_stage_id: str | None = None
    assigned_to: str | None = None
    status: str | None = None
    source: str | None = None
    contact_id: str | None = None
    location_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    custom_fields: tuple[CustomFieldReading, ...] = attrs.field(factory=tuple, repr=False)


@attrs.frozen(kw_only=True)
class OpportunityUpsertResult:
    opportunity: Opportunity
    new: bool


@attrs.frozen(kw_only=True)
class PipelineStage:
    id: str
    name: str | None = None
    position: int | None = None


@attrs.frozen(kw_only=True)
class Pipeline:
    id: str
    name: str | None = None
    location_id: str | None = None
    stages: tuple[PipelineStage, ...] = ()

    def stage_named(self, name: str) -> PipelineStage | None:
        folded = name.casefold()
        return next((s for s in self.stages if (s.name or "").casefold() == folded), None)


@attrs.frozen(kw_only=True)
class UploadedFile:
    file_id: str
    url: str | None = None


@attrs.frozen(kw_only=True)
class Workflow:
    """One of the location's automations (``GET /workflows/``): ``status`` is ``published`` or ``draft``."""

    id: str
    name: str | None = None
    status: str | None = None
    version: float | None = None

    @property
    def published(self) -> bool:
        return (self.status or "").casefold() == "published"
