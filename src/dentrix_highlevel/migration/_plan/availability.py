"""The Data Availability Report: what the source holds, per file and field, and what the map does with it.

Fields are profiled from the typed records every source yields (so a G export and Ascend report alike): rows,
fill rate, value *shapes* and a capped distinct count (the proposer's :class:`ColumnProfile`) — never a value.
Each field gets a mapping status with its reason:

* ``direct``: copied into a standard HighLevel field as it is;
* ``transform``: reaches HighLevel through transforms or a computed summary (or links a record to its
  patient's contact);
* ``custom_field``: lands in a custom field;
* ``unmapped``: no rule reads it (practice-specific columns get a proposal in the plan);
* ``not_migratable``: deliberately left behind, with the reason.

Field names are the record paths the maps use (``patient.first_name``), so a reviewer can match a report
line to a map rule; practice-specific columns appear as ``<record>.extra.<column>``.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

import attrs

from dentrix_highlevel.mapping._dsl import Coalesce, Collect, Computed, PathSource, Source
from dentrix_highlevel.mapping._map import FieldMap
from dentrix_highlevel.mapping._propose import ColumnProfile, ValueShape, shape_of
from dentrix_highlevel.mapping._targets import CustomFieldTarget, StandardField
from dentrix_highlevel.mapping._transforms import to_text
from dentrix_highlevel.records import (
    Appointment,
    ClinicalNote,
    OfficeJournalEntry,
    PatientBundle,
    Provider,
)

__all__ = [
    "AvailabilityCollector",
    "AvailabilityReport",
    "FieldAvailability",
    "FileAvailability",
    "IssueSummary",
    "MappingStatus",
]


class MappingStatus(enum.StrEnum):
    DIRECT = "direct"
    TRANSFORM = "transform"
    CUSTOM_FIELD = "custom_field"
    UNMAPPED = "unmapped"
    NOT_MIGRATABLE = "not_migratable"


@attrs.frozen(kw_only=True)
class FieldAvailability:
    """One source field: its profile (no values), mapping status, the reason and the targets it feeds."""

    field: str
    profile: ColumnProfile
    status: MappingStatus = attrs.field(converter=MappingStatus)
    reason: str
    targets: tuple[str, ...] = ()

    @property
    def fill_rate(self) -> float:
        return self.profile.fill_rate


@attrs.frozen(kw_only=True)
class FileAvailability:
    """One source file (or record kind within it): its figures and its fields."""

    file: str
    record: str
    present: bool
    records: int
    profiled: int  # the first ``profiled`` records were profiled (all of them below the collector's limit)
    fields: tuple[FieldAvailability, ...]
    rows: int | None = None  # data rows in the file, when the source counts them (G export)
    dropped: int | None = None
    issues: int | None = None


@attrs.frozen(kw_only=True)
class IssueSummary:
    """Source issues: counts by code and the first ``len(lines)`` located lines (file:line [column]: code)."""

    total: int
    by_code: Mapping[str, int]
    lines: tuple[str, ...] = ()
    rows_dropped: int = 0


@attrs.frozen(kw_only=True)
class AvailabilityReport:
    files: tuple[FileAvailability, ...]
    issues: IssueSummary

    def field(self, record: str, name: str) -> FieldAvailability:
        """The entry for ``<record>.<name>`` (``KeyError`` if the report has none)."""
        for entry in self.files:
            if entry.record == record:
                for item in entry.fields:
                    if item.field == f"{record}.{name}":
                        return item
        raise KeyError(f"{record}.{name}")

    def extra_columns(self) -> list[ColumnProfile]:
        """Profiles of the practice-specific columns no rule reads (what the proposer works on)."""
        return [
            f.profile
            for entry in self.files
            for f in entry.fields
            if ".extra." in f.field and f.status is MappingStatus.UNMAPPED
        ]


# --- what is profiled -----------------------------------------------------------------------------------


@attrs.frozen
class _Kind:
    record: str
    file: str
    rows: Callable[[PatientBundle], Iterable[Any]]
    key: Callable[[Any], str] | None = None  # shared rows (plans, insureds...) are profiled once per key


def _coverages(bundle: PatientBundle) -> list[Any]:
    return [c for c in (bundle.insurance.primary, bundle.insurance.secondary) if c is not None]


def _own_balance(bundle: PatientBundle) -> tuple[Any, ...]:
    return (bundle.guarantor_balance,) if bundle.guarantor_balance is not None else ()


_KINDS: Final[tuple[_Kind, ...]] = (
    _Kind("patient", "v_patient.csv", lambda b: (b.patient,)),
    _Kind("appointment", "v_appointment.csv", lambda b: b.appointments),
    _Kind("insured", "v_insured.csv", lambda b: [c.insured for c in _coverages(b)], lambda r: r.insured_id),
    _Kind(
        "insurance_plan",
        "v_insurance_plans.csv",
        lambda b: [c.plan for c in _coverages(b) if c.plan is not None],
        lambda r: r.plan_id,
    ),
    _Kind("procedure", "fullproclog.csv", lambda b: b.procedures),
    _Kind("ledger", "fullproclog.csv", lambda b: b.ledger),
    _Kind("treatment_case", "txcase.csv", lambda b: b.treatment_cases),
    _Kind("guarantor_balance", "v_guarantor_balance.csv", _own_balance, lambda r: r.guarantor_id),
    _Kind("clinical_note", "v_clinical_notes.csv", lambda b: b.clinical_notes),
    _Kind("recall", "recallpending.csv", lambda b: b.recalls),
    _Kind("document", "document.csv", lambda b: b.documents),
    _Kind("imaging", "images.csv", lambda b: b.imaging),
    _Kind(
        "referral_source",
        "referral.csv",
        lambda b: [b.referred_by.source] if b.referred_by and b.referred_by.source else [],
        lambda r: r.referral_id,
    ),
    _Kind("referral", "refacts.csv", lambda b: b.referrals),
    # Alerts come from three files (hhlinkpat_item, patalerts, the practice's medical alert codes).
    _Kind("medical_alert", "hhlinkpat_item.csv + patalerts.csv", lambda b: b.medical_alerts),
    _Kind("journal", "contact.csv", lambda b: b.journal),
)
_PROVIDER_KIND: Final = _Kind("provider", "v_provider.csv", lambda b: (), lambda r: r.provider_id)
_ALL_KINDS: Final = (*_KINDS, _PROVIDER_KIND)

# Where a map over a PatientBundle reads from: path prefix → record kind (longest prefix wins).
_BUNDLE_PREFIXES: Final[tuple[tuple[str, str], ...]] = (
    ("insurance.primary.plan.", "insurance_plan"),
    ("insurance.secondary.plan.", "insurance_plan"),
    ("insurance.primary.insured.", "insured"),
    ("insurance.secondary.insured.", "insured"),
    ("insurance.primary.subscriber.", "patient"),
    ("insurance.secondary.subscriber.", "patient"),
    ("referred_by.source.", "referral_source"),
    ("primary_provider.", "provider"),
    ("secondary_provider.", "provider"),
    ("guarantor_balance.", "guarantor_balance"),
    ("guarantor.", "patient"),
    ("patient.", "patient"),
)
# Paths that are derived from a field rather than read from one.
_DERIVED: Final[Mapping[str, tuple[str, str]]] = {"family_member_ids": ("patient", "guarantor_id")}
_SCHEMA_KINDS: Final[Mapping[type, str]] = {
    Appointment: "appointment",
    ClinicalNote: "clinical_note",
    OfficeJournalEntry: "journal",
    Provider: "provider",
}

_APPT_SUMMARY: Final = "start type_description reason provider_id operatory_title operatory_id"
#: The record fields each computed source of the default maps reads (computed functions are opaque).
COMPUTED_INPUTS: Final[Mapping[str, Mapping[str, str]]] = {
    "done_procedures": {"procedure": "ada_code date status tooth surfaces description"},
    "clinical_note_lines": {"clinical_note": "text created_at"},
    "treatment_plan_lines": {"treatment_case": "description status created_date"},
    "treatment_plan_status": {"treatment_case": "status is_default created_date"},
    "treatment_plan_amount": {"treatment_case": "status", "procedure": "amount tx_case_id"},
    "next_recall_date": {"recall": "due_date"},
    "next_recall_type": {"recall": "type_name"},
    "guarantor_balance_buckets": {
        "guarantor_balance": "balance_0_30 balance_31_60 balance_61_90 balance_91_plus"
    },
    "referring_dentist": {"referral_source": "first_name last_name title is_non_person"},
    "referring_practice": {"referral_source": "last_name specialty_description"},
    "referring_contact": {"referral_source": "phone email other_phone"},
    "medical_alert_lines": {"medical_alert": "description critical kind end_date"},
    "medical_history_lines": {"medical_alert": "description critical kind end_date"},
    "past_visit_lines": {"appointment": _APPT_SUMMARY + " status_description broken deleted"},
    "document_links": {"document": "url description type_description"},
    "documents_to_upload": {
        "document": "document_id type_description created_date",
        "imaging": "imaging_system image_id modality image_date",
    },
    "dnd_mask": {"patient": "privacy_flags status"},
    "lifecycle_stage": {"patient": "status last_visit_date first_visit_date", "recall": "due_date"},
    "opportunity_name": {"patient": "first_name last_name"},
    "appointment_end": {"appointment": "start length_min"},
    "appointment_status": {"appointment": "broken deleted status_meaning"},
    "appointment_description": {
        "appointment": "appointment_id operatory_id operatory_title provider_id additional_provider_id "
        "reason note"
    },
    "clinical_note_body": {"clinical_note": "text created_at provider_id locked"},
    "journal_body": {"journal": "kind contacted_at provider_id title text"},
    "provider_source_id": {"provider": "provider_id"},
}
_LAST_DONE_INPUTS: Final = {"procedure": "ada_code date status"}

_LINK: Final = "links the record to its patient's contact"
#: Fields left behind on purpose, and why.
NOT_MIGRATABLE: Final[Mapping[str, str]] = {
    "patient.patient_guid": "Dentrix-internal GUID; the Source System ID carries the patient key",
    "patient.fax": "HighLevel contacts have no fax field",
    "patient.gender": "HighLevel's upsert ignores gender on existing contacts, so re-runs could not agree",
    "patient.language_code": "Dentrix's language codes have no published meaning",
    "patient.status_code": "the raw code; the resolved status is migrated",
    "patient.modified_at": "a change stamp for delta pickup, not data",
    "appointment.modified_at": "a change stamp for delta pickup, not data",
    "appointment.patient_name": "typed on the appointment; the contact carries the patient's name",
    "appointment.status_id": "a code; its resolved meaning is migrated",
    "appointment.type_id": "a code; its resolved description is migrated",
    "procedure.chart_status_code": "Dentrix's numeric chart status codes are unpublished; the status is used",
    "procedure.proc_log_class": "Dentrix's numeric log classes are unpublished",
    "procedure.modified_at": "a change stamp for delta pickup, not data",
    "clinical_note.modified_at": "a change stamp for delta pickup, not data",
    "treatment_case.status_code": "the raw code; the resolved status is migrated",
    "ledger.transaction_id": "ledger rows stay in Dentrix; the guarantor's aging balance is migrated",
    "provider.modified_at": "a change stamp, not data",
}
_LINK_FIELDS: Final = frozenset({"patient_id", "guarantor_id"})
_KIND_REASONS: Final[Mapping[str, str]] = {
    "ledger": "ledger rows stay in Dentrix; the guarantor's aging balance is migrated (Outstanding Balance)",
}
_SKIPPED_TYPES: Final = (tuple, list, frozenset, set)


def _inputs_of(source: Source) -> tuple[list[str], Mapping[str, str]]:
    """(paths, computed inputs) of one rule source."""
    if isinstance(source, PathSource):
        return [str(source.path)], {}
    if isinstance(source, Coalesce | Collect):
        return [str(p) for p in source.paths], {}
    if isinstance(source, Computed):
        if source.name.startswith("last_done:"):
            return [], _LAST_DONE_INPUTS
        return [], COMPUTED_INPUTS.get(source.name, {})
    return [], {}


def _resolve(path: str, root: str | None) -> tuple[str, str] | None:
    """(kind, field) a map path reads, or None when it is not a profiled field."""
    if root is not None:
        return root, path
    if path in _DERIVED:
        return _DERIVED[path]
    for prefix, kind in _BUNDLE_PREFIXES:
        if path.startswith(prefix):
            return kind, path[len(prefix) :]
    return None


def _root_kind(field_map: FieldMap) -> str | None:
    schema = field_map.schema
    return _SCHEMA_KINDS.get(schema) if isinstance(schema, type) else None


@attrs.frozen
class _Use:
    status: MappingStatus
    target: str


def map_uses(maps: Mapping[str, FieldMap]) -> dict[tuple[str, str], list[_Use]]:
    """For every (kind, field) a map reads: the rules' statuses and targets."""
    uses: dict[tuple[str, str], list[_Use]] = {}
    for map_name, field_map in maps.items():
        root = _root_kind(field_map)
        if root is None and field_map.schema not in (None, PatientBundle):
            continue
        for rule in field_map.rules:
            target = rule.target
            label = f"{map_name}: {target.label}"
            paths, computed = _inputs_of(rule.source)
            if isinstance(target, CustomFieldTarget):
                status = MappingStatus.CUSTOM_FIELD
            elif rule.transform is None and paths and not computed:
                status = MappingStatus.DIRECT
            else:
                status = MappingStatus.TRANSFORM
            assert isinstance(target, CustomFieldTarget | StandardField)
            found = [_resolve(p, root) for p in paths]
            found += [(kind, f) for kind, names in computed.items() for f in names.split()]
            for item in found:
                if item is not None:
                    uses.setdefault(item, []).append(_Use(status, label))
    return uses


_STATUS_ORDER: Final = (MappingStatus.DIRECT, MappingStatus.TRANSFORM, MappingStatus.CUSTOM_FIELD)


def _status(
    kind: str, name: str, uses: Sequence[_Use], extra: bool
) -> tuple[MappingStatus, str, tuple[str, ...]]:
    if uses:
        # The standard field a value fills matters most to a reviewer; custom fields come after.
        status = min((u.status for u in uses), key=_STATUS_ORDER.index)
        targets = tuple(dict.fromkeys(u.target for u in uses))
        reason = {
            MappingStatus.DIRECT: "copied as it is",
            MappingStatus.TRANSFORM: "normalised or summarised by the map",
            MappingStatus.CUSTOM_FIELD: "written to a custom field",
        }[status]
        return status, reason, targets
    dotted = f"{kind}.{name}"
    if dotted in NOT_MIGRATABLE:
        return MappingStatus.NOT_MIGRATABLE, NOT_MIGRATABLE[dotted], ()
    if extra:
        return MappingStatus.UNMAPPED, "practice-specific column: see the proposals", ()
    if kind in _KIND_REASONS:
        return MappingStatus.NOT_MIGRATABLE, _KIND_REASONS[kind], ()
    if name in _LINK_FIELDS and kind != "patient":
        return MappingStatus.TRANSFORM, _LINK, ()
    if name.endswith("_id"):
        return MappingStatus.NOT_MIGRATABLE, "an identifier that links rows inside Dentrix", ()
    return MappingStatus.UNMAPPED, "no rule in the map reads it", ()


# --- profiling ------------------------------------------------------------------------------------------


class _Column:
    """One column's running profile: the same figures as :meth:`ColumnProfile.from_values`, fed row by
    row. Only 8-byte digests are held (for the capped distinct count)."""

    __slots__ = ("capped", "digests", "filled", "leading_zeros", "max_length", "rows", "shapes")

    def __init__(self) -> None:
        self.rows = self.filled = self.max_length = self.leading_zeros = 0
        self.shapes: Counter[ValueShape] = Counter()
        self.digests: set[bytes] = set()
        self.capped = False

    def add(self, value: Any, distinct_cap: int) -> None:
        self.rows += 1
        shape = _shape(value)
        if shape is ValueShape.EMPTY:
            return
        self.filled += 1
        self.shapes[shape] += 1
        text = to_text(value).strip()
        self.max_length = max(self.max_length, len(text))
        if len(text) > 1 and text[0] == "0" and text.isdigit():
            self.leading_zeros += 1
        if not self.capped:
            self.digests.add(hashlib.blake2b(text.casefold().encode(), digest_size=8).digest())
            if len(self.digests) > distinct_cap:
                self.capped = True

    def profile(self, name: str, source: str, distinct_cap: int) -> ColumnProfile:
        distinct = min(len(self.digests), distinct_cap) if self.capped else len(self.digests)
        return ColumnProfile(
            name=name,
            rows=self.rows,
            filled=self.filled,
            shapes=self.shapes,
            distinct=distinct,
            distinct_capped=self.capped,
            max_length=self.max_length,
            leading_zeros=self.leading_zeros,
            source=source,
        )


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(record: Any) -> tuple[str, ...]:
    cls = type(record)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls) if f.name != "extra")
    return names


def _shape(value: Any) -> ValueShape:
    """``shape_of`` with fast paths for the typed values records hold (strings need the full test)."""
    if value is None:
        return ValueShape.EMPTY
    if isinstance(value, bool):
        return ValueShape.BOOLEAN
    if isinstance(value, dt.datetime):
        return ValueShape.DATETIME
    if isinstance(value, dt.date):
        return ValueShape.DATE
    return shape_of(value)


class AvailabilityCollector:
    """Profiles records as the plan walks the source once; :meth:`report` builds the report.

    Every record is counted; the first ``profile_limit`` of each kind are profiled (fill rates and shapes
    of a large practice are a sample, and the report says so)."""

    def __init__(self, *, distinct_cap: int = 50, profile_limit: int = 5_000) -> None:
        self._cap = distinct_cap
        self._limit = profile_limit
        self._columns: dict[str, dict[str, _Column]] = {k.record: {} for k in _ALL_KINDS}
        self._extra: dict[str, dict[str, _Column]] = {k.record: {} for k in _ALL_KINDS}
        self._records: Counter[str] = Counter()
        self._seen: dict[str, set[str]] = {}

    def _add(self, kind: _Kind, record: Any) -> None:
        if kind.key is not None:
            seen = self._seen.setdefault(kind.record, set())
            key = kind.key(record)
            if key in seen:
                return
            seen.add(key)
        self._records[kind.record] += 1
        if self._records[kind.record] > self._limit:
            # Shapes and fill rates settle long before this; counting goes on, profiling stops.
            return
        columns = self._columns[kind.record]
        for name in _field_names(record):
            value = getattr(record, name)
            # Nested records and collections are kinds of their own (or summaries); skip them here.
            if isinstance(value, _SKIPPED_TYPES) or hasattr(type(value), "__attrs_attrs__"):
                continue
            column = columns.get(name)
            if column is None:
                column = columns[name] = _Column()
            column.add(value, self._cap)
        extra = getattr(record, "extra", None)
        if isinstance(extra, Mapping):
            extras = self._extra[kind.record]
            for name in extra:
                if name not in extras:
                    extras[name] = _Column()
            # Every record counts for every extra column seen so far, so fill rates stay honest.
            for name, column in extras.items():
                column.add(extra.get(name), self._cap)

    def add_bundle(self, bundle: PatientBundle) -> None:
        for kind in _KINDS:
            for record in kind.rows(bundle):
                self._add(kind, record)

    def add_providers(self, providers: Iterable[Provider]) -> None:
        for provider in providers:
            self._add(_PROVIDER_KIND, provider)

    def report(
        self,
        maps: Mapping[str, FieldMap],
        *,
        counts: Mapping[str, Any] | None = None,
        issues: Sequence[Any] = (),
        max_issue_lines: int = 200,
    ) -> AvailabilityReport:
        uses = map_uses(maps)
        files = []
        for kind in _ALL_KINDS:
            entries = []
            columns = self._columns[kind.record]
            total = self._records[kind.record]
            profiled = min(total, self._limit)
            for name, column in columns.items():
                status, reason, targets = _status(kind.record, name, uses.get((kind.record, name), []), False)
                profile = column.profile(f"{kind.record}.{name}", kind.file, self._cap)
                entries.append(
                    FieldAvailability(
                        field=f"{kind.record}.{name}",
                        profile=profile,
                        status=status,
                        reason=reason,
                        targets=targets,
                    )
                )
            for name, column in sorted(self._extra[kind.record].items()):
                column.rows = profiled  # columns first seen after some rows: the earlier rows were blank
                status, reason, targets = _status(
                    kind.record, f"extra.{name}", uses.get((kind.record, f"extra.{name}"), []), True
                )
                entries.append(
                    FieldAvailability(
                        field=f"{kind.record}.extra.{name}",
                        profile=column.profile(name, kind.file, self._cap),
                        status=status,
                        reason=reason,
                        targets=targets,
                    )
                )
            count = (counts or {}).get(kind.file)
            files.append(
                FileAvailability(
                    file=kind.file,
                    record=kind.record,
                    present=bool(getattr(count, "present", total > 0)),
                    records=total,
                    profiled=profiled,
                    fields=tuple(entries),
                    rows=getattr(count, "rows", None),
                    dropped=getattr(count, "dropped", None),
                    issues=getattr(count, "issues", None),
                )
            )
        return AvailabilityReport(
            files=tuple(files), issues=summarise_issues(issues, max_lines=max_issue_lines)
        )


def summarise_issues(issues: Sequence[Any], *, max_lines: int = 200) -> IssueSummary:
    """Counts by code and the first ``max_lines`` located lines. Issue messages are value-free by contract
    (:class:`~dentrix_highlevel.sources.SourceIssue`); the line is ``file:line [column]: code: message``."""
    by_code = Counter(str(i.code) for i in issues)
    return IssueSummary(
        total=len(issues),
        by_code=dict(sorted(by_code.items())),
        lines=tuple(str(i) for i in issues[:max_lines]),
        rows_dropped=sum(1 for i in issues if getattr(i, "row_dropped", False)),
    )
