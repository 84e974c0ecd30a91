"""Where a mapped value goes in HighLevel: a standard field of an object, or a custom field.

Each target knows the Python types it takes (checked when the map is built) and how a value is written in
HighLevel's exact wire format: custom fields as ``{id|key, field_value}`` typed per ``dataType`` (strings,
numbers, string lists, ``YYYY-MM-DD`` dates), datetimes as ISO-8601 with the UTC offset.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import re
from collections.abc import Mapping
from typing import Any, Final

import attrs

from dentrix_highlevel._errors import MappingError

__all__ = [
    "STANDARD_FIELDS",
    "CustomFieldTarget",
    "DataType",
    "FieldCategory",
    "HighLevelObject",
    "StandardField",
    "Target",
    "ValueRejected",
    "snake_key",
]


class HighLevelObject(enum.StrEnum):
    """The HighLevel objects a map can fill."""

    CONTACT = "contact"
    OPPORTUNITY = "opportunity"
    APPOINTMENT = "appointment"
    NOTE = "note"
    USER = "user"


class DataType(enum.StrEnum):
    """HighLevel custom field ``dataType`` values (spelled as the API spells them, ``MONETORY`` included)."""

    TEXT = "TEXT"
    LARGE_TEXT = "LARGE_TEXT"
    NUMERICAL = "NUMERICAL"
    PHONE = "PHONE"
    MONETORY = "MONETORY"
    CHECKBOX = "CHECKBOX"
    SINGLE_OPTIONS = "SINGLE_OPTIONS"
    MULTIPLE_OPTIONS = "MULTIPLE_OPTIONS"
    DATE = "DATE"
    TEXTBOX_LIST = "TEXTBOX_LIST"
    FILE_UPLOAD = "FILE_UPLOAD"
    RADIO = "RADIO"
    EMAIL = "EMAIL"


class FieldCategory(enum.StrEnum):
    """The folder a custom field belongs in (an existing contact folder of that name, via ``parentId``)."""

    CLINICAL = "Clinical"
    INSURANCE = "Insurance"
    FINANCIAL = "Financial"
    ADMINISTRATIVE = "Administrative"


class ValueRejected(Exception):
    """A value cannot be written to its target (becomes a field issue; never shown to users as is)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


class _Kind(enum.Enum):
    TEXT = "text"
    DATE = "date"
    DATETIME = "datetime"
    BOOL = "bool"
    NUMBER = "number"
    MONEY = "money"
    OPTION = "option"
    OPTIONS = "options"
    DND = "dnd"
    TAGS = "tags"


_ACCEPTS: Final[dict[_Kind, tuple[type, ...]]] = {
    _Kind.TEXT: (str,),
    _Kind.DATE: (dt.date, str),
    _Kind.DATETIME: (dt.datetime, str),
    _Kind.BOOL: (bool,),
    _Kind.NUMBER: (int, float, decimal.Decimal),
    _Kind.MONEY: (int, float, decimal.Decimal),
    _Kind.OPTION: (str,),
    _Kind.OPTIONS: (tuple, list, str),
    _Kind.DND: (Mapping,),
    _Kind.TAGS: (tuple, list, str),
}

DND_CHANNELS: Final = ("Call", "Email", "SMS", "WhatsApp", "GMB", "FB")

_T, _D, _DT, _B, _N, _O = _Kind.TEXT, _Kind.DATE, _Kind.DATETIME, _Kind.BOOL, _Kind.NUMBER, _Kind.OPTION

#: The standard (non-custom) fields of each object a map may write, with their value kinds.
STANDARD_FIELDS: Final[Mapping[HighLevelObject, Mapping[str, _Kind]]] = {
    HighLevelObject.CONTACT: {
        "firstName": _T, "lastName": _T, "name": _T, "email": _T, "phone": _T, "address1": _T, "city": _T,
        "state": _T, "postalCode": _T, "website": _T, "timezone": _T, "country": _T, "companyName": _T,
        "source": _T, "assignedTo": _T, "gender": _T, "dateOfBirth": _D, "dnd": _B, "dndSettings": _Kind.DND,
        "tags": _Kind.TAGS,
    },
    HighLevelObject.OPPORTUNITY: {
        "name": _T, "status": _O, "pipelineStageId": _T, "monetaryValue": _Kind.MONEY, "assignedTo": _T,
        "source": _T,
    },
    HighLevelObject.APPOINTMENT: {
        "title": _T, "startTime": _DT, "endTime": _DT, "appointmentStatus": _O, "assignedUserId": _T,
        "address": _T, "description": _T,
    },
    HighLevelObject.NOTE: {"body": _T, "userId": _T},
    HighLevelObject.USER: {"firstName": _T, "lastName": _T, "email": _T, "phone": _T},
}  # fmt: skip

_STANDARD_OPTIONS: Final[Mapping[tuple[HighLevelObject, str], tuple[str, ...]]] = {
    (HighLevelObject.OPPORTUNITY, "status"): ("open", "won", "lost", "abandoned"),
    (HighLevelObject.APPOINTMENT, "appointmentStatus"): (
        "new", "confirmed", "cancelled", "showed", "noshow", "invalid",
    ),
}  # fmt: skip

_DATA_TYPE_KIND: Final[Mapping[DataType, _Kind]] = {
    DataType.TEXT: _Kind.TEXT,
    DataType.LARGE_TEXT: _Kind.TEXT,
    DataType.PHONE: _Kind.TEXT,
    DataType.EMAIL: _Kind.TEXT,
    DataType.NUMERICAL: _Kind.NUMBER,
    DataType.MONETORY: _Kind.MONEY,
    DataType.DATE: _Kind.DATE,
    DataType.SINGLE_OPTIONS: _Kind.OPTION,
    DataType.RADIO: _Kind.OPTION,
    DataType.CHECKBOX: _Kind.OPTIONS,
    DataType.MULTIPLE_OPTIONS: _Kind.OPTIONS,
}

_PICKLISTS: Final = frozenset(
    {DataType.SINGLE_OPTIONS, DataType.RADIO, DataType.CHECKBOX, DataType.MULTIPLE_OPTIONS}
)
_ISO_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


def snake_key(name: str) -> str:
    """``Recall Date`` → ``recall_date``; ``Balance 90+`` → ``balance_90_plus`` (HighLevel fieldKey style)."""
    text = name.replace("+", " plus ").replace("#", " number ").replace("&", " and ")
    text = re.sub(r"__c$", "", text.strip())
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _accepted(value: object, kind: _Kind) -> bool:
    # A separate function so the isinstance check does not narrow ``value`` to ``object`` in the caller.
    if isinstance(value, bool) and kind is not _Kind.BOOL:
        return False
    return isinstance(value, _ACCEPTS[kind])


def _encode(kind: _Kind, value: Any, *, label: str, options: tuple[str, ...]) -> Any:
    if not _accepted(value, kind):
        raise ValueRejected(
            "wrong_type", f"{label} takes {kind.value}, the mapping gave {type(value).__name__}"
        )
    if kind is _Kind.TEXT:
        return value
    if kind is _Kind.DATE:
        if isinstance(value, dt.date):
            return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
        if _ISO_DATE.fullmatch(value):
            try:
                return dt.date.fromisoformat(value).isoformat()
            except ValueError:
                pass
        raise ValueRejected("bad_date", f"{label} needs a YYYY-MM-DD date")
    if kind is _Kind.DATETIME:
        moment = value
        if isinstance(value, str):
            try:
                moment = dt.datetime.fromisoformat(value)
            except ValueError:
                raise ValueRejected("bad_datetime", f"{label} needs an ISO-8601 datetime") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueRejected("naive_datetime", f"{label} needs a datetime with its UTC offset")
        return moment.isoformat(timespec="seconds")
    if kind is _Kind.BOOL:
        return value
    if kind in (_Kind.NUMBER, _Kind.MONEY):
        number = decimal.Decimal(str(value)) if isinstance(value, float) else decimal.Decimal(value)
        if not number.is_finite():
            raise ValueRejected("bad_number", f"{label} needs a finite number")
        if kind is _Kind.MONEY:
            return float(number.quantize(decimal.Decimal("0.01"), rounding=decimal.ROUND_HALF_UP))
        return int(number) if number == number.to_integral_value() else float(number)
    if kind is _Kind.OPTION:
        if options and value not in options:
            raise ValueRejected("not_an_option", f"{label} has no such option among its {len(options)}")
        return value
    if kind is _Kind.OPTIONS:
        items = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(i, str) for i in items):
            raise ValueRejected("wrong_type", f"{label} takes a list of text")
        missing = [i for i in items if options and i not in options]
        if missing:
            raise ValueRejected("not_an_option", f"{len(missing)} value(s) are not options of {label}")
        return items
    if kind is _Kind.DND:
        bad = [k for k in value if k not in DND_CHANNELS]
        if bad:
            raise ValueRejected("bad_dnd", f"{label} channels must be among {', '.join(DND_CHANNELS)}")
        return {k: dict(v) for k, v in value.items()}
    items = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(i, str) for i in items):
        raise ValueRejected("wrong_type", f"{label} takes a list of text")
    return items


@attrs.frozen
class StandardField:
    """A standard field of a HighLevel object, by its exact API name (``firstName``, ``dndSettings``…)."""

    name: str
    object: HighLevelObject = attrs.field(default=HighLevelObject.CONTACT, converter=HighLevelObject)

    def __attrs_post_init__(self) -> None:
        known = STANDARD_FIELDS[self.object]
        if self.name not in known:
            raise MappingError(
                f"{self.object.value} has no standard field {self.name!r}; known: {', '.join(sorted(known))}"
            )

    @property
    def label(self) -> str:
        return self.name

    @property
    def kind(self) -> _Kind:
        return STANDARD_FIELDS[self.object][self.name]

    @property
    def options(self) -> tuple[str, ...]:
        return _STANDARD_OPTIONS.get((self.object, self.name), ())

    @property
    def additive(self) -> bool:
        """Several rules may add to it (tags); any other field has exactly one rule."""
        return self.kind is _Kind.TAGS

    def identity(self) -> tuple[str, ...]:
        return ("standard", self.object.value, self.name)

    def accepts(self) -> tuple[type, ...]:
        return _ACCEPTS[self.kind]

    def encode(self, value: Any) -> Any:
        return _encode(self.kind, value, label=self.name, options=self.options)


def _data_type(value: DataType | str) -> DataType:
    try:
        return DataType(value)
    except ValueError:
        raise MappingError(f"unknown HighLevel dataType {value!r}; known: {', '.join(DataType)}") from None


def _category(value: FieldCategory | str) -> FieldCategory:
    try:
        return FieldCategory(value)
    except ValueError:
        raise MappingError(f"unknown field category {value!r}; known: {', '.join(FieldCategory)}") from None


def _options(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        raise MappingError("picklist options are a list of text, not one string")
    return tuple(value)


def _model(value: HighLevelObject | str) -> HighLevelObject:
    try:
        model = HighLevelObject(value)
    except ValueError:
        model = None
    if model not in (HighLevelObject.CONTACT, HighLevelObject.OPPORTUNITY):
        raise MappingError(f"custom fields exist on contacts and opportunities only, not {value!r}")
    return model


@attrs.frozen(kw_only=True)
class CustomFieldTarget:
    """A HighLevel custom field: display ``name``, ``field_key`` (``contact.<snake>``), the practice's own
    ``vocabulary_name`` (e.g. ``Recall_Date__c``), ``data_type``, picklist ``options`` and ``category``."""

    name: str
    data_type: DataType = attrs.field(converter=_data_type)
    category: FieldCategory = attrs.field(default=FieldCategory.ADMINISTRATIVE, converter=_category)
    options: tuple[str, ...] = attrs.field(default=(), converter=_options)
    model: HighLevelObject = attrs.field(default=HighLevelObject.CONTACT, converter=_model)
    field_key: str = attrs.field()
    vocabulary_name: str = attrs.field()

    @field_key.default
    def _default_key(self) -> str:
        return f"{self.model.value}.{snake_key(self.name)}"

    @vocabulary_name.default
    def _default_vocabulary(self) -> str:
        words = re.sub(r"[^A-Za-z0-9]+", " ", self.name).split()
        return "_".join(w[:1].upper() + w[1:] for w in words) + "__c"

    def __attrs_post_init__(self) -> None:
        if not self.name.strip():
            raise MappingError("a custom field needs a name")
        if not re.fullmatch(rf"{self.model.value}\.[a-z0-9_]+", self.field_key):
            raise MappingError(
                f"custom field {self.name!r}: fieldKey {self.field_key!r} must look like "
                f"'{self.model.value}.<snake_case>'"
            )
        if self.data_type not in _DATA_TYPE_KIND:
            raise MappingError(
                f"custom field {self.field_key}: dataType {self.data_type.value} cannot be filled by a "
                "mapping (files go through the media API)"
            )
        if self.data_type in _PICKLISTS:
            if not self.options:
                raise MappingError(
                    f"custom field {self.field_key}: {self.data_type.value} needs picklist options"
                )
            if len(set(self.options)) != len(self.options) or not all(
                isinstance(o, str) and o.strip() for o in self.options
            ):
                raise MappingError(
                    f"custom field {self.field_key}: picklist options must be distinct, non-blank text"
                )
        elif self.options:
            raise MappingError(f"custom field {self.field_key}: only picklist types take options")

    @property
    def label(self) -> str:
        return self.field_key

    @property
    def additive(self) -> bool:
        return False

    def identity(self) -> tuple[str, ...]:
        return ("custom", self.field_key)

    def accepts(self) -> tuple[type, ...]:
        return _ACCEPTS[_DATA_TYPE_KIND[self.data_type]]

    def encode(self, value: Any) -> Any:
        return _encode(_DATA_TYPE_KIND[self.data_type], value, label=self.field_key, options=self.options)


Target = StandardField | CustomFieldTarget
