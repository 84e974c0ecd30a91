# ruff: noqa: S608 -- table and column names come from our own file specs, never from the data.
"""Staged rows → typed records, and per-patient bundles assembled a chunk of patients at a time.

Shared tables (providers, code tables, plans, referral sources...) are small and loaded once; everything per
patient is fetched with one ``IN (...)`` query per table per chunk, so a bundle costs a handful of indexed
lookups and memory holds one chunk.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from dentrix_highlevel import records as rec
from dentrix_highlevel.sources._g_export_specs import SPECS_BY_NAME
from dentrix_highlevel.sources._order import canonical_bundle
from dentrix_highlevel.sources._values import OPEN_DATE

__all__ = ["BundleBuilder", "SharedTables"]

Row = sqlite3.Row
_ZERO = Decimal("0.00")
_HH_KIND = {1: rec.MedicalAlertKind.CONDITION, 3: rec.MedicalAlertKind.MEDICATION}
_PAYMENTS = frozenset({rec.LedgerEntryType.PATIENT_PAYMENT, rec.LedgerEntryType.INSURANCE_PAYMENT})


def _d(value: str | None) -> dt.date | None:
    if value is None or value == OPEN_DATE:
        return None
    return dt.date.fromisoformat(value[:10])


def _dt(value: str | None) -> dt.datetime | None:
    if value is None or value == OPEN_DATE:
        return None
    return dt.datetime.fromisoformat(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _b(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _extra(row: Row) -> dict[str, str]:
    raw = row["_extra"]
    return json.loads(raw) if raw else {}


@functools.cache
def _columns(spec: str) -> tuple[tuple[str, ...], Callable[[Row], tuple[Any, ...]]]:
    pairs = [word.partition("=") for word in spec.split()]
    columns = [column or field for field, _, column in pairs]
    get = operator.itemgetter(*columns)  # every column in one C call
    return tuple(field for field, _, _ in pairs), (get if len(columns) > 1 else lambda row: (get(row),))


def _copy(row: Row, spec: str) -> dict[str, Any]:
    """The record fields taken from staged columns as they are: ``field=column`` words (a bare word is both).

    One table per shared record instead of a ``field=row["column"]`` line each; the values are a ``Row``'s,
    so ``Any`` loses no checking. For the shared tables and the records read once or twice a patient:
    the ones read many times a patient are built with keywords (a copy costs about a microsecond more)."""
    fields, values = _columns(spec)
    return dict(zip(fields, values(row), strict=True))


# The records that are nothing but copied columns.
_PROC_CODE = (
    "proc_code_id=proccodeid ada_code=adacode abbrev_description=abbrevdescript description=descript"
    " layman_description=laymandescript category treatment_area=treatmentarea auto_recall_type_id=autorecall"
    " appointment_type_id=appttype"
)
_RECALL_TYPE = (
    "recall_type_id=recallid name description=descript patient_id=patid interval_months unit quantity=qty"
    " provider_id=provid"
)


def _table(name: str) -> str:
    return SPECS_BY_NAME[name].table


def _surfaces(row: Row) -> str | None:
    if row["surface"] is not None:
        return str(row["surface"])
    letters = "".join(ch for ch in "MODLF5" if row[f"surf{ch.lower()}"])
    return letters or None


def _tooth(row: Row) -> str | None:
    if row["tooth"] is not None:
        return str(row["tooth"])
    start, end = row["toothrangestart"], row["toothrangeend"]
    if end is None:
        return None
    if start is not None and start.isdigit() and end.isdigit() and 0 < int(start) < int(end):
        return f"{start}-{end}"
    return str(end)


class SharedTables:
    """The practice-wide tables, loaded once after staging."""

    def __init__(self, db: sqlite3.Connection, present: set[str], timezone: str | None) -> None:
        def rows(name: str) -> list[Row]:
            if name not in present:
                return []
            return db.execute(f"SELECT * FROM {_table(name)} ORDER BY rowid").fetchall()

        def defs(name: str, id_col: str = "def_id", desc: str = "descript") -> dict[str, rec.CodeDefinition]:
            stem = name.removesuffix(".csv")
            return {
                r[id_col]: rec.CodeDefinition(table=stem, def_id=r[id_col], description=r[desc])
                for r in rows(name)
            }

        info = rows("v_practice_information.csv")
        first = info[0] if info else None
        self.practice = rec.PracticeInfo(
            name=first["practice_name"] if first else None,
            timezone=timezone,
            address_line1=first["address_line1"] if first else None,
            address_line2=first["address_line2"] if first else None,
            city=first["city"] if first else None,
            state=first["state"] if first else None,
            zipcode=first["zip_code"] if first else None,
            phone=first["phone"] if first else None,
        )
        self.specialties = defs("v_referral_specialty.csv", "defid", "description")
        self.providers = {
            r["provider_id"]: rec.Provider(
                **_copy(
                    r,
                    "provider_id last_name first_name middle_initial=mi suffix title specialty_id npi email"
                    " work_phone work_phone_ext address_line1 address_line2 city state zipcode=zip_code",
                ),
                kind=rec.ProviderKind.HYGIENIST
                if r["issecondaryprovider"] == 1
                else rec.ProviderKind.DENTIST,
                specialty_description=r["specialty_description"]
                or (
                    self.specialties[r["specialty_id"]].description
                    if r["specialty_id"] in self.specialties
                    else None
                ),
                is_non_person=bool(r["isnonperson"]),
                inactive=bool(r["inactive"]),
                modified_at=_dt(r["automodifiedtimestamp"]),
                extra=_extra(r),
            )
            for r in rows("v_provider.csv")
        }
        self.staff = tuple(
            rec.Staff(
                **_copy(r, "staff_id last_name first_name title"),
                inactive=bool(r["inactive"]),
                extra=_extra(r),
            )
            for r in rows("v_staff.csv")
        )
        self.operatories = {
            r["op_id"]: rec.Operatory(operatory_id=r["op_id"], title=r["op_title"])
            for r in rows("v_operatory.csv")
        }
        self.statuses = {
            r["defid"]: rec.AppointmentStatusCode(
                status_id=r["defid"],
                description=r["descript"],
                meaning=rec.AppointmentStatusMeaning(r["meaning"]) if r["meaning"] else None,
            )
            for r in rows("v_appt_status_codes.csv")
        }
        self.appointment_types = {
            r["def_id"]: rec.AppointmentType(type_id=r["def_id"], description=r["descript"])
            for r in rows("v_appointment_types.csv")
        }
        self.payment_types = defs("v_payment_types.csv")
        self.adjustment_types = defs("v_adjustment_types.csv")
        self.billing_types = defs("v_billing_types.csv")
        self.document_types = defs("v_document_types.csv", "dc_doctype_id", "doctype_desc")
        self.medical_alert_defs = defs("v_practice_medical_alerts.csv")
        self.employers = {
            r["employer_id"]: rec.Employer(
                **_copy(r, "employer_id name=employer_name address_line1 city state zipcode=zip_code phone"),
            )
            for r in rows("v_employers.csv")
        }
        self.plans = {
            r["ins_id"]: rec.InsurancePlan(
                **_copy(
                    r,
                    "plan_id=ins_id carrier_name=ins_co_name group_name group_number payor_id phone"
                    " address_line1 city state zipcode=zip_code renew_month employer_id",
                ),
                max_coverage_person=_dec(r["max_cov_person"]),
                max_coverage_family=_dec(r["max_cov_fam"]),
                extra=_extra(r),
            )
            for r in rows("v_insurance_plans.csv")
        }
        self.procedure_codes = {
            r["proccodeid"]: rec.ProcedureCode(**_copy(r, _PROC_CODE)) for r in rows("proccode.csv")
        }
        self.recall_types: dict[tuple[str, str | None], rec.RecallType] = {
            (r["recallid"], r["patid"]): rec.RecallType(**_copy(r, _RECALL_TYPE))
            for r in rows("recalltype.csv")
        }
        self.referrals = {
            r["refid"]: rec.ReferralSource(
                **_copy(
                    r,
                    "referral_id=refid referral_type=reftype last_name=lastname first_name=firstname"
                    " middle_initial=mi title specialty_id=specialtyid email phone fax"
                    " other_phone=otherphone address_line1=street1 city state zipcode",
                ),
                specialty_description=self.specialties[r["specialtyid"]].description
                if r["specialtyid"] in self.specialties
                else None,
                is_non_person=bool(r["nonpersonflag"]),
            )
            for r in rows("referral.csv")
        }
        self.health_items = {r["itemid"]: r for r in rows("hhitem.csv")}

    def code_definitions(self) -> tuple[rec.CodeDefinition, ...]:
        out: list[rec.CodeDefinition] = []
        for table in (
            self.specialties,
            self.payment_types,
            self.adjustment_types,
            self.billing_types,
            self.document_types,
            self.medical_alert_defs,
        ):
            out.extend(table.values())
        return tuple(out)


class BundleBuilder:
    """Builds records from staged rows and bundles from chunks of patient rows."""

    def __init__(
        self, db: sqlite3.Connection, present: set[str], shared: SharedTables, timezone: str
    ) -> None:
        self.db = db
        self.present = present
        self.shared = shared
        self.timezone = timezone
        self.patient_attach_types: frozenset[int] = frozenset({1})

    # ---------------------------------------------------------------------------------------- records

    def patient(self, r: Row) -> rec.Patient:
        status_code = r["status"]
        gender = r["gender"]
        fampos = r["fampos"]
        premed = r["premed"]
        refbytype = r["refbytype"]
        return rec.Patient(
            **_copy(
                r,
                "patient_id guarantor_id=guar_id patient_guid chart_number=chart_num last_name first_name"
                " middle_initial=mi preferred_name salutation title address_line1 address_line2 city state"
                " zipcode home_phone work_phone work_ext mobile_phone other_phone fax email"
                " primary_provider_id=pri_provider_id secondary_provider_id=sec_provider_id"
                " missed_appointment_count=num_of_missed_appointments note employer_id"
                " primary_dental_insured_id=primdentalinsuredid"
                " secondary_dental_insured_id=secdentalinsuredid language_code=language"
                " referred_by_id=refbyid referred_to_id=reftoid medical_alert_mask1=medalertmask1"
                " medical_alert_mask2=medalertmask2",
            ),
            status=rec.PatientStatus.from_code(status_code) if status_code is not None else None,
            status_code=status_code,
            gender=rec.Gender.from_code(gender) if gender is not None else None,
            birth_date=_d(r["birth_date"]),
            first_visit_date=_d(r["first_visit_date"]),
            last_visit_date=_d(r["last_visit_date"]),
            last_missed_appointment=_d(r["last_missed_appointment"]),
            privacy_flags=rec.PrivacyFlag(r["privacy_flags"] or 0),
            family_position=rec.FamilyPosition.from_code(fampos) if fampos is not None else None,
            is_guarantor=_b(r["isguar"]),
            is_head_of_house=_b(r["isheadofhouse"]),
            is_insurance_subscriber=_b(r["isinssubcriber"]),
            premedication=None if premed is None else premed != 0,
            referred_by_kind=None
            if refbytype is None
            else (rec.ReferrerKind.PATIENT if refbytype == "patient" else rec.ReferrerKind.REFERRAL_SOURCE),
            referred_to_date=_d(r["reftodate"]),
            modified_at=_dt(r["automodifiedtimestamp"]),
            extra=_extra(r),
        )

    def appointment(self, r: Row, procedures: Sequence[Row] = ()) -> rec.Appointment:
        s = self.shared
        day = _d(r["appointment_date"])
        start = None
        if day is not None:
            start = dt.datetime.combine(day, dt.time(r["start_hour"] or 0, r["start_minute"] or 0))
        status = s.statuses.get(r["status_id"] or "")
        appt_type = s.appointment_types.get(r["appttype"] or "")
        op = s.operatories.get(r["operatory_id"] or "")
        return rec.Appointment(
            appointment_id=r["appointment_id"],
            patient_id=r["patient_id"],
            start=start,
            length_min=r["length"],
            provider_id=r["provider_id"],
            additional_provider_id=r["addtnl_provider_id"],
            operatory_id=r["operatory_id"],
            operatory_title=op.title if op else None,
            status_id=r["status_id"],
            status_description=status.description if status else r["status_description"],
            status_meaning=status.meaning if status else None,
            type_id=r["appttype"],
            type_description=appt_type.description if appt_type else None,
            reason=r["reason"],
            note=r["note"],
            patient_name=r["patient_name"],
            amount=_dec(r["amount"]),
            broken=bool(r["broken"]),
            broken_date=_d(r["broken_date"]),
            deleted=bool(r["deleted"]),
            on_unscheduled_list=bool(r["on_unscheduled_list"]),
            created_date=_d(r["create_date"]),
            modified_at=_dt(r["modified_time_stamp"]),
            procedures=tuple(
                rec.AppointmentProcedure(
                    sequence=p["seq"],
                    code_type=p["codetype"],
                    code_id=p["codeid"],
                    ada_code=p["adacode"],
                    tooth=p["tooth"],
                    surfaces=p["surface"],
                    abbrev_description=p["abbrevdescript"],
                )
                for p in sorted(procedures, key=lambda p: p["seq"] or 0)
            ),
            extra=_extra(r),
        )

    def _ledger_kind(self, r: Row) -> rec.LedgerEntryType:
        if r["ledger_type"] is not None:
            return rec.LedgerEntryType(r["ledger_type"])
        # No ledger_type column: rows with a procedure code are charges; the rest adjustments by sign [I].
        if r["proccodeid"] is not None:
            return rec.LedgerEntryType.PROCEDURE
        amount = _dec(r["amt"]) or _ZERO
        return rec.LedgerEntryType.DEBIT_ADJUSTMENT if amount >= 0 else rec.LedgerEntryType.CREDIT_ADJUSTMENT

    def procedure(self, r: Row) -> rec.Procedure:
        code = self.shared.procedure_codes.get(r["proccodeid"] or "")
        return rec.Procedure(
            procedure_id=r["procid"],
            patient_id=r["patid"],
            guarantor_id=r["guarid"],
            date=_d(r["procdate"]),
            proc_code_id=r["proccodeid"],
            ada_code=r["adacode"] or (code.ada_code if code else None),
            description=(code.description or code.abbrev_description) if code else None,
            tooth=_tooth(r),
            surfaces=_surfaces(r),
            status=rec.ProcedureStatus(r["status_text"]) if r["status_text"] else None,
            chart_status_code=r["chartstatus"],
            proc_log_class=r["proclogclass"],
            provider_id=r["provid"],
            amount=_dec(r["amt"]),
            tx_case_id=r["txcaseid"],
            claim_id=r["claimid"],
            created_date=_d(r["createdate"]),
            completion_date=_d(r["completiondate"]),
            modified_at=_dt(r["automodifiedtimestamp"]),
        )

    def ledger(
        self, r: Row, kind: rec.LedgerEntryType, procedure: rec.Procedure | None
    ) -> rec.LedgerTransaction:
        s = self.shared
        type_id = r["type_def_id"]
        if procedure is not None:
            description = procedure.description
        elif kind in _PAYMENTS:
            description = s.payment_types[type_id].description if type_id in s.payment_types else None
        else:
            description = s.adjustment_types[type_id].description if type_id in s.adjustment_types else None
        return rec.LedgerTransaction(
            transaction_id=r["procid"],
            patient_id=r["patid"],
            guarantor_id=r["guarid"],
            date=_d(r["procdate"]),
            kind=kind,
            amount=_dec(r["amt"]),
            type_id=type_id,
            description=description,
            provider_id=r["provid"],
            claim_id=r["claimid"],
            check_number=r["checknum"],
        )

    # ---------------------------------------------------------------------------------------- bundles

    def _by(self, name: str, column: str, ids: Sequence[str], order: str = "rowid") -> dict[str, list[Row]]:
        grouped: dict[str, list[Row]] = defaultdict(list)
        if name not in self.present or not ids:
            return grouped
        # Batches of at most 900 ids: older SQLite builds allow 999 parameters per statement.
        for start in range(0, len(ids), 900):
            part = list(ids[start : start + 900])
            marks = ",".join("?" * len(part))
            sql = f'SELECT * FROM {_table(name)} WHERE "{column}" IN ({marks}) ORDER BY {order}'
            for row in self.db.execute(sql, part):
                grouped[row[column]].append(row)
        return grouped

    def survey_bundles(self, rows: Sequence[Row]) -> Iterator[rec.PatientBundle]:
        """Survey bundles for a chunk of ``v_patient`` rows, in the rows' order: the patient record and its
        appointments, built as :meth:`bundles` builds them, every other part empty (two queries a chunk
        instead of some twenty)."""
        patients = {r["patient_id"]: self.patient(r) for r in rows}
        appts = self._by("v_appointment.csv", "patient_id", list(patients))
        slots = self._by(
            "appt_procedures.csv", "apptid", [r["appointment_id"] for rs in appts.values() for r in rs]
        )
        for pid, p in patients.items():
            appointments = tuple(
                self.appointment(r, slots.get(r["appointment_id"], ())) for r in appts.get(pid, [])
            )
            yield canonical_bundle(
                rec.PatientBundle(patient=p, practice_timezone=self.timezone, appointments=appointments)
            )

    def bundles(self, rows: Sequence[Row]) -> Iterator[rec.PatientBundle]:
        """Bundles for a chunk of ``v_patient`` rows, in the rows' order."""
        s = self.shared
        patients = {r["patient_id"]: self.patient(r) for r in rows}
        ids = list(patients)
        fam_keys = sorted({p.guarantor_id or p.patient_id for p in patients.values()})
        members = self._by("v_patient.csv", "guar_id", fam_keys)
        # Records of people outside the chunk the bundles point at: guarantors and subscribers.
        insured_ids: dict[str, tuple[str | None, str | None, int | None, int | None]] = {}
        pat_ins = self._by("v_patient_insurance.csv", "patient_id", ids)
        for pid, p in patients.items():
            if pat_ins.get(pid):
                r = pat_ins[pid][0]
                insured_ids[pid] = (
                    r["primary_insured_id"],
                    r["secondary_insured_id"],
                    r["priminsrel"],
                    r["secinsrel"],
                )
            else:
                insured_ids[pid] = (p.primary_dental_insured_id, p.secondary_dental_insured_id, None, None)
        rel = {r["patient_id"]: (r["priminsrel"], r["secinsrel"]) for r in rows}
        all_insured = sorted({i for v in insured_ids.values() for i in v[:2] if i})
        insured_rows = {k: v[0] for k, v in self._by("v_insured.csv", "insured_id", all_insured).items()}
        outside = sorted(
            (
                {p.guarantor_id for p in patients.values() if p.guarantor_id}
                | {r["ins_party_id"] for r in insured_rows.values() if r["ins_party_id"]}
            )
            - set(ids)
        )
        others = {k: self.patient(v[0]) for k, v in self._by("v_patient.csv", "patient_id", outside).items()}
        people = {**others, **patients}
        balances = self._by("v_guarantor_balance.csv", "guar_id", fam_keys)
        appts = self._by("v_appointment.csv", "patient_id", ids)
        appt_ids = [r["appointment_id"] for rs in appts.values() for r in rs]
        slots = self._by("appt_procedures.csv", "apptid", appt_ids)
        procs = self._by("fullproclog.csv", "patid", ids)
        notes = self._by("v_clinical_notes.csv", "patient_id", ids)
        cases = self._by("txcase.csv", "patid", ids)
        recalls = self._by("recallpending.csv", "patid", ids)
        attach = self._by("docattach.csv", "attachtoentityid", ids)
        doc_ids = sorted({a["docid"] for rs in attach.values() for a in rs})
        docs = {k: v[0] for k, v in self._by("document.csv", "docid", doc_ids).items()}
        images = self._by("images.csv", "patient_id", ids)
        refacts = self._by("refacts.csv", "patid", ids)
        hh = self._by("hhlinkpat_item.csv", "patid", ids)
        patalerts = self._by("patalerts.csv", "patid", ids)
        contacts = self._by("contact.csv", "patid", ids)
        for pid, p in patients.items():
            fam = p.guarantor_id or pid
            family = {r["patient_id"] for r in members.get(fam, [])} | {fam}
            procedures: list[rec.Procedure] = []
            ledger: list[rec.LedgerTransaction] = []
            for r in procs.get(pid, []):
                kind = self._ledger_kind(r)
                if kind is rec.LedgerEntryType.PROCEDURE:
                    proc = self.procedure(r)
                    procedures.append(proc)
                    if proc.status in (None, rec.ProcedureStatus.COMPLETED):
                        ledger.append(self.ledger(r, kind, proc))
                else:
                    ledger.append(self.ledger(r, kind, None))
            case_records = [
                rec.TreatmentPlanCase(
                    case_id=r["txcaseid"],
                    patient_id=pid,
                    status=rec.TreatmentCaseStatus(r["status_text"]) if r["status_text"] else None,
                    status_code=r["status"],
                    description=r["descript"],
                    created_date=_d(r["createdate"]),
                    priority=r["priority"],
                    is_default=_b(r["isdefault"]),
                    finance_expiry_date=_d(r["financeexpdate"]),
                    procedures=tuple(x for x in procedures if x.tx_case_id == r["txcaseid"]),
                )
                for r in cases.get(pid, [])
            ]
            prim, sec, prel, srel = insured_ids[pid]
            if prel is None and srel is None:
                prel, srel = rel[pid]
            balance_row = balances.get(fam, [None])[0]
            guarantor = people.get(p.guarantor_id) if p.guarantor_id and p.guarantor_id != pid else None
            bundle = rec.PatientBundle(
                patient=p,
                practice_timezone=self.timezone,
                guarantor=guarantor,
                family_member_ids=tuple(family),
                primary_provider=s.providers.get(p.primary_provider_id or ""),
                secondary_provider=s.providers.get(p.secondary_provider_id or ""),
                employer=s.employers.get(p.employer_id or ""),
                appointments=tuple(
                    self.appointment(r, slots.get(r["appointment_id"], ())) for r in appts.get(pid, [])
                ),
                insurance=rec.PatientInsurance(
                    primary=self._coverage(rec.CoverageRank.PRIMARY, prim, prel, pid, insured_rows, people),
                    secondary=self._coverage(
                        rec.CoverageRank.SECONDARY, sec, srel, pid, insured_rows, people
                    ),
                ),
                procedures=tuple(procedures),
                clinical_notes=tuple(
                    rec.ClinicalNote(
                        note_id=r["cnotes_id"],
                        patient_id=pid,
                        provider_id=r["provider_id"],
                        created_at=_dt(r["create_date_time_stamp"]),
                        entered_at=_dt(r["entry_date_time_stamp"]),
                        text=r["note_text"],
                        locked=bool(r["note_locked"]),
                        modified_at=_dt(r["modified_time_stamp"]),
                    )
                    for r in notes.get(pid, [])
                ),
                treatment_cases=tuple(case_records),
                recalls=tuple(self._recall(r) for r in recalls.get(pid, [])),
                documents=tuple(
                    self._document(docs[a["docid"]], pid)
                    for a in attach.get(pid, [])
                    if a["attachtotype"] in self.patient_attach_types and a["docid"] in docs
                ),
                imaging=tuple(
                    rec.ImagingLink(
                        patient_id=pid,
                        imaging_system=r["imaging_system"],
                        image_id=r["image_id"],
                        image_date=_d(r["image_date"]),
                        modality=r["modality"],
                        tooth=r["tooth"],
                        file_path=r["file_path"],
                    )
                    for r in images.get(pid, [])
                ),
                ledger=tuple(ledger),
                guarantor_balance=self._balance(balance_row) if balance_row is not None else None,
                referred_by=self._referred_by(p),
                referrals=tuple(
                    rec.ReferralActivity(
                        referral_id=r["refid"],
                        patient_id=pid,
                        date=_d(r["refactdate"]),
                        activity_id=r["refactsid"],
                        activity_type=r["refactstype"],
                        referred_by_kind=None
                        if r["refbytype"] is None
                        else (
                            rec.ReferrerKind.PATIENT
                            if r["refbytype"] == "patient"
                            else rec.ReferrerKind.REFERRAL_SOURCE
                        ),
                        source=s.referrals.get(r["refid"]),
                    )
                    for r in refacts.get(pid, [])
                ),
                medical_alerts=tuple(self._alerts(p, hh.get(pid, []), patalerts.get(pid, []))),
                journal=tuple(
                    rec.OfficeJournalEntry(
                        contact_id=r["contactid"],
                        patient_id=pid,
                        contacted_at=_dt(r["contactdate"]),
                        kind=rec.JournalEntryKind(r["contact_kind"])
                        if r["contact_kind"]
                        else rec.JournalEntryKind.OTHER,
                        contact_type_code=r["contacttype"],
                        provider_id=r["provid"],
                        title=r["title"],
                        text=r["notetext"],
                    )
                    for r in contacts.get(pid, [])
                ),
            )
            yield canonical_bundle(bundle)

    def _coverage(
        self,
        rank: rec.CoverageRank,
        insured_id: str | None,
        relationship: int | None,
        pid: str,
        insured_rows: dict[str, Row],
        people: dict[str, rec.Patient],
    ) -> rec.Coverage | None:
        row = insured_rows.get(insured_id or "")
        if row is None:
            return None
        insured = rec.Insured(
            **_copy(
                row,
                "insured_id plan_id=ins_plan_id subscriber_id=ins_party_id member_id=id_num member_id2=idnum2"
                " insurance_type=ins_type",
            ),
            signature_on_file=_b(row["sigonfile"]),
            family_benefits=_dec(row["fambenefits"]),
        )
        subscriber = None if insured.subscriber_id in (None, pid) else people.get(insured.subscriber_id or "")
        return rec.Coverage(
            rank=rank,
            insured=insured,
            plan=self.shared.plans.get(insured.plan_id or ""),
            relationship_code=relationship,
            subscriber=subscriber,
        )

    def _recall(self, r: Row) -> rec.Recall:
        types = self.shared.recall_types
        rtype = types.get((r["recallid"], r["patid"])) or types.get((r["recallid"], None))
        return rec.Recall(
            patient_id=r["patid"],
            recall_type_id=r["recallid"],
            type_name=rtype.name if rtype else None,
            type_description=rtype.description if rtype else None,
            interval_months=rtype.interval_months if rtype else None,
            due_date=_d(r["duedate"]),
            set_date=_d(r["setdate"]),
            prior_date=_d(r["priordate"]),
            appointment_id=r["apptid"],
            provider_id=r["provid"],
            status=r["status"],
        )

    def _document(self, r: Row, pid: str) -> rec.Document:
        types = self.shared.document_types
        return rec.Document(
            document_id=r["docid"],
            patient_id=pid,
            type_id=r["doctypeid"],
            type_description=types[r["doctypeid"]].description if r["doctypeid"] in types else None,
            description=r["descript"],
            created_date=_d(r["createdate"]),
            pages=r["pages"],
            locked_date=_d(r["lockeddate"]),
            file_path=r["file_path"],
            mime_type=r["mime_type"],
            sha256=r["sha256"],
            url=r["url"],
        )

    @staticmethod
    def _balance(r: Row) -> rec.GuarantorBalance:
        return rec.GuarantorBalance(
            guarantor_id=r["guar_id"],
            balance_0_30=_dec(r["balance_0_30_days"]) or _ZERO,
            balance_31_60=_dec(r["balance_31_60_days"]) or _ZERO,
            balance_61_90=_dec(r["balance_61_90_days"]) or _ZERO,
            balance_91_plus=_dec(r["balance_91_plus_days"]) or _ZERO,
            last_payment_date=_d(r["last_payment_received_date"]),
            last_payment_amount=_dec(r["last_payment_amount"]),
            billing_type_description=r["billing_type_description"],
        )

    def _referred_by(self, p: rec.Patient) -> rec.ReferredBy | None:
        ref = p.referred_by_id
        if ref is None:
            return None
        kind = p.referred_by_kind
        if kind is None:
            kind = (
                rec.ReferrerKind.REFERRAL_SOURCE if ref in self.shared.referrals else rec.ReferrerKind.PATIENT
            )
        source = self.shared.referrals.get(ref) if kind is rec.ReferrerKind.REFERRAL_SOURCE else None
        return rec.ReferredBy(kind=kind, referrer_id=ref, source=source)

    def _alerts(
        self, p: rec.Patient, links: Sequence[Row], popups: Sequence[Row]
    ) -> Iterator[rec.MedicalAlert]:
        items = self.shared.health_items
        for r in links:
            item = items.get(r["hhitemid"])
            critical = r["critical"] if r["critical"] is not None else (item["critical"] if item else None)
            yield rec.MedicalAlert(
                alert_id=r["linkid"],
                patient_id=p.patient_id,
                kind=_HH_KIND.get(item["hhtype"], rec.MedicalAlertKind.ALLERGY)
                if item
                else rec.MedicalAlertKind.CONDITION,
                description=item["description"] if item else None,
                critical=bool(critical),
                status=r["status"],
                reported_date=_d(r["reporteddate"]),
                start_date=_d(r["startdate"]),
                end_date=_d(r["enddate"]),
                open_ended=r["enddate"] == OPEN_DATE,
                note=r["note"],
            )
        defs = self.shared.medical_alert_defs
        for offset, mask in ((0, p.medical_alert_mask1), (32, p.medical_alert_mask2)):
            for bit in range(32):
                if mask and mask & (1 << bit):
                    def_id = str(offset + bit + 1)  # bit n ↔ def_id n+1 [I]
                    yield rec.MedicalAlert(
                        alert_id=def_id,
                        patient_id=p.patient_id,
                        kind=rec.MedicalAlertKind.MEDICAL_ALERT,
                        description=defs[def_id].description if def_id in defs else None,
                    )
        for r in popups:
            yield rec.MedicalAlert(
                alert_id=r["alertid"],
                patient_id=p.patient_id,
                kind=rec.MedicalAlertKind.PATIENT_ALERT,
                description=r["descript"],
                start_date=_d(r["startdate"]),
                end_date=_d(r["enddate"]),
                open_ended=r["enddate"] == OPEN_DATE,
            )
