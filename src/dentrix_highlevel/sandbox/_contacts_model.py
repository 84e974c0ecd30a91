"""How a contact is written and read: field rules, custom field values per dataType, duplicate matching."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime
from typing import Any

from dentrix_highlevel.sandbox._http import (
    ApiError,
    Ctx,
    Field,
    drop_none,
    fields,
    normalize_email,
    normalize_phone,
    normalize_tags,
)
from dentrix_highlevel.sandbox._state import LocationState, iso_ms
from dentrix_highlevel.sandbox._undocumented import undocumented

__all__ = [
    "CREATE_FIELDS",
    "CUSTOM_ITEM_KEYS",
    "UPDATE_FIELDS",
    "UPSERT_FIELDS",
    "apply_contact_write",
    "clears",
    "contact_view",
    "custom_field_value",
    "find_duplicate",
]

Json = dict[str, Any]

_DND_CHANNELS = ("Call", "Email", "SMS", "WhatsApp", "GMB", "FB")
_DND_SETTING = {
    "status": Field(kind="str", required=True, enum=("active", "inactive", "permanent")),
    "message": Field(kind="str"),
    "code": Field(kind="str"),
}

#: Plain string fields a contact write stores as sent (the address block, website and time zone).
_STORED_AS_SENT = ("address1", "city", "state", "postalCode", "website", "timezone")
_COMMON = {
    **fields(Field(), "firstName", "lastName", "name", "email", "phone", *_STORED_AS_SENT),
    "dnd": Field(kind="bool"),
    "dndSettings": Field(kind="obj"),
    "inboundDndSettings": Field(kind="obj"),
    "tags": Field(kind="strs"),
    "customFields": Field(kind="list"),
    "source": Field(),
    "dateOfBirth": Field(kind="any"),
    "country": Field(),
    "assignedTo": Field(),
}
#: CreateContactDto / UpsertContactDto / UpdateContactDto (spec contacts). PUT has no locationId, gender or
#: companyName; sending them is a 422 like any unknown key (API-NOTES §2.1, issue #313).
CREATE_FIELDS: dict[str, Field] = {
    **_COMMON,
    "locationId": Field(required=True),
    "gender": Field(),
    "companyName": Field(),
}
UPSERT_FIELDS: dict[str, Field] = {**CREATE_FIELDS, "createNewIfDuplicateAllowed": Field(kind="bool")}
UPDATE_FIELDS: dict[str, Field] = dict(_COMMON)

_DOB_FORMATS = (
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d",
    "%m-%d-%Y",
    "%Y.%m.%d",
    "%m.%d.%Y",
    "%Y_%m_%d",
    "%m_%d_%Y",
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INVALID_CUSTOM_VALUE = "Invalid Custom Field Value"


def _parse_dob(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        for fmt in _DOB_FORMATS:
            try:
                return datetime.strptime(value, fmt).date().isoformat()
            except ValueError:
                continue
    raise ApiError.unprocessable(["dateOfBirth must be a valid date"])


def _check_dnd(ctx: Ctx, body: Json) -> None:
    settings = body.get("dndSettings")
    if isinstance(settings, dict):
        ctx.check(settings, dict.fromkeys(_DND_CHANNELS, Field(kind="obj")), prefix="dndSettings.")
        for channel, setting in settings.items():
            if setting is not None:
                ctx.check(setting, _DND_SETTING, prefix=f"dndSettings.{channel}.")
    inbound = body.get("inboundDndSettings")
    if isinstance(inbound, dict):
        ctx.check(inbound, {"all": Field(kind="obj")}, prefix="inboundDndSettings.")
        if inbound.get("all") is not None:
            ctx.check(
                inbound["all"],
                {"status": Field(required=True, enum=("active", "inactive")), "message": Field()},
                prefix="inboundDndSettings.all.",
            )


def _resolve_field(loc: LocationState, item: Json, model: str) -> Json | None:
    field_id = item.get("id")
    if isinstance(field_id, str) and field_id in loc.custom_fields:
        field = loc.custom_fields[field_id]
        return field if field.get("model", "contact") == model else None
    key = item.get("key")
    if isinstance(key, str) and key:
        wanted = {key, f"{model}.{key}"}
        for field in loc.custom_fields.values():
            if field.get("model", "contact") == model and field["fieldKey"] in wanted:
                return field
    return None


_TEXT_TYPES = frozenset({"TEXT", "LARGE_TEXT", "PHONE", "EMAIL", "TEXTBOX_LIST"})
_NUMBER_TYPES = frozenset({"NUMERICAL", "MONETORY"})
_MULTI_TYPES = frozenset({"CHECKBOX", "MULTIPLE_OPTIONS"})
_SINGLE_TYPES = frozenset({"SINGLE_OPTIONS", "RADIO"})


def _wrong_type() -> ApiError:
    """A value of the wrong JSON type for the dataType (a string for a number, "" for a date): 422."""
    return ApiError.unprocessable([INVALID_CUSTOM_VALUE])


def _bad_value() -> ApiError:
    """The right type but not a value the field takes (an unknown option, DD/MM/YYYY): 400 (§2.2)."""
    return ApiError.bad_request(INVALID_CUSTOM_VALUE)


def clears(field: Json, value: Any) -> bool:
    """The sandbox's one clear rule per dataType: ``null`` clears any field; text-like and single-choice
    fields also clear with ``""``, multi-choice ones with ``[]``. NUMERICAL/MONETORY/DATE clear only with
    ``null`` (``""`` is not a number or a date and is refused)."""
    kind = field["dataType"]
    if value is None:
        return True
    if kind in _TEXT_TYPES or kind in _SINGLE_TYPES:
        return bool(value == "")
    if kind in _MULTI_TYPES:
        return bool(value == [])
    return False


def custom_field_value(field: Json, value: Any) -> Any:
    """A written value in the field's dataType, as stored (and read back); ``ApiError`` if it does not fit.

    TEXT/LARGE_TEXT/PHONE/EMAIL/TEXTBOX_LIST take a string, NUMERICAL/MONETORY a number (not a numeric
    string), CHECKBOX/MULTIPLE_OPTIONS a list of existing options, SINGLE_OPTIONS/RADIO one existing
    option, DATE ``YYYY-MM-DD`` (spec input DTOs, API-NOTES §2.2). DATE reads back as epoch ms at UTC
    midnight, one of the two read shapes reported for HighLevel.
    """
    kind = field["dataType"]
    options = field.get("picklistOptions") or []
    if kind in _NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong_type()
        return value
    if kind in _MULTI_TYPES:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _wrong_type()
        if any(v not in options for v in value):
            raise _bad_value()
        return list(value)
    if kind in _SINGLE_TYPES:
        if not isinstance(value, str):
            raise _wrong_type()
        if value not in options:
            raise _bad_value()
        return value
    if kind == "DATE":
        if not isinstance(value, str) or value == "":
            raise _wrong_type()
        if not _ISO_DATE.match(value):
            raise _bad_value()
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise _bad_value() from None
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    if kind == "FILE_UPLOAD":
        if not isinstance(value, dict):
            raise _wrong_type()
        return value
    if not isinstance(value, str):
        raise _wrong_type()
    return value


def _lenient_value(field: Json, value: Any) -> Any:
    """``Strictness(custom_field_types=False)``: the sandbox's old coercions (numeric strings become
    numbers, a lone string a one-item list, epoch ms a DATE, numbers text); options checked only when the
    field has any."""
    kind = field["dataType"]
    options = field.get("picklistOptions") or []
    if kind in _NUMBER_TYPES and isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _bad_value() from None
        return int(number) if number.is_integer() and kind == "NUMERICAL" else number
    if kind in _MULTI_TYPES and isinstance(value, str):
        value = [value]
    if kind in _MULTI_TYPES or kind in _SINGLE_TYPES:
        values = value if isinstance(value, list) else [value]
        if not options and all(isinstance(v, str) for v in values):
            return value
    if kind == "DATE" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind in _TEXT_TYPES and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return custom_field_value(field, value)


#: The keys of one custom field value item: the spec's ``{id, key, field_value}`` (contacts' TextField &
#: co., opportunities' customFieldsInput*Schema), plus for contacts the undocumented ones that work.
CUSTOM_ITEM_KEYS: dict[str, frozenset[str]] = {
    "contact": frozenset({"id", "key", "field_value"})
    | undocumented("POST", "/contacts/", within="customFields"),
    "opportunity": frozenset({"id", "key", "field_value"}),
}
_VALUE_KEYS = ("field_value", "value", "fieldValue")


def merge_custom_fields(
    ctx: Ctx, loc: LocationState, current: list[Json], items: list[Any], *, model: str, value_key: str
) -> list[Json]:
    """Merge written custom field values into ``current`` by field id; fields left out are kept.

    Unknown field ids/keys are ignored, as HighLevel silently drops them. A cleared field (``clears``) is
    removed, so it no longer reads back.
    """
    strict = ctx.strict.custom_field_types
    allowed = (
        CUSTOM_ITEM_KEYS[model] if ctx.strict.body_properties else frozenset({"id", "key", *_VALUE_KEYS})
    )
    merged = {entry["id"]: entry for entry in current}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError.unprocessable([f"customFields.{index} must be an object"])
        unknown = [k for k in item if k not in allowed]
        if unknown:
            raise ApiError.unprocessable(
                [f"property customFields.{index}.{k} should not exist" for k in unknown]
            )
        field = _resolve_field(loc, item, model)
        if field is None:
            continue
        raw = next((item[k] for k in _VALUE_KEYS if k in item), None)
        cleared = clears(field, raw) if strict else raw is None or raw == "" or raw == []
        if cleared:
            merged.pop(field["id"], None)
            continue
        value = custom_field_value(field, raw) if strict else _lenient_value(field, raw)
        merged[field["id"]] = {"id": field["id"], value_key: value}
    return list(merged.values())


def find_duplicate(
    loc: LocationState,
    *,
    email: str | None,
    phone: str | None,
    exclude_id: str | None = None,
    order: tuple[str, ...] | None = None,
) -> tuple[Json, str] | None:
    """The first existing contact matching by the location's dedupe order, and the field that matched."""
    for field in order or loc.dedupe_order:
        wanted = email if field == "email" else phone
        if not wanted:
            continue
        contact = loc.first_match(field, wanted, exclude_id)
        if contact is not None:
            return contact, field
    return None


def _names(contact: Json) -> None:
    first, last = contact.get("firstName"), contact.get("lastName")
    full = " ".join(p for p in (first, last) if p) or contact.get("name")
    contact["name"] = full or None
    contact["firstNameLowerCase"] = first.lower() if first else None
    contact["lastNameLowerCase"] = last.lower() if last else None
    contact["fullNameLowerCase"] = full.lower() if full else None


def apply_contact_write(ctx: Ctx, loc: LocationState, contact: Json, body: Json, *, creating: bool) -> None:
    """Write a validated create/update/upsert body onto ``contact`` (a new or stored dict)."""
    _check_dnd(ctx, body)
    # Write a draft first: a 4xx half-way through must leave the stored contact untouched.
    draft = copy.deepcopy(contact)
    _write_fields(ctx, loc, draft, body, creating=creating)
    loc.index_remove(contact)
    contact.clear()
    contact.update(draft)
    loc.index_add(contact)
    if "tags" in body:
        loc.ensure_tags(contact["tags"], ctx.new_id)


def _write_fields(ctx: Ctx, loc: LocationState, contact: Json, body: Json, *, creating: bool) -> None:
    now = iso_ms(ctx.wall_s)
    plain = (
        "firstName",
        "lastName",
        *_STORED_AS_SENT,
        "dnd",
        "dndSettings",
        "inboundDndSettings",
        "source",
        "country",
        "companyName",
        "assignedTo",
    )
    for key in plain:
        if key in body:
            contact[key] = body[key]
    if "gender" in body and creating:
        # Upsert accepts gender but keeps the old value on an existing contact (issue #313).
        contact["gender"] = body["gender"]
    if body.get("name") and not body.get("firstName") and not body.get("lastName") and creating:
        first, _, last = body["name"].strip().partition(" ")
        contact["firstName"], contact["lastName"] = first or None, last or None
    if "email" in body:
        email = normalize_email(body["email"])
        contact["email"] = email
        contact["emailLowerCase"] = email
    if "phone" in body:
        contact["phone"] = normalize_phone(body["phone"])
    if "dateOfBirth" in body:
        contact["dateOfBirth"] = _parse_dob(body["dateOfBirth"])
    if "tags" in body:
        # tags on create/upsert/PUT replace the whole set (spec description).
        contact["tags"] = normalize_tags(body["tags"] or [])
    if "customFields" in body:
        contact["customFields"] = merge_custom_fields(
            ctx,
            loc,
            contact.get("customFields", []),
            body["customFields"] or [],
            model="contact",
            value_key="value",
        )
    _names(contact)
    if creating:
        contact.setdefault("tags", [])
        contact.setdefault("customFields", [])
        contact["type"] = "lead"
        contact["dateAdded"] = now
        contact["deleted"] = False
    contact["dateUpdated"] = now
    dob = contact.get("dateOfBirth")
    if dob:
        born = date.fromisoformat(dob)
        contact["birthMonth"], contact["birthDay"] = born.month, born.day
    else:
        contact["birthMonth"] = contact["birthDay"] = None


def contact_view(contact: Json) -> Json:
    """The read shape: HighLevel omits unset fields."""
    return drop_none(dict(contact))
