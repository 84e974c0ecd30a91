"""Phone numbers to E.164 with ``phonenumbers``: extensions split off, multi-number fields split.

Dentrix phones are free text (``(801) 555-1234 x12``, ``801-555-1234 / 801-555-9876``, seven digits with no
area code). HighLevel stores E.164 and matches duplicates on it, so a number that is not valid for its region
becomes a field issue, never a string that only looks like a phone.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import Any, Final

import attrs
import phonenumbers

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping._context import FieldContext
from dentrix_highlevel.mapping._dsl import Transform

__all__ = ["Extension", "FirstPhone", "Phone", "PhoneNumber", "Phones", "parse_phones"]

# Separators people type between numbers in one field; "x" and "ext" are extensions, not separators.
_SPLIT: Final = re.compile(r"\s*(?:/|;|\||&|\n|,|\bor\b|\band\b)\s*", re.IGNORECASE)
_EXTENSION_ONLY: Final = re.compile(r"^(?:x|ext\.?|extension|#)\s*(\d{1,6})$", re.IGNORECASE)
_LABEL: Final = re.compile(
    r"^\s*(?:home|cell|mobile|work|wk|hm|c|h|w|m|tel|ph|phone)\s*[:.\-]\s*", re.IGNORECASE
)


@attrs.frozen
class PhoneNumber:
    """One number in E.164 and its extension. The repr hides the digits (a phone is patient data)."""

    e164: str
    extension: str | None = None

    def __repr__(self) -> str:
        country = phonenumbers.parse(self.e164).country_code
        return f"PhoneNumber(country_code={country}, has_extension={self.extension is not None})"


def _check_region(_i: object, _a: object, value: str | None) -> None:
    if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
        raise MappingError(f"unknown phone region {value!r} (expected an ISO 3166 code such as 'US')")


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def parse_phones(text: str, region: str) -> tuple[list[PhoneNumber], list[tuple[str, str]]]:
    """Every number in ``text``: the valid ones, and (code, reason) for each part that is not one."""
    parts = [p.strip() for p in _SPLIT.split(text) if p and p.strip()]
    # Re-attach a lone "ext 12" to the number before it ("801-555-1234, ext 12").
    merged: list[str] = []
    for part in parts:
        if merged and _EXTENSION_ONLY.match(part):
            merged[-1] = f"{merged[-1]} ext {_EXTENSION_ONLY.match(part).group(1)}"  # type: ignore[union-attr]
        else:
            merged.append(_LABEL.sub("", part))
    numbers: list[PhoneNumber] = []
    problems: list[tuple[str, str]] = []
    for part in merged:
        if _digits(part) == 0:
            if any(ch.isalpha() for ch in part):
                problems.append(("invalid_phone", "text without digits in a phone field"))
            continue
        found = _parse_one(part, region)
        if found is None and _digits(part) > 11:
            # "H 801 555 1234 C 801 555 9876": two numbers without a separator.
            matches = list(
                phonenumbers.PhoneNumberMatcher(part, region, leniency=phonenumbers.Leniency.VALID)
            )
            if matches:
                numbers.extend(_to_number(m.number) for m in matches)
                continue
        if found is None:
            digits = _digits(part)
            if digits == 7 and region in ("US", "CA"):
                problems.append(("incomplete_number", "7 digits: the area code is missing"))
            else:
                problems.append(("invalid_phone", f"{digits} digits: not a valid number for region {region}"))
            continue
        numbers.append(found)
    return numbers, problems


def _to_number(number: phonenumbers.PhoneNumber) -> PhoneNumber:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(e164, number.extension or None)


def _parse_one(text: str, region: str) -> PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return _to_number(number)


@attrs.frozen(repr=False)
class Phones(Transform[str, tuple[PhoneNumber, ...]]):
    """Every valid number in a phone field, as :class:`PhoneNumber` (E.164 + extension).

    ``region`` defaults to the practice's; each part that is not a valid number is a field issue.
    """

    name = "phones"
    input_types = (str, int)
    output_type = tuple

    region: str | None = attrs.field(default=None, validator=_check_region)

    def apply(self, value: Any, ctx: FieldContext) -> tuple[PhoneNumber, ...] | None:
        numbers, problems = parse_phones(str(value), self.region or ctx.practice.default_region)
        for code, reason in problems:
            ctx.report(code, reason)
        return tuple(numbers) or None


@attrs.frozen(repr=False)
class Phone(Transform[str, str]):
    """The first valid number of a phone field in E.164 (what HighLevel's ``phone`` takes).

    Its extension is dropped (HighLevel has no field for it: map it with ``Phones() | Extension()``);
    further numbers in the same field are reported as ``extra_numbers`` so nothing disappears silently.
    """

    name = "phone"
    input_types = (str, int)
    output_type = str

    region: str | None = attrs.field(default=None, validator=_check_region)

    def apply(self, value: Any, ctx: FieldContext) -> str | None:
        numbers, problems = parse_phones(str(value), self.region or ctx.practice.default_region)
        for code, reason in problems:
            ctx.report(code, reason)
        if len(numbers) > 1:
            ctx.report("extra_numbers", f"{len(numbers) - 1} more number(s) in the field were not used")
        return numbers[0].e164 if numbers else None


class _OfPhones(Transform[tuple[PhoneNumber, ...], str]):
    """A text picked from the numbers :class:`Phones` gives (items of the list that are not phone numbers
    are reported and left out)."""

    __slots__ = ()
    input_types = (tuple, list)
    output_type = str

    def apply(self, value: tuple[PhoneNumber, ...], ctx: FieldContext) -> str | None:
        # The map's type check sees only "a tuple or list": a path to any other list must not crash here.
        numbers = [n for n in value if isinstance(n, PhoneNumber)]
        if len(numbers) != len(value):
            ctx.report("wrong_type", "the list holds items that are not phone numbers; those were ignored")
        return self.pick(numbers)

    @abc.abstractmethod
    def pick(self, numbers: Sequence[PhoneNumber]) -> str | None: ...


@attrs.frozen(repr=False)
class FirstPhone(_OfPhones):
    """The E.164 text of the first number from :class:`Phones`."""

    name = "first_phone"

    def pick(self, numbers: Sequence[PhoneNumber]) -> str | None:
        return numbers[0].e164 if numbers else None


@attrs.frozen(repr=False)
class Extension(_OfPhones):
    """The extension of the first number that has one (for a custom field next to the phone)."""

    name = "extension"

    def pick(self, numbers: Sequence[PhoneNumber]) -> str | None:
        return next((n.extension for n in numbers if n.extension), None)
