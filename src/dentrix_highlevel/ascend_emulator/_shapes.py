"""A synthetic practice (``synth``) as Ascend JSON objects (SOURCE-NOTES §8), one list per resource.

Ascend ids are 13-digit numbers: a synthetic id ``n`` becomes ``7000000000000 + n`` (:func:`ascend_id`);
objects Dentrix G keys differently (coverages, recalls, G5/G6 alert bits) get ids from their own ranges,
all exposed here so tests can compute what the adapter must read back. Times are UTC with milliseconds
and ``Z``, converted from the practice's local times. What Ascend has no place for (ledger rows, Office
Journal, imaging links, employer, deleted appointments) is not served.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dentrix_highlevel.records import (
    Appointment,
    Coverage,
    CoverageRank,
    Gender,
    MedicalAlert,
    MedicalAlertKind,
    Patient,
    PatientBundle,
    PatientStatus,
    ProcedureStatus,
    ProviderKind,
    ReferrerKind,
    TreatmentCaseStatus,
)
from dentrix_highlevel.synth import SyntheticPractice

__all__ = [
    "APPOINTMENT_STATUS",
    "BOOKING_TYPE",
    "LOCATION_ID",
    "PATIENT_STATUS",
    "alert_id",
    "ascend_id",
    "contact_method",
    "coverage_id",
    "operatory_id",
    "phone_entries",
    "practice_objects",
    "provider_id",
    "recall_id",
    "utc",
]

Json = dict[str, Any]
API = "https://prod.hs1api.com/ascend-gateway/api"
LOCATION_ID = "7000000000114"
_BASE = 7_000_000_000_000
_COVERAGE_BASE = 8_000_000_000_000
_ALERT_BASE = 8_100_000_000_000
_RECALL_BASE = 8_200_000_000_000

#: Synthetic appointment status ids → Ascend status (UI labels upper-cased; only the first two are seen).
APPOINTMENT_STATUS = {
    "-106": "COMPLETE",
    "150": "CHECKOUT",
    "1": "UNCONFIRMED",
    "2": "CONFIRMED",
    "3": "LEFT_MESSAGE",
    "4": "HERE",
    "5": "CHAIR",
    "6": "BROKEN",
    "7": "LATE",
}
#: Synthetic appointment type ids → Ascend ``bookingType``.
BOOKING_TYPE = {
    "1": "NEW_PATIENT",
    "2": "RECARE",
    "5": "RECARE",
    "3": "TREATMENT",
    "4": "TREATMENT",
    "6": "TREATMENT",
}
PATIENT_STATUS = {
    PatientStatus.PATIENT: "ACTIVE",
    PatientStatus.NON_PATIENT: "NON-PATIENT",
    PatientStatus.INACTIVE: "INACTIVE",
    PatientStatus.ARCHIVED: "ARCHIVED",
}
_GENDER = {Gender.MALE: "M", Gender.FEMALE: "F", Gender.OTHER: "O"}
_PROC_STATUS = {
    ProcedureStatus.TREATMENT_PLANNED: "TREATMENT_PLAN",
    ProcedureStatus.COMPLETED: "COMPLETED",
    ProcedureStatus.EXISTING: "EXISTING",
    ProcedureStatus.EXISTING_OTHER: "EXISTING_OTHER",
    ProcedureStatus.CONDITION: "CONDITION",
}
_RELATIONSHIP = {1: "SELF", 2: "SPOUSE", 4: "CHILD"}
_EXTENSION = re.compile(r"^(.*?)\s*x(\d+)\s*$", re.IGNORECASE)


def ascend_id(synthetic_id: str) -> str:
    """The Ascend id the emulator gives a synthetic numeric id."""
    return str(_BASE + int(synthetic_id))


def provider_id(index: int) -> str:
    return str(_BASE + 900_000 + index)


def operatory_id(index: int) -> str:
    return str(_BASE + 800_000 + index)


def coverage_id(patient_id: str, rank: CoverageRank) -> str:
    return str(_COVERAGE_BASE + int(patient_id) * 10 + (0 if rank is CoverageRank.PRIMARY else 1))


def recall_id(patient_id: str, recall_type_id: str) -> str:
    return str(_RECALL_BASE + int(patient_id) * 100 + int(recall_type_id))


def alert_id(alert: MedicalAlert) -> str:
    """G5/G6 alert-mask entries reuse the practice definition id per patient: give them their own range."""
    if alert.kind is MedicalAlertKind.MEDICAL_ALERT:
        return str(_ALERT_BASE + int(alert.patient_id) * 100 + int(alert.alert_id))
    return ascend_id(alert.alert_id)


def utc(local: dt.datetime, tz: ZoneInfo) -> str:
    """A naive practice-local time as Ascend's UTC form ``2025-07-01T15:00:00.000Z``."""
    instant = local.replace(tzinfo=tz).astimezone(dt.UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def _ref(kind: str, plural: str, ident: str | None) -> Json | None:
    if ident is None:
        return None
    return {"id": ident, "type": kind, "url": f"{API}/v1/{plural}/{ident}"}


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _date(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def phone_entries(patient: Patient) -> list[Json]:
    """Ascend ``phones[]``: digits only, an ``x123`` tail moved to ``extension`` (the work extension
    column fills a work number's extension when the number carries none)."""
    out: list[Json] = []
    for kind, text, ext in (
        ("HOME", patient.home_phone, None),
        ("WORK", patient.work_phone, patient.work_ext),
        ("MOBILE", patient.mobile_phone, None),
    ):
        if not text:
            continue
        match = _EXTENSION.match(text)
        main, embedded = (match.group(1), match.group(2)) if match else (text, None)
        number = "".join(ch for ch in main if ch.isdigit())
        if not number:
            continue
        out.append(
            {
                "id": f"{ascend_id(patient.patient_id)}-{kind.lower()}",
                "sequence": len(out) + 1,
                "phoneType": kind,
                "number": number,
                "extension": embedded or ext or "",
                "isPrimary": not out,
            }
        )
    return out


def contact_method(patient: Patient) -> str:
    if patient.mobile_phone:
        return "TEXT ME"
    return "EMAIL ME" if patient.email else "CALL ME"


def _patient(p: Patient, tz: ZoneInfo, providers: dict[str, str]) -> Json:
    obj: Json = {
        "type": "PatientV1",
        "id": ascend_id(p.patient_id),
        "lastModified": utc(p.modified_at, tz) if p.modified_at else None,
        "chartNumber": p.chart_number or "",
        "firstName": p.first_name or "",
        "middleInitial": p.middle_initial or "",
        "lastName": p.last_name or "",
        "preferredName": p.preferred_name or "",
        "nameSuffix": "",
        "title": p.title or "",
        "gender": _GENDER.get(p.gender) if p.gender else None,
        "dateOfBirth": _date(p.birth_date),
        "patientStatus": PATIENT_STATUS[p.status] if p.status else None,
        "contactMethod": contact_method(p),
        "languageType": "ENGLISH",
        "phones": phone_entries(p),
        "address1": p.address_line1 or "",
        "address2": p.address_line2 or "",
        "city": p.city or "",
        "state": p.state or "",
        "postalCode": p.zipcode or "",
        "firstVisitDate": _date(p.first_visit_date),
        "preferredDays": [],
        "preferredTimes": [],
        "preferredLocation": _ref("LocationV1", "locations", LOCATION_ID),
        "primaryProvider": _ref("ProviderV1", "providers", providers.get(p.primary_provider_id or "")),
        "primaryGuarantor": _ref(
            "PatientV1", "patients", ascend_id(p.guarantor_id) if p.guarantor_id else None
        ),
        "secondaryGuarantor": None,
        "primaryContact": None,
        "secondaryContact": None,
        "referredByPatient": None,
        "referredByReferral": None,
    }
    # Older payloads carry a single emailAddress; serve that shape for some patients so both are read.
    if p.email and int(p.patient_id) % 7 == 0:
        obj["emailAddress"] = p.email
    else:
        obj["emails"] = (
            [{"sequence": 1, "address": p.email, "emailType": "PERSONAL", "isPrimary": True}]
            if p.email
            else []
        )
    if p.referred_by_id is not None and p.referred_by_kind is ReferrerKind.PATIENT:
        obj["referredByPatient"] = _ref("PatientV1", "patients", ascend_id(p.referred_by_id))
    elif p.referred_by_id is not None:
        obj["referredByReferral"] = _ref("ReferralV1", "referrals", ascend_id(p.referred_by_id))
    return obj


class _Builder:
    def __init__(self, practice: SyntheticPractice) -> None:
        self.practice = practice
        self.tz = ZoneInfo(practice.config.timezone)
        self.providers = {p.provider_id: provider_id(i) for i, p in enumerate(practice.providers)}
        self.operatories = {o.operatory_id: operatory_id(i) for i, o in enumerate(practice.operatories)}
        self.code_by_ada = {c.ada_code: c.proc_code_id for c in practice.procedure_codes if c.ada_code}

    def provider_ref(self, provider: str | None) -> Json | None:
        return _ref("ProviderV1", "providers", self.providers.get(provider or ""))

    def appointment(self, a: Appointment) -> Json:
        tz = self.tz
        slots = []
        for slot in a.procedures:
            code_id = slot.code_id if slot.code_type == 0 else self.code_by_ada.get(slot.ada_code or "")
            if code_id is not None:
                slots.append(_ref("PracticeProcedureV1", "practiceprocedures", ascend_id(code_id)))
        start = a.start
        return {
            "type": "AppointmentV1",
            "id": ascend_id(a.appointment_id),
            "lastModified": utc(a.modified_at, tz) if a.modified_at else None,
            "start": utc(start, tz) if start else None,
            "end": utc(start + dt.timedelta(minutes=a.length_min or 0), tz) if start else None,
            "duration": a.length_min,
            "status": APPOINTMENT_STATUS.get(a.status_id or ""),
            "bookingType": BOOKING_TYPE.get(a.type_id or ""),
            "title": a.reason or "",
            "note": a.note or "",
            "other": "",
            "patient": _ref("PatientV1", "patients", ascend_id(a.patient_id) if a.patient_id else None),
            "provider": self.provider_ref(a.provider_id),
            "operatory": _ref("OperatoryV1", "operatories", self.operatories.get(a.operatory_id or "")),
            "location": _ref("LocationV1", "locations", LOCATION_ID),
            "practiceProcedures": slots,
            "visits": [],
        }

    def coverage(self, pid: str, c: Coverage) -> Json:
        insured = c.insured
        return {
            "type": "PatientInsuranceV1",
            "id": coverage_id(pid, c.rank),
            "patient": _ref("PatientV1", "patients", ascend_id(pid)),
            "rank": c.rank.name,
            "insuredId": ascend_id(insured.insured_id),
            "insurancePlan": _ref(
                "InsurancePlanV1", "insuranceplans", ascend_id(insured.plan_id) if insured.plan_id else None
            ),
            "subscriber": _ref(
                "PatientV1", "patients", ascend_id(insured.subscriber_id) if insured.subscriber_id else None
            ),
            "memberId": insured.member_id,
            "relationship": _RELATIONSHIP.get(c.relationship_code or 0, "OTHER"),
        }

    def bundle(self, b: PatientBundle, out: dict[str, list[Json]]) -> None:
        tz = self.tz
        pid = b.patient_id
        patient_ref = _ref("PatientV1", "patients", ascend_id(pid))
        out["patients"].append(_patient(b.patient, tz, self.providers))
        out["appointments"].extend(self.appointment(a) for a in b.appointments if not a.deleted)
        for p in b.procedures:
            teeth = [{"toothId": p.tooth, "surfaces": p.surfaces}] if p.tooth or p.surfaces else []
            out["patient_procedures"].append(
                {
                    "type": "PatientProcedureV1",
                    "id": ascend_id(p.procedure_id),
                    "lastModified": utc(p.modified_at, tz) if p.modified_at else None,
                    "status": _PROC_STATUS.get(p.status) if p.status else None,
                    "state": "ACTIVE",
                    "entryDate": _date(p.date),
                    "amount": _money(p.amount),
                    "practiceProcedure": _ref(
                        "PracticeProcedureV1",
                        "practiceprocedures",
                        ascend_id(p.proc_code_id) if p.proc_code_id else None,
                    ),
                    "procedureTeeth": teeth,
                    "patient": patient_ref,
                    "provider": self.provider_ref(p.provider_id),
                    "txCase": _ref("TxCaseV1", "txcases", ascend_id(p.tx_case_id) if p.tx_case_id else None),
                }
            )
        for case in b.treatment_cases:
            stamps = [p.modified_at for p in case.procedures if p.modified_at]
            out["tx_cases"].append(
                {
                    "type": "TxCaseV1",
                    "id": ascend_id(case.case_id),
                    "lastModified": utc(max(stamps), tz) if stamps else None,
                    "name": case.description,
                    "status": "NEW"
                    if case.status is TreatmentCaseStatus.CREATED
                    else (case.status.name if case.status else None),
                    "patient": patient_ref,
                    "user": None,
                    "showNote": False,
                    "showExpirationDate": False,
                    "createdDate": _date(case.created_date),
                }
            )
        for n in b.clinical_notes:
            out["clinical_notes"].append(
                {
                    "type": "ClinicalNoteV1",
                    "id": ascend_id(n.note_id),
                    "lastModified": utc(n.modified_at, tz) if n.modified_at else None,
                    "patient": patient_ref,
                    "provider": self.provider_ref(n.provider_id),
                    "dateCreated": utc(n.created_at, tz) if n.created_at else None,
                    "dateEntered": utc(n.entered_at, tz) if n.entered_at else None,
                    "text": n.text,
                    "locked": n.locked,
                }
            )
        for r in b.recalls:
            out["recalls"].append(
                {
                    "type": "RecareV1",
                    "id": recall_id(pid, r.recall_type_id),
                    "patient": patient_ref,
                    "recareType": {
                        "id": ascend_id(r.recall_type_id),
                        "name": r.type_name,
                        "description": r.type_description,
                        "intervalMonths": r.interval_months,
                    },
                    "dueDate": _date(r.due_date),
                    "priorDate": _date(r.prior_date),
                    "appointment": _ref(
                        "AppointmentV1",
                        "appointments",
                        ascend_id(r.appointment_id) if r.appointment_id else None,
                    ),
                    "provider": self.provider_ref(r.provider_id),
                }
            )
        for m in b.medical_alerts:
            out["medical_alerts"].append(
                {
                    "type": "MedicalAlertV1",
                    "id": alert_id(m),
                    "patient": patient_ref,
                    "alertType": m.kind.name,
                    "description": m.description,
                    "critical": m.critical,
                    "reportedDate": _date(m.reported_date),
                    "startDate": _date(m.start_date),
                    "endDate": "9999-12-31" if m.open_ended else _date(m.end_date),
                    "note": m.note,
                }
            )
        for d in b.documents:
            out["documents"].append(
                {
                    "type": "DocumentV1",
                    "id": ascend_id(d.document_id),
                    "patient": patient_ref,
                    "documentType": {"id": ascend_id(d.type_id), "name": d.type_description}
                    if d.type_id
                    else None,
                    "description": d.description,
                    "dateCreated": _date(d.created_date),
                    "pages": d.pages,
                    "mimeType": d.mime_type,
                    "url": d.url,
                }
            )
        for c in (b.insurance.primary, b.insurance.secondary):
            if c is not None:
                out["patient_insurance"].append(self.coverage(pid, c))

    def shared(self, out: dict[str, list[Json]]) -> None:
        pr = self.practice
        tz = self.tz
        location = _ref("LocationV1", "locations", LOCATION_ID)
        out["locations"].append({"type": "LocationV1", "id": LOCATION_ID, "name": pr.practice.name})
        for p in pr.providers:
            out["providers"].append(
                {
                    "type": "ProviderV1",
                    "id": self.providers[p.provider_id],
                    "lastModified": utc(p.modified_at, tz) if p.modified_at else None,
                    "firstName": p.first_name,
                    "lastName": p.last_name,
                    "shortName": p.provider_id,
                    "npi": p.npi or "",
                    "providerType": "HYGIENIST" if p.kind is ProviderKind.HYGIENIST else "DENTIST",
                    "active": not p.inactive,
                    "location": location,
                }
            )
        for o in pr.operatories:
            out["operatories"].append(
                {
                    "type": "OperatoryV1",
                    "id": self.operatories[o.operatory_id],
                    "name": o.title,
                    "shortName": o.operatory_id,
                    "location": location,
                }
            )
        for c in pr.procedure_codes:
            out["practice_procedures"].append(
                {
                    "type": "PracticeProcedureV1",
                    "id": ascend_id(c.proc_code_id),
                    "adaCode": c.ada_code,
                    "description": c.description,
                    "abbreviation": c.abbrev_description,
                }
            )
        for plan in pr.insurance_plans:
            out["insurance_plans"].append(
                {
                    "type": "InsurancePlanV1",
                    "id": ascend_id(plan.plan_id),
                    "carrierName": plan.carrier_name,
                    "groupName": plan.group_name,
                    "groupNumber": plan.group_number,
                    "payerId": plan.payor_id,
                    "phone": plan.phone,
                    "maxCoveragePerson": _money(plan.max_coverage_person),
                    "maxCoverageFamily": _money(plan.max_coverage_family),
                    "renewMonth": plan.renew_month,
                }
            )
        for r in pr.referral_sources:
            out["referral_sources"].append(
                {
                    "type": "ReferralV1",
                    "id": ascend_id(r.referral_id),
                    "lastName": r.last_name,
                    "firstName": r.first_name,
                    "title": r.title,
                    "nonPerson": r.is_non_person,
                    "email": r.email,
                    "phone": r.phone,
                }
            )


def practice_objects(practice: SyntheticPractice) -> tuple[dict[str, list[Json]], list[Json]]:
    """Every resource's objects (keyed like ``AscendResources`` attributes) and the aging report rows."""
    builder = _Builder(practice)
    out: dict[str, list[Json]] = {
        name: []
        for name in (
            "patients",
            "providers",
            "operatories",
            "locations",
            "appointments",
            "tx_cases",
            "patient_procedures",
            "practice_procedures",
            "insurance_plans",
            "patient_insurance",
            "recalls",
            "clinical_notes",
            "medical_alerts",
            "documents",
            "referral_sources",
        )
    }
    builder.shared(out)
    aging: dict[str, Json] = {}
    for bundle in _bundles(practice):
        builder.bundle(bundle, out)
        bal = bundle.guarantor_balance
        if bal is not None and bal.guarantor_id not in aging:
            aging[bal.guarantor_id] = {
                "guarantor": _ref("PatientV1", "patients", ascend_id(bal.guarantor_id)),
                "balance": float(bal.total),
                "current": float(bal.balance_0_30),
                "over30": float(bal.balance_31_60),
                "over60": float(bal.balance_61_90),
                "over90": float(bal.balance_91_plus),
            }
    out["appointments"].extend(builder.appointment(a) for a in practice.unattached_appointments())
    return out, list(aging.values())


def _bundles(practice: SyntheticPractice) -> Iterator[PatientBundle]:
    yield from practice.bundles()
