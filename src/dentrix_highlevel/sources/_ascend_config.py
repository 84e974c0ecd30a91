"""What the Ascend adapter reads, and how: resource paths, JSON field names, code spellings, retries.

The public facts about the Ascend API Exchange (SOURCE-NOTES §6) name some resources and fields and leave
others out. Everything here is therefore *configuration*: the defaults follow what integrators have seen
([R] in SOURCE-NOTES) and, where nothing was seen, are marked ``guessed=True`` so the availability report and
``docs/ascend.md`` can say so. A practice's real API spec is plugged in by replacing a resource or a map::

    AscendResources(clinical_notes=AscendResource(path="v1/notes", fields={"text": "body", ...}))

Field maps go from the record attribute (``records.py`` names) to a dotted JSON path in the resource's
objects (``patient.id`` reads ``{"patient": {"id": ...}}``). Only the attributes listed for a resource are
read; an attribute mapped to ``""`` is not read at all.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, TypeVar

import attrs

from dentrix_highlevel._backoff import check_backoff
from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.records import (
    AppointmentStatusMeaning,
    CoverageRank,
    Gender,
    MedicalAlertKind,
    PatientStatus,
    ProcedureStatus,
    ProviderKind,
    TreatmentCaseStatus,
)

__all__ = [
    "AscendCodes",
    "AscendResource",
    "AscendResources",
    "AscendRetry",
    "Pagination",
]

Pagination = Literal["keyset", "page"]
_E = TypeVar("_E", bound=enum.Enum)


def _frozen_map(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class AscendResource:
    """One list endpoint: its ``path`` under the API base URL, the field map, and how it pages.

    ``optional`` resources that answer 403/404 become one source issue instead of failing the read (the
    vendor may not be enabled for them, or the guessed name is wrong for this API version).
    """

    path: str
    fields: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    pagination: Pagination | None = None  # None: the source's default
    guessed: bool = False
    optional: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.path or self.path.startswith("/") or "?" in self.path:
            raise ConfigurationError("AscendResource.path is relative to base_url, e.g. 'v1/patients'")

    def field(self, attribute: str) -> str:
        """The JSON path for a record attribute (``""`` when the resource does not carry it)."""
        return self.fields.get(attribute, "")

    def with_fields(self, **overrides: str) -> AscendResource:
        """This resource with some field paths replaced (``""`` drops a field)."""
        return attrs.evolve(self, fields={**self.fields, **overrides})


def _fields(*spec: str) -> dict[str, str]:
    """A field map from ``attribute=json.path`` words, in order (a table keeps each resource to its facts)."""
    return dict(word.split("=", 1) for word in " ".join(spec).split())


def _guessed(path: str, *fields: str) -> AscendResource:
    return AscendResource(path=path, guessed=True, optional=True, fields=_fields(*fields))


_PATIENTS = AscendResource(
    path="v1/patients",
    fields=_fields(
        "patient_id=id modified_at=lastModified chart_number=chartNumber first_name=firstName",
        "middle_initial=middleInitial last_name=lastName preferred_name=preferredName title=title",
        "suffix=nameSuffix gender=gender birth_date=dateOfBirth status=patientStatus emails=emails",
        "legacy_email=emailAddress phones=phones address_line1=address1 address_line2=address2 city=city",
        "state=state zipcode=postalCode first_visit_date=firstVisitDate",
        "primary_provider_id=primaryProvider.id guarantor_id=primaryGuarantor.id",
        "referred_by_patient=referredByPatient.id",
        "referred_by_referral=referredByReferral.id contact_method=contactMethod language=languageType",
    ),
)
_PROVIDERS = AscendResource(
    path="v1/providers",
    # Only id and lastModified were seen in payloads [I]: the rest follows the UI's names.
    fields=_fields(
        "id=id modified_at=lastModified short_name=shortName first_name=firstName last_name=lastName npi=npi",
        "kind=providerType active=active",
    ),
)
_OPERATORIES = AscendResource(path="v1/operatories", fields=_fields("id=id short_name=shortName title=name"))
_LOCATIONS = AscendResource(path="v1/locations", fields=_fields("id=id name=name"))
_APPOINTMENTS = AscendResource(
    path="v1/appointments",
    fields=_fields(
        "appointment_id=id modified_at=lastModified patient_id=patient.id start=start length_min=duration",
        "provider_id=provider.id operatory_id=operatory.id status=status type=bookingType reason=title",
        "note=note procedures=practiceProcedures",
    ),
)
_TX_CASES = AscendResource(
    path="v1/txcases",
    fields=_fields(
        "case_id=id patient_id=patient.id status=status description=name",
        "created_date=createdDate",  # [I] not seen
    ),
)
_PATIENT_PROCEDURES = AscendResource(
    path="v0/patientprocedures",
    pagination="page",
    fields=_fields(
        "procedure_id=id modified_at=lastModified patient_id=patient.id date=entryDate",
        "proc_code_id=practiceProcedure.id teeth=procedureTeeth status=status state=state",
        "provider_id=provider.id",  # [I]
        "amount=amount",
        "tx_case_id=txCase.id",  # [I] txCase.id is a seen filter field
    ),
)
_PRACTICE_PROCEDURES = AscendResource(
    path="v0/practiceprocedures",
    pagination="page",
    fields=_fields("id=id ada_code=adaCode description=description abbrev_description=abbreviation"),
)
_AGING_REPORT = AscendResource(
    path="v1/agingbalances/report",
    pagination="page",
    # Bucket names were not seen [I].
    fields=_fields(
        "reports=patientReports guarantor_id=guarantor.id balance_0_30=current balance_31_60=over30",
        "balance_61_90=over60 balance_91_plus=over90",
    ),
)
# ---- resources whose names and shapes were not seen anywhere: all guesses, all optional ----------------
_INSURANCE_PLANS = _guessed(
    "v1/insuranceplans",
    "plan_id=id carrier_name=carrierName group_name=groupName group_number=groupNumber payor_id=payerId",
    "phone=phone max_coverage_person=maxCoveragePerson max_coverage_family=maxCoverageFamily",
    "renew_month=renewMonth",
)
_PATIENT_INSURANCE = _guessed(
    "v1/patientinsurance",
    "id=id patient_id=patient.id rank=rank insured_id=insuredId plan_id=insurancePlan.id",
    "subscriber_id=subscriber.id member_id=memberId relationship=relationship",
)
_RECALLS = _guessed(
    "v1/recares",
    "id=id patient_id=patient.id recall_type_id=recareType.id type_name=recareType.name",
    "type_description=recareType.description interval_months=recareType.intervalMonths due_date=dueDate",
    "prior_date=priorDate appointment_id=appointment.id provider_id=provider.id",
)
_CLINICAL_NOTES = _guessed(
    "v1/clinicalnotes",
    "note_id=id modified_at=lastModified patient_id=patient.id provider_id=provider.id",
    "created_at=dateCreated entered_at=dateEntered text=text locked=locked",
)
_MEDICAL_ALERTS = _guessed(
    "v1/medicalalerts",
    "alert_id=id patient_id=patient.id kind=alertType description=description critical=critical",
    "reported_date=reportedDate start_date=startDate end_date=endDate note=note",
)
_DOCUMENTS = _guessed(
    "v1/documents",
    "document_id=id patient_id=patient.id type_id=documentType.id type_description=documentType.name",
    "description=description created_date=dateCreated pages=pages mime_type=mimeType url=url",
)
_REFERRAL_SOURCES = _guessed(
    "v1/referrals",
    "referral_id=id last_name=lastName first_name=firstName title=title is_non_person=nonPerson email=email",
    "phone=phone",
)


@attrs.frozen(kw_only=True)
class AscendResources:
    """Every resource the adapter reads. Set a guessed one to ``None`` to leave it out entirely."""

    patients: AscendResource = _PATIENTS
    providers: AscendResource = _PROVIDERS
    operatories: AscendResource = _OPERATORIES
    locations: AscendResource = _LOCATIONS
    appointments: AscendResource = _APPOINTMENTS
    tx_cases: AscendResource = _TX_CASES
    patient_procedures: AscendResource = _PATIENT_PROCEDURES
    practice_procedures: AscendResource = _PRACTICE_PROCEDURES
    aging_report: AscendResource | None = _AGING_REPORT
    insurance_plans: AscendResource | None = _INSURANCE_PLANS
    patient_insurance: AscendResource | None = _PATIENT_INSURANCE
    recalls: AscendResource | None = _RECALLS
    clinical_notes: AscendResource | None = _CLINICAL_NOTES
    medical_alerts: AscendResource | None = _MEDICAL_ALERTS
    documents: AscendResource | None = _DOCUMENTS
    referral_sources: AscendResource | None = _REFERRAL_SOURCES

    def guessed(self) -> dict[str, str]:
        """Resource attribute → path of every enabled resource whose name and shape are guesses."""
        out: dict[str, str] = {}
        for field in attrs.fields(AscendResources):
            resource = getattr(self, field.name)
            if resource is not None and resource.guessed:
                out[field.name] = resource.path
        return out


def _enum_map(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType({str(k).upper(): v for k, v in value.items()})


def _spelled(kind: type[_E], spec: str) -> Mapping[str, _E]:
    """``ASCEND=MEMBER`` words (a bare word is a member of that name) as an Ascend value → member map.

    Read-only: the maps are the fields' shared defaults."""
    out: dict[str, _E] = {}
    for word in spec.split():
        value, _, member = word.partition("=")
        out[value] = kind[member or value]
    return MappingProxyType(out)


# [I]: ARCHIVED; DUPLICATE (a duplicate points at the original record).
_PATIENT_STATUS = _spelled(
    PatientStatus, "NEW=PATIENT ACTIVE=PATIENT INACTIVE NON-PATIENT=NON_PATIENT ARCHIVED DUPLICATE=INACTIVE"
)
_GENDER = _spelled(Gender, "M=MALE F=FEMALE O=OTHER")
_APPOINTMENT_STATUS = _spelled(
    AppointmentStatusMeaning,
    "UNCONFIRMED CONFIRMED LEFT_MESSAGE HERE=ARRIVED READY=ARRIVED CHAIR=SEATED CHECKOUT=COMPLETE COMPLETE"
    " BROKEN NO_SHOW=BROKEN LATE=OTHER",
)
_PROCEDURE_STATUS = _spelled(
    ProcedureStatus, "TREATMENT_PLAN=TREATMENT_PLANNED COMPLETED EXISTING EXISTING_OTHER CONDITION"
)
_TX_CASE_STATUS = MappingProxyType(
    {
        "NEW": TreatmentCaseStatus.CREATED,
        **{s.name: s for s in TreatmentCaseStatus if s is not TreatmentCaseStatus.CREATED},
    }
)
_PROVIDER_KIND = _spelled(ProviderKind, "DENTIST HYGIENIST")
_ALERT_KIND = MappingProxyType({k.name: k for k in MedicalAlertKind})
_COVERAGE_RANK = _spelled(CoverageRank, "PRIMARY SECONDARY")
# Dentrix relationship codes (priminsrel): 1 = self is the only one seen [I].
_RELATIONSHIP = MappingProxyType({"SELF": 1, "SPOUSE": 2, "CHILD": 4, "OTHER": 5})


@attrs.frozen(kw_only=True)
class AscendCodes:
    """How Ascend spells its codes, keyed by the Ascend value (compared upper-case).

    Only ``UNCONFIRMED``/``CONFIRMED`` (appointments), ``NEW`` (tx cases), ``TREATMENT_PLAN`` (procedures),
    the four patient statuses and ``M``/``F``/``O`` were seen [R]; the other spellings follow the UI labels
    and are guesses [I]. A value not in a map leaves the record's field unknown and becomes a ``bad_code``
    issue.
    """

    patient_status: Mapping[str, PatientStatus] = attrs.field(converter=_enum_map, default=_PATIENT_STATUS)
    gender: Mapping[str, Gender] = attrs.field(converter=_enum_map, default=_GENDER)
    appointment_status: Mapping[str, AppointmentStatusMeaning] = attrs.field(
        converter=_enum_map, default=_APPOINTMENT_STATUS
    )
    procedure_status: Mapping[str, ProcedureStatus] = attrs.field(
        converter=_enum_map, default=_PROCEDURE_STATUS
    )
    tx_case_status: Mapping[str, TreatmentCaseStatus] = attrs.field(
        converter=_enum_map, default=_TX_CASE_STATUS
    )
    provider_kind: Mapping[str, ProviderKind] = attrs.field(converter=_enum_map, default=_PROVIDER_KIND)
    medical_alert_kind: Mapping[str, MedicalAlertKind] = attrs.field(converter=_enum_map, default=_ALERT_KIND)
    coverage_rank: Mapping[str, CoverageRank] = attrs.field(converter=_enum_map, default=_COVERAGE_RANK)
    relationship: Mapping[str, int] = attrs.field(converter=_enum_map, default=_RELATIONSHIP)
    #: Procedure ``state`` values that mean the row is gone (it is skipped, not an issue).
    deleted_states: frozenset[str] = frozenset({"DELETED", "INACTIVE"})


@attrs.frozen(kw_only=True)
class AscendRetry:
    """Bounded retries: 429 (waiting ``Retry-After`` when given) and, for GETs, 5xx and transport errors.

    ``max_attempts`` counts the first try. Without ``Retry-After`` the wait is capped exponential backoff
    with full jitter (``seed`` fixes the jitter in tests); a ``Retry-After`` beyond ``max_wait_s`` is not
    waited out: the request fails with ``AscendError`` at once.
    """

    max_attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0
    max_wait_s: float = 300.0
    seed: int | None = None

    def __attrs_post_init__(self) -> None:
        check_backoff("AscendRetry", self.max_attempts, self.base_delay_s, self.max_delay_s)
