"""The Data Availability Report: fill rates, value shapes, mapping status per field, issue summaries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from dentrix_highlevel.mapping import (
    DefaultMapOptions,
    FieldMap,
    FieldRule,
    StandardField,
    Trim,
    default_maps,
)
from dentrix_highlevel.mapping._propose import ColumnProfile, ValueShape
from dentrix_highlevel.migration import AvailabilityReport, MappingStatus
from dentrix_highlevel.migration._plan.availability import AvailabilityCollector, summarise_issues
from dentrix_highlevel.records import (
    Appointment,
    GuarantorBalance,
    Patient,
    PatientBundle,
    PatientStatus,
    Provider,
)
from dentrix_highlevel.sources import SourceIssue

MAPS = default_maps(DefaultMapOptions(as_of=dt.datetime(2025, 6, 30))).all()


def bundle(pid: str, **patient: Any) -> PatientBundle:
    fields: dict[str, Any] = {"guarantor_id": pid, "status": PatientStatus.PATIENT}
    fields.update(patient)
    return PatientBundle(patient=Patient(patient_id=pid, **fields), practice_timezone="America/Denver")


def report(
    bundles: list[PatientBundle], maps: dict[str, FieldMap] | None = None, **kw: Any
) -> AvailabilityReport:
    collector = AvailabilityCollector(distinct_cap=kw.pop("distinct_cap", 50))
    for b in bundles:
        collector.add_bundle(b)
    collector.add_providers(kw.pop("providers", ()))
    return collector.report(MAPS if maps is None else maps, **kw)


def test_fill_rate_and_shapes_are_counted_without_values() -> None:
    rows = [
        bundle("1", email="a@example.test", home_phone="801-555-0100", birth_date=dt.date(1990, 1, 2)),
        bundle("2", email="not an e-mail", home_phone="555-0100"),
        bundle("3", email="b@example.test"),
        bundle("4"),
    ]
    result = report(rows)
    email = result.field("patient", "email")
    assert (email.profile.rows, email.profile.filled, email.fill_rate) == (4, 3, 0.75)
    assert dict(email.profile.shapes) == {ValueShape.EMAIL: 2, ValueShape.TEXT: 1}
    assert email.profile.distinct == 2 + 1
    phone = result.field("patient", "home_phone")
    assert phone.fill_rate == 0.5
    assert phone.profile.shapes[ValueShape.PHONE] == 1
    birth = result.field("patient", "birth_date")
    assert (birth.fill_rate, dict(birth.profile.shapes)) == (0.25, {ValueShape.DATE: 1})
    # Profiles hold counts, never the values themselves.
    assert "example.test" not in repr(result)


def test_distinct_counts_are_capped() -> None:
    result = report([bundle(str(i), city=f"City {i}") for i in range(30)], distinct_cap=10)
    city = result.field("patient", "city")
    assert (city.profile.distinct, city.profile.distinct_capped) == (10, True)
    assert result.field("patient", "state").profile.distinct == 0


def test_mapping_status_and_reason_per_field() -> None:
    result = report(
        [bundle("1", first_name="Ana", birth_date=dt.date(1990, 1, 2), fax="1", chart_number="007")]
    )
    expected = {
        "birth_date": MappingStatus.DIRECT,  # dateOfBirth, no transform
        "first_name": MappingStatus.TRANSFORM,  # Trim | NameCase
        "chart_number": MappingStatus.CUSTOM_FIELD,
        "fax": MappingStatus.NOT_MIGRATABLE,
        "middle_initial": MappingStatus.UNMAPPED,
        "employer_id": MappingStatus.NOT_MIGRATABLE,  # an internal link
        "privacy_flags": MappingStatus.TRANSFORM,  # read by a computed source (DND)
    }
    for name, status in expected.items():
        assert result.field("patient", name).status is status, name
    chart = result.field("patient", "chart_number")
    assert chart.targets == ("contact: contact.chart_number",)
    assert chart.profile.leading_zeros == 1
    assert result.field("patient", "fax").reason == "HighLevel contacts have no fax field"
    assert result.field("patient", "middle_initial").reason == "no rule in the map reads it"
    # A field feeding a standard field and a custom field shows the standard one first.
    status = result.field("patient", "status")
    assert status.status is MappingStatus.TRANSFORM
    assert "contact: contact.patient_status" in status.targets


def test_the_status_follows_the_map_given() -> None:
    only_city = {
        "contact": FieldMap(
            schema=PatientBundle,
            rules=[FieldRule(source="patient.city", target=StandardField("city"), transform=Trim())],
        )
    }
    result = report([bundle("1", city="Provo", email="a@example.test")], maps=only_city)
    assert result.field("patient", "city").status is MappingStatus.TRANSFORM
    assert result.field("patient", "email").status is MappingStatus.UNMAPPED


def test_related_records_and_shared_rows_are_profiled_once() -> None:
    start = dt.datetime(2025, 7, 1, 9, 0)
    balance = GuarantorBalance(guarantor_id="1", balance_0_30=Decimal("12.50"))
    b1 = PatientBundle(
        patient=Patient(patient_id="1", guarantor_id="1"),
        practice_timezone="UTC",
        guarantor_balance=balance,
        appointments=(
            Appointment(appointment_id="a1", patient_id="1", start=start, length_min=30),
            Appointment(appointment_id="a2", patient_id="1", start=None),
        ),
    )
    # A family member sees the same guarantor balance: it is one row of the file.
    b2 = PatientBundle(
        patient=Patient(patient_id="2", guarantor_id="1"), practice_timezone="UTC", guarantor_balance=balance
    )
    result = report([b1, b2], providers=[Provider(provider_id="DDS1"), Provider(provider_id="DDS1")])
    files = {f.record: f for f in result.files}
    assert files["appointment"].records == 2
    assert files["guarantor_balance"].records == 1
    assert files["provider"].records == 1
    start_field = result.field("appointment", "start")
    assert (start_field.fill_rate, dict(start_field.profile.shapes)) == (0.5, {ValueShape.DATETIME: 1})
    assert start_field.status is MappingStatus.TRANSFORM
    assert result.field("appointment", "patient_id").reason == "links the record to its patient's contact"
    bucket = result.field("guarantor_balance", "balance_0_30")
    assert (bucket.status, dict(bucket.profile.shapes)) == (MappingStatus.CUSTOM_FIELD, {ValueShape.MONEY: 1})
    assert files["ledger"].records == 0


def test_extra_columns_are_profiled_and_offered_to_the_proposer() -> None:
    rows = [
        bundle("1"),
        bundle("2", extra={"Pref. Hygienist": "HYG1"}),
        bundle("3", extra={"Pref. Hygienist": "HYG2", "Emergency Phone": "801-555-0199"}),
        bundle("4", extra={"Pref. Hygienist": ""}),
    ]
    result = report(rows)
    hygienist = result.field("patient", "extra.Pref. Hygienist")
    # Rows before the column first appeared count as blank.
    assert (hygienist.profile.rows, hygienist.profile.filled) == (4, 2)
    assert hygienist.status is MappingStatus.UNMAPPED
    assert hygienist.reason == "practice-specific column: see the proposals"
    columns = result.extra_columns()
    assert [c.name for c in columns] == ["Emergency Phone", "Pref. Hygienist"]
    assert all(isinstance(c, ColumnProfile) and c.source == "v_patient.csv" for c in columns)
    assert columns[0].shapes == {ValueShape.PHONE: 1}


def test_file_counts_are_attached_when_the_source_has_them() -> None:
    class Count:
        present = True
        rows = 7
        dropped = 1
        issues = 2

    result = report([bundle("1")], counts={"v_patient.csv": Count()})
    patient = next(f for f in result.files if f.record == "patient")
    assert (patient.present, patient.records, patient.rows, patient.dropped, patient.issues) == (
        True,
        1,
        7,
        1,
        2,
    )
    recall = next(f for f in result.files if f.record == "recall")
    assert (recall.present, recall.rows) == (False, None)


def test_issue_summary_counts_codes_and_keeps_located_lines() -> None:
    issues = [
        SourceIssue(file="v_patient.csv", line=4, column="birth_date", code="bad_date", message="not a date"),
        SourceIssue(file="v_patient.csv", line=9, column="birth_date", code="bad_date", message="not a date"),
        SourceIssue(
            file="fullproclog.csv",
            line=3,
            column="patid",
            code="dangling_reference",
            message="no patient",
            row_dropped=True,
        ),
    ]
    summary = summarise_issues(issues, max_lines=2)
    assert summary.total == 3
    assert dict(summary.by_code) == {"bad_date": 2, "dangling_reference": 1}
    assert summary.lines == (
        "v_patient.csv:4 [birth_date]: bad_date: not a date",
        "v_patient.csv:9 [birth_date]: bad_date: not a date",
    )
    assert summary.rows_dropped == 1
