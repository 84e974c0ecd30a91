"""Ascend JSON objects → the typed records of :mod:`dentrix_highlevel.records`.

Every field goes through the resource's field map (:class:`AscendResource`), so renamed fields in a
practice's API version need configuration, not code. A value of the wrong shape leaves the field unknown
(``None``) and becomes a :class:`SourceIssue` naming the resource, field and record id — never the value.

Times: Ascend sends UTC instants (``2025-07-01T15:00:00.000Z``); records hold naive practice-local times,
like the G export, so instants are converted with :mod:`zoneinfo` and the zone travels on the bundle.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import attrs

from dentrix_highlevel import records as rec
from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.sources._ascend_config import AscendCodes, AscendResource, AscendResources
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue

__all__ = ["Converter", "Reader", "json_path"]

Json = dict[str, Any]
E = TypeVar("E", bound=enum.Enum)
_CENT = Decimal("0.01")
_OPEN = dt.date(9999, 12, 31)


def json_path(obj: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``None`` when any step is missing or null."""
    if "." not in path:  # the common case, kept cheap: this runs for every field of every object
        return obj.get(path) if type(obj) is dict else (obj.get(path) if isinstance(obj, Mapping) else None)
    value: Any = obj
    for part in path.split("."):
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(part)
        if value is None:
            return None
    return value


def _record_key(obj: Mapping[str, Any]) -> str | None:
    raw_id = obj.get("id")
    return str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None


@attrs.define(eq=False)
class Reader:
    """Typed reads of one Ascend object through a resource's field map; bad values become issues."""

    obj: Mapping[str, Any]
    resource: AscendResource
    name: str
    tz: ZoneInfo
    issues: list[SourceIssue]
    key: str | None = attrs.field(
        init=False, default=attrs.Factory(lambda self: _record_key(self.obj), takes_self=True)
    )

    def raw(self, attribute: str) -> Any:
        path = self.resource.field(attribute)
        return json_path(self.obj, path) if path else None

    def issue(self, attribute: str, code: IssueCode, message: str) -> None:
        self.issues.append(
            SourceIssue(
                file=self.name,
                line=None,
                column=self.resource.field(attribute) or attribute,
                code=code,
                message=message,
                record_key=self.key,
            )
        )

    def text(self, attribute: str) -> str | None:
        value = self.raw(attribute)
        if value is None:
            return None
        if type(value) is str:
            return value.strip() or None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.issue(attribute, IssueCode.BAD_VALUE, "expected text")
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        text = str(value).strip()
        return text or None

    ident = text  # ids arrive as strings in some payloads and numbers in others

    def texts(self, *attributes: str) -> dict[str, Any]:
        """``text`` of each attribute, in order, keyed by it, for record fields named like the attribute.

        The values are ``str | None``; ``Any`` only because mypy checks a ``**`` mapping against every
        remaining parameter of the record, not just the ones it names."""
        return {attribute: self.text(attribute) for attribute in attributes}

    def integer(self, attribute: str) -> int | None:
        value = self.raw(attribute)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value.strip()):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
        self.issue(attribute, IssueCode.BAD_NUMBER, "expected an integer")
        return None

    def money(self, attribute: str) -> Decimal | None:
        value = self.raw(attribute)
        if value is None or value == "":
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.issue(attribute, IssueCode.BAD_NUMBER, "expected a number")
            return None
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            self.issue(attribute, IssueCode.BAD_NUMBER, "expected a number")
            return None
        return amount.quantize(_CENT)

    def flag(self, attribute: str) -> bool | None:
        value = self.raw(attribute)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        self.issue(attribute, IssueCode.BAD_BOOLEAN, "expected true or false")
        return None

    def instant(self, attribute: str) -> dt.datetime | None:
        """A UTC instant as a naive practice-local datetime (a zone-less value is taken as UTC)."""
        value = self.raw(attribute)
        if value is None or value == "":
            return None
        parsed = _parse_datetime(value)
        if parsed is None:
            self.issue(attribute, IssueCode.BAD_DATE, "expected an ISO-8601 date-time")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(self.tz).replace(tzinfo=None)

    def date(self, attribute: str) -> dt.date | None:
        """A calendar date; an instant is read as the practice-local date it falls on."""
        value = self.raw(attribute)
        if value is None or value == "":
            return None
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        else:
            parsed = _parse_datetime(value)
            if parsed is not None:
                if parsed.tzinfo is None:
                    return parsed.date()
                return parsed.astimezone(self.tz).date()
        self.issue(attribute, IssueCode.BAD_DATE, "expected an ISO-8601 date")
        return None

    def code(self, attribute: str, table: Mapping[str, E]) -> tuple[str | None, E | None]:
        """The raw code (upper-cased) and its meaning from ``table``; an unknown code is an issue."""
        raw = self.text(attribute)
        if raw is None:
            return None, None
        upper = raw.upper()
        meaning = table.get(upper)
        if meaning is None:
            self.issue(attribute, IssueCode.BAD_CODE, "code not in the configured map")
        return upper, meaning

    def objects(self, attribute: str) -> list[Mapping[str, Any]]:
        value = self.raw(attribute)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.issue(attribute, IssueCode.BAD_VALUE, "expected an array of objects")
            return []
        return value


def _parse_datetime(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _label(code: str | None) -> str | None:
    """``LEFT_MESSAGE`` → ``Left Message``: the description Ascend's UI shows for an enum value."""
    if code is None:
        return None
    return " ".join(word.capitalize() for word in re.split(r"[_\s]+", code) if word) or None


@attrs.define(kw_only=True, eq=False)
class Converter:
    """Builds records from Ascend objects, resolving references through the shared tables it holds."""

    r: AscendResources = attrs.field(alias="resources")
    codes: AscendCodes
    tz: ZoneInfo
    issues: list[SourceIssue]
    provider_key: str
    providers: dict[str, rec.Provider] = attrs.field(init=False, factory=dict)  # by Ascend id
    operatories: dict[str, rec.Operatory] = attrs.field(init=False, factory=dict)  # by Ascend id
    # by Ascend id (= proc_code_id)
    procedure_codes: dict[str, rec.ProcedureCode] = attrs.field(init=False, factory=dict)
    plans: dict[str, rec.InsurancePlan] = attrs.field(init=False, factory=dict)
    referral_sources: dict[str, rec.ReferralSource] = attrs.field(init=False, factory=dict)

    def _reader(self, obj: Mapping[str, Any], attr: str) -> Reader:
        resource: AscendResource | None = getattr(self.r, attr)
        if resource is None:
            raise ConfigurationError(f"the {attr} resource is disabled")
        return Reader(obj, resource, resource.path, self.tz, self.issues)

    def _with_id(self, obj: Json, attr: str, id_attribute: str, what: str) -> tuple[Reader, str] | None:
        """The reader and the record's id; ``None`` (and an issue) when the id is missing."""
        rd = self._reader(obj, attr)
        record_id = rd.ident(id_attribute)
        if record_id is None:
            rd.issue(id_attribute, IssueCode.MISSING_VALUE, f"{what} without id; skipped")
            return None
        return rd, record_id

    def _with_patient(
        self, obj: Json, attr: str, id_attribute: str, what: str
    ) -> tuple[Reader, str, str] | None:
        """The reader, the record's id and its patient's id; ``None`` (and an issue) when one is missing."""
        rd = self._reader(obj, attr)
        record_id, patient_id = rd.ident(id_attribute), rd.ident("patient_id")
        if record_id is None or patient_id is None:
            rd.issue(id_attribute, IssueCode.MISSING_VALUE, f"{what} without id or patient; skipped")
            return None
        return rd, record_id, patient_id

    def _provider_id(self, reader: Reader, attribute: str) -> str | None:
        ascend_id = reader.ident(attribute)
        if ascend_id is None:
            return None
        provider = self.providers.get(ascend_id)
        if provider is None:
            reader.issue(
                attribute, IssueCode.DANGLING_REFERENCE, f"provider {ascend_id} is not in the providers list"
            )
            return ascend_id
        return provider.provider_id

    # ---- shared tables ------------------------------------------------------------------------------------

    def provider(self, obj: Json) -> tuple[str, rec.Provider] | None:
        found = self._with_id(obj, "providers", "id", "provider")
        if found is None:
            return None
        rd, ascend_id = found
        short = rd.text("short_name")
        key = short if self.provider_key == "short_name" and short else ascend_id
        _, kind = rd.code("kind", self.codes.provider_kind)
        active = rd.flag("active")
        provider = rec.Provider(
            provider_id=key,
            **rd.texts("last_name", "first_name", "npi"),
            kind=kind or rec.ProviderKind.DENTIST,
            inactive=active is False,
            modified_at=rd.instant("modified_at"),
            extra={"ascend_id": ascend_id} | ({"short_name": short} if short else {}),
        )
        return ascend_id, provider

    def operatory(self, obj: Json) -> tuple[str, rec.Operatory] | None:
        found = self._with_id(obj, "operatories", "id", "operatory")
        if found is None:
            return None
        rd, ascend_id = found
        short = rd.text("short_name")
        key = short if self.provider_key == "short_name" and short else ascend_id
        return ascend_id, rec.Operatory(operatory_id=key, title=rd.text("title"))

    def location(self, obj: Json, timezone: str) -> rec.PracticeInfo:
        rd = self._reader(obj, "locations")
        return rec.PracticeInfo(practice_id=rd.ident("id"), name=rd.text("name"), timezone=timezone)

    def procedure_code(self, obj: Json) -> rec.ProcedureCode | None:
        found = self._with_id(obj, "practice_procedures", "id", "practice procedure")
        if found is None:
            return None
        rd, ascend_id = found
        return rec.ProcedureCode(
            proc_code_id=ascend_id, **rd.texts("ada_code", "abbrev_description", "description")
        )

    def insurance_plan(self, obj: Json) -> rec.InsurancePlan | None:
        found = self._with_id(obj, "insurance_plans", "plan_id", "insurance plan")
        if found is None:
            return None
        rd, plan_id = found
        return rec.InsurancePlan(
            plan_id=plan_id,
            **rd.texts("carrier_name", "group_name", "group_number", "payor_id", "phone"),
            max_coverage_person=rd.money("max_coverage_person"),
            max_coverage_family=rd.money("max_coverage_family"),
            renew_month=rd.integer("renew_month"),
        )

    def referral_source(self, obj: Json) -> rec.ReferralSource | None:
        found = self._with_id(obj, "referral_sources", "referral_id", "referral source")
        if found is None:
            return None
        rd, ref_id = found
        return rec.ReferralSource(
            referral_id=ref_id,
            **rd.texts("last_name", "first_name", "title"),
            is_non_person=bool(rd.flag("is_non_person")),
            **rd.texts("email", "phone"),
        )

    # ---- patients -----------------------------------------------------------------------------------------

    def patient(self, obj: Json) -> rec.Patient | None:
        found = self._with_id(obj, "patients", "patient_id", "patient")
        if found is None:
            return None
        rd, pid = found
        _, status = rd.code("status", self.codes.patient_status)
        _, gender = rd.code("gender", self.codes.gender)
        phones = self._phones(rd)
        referred_patient = rd.ident("referred_by_patient")
        referred_source = rd.ident("referred_by_referral")
        referred_by_id, referred_by_kind = None, None
        if referred_source is not None:
            referred_by_id, referred_by_kind = referred_source, rec.ReferrerKind.REFERRAL_SOURCE
        elif referred_patient is not None:
            referred_by_id, referred_by_kind = referred_patient, rec.ReferrerKind.PATIENT
        extra = {
            key: value
            for key, value in (
                ("contact_method", rd.text("contact_method")),
                ("language", rd.text("language")),
                ("name_suffix", rd.text("suffix")),
            )
            if value is not None
        }
        return rec.Patient(
            patient_id=pid,
            guarantor_id=rd.ident("guarantor_id"),
            status=status,
            status_code=status.code if status is not None else None,
            **rd.texts(
                "chart_number", "last_name", "first_name", "middle_initial", "preferred_name", "title"
            ),
            gender=gender,
            birth_date=rd.date("birth_date"),
            **rd.texts("address_line1", "address_line2", "city", "state", "zipcode"),
            home_phone=phones.get("HOME"),
            work_phone=phones.get("WORK"),
            work_ext=phones.get("WORK_EXT"),
            mobile_phone=phones.get("MOBILE"),
            other_phone=phones.get("OTHER"),
            email=self._email(rd),
            primary_provider_id=self._provider_id(rd, "primary_provider_id"),
            first_visit_date=rd.date("first_visit_date"),
            referred_by_id=referred_by_id,
            referred_by_kind=referred_by_kind,
            modified_at=rd.instant("modified_at"),
            extra=extra,
        )

    @staticmethod
    def _phones(rd: Reader) -> dict[str, str]:
        """``phones[]`` by type (the first of each type wins). A work extension goes to ``work_ext``; other
        extensions stay on the number as `` x123`` (the records have no field for them)."""
        out: dict[str, str] = {}
        for phone in rd.objects("phones"):
            kind = str(phone.get("phoneType") or "OTHER").upper()
            kind = kind if kind in ("HOME", "WORK", "MOBILE") else "OTHER"
            number = phone.get("number")
            if kind in out or not isinstance(number, str | int) or isinstance(number, bool):
                continue
            text = str(number).strip()
            ext_raw = phone.get("extension")
            ext = (
                str(ext_raw).strip()
                if isinstance(ext_raw, str | int) and not isinstance(ext_raw, bool)
                else ""
            )
            if not text:
                continue
            if kind == "WORK":
                out["WORK"] = text
                if ext:
                    out["WORK_EXT"] = ext
            else:
                out[kind] = f"{text} x{ext}" if ext else text
        return out

    @staticmethod
    def _email(rd: Reader) -> str | None:
        emails = rd.objects("emails")
        ranked = sorted(emails, key=lambda e: (e.get("isPrimary") is not True, e.get("sequence") or 0))
        for entry in ranked:
            address = entry.get("address")
            if isinstance(address, str) and address.strip():
                return address.strip()
        return rd.text("legacy_email")

    # ---- per-patient records ------------------------------------------------------------------------------

    def appointment(self, obj: Json) -> rec.Appointment | None:
        found = self._with_id(obj, "appointments", "appointment_id", "appointment")
        if found is None:
            return None
        rd, appt_id = found
        status, meaning = rd.code("status", self.codes.appointment_status)
        booking = rd.text("type")
        operatory = None
        op_id = rd.ident("operatory_id")
        if op_id is not None:
            operatory = self.operatories.get(op_id)
            if operatory is None:
                rd.issue(
                    "operatory_id", IssueCode.DANGLING_REFERENCE, f"operatory {op_id} is not in the list"
                )
        procedures = []
        for seq, ref in enumerate(rd.objects("procedures"), start=1):
            ref_id = ref.get("id")
            if not isinstance(ref_id, str | int) or isinstance(ref_id, bool):
                rd.issue("procedures", IssueCode.MISSING_VALUE, "procedure reference without id")
                continue
            code = self.procedure_codes.get(str(ref_id))
            if code is None:
                rd.issue(
                    "procedures",
                    IssueCode.DANGLING_REFERENCE,
                    f"practice procedure {ref_id} is not in the list",
                )
            procedures.append(
                rec.AppointmentProcedure(
                    sequence=seq,
                    code_type=0,  # a procedure code, not a charted procedure
                    code_id=str(ref_id),
                    ada_code=code.ada_code if code else None,
                    abbrev_description=code.abbrev_description if code else None,
                )
            )
        return rec.Appointment(
            appointment_id=appt_id,
            patient_id=rd.ident("patient_id"),
            start=rd.instant("start"),
            length_min=rd.integer("length_min"),
            provider_id=self._provider_id(rd, "provider_id"),
            operatory_id=operatory.operatory_id if operatory else op_id,
            operatory_title=operatory.title if operatory else None,
            status_id=status,
            status_description=_label(status),
            status_meaning=meaning,
            type_id=booking.upper() if booking else None,
            type_description=_label(booking.upper()) if booking else None,
            reason=rd.text("reason"),
            note=rd.text("note"),
            broken=meaning is rec.AppointmentStatusMeaning.BROKEN,
            modified_at=rd.instant("modified_at"),
            procedures=tuple(procedures),
        )

    def procedure(self, obj: Json, guarantor_id: str | None) -> rec.Procedure | None:
        """A patient procedure, or ``None`` when it has no id or its ``state`` says it was deleted."""
        found = self._with_patient(obj, "patient_procedures", "procedure_id", "procedure")
        if found is None:
            return None
        rd, proc_id, patient_id = found
        state = rd.text("state")
        if state is not None and state.upper() in self.codes.deleted_states:
            return None
        _, status = rd.code("status", self.codes.procedure_status)
        code_id = rd.ident("proc_code_id")
        code = self.procedure_codes.get(code_id) if code_id else None
        if code_id is not None and code is None:
            rd.issue(
                "proc_code_id",
                IssueCode.DANGLING_REFERENCE,
                f"practice procedure {code_id} is not in the list",
            )
        teeth = rd.objects("teeth")
        tooth_ids = [str(t.get("toothId")).strip() for t in teeth if t.get("toothId") not in (None, "")]
        surfaces = [str(t.get("surfaces")).strip() for t in teeth if t.get("surfaces") not in (None, "")]
        return rec.Procedure(
            procedure_id=proc_id,
            patient_id=patient_id,
            guarantor_id=guarantor_id,
            date=rd.date("date"),
            proc_code_id=code_id,
            ada_code=code.ada_code if code else None,
            description=code.description if code else None,
            tooth=",".join(tooth_ids) or None,
            surfaces="".join(dict.fromkeys(surfaces)) or None,
            status=status,
            provider_id=self._provider_id(rd, "provider_id"),
            amount=rd.money("amount"),
            tx_case_id=rd.ident("tx_case_id"),
            modified_at=rd.instant("modified_at"),
        )

    def tx_case(self, obj: Json, procedures: Sequence[rec.Procedure]) -> rec.TreatmentPlanCase | None:
        found = self._with_patient(obj, "tx_cases", "case_id", "treatment case")
        if found is None:
            return None
        rd, case_id, patient_id = found
        _, status = rd.code("status", self.codes.tx_case_status)
        return rec.TreatmentPlanCase(
            case_id=case_id,
            patient_id=patient_id,
            status=status,
            description=rd.text("description"),
            created_date=rd.date("created_date"),
            procedures=tuple(p for p in procedures if p.tx_case_id == case_id),
        )

    def clinical_note(self, obj: Json) -> rec.ClinicalNote | None:
        found = self._with_patient(obj, "clinical_notes", "note_id", "note")
        if found is None:
            return None
        rd, note_id, patient_id = found
        return rec.ClinicalNote(
            note_id=note_id,
            patient_id=patient_id,
            provider_id=self._provider_id(rd, "provider_id"),
            created_at=rd.instant("created_at"),
            entered_at=rd.instant("entered_at"),
            text=rd.text("text"),
            locked=bool(rd.flag("locked")),
            modified_at=rd.instant("modified_at"),
        )

    def recall(self, obj: Json) -> rec.Recall | None:
        rd = self._reader(obj, "recalls")
        patient_id, type_id = rd.ident("patient_id"), rd.ident("recall_type_id")
        if patient_id is None or type_id is None:
            rd.issue("recall_type_id", IssueCode.MISSING_VALUE, "recall without patient or type; skipped")
            return None
        return rec.Recall(
            patient_id=patient_id,
            recall_type_id=type_id,
            **rd.texts("type_name", "type_description"),
            interval_months=rd.integer("interval_months"),
            due_date=rd.date("due_date"),
            prior_date=rd.date("prior_date"),
            appointment_id=rd.ident("appointment_id"),
            provider_id=self._provider_id(rd, "provider_id"),
        )

    def medical_alert(self, obj: Json) -> rec.MedicalAlert | None:
        rd = self._reader(obj, "medical_alerts")
        alert_id, patient_id = rd.ident("alert_id"), rd.ident("patient_id")
        _, kind = rd.code("kind", self.codes.medical_alert_kind)
        if alert_id is None or patient_id is None or kind is None:
            rd.issue("alert_id", IssueCode.MISSING_VALUE, "alert without id, patient or known type; skipped")
            return None
        end = rd.date("end_date")
        return rec.MedicalAlert(
            alert_id=alert_id,
            patient_id=patient_id,
            kind=kind,
            description=rd.text("description"),
            critical=bool(rd.flag("critical")),
            reported_date=rd.date("reported_date"),
            start_date=rd.date("start_date"),
            end_date=None if end == _OPEN else end,
            open_ended=end == _OPEN,
            note=rd.text("note"),
        )

    def document(self, obj: Json) -> rec.Document | None:
        found = self._with_patient(obj, "documents", "document_id", "document")
        if found is None:
            return None
        rd, doc_id, patient_id = found
        return rec.Document(
            document_id=doc_id,
            patient_id=patient_id,
            type_id=rd.ident("type_id"),
            **rd.texts("type_description", "description"),
            created_date=rd.date("created_date"),
            pages=rd.integer("pages"),
            **rd.texts("mime_type", "url"),
        )

    def coverage(
        self, obj: Json, patient_id: str, lookup: Callable[[str], rec.Patient | None]
    ) -> tuple[rec.CoverageRank, rec.Coverage] | None:
        rd = self._reader(obj, "patient_insurance")
        insured_id = rd.ident("insured_id") or rd.ident("id")
        _, rank = rd.code("rank", self.codes.coverage_rank)
        if insured_id is None or rank is None:
            rd.issue("rank", IssueCode.MISSING_VALUE, "coverage without id or known rank; skipped")
            return None
        plan_id = rd.ident("plan_id")
        plan = self.plans.get(plan_id) if plan_id else None
        if plan_id is not None and plan is None and self.r.insurance_plans is not None:
            rd.issue("plan_id", IssueCode.DANGLING_REFERENCE, f"insurance plan {plan_id} is not in the list")
        subscriber_id = rd.ident("subscriber_id")
        subscriber = lookup(subscriber_id) if subscriber_id and subscriber_id != patient_id else None
        relationship = rd.text("relationship")
        relationship_code = self.codes.relationship.get(relationship.upper()) if relationship else None
        if relationship is not None and relationship_code is None:
            rd.issue("relationship", IssueCode.BAD_CODE, "code not in the configured map")
        insured = rec.Insured(
            insured_id=insured_id,
            plan_id=plan_id,
            subscriber_id=subscriber_id,
            member_id=rd.text("member_id"),
        )
        return rank, rec.Coverage(
            rank=rank, insured=insured, plan=plan, relationship_code=relationship_code, subscriber=subscriber
        )

    def balance(self, obj: Json) -> rec.GuarantorBalance | None:
        assert self.r.aging_report is not None
        rd = Reader(obj, self.r.aging_report, self.r.aging_report.path, self.tz, self.issues)
        guarantor_id = rd.ident("guarantor_id")
        if guarantor_id is None:
            rd.issue("guarantor_id", IssueCode.MISSING_VALUE, "aging row without guarantor; skipped")
            return None
        zero = Decimal("0.00")
        return rec.GuarantorBalance(
            guarantor_id=guarantor_id,
            balance_0_30=rd.money("balance_0_30") or zero,
            balance_31_60=rd.money("balance_31_60") or zero,
            balance_61_90=rd.money("balance_61_90") or zero,
            balance_91_plus=rd.money("balance_91_plus") or zero,
        )
