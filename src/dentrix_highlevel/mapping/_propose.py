"""Proposals for source columns no default rule covers: an existing custom field, or a new one.

:class:`ColumnProfile` describes a column by the *shapes* of its values (date, money, phone…), fill rate and
distinct count, and keeps none of the values. A :class:`Proposer` turns profiles plus the location's existing
custom fields into :class:`Proposal` s; the built-in :class:`FuzzyProposer` is deterministic and offline
(rapidfuzz name matching, shape-based ``dataType`` inference). An integrator can plug in an LLM-backed one.
Reasons never quote values, only names, shares and counts.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs
import phonenumbers
from rapidfuzz import fuzz

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping._targets import CustomFieldTarget, DataType, FieldCategory, snake_key
from dentrix_highlevel.mapping._transforms import parse_money, to_text

__all__ = [
    "ColumnProfile",
    "ExistingCustomField",
    "FuzzyProposer",
    "Proposal",
    "ProposalAction",
    "Proposer",
    "ValueShape",
]


class ValueShape(enum.StrEnum):
    """What one value looks like (never what it is)."""

    EMPTY = "empty"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    DECIMAL = "decimal"
    MONEY = "money"
    DATE = "date"
    DATETIME = "datetime"
    PHONE = "phone"
    EMAIL = "email"
    TEXT = "text"
    LONG_TEXT = "long_text"


_DATE: Final = re.compile(r"(\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})")
_TIME: Final = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm]|Z|[+-]\d{2}:?\d{2})?")
_EMAIL: Final = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}")
_PHONE_CHARS: Final = re.compile(r"[\d\s()+.\-/x]+(ext\.?\s*\d+)?", re.IGNORECASE)
_BOOLEAN: Final = frozenset({"y", "n", "yes", "no", "true", "false", "t", "f"})
LONG_TEXT_CHARS: Final = 255
CONTAINMENT_SCORE: Final = 90.0


def shape_of(value: Any) -> ValueShape:
    """Classify one value by its form."""
    if value is None:
        return ValueShape.EMPTY
    if isinstance(value, bool):
        return ValueShape.BOOLEAN
    if isinstance(value, int):
        return ValueShape.INTEGER
    text = to_text(value).strip()
    if not text:
        return ValueShape.EMPTY
    lower = text.lower()
    if lower in _BOOLEAN:
        return ValueShape.BOOLEAN
    if re.fullmatch(r"[+-]?\d+", text):
        digits = len(text.lstrip("+-"))
        if digits in (10, 11) and not text.startswith("0"):
            return ValueShape.PHONE
        return ValueShape.INTEGER
    if re.fullmatch(r"[+-]?\d*\.\d+", text):
        return ValueShape.MONEY if re.fullmatch(r"[+-]?\d+\.\d{2}", text) else ValueShape.DECIMAL
    if (
        re.fullmatch(r"\(?-?\$\s?[\d,]*\.?\d+\)?|\(?-?[\d,]+\.\d{2}\)?", text)
        and parse_money(text) is not None
    ):
        return ValueShape.MONEY
    if _DATE.fullmatch(text):
        return ValueShape.DATE
    if _DATE.match(text) and _TIME.fullmatch(text[_DATE.match(text).end() :]):  # type: ignore[union-attr]
        return ValueShape.DATETIME
    if _EMAIL.fullmatch(text):
        return ValueShape.EMAIL
    if _PHONE_CHARS.fullmatch(text) and 10 <= sum(c.isdigit() for c in text) <= 15:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(text, "US")):
                return ValueShape.PHONE
        except phonenumbers.NumberParseException:
            pass
    if len(text) > LONG_TEXT_CHARS or "\n" in text:
        return ValueShape.LONG_TEXT
    return ValueShape.TEXT


def _sorted_shapes(value: Mapping[ValueShape, int]) -> dict[ValueShape, int]:
    return {ValueShape(k): int(v) for k, v in sorted(value.items())}


@attrs.frozen(kw_only=True)
class ColumnProfile:
    """A source column described without its values: rows, filled rows, a shape histogram, the distinct
    count (exact up to ``distinct_cap``, then "at least"), the longest value's length, and how many numeric
    values have a leading zero (ids and ZIP codes, not numbers)."""

    name: str
    rows: int
    filled: int
    shapes: Mapping[ValueShape, int] = attrs.field(converter=_sorted_shapes)
    distinct: int
    distinct_capped: bool = False
    max_length: int = 0
    leading_zeros: int = 0
    source: str = ""

    @classmethod
    def from_values(
        cls, name: str, values: Iterable[Any], *, distinct_cap: int = 50, source: str = ""
    ) -> ColumnProfile:
        """Profile a column in one pass; only short digests are held (for the distinct count), and only
        while counting."""
        shapes: Counter[ValueShape] = Counter()
        digests: set[bytes] = set()
        rows = filled = max_length = leading_zeros = 0
        capped = False
        for value in values:
            rows += 1
            shape = shape_of(value)
            if shape is ValueShape.EMPTY:
                continue
            filled += 1
            shapes[shape] += 1
            text = to_text(value).strip()
            max_length = max(max_length, len(text))
            if len(text) > 1 and text[0] == "0" and text.isdigit():
                leading_zeros += 1
            if not capped:
                digests.add(hashlib.blake2b(text.casefold().encode(), digest_size=8).digest())
                if len(digests) > distinct_cap:
                    capped = True
        distinct = min(len(digests), distinct_cap) if capped else len(digests)
        digests.clear()
        return cls(
            name=name,
            rows=rows,
            filled=filled,
            shapes=shapes,
            distinct=distinct,
            distinct_capped=capped,
            max_length=max_length,
            leading_zeros=leading_zeros,
            source=source,
        )

    @property
    def fill_rate(self) -> float:
        return self.filled / self.rows if self.rows else 0.0

    def share(self, *shapes: ValueShape) -> float:
        """The share of filled values having one of ``shapes``."""
        if not self.filled:
            return 0.0
        return sum(self.shapes.get(s, 0) for s in shapes) / self.filled


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class ExistingCustomField:
    """A custom field the location already has (from ``GET /locations/{id}/customFields``)."""

    id: str
    name: str
    field_key: str
    data_type: DataType = attrs.field(converter=DataType)
    options: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    parent_id: str | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ExistingCustomField:
        """From one item of HighLevel's ``customFields`` list."""
        return cls(
            id=str(data["id"]),
            name=str(data.get("name", "")),
            field_key=str(data.get("fieldKey", "")),
            data_type=DataType(str(data.get("dataType", "TEXT"))),
            options=tuple(str(o) for o in (data.get("picklistOptions") or ())),
            parent_id=data.get("parentId"),
        )


class ProposalAction(enum.StrEnum):
    USE_EXISTING = "use_existing"
    CREATE = "create"


@attrs.frozen(kw_only=True)
class Proposal:
    """What to do with one source column. Proposals enter the plan unapproved (``approved`` False)."""

    column: str
    action: ProposalAction
    field_name: str
    field_key: str
    vocabulary_name: str
    data_type: DataType
    category: FieldCategory
    confidence: float
    reason: str
    existing_field_id: str | None = None
    options: tuple[str, ...] = ()
    approved: bool = False

    def to_target(self, *, options: Sequence[str] | None = None) -> CustomFieldTarget:
        """The custom field target for a map rule. New picklists need their ``options`` (read from the
        source at plan time: the profile holds no values)."""
        chosen = tuple(options) if options is not None else self.options
        if (
            self.data_type in (DataType.SINGLE_OPTIONS, DataType.MULTIPLE_OPTIONS, DataType.RADIO)
            and not chosen
        ):
            raise MappingError(f"proposal for column {self.column!r}: a picklist needs its options")
        return CustomFieldTarget(
            name=self.field_name,
            data_type=self.data_type,
            category=self.category,
            options=chosen,
            field_key=self.field_key,
            vocabulary_name=self.vocabulary_name,
        )


class Proposer(Protocol):
    """Proposes a target for each column; the built-in one is :class:`FuzzyProposer`."""

    def propose(
        self, columns: Sequence[ColumnProfile], existing_fields: Sequence[ExistingCustomField]
    ) -> list[Proposal]: ...


# --- the built-in proposer ------------------------------------------------------------------------------

_ABBREVIATIONS: Final[Mapping[str, str]] = {
    "pref": "preferred", "prefd": "preferred", "hyg": "hygienist", "dr": "doctor", "dob": "date of birth",
    "emerg": "emergency", "emer": "emergency", "ph": "phone", "tel": "phone", "no": "number", "num": "number",
    "nbr": "number", "ins": "insurance", "prim": "primary", "sec": "secondary", "addr": "address",
    "amt": "amount", "bal": "balance", "appt": "appointment", "ref": "referred", "dt": "date",
    "med": "medical", "prov": "provider", "pt": "patient", "pat": "patient", "lang": "language",
}  # fmt: skip

_CATEGORY_WORDS: Final[Sequence[tuple[FieldCategory, frozenset[str]]]] = (
    (FieldCategory.FINANCIAL, frozenset({
        "balance", "payment", "billing", "fee", "amount", "credit", "aging", "charge", "owed", "paid", "plus",
        "collection", "discount", "price", "cost",
    })),
    (FieldCategory.INSURANCE, frozenset({
        "insurance", "carrier", "subscriber", "member", "group", "payer", "payor", "policy", "coverage",
        "plan",
    })),
    (FieldCategory.CLINICAL, frozenset({
        "perio", "periodontal", "hygienist", "tooth", "teeth", "medical", "allergy", "allergies", "premed",
        "xray", "radiograph", "treatment", "diagnosis", "clinical", "recall", "prophy", "ortho", "medication",
        "alert", "health", "dentist", "fluoride", "sealant", "implant", "crown", "cdt", "procedure",
    })),
)  # fmt: skip

_ID_WORDS: Final = frozenset(
    {"id", "number", "code", "chart", "zip", "postal", "ssn", "npi", "account", "key"}
)


def words_of(name: str) -> list[str]:
    """``Pref. Hygienist`` → [preferred, hygienist]; ``Recall_Date__c`` → [recall, date]; ``Balance 90+`` →
    [balance, 90, plus]."""
    text = re.sub(r"__c$", "", name.strip())
    text = text.replace("+", " plus ").replace("#", " number ").replace("&", " and ")
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    text = re.sub(r"^(?:contact|opportunity)\.", "", text)
    words = [w for w in re.split(r"[^A-Za-z0-9]+", text.lower()) if w]
    return [_ABBREVIATIONS.get(w, w) for w in words]


def _display(words: Sequence[str]) -> str:
    return " ".join(w if w.isdigit() else w.capitalize() for w in words)


@attrs.frozen(kw_only=True)
class FuzzyProposer:
    """Deterministic, offline proposer: fuzzy name match against existing fields, else a new field whose
    ``dataType`` follows the value shapes.

    ``match_score`` is the rapidfuzz score (0-100) from which an existing field is proposed;
    ``shape_share`` the share of filled values a shape needs to decide the type; a column with at most
    ``picklist_max`` distinct values (and a repeat rate to match) becomes a picklist.
    """

    match_score: float = 86.0
    shape_share: float = 0.9
    picklist_max: int = 12
    picklist_min_filled: int = 20

    def propose(
        self, columns: Sequence[ColumnProfile], existing_fields: Sequence[ExistingCustomField]
    ) -> list[Proposal]:
        candidates: list[tuple[float, int, int]] = []  # (-score, column index, field index)
        for ci, column in enumerate(columns):
            column_words = " ".join(words_of(column.name))
            for fi, field in enumerate(existing_fields):
                score = max(self._score(column_words, field.name), self._score(column_words, field.field_key))
                if score >= self.match_score:
                    candidates.append((-score, ci, fi))
        # Best pairs first; ties by column then field order, so the outcome never depends on hashing.
        candidates.sort()
        matched: dict[int, tuple[int, float]] = {}
        taken: dict[int, int] = {}
        for negative, ci, fi in candidates:
            if ci in matched or fi in taken:
                continue
            matched[ci] = (fi, -negative)
            taken[fi] = ci
        proposals = []
        for ci, column in enumerate(columns):
            if ci in matched:
                fi, score = matched[ci]
                proposals.append(self._existing(column, existing_fields[fi], score))
            else:
                lost = [columns[taken[fi]].name for _, c, fi in candidates if c == ci and fi in taken]
                proposals.append(self._new(column, [f.field_key for f in existing_fields], lost[:1]))
        return proposals

    @staticmethod
    def _score(column_words: str, field_name: str) -> float:
        """rapidfuzz's token-sort ratio; a name whose words (two or more) all appear in the other name
        ("Emergency Phone" in "Emergency Contact Phone") counts as a containment match of 90."""
        field_words = " ".join(words_of(field_name))
        score = float(fuzz.token_sort_ratio(column_words, field_words))
        short, long = sorted((set(column_words.split()), set(field_words.split())), key=len)
        if len(short) >= 2 and short <= long:
            score = max(score, CONTAINMENT_SCORE)
        return score

    def _infer(self, column: ColumnProfile) -> tuple[DataType, float, str, tuple[str, ...]]:
        """(dataType, confidence, reason, options) from the shapes and the name."""
        words = set(words_of(column.name))
        share = self.shape_share
        if not column.filled:
            return DataType.TEXT, 0.3, "the column is empty in this export, so its type is a guess", ()
        idlike = bool(words & _ID_WORDS) or column.leading_zeros > 0
        numeric = column.share(ValueShape.INTEGER, ValueShape.DECIMAL, ValueShape.MONEY)
        moneyish = bool(
            words
            & {"balance", "amount", "fee", "payment", "paid", "credit", "charge", "owed", "cost", "price"}
        )
        money_reason = (
            "values are numbers and the name says money" if moneyish else "values are amounts with cents"
        )
        dates_reason = "values are dates"
        checks: list[tuple[bool, DataType, float, str]] = [
            (column.share(ValueShape.DATE, ValueShape.DATETIME) >= share, DataType.DATE, 0.9, dates_reason),
            (column.share(ValueShape.EMAIL) >= share, DataType.EMAIL, 0.9, "values are e-mail addresses"),
            (
                column.share(ValueShape.PHONE) >= share and not idlike,
                DataType.PHONE, 0.85, "values are phone numbers",
            ),
            (
                numeric >= share and (moneyish or column.share(ValueShape.MONEY) >= share) and not idlike,
                DataType.MONETORY, 0.85, money_reason,
            ),
            (
                numeric >= share and not idlike,
                DataType.NUMERICAL, 0.8, "values are numbers",
            ),
        ]  # fmt: skip
        for hit, data_type, confidence, reason in checks:
            if hit:
                return data_type, confidence, f"{reason} ({self._pct(column, data_type)})", ()
        if column.share(ValueShape.BOOLEAN) >= share:
            return DataType.SINGLE_OPTIONS, 0.75, "values are yes/no flags", ("Yes", "No")
        repeats = column.filled >= self.picklist_min_filled and column.distinct * 4 <= column.filled
        if not column.distinct_capped and column.distinct <= self.picklist_max and repeats and not idlike:
            return (
                DataType.SINGLE_OPTIONS,
                0.65,
                f"{column.distinct} distinct values over {column.filled} filled rows: a picklist "
                "(its options are read from the source at plan time)",
                (),
            )
        if column.share(ValueShape.LONG_TEXT) > 0 or column.max_length > LONG_TEXT_CHARS:
            return (
                DataType.LARGE_TEXT,
                0.7,
                f"values run up to {column.max_length} characters or span lines",
                (),
            )
        reason = "identifier-like column kept as text" if idlike else "values are free text"
        return DataType.TEXT, 0.6 if not idlike else 0.75, reason, ()

    @staticmethod
    def _pct(column: ColumnProfile, data_type: DataType) -> str:
        shapes = {
            DataType.DATE: (ValueShape.DATE, ValueShape.DATETIME),
            DataType.EMAIL: (ValueShape.EMAIL,),
            DataType.PHONE: (ValueShape.PHONE,),
            DataType.MONETORY: (ValueShape.INTEGER, ValueShape.DECIMAL, ValueShape.MONEY),
            DataType.NUMERICAL: (ValueShape.INTEGER, ValueShape.DECIMAL, ValueShape.MONEY),
        }[data_type]
        return f"{column.share(*shapes):.0%} of {column.filled} filled values"

    @staticmethod
    def _category(column: ColumnProfile) -> FieldCategory:
        words = set(words_of(column.name))
        for category, keywords in _CATEGORY_WORDS:
            if words & keywords:
                return category
        return FieldCategory.ADMINISTRATIVE

    def _existing(self, column: ColumnProfile, field: ExistingCustomField, score: float) -> Proposal:
        inferred, _, _, _ = self._infer(column)
        confidence = score / 100
        reason = f"name matches existing field {field.field_key} ({score:.0f}/100)"
        compatible = {
            DataType.TEXT: {DataType.TEXT, DataType.LARGE_TEXT, DataType.PHONE, DataType.EMAIL},
            DataType.LARGE_TEXT: {DataType.TEXT, DataType.LARGE_TEXT},
        }.get(field.data_type, {field.data_type})
        if (
            column.filled
            and inferred not in compatible
            and not (
                field.data_type in (DataType.SINGLE_OPTIONS, DataType.RADIO) and inferred is DataType.TEXT
            )
        ):
            confidence *= 0.6
            reason += (
                f"; its type {field.data_type.value} differs from the values' shape ({inferred.value}): check"
            )
        return Proposal(
            column=column.name,
            action=ProposalAction.USE_EXISTING,
            field_name=field.name,
            field_key=field.field_key,
            vocabulary_name=column.name,
            data_type=field.data_type,
            category=self._category(column),
            confidence=round(confidence, 2),
            reason=reason,
            existing_field_id=field.id,
            options=field.options,
        )

    def _new(self, column: ColumnProfile, existing_keys: Sequence[str], lost_to: Sequence[str]) -> Proposal:
        data_type, confidence, reason, options = self._infer(column)
        words = words_of(column.name) or ["field"]
        key = "contact." + (snake_key(" ".join(words)) or "field")
        if key in existing_keys:
            key += "_2"
        if lost_to:
            reason += f"; the closest existing field is already proposed for column {lost_to[0]!r}"
        if column.fill_rate < 0.05:
            confidence *= 0.7
            reason += f"; only {column.fill_rate:.0%} of rows are filled"
        return Proposal(
            column=column.name,
            action=ProposalAction.CREATE,
            field_name=_display(words),
            field_key=key,
            vocabulary_name=column.name,
            data_type=data_type,
            category=self._category(column),
            confidence=round(confidence, 2),
            reason="new field: " + reason,
            options=options,
        )
