"""Typed Dentrix records: what every source yields and what the mapping consumes.

The model
---------
One frozen, slotted attrs class per Dentrix object (SOURCE-NOTES §2), with snake_case field names that mean
what Dentrix means (the Dentrix column each comes from is named in the field comments), so a G export and an
Ascend organisation produce the *same* records:

* **ids are ``str``** — Dentrix ints (``patient_id``), provider codes (``DDS1``), operatory codes and chart
  numbers all keep their exact text, leading zeros included. A Dentrix ``0`` id ("none") becomes ``None``.
* **``None`` means unknown** (a blank cell, a missing optional column, an unmapped code). Empty strings are
  never used for "unknown" text.
* **dates** are ``datetime.date``; **datetimes** are naive ``datetime.datetime`` in the practice's local time,
  exactly as Dentrix stores them; the IANA zone travels on the bundle (``PatientBundle.practice_timezone``).
  An open end date (the ``9999-12-31`` sentinel) is ``None`` with the record's ``open_ended`` flag set.
* **money** is ``decimal.Decimal`` (two places as exported); counts and lengths are ``int`` with units in the
  name (``length_min``).
* **codes** Dentrix defines itself are enums (``PatientStatus``, ``Gender``...). Practice-defined codes
  (appointment statuses and types, payment/adjustment/billing types, recall types) keep their id *and* carry
  the description resolved through the practice's code table, because their meaning differs per practice.
* ``extra`` holds export columns the model does not know (practice-specific fields), as trimmed text, so the
  mapping proposer can still offer them. It is excluded from equality hashing only.

A :class:`PatientBundle` is one patient with everything related to them, plus what the mapping needs from
shared tables (providers, resolved codes, insurance plan rows, the guarantor's balance). Its
:meth:`PatientBundle.content_hash` is stable across runs and processes and drives delta pickup.

PHI: ``repr()`` of every record shows its class and identifiers only — never names, notes, dates (of birth
or of care), phones, e-mails or addresses — because reprs end up in logs and tracebacks.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, cast

import attrs

__all__ = [
    "Appointment",
    "AppointmentProcedure",
    "AppointmentStatusCode",
    "AppointmentStatusMeaning",
    "AppointmentType",
    "ClinicalNote",
    "CodeDefinition",
    "Coverage",
    "CoverageRank",
    "Document",
    "Employer",
    "FamilyPosition",
    "Gender",
    "GuarantorBalance",
    "ImagingLink",
    "InsurancePlan",
    "Insured",
    "JournalEntryKind",
    "LedgerEntryType",
    "LedgerTransaction",
    "MedicalAlert",
    "MedicalAlertKind",
    "OfficeJournalEntry",
    "Operatory",
    "Patient",
    "PatientBundle",
    "PatientInsurance",
    "PatientStatus",
    "PracticeInfo",
    "PrivacyFlag",
    "Procedure",
    "ProcedureCode",
    "ProcedureStatus",
    "Provider",
    "ProviderKind",
    "Recall",
    "RecallType",
    "ReferralActivity",
    "ReferralSource",
    "ReferredBy",
    "ReferrerKind",
    "Staff",
    "TreatmentCaseStatus",
    "TreatmentPlanCase",
]


# --------------------------------------------------------------------------------------------- enums


class PatientStatus(enum.StrEnum):
    """``v_patient.status``: 1 Patient, 2 Non-patient, 3 Inactive, 4 Archived (deceased or gone)."""

    PATIENT = "patient"
    NON_PATIENT = "non_patient"
    INACTIVE = "inactive"
    ARCHIVED = "archived"

    @classmethod
    def from_code(cls, code: int) -> PatientStatus | None:
        return _PATIENT_STATUS_BY_CODE.get(code)

    @property
    def code(self) -> int:
        return _PATIENT_STATUS_CODES[self]


_PATIENT_STATUS_BY_CODE = {
    1: PatientStatus.PATIENT,
    2: PatientStatus.NON_PATIENT,
    3: PatientStatus.INACTIVE,
    4: PatientStatus.ARCHIVED,
}
_PATIENT_STATUS_CODES = {v: k for k, v in _PATIENT_STATUS_BY_CODE.items()}


class Gender(enum.StrEnum):
    """``v_patient.gender``: 1 Male, 2 Female; anything else is unknown (``None``). Ascend adds ``O``."""

    MALE = "male"
    FEMALE = "female"
    OTHER = "other"

    @classmethod
    def from_code(cls, code: int) -> Gender | None:
        return {1: Gender.MALE, 2: Gender.FEMALE}.get(code)


class FamilyPosition(enum.StrEnum):
    """``patient.fampos``: 1 Single, 2 Married, 3 Child, 4 Other."""

    SINGLE = "single"
    MARRIED = "married"
    CHILD = "child"
    OTHER = "other"

    @classmethod
    def from_code(cls, code: int) -> FamilyPosition | None:
        return {
            1: FamilyPosition.SINGLE,
            2: FamilyPosition.MARRIED,
            3: FamilyPosition.CHILD,
            4: FamilyPosition.OTHER,
        }.get(code)


class PrivacyFlag(enum.IntFlag):
    """``v_patient.privacy_flags`` bitmask (bit meanings as integrators use them; bit 4 is unknown)."""

    NONE = 0
    NO_VOICE_CALLS = 1
    NO_CORRESPONDENCE = 2  # no SMS, no e-mail, no letters
    UNKNOWN_4 = 4


class ProviderKind(enum.StrEnum):
    """Primary providers are dentists; secondary providers (``issecondaryprovider = 1``) hygienists."""

    DENTIST = "dentist"
    HYGIENIST = "hygienist"


class AppointmentStatusMeaning(enum.StrEnum):
    """What a practice-defined appointment status means (``v_appt_status_codes`` *ext* ``meaning``)."""

    UNCONFIRMED = "unconfirmed"
    CONFIRMED = "confirmed"
    LEFT_MESSAGE = "left_message"
    ARRIVED = "arrived"
    SEATED = "seated"
    COMPLETE = "complete"
    BROKEN = "broken"
    OTHER = "other"


class CoverageRank(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"


class ProcedureStatus(enum.StrEnum):
    """Chart status of a procedure (``fullproclog`` *ext* ``status_text``; numeric codes are unpublished)."""

    TREATMENT_PLANNED = "treatment_planned"
    COMPLETED = "completed"
    EXISTING = "existing"
    EXISTING_OTHER = "existing_other"
    CONDITION = "condition"


class LedgerEntryType(enum.StrEnum):
    """Kind of a ledger row (``fullproclog`` *ext* ``ledger_type``)."""

    PROCEDURE = "procedure"
    PATIENT_PAYMENT = "patient_payment"
    INSURANCE_PAYMENT = "insurance_payment"
    CREDIT_ADJUSTMENT = "credit_adjustment"
    DEBIT_ADJUSTMENT = "debit_adjustment"
    BALANCE_FORWARD = "balance_forward"


class TreatmentCaseStatus(enum.StrEnum):
    """Treatment plan case statuses as the Dentrix UI names them (``txcase`` *ext* ``status_text``)."""

    CREATED = "created"
    PRINTED = "printed"
    PRE_AUTH_PRIMARY = "pre_auth_primary"
    PRE_AUTH_SECONDARY = "pre_auth_secondary"
    FOLLOW_UP_MADE = "follow_up_made"
    PREFERRED = "preferred"
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    COMPLETED = "completed"


class MedicalAlertKind(enum.StrEnum):
    """Health history item type (``hhitem.hhtype`` 1 problem, 3 medication, else allergy), or the older
    practice alert masks (G5/G6), or a free-text patient pop-up alert (``patalerts``)."""

    CONDITION = "condition"
    MEDICATION = "medication"
    ALLERGY = "allergy"
    MEDICAL_ALERT = "medical_alert"
    PATIENT_ALERT = "patient_alert"


class ReferrerKind(enum.StrEnum):
    """Who referred a patient: a referral source row (``referral``) or another patient."""

    REFERRAL_SOURCE = "referral_source"
    PATIENT = "patient"


class JournalEntryKind(enum.StrEnum):
    """Office Journal entry kind (``contact`` *ext* ``contact_kind``; ``contacttype`` codes unpublished)."""

    CALL = "call"
    LETTER = "letter"
    EMAIL = "email"
    TEXT = "text"
    APPOINTMENT = "appointment"
    OTHER = "other"


# ----------------------------------------------------------------------------------------- PHI-safe repr


class _Record:
    """Mixin: ``repr`` shows only the identifier fields named in ``_repr_fields``."""

    __slots__ = ()
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._repr_fields)
        return f"{type(self).__name__}({inner})"


def _extra() -> Any:
    return attrs.field(factory=dict, hash=False)


# ------------------------------------------------------------------------------------- shared tables


@attrs.frozen(kw_only=True, repr=False)
class PracticeInfo(_Record):
    """The practice (``v_practice_information`` + manifest)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("practice_id", "timezone")

    name: str | None = None
    practice_id: str | None = None  # manifest practice.id1 / rsc.id1
    timezone: str | None = None  # IANA zone, e.g. "America/Denver"
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    phone: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Provider(_Record):
    """``v_provider``: a dentist or hygienist, id like ``DDS1`` (immutable; inactivated, never deleted)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("provider_id", "kind", "inactive")

    provider_id: str
    last_name: str | None = None
    first_name: str | None = None
    middle_initial: str | None = None  # mi
    suffix: str | None = None
    title: str | None = None  # ext: DDS, DMD, RDH
    kind: ProviderKind = ProviderKind.DENTIST  # from issecondaryprovider
    specialty_id: str | None = None
    specialty_description: str | None = None  # resolved via v_referral_specialty
    npi: str | None = None
    email: str | None = None  # ext
    work_phone: str | None = None
    work_phone_ext: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None  # zip_code
    is_non_person: bool = False  # isnonperson
    inactive: bool = False
    modified_at: dt.datetime | None = None
    extra: Mapping[str, str] = _extra()


@attrs.frozen(kw_only=True, repr=False)
class Staff(_Record):
    """``v_staff``: a non-provider user of the practice."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("staff_id",)

    staff_id: str
    last_name: str | None = None
    first_name: str | None = None
    title: str | None = None
    inactive: bool = False
    extra: Mapping[str, str] = _extra()


@attrs.frozen(kw_only=True, repr=False)
class Operatory(_Record):
    """``v_operatory``: a chair/room, id a short code like ``OP-1`` (leading zeros kept)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("operatory_id",)

    operatory_id: str  # op_id
    title: str | None = None  # op_title


@attrs.frozen(kw_only=True, repr=False)
class AppointmentStatusCode(_Record):
    """``v_appt_status_codes``: one practice-defined appointment status."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("status_id", "meaning")

    status_id: str  # defid, e.g. "-106"
    description: str | None = None  # descript
    meaning: AppointmentStatusMeaning | None = None  # ext meaning


@attrs.frozen(kw_only=True, repr=False)
class AppointmentType(_Record):
    """``v_appointment_types``: one practice-defined appointment type (``0`` = <NONE> is not a row)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("type_id",)

    type_id: str  # def_id
    description: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class CodeDefinition(_Record):
    """A row of a simple practice definition table (``def_id``/``descript``): payment, adjustment and billing
    types, document types, referral specialties, G5/G6 medical alerts. ``table`` is the file stem."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("table", "def_id")

    table: str  # e.g. "v_payment_types"
    def_id: str
    description: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ProcedureCode(_Record):
    """``proccode``: the practice's procedure code catalogue (CDT ``adacode`` like ``D0120``)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("proc_code_id", "ada_code")

    proc_code_id: str
    ada_code: str | None = None
    abbrev_description: str | None = None
    description: str | None = None
    layman_description: str | None = None
    category: str | None = None
    treatment_area: str | None = None
    auto_recall_type_id: str | None = None  # autorecall
    appointment_type_id: str | None = None  # appttype


@attrs.frozen(kw_only=True, repr=False)
class Employer(_Record):
    """``v_employers``."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("employer_id",)

    employer_id: str
    name: str | None = None
    address_line1: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    phone: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class InsurancePlan(_Record):
    """``v_insurance_plans``: in Dentrix the carrier row *is* the group plan."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("plan_id",)

    plan_id: str  # ins_id
    carrier_name: str | None = None  # ins_co_name
    group_name: str | None = None
    group_number: str | None = None
    payor_id: str | None = None
    phone: str | None = None
    address_line1: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    max_coverage_person: Decimal | None = None  # max_cov_person
    max_coverage_family: Decimal | None = None  # max_cov_fam
    renew_month: int | None = None
    employer_id: str | None = None
    extra: Mapping[str, str] = _extra()


@attrs.frozen(kw_only=True, repr=False)
class Insured(_Record):
    """``v_insured``: one subscriber's coverage under a plan (the member id lives here)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("insured_id", "plan_id", "subscriber_id")

    insured_id: str
    plan_id: str | None = None  # ins_plan_id
    subscriber_id: str | None = None  # ins_party_id: the subscriber's patient_id
    member_id: str | None = None  # id_num
    member_id2: str | None = None  # idnum2
    insurance_type: int | None = None  # ins_type (0 dental, others medical [I])
    signature_on_file: bool | None = None
    family_benefits: Decimal | None = None


@attrs.frozen(kw_only=True, repr=False)
class ReferralSource(_Record):
    """``referral``: a referring provider/practice, or a non-person source ("Google")."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("referral_id", "is_non_person")

    referral_id: str  # refid
    referral_type: int | None = None  # reftype
    last_name: str | None = None  # lastname (the source name for non-persons)
    first_name: str | None = None
    middle_initial: str | None = None
    title: str | None = None
    specialty_id: str | None = None
    specialty_description: str | None = None
    email: str | None = None
    phone: str | None = None
    fax: str | None = None
    other_phone: str | None = None
    address_line1: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None
    is_non_person: bool = False  # nonpersonflag


@attrs.frozen(kw_only=True, repr=False)
class RecallType(_Record):
    """``recalltype``: a continuing-care type (``patient_id`` None = practice-level type)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("recall_type_id", "patient_id")

    recall_type_id: str  # recallid
    name: str | None = None
    description: str | None = None
    patient_id: str | None = None
    interval_months: int | None = None  # ext interval_months
    unit: int | None = None
    quantity: int | None = None  # qty
    provider_id: str | None = None


# ------------------------------------------------------------------------------------------- patient


@attrs.frozen(kw_only=True, repr=False)
class Patient(_Record):
    """``v_patient`` (+ the ``admin.patient`` extras): one Family File member.

    Family = all patients with the same ``guarantor_id``; a guarantor is itself a patient (often with status
    Non-patient) whose ``guarantor_id`` is its own id. Siblings share the guarantor's address and home phone.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("patient_id", "guarantor_id", "status")

    patient_id: str
    guarantor_id: str | None = None  # guar_id
    status: PatientStatus | None = None
    status_code: int | None = None  # the raw status, also when it is not one of the four
    patient_guid: str | None = None
    chart_number: str | None = None  # chart_num, leading zeros kept
    last_name: str | None = None
    first_name: str | None = None
    middle_initial: str | None = None  # mi
    preferred_name: str | None = None
    salutation: str | None = None
    title: str | None = None
    gender: Gender | None = None
    birth_date: dt.date | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = None  # leading zeros kept
    home_phone: str | None = None  # free text as typed
    work_phone: str | None = None
    work_ext: str | None = None
    mobile_phone: str | None = None  # base table: pager
    other_phone: str | None = None
    fax: str | None = None
    email: str | None = None
    primary_provider_id: str | None = None  # pri_provider_id
    secondary_provider_id: str | None = None  # sec_provider_id
    first_visit_date: dt.date | None = None
    last_visit_date: dt.date | None = None
    last_missed_appointment: dt.date | None = None
    missed_appointment_count: int | None = None  # num_of_missed_appointments
    note: str | None = None  # patient note
    privacy_flags: PrivacyFlag = PrivacyFlag.NONE
    employer_id: str | None = None
    primary_dental_insured_id: str | None = None  # primdentalinsuredid
    secondary_dental_insured_id: str | None = None  # secdentalinsuredid
    family_position: FamilyPosition | None = None  # fampos
    is_guarantor: bool | None = None  # isguar
    is_head_of_house: bool | None = None
    is_insurance_subscriber: bool | None = None  # isinssubcriber (sic)
    language_code: int | None = None  # language: no published mapping
    premedication: bool | None = None  # premed
    referred_by_id: str | None = None  # refbyid
    referred_by_kind: ReferrerKind | None = None  # ext refbytype
    referred_to_id: str | None = None  # reftoid
    referred_to_date: dt.date | None = None
    medical_alert_mask1: int | None = None
    medical_alert_mask2: int | None = None
    modified_at: dt.datetime | None = None  # automodifiedtimestamp
    extra: Mapping[str, str] = _extra()

    @property
    def is_own_guarantor(self) -> bool:
        return self.guarantor_id is None or self.guarantor_id == self.patient_id


@attrs.frozen(kw_only=True, repr=False)
class AppointmentProcedure(_Record):
    """One of an appointment's 20 procedure slots (``appt_procedures``)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("sequence", "code_type", "code_id")

    sequence: int  # seq 1..20
    code_type: int  # 1: code_id is fullproclog.procid; 0: proccode.proccodeid
    code_id: str
    ada_code: str | None = None
    tooth: str | None = None
    surfaces: str | None = None
    abbrev_description: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class Appointment(_Record):
    """``v_appointment``/``v_appt`` (+ ``appt``): one appointment, local time, codes resolved.

    ``patient_id`` is None for a new-patient appointment without a Family File record (``patient_id = 0``).
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("appointment_id", "patient_id")

    appointment_id: str
    patient_id: str | None = None
    start: dt.datetime | None = None  # appointment_date + start_hour:start_minute, practice-local, naive
    length_min: int | None = None  # length
    provider_id: str | None = None
    additional_provider_id: str | None = None  # addtnl_provider_id
    operatory_id: str | None = None
    operatory_title: str | None = None  # resolved via v_operatory
    status_id: str | None = None
    status_description: str | None = None  # resolved via v_appt_status_codes
    status_meaning: AppointmentStatusMeaning | None = None
    type_id: str | None = None  # appttype (None for 0 = <NONE>)
    type_description: str | None = None  # resolved via v_appointment_types
    reason: str | None = None
    note: str | None = None
    patient_name: str | None = None  # as typed on the appointment (new patients)
    amount: Decimal | None = None
    broken: bool = False
    broken_date: dt.date | None = None
    deleted: bool = False  # ext, from appthist.deletedflag
    on_unscheduled_list: bool = False  # ext
    created_date: dt.date | None = None  # create_date
    modified_at: dt.datetime | None = None  # modified_time_stamp
    procedures: tuple[AppointmentProcedure, ...] = ()
    extra: Mapping[str, str] = _extra()

    @property
    def end(self) -> dt.datetime | None:
        if self.start is None or self.length_min is None:
            return None
        return self.start + dt.timedelta(minutes=self.length_min)


@attrs.frozen(kw_only=True, repr=False)
class Coverage(_Record):
    """One of a patient's dental coverages: the subscriber's ``Insured`` row and its plan, ranked."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("rank", "insured")

    rank: CoverageRank
    insured: Insured
    plan: InsurancePlan | None = None
    relationship_code: int | None = None  # priminsrel / secinsrel (1 = self [I])
    subscriber: Patient | None = None  # the subscriber's record when it is another patient

    @property
    def subscriber_is_patient(self) -> bool:
        return self.subscriber is None


@attrs.frozen(kw_only=True, repr=False)
class PatientInsurance(_Record):
    """Primary and secondary dental coverage of a patient (either may be None)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("primary", "secondary")

    primary: Coverage | None = None
    secondary: Coverage | None = None


@attrs.frozen(kw_only=True, repr=False)
class Procedure(_Record):
    """A charted procedure (``fullproclog`` row of ledger type procedure) with its CDT code resolved."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("procedure_id", "patient_id", "ada_code", "status")

    procedure_id: str  # procid
    patient_id: str
    guarantor_id: str | None = None
    date: dt.date | None = None  # procdate
    proc_code_id: str | None = None
    ada_code: str | None = None  # CDT code, e.g. "D2391"
    description: str | None = None  # resolved from proccode (abbrev or full)
    tooth: str | None = None  # "14", "62", "AS", or a range "1-16"
    surfaces: str | None = None  # letters from M O D L F 5 in that order, e.g. "MOD"
    status: ProcedureStatus | None = None
    chart_status_code: int | None = None  # chartstatus (numeric meanings unpublished)
    proc_log_class: int | None = None  # proclogclass
    provider_id: str | None = None
    amount: Decimal | None = None  # amt
    tx_case_id: str | None = None
    claim_id: str | None = None
    created_date: dt.date | None = None
    completion_date: dt.date | None = None
    modified_at: dt.datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class LedgerTransaction(_Record):
    """A ledger row (``fullproclog``): a charge, payment, adjustment or balance forward.

    ``amount`` is as exported: charges and debit adjustments positive, payments and credits as the export
    gives them (Dentrix stores them positive with the class telling the direction [I])."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("transaction_id", "patient_id", "kind")

    transaction_id: str  # procid
    patient_id: str
    guarantor_id: str | None = None
    date: dt.date | None = None
    kind: LedgerEntryType = LedgerEntryType.PROCEDURE
    amount: Decimal | None = None
    type_id: str | None = None  # type_def_id → payment/adjustment type
    description: str | None = None  # resolved type or procedure description
    provider_id: str | None = None
    claim_id: str | None = None
    check_number: str | None = None  # checknum


@attrs.frozen(kw_only=True, repr=False)
class GuarantorBalance(_Record):
    """``v_guarantor_balance``: aging buckets per guarantor; the balance is their sum."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("guarantor_id",)

    guarantor_id: str
    balance_0_30: Decimal = Decimal("0.00")
    balance_31_60: Decimal = Decimal("0.00")
    balance_61_90: Decimal = Decimal("0.00")
    balance_91_plus: Decimal = Decimal("0.00")
    last_payment_date: dt.date | None = None
    last_payment_amount: Decimal | None = None
    billing_type_description: str | None = None

    @property
    def total(self) -> Decimal:
        return self.balance_0_30 + self.balance_31_60 + self.balance_61_90 + self.balance_91_plus


@attrs.frozen(kw_only=True, repr=False)
class ClinicalNote(_Record):
    """``v_clinical_notes``: a (possibly multi-kilobyte, possibly signed and locked) clinical note."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("note_id", "patient_id")

    note_id: str  # cnotes_id
    patient_id: str
    provider_id: str | None = None
    created_at: dt.datetime | None = None  # create_date_time_stamp
    entered_at: dt.datetime | None = None  # entry_date_time_stamp
    text: str | None = None  # note_text
    locked: bool = False
    modified_at: dt.datetime | None = None


@attrs.frozen(kw_only=True, repr=False)
class TreatmentPlanCase(_Record):
    """``txcase``: a treatment plan case with its procedures (``fullproclog.txcaseid``)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("case_id", "patient_id", "status")

    case_id: str  # txcaseid
    patient_id: str
    status: TreatmentCaseStatus | None = None
    status_code: int | None = None
    description: str | None = None  # descript
    created_date: dt.date | None = None
    priority: int | None = None
    is_default: bool | None = None
    finance_expiry_date: dt.date | None = None
    procedures: tuple[Procedure, ...] = ()

    @property
    def total_amount(self) -> Decimal:
        return sum((p.amount for p in self.procedures if p.amount is not None), Decimal("0.00"))


@attrs.frozen(kw_only=True, repr=False)
class Recall(_Record):
    """``recallpending``: one continuing-care item due for a patient, its type resolved."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("patient_id", "recall_type_id")

    patient_id: str
    recall_type_id: str
    type_name: str | None = None
    type_description: str | None = None
    interval_months: int | None = None
    due_date: dt.date | None = None
    set_date: dt.date | None = None
    prior_date: dt.date | None = None
    appointment_id: str | None = None  # scheduled appointment (0 = none → None)
    provider_id: str | None = None
    status: int | None = None


@attrs.frozen(kw_only=True, repr=False)
class Document(_Record):
    """``document`` + ``docattach``: Document Center metadata attached to a patient.

    ``url`` is set when the document is already hosted somewhere; ``file_path`` is relative to the export's
    ``documents/`` folder when the file travelled with it."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("document_id", "patient_id")

    document_id: str
    patient_id: str
    type_id: str | None = None
    type_description: str | None = None
    description: str | None = None
    created_date: dt.date | None = None
    pages: int | None = None
    locked_date: dt.date | None = None
    file_path: str | None = None
    mime_type: str | None = None
    sha256: str | None = None
    url: str | None = None  # ext


@attrs.frozen(kw_only=True, repr=False)
class ImagingLink(_Record):
    """``images`` (*ext*): an image held by an imaging bridge (DEXIS, Smart Image...)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("imaging_system", "image_id", "patient_id")

    patient_id: str
    imaging_system: str
    image_id: str
    image_date: dt.date | None = None
    modality: str | None = None  # BW, PA, FMX, PANO, CBCT, PHOTO
    tooth: str | None = None
    file_path: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class ReferredBy(_Record):
    """Who referred the patient: a referral source, or another patient (by id)."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("kind", "referrer_id")

    kind: ReferrerKind
    referrer_id: str
    source: ReferralSource | None = None  # when kind is REFERRAL_SOURCE and the row exists


@attrs.frozen(kw_only=True, repr=False)
class ReferralActivity(_Record):
    """``refacts``: one referral event in the patient's history."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("referral_id", "patient_id")

    referral_id: str
    patient_id: str
    date: dt.date | None = None  # refactdate
    activity_id: str | None = None  # refactsid
    activity_type: int | None = None  # refactstype
    referred_by_kind: ReferrerKind | None = None
    source: ReferralSource | None = None


@attrs.frozen(kw_only=True, repr=False)
class MedicalAlert(_Record):
    """A medical alert / health history item of a patient, whatever Dentrix version it came from."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("alert_id", "patient_id", "kind")

    alert_id: str  # hhlinkpat_item.linkid / v_practice_medical_alerts.def_id / patalerts.alertid
    patient_id: str
    kind: MedicalAlertKind
    description: str | None = None
    critical: bool = False
    status: int | None = None
    reported_date: dt.date | None = None
    start_date: dt.date | None = None
    end_date: dt.date | None = None  # None when unknown or open-ended
    open_ended: bool = False  # end date was the 9999-12-31 sentinel
    note: str | None = None


@attrs.frozen(kw_only=True, repr=False)
class OfficeJournalEntry(_Record):
    """``contact``: an Office Journal entry (call, letter, e-mail...) with its original timestamp."""

    _repr_fields: ClassVar[tuple[str, ...]] = ("contact_id", "patient_id", "kind")

    contact_id: str
    patient_id: str
    contacted_at: dt.datetime | None = None  # contactdate (+ contacttime when it carries the time)
    kind: JournalEntryKind = JournalEntryKind.OTHER
    contact_type_code: int | None = None  # contacttype
    provider_id: str | None = None
    title: str | None = None
    text: str | None = None  # ext notetext


# -------------------------------------------------------------------------------------------- bundle


@attrs.frozen(kw_only=True, repr=False)
class PatientBundle(_Record):
    """One patient and everything related to them: what the mapping consumes.

    Shared rows are resolved in: the patient's providers, their guarantor's record and balance (balances are
    per guarantor in Dentrix), insurance plan rows, referral sources, code descriptions on appointments and
    recalls. ``family_member_ids`` lists every patient id with the same guarantor (this one included), so
    families can be linked without loading them.
    """

    _repr_fields: ClassVar[tuple[str, ...]] = ("patient_id", "guarantor_id")

    patient: Patient
    practice_timezone: str  # IANA zone of the naive local datetimes
    guarantor: Patient | None = None  # None when the patient is their own guarantor (or it is missing)
    family_member_ids: tuple[str, ...] = ()
    primary_provider: Provider | None = None
    secondary_provider: Provider | None = None
    employer: Employer | None = None
    appointments: tuple[Appointment, ...] = ()
    insurance: PatientInsurance = attrs.field(factory=PatientInsurance)
    procedures: tuple[Procedure, ...] = ()
    clinical_notes: tuple[ClinicalNote, ...] = ()
    treatment_cases: tuple[TreatmentPlanCase, ...] = ()
    recalls: tuple[Recall, ...] = ()
    documents: tuple[Document, ...] = ()
    imaging: tuple[ImagingLink, ...] = ()
    ledger: tuple[LedgerTransaction, ...] = ()
    guarantor_balance: GuarantorBalance | None = None
    referred_by: ReferredBy | None = None
    referrals: tuple[ReferralActivity, ...] = ()
    medical_alerts: tuple[MedicalAlert, ...] = ()
    journal: tuple[OfficeJournalEntry, ...] = ()

    @property
    def patient_id(self) -> str:
        return self.patient.patient_id

    @property
    def guarantor_id(self) -> str | None:
        return self.patient.guarantor_id

    @property
    def modified_at(self) -> dt.datetime | None:
        """The newest change stamp among the patient's own records (None when the source has none)."""
        stamps = [self.patient.modified_at]
        stamps += [a.modified_at for a in self.appointments]
        stamps += [p.modified_at for p in self.procedures]
        stamps += [n.modified_at for n in self.clinical_notes]
        present = [s for s in stamps if s is not None]
        return max(present) if present else None

    def content_hash(self) -> str:
        """SHA-256 (hex) of a canonical serialisation: equal bundles hash equal in every run and process."""
        payload = json.dumps(_canonical(self), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


# Exact types that are their own canonical form (a subclass, say an enum of str, is not: it takes the
# long way below). Checked first: most values of a record tree are these.
_PLAIN_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None)})
# Per class: its attrs field names, or None for a class that is not an attrs class. Hashing a bundle visits
# hundreds of values; asking attrs about each one's class every time was most of the hashing's cost.
_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELD_NAMES[cls]
    except KeyError:
        names = tuple(f.name for f in attrs.fields(cast(Any, cls))) if attrs.has(cls) else None
        _FIELD_NAMES[cls] = names
        return names


def _canonical(value: object) -> object:
    """A JSON-able, order-stable form of a record tree (type-tagged where JSON would blur types)."""
    cls = type(value)
    if cls in _PLAIN_TYPES:
        return value
    names = _field_names(cls)
    if names is not None:
        out: dict[str, object] = {"@": cls.__name__}
        for name in names:
            field = getattr(value, name)
            # Plain leaves inline: a call per leaf was most of what is left.
            out[name] = field if type(field) in _PLAIN_TYPES else _canonical(field)
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$": str(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, tuple | list):
        return [v if type(v) in _PLAIN_TYPES else _canonical(v) for v in value]
    return value
