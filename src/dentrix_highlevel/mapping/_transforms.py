"""The ready transforms: text, names, e-mail, dates, money, code tables, joins with limits, tags, flags.

Each is a small frozen attrs class; its fields are its parameters (what a serialised map spells out) and
its ``name`` is how a map file refers to it. Phones live in ``_phones``.
"""

from __future__ import annotations

import abc
import datetime as dt
import decimal
import enum
import re
import string
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
from email_validator import EmailNotValidError, validate_email

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping._context import FieldContext
from dentrix_highlevel.mapping._dsl import Transform
from dentrix_highlevel.mapping._frozen import FrozenTable
from dentrix_highlevel.mapping._paths import PathError, SourcePath, parse_path, parsed_path, resolve
from dentrix_highlevel.mapping._targets import DND_CHANNELS

__all__ = [
    "Default",
    "DndFromFlags",
    "Email",
    "First",
    "Format",
    "FormatDate",
    "HasFlag",
    "Join",
    "Lookup",
    "Money",
    "NameCase",
    "Overflow",
    "Sum",
    "Tags",
    "Text",
    "ToBool",
    "ToDate",
    "ToDateTime",
    "Trim",
    "UnknownCode",
    "fix_name_case",
    "to_text",
]

_WS: Final = re.compile(r"\s+")


def to_text(value: Any) -> str:
    """A value as plain text: enums by value, dates in ISO form, numbers as written."""
    if isinstance(value, str):
        return value
    if isinstance(value, enum.Enum):
        return str(value.value) if isinstance(value.value, str | int) else value.name
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# --- text -----------------------------------------------------------------------------------------------


class _Cleanup(Transform[str, str]):
    """Text made tidy by :meth:`fix`; what comes out blank is blank (None)."""

    __slots__ = ()
    input_types = (str,)
    output_type = str

    def apply(self, value: str, ctx: FieldContext) -> str | None:
        return self.fix(value) or None

    @abc.abstractmethod
    def fix(self, value: str) -> str: ...


@attrs.frozen(repr=False)
class Trim(_Cleanup):
    """Strip both ends and collapse inner runs of whitespace to one space; all-blank becomes blank."""

    name = "trim"

    def fix(self, value: str) -> str:
        return _WS.sub(" ", value).strip()


@attrs.frozen(repr=False)
class Text(Transform[object, str]):
    """Any value as text (numbers, dates, enums); e.g. before a TEXT custom field."""

    name = "text"
    output_type = str

    def apply(self, value: object, ctx: FieldContext) -> str | None:
        return to_text(value) or None


_PARTICLES: Final = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "da", "di", "du", "la", "le", "ter", "ten", "y"}
)
_ROMAN: Final = frozenset({"ii", "iii", "iv", "vi", "vii", "viii"})


def _capitalize(part: str) -> str:
    """Title-case the first letter that has case, lower-case the rest. ``str.capitalize`` stops at a leading
    letter without case (``ŉ`` capitalises to ``ʼN``, whose ``ʼ`` has none), so casing twice would differ."""
    for index, char in enumerate(part):
        if char.lower() != char.upper():
            return part[:index] + char.title() + part[index + 1 :].lower()
    return part


def _cap(word: str) -> str:
    if word in _ROMAN:
        return word.upper()
    if word.startswith("mc") and len(word) > 2:
        return "Mc" + _capitalize(word[2:])
    # O'Neil, D'Angelo: capitalise after each apostrophe.
    return "'".join(_capitalize(part) for part in re.split(r"'", word.replace("’", "'")))


def fix_name_case(value: str) -> str:
    """Fix ALL-CAPS or all-lower names; any mixed-case name (McDonald, van der Berg) is left exactly alone."""
    if not (value.isupper() or value.islower()):
        return value
    tokens = re.split(r"(\s+|-)", value.lower())
    words = [i for i, t in enumerate(tokens) if t.strip() and t != "-"]
    out = list(tokens)
    for n, index in enumerate(words):
        token = tokens[index]
        is_last = n == len(words) - 1
        out[index] = token if token in _PARTICLES and not is_last else _cap(token)
    return "".join(out)


@attrs.frozen(repr=False)
class NameCase(_Cleanup):
    """Title-case names typed in ALL CAPS or all lower case; leave McDonald, O'Neil, van der Berg alone."""

    name = "name_case"

    def fix(self, value: str) -> str:
        return fix_name_case(value)


@attrs.frozen(repr=False)
class Email(Transform[str, str]):
    """Normalise and syntax-check an e-mail address (no DNS lookup). A field holding several addresses keeps
    the first valid one and reports the rest (the API takes one e-mail per contact)."""

    name = "email"
    input_types = (str,)
    output_type = str

    lowercase: bool = True

    def apply(self, value: str, ctx: FieldContext) -> str | None:
        candidates: list[str] = []
        for chunk in re.split(r"[;,]", value):
            # Split on spaces only between whole addresses ("a@x.com b@y.com"), never inside one.
            if chunk.count("@") > 1:
                candidates.extend(chunk.split())
            elif chunk.strip():
                candidates.append(chunk.strip())
        valid: list[str] = []
        invalid = 0
        for candidate in candidates:
            try:
                normal = validate_email(candidate, check_deliverability=False).normalized
            except EmailNotValidError:
                invalid += 1
                continue
            valid.append(normal.lower() if self.lowercase else normal)
        if invalid:
            ctx.report(
                "invalid_email", f"{invalid} of {len(candidates)} address(es) are not valid e-mail syntax"
            )
        if len(valid) > 1:
            ctx.report(
                "multiple_values", f"{len(valid) - 1} more address(es) were not used: one e-mail per contact"
            )
        return valid[0] if valid else None


# --- dates ----------------------------------------------------------------------------------------------

_DATE_FORMATS: Final = ("%Y-%m-%d", "%m/%d/%Y", "%m-%d-%Y", "%Y/%m/%d")
_DATETIME_FORMATS: Final = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M %p",
)


def _parse_datetime(text: str, extra: Sequence[str]) -> dt.datetime | None:
    text = text.strip()
    for fmt in (*extra, *_DATETIME_FORMATS, *_DATE_FORMATS):
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _parsed(
    text: str, formats: Sequence[str], ctx: FieldContext, code: str, reason: str
) -> dt.datetime | None:
    """``text`` read with ``formats`` (then the common ones); text in none of them is a ``code`` issue."""
    parsed = _parse_datetime(text, formats)
    if parsed is None:
        ctx.report(code, reason)
    return parsed


def _check_zone(_i: object, _a: object, value: str | None) -> None:
    if value is None:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"unknown IANA time zone {value!r}") from None


@attrs.frozen(repr=False)
class ToDate(Transform[str | dt.date, dt.date]):
    """A date from ``YYYY-MM-DD``, ``MM/DD/YYYY`` (+ ``formats``), a date, or a datetime (an aware one is
    read in the practice zone). Unparseable text is a ``bad_date`` issue."""

    name = "date"
    input_types = (str, dt.date)
    output_type = dt.date

    formats: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def apply(self, value: str | dt.date, ctx: FieldContext) -> dt.date | None:
        moment: dt.date | None
        if isinstance(value, str):
            moment = _parsed(value, self.formats, ctx, "bad_date", "not a date in any accepted format")
        else:
            moment = value
        if moment is None:
            return None
        if isinstance(moment, dt.datetime):
            if moment.tzinfo is not None:
                moment = moment.astimezone(ctx.practice.zone)
            return moment.date()
        return moment


@attrs.frozen(repr=False)
class ToDateTime(Transform[str | dt.date, dt.datetime]):
    """An aware datetime: naive (Dentrix local) times are placed in the practice zone (or ``zone``), aware
    ones converted to it. A local time that does not exist (the spring-forward gap) is an issue, not a guess;
    an ambiguous one (fall back) takes the first occurrence."""

    name = "datetime"
    input_types = (str, dt.date)
    output_type = dt.datetime

    zone: str | None = attrs.field(default=None, validator=_check_zone)
    formats: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    def apply(self, value: str | dt.date, ctx: FieldContext) -> dt.datetime | None:
        zone = zoneinfo.ZoneInfo(self.zone) if self.zone else ctx.practice.zone
        moment: dt.datetime | None
        if isinstance(value, str):
            moment = _parsed(
                value, self.formats, ctx, "bad_datetime", "not a date/time in any accepted format"
            )
            if moment is None:
                return None
        elif isinstance(value, dt.datetime):
            moment = value
        else:
            moment = dt.datetime.combine(value, dt.time())
        if moment.tzinfo is not None:
            return moment.astimezone(zone)
        local = moment.replace(tzinfo=zone, fold=0)
        if local.astimezone(dt.UTC).astimezone(zone).replace(tzinfo=None) != moment:
            ctx.report("nonexistent_local_time", "the local time falls in a daylight-saving gap")
            return None
        return local


@attrs.frozen(repr=False)
class FormatDate(Transform[dt.date, str]):
    """A date or datetime as text with a ``strftime`` pattern (for TEXT fields and summaries)."""

    name = "format_date"
    input_types = (dt.date,)
    output_type = str

    pattern: str = "%Y-%m-%d"

    def apply(self, value: dt.date, ctx: FieldContext) -> str | None:
        return value.strftime(self.pattern)


# --- money and numbers ----------------------------------------------------------------------------------

_CENT: Final = decimal.Decimal("0.01")


def parse_money(value: Any) -> decimal.Decimal | None:
    """``$1,234.5`` → ``1234.50``; ``(12.00)`` → ``-12.00``; None when it is not an amount."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = decimal.Decimal(repr(value))
    if isinstance(value, int | decimal.Decimal):
        number = decimal.Decimal(value)
    else:
        text = str(value).strip().replace(",", "").replace("$", "").replace(" ", "")
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1]
        if text.endswith("-"):
            negative, text = True, text[:-1]
        if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)", text):
            return None
        number = decimal.Decimal(text)
        if negative:
            number = -number
    if not number.is_finite():
        return None
    try:
        return number.quantize(_CENT, rounding=decimal.ROUND_HALF_UP)
    except decimal.InvalidOperation:  # more digits than Decimal's 28: no real amount, not a crash
        return None


@attrs.frozen(repr=False)
class Money(Transform[Any, decimal.Decimal]):
    """An amount as a Decimal with 2 places (half-up), from text like ``$1,234.50`` or ``(12.00)``."""

    name = "money"
    input_types = (str, int, float, decimal.Decimal)
    output_type = decimal.Decimal

    def apply(self, value: Any, ctx: FieldContext) -> decimal.Decimal | None:
        if isinstance(value, str) and not value.strip():
            return None
        amount = parse_money(value)
        if amount is None:
            ctx.report("bad_money", "not an amount")
        return amount


@attrs.frozen(repr=False)
class Sum(Transform[Sequence[Any], decimal.Decimal]):
    """The sum of several amounts (e.g. the four aging buckets); one bad amount fails the sum."""

    name = "sum"
    input_types = (tuple, list)
    output_type = decimal.Decimal

    def apply(self, value: Sequence[Any], ctx: FieldContext) -> decimal.Decimal | None:
        total = decimal.Decimal("0.00")
        bad = 0
        for item in value:
            if item is None or (isinstance(item, str) and not item.strip()):
                continue
            amount = parse_money(item)
            if amount is None:
                bad += 1
            else:
                total += amount
        if bad:
            ctx.report("bad_money", f"{bad} of {len(value)} amounts could not be read; no sum written")
            return None
        try:
            return total.quantize(_CENT)
        except decimal.InvalidOperation:  # a sum past Decimal's 28 digits is no real balance
            ctx.report("bad_money", "the sum is too large to be an amount; no sum written")
            return None


# --- code tables ----------------------------------------------------------------------------------------


class UnknownCode(enum.StrEnum):
    """What a code-table lookup does with a code the table does not have."""

    ISSUE = "issue"  # a field issue, no value
    DEFAULT = "default"  # the rule's default text
    KEEP = "keep"  # the code itself, as text


def _code_keys(value: Any) -> list[str]:
    if isinstance(value, enum.Enum):
        return [str(value.value), value.name]
    if isinstance(value, decimal.Decimal) and value == value.to_integral_value():
        return [str(int(value))]
    return [to_text(value).strip()]


def _table(value: Mapping[Any, Any]) -> FrozenTable[str, str]:
    if not isinstance(value, Mapping) or not value:
        raise MappingError("a code table is a non-empty mapping of code to text")
    out: dict[str, str] = {}
    for key, text in value.items():
        if not isinstance(text, str):
            raise MappingError("code table values must be text")
        out[to_text(key).strip()] = text
    return FrozenTable(out)


@attrs.frozen(repr=False)
class Lookup(Transform[object, str]):
    """Practice-defined codes to text (appointment statuses, types, billing types…)."""

    name = "lookup"
    output_type = str

    table: FrozenTable[str, str] = attrs.field(converter=_table)
    default: str | None = None
    on_unknown: UnknownCode = attrs.field(default=UnknownCode.ISSUE, converter=UnknownCode)

    def __attrs_post_init__(self) -> None:
        if self.on_unknown is UnknownCode.DEFAULT and self.default is None:
            raise MappingError("Lookup(on_unknown='default') needs a default")

    def possible_outputs(self) -> frozenset[object] | None:
        if self.on_unknown is UnknownCode.KEEP:
            return None
        values: set[object] = set(self.table.values())
        if self.on_unknown is UnknownCode.DEFAULT and self.default is not None:
            values.add(self.default)
        return frozenset(values)

    def apply(self, value: object, ctx: FieldContext) -> str | None:
        for key in _code_keys(value):
            if key in self.table:
                return self.table[key]
        if self.on_unknown is UnknownCode.DEFAULT:
            return self.default
        if self.on_unknown is UnknownCode.KEEP:
            return _code_keys(value)[0] or None
        ctx.report("unknown_code", f"the code is not in the practice's table of {len(self.table)} codes")
        return None


# --- joins and summaries --------------------------------------------------------------------------------


class Overflow(enum.StrEnum):
    """What a join does with what does not fit its limit."""

    TRUNCATE = "truncate"  # keep what fits, end with the marker
    NOTE = "note"  # keep what fits; the rest goes to a Note on the same record
    ISSUE = "issue"  # keep what fits and report a field issue


_DEFAULT_MARKERS: Final = {
    Overflow.TRUNCATE: " … (+{n} more)",
    Overflow.NOTE: " … (+{n} more in a note)",
    Overflow.ISSUE: " … (+{n} more)",
}


class _ItemFormatter(string.Formatter):
    """``{procdate:%Y-%m-%d} {adacode}``: fields are source paths resolved on each item."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        item = kwargs["item"]
        if field_name == "value":
            return item, field_name
        return resolve(item, parsed_path(field_name)), field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:
            return ""
        if not format_spec:
            return to_text(value)
        return str(super().format_field(value.value if isinstance(value, enum.Enum) else value, format_spec))


_FORMATTER: Final = _ItemFormatter()


def _check_template(_i: object, _a: object, value: str | None) -> None:
    if value is None:
        return
    try:
        fields = [f for _, f, _, conv in string.Formatter().parse(value) if f is not None or conv]
    except ValueError as exc:
        raise MappingError(f"bad join template: {exc}") from None
    for field in fields:
        if not field:
            raise MappingError("join template fields need a name, e.g. {adacode} or {value}")
        parse_path(field)


def _check_limit(_i: object, _a: object, value: int | None) -> None:
    if value is not None and value < 1:
        raise MappingError("limit_chars must be at least 1")


@attrs.frozen(kw_only=True, repr=False)
class Join(Transform[Any, str]):
    """Join items (text or records, formatted by ``template``) with ``separator``, at most ``limit_chars``.

    Whole items are kept while they fit; the ``overflow`` rule decides about the rest (truncate with
    ``marker``, spill to a Note, or report an issue). The result never exceeds ``limit_chars``.
    """

    name = "join"
    input_types = (tuple, list, str)
    output_type = str

    separator: str = "; "
    template: str | None = attrs.field(default=None, validator=_check_template)
    limit_chars: int | None = attrs.field(default=None, validator=_check_limit)
    overflow: Overflow = attrs.field(default=Overflow.TRUNCATE, converter=Overflow)
    marker: str | None = None
    note_title: str = ""
    order_by: str | None = None
    descending: bool = False

    def __attrs_post_init__(self) -> None:
        if self.order_by is not None:
            parse_path(self.order_by)

    def _texts(self, value: Any, ctx: FieldContext) -> list[str]:
        items = [value] if isinstance(value, str) else [i for i in value if i is not None]
        if self.order_by is not None:
            path = SourcePath(self.order_by)
            keyed: list[tuple[Any, Any]] = []
            blank: list[Any] = []
            for item in items:
                try:
                    got = path.read(item)
                except PathError:
                    ctx.report("bad_item", "an item has no field to order by")
                    got = None
                if got is None:
                    blank.append(item)
                else:
                    keyed.append((got, item))
            try:
                keyed.sort(key=lambda pair: pair[0], reverse=self.descending)
            except TypeError:  # mixed types: compare their text
                keyed.sort(key=lambda pair: to_text(pair[0]), reverse=self.descending)
            # Blanks go last either way.
            items = [item for _, item in keyed] + blank
        texts: list[str] = []
        for item in items:
            try:
                text = (
                    _FORMATTER.vformat(self.template, (), {"item": item}) if self.template else to_text(item)
                )
            except (PathError, ValueError, TypeError) as exc:
                ctx.report("bad_item", f"an item could not be formatted ({type(exc).__name__})")
                continue
            if text.strip():
                texts.append(text.strip())
        return texts

    def apply(self, value: Any, ctx: FieldContext) -> str | None:
        texts = self._texts(value, ctx)
        if not texts:
            return None
        full = self.separator.join(texts)
        limit = self.limit_chars
        if limit is None or len(full) <= limit:
            return full
        marker = self.marker if self.marker is not None else _DEFAULT_MARKERS[self.overflow]
        kept = 0
        result = ""
        for k in range(len(texts) - 1, 0, -1):
            candidate = self.separator.join(texts[:k]) + marker.format(n=len(texts) - k)
            if len(candidate) <= limit:
                kept, result = k, candidate
                break
        if kept == 0:
            # Not even one whole item fits: cut the first one.
            tail = marker.format(n=len(texts) - 1) if len(texts) > 1 else ""
            room = limit - len(tail)
            result = (texts[0][: room - 1].rstrip() + "…" + tail) if room >= 2 else texts[0][:limit]
        result = result[:limit]
        rest = texts[kept:]
        if self.overflow is Overflow.NOTE:
            ctx.spill(
                title=self.note_title or f"{ctx.field} (continued)", text="\n".join(rest), items=len(rest)
            )
        elif self.overflow is Overflow.ISSUE:
            ctx.report("too_long", f"{len(rest)} of {len(texts)} item(s) did not fit in {limit} characters")
        return result


@attrs.frozen(repr=False)
class Format(Transform[object, str]):
    """One value (a record, usually) as text through a template whose fields are paths on it, e.g.
    ``"{start:%Y-%m-%d %H:%M} {type_description}"``; ``{value}`` is the value itself. Blank fields print
    as nothing."""

    name = "format"
    output_type = str

    template: str = attrs.field()

    @template.validator
    def _valid_template(self, attribute: object, value: str) -> None:
        _check_template(self, attribute, value)

    def apply(self, value: object, ctx: FieldContext) -> str | None:
        try:
            text = _FORMATTER.vformat(self.template, (), {"item": value})
        except (PathError, ValueError, TypeError) as exc:
            ctx.report("bad_item", f"the value could not be formatted ({type(exc).__name__})")
            return None
        return _WS.sub(" ", text).strip() or None


# --- tags, flags, small helpers -------------------------------------------------------------------------


def normalise_tag(text: str) -> str:
    """How HighLevel stores a tag: lower case, trimmed, single spaces (commas separate tags, so dropped)."""
    return _WS.sub(" ", text.replace(",", " ")).strip().lower()


@attrs.frozen(repr=False)
class Tags(Transform[Any, tuple[str, ...]]):
    """Text or a list of text as HighLevel tags: lower-cased, normalised, ``prefix``-ed, deduplicated."""

    name = "tags"
    input_types = (str, tuple, list)
    output_type = tuple

    prefix: str = ""
    split_on: str | None = None

    def apply(self, value: Any, ctx: FieldContext) -> tuple[str, ...] | None:
        items = [value] if isinstance(value, str) else [to_text(v) for v in value if v is not None]
        if self.split_on:
            items = [part for item in items for part in item.split(self.split_on)]
        out: list[str] = []
        for item in items:
            tag = normalise_tag(item)
            if tag:
                tag = normalise_tag(self.prefix + tag)
                if tag not in out:
                    out.append(tag)
        return tuple(out) or None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


@attrs.frozen(repr=False)
class HasFlag(Transform[Any, bool]):
    """Whether ``mask`` is set in a bitmask (e.g. one Dentrix privacy or alert bit)."""

    name = "has_flag"
    input_types = (int, str)
    output_type = bool

    mask: int

    def apply(self, value: Any, ctx: FieldContext) -> bool | None:
        number = _as_int(value)
        if number is None:
            ctx.report("bad_flags", "not an integer bitmask")
            return None
        return bool(number & self.mask)


def _bits(value: Mapping[Any, Any]) -> FrozenTable[int, tuple[str, ...]]:
    out: dict[int, tuple[str, ...]] = {}
    for key, channels in value.items():
        try:
            bit = int(key)
        except (TypeError, ValueError):
            raise MappingError(f"DND bit {key!r} is not an integer") from None
        names = (channels,) if isinstance(channels, str) else tuple(channels)
        bad = [c for c in names if c not in DND_CHANNELS]
        if bad:
            raise MappingError(f"unknown DND channel(s) {bad}; known: {', '.join(DND_CHANNELS)}")
        out[bit] = names
    return FrozenTable(out)


@attrs.frozen(repr=False)
class DndFromFlags(Transform[Any, dict[str, Any]]):
    """A privacy bitmask to HighLevel ``dndSettings``: each set bit turns DND on for its channels.

    The default bits follow what a production Dentrix integration does: bit 1 = no voice calls,
    bit 2 = no text messages or e-mail. No bit set gives no value (the contact's DND is left alone).
    """

    name = "dnd_from_flags"
    input_types = (int, str)
    output_type = dict

    bits: FrozenTable[int, tuple[str, ...]] = attrs.field(
        factory=lambda: {1: ("Call",), 2: ("SMS", "Email")}, converter=_bits
    )
    message: str = "Privacy request carried over from Dentrix"

    def apply(self, value: Any, ctx: FieldContext) -> dict[str, Any] | None:
        number = _as_int(value)
        if number is None:
            ctx.report("bad_flags", "not an integer bitmask")
            return None
        settings: dict[str, Any] = {}
        for bit, channels in self.bits.items():
            if number & bit:
                for channel in channels:
                    settings[channel] = {"status": "active", "message": self.message}
        return settings or None


_TRUE: Final = ("1", "y", "yes", "true", "t", "x")
_FALSE: Final = ("0", "n", "no", "false", "f")


@attrs.frozen(repr=False)
class ToBool(Transform[Any, bool]):
    """``1/0``, ``Y/N``, ``yes/no``, ``true/false`` to a boolean; anything else is an issue."""

    name = "to_bool"
    input_types = (str, int, bool)
    output_type = bool

    true_values: tuple[str, ...] = attrs.field(default=_TRUE, converter=tuple)
    false_values: tuple[str, ...] = attrs.field(default=_FALSE, converter=tuple)

    def apply(self, value: Any, ctx: FieldContext) -> bool | None:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in self.true_values:
            return True
        if text in self.false_values:
            return False
        ctx.report("bad_flag", "not a yes/no value")
        return None


@attrs.frozen(repr=False)
class Default(Transform[Any, Any]):
    """Fill a blank with ``value`` (anything else passes through)."""

    name = "default"
    passes_none = False

    value: str | int | float | bool

    def produces(self) -> type:
        return object

    def apply(self, value: Any, ctx: FieldContext) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()) or value == ():
            return self.value
        return value


@attrs.frozen(repr=False)
class First(Transform[Sequence[Any], Any]):
    """The first non-blank item of a list."""

    name = "first"
    input_types = (tuple, list)

    def apply(self, value: Sequence[Any], ctx: FieldContext) -> Any:
        for item in value:
            if item is not None and not (isinstance(item, str) and not item.strip()):
                return item
        return None
