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
    normalize_email,
    normalize_phone,
    normalize_tags,
)
from dentrix_highlevel.sandbox._state import LocationState, iso_ms

__all__ = [
    "CREATE_FIELDS",
    "UPDATE_FIELDS",
    "UPSERT_FIELDS",
    "apply_contact_write",
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

_COMMON = {
    "firstName": Field(),
    "lastName": Field(),
    "name": Field(),
    "email": Field(),
    "phone": Field(),
    "address1": Field(),
    "city": Field(),
    "state": Field(),
    "postalCode": Field(),
    "website": Field(),
    "timezone": Field(),
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

_CUSTOM_ITEM_KEYS = {"id", "key", "field_value", "value", "fieldValue"}
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


def custom_field_value(field: Json, value: Any) -> Any:
    """A written value in the field's dataType, as stored (and read back); ``ApiError`` if it does not fit.

    DATE accepts ``YYYY-MM-DD`` (or epoch ms) and reads back as epoch ms at UTC midnight, one of the two
    read shapes reported for HighLevel (API-NOTES §2.2); ``DD/MM/YYYY`` is rejected.
    """
    kind = field["dataType"]
    options = field.get("picklistOptions") or []
    if kind in ("NUMERICAL", "MONETORY"):
        if isinstance(value, bool):
            raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
        if isinstance(value, int | float):
            return value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                raise ApiError.bad_request(INVALID_CUSTOM_VALUE) from None
            return int(number) if number.is_integer() and kind == "NUMERICAL" else number
        raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
    if kind in ("CHECKBOX", "MULTIPLE_OPTIONS"):
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
        if options and any(v not in options for v in values):
            raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
        return list(values)
    if kind in ("SINGLE_OPTIONS", "RADIO"):
        if not isinstance(value, str) or (options and value not in options):
            raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
        return value
    if kind == "DATE":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and _ISO_DATE.match(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise ApiError.bad_request(INVALID_CUSTOM_VALUE) from None
            return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
        raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
    if kind == "FILE_UPLOAD":
        if not isinstance(value, dict):
            raise ApiError.bad_request(INVALID_CUSTOM_VALUE)
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ApiError.bad_request(INVALID_CUSTOM_VALUE)


def merge_custom_fields(
    loc: LocationState, current: list[Json], items: list[Any], *, model: str, value_key: str
) -> list[Json]:
    """Merge written custom field values into ``current`` by field id; fields left out are kept.

    Unknown field ids/keys are ignored, as HighLevel silently drops them. An empty value clears the field.
    """
    merged = {entry["id"]: entry for entry in current}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ApiError.unprocessable([f"customFields.{index} must be an object"])
        unknown = [k for k in item if k not in _CUSTOM_ITEM_KEYS]
        if unknown:
            raise ApiError.unprocessable(
                [f"property customFields.{index}.{k} should not exist" for k in unknown]
            )
        field = _resolve_field(loc, item, model)
        if field is None:
            continue
        raw = next((item[k] for k in ("field_value", "value", "fieldValue") if k in item), None)
        if raw is None or raw == "" or raw == []:
            merged.pop(field["id"], None)
            continue
        merged[field["id"]] = {"id": field["id"], value_key: custom_field_value(field, raw)}
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
        "address1",
        "city",
        "state",
        "postalCode",
        "website",
        "timezone",
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
