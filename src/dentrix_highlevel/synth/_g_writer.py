"""Write a synthetic practice as a Dentrix G structured export (SOURCE-NOTES §7), streaming.

One family at a time goes to every CSV (all files open at once), so a 1,000,000-patient export needs no
more memory than a 100-patient one. A ``.zip`` target is written as a folder beside it first, then zipped
file by file. ``dirty`` > 0 injects located defects (bad dates, broken quoting, wrong cell counts, invalid
bytes, dangling references, duplicate keys, duplicate people); each is logged as an :class:`InjectedDefect`
so tests can check the reader reports it at the same file and line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import random
import shutil
import zipfile
from collections.abc import Callable, Collection, Iterable
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Literal

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.records import (
    Appointment,
    CodeDefinition,
    LedgerEntryType,
    MedicalAlertKind,
    Patient,
    PatientBundle,
    ReferrerKind,
)
from dentrix_highlevel.sources._csv import normalise_encoding
from dentrix_highlevel.synth._documents import document_bytes
from dentrix_highlevel.synth._practice import SyntheticPractice

__all__ = ["DIRTY_RATES", "ExportResult", "InjectedDefect", "write_g_export"]

DateStyle = Literal["iso", "us", "mixed"]
#: Share of eligible rows that get a defect, per ``dirty`` level.
DIRTY_RATES = {0: 0.0, 1: 0.005, 2: 0.02, 3: 0.05}
_BAD_BYTES = {"utf-8": b"\xff\xfe", "utf-8-sig": b"\xff\xfe", "cp1252": b"\x81\x8d"}
_PLACEHOLDER = "\x07BAD\x07"  # never generated otherwise; swapped for raw invalid bytes after encoding
_DANGLING_PATIENT = "999999999"


def _names(spec: str) -> tuple[str, ...]:
    # "_" stands for a space inside a column name (practice-specific extra columns have spaces).
    return tuple(name.replace("_", " ") if name[0].isupper() else name for name in spec.split())


_COLUMNS: dict[str, tuple[str, ...]] = {
    "v_practice_information.csv": (
        "practice_name",
        "address_line1",
        "address_line2",
        "city",
        "state",
        "zip_code",
        "phone",
    ),
    "v_referral_specialty.csv": ("defid", "Description"),
    "v_provider.csv": _names(
        "provider_id last_name first_name mi suffix title issecondaryprovider specialty_id "
        "specialty_description "
        "npi email work_phone work_phone_ext address_line1 address_line2 city state zip_code "
        "isnonperson inactive "
        "automodifiedtimestamp"
    ),
    "v_staff.csv": ("staff_id", "last_name", "first_name", "title", "inactive"),
    "v_operatory.csv": ("op_id", "op_title"),
    "v_appt_status_codes.csv": ("defid", "descript", "meaning"),
    "v_appointment_types.csv": ("def_id", "descript"),
    "v_payment_types.csv": ("def_id", "descript"),
    "v_adjustment_types.csv": ("def_id", "descript"),
    "v_billing_types.csv": ("def_id", "descript"),
    "v_document_types.csv": ("dc_doctype_id", "doctype_desc"),
    "v_practice_medical_alerts.csv": ("def_id", "descript"),
    "v_employers.csv": (
        "employer_id",
        "employer_name",
        "address_line1",
        "city",
        "state",
        "zip_code",
        "phone",
    ),
    "v_insurance_plans.csv": _names(
        "ins_id ins_co_name group_name group_number payor_id phone address_line1 city state zip_code "
        "max_cov_person max_cov_fam renew_month employer_id"
    ),
    "proccode.csv": ("proccodeid", "adacode", "abbrevdescript", "descript", "laymandescript", "autorecall"),
    "recalltype.csv": ("recallid", "patid", "name", "descript", "interval_months", "provid"),
    "hhitem.csv": ("itemid", "hhtype", "description", "critical"),
    "referral.csv": (
        _names("refid reftype lastname firstname mi title specialtyid email phone fax nonpersonflag")
    ),
    "v_patient.csv": _names(
        "Pref._Hygienist Emergency_Contact_Phone "
        "patient_id patient_guid last_name first_name mi preferred_name salutation title guar_id "
        "address_line1 "
        "address_line2 city state zipcode home_phone work_phone work_ext other_phone mobile_phone chart_num "
        "social_sec_num pri_provider_id sec_provider_id gender status birth_date first_visit_date "
        "last_visit_date "
        "last_missed_appointment num_of_missed_appointments email fax note privacy_flags employer_id "
        "primdentalinsuredid secdentalinsuredid fampos isguar isheadofhouse isinssubcriber language premed "
        "refbyid refbytype reftoid reftodate priminsrel secinsrel medalertmask1 medalertmask2 "
        "automodifiedtimestamp"
    ),
    "v_insured.csv": (
        "insured_id",
        "ins_plan_id",
        "ins_party_id",
        "id_num",
        "idnum2",
        "ins_type",
        "sigonfile",
    ),
    "v_patient_insurance.csv": (
        "patient_id",
        "primary_insured_id",
        "secondary_insured_id",
        "priminsrel",
        "secinsrel",
    ),
    "v_appointment.csv": _names(
        "appointment_id patient_id patient_name appointment_date start_hour start_minute length provider_id "
        "addtnl_provider_id operatory_id status_id appttype reason note amount broken broken_date deleted "
        "on_unscheduled_list create_date modified_time_stamp"
    ),
    "appt_procedures.csv": (
        "apptid",
        "seq",
        "codetype",
        "codeid",
        "adacode",
        "tooth",
        "surface",
        "abbrevdescript",
    ),
    "txcase.csv": (
        "txcaseid",
        "patid",
        "status",
        "status_text",
        "descript",
        "createdate",
        "priority",
        "isdefault",
    ),
    "fullproclog.csv": _names(
        "procid patid guarid procdate proccodeid adacode chartstatus proclogclass status_text ledger_type "
        "type_def_id provid amt tooth surface surfm surfo surfd surfl surff surf5 txcaseid claimid checknum "
        "createdate completiondate automodifiedtimestamp"
    ),
    "v_guarantor_balance.csv": _names(
        "guar_id balance_0_30_days balance_31_60_days balance_61_90_days balance_91_plus_days "
        "last_payment_received_date last_payment_amount billing_type_description"
    ),
    "v_clinical_notes.csv": _names(
        "cnotes_id patient_id provider_id create_date_time_stamp entry_date_time_stamp note_text note_locked "
        "modified_time_stamp"
    ),
    "recallpending.csv": (
        "recallid",
        "patid",
        "guarid",
        "duedate",
        "setdate",
        "priordate",
        "apptid",
        "provid",
        "status",
    ),
    "document.csv": (
        "docid",
        "doctypeid",
        "descript",
        "createdate",
        "pages",
        "file_path",
        "mime_type",
        "sha256",
        "url",
    ),
    "docattach.csv": ("attachid", "docid", "attachtotype", "attachtoentityid"),
    "images.csv": (
        "patient_id",
        "imaging_system",
        "image_id",
        "image_date",
        "modality",
        "tooth",
        "file_path",
    ),
    "refacts.csv": ("refactsid", "refid", "patid", "refactdate", "refactstype", "refbytype"),
    "hhlinkpat_item.csv": (
        _names("linkid patid hhitemid status reporteddate startdate enddate note critical")
    ),
    "patalerts.csv": ("alertid", "patid", "descript", "startdate", "enddate"),
    "contact.csv": (
        "contactid",
        "patid",
        "contactdate",
        "contacttype",
        "contact_kind",
        "provid",
        "title",
        "notetext",
    ),
}
ALL_FILES = tuple(_COLUMNS)
_PATIENT_DEFECTS = (
    "bad_date",
    "broken_quoting",
    "column_count",
    "invalid_bytes",
    "duplicate_key",
    "duplicate_person",
)
_REFBYTYPE = {ReferrerKind.PATIENT: "patient", ReferrerKind.REFERRAL_SOURCE: "referral", None: ""}
_PATIENT_ATTACH_TYPE = "1"  # docattach.attachtotype for a patient [I]
_PADDED = {"last_name": 21, "first_name": 16, "city": 26}  # Dentrix fixed widths (n-1): trailing spaces
_CHART_ALERT_KINDS = frozenset(
    {MedicalAlertKind.CONDITION, MedicalAlertKind.MEDICATION, MedicalAlertKind.ALLERGY}
)


@attrs.frozen(kw_only=True)
class InjectedDefect:
    """A defect the writer put at ``file``/``line``; ``code`` is the issue code a reader must report
    (``None`` for defects that are valid data, like a duplicate person)."""

    file: str
    line: int
    kind: str
    code: str | None
    column: str | None = None
    patient_id: str | None = None
    row_dropped: bool = False


@attrs.frozen(kw_only=True)
class ExportResult:
    path: Path
    encoding: str
    rows: dict[str, int]
    patients: int
    defects: tuple[InjectedDefect, ...] = ()


class _Out:
    """One CSV being written: counts rows and physical lines, hashes bytes as they go.

    Rows are formatted into a text buffer that is encoded and written about once a megabyte: per-row
    encoding and hashing would dominate the time of a 1,000,000-patient export.
    """

    _FLUSH_CHARS = 1 << 20

    def __init__(self, folder: Path, name: str, encoding: str) -> None:
        self.name = name
        self.columns = _COLUMNS[name]
        self.encoding = encoding
        self._codec = "utf-8" if encoding == "utf-8-sig" else encoding
        self._fh: BinaryIO = open(folder / name, "wb")  # noqa: SIM115 -- closed in close()
        self._sha = hashlib.sha256()
        self._buf = io.StringIO()
        self._pending = 0
        self._writer = csv.writer(self._buf, lineterminator="\r\n")
        self.rows = 0
        self.next_line = 1
        if encoding == "utf-8-sig":
            self._emit(b"\xef\xbb\xbf")
        self._write_cells(list(self.columns), count=False)

    def _emit(self, data: bytes) -> None:
        self._fh.write(data)
        self._sha.update(data)

    def _flush(self) -> None:
        if self._pending:
            self._emit(self._buf.getvalue().encode(self._codec))
            self._buf.seek(0)
            self._buf.truncate()
            self._pending = 0

    def _write_cells(self, cells: list[str], *, count: bool = True, bad_bytes: bytes | None = None) -> int:
        if bad_bytes is not None:
            self._flush()
            self._writer.writerow(cells)
            text = self._buf.getvalue()
            self._buf.seek(0)
            self._buf.truncate()
            return self.write_text(text, count=count, bad_bytes=bad_bytes)
        line = self.next_line
        self._pending += self._writer.writerow(cells)
        # The terminator is one line end; cells add theirs (notes keep "\n" line breaks).
        self.next_line += 1 + sum(cell.count("\n") for cell in cells if "\n" in cell)
        if count:
            self.rows += 1
        if self._pending >= self._FLUSH_CHARS:
            self._flush()
        return line

    def write_text(self, text: str, *, count: bool = True, bad_bytes: bytes | None = None) -> int:
        """Write one already-formatted row; returns the line it starts on."""
        self._flush()
        data = text.encode(self._codec)
        if bad_bytes is not None:
            data = data.replace(_PLACEHOLDER.encode(self._codec), bad_bytes)
        line = self.next_line
        self._emit(data)
        self.next_line += data.count(b"\n")
        if count:
            self.rows += 1
        return line

    def row(self, values: dict[str, str], *, bad_bytes: bytes | None = None) -> int:
        return self._write_cells([values.get(c, "") for c in self.columns], bad_bytes=bad_bytes)

    def close(self) -> str:
        self._flush()
        self._fh.close()
        return self._sha.hexdigest()


class _Formatter:
    def __init__(self, style: DateStyle, rng: random.Random, pad: bool) -> None:
        self._style = style
        self._rng = rng
        self._pad = pad

    def _us(self) -> bool:
        return self._style == "us" or (self._style == "mixed" and self._rng.random() < 0.3)

    def date(self, value: dt.date | None, *, open_ended: bool = False) -> str:
        if open_ended:
            return "9999-12-31"
        if value is None:
            return ""
        return value.strftime("%m/%d/%Y") if self._us() else value.isoformat()

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        # The US form has no seconds; synthetic timestamps are whole minutes, so nothing is lost.
        return (
            value.strftime("%m/%d/%Y %H:%M") if self._us() else value.isoformat(sep=" ", timespec="seconds")
        )

    def text(self, name: str, value: str | None) -> str:
        if value is None:
            return ""
        width = _PADDED.get(name)
        return value.ljust(width) if self._pad and width and len(value) < width else value


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


def write_g_export(
    practice: SyntheticPractice,
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    dirty: int = 0,
    files: Collection[str] | None = None,
    date_style: DateStyle = "iso",
    pad_text: bool = True,
    exported_at: dt.datetime | None = None,
    on_family: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write ``practice`` as a G export folder (or ``.zip`` when ``path`` ends in ``.zip``).

    ``files`` limits the export to those file names (the minimum set, say); ``dirty`` (0-3) injects defects;
    ``on_family`` is called with the number of patients written so far (progress; no values).
    """
    if dirty not in DIRTY_RATES:
        raise ConfigurationError("dirty must be 0, 1, 2 or 3")
    codec = normalise_encoding(encoding)
    encoding = "utf-8-sig" if codec == "utf-8-sig" else codec
    if encoding not in _BAD_BYTES:
        raise ConfigurationError("encoding must be utf-8, utf-8-sig or cp1252")
    if encoding == "cp1252" and practice.config.non_latin_names:
        raise ConfigurationError("a cp1252 export needs a practice generated with non_latin_names=False")
    target = Path(path)
    as_zip = target.suffix.lower() == ".zip"
    folder = target.with_name(target.name + ".parts") if as_zip else target
    folder.mkdir(parents=True, exist_ok=False)
    wanted = set(files) if files is not None else set(ALL_FILES)
    unknown = wanted - set(ALL_FILES)
    if unknown:
        raise ConfigurationError(f"unknown export files: {sorted(unknown)}")
    outs = {name: _Out(folder, name, encoding) for name in ALL_FILES if name in wanted}
    rate = DIRTY_RATES[dirty]
    defect_rng = random.Random(f"{practice.config.seed}:dirty:{dirty}")
    fmt = _Formatter(date_style, random.Random(f"{practice.config.seed}:dates"), pad_text)
    writer = _Writer(practice, outs, fmt, rate, defect_rng, _BAD_BYTES[encoding])
    writer.documents = folder / "documents"
    try:
        writer.shared()
        patients = 0
        for family in practice.families():
            for bundle in family.bundles:
                writer.bundle(bundle)
            patients += len(family.bundles)
            if on_family is not None:
                on_family(patients)
        for appointment in practice.unattached_appointments():
            writer.appointment(appointment)
        writer.orphans()
    finally:
        hashes = {name: out.close() for name, out in outs.items()}
    manifest = {
        "format": "dentrix-g-export",
        "format_version": 1,
        "dentrix_version": "G7.5",
        "data_version": "G7.5.0.212",
        "exported_at": (exported_at or dt.datetime(2025, 6, 30, 18, 2, 11, tzinfo=dt.UTC))
        .isoformat()
        .replace("+00:00", "Z"),
        "practice_timezone": practice.config.timezone,
        "encoding": encoding,
        "practice": {"name": practice.practice.name, "id1": practice.practice.practice_id},
        "files": {name: {"rows": out.rows, "sha256": hashes[name]} for name, out in outs.items()},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if as_zip:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for item in sorted(folder.rglob("*")):
                if item.is_file():
                    zf.write(item, arcname=item.relative_to(folder).as_posix())
        shutil.rmtree(folder)
    return ExportResult(
        path=target,
        encoding=encoding,
        rows={name: out.rows for name, out in outs.items()},
        patients=patients,
        defects=tuple(writer.defects),
    )


@attrs.define(eq=False)
class _Writer:
    p: SyntheticPractice
    outs: dict[str, _Out]
    f: _Formatter
    rate: float
    rng: random.Random
    bad_bytes: bytes
    defects: list[InjectedDefect] = attrs.field(init=False, factory=list)
    _duplicate_ids: int = attrs.field(init=False, default=800_000_000)
    _patient_defects: int = attrs.field(init=False, default=0)
    documents: Path | None = attrs.field(init=False, default=None)
    """The export's ``documents/`` folder, where each document's file is written."""

    def _defect(self) -> bool:
        return self.rate > 0 and self.rng.random() < self.rate

    def _log(self, out: _Out, line: int, kind: str, code: str | None, **kw: object) -> None:
        self.defects.append(InjectedDefect(file=out.name, line=line, kind=kind, code=code, **kw))  # type: ignore[arg-type]

    def _write(self, name: str, values: dict[str, str]) -> int | None:
        out = self.outs.get(name)
        return None if out is None else out.row(values)

    def _defs(
        self, name: str, rows: Iterable[CodeDefinition], id_col: str = "def_id", desc: str = "descript"
    ) -> None:
        for row in rows:
            self._write(name, {id_col: row.def_id, desc: _s(row.description)})

    def shared(self) -> None:
        p, f = self.p, self.f
        info = p.practice
        self._write(
            "v_practice_information.csv",
            {
                "practice_name": _s(info.name),
                "address_line1": _s(info.address_line1),
                "city": _s(info.city),
                "state": _s(info.state),
                "zip_code": _s(info.zipcode),
                "phone": _s(info.phone),
            },
        )
        self._defs("v_referral_specialty.csv", p.specialties, "defid", "Description")
        for pr in p.providers:
            self._write(
                "v_provider.csv",
                {
                    "provider_id": pr.provider_id,
                    "last_name": f.text("last_name", pr.last_name),
                    "first_name": f.text("first_name", pr.first_name),
                    "title": _s(pr.title),
                    "issecondaryprovider": "1" if pr.kind.value == "hygienist" else "0",
                    "specialty_id": _s(pr.specialty_id),
                    "specialty_description": _s(pr.specialty_description),
                    "npi": _s(pr.npi),
                    "email": _s(pr.email),
                    "work_phone": _s(pr.work_phone),
                    "isnonperson": _s(pr.is_non_person),
                    "inactive": _s(pr.inactive),
                    "automodifiedtimestamp": f.datetime(pr.modified_at),
                },
            )
        for st in p.staff:
            self._write(
                "v_staff.csv",
                {
                    "staff_id": st.staff_id,
                    "last_name": _s(st.last_name),
                    "first_name": _s(st.first_name),
                    "title": _s(st.title),
                    "inactive": "0",
                },
            )
        for op in p.operatories:
            self._write("v_operatory.csv", {"op_id": op.operatory_id, "op_title": _s(op.title)})
        for sc in p.appointment_statuses:
            self._write(
                "v_appt_status_codes.csv",
                {
                    "defid": sc.status_id,
                    "descript": _s(sc.description),
                    "meaning": _s(sc.meaning.value if sc.meaning else None),
                },
            )
        for at in p.appointment_types:
            self._write("v_appointment_types.csv", {"def_id": at.type_id, "descript": _s(at.description)})
        self._defs("v_payment_types.csv", p.payment_types)
        self._defs("v_adjustment_types.csv", p.adjustment_types)
        self._defs("v_billing_types.csv", p.billing_types)
        self._defs("v_document_types.csv", p.document_types, "dc_doctype_id", "doctype_desc")
        self._defs("v_practice_medical_alerts.csv", p.practice_medical_alerts)
        for em in p.employers:
            self._write(
                "v_employers.csv",
                {
                    "employer_id": em.employer_id,
                    "employer_name": _s(em.name),
                    "city": _s(em.city),
                    "state": _s(em.state),
                    "zip_code": _s(em.zipcode),
                },
            )
        for plan in p.insurance_plans:
            self._write(
                "v_insurance_plans.csv",
                {
                    "ins_id": plan.plan_id,
                    "ins_co_name": _s(plan.carrier_name),
                    "group_name": _s(plan.group_name),
                    "group_number": _s(plan.group_number),
                    "payor_id": _s(plan.payor_id),
                    "phone": _s(plan.phone),
                    "max_cov_person": _s(plan.max_coverage_person),
                    "max_cov_fam": _s(plan.max_coverage_family),
                    "renew_month": _s(plan.renew_month),
                },
            )
        for code in p.procedure_codes:
            self._write(
                "proccode.csv",
                {
                    "proccodeid": code.proc_code_id,
                    "adacode": _s(code.ada_code),
                    "abbrevdescript": _s(code.abbrev_description),
                    "descript": _s(code.description),
                    "autorecall": _s(code.auto_recall_type_id),
                },
            )
        for rt in p.recall_types:
            self._write(
                "recalltype.csv",
                {
                    "recallid": rt.recall_type_id,
                    "patid": "0",
                    "name": _s(rt.name),
                    "descript": _s(rt.description),
                    "interval_months": _s(rt.interval_months),
                },
            )
        for item in p.health_items:
            self._write(
                "hhitem.csv",
                {
                    "itemid": item.item_id,
                    "hhtype": str(item.hh_type),
                    "description": item.description,
                    "critical": _s(item.critical),
                },
            )
        for ref in p.referral_sources:
            self._write(
                "referral.csv",
                {
                    "refid": ref.referral_id,
                    "reftype": "0" if ref.is_non_person else "1",
                    "lastname": _s(ref.last_name),
                    "firstname": _s(ref.first_name),
                    "title": _s(ref.title),
                    "specialtyid": _s(ref.specialty_id),
                    "email": _s(ref.email),
                    "phone": _s(ref.phone),
                    "nonpersonflag": _s(ref.is_non_person),
                },
            )

    # ---------------------------------------------------------------------------------------- patients

    def _patient_values(self, b: PatientBundle, pt: Patient) -> dict[str, str]:
        f = self.f
        ins = b.insurance
        values = {
            "patient_id": pt.patient_id,
            "patient_guid": _s(pt.patient_guid),
            "last_name": f.text("last_name", pt.last_name),
            "first_name": f.text("first_name", pt.first_name),
            "mi": _s(pt.middle_initial),
            "preferred_name": _s(pt.preferred_name),
            "guar_id": _s(pt.guarantor_id),
            "address_line1": _s(pt.address_line1),
            "address_line2": _s(pt.address_line2),
            "city": f.text("city", pt.city),
            "state": _s(pt.state),
            "zipcode": _s(pt.zipcode),
            "home_phone": _s(pt.home_phone),
            "work_phone": _s(pt.work_phone),
            "work_ext": _s(pt.work_ext),
            "mobile_phone": _s(pt.mobile_phone),
            "chart_num": _s(pt.chart_number),
            "pri_provider_id": _s(pt.primary_provider_id),
            "sec_provider_id": _s(pt.secondary_provider_id),
            "gender": {"male": "1", "female": "2"}.get(pt.gender.value if pt.gender else "", "0"),
            "status": _s(pt.status_code),
            "birth_date": f.date(pt.birth_date),
            "first_visit_date": f.date(pt.first_visit_date),
            "last_visit_date": f.date(pt.last_visit_date),
            "num_of_missed_appointments": _s(pt.missed_appointment_count),
            "email": _s(pt.email),
            "note": _s(pt.note),
            "privacy_flags": str(int(pt.privacy_flags)),
            "employer_id": _s(pt.employer_id) or "0",
            "primdentalinsuredid": _s(pt.primary_dental_insured_id) or "0",
            "secdentalinsuredid": _s(pt.secondary_dental_insured_id) or "0",
            "fampos": {"single": "1", "married": "2", "child": "3", "other": "4"}.get(
                pt.family_position.value if pt.family_position else "", ""
            ),
            "isguar": _s(pt.is_guarantor),
            "isheadofhouse": _s(pt.is_head_of_house),
            "isinssubcriber": _s(pt.is_insurance_subscriber),
            "premed": _s(pt.premedication),
            "refbyid": _s(pt.referred_by_id) or "0",
            "refbytype": _REFBYTYPE[pt.referred_by_kind],
            "priminsrel": _s(ins.primary.relationship_code if ins.primary else None),
            "secinsrel": _s(ins.secondary.relationship_code if ins.secondary else None),
            "medalertmask1": _s(pt.medical_alert_mask1),
            "medalertmask2": _s(pt.medical_alert_mask2),
            "automodifiedtimestamp": f.datetime(pt.modified_at),
        }
        values.update(pt.extra)
        return values

    def bundle(self, b: PatientBundle) -> None:
        pt = b.patient
        pid = pt.patient_id
        f = self.f
        out = self.outs["v_patient.csv"]
        values = self._patient_values(b, pt)
        if self._defect():
            # Take the kinds in turn, so even a small dirty practice has every kind of defect.
            kind = _PATIENT_DEFECTS[self._patient_defects % len(_PATIENT_DEFECTS)]
            self._patient_defects += 1
            if kind == "bad_date":
                values["birth_date"] = self.rng.choice(
                    ("02/30/1985", "1985-13-01", "N/A", "00/00/0000", "31/12/1990")
                )
                line = out.row(values)
                self._log(out, line, kind, "bad_date", column="birth_date", patient_id=pid)
            elif kind == "broken_quoting":
                cells = [values.get(c, "") for c in out.columns]
                if any(ch in cell for cell in cells for ch in '",\r\n'):
                    out.row(values)  # a row that needs quoting of its own would blur the defect: leave it
                else:
                    text = ",".join(
                        ('"' + cell if c == "last_name" else cell)
                        for c, cell in zip(out.columns, cells, strict=True)
                    )
                    line = out.write_text(text + "\r\n")
                    self._log(out, line, kind, "broken_quoting", patient_id=pid, row_dropped=True)
            elif kind == "column_count":
                cells = [values.get(c, "") for c in out.columns]
                cells.insert(10, "Suite 5")  # an address typed with an unquoted comma
                line = out._write_cells(cells)
                self._log(out, line, kind, "column_count", patient_id=pid, row_dropped=True)
            elif kind == "invalid_bytes":
                values["note"] = f"Prefers {_PLACEHOLDER} text reminders"
                line = out.row(values, bad_bytes=self.bad_bytes)
                self._log(out, line, kind, "invalid_bytes", column="note", patient_id=pid)
            elif kind == "duplicate_key":
                out.row(values)
                line = out.row(values)
                self._log(out, line, kind, "duplicate_key", patient_id=pid, row_dropped=True)
            else:
                out.row(values)
                self._duplicate_ids += 1
                dup = dict(values, patient_id=str(self._duplicate_ids), guar_id=str(self._duplicate_ids))
                dup.update(primdentalinsuredid="0", secdentalinsuredid="0", refbyid="0", refbytype="")
                line = out.row(dup)
                self._log(out, line, kind, None, patient_id=str(self._duplicate_ids))
        else:
            out.row(values)
        if pt.guarantor_id in (None, pid) and b.guarantor_balance is not None:
            bal = b.guarantor_balance
            self._write(
                "v_guarantor_balance.csv",
                {
                    "guar_id": pid,
                    "balance_0_30_days": _s(bal.balance_0_30),
                    "balance_31_60_days": _s(bal.balance_31_60),
                    "balance_61_90_days": _s(bal.balance_61_90),
                    "balance_91_plus_days": _s(bal.balance_91_plus),
                    "last_payment_received_date": f.date(bal.last_payment_date),
                    "last_payment_amount": _s(bal.last_payment_amount),
                    "billing_type_description": _s(bal.billing_type_description),
                },
            )
        ins = b.insurance
        for cov in (ins.primary, ins.secondary):
            if cov is not None and cov.insured.subscriber_id == pid:
                i = cov.insured
                self._write(
                    "v_insured.csv",
                    {
                        "insured_id": i.insured_id,
                        "ins_plan_id": _s(i.plan_id),
                        "ins_party_id": _s(i.subscriber_id),
                        "id_num": _s(i.member_id),
                        "ins_type": _s(i.insurance_type),
                        "sigonfile": _s(i.signature_on_file),
                    },
                )
        if ins.primary or ins.secondary:
            self._write(
                "v_patient_insurance.csv",
                {
                    "patient_id": pid,
                    "primary_insured_id": ins.primary.insured.insured_id if ins.primary else "0",
                    "secondary_insured_id": ins.secondary.insured.insured_id if ins.secondary else "0",
                    "priminsrel": _s(ins.primary.relationship_code if ins.primary else None),
                    "secinsrel": _s(ins.secondary.relationship_code if ins.secondary else None),
                },
            )
        for appt in b.appointments:
            self.appointment(appt)
        case_of = {p.procedure_id: p.tx_case_id for c in b.treatment_cases for p in c.procedures}
        for proc in b.procedures:
            row = {
                "procid": proc.procedure_id,
                "patid": pid,
                "guarid": _s(proc.guarantor_id),
                "procdate": f.date(proc.date),
                "proccodeid": _s(proc.proc_code_id),
                "adacode": _s(proc.ada_code),
                "chartstatus": _s(proc.chart_status_code),
                "proclogclass": _s(proc.proc_log_class),
                "status_text": _s(proc.status.value if proc.status else None),
                "ledger_type": "procedure",
                "provid": _s(proc.provider_id),
                "amt": _s(proc.amount),
                "tooth": _s(proc.tooth),
                "surface": _s(proc.surfaces),
                **{
                    f"surf{ch.lower()}": "1" if proc.surfaces and ch in proc.surfaces else "0"
                    for ch in "MODLF5"
                },
                "txcaseid": _s(case_of.get(proc.procedure_id)) or "0",
                "createdate": f.date(proc.created_date),
                "completiondate": f.date(proc.completion_date),
                "automodifiedtimestamp": f.datetime(proc.modified_at),
            }
            fp = self.outs.get("fullproclog.csv")
            if fp is not None and self._defect():
                row["amt"] = self.rng.choice(("12.3.4", "$-", "abc"))
                line = fp.row(row)
                self._log(fp, line, "bad_number", "bad_number", column="amt", patient_id=pid)
            else:
                self._write("fullproclog.csv", row)
        for tx in b.ledger:
            if tx.kind is LedgerEntryType.PROCEDURE:
                continue  # the procedure row above is the charge
            self._write(
                "fullproclog.csv",
                {
                    "procid": tx.transaction_id,
                    "patid": pid,
                    "guarid": _s(tx.guarantor_id),
                    "procdate": f.date(tx.date),
                    "proccodeid": "0",
                    "chartstatus": "90",
                    "proclogclass": "1",
                    "ledger_type": tx.kind.value,
                    "type_def_id": _s(tx.type_id),
                    "provid": _s(tx.provider_id),
                    "amt": _s(tx.amount),
                    "checknum": _s(tx.check_number),
                    "txcaseid": "0",
                },
            )
        for case in b.treatment_cases:
            self._write(
                "txcase.csv",
                {
                    "txcaseid": case.case_id,
                    "patid": pid,
                    "status": _s(case.status_code),
                    "status_text": _s(case.status.value if case.status else None),
                    "descript": _s(case.description),
                    "createdate": f.date(case.created_date),
                    "priority": _s(case.priority),
                    "isdefault": _s(case.is_default),
                },
            )
        for note in b.clinical_notes:
            self._write(
                "v_clinical_notes.csv",
                {
                    "cnotes_id": note.note_id,
                    "patient_id": pid,
                    "provider_id": _s(note.provider_id),
                    "create_date_time_stamp": f.datetime(note.created_at),
                    "entry_date_time_stamp": f.datetime(note.entered_at),
                    "note_text": _s(note.text),
                    "note_locked": _s(note.locked),
                    "modified_time_stamp": f.datetime(note.modified_at),
                },
            )
        for recall in b.recalls:
            self._write(
                "recallpending.csv",
                {
                    "recallid": recall.recall_type_id,
                    "patid": pid,
                    "guarid": _s(pt.guarantor_id),
                    "duedate": f.date(recall.due_date),
                    "setdate": f.date(recall.set_date),
                    "priordate": f.date(recall.prior_date),
                    "apptid": _s(recall.appointment_id) or "0",
                    "provid": _s(recall.provider_id),
                    "status": _s(recall.status),
                },
            )
        for doc in b.documents:
            self._write(
                "document.csv",
                {
                    "docid": doc.document_id,
                    "doctypeid": _s(doc.type_id),
                    "descript": _s(doc.description),
                    "createdate": f.date(doc.created_date),
                    "pages": _s(doc.pages),
                    "file_path": _s(doc.file_path),
                    "mime_type": _s(doc.mime_type),
                    "sha256": _s(doc.sha256),
                    "url": _s(doc.url),
                },
            )
            if doc.file_path and self.documents is not None and "document.csv" in self.outs:
                # The file travels with the export under documents/ (ids-only content, see synth._documents).
                target = self.documents.joinpath(*PurePosixPath(doc.file_path).parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(document_bytes(self.p.config.seed, doc.document_id))
            self._write(
                "docattach.csv",
                {
                    "attachid": doc.document_id,
                    "docid": doc.document_id,
                    "attachtotype": _PATIENT_ATTACH_TYPE,
                    "attachtoentityid": pid,
                },
            )
        for img in b.imaging:
            self._write(
                "images.csv",
                {
                    "patient_id": pid,
                    "imaging_system": img.imaging_system,
                    "image_id": img.image_id,
                    "image_date": f.date(img.image_date),
                    "modality": _s(img.modality),
                    "tooth": _s(img.tooth),
                    "file_path": _s(img.file_path),
                },
            )
        for ref in b.referrals:
            self._write(
                "refacts.csv",
                {
                    "refactsid": _s(ref.activity_id),
                    "refid": ref.referral_id,
                    "patid": pid,
                    "refactdate": f.date(ref.date),
                    "refactstype": _s(ref.activity_type),
                    "refbytype": "referral"
                    if ref.referred_by_kind is ReferrerKind.REFERRAL_SOURCE
                    else "patient",
                },
            )
        items = {h.description: h.item_id for h in self.p.health_items}
        for alert in b.medical_alerts:
            if alert.kind in _CHART_ALERT_KINDS:
                self._write(
                    "hhlinkpat_item.csv",
                    {
                        "linkid": alert.alert_id,
                        "patid": pid,
                        "hhitemid": items[alert.description or ""],
                        "status": _s(alert.status),
                        "reporteddate": f.date(alert.reported_date),
                        "startdate": f.date(alert.start_date),
                        "enddate": f.date(alert.end_date, open_ended=alert.open_ended),
                        "note": _s(alert.note),
                        "critical": _s(alert.critical),
                    },
                )
            elif alert.kind is MedicalAlertKind.PATIENT_ALERT:
                self._write(
                    "patalerts.csv",
                    {
                        "alertid": alert.alert_id,
                        "patid": pid,
                        "descript": _s(alert.description),
                        "startdate": f.date(alert.start_date),
                        "enddate": f.date(alert.end_date, open_ended=alert.open_ended),
                    },
                )
        for entry in b.journal:
            self._write(
                "contact.csv",
                {
                    "contactid": entry.contact_id,
                    "patid": pid,
                    "contactdate": f.datetime(entry.contacted_at),
                    "contacttype": _s(entry.contact_type_code),
                    "contact_kind": entry.kind.value,
                    "provid": _s(entry.provider_id),
                    "title": _s(entry.title),
                    "notetext": _s(entry.text),
                },
            )

    def appointment(self, a: Appointment) -> None:
        f = self.f
        out = self.outs.get("v_appointment.csv")
        if out is None:
            return
        values = {
            "appointment_id": a.appointment_id,
            "patient_id": a.patient_id or "0",
            "patient_name": _s(a.patient_name),
            "appointment_date": f.date(a.start.date() if a.start else None),
            "start_hour": _s(a.start.hour if a.start else None),
            "start_minute": _s(a.start.minute if a.start else None),
            "length": _s(a.length_min),
            "provider_id": _s(a.provider_id),
            "addtnl_provider_id": _s(a.additional_provider_id),
            "operatory_id": _s(a.operatory_id),
            "status_id": _s(a.status_id),
            "appttype": _s(a.type_id) or "0",
            "reason": _s(a.reason),
            "note": _s(a.note),
            "amount": _s(a.amount),
            "broken": _s(a.broken),
            "broken_date": f.date(a.broken_date),
            "deleted": _s(a.deleted),
            "on_unscheduled_list": _s(a.on_unscheduled_list),
            "create_date": f.date(a.created_date),
            "modified_time_stamp": f.datetime(a.modified_at),
        }
        if self._defect():
            if self.rng.random() < 0.5:
                values["appointment_date"] = self.rng.choice(("2024-02-30", "13/45/2024", "tomorrow"))
                line = out.row(values)
                self._log(
                    out, line, "bad_date", "bad_date", column="appointment_date", patient_id=a.patient_id
                )
            else:
                values["provider_id"] = "ZZZ9"
                line = out.row(values)
                self._log(
                    out,
                    line,
                    "dangling_reference",
                    "dangling_reference",
                    column="provider_id",
                    patient_id=a.patient_id,
                )
        else:
            out.row(values)
        for slot in a.procedures:
            self._write(
                "appt_procedures.csv",
                {
                    "apptid": a.appointment_id,
                    "seq": str(slot.sequence),
                    "codetype": str(slot.code_type),
                    "codeid": slot.code_id,
                    "adacode": _s(slot.ada_code),
                    "tooth": _s(slot.tooth),
                    "surface": _s(slot.surfaces),
                    "abbrevdescript": _s(slot.abbrev_description),
                },
            )

    def orphans(self) -> None:
        """Ledger rows of a patient that does not exist (dropped by the reader as dangling)."""
        out = self.outs.get("fullproclog.csv")
        if out is None or self.rate == 0:
            return
        for n in range(max(1, int(self.p.config.patients * self.rate / 10))):
            line = out.row(
                {
                    "procid": str(990_000_000 + n),
                    "patid": _DANGLING_PATIENT,
                    "procdate": "2024-01-02",
                    "proccodeid": "106",
                    "chartstatus": "102",
                    "proclogclass": "0",
                    "ledger_type": "procedure",
                    "provid": "DDS1",
                    "amt": "98.00",
                }
            )
            self._log(out, line, "dangling_reference", "dangling_reference", column="patid", row_dropped=True)
