"""What we send to HighLevel: strict request models.

Attribute names map to HighLevel's exact JSON keys (camelCase, ``field_value`` in custom field values);
unset (None) attributes are left out of the body. Values are normalised at construction, and a wrong value
raises :class:`ConfigurationError` naming the field, never the value (it may be a patient's).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel._models import CustomField

__all__ = [
    "AppointmentInput",
    "ContactInput",
    "CustomFieldInput",
    "CustomFieldValue",
    "CustomValueInput",
    "NoteInput",
    "OpportunityInput",
    "TaskInput",
    "UserInput",
    "clear_value",
    "value_for_write",
]

_TEXT_TYPES = frozenset({"TEXT", "LARGE_TEXT", "SINGLE_OPTIONS", "RADIO", "PHONE", "EMAIL", "TEXTBOX_LIST"})
_NUMBER_TYPES = frozenset({"NUMERICAL", "MONETORY", "FLOAT"})
_LIST_TYPES = frozenset({"CHECKBOX", "MULTIPLE_OPTIONS"})
DATA_TYPES = _TEXT_TYPES | _NUMBER_TYPES | _LIST_TYPES | {"DATE", "FILE_UPLOAD"}

FieldValue = str | int | float | list[str] | dict[str, Any]
#: A cleared value: HighLevel clears each dataType its own way (``clear_value``).
ClearedValue = str | list[str] | None


def clear_value(data_type: str | None) -> ClearedValue:
    """The ``field_value`` that clears a custom field of ``data_type``, by HighLevel's rule per type.

    Text-like and single-choice fields clear with ``""``; multi-choice fields (a list) with ``[]``;
    numbers, money and dates with ``null``: HighLevel validates them as numbers / ``YYYY-MM-DD``, so an
    empty string is an invalid value there, not a clear (docs/sandbox.md, fidelity table). An unknown
    type clears with ``null``, which every type accepts.
    """
    if data_type in _LIST_TYPES:
        return []
    if data_type in _TEXT_TYPES:
        return ""
    return None


def value_for_write(data_type: str | None, read: object) -> object:
    """A value as HighLevel reads it back, in the shape a write of ``data_type`` takes (restoring a
    pre-image): DATE reads back as epoch ms or an ISO string and is written as ``YYYY-MM-DD``; an empty
    read is the type's clear."""
    if read is None or read == "" or read == []:
        return clear_value(data_type)
    if data_type == "DATE":
        if isinstance(read, int | float) and not isinstance(read, bool):
            return dt.datetime.fromtimestamp(read / 1000, tz=dt.UTC).date().isoformat()
        if isinstance(read, str):
            try:
                return dt.datetime.fromisoformat(read.replace("Z", "+00:00")).date().isoformat()
            except ValueError:
                return read
    if data_type in _LIST_TYPES and isinstance(read, str):
        return [read]
    return read


def _iso_date(value: object, what: str) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ConfigurationError(f"{what} must be a date or a YYYY-MM-DD string")


def _number(value: object, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigurationError(f"{what} must be a number (int, float or Decimal)")
    number = float(value) if isinstance(value, Decimal) else value
    if isinstance(number, float) and not math.isfinite(number):
        raise ConfigurationError(f"{what} must be a finite number")
    if isinstance(number, float) and number.is_integer() and isinstance(value, Decimal):
        return int(number)
    return number


def _strings(value: object, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigurationError(f"{what} must be a list of strings")
    items = list(value)
    if not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"{what} must be a list of strings")
    return items


@attrs.frozen(kw_only=True)
class CustomFieldValue:
    """One custom field value to write, already in the shape its ``dataType`` needs.

    Build it with :meth:`for_field` (checks against the field's ``dataType`` and picklist) or :meth:`typed`:
    NUMERICAL/MONETORY → number, DATE → ``YYYY-MM-DD``, CHECKBOX/MULTIPLE_OPTIONS → list of strings,
    TEXT-like → string. Addressed by ``id`` or by ``key`` (``contact.some_key``).
    """

    id: str | None = None
    key: str | None = None
    field_value: FieldValue = attrs.field(repr=False, metadata={"json": "field_value"})

    def __attrs_post_init__(self) -> None:
        if (self.id is None) == (self.key is None):
            raise ConfigurationError("CustomFieldValue needs exactly one of id or key")

    @classmethod
    def typed(
        cls, data_type: str, value: object, *, id: str | None = None, key: str | None = None
    ) -> CustomFieldValue:
        what = f"custom field {id or key} ({data_type})"
        shaped: FieldValue
        if data_type in _NUMBER_TYPES:
            shaped = _number(value, what)
        elif data_type == "DATE":
            shaped = _iso_date(value, what)
        elif data_type in _LIST_TYPES:
            shaped = _strings(value, what)
        elif data_type in _TEXT_TYPES:
            if not isinstance(value, str):
                raise ConfigurationError(f"{what} must be a string")
            shaped = value
        elif data_type == "FILE_UPLOAD":
            if not isinstance(value, Mapping):
                raise ConfigurationError(f"{what} must be a mapping of upload uuid to file metadata")
            shaped = dict(value)
        else:
            raise ConfigurationError(f"unknown custom field dataType {data_type!r}")
        return cls(id=id, key=key, field_value=shaped)

    @classmethod
    def for_field(cls, field: CustomField, value: object, *, by_key: bool = False) -> CustomFieldValue:
        """Shape ``value`` for ``field``; picklist fields only accept their existing options."""
        if field.data_type is None:
            raise ConfigurationError(f"custom field {field.id} has no dataType")
        if by_key and not field.field_key:
            raise ConfigurationError(f"custom field {field.id} has no fieldKey")
        result = cls.typed(
            field.data_type,
            value,
            id=None if by_key else field.id,
            key=field.field_key if by_key else None,
        )
        options = {str(o) for o in field.picklist_options if isinstance(o, str)}
        if options and field.data_type in {"SINGLE_OPTIONS", "RADIO", "CHECKBOX", "MULTIPLE_OPTIONS"}:
            chosen = [result.field_value] if isinstance(result.field_value, str) else result.field_value
            if not isinstance(chosen, list) or any(c not in options for c in chosen):
                raise ConfigurationError(f"custom field {field.id}: value is not one of its picklist options")
        return result


def _custom_values(values: Iterable[CustomFieldValue] | None) -> tuple[CustomFieldValue, ...] | None:
    if values is None:
        return None
    result = tuple(values)
    if not all(isinstance(v, CustomFieldValue) for v in result):
        raise ConfigurationError(
            "custom_fields must be CustomFieldValue items (see CustomFieldValue.for_field)"
        )
    return result


def _opt_tags(values: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(_strings(values, "tags"))


def _opt_date(value: object) -> str | None:
    return None if value is None else _iso_date(value, "date_of_birth")


def _opt_aware_datetime(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ConfigurationError("appointment and task times need an explicit UTC offset")
        return value.isoformat()
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigurationError("times must be ISO-8601 strings with an offset") from None
        if parsed.tzinfo is None:
            raise ConfigurationError("appointment and task times need an explicit UTC offset")
        return value
    raise ConfigurationError("times must be aware datetimes or ISO-8601 strings with an offset")


def _phi(**kwargs: Any) -> Any:
    return attrs.field(default=None, repr=False, **kwargs)


def _opt_dnd_settings(value: object) -> dict[str, dict[str, str]] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) for v in value.values()):
        raise ConfigurationError("dnd_settings must map each channel to its settings")
    return {str(channel): {str(k): str(v) for k, v in setting.items()} for channel, setting in value.items()}


@attrs.frozen(kw_only=True)
class ContactInput:
    """Fields of a contact create/upsert/update (``locationId`` is added by the client).

    ``tags`` on upsert/update REPLACE the contact's tags; use ``client.contacts.add_tags`` to add.
    ``gender`` and ``company_name`` are accepted by create/upsert only (HighLevel's PUT rejects them).
    """

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
    gender: str | None = _phi()
    date_of_birth: str | None = attrs.field(default=None, repr=False, converter=_opt_date)
    tags: tuple[str, ...] | None = attrs.field(default=None, repr=False, converter=_opt_tags)
    custom_fields: tuple[CustomFieldValue, ...] | None = attrs.field(
        default=None, repr=False, converter=_custom_values
    )
    dnd_settings: Mapping[str, Mapping[str, str]] | None = attrs.field(
        default=None, repr=False, converter=_opt_dnd_settings, hash=False
    )
    """Do-not-disturb per channel (``{"SMS": {"status": "active"}}``), as the contact map writes it: a
    consent the practice recorded, so the typed input carries it rather than dropping it."""

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> ContactInput:
        """The input for a contact payload in HighLevel's JSON names (camelCase), as
        ``FieldMap.apply(...).payload`` produces it: ``customFields`` items become
        :class:`CustomFieldValue`; ``locationId`` is dropped (the client adds its own).

        Raises :class:`ConfigurationError` naming (never quoting) a field a contact input does not have.
        """
        from dentrix_highlevel.highlevel._convert import json_name

        names = {json_name(a): a.name for a in attrs.fields(cls)}
        fields: dict[str, Any] = {}
        for key, value in payload.items():
            if key == "locationId":
                continue
            if key not in names:
                raise ConfigurationError(f"a contact input has no field {key!r}")
            fields[names[key]] = value
        custom = fields.get("custom_fields")
        if custom is not None:
            if isinstance(custom, str) or not isinstance(custom, Iterable):
                raise ConfigurationError("customFields must be a list of custom field values")
            fields["custom_fields"] = tuple(_custom_value_of(item) for item in custom)
        return cls(**fields)

    def lookup(self) -> dict[str, str]:
        """What finds this contact again after an ambiguous create (e-mail and/or phone)."""
        found = {"email": self.email, "phone": self.phone}
        return {k: v for k, v in found.items() if v}


def _custom_value_of(item: object) -> CustomFieldValue:
    if isinstance(item, CustomFieldValue):
        return item
    if not isinstance(item, Mapping) or "field_value" not in item:
        raise ConfigurationError("each customFields item needs id or key, and field_value")
    return CustomFieldValue(id=item.get("id"), key=item.get("key"), field_value=item["field_value"])


@attrs.frozen(kw_only=True)
class NoteInput:
    body: str = attrs.field(repr=False)
    user_id: str | None = None
    title: str | None = _phi()
    color: str | None = None
    pinned: bool | None = None


@attrs.frozen(kw_only=True)
class TaskInput:
    title: str = attrs.field(repr=False)
    due_date: str = attrs.field(converter=_opt_aware_datetime)
    completed: bool = False
    body: str | None = _phi()
    assigned_to: str | None = None


@attrs.frozen(kw_only=True)
class CustomFieldInput:
    """A custom field definition; ``options`` are the picklist options of SINGLE/MULTIPLE_OPTIONS etc."""

    name: str
    data_type: str
    model: str | None = None
    placeholder: str | None = None
    position: int | None = None
    field_key: str | None = None
    parent_id: str | None = None
    options: tuple[str, ...] | None = attrs.field(default=None, converter=_opt_tags)

    def __attrs_post_init__(self) -> None:
        if self.data_type not in DATA_TYPES:
            raise ConfigurationError(f"unknown custom field dataType {self.data_type!r}")
        if self.model not in (None, "contact", "opportunity"):
            raise ConfigurationError("CustomFieldInput.model must be 'contact' or 'opportunity'")


@attrs.frozen(kw_only=True)
class CustomValueInput:
    name: str
    value: str = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class UserInput:
    first_name: str = attrs.field(repr=False)
    last_name: str = attrs.field(repr=False)
    email: str = attrs.field(repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    type: str = "account"
    role: str = "user"
    location_ids: tuple[str, ...] | None = None
    company_id: str | None = None
    phone: str | None = _phi()

    def __attrs_post_init__(self) -> None:
        if self.type not in ("account", "agency") or self.role not in ("admin", "user"):
            raise ConfigurationError("UserInput.type must be account|agency and role admin|user")


@attrs.frozen(kw_only=True)
class AppointmentInput:
    """An appointment; times need an explicit offset. Historical imports: keep the three safety flags on."""

    calendar_id: str
    contact_id: str
    start_time: str = attrs.field(converter=_opt_aware_datetime)
    end_time: str | None = attrs.field(default=None, converter=_opt_aware_datetime)
    title: str | None = _phi()
    appointment_status: str | None = None
    assigned_user_id: str | None = None
    address: str | None = _phi()
    meeting_location_type: str | None = None
    description: str | None = _phi()
    ignore_date_range: bool | None = None
    ignore_free_slot_validation: bool | None = None
    to_notify: bool | None = None
    rrule: str | None = None

    @classmethod
    def historical(cls, **kwargs: Any) -> AppointmentInput:
        """An import of a past/existing booking: no slot checks, no date range, no automations."""
        flags = {"ignore_free_slot_validation": True, "ignore_date_range": True, "to_notify": False}
        return cls(**{**flags, **kwargs})

    def lookup(self) -> dict[str, str]:
        return {"calendarId": self.calendar_id, "contactId": self.contact_id, "startTime": self.start_time}


_OPPORTUNITY_STATUSES = frozenset({"open", "won", "lost", "abandoned"})


@attrs.frozen(kw_only=True)
class OpportunityInput:
    pipeline_id: str
    name: str = attrs.field(repr=False)
    contact_id: str
    status: str = "open"
    pipeline_stage_id: str | None = None
    monetary_value: float | None = None
    assigned_to: str | None = None
    custom_fields: tuple[CustomFieldValue, ...] | None = attrs.field(
        default=None, repr=False, converter=_custom_values
    )

    def __attrs_post_init__(self) -> None:
        if self.status not in _OPPORTUNITY_STATUSES:
            raise ConfigurationError("OpportunityInput.status must be open|won|lost|abandoned")
        if self.monetary_value is not None:
            _number(self.monetary_value, "monetary_value")

    def lookup(self) -> dict[str, str]:
        return {"pipelineId": self.pipeline_id, "contactId": self.contact_id}


def require_fields(present: Sequence[str], forbidden: Iterable[str], what: str) -> None:
    bad = sorted(set(present) & set(forbidden))
    if bad:
        raise ConfigurationError(f"{what} does not accept {', '.join(bad)}")
