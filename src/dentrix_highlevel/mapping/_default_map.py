"""The default Dentrix → HighLevel maps over :mod:`dentrix_highlevel.records`.

``default_maps(options)`` gives one :class:`FieldMap` per HighLevel object the migration writes:

* ``contact``: a :class:`PatientBundle` → Contact (standard fields, DND from privacy flags, tags, and the
  custom fields the seed names: ``Source_System_ID``, ``Dental_Patient``, insurance, CDT history, clinical
  notes, treatment plan, recall, balance, referral, medical alerts/history, visit history, documents, family);
* ``opportunity``: the patient lifecycle (stages New Patient / Active / Recall / Inactive);
* ``appointment``: an :class:`Appointment` → calendar event (chair/operatory context kept in the description,
  since HighLevel events cannot hold it);
* ``clinical_note`` and ``journal_note``: a clinical note / Office Journal entry → a contact Note whose body
  starts with the original timestamp (HighLevel sets a note's date itself);
* ``provider_user`` and ``provider_contact``: a :class:`Provider` → User, and the ``Provider_Role`` contact
  fields for a provider who is also a patient.

Choices a practice makes live in :class:`DefaultMapOptions`; which patients become what is
:func:`patient_disposition` (non-patient guarantors, archived incl. deceased, inactive). Values computed from
the whole bundle are named functions (``default_computed(options)``), so the maps serialise and load back.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Final

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.mapping._dsl import Coalesce, Collect, Computed, Constant
from dentrix_highlevel.mapping._map import FieldMap, FieldRule
from dentrix_highlevel.mapping._phones import Phone
from dentrix_highlevel.mapping._targets import CustomFieldTarget, DataType, FieldCategory, StandardField
from dentrix_highlevel.mapping._transforms import (
    DndFromFlags,
    Email,
    Join,
    Lookup,
    NameCase,
    Overflow,
    Sum,
    Tags,
    ToDateTime,
    Trim,
    fix_name_case,
)
from dentrix_highlevel.records import (
    Appointment,
    AppointmentStatusMeaning,
    ClinicalNote,
    MedicalAlertKind,
    OfficeJournalEntry,
    PatientBundle,
    PatientStatus,
    ProcedureStatus,
    Provider,
    ProviderKind,
    Recall,
    ReferrerKind,
    TreatmentCaseStatus,
    TreatmentPlanCase,
)

__all__ = [
    "LIFECYCLE_STAGES",
    "CdtHistoryMode",
    "ClinicalNotesMode",
    "DefaultMapOptions",
    "DefaultMaps",
    "Disposition",
    "PastAppointmentsMode",
    "PatientPolicy",
    "default_computed",
    "default_maps",
    "lifecycle_stage",
    "patient_disposition",
]

#: The pipeline stages of the patient lifecycle opportunity, in order.
LIFECYCLE_STAGES: Final = ("New Patient", "Active", "Recall", "Inactive")

_ALL_CHANNELS: Final = ("Call", "Email", "SMS", "WhatsApp", "GMB", "FB")
# A bit above Dentrix's privacy bits, set by the policy for archived patients: every channel DND.
_ARCHIVED_DND_BIT: Final = 1 << 8
_CLOSED_CASES: Final = frozenset({TreatmentCaseStatus.COMPLETED, TreatmentCaseStatus.REJECTED})
_DONE_PROCEDURES: Final = frozenset(
    {ProcedureStatus.COMPLETED, ProcedureStatus.EXISTING, ProcedureStatus.EXISTING_OTHER}
)


class PastAppointmentsMode(enum.StrEnum):
    SUMMARY = "summary"  # a Visit_History long-text field on the contact (no requests per visit)
    EVENTS = "events"  # past appointments become calendar events too (one request each)


class CdtHistoryMode(enum.StrEnum):
    LONG_TEXT = "long_text"  # one CDT_Code_History field
    PER_CODE = "per_code"  # one DATE field per tracked code ("Last D0120 Date")


class ClinicalNotesMode(enum.StrEnum):
    FIELD = "field"  # a Clinical_Notes long-text field (overflow to Notes)
    NOTES = "notes"  # one Note per clinical note
    BOTH = "both"


class PatientPolicy(enum.StrEnum):
    CONTACT = "contact"  # migrate as a contact (with its lifecycle opportunity where it has one)
    CONTACT_NO_OPPORTUNITY = "contact_no_opportunity"
    CONTACT_DND = "contact_dnd"  # a contact with DND on every channel, no opportunity (deceased)
    SKIP = "skip"


def _as_utc_naive_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@attrs.frozen(kw_only=True)
class DefaultMapOptions:
    """What a practice chooses for the default maps.

    ``as_of`` is the practice-local "now" that splits past from future appointments and overdue recalls (a
    test seam; defaults to the current UTC time, naive). ``long_text_limit_chars`` bounds every long-text
    summary; what does not fit goes to a Note. ``pipeline_stage_ids`` (stage name → HighLevel stage id, known
    once the pipeline exists) turns on ``pipelineStageId`` in the opportunity map.
    """

    as_of: dt.datetime = attrs.field(factory=_as_utc_naive_now)
    past_appointments: PastAppointmentsMode = attrs.field(
        default=PastAppointmentsMode.SUMMARY, converter=PastAppointmentsMode
    )
    cdt_history: CdtHistoryMode = attrs.field(default=CdtHistoryMode.LONG_TEXT, converter=CdtHistoryMode)
    tracked_codes: tuple[str, ...] = ("D0120", "D0150", "D1110", "D0210", "D0330", "D4910")
    clinical_notes: ClinicalNotesMode = attrs.field(
        default=ClinicalNotesMode.FIELD, converter=ClinicalNotesMode
    )
    long_text_limit_chars: int = 4000
    inactive_after_months: int = 18
    non_patient: PatientPolicy = attrs.field(
        default=PatientPolicy.CONTACT_NO_OPPORTUNITY, converter=PatientPolicy
    )
    archived: PatientPolicy = attrs.field(default=PatientPolicy.CONTACT_DND, converter=PatientPolicy)
    inactive: PatientPolicy = attrs.field(default=PatientPolicy.CONTACT, converter=PatientPolicy)
    pipeline_stage_ids: Mapping[str, str] | None = attrs.field(default=None, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.as_of.tzinfo is not None:
            raise ConfigurationError("as_of is practice-local and naive, like Dentrix times")
        if self.long_text_limit_chars < 200:
            raise ConfigurationError("long_text_limit_chars must be at least 200")
        if self.inactive_after_months < 1:
            raise ConfigurationError("inactive_after_months must be at least 1")
        if self.pipeline_stage_ids is not None:
            missing = [s for s in LIFECYCLE_STAGES if s not in self.pipeline_stage_ids]
            if missing:
                raise ConfigurationError(f"pipeline_stage_ids lacks stage(s): {', '.join(missing)}")


# --- policies -------------------------------------------------------------------------------------------


@attrs.frozen
class Disposition:
    """What happens to one patient: a contact or not, an opportunity or not, all channels DND or not."""

    contact: bool
    opportunity: bool
    dnd_all: bool
    reason: str


def patient_disposition(bundle: PatientBundle, options: DefaultMapOptions) -> Disposition:
    """The practice's policy for non-patient guarantors, archived (incl. deceased) and inactive patients."""
    status = bundle.patient.status
    policy, label = (
        {
            PatientStatus.NON_PATIENT: (options.non_patient, "non-patient"),
            PatientStatus.ARCHIVED: (options.archived, "archived"),
            PatientStatus.INACTIVE: (options.inactive, "inactive"),
        }.get(status, (PatientPolicy.CONTACT, "patient"))
        if status is not None
        else (PatientPolicy.CONTACT, "patient")
    )
    if policy is PatientPolicy.SKIP:
        return Disposition(False, False, False, f"{label}: skipped by policy")
    if policy is PatientPolicy.CONTACT_DND:
        return Disposition(True, False, True, f"{label}: contact with DND on every channel, no opportunity")
    if policy is PatientPolicy.CONTACT_NO_OPPORTUNITY:
        return Disposition(True, False, False, f"{label}: contact without an opportunity")
    return Disposition(True, True, False, f"{label}: contact and lifecycle opportunity")


def _months_between(earlier: dt.date, later: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month - (later.day < earlier.day)


def _next_recall(bundle: PatientBundle) -> Recall | None:
    due = [r for r in bundle.recalls if r.due_date is not None]
    return min(due, key=lambda r: (r.due_date, r.recall_type_id)) if due else None


def _visited(bundle: PatientBundle, as_of: dt.datetime) -> dt.date | None:
    """The last visit date: Dentrix's own, else the latest completed appointment before ``as_of``."""
    if bundle.patient.last_visit_date is not None:
        return bundle.patient.last_visit_date
    done = [
        a.start.date()
        for a in bundle.appointments
        if a.start is not None and a.start < as_of and a.status_meaning is AppointmentStatusMeaning.COMPLETE
    ]
    return max(done) if done else None


def lifecycle_stage(bundle: PatientBundle, options: DefaultMapOptions) -> str:
    """New Patient (never seen), Recall (a recall is overdue), Inactive (status, or no visit for
    ``inactive_after_months``), otherwise Active."""
    if bundle.patient.status in (PatientStatus.INACTIVE, PatientStatus.ARCHIVED):
        return "Inactive"
    today = options.as_of.date()
    last = _visited(bundle, options.as_of)
    if last is None and bundle.patient.first_visit_date is None:
        return "New Patient"
    if last is not None and _months_between(last, today) >= options.inactive_after_months:
        return "Inactive"
    recall = _next_recall(bundle)
    if recall is not None and recall.due_date is not None and recall.due_date <= today:
        return "Recall"
    return "Active"


# --- computed values ------------------------------------------------------------------------------------


def _fmt_date(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else "undated"


def _fmt_time(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "undated"


def _label(value: enum.Enum | None) -> str:
    return str(value.value).replace("_", " ").capitalize() if value is not None else ""


def _procedure_line(bundle: PatientBundle) -> tuple[str, ...]:
    done = [p for p in bundle.procedures if p.status in _DONE_PROCEDURES and p.ada_code]
    done.sort(key=lambda p: (p.date or dt.date.min, p.procedure_id), reverse=True)
    lines = []
    for p in done:
        where = " ".join(x for x in (f"#{p.tooth}" if p.tooth else "", p.surfaces or "") if x)
        lines.append(
            " ".join(x for x in (_fmt_date(p.date), p.ada_code or "", where, p.description or "") if x)
        )
    return tuple(lines)


def _last_done(code: str) -> Callable[[PatientBundle], dt.date | None]:
    def last(bundle: PatientBundle) -> dt.date | None:
        dates = [
            p.date
            for p in bundle.procedures
            if p.ada_code == code and p.status in _DONE_PROCEDURES and p.date
        ]
        return max(dates) if dates else None

    return last


def _clinical_note_lines(bundle: PatientBundle) -> tuple[str, ...]:
    notes = sorted(
        bundle.clinical_notes, key=lambda n: (n.created_at or dt.datetime.min, n.note_id), reverse=True
    )
    return tuple(f"[{_fmt_time(n.created_at)}] {n.text.strip()}" for n in notes if n.text and n.text.strip())


def _open_cases(bundle: PatientBundle) -> list[TreatmentPlanCase]:
    return [c for c in bundle.treatment_cases if c.status not in _CLOSED_CASES]


def _case_lines(bundle: PatientBundle) -> tuple[str, ...]:
    lines = []
    for case in sorted(bundle.treatment_cases, key=lambda c: (c.created_date or dt.date.min, c.case_id)):
        codes = ", ".join(p.ada_code for p in case.procedures if p.ada_code)
        status = _label(case.status) or "Unknown status"
        head = f"{case.description or 'Treatment plan'} ({status}, {_fmt_date(case.created_date)})"
        lines.append(f"{head}: {codes} = {case.total_amount:.2f}" if codes else head)
    return tuple(lines)


def _case_status(bundle: PatientBundle) -> str | None:
    cases = _open_cases(bundle) or list(bundle.treatment_cases)
    if not cases:
        return None
    chosen = max(cases, key=lambda c: (bool(c.is_default), c.created_date or dt.date.min, c.case_id))
    return _label(chosen.status) or None


def _case_amount(bundle: PatientBundle) -> Decimal | None:
    cases = _open_cases(bundle)
    return sum((c.total_amount for c in cases), Decimal("0.00")) if cases else None


def _balance(bundle: PatientBundle) -> tuple[Decimal, ...] | None:
    # Balances are per guarantor in Dentrix: they go on the guarantor's contact only, so balance reminders
    # reach the person who pays. The aging buckets already include any balance-forward row.
    balance = bundle.guarantor_balance
    if balance is None or not bundle.patient.is_own_guarantor:
        return None
    return (balance.balance_0_30, balance.balance_31_60, balance.balance_61_90, balance.balance_91_plus)


def _person(first: str | None, last: str | None, title: str | None = None) -> str | None:
    name = " ".join(x.strip() for x in (first, last) if x and x.strip())
    if not name:
        return None
    return f"{name}, {title.strip()}" if title and title.strip() else name


def _referring_dentist(bundle: PatientBundle) -> str | None:
    ref = bundle.referred_by
    if ref is None or ref.source is None or ref.source.is_non_person:
        return None
    return _person(ref.source.first_name, ref.source.last_name, ref.source.title)


def _referring_practice(bundle: PatientBundle) -> str | None:
    ref = bundle.referred_by
    if ref is None or ref.source is None:
        return None
    if ref.source.is_non_person:
        return ref.source.last_name
    return ref.source.specialty_description


def _referring_contact(bundle: PatientBundle) -> str | None:
    ref = bundle.referred_by
    if ref is None:
        return None
    if ref.kind is ReferrerKind.PATIENT:
        return f"Patient {ref.referrer_id}"
    if ref.source is None:
        return None
    return next((x for x in (ref.source.phone, ref.source.email, ref.source.other_phone) if x), None)


def _alerts(kinds: frozenset[MedicalAlertKind], options: DefaultMapOptions) -> Callable[[PatientBundle], Any]:
    today = options.as_of.date()

    def lines(bundle: PatientBundle) -> tuple[str, ...]:
        out = []
        for alert in sorted(bundle.medical_alerts, key=lambda a: (not a.critical, a.alert_id)):
            if alert.kind not in kinds or not alert.description:
                continue
            if alert.end_date is not None and alert.end_date < today:
                continue
            flag = "CRITICAL: " if alert.critical else ""
            out.append(f"{flag}{alert.description.strip()} ({_label(alert.kind)})")
        return tuple(out)

    return lines


def _past_visits(options: DefaultMapOptions) -> Callable[[PatientBundle], tuple[str, ...]]:
    def lines(bundle: PatientBundle) -> tuple[str, ...]:
        past = [
            a
            for a in bundle.appointments
            if a.start is not None and a.start < options.as_of and not a.deleted
        ]
        past.sort(key=lambda a: (a.start, a.appointment_id), reverse=True)
        out = []
        for a in past:
            what = a.type_description or a.reason or "Visit"
            status = "broken" if a.broken else (a.status_description or "")
            chair = (
                f"chair {a.operatory_title or a.operatory_id}"
                if (a.operatory_title or a.operatory_id)
                else ""
            )
            parts = [_fmt_time(a.start), what, a.provider_id or "", chair, status]
            out.append(" · ".join(p for p in parts if p))
        return tuple(out)

    return lines


def _document_links(bundle: PatientBundle) -> tuple[str, ...]:
    return tuple(
        f"{d.description or d.type_description or 'Document'}: {d.url}" for d in bundle.documents if d.url
    )


def _documents_to_upload(bundle: PatientBundle) -> tuple[str, ...]:
    out = [
        f"document {d.document_id} {d.type_description or ''} {_fmt_date(d.created_date)}".replace("  ", " ")
        for d in bundle.documents
        if not d.url
    ]
    out += [
        f"image {i.imaging_system}/{i.image_id} {i.modality or ''} {_fmt_date(i.image_date)}".replace(
            "  ", " "
        )
        for i in bundle.imaging
    ]
    return tuple(out)


def _dnd_mask(options: DefaultMapOptions) -> Callable[[PatientBundle], int]:
    def mask(bundle: PatientBundle) -> int:
        value = int(bundle.patient.privacy_flags)
        if patient_disposition(bundle, options).dnd_all:
            value |= _ARCHIVED_DND_BIT
        return value

    return mask


def _appointment_end(appointment: Appointment) -> dt.datetime | None:
    return appointment.end


def _appointment_status(appointment: Appointment) -> str | None:
    if appointment.broken or appointment.deleted:
        return "broken"
    return appointment.status_meaning.value if appointment.status_meaning is not None else None


def _appointment_description(appointment: Appointment) -> str:
    # HighLevel events have no chair/operatory: keep that context (and the Dentrix id) in the description.
    lines = [f"Dentrix appointment {appointment.appointment_id}"]
    if appointment.operatory_id or appointment.operatory_title:
        lines.append(
            f"Chair: {' '.join(x for x in (appointment.operatory_id, appointment.operatory_title) if x)}"
        )
    if appointment.provider_id:
        extra = f" (+{appointment.additional_provider_id})" if appointment.additional_provider_id else ""
        lines.append(f"Provider: {appointment.provider_id}{extra}")
    codes = [p.ada_code for p in appointment.procedures if p.ada_code]
    if codes:
        lines.append(f"Procedures: {', '.join(codes)}")
    if appointment.reason:
        lines.append(f"Reason: {appointment.reason}")
    if appointment.note:
        lines.append(f"Note: {appointment.note}")
    return "\n".join(lines)


def _clinical_note_body(note: ClinicalNote) -> str | None:
    if not note.text or not note.text.strip():
        return None
    head = f"Clinical note, {_fmt_time(note.created_at)}"
    if note.provider_id:
        head += f", provider {note.provider_id}"
    if note.locked:
        head += ", signed and locked in Dentrix"
    return f"{head}\n\n{note.text.strip()}"


def _journal_body(entry: OfficeJournalEntry) -> str:
    head = f"Office Journal {entry.kind.value}, {_fmt_time(entry.contacted_at)} (original time)"
    if entry.provider_id:
        head += f", {entry.provider_id}"
    parts = [head, entry.title or "", entry.text or ""]
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def _opportunity_name(bundle: PatientBundle) -> str:
    first, last = (
        fix_name_case(n.strip()) if n else None for n in (bundle.patient.first_name, bundle.patient.last_name)
    )
    return _person(first, last) or f"Patient {bundle.patient.patient_id}"


def default_computed(options: DefaultMapOptions) -> dict[str, Computed]:
    """Every computed source the default maps use, by name (pass it to ``load_map(computed=...)``)."""
    computed = [
        Computed("done_procedures", _procedure_line, tuple),
        Computed("clinical_note_lines", _clinical_note_lines, tuple),
        Computed("treatment_plan_lines", _case_lines, tuple),
        Computed("treatment_plan_status", _case_status, str),
        Computed("treatment_plan_amount", _case_amount, Decimal),
        Computed("next_recall_date", lambda b: getattr(_next_recall(b), "due_date", None), dt.date),
        Computed("next_recall_type", lambda b: getattr(_next_recall(b), "type_name", None), str),
        Computed("guarantor_balance_buckets", _balance, tuple),
        Computed("referring_dentist", _referring_dentist, str),
        Computed("referring_practice", _referring_practice, str),
        Computed("referring_contact", _referring_contact, str),
        Computed(
            "medical_alert_lines",
            _alerts(
                frozenset(
                    {MedicalAlertKind.ALLERGY, MedicalAlertKind.MEDICAL_ALERT, MedicalAlertKind.PATIENT_ALERT}
                ),
                options,
            ),
            tuple,
        ),
        Computed(
            "medical_history_lines",
            _alerts(frozenset({MedicalAlertKind.CONDITION, MedicalAlertKind.MEDICATION}), options),
            tuple,
        ),
        Computed("past_visit_lines", _past_visits(options), tuple),
        Computed("document_links", _document_links, tuple),
        Computed("documents_to_upload", _documents_to_upload, tuple),
        Computed("dnd_mask", _dnd_mask(options), int),
        Computed("lifecycle_stage", lambda b: lifecycle_stage(b, options), str),
        Computed("opportunity_name", _opportunity_name, str),
        Computed("appointment_end", _appointment_end, dt.datetime),
        Computed("appointment_status", _appointment_status, str),
        Computed("appointment_description", _appointment_description, str),
        Computed("clinical_note_body", _clinical_note_body, str),
        Computed("journal_body", _journal_body, str),
        Computed("provider_source_id", lambda p: f"provider:{p.provider_id}", str),
    ]
    for code in options.tracked_codes:
        computed.append(Computed(f"last_done:{code}", _last_done(code), dt.date))
    return {c.name: c for c in computed}


# --- targets --------------------------------------------------------------------------------------------

_YES_NO: Final = ("Yes", "No")
_STATUS_LABELS: Final = {
    "patient": "Patient",
    "non_patient": "Non-patient",
    "inactive": "Inactive",
    "archived": "Archived",
}
_CASE_LABELS: Final = tuple(_label(s) for s in TreatmentCaseStatus)


def _field(name: str, data_type: DataType, category: FieldCategory, **kw: Any) -> CustomFieldTarget:
    return CustomFieldTarget(name=name, data_type=data_type, category=category, **kw)


_ADMIN, _CLIN, _INS, _FIN = (
    FieldCategory.ADMINISTRATIVE,
    FieldCategory.CLINICAL,
    FieldCategory.INSURANCE,
    FieldCategory.FINANCIAL,
)
SOURCE_SYSTEM_ID: Final = _field(
    "Source System ID", DataType.TEXT, _ADMIN, vocabulary_name="Source_System_ID__c"
)
PROVIDER_ROLE: Final = _field(
    "Provider Role",
    DataType.SINGLE_OPTIONS,
    _ADMIN,
    options=("Dentist", "Hygienist"),
    vocabulary_name="Provider_Role__c",
)


@attrs.frozen
class DefaultMaps:
    """The default maps, one per HighLevel object (see the module docstring)."""

    contact: FieldMap
    opportunity: FieldMap
    appointment: FieldMap
    clinical_note: FieldMap
    journal_note: FieldMap
    provider_user: FieldMap
    provider_contact: FieldMap
    computed: Mapping[str, Computed] = attrs.field(eq=False, repr=False)

    def all(self) -> dict[str, FieldMap]:
        return {f.name: getattr(self, f.name) for f in attrs.fields(DefaultMaps) if f.name != "computed"}


def _rule(
    source: Any, target: Any, transform: Any = None, *, required: bool = False, note: str = ""
) -> FieldRule:
    return FieldRule(source=source, target=target, transform=transform, required=required, note=note)


def _contact_rules(options: DefaultMapOptions, computed: Mapping[str, Computed]) -> list[FieldRule]:
    limit = options.long_text_limit_chars

    def long_text(
        name: str, label: str, category: FieldCategory, title: str, *, note: str = "", **field: Any
    ) -> FieldRule:
        """A computed multi-line custom field; what does not fit goes to a note called ``title``."""
        return _rule(
            computed[name],
            _field(label, DataType.LARGE_TEXT, category, **field),
            Join(separator="\n", limit_chars=limit, overflow=Overflow.NOTE, note_title=title),
            note=note,
        )

    std = StandardField
    rules = [
        _rule("patient.first_name", std("firstName"), Trim() | NameCase()),
        _rule("patient.last_name", std("lastName"), Trim() | NameCase()),
        _rule("patient.email", std("email"), Email()),
        _rule(
            Coalesce(
                ["patient.mobile_phone", "patient.home_phone", "patient.work_phone", "patient.other_phone"]
            ),
            std("phone"),
            Phone(),
            note="mobile first: HighLevel texts the contact's phone",
        ),
        _rule(
            Collect(["patient.address_line1", "patient.address_line2"]), std("address1"), Join(separator=", ")
        ),
        _rule("patient.city", std("city"), Trim()),
        _rule("patient.state", std("state"), Trim()),
        _rule("patient.zipcode", std("postalCode"), Trim()),
        _rule("patient.birth_date", std("dateOfBirth")),
        _rule(Constant("Dentrix"), std("source")),
        _rule(
            computed["dnd_mask"],
            std("dndSettings"),
            DndFromFlags(bits={1: ("Call",), 2: ("SMS", "Email"), _ARCHIVED_DND_BIT: _ALL_CHANNELS}),
            note="privacy bit 1 = no calls, bit 2 = no SMS/e-mail; archived patients: every channel",
        ),
        _rule(Constant(["dentrix"]), std("tags"), Tags()),
        _rule(
            "patient.status",
            std("tags"),
            Lookup(
                {
                    "patient": "patient",
                    "non_patient": "non-patient",
                    "inactive": "inactive",
                    "archived": "archived",
                }
            )
            | Tags(prefix="dentrix "),
        ),
        _rule("patient.patient_id", SOURCE_SYSTEM_ID, required=True, note="the key a re-run updates by"),
        _rule(
            "patient.status",
            _field(
                "Dental Patient",
                DataType.SINGLE_OPTIONS,
                _ADMIN,
                options=_YES_NO,
                vocabulary_name="Dental_Patient__c",
            ),
            Lookup({"patient": "Yes", "inactive": "Yes", "archived": "Yes", "non_patient": "No"}),
        ),
        _rule(
            "patient.status",
            _field("Patient Status", DataType.SINGLE_OPTIONS, _ADMIN, options=tuple(_STATUS_LABELS.values())),
            Lookup(_STATUS_LABELS),
        ),
        _rule("patient.chart_number", _field("Chart Number", DataType.TEXT, _ADMIN), Trim()),
        _rule("patient.preferred_name", _field("Preferred Name", DataType.TEXT, _ADMIN), Trim()),
        _rule(
            Coalesce(["patient.guarantor_id", "patient.patient_id"]),
            _field("Guarantor Source ID", DataType.TEXT, _ADMIN, vocabulary_name="Guarantor_Source_ID__c"),
            note="families stay linked: every member carries its guarantor's source id",
        ),
        _rule(
            "family_member_ids",
            _field("Family Member IDs", DataType.TEXT, _ADMIN),
            Join(separator=", ", limit_chars=500),
        ),
        _rule("patient.home_phone", _field("Home Phone", DataType.PHONE, _ADMIN), Phone()),
        _rule("patient.work_phone", _field("Work Phone", DataType.PHONE, _ADMIN), Phone()),
        _rule("patient.primary_provider_id", _field("Primary Provider", DataType.TEXT, _CLIN)),
        _rule("patient.first_visit_date", _field("First Visit Date", DataType.DATE, _CLIN)),
        _rule("patient.last_visit_date", _field("Last Visit Date", DataType.DATE, _CLIN)),
        _rule(
            "patient.premedication",
            _field("Premedication Required", DataType.SINGLE_OPTIONS, _CLIN, options=_YES_NO),
            Lookup({"True": "Yes", "False": "No"}),
        ),
    ]
    for rank, prefix in (("primary", ""), ("secondary", "Secondary ")):
        base = f"insurance.{rank}"
        rules += [
            _rule(
                f"{base}.plan.carrier_name", _field(f"{prefix}Insurance Carrier", DataType.TEXT, _INS), Trim()
            ),
            _rule(
                Coalesce([f"{base}.plan.group_number", f"{base}.plan.group_name"]),
                _field(f"{prefix}Insurance Group", DataType.TEXT, _INS),
                Trim(),
            ),
            _rule(
                f"{base}.insured.member_id",
                _field(f"{prefix}Insurance Member ID", DataType.TEXT, _INS),
                Trim(),
            ),
        ]
    if options.cdt_history is CdtHistoryMode.LONG_TEXT:
        rules.append(
            long_text(
                "done_procedures",
                "CDT Code History",
                _CLIN,
                "CDT code history (continued)",
                vocabulary_name="CDT_Code_History__c",
                note="completed and existing procedures, newest first",
            )
        )
    else:
        for code in options.tracked_codes:
            rules.append(
                _rule(computed[f"last_done:{code}"], _field(f"Last {code} Date", DataType.DATE, _CLIN))
            )
    if options.clinical_notes is not ClinicalNotesMode.NOTES:
        rules.append(long_text("clinical_note_lines", "Clinical Notes", _CLIN, "Clinical notes (continued)"))
    rules += [
        long_text("treatment_plan_lines", "Treatment Plan", _CLIN, "Treatment plan (continued)"),
        _rule(
            computed["treatment_plan_status"],
            _field("Treatment Plan Status", DataType.SINGLE_OPTIONS, _CLIN, options=_CASE_LABELS),
        ),
        _rule(computed["treatment_plan_amount"], _field("Treatment Plan Amount", DataType.MONETORY, _FIN)),
        _rule(
            computed["next_recall_date"],
            _field("Recall Date", DataType.DATE, _CLIN),
            note="drives recall workflows",
        ),
        _rule(computed["next_recall_type"], _field("Recall Type", DataType.TEXT, _CLIN)),
        _rule(
            computed["guarantor_balance_buckets"],
            _field("Outstanding Balance", DataType.MONETORY, _FIN),
            Sum(),
            note="guarantor's aging buckets summed, on the guarantor's contact only",
        ),
        _rule("guarantor_balance.last_payment_date", _field("Last Payment Date", DataType.DATE, _FIN)),
        _rule(computed["referring_dentist"], _field("Referring Dentist", DataType.TEXT, _ADMIN)),
        _rule(computed["referring_practice"], _field("Referring Practice", DataType.TEXT, _ADMIN)),
        _rule(computed["referring_contact"], _field("Referring Contact", DataType.TEXT, _ADMIN)),
        long_text("medical_alert_lines", "Medical Alerts", _CLIN, "Medical alerts (continued)"),
        long_text("medical_history_lines", "Medical History", _CLIN, "Medical history (continued)"),
        long_text("document_links", "Document Links", _ADMIN, "Document links (continued)"),
        long_text(
            "documents_to_upload",
            "Documents To Re-upload",
            _ADMIN,
            "Documents to re-upload (continued)",
            note="no hosted URL: listed for manual re-upload (or the media API when the file is readable)",
        ),
    ]
    if options.past_appointments is PastAppointmentsMode.SUMMARY:
        rules.append(
            long_text(
                "past_visit_lines",
                "Visit History",
                _CLIN,
                "Visit history (continued)",
                note="past appointments with their chair, which HighLevel events cannot hold",
            )
        )
    return rules


def default_maps(options: DefaultMapOptions | None = None) -> DefaultMaps:
    """Build the default maps (validated against the record classes before any data is read)."""
    options = options or DefaultMapOptions()
    computed = default_computed(options)
    contact = FieldMap(
        name="default contact map",
        schema=PatientBundle,
        key_path="patient.patient_id",
        rules=_contact_rules(options, computed),
    )
    opportunity_rules = [
        _rule(computed["opportunity_name"], StandardField("name", "opportunity")),
        _rule(Constant("open"), StandardField("status", "opportunity")),
        _rule(computed["treatment_plan_amount"], StandardField("monetaryValue", "opportunity")),
        _rule(Constant("Dentrix"), StandardField("source", "opportunity")),
    ]
    if options.pipeline_stage_ids is not None:
        opportunity_rules.append(
            _rule(
                computed["lifecycle_stage"],
                StandardField("pipelineStageId", "opportunity"),
                Lookup(dict(options.pipeline_stage_ids)),
                required=True,
            )
        )
    opportunity = FieldMap(
        name="default lifecycle opportunity map",
        object="opportunity",
        schema=PatientBundle,
        key_path="patient.patient_id",
        rules=opportunity_rules,
    )
    appointment = FieldMap(
        name="default appointment map",
        object="appointment",
        schema=Appointment,
        key_path="appointment_id",
        rules=[
            _rule("start", StandardField("startTime", "appointment"), ToDateTime(), required=True),
            _rule(computed["appointment_end"], StandardField("endTime", "appointment"), ToDateTime()),
            _rule(
                Coalesce(["type_description", "reason"]),
                StandardField("title", "appointment"),
                Trim(),
            ),
            _rule(
                computed["appointment_status"],
                StandardField("appointmentStatus", "appointment"),
                Lookup(
                    {
                        "unconfirmed": "new",
                        "left_message": "new",
                        "confirmed": "confirmed",
                        "arrived": "confirmed",
                        "seated": "confirmed",
                        "complete": "showed",
                        "broken": "cancelled",
                        "other": "new",
                    }
                ),
            ),
            _rule(computed["appointment_description"], StandardField("description", "appointment")),
        ],
    )
    clinical_note = FieldMap(
        name="default clinical note map",
        object="note",
        schema=ClinicalNote,
        key_path="note_id",
        rules=[_rule(computed["clinical_note_body"], StandardField("body", "note"))],
    )
    journal_note = FieldMap(
        name="default office journal map",
        object="note",
        schema=OfficeJournalEntry,
        key_path="contact_id",
        rules=[_rule(computed["journal_body"], StandardField("body", "note"), required=True)],
    )
    provider_user = FieldMap(
        name="default provider user map",
        object="user",
        schema=Provider,
        key_path="provider_id",
        rules=[
            _rule("first_name", StandardField("firstName", "user"), Trim() | NameCase(), required=True),
            _rule("last_name", StandardField("lastName", "user"), Trim() | NameCase(), required=True),
            _rule("email", StandardField("email", "user"), Email(), required=True),
            _rule("work_phone", StandardField("phone", "user"), Phone()),
        ],
    )
    provider_contact = FieldMap(
        name="default provider-as-patient contact fields",
        schema=Provider,
        key_path="provider_id",
        rules=[
            _rule(
                "kind",
                PROVIDER_ROLE,
                Lookup({ProviderKind.DENTIST.value: "Dentist", ProviderKind.HYGIENIST.value: "Hygienist"}),
            ),
            _rule(computed["provider_source_id"], _field("Provider Source ID", DataType.TEXT, _ADMIN)),
        ],
    )
    return DefaultMaps(
        contact=contact,
        opportunity=opportunity,
        appointment=appointment,
        clinical_note=clinical_note,
        journal_note=journal_note,
        provider_user=provider_user,
        provider_contact=provider_contact,
        computed=computed,
    )
