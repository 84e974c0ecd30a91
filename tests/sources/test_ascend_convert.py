"""Ascend JSON → records: whatever a field holds, the object is read or the field is a located issue.

Property tests over every field map entry of patients and appointments: a random JSON value in one field
never raises, never leaks into an issue message, and either becomes a value or an issue naming the field
(blank values — null, empty or whitespace text, empty arrays — are simply unknown).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.records import AppointmentStatusMeaning, Gender, PatientStatus
from dentrix_highlevel.sources import AscendCodes, AscendResources
from dentrix_highlevel.sources._ascend_convert import Converter, json_path
from dentrix_highlevel.sources._issues import SourceIssue

TZ = ZoneInfo("America/Denver")
RESOURCES = AscendResources()

PATIENT: dict[str, Any] = {
    "id": "7000000001001",
    "lastModified": "2025-03-01T17:22:05.120Z",
    "firstName": "Ana",
    "lastName": "Lopez",
    "gender": "F",
    "dateOfBirth": "1984-07-02",
    "patientStatus": "ACTIVE",
    "phones": [{"phoneType": "MOBILE", "number": "8015551234", "extension": ""}],
    "emails": [{"address": "ana@example.com", "isPrimary": True}],
    "primaryGuarantor": {"id": "7000000001001"},
}
APPOINTMENT: dict[str, Any] = {
    "id": "7000000000120",
    "start": "2025-07-01T15:00:00.000Z",
    "duration": 60,
    "status": "CONFIRMED",
    "patient": {"id": "7000000001001"},
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**15), max_value=10**15)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def converter(issues: list[SourceIssue]) -> Converter:
    return Converter(
        resources=RESOURCES, codes=AscendCodes(), tz=TZ, issues=issues, provider_key="short_name"
    )


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = {**base}
    parts = path.split(".")
    if len(parts) == 1:
        obj[path] = value
    else:
        obj[parts[0]] = {parts[1]: value}
    return obj


def blank(value: Any) -> bool:
    return value is None or value == [] or (isinstance(value, str) and not value.strip())


def leaked(path: str, value: Any, issues: list[SourceIssue]) -> bool:
    """A non-id value quoted in an issue message (ids are identifiers, allowed in messages)."""
    if path == "id" or path.endswith(".id"):
        return False
    text = value if isinstance(value, str) else None
    return bool(text and len(text.strip()) >= 4 and any(text.strip() in i.message for i in issues))


@settings(max_examples=100, deadline=None)
@given(attribute=st.sampled_from(sorted(RESOURCES.patients.fields)), value=json_values)
def test_any_value_in_a_patient_field_is_read_or_an_issue(attribute: str, value: Any) -> None:
    path = RESOURCES.patients.fields[attribute]
    issues: list[SourceIssue] = []
    patient = converter(issues).patient(with_value(PATIENT, path, value))
    if attribute == "patient_id" and (blank(value) or isinstance(value, bool | dict | list)):
        assert patient is None
        assert {i.column for i in issues} == {"id"}
        return
    assert patient is not None
    assert all(i.record_key in (patient.patient_id, None) for i in issues)
    assert {i.column for i in issues} <= {path}
    assert not leaked(path, value, issues)


@settings(max_examples=60, deadline=None)
@given(attribute=st.sampled_from(sorted(RESOURCES.appointments.fields)), value=json_values)
def test_any_value_in_an_appointment_field_is_read_or_an_issue(attribute: str, value: Any) -> None:
    path = RESOURCES.appointments.fields[attribute]
    issues: list[SourceIssue] = []
    appointment = converter(issues).appointment(with_value(APPOINTMENT, path, value))
    if attribute == "appointment_id" and (blank(value) or isinstance(value, bool | dict | list)):
        assert appointment is None
        return
    assert appointment is not None
    assert {i.column for i in issues} <= {path}
    assert not leaked(path, value, issues)


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        ("dateOfBirth", "1984-07-02", "birth_date", dt.date(1984, 7, 2)),
        ("dateOfBirth", "1984-07-02T06:00:00Z", "birth_date", dt.date(1984, 7, 2)),
        ("dateOfBirth", "1984-07-02T03:00:00Z", "birth_date", dt.date(1984, 7, 1)),  # local date in Denver
        (
            "lastModified",
            "2025-01-15T16:30:00.250Z",
            "modified_at",
            dt.datetime(2025, 1, 15, 9, 30, 0, 250000),
        ),
        (
            "lastModified",
            "2025-07-01T15:00:00",
            "modified_at",
            dt.datetime(2025, 7, 1, 9, 0),
        ),  # zone-less = UTC
        ("gender", "o", "gender", Gender.OTHER),
        ("patientStatus", "non-patient", "status", PatientStatus.NON_PATIENT),
        ("chartNumber", 4521, "chart_number", "4521"),
        ("chartNumber", "  007  ", "chart_number", "007"),
    ],
)
def test_values(field: str, value: Any, attribute: str, expected: Any) -> None:
    issues: list[SourceIssue] = []
    patient = converter(issues).patient({**PATIENT, field: value})
    assert patient is not None
    assert getattr(patient, attribute) == expected
    assert issues == []


def test_phones_emails_and_legacy_email() -> None:
    issues: list[SourceIssue] = []
    obj = {
        **PATIENT,
        "phones": [
            {"phoneType": "HOME", "number": "8015550100", "extension": "12"},
            {"phoneType": "WORK", "number": 8015550101, "extension": "345"},
            {"phoneType": "FAX", "number": "8015550102"},
            {"phoneType": "HOME", "number": "8015550199"},
        ],
        "emails": [
            {"address": "second@example.com", "isPrimary": False, "sequence": 2},
            {"address": "first@example.com", "isPrimary": True, "sequence": 1},
        ],
    }
    patient = converter(issues).patient(obj)
    assert patient is not None
    assert (patient.home_phone, patient.work_phone, patient.work_ext) == (
        "8015550100 x12",
        "8015550101",
        "345",
    )
    assert (patient.other_phone, patient.mobile_phone) == ("8015550102", None)
    assert patient.email == "first@example.com"
    legacy = converter(issues).patient({**PATIENT, "emails": [], "emailAddress": "old@example.com"})
    assert legacy is not None
    assert legacy.email == "old@example.com"
    assert issues == []


def test_appointment_codes_and_unknown_references() -> None:
    issues: list[SourceIssue] = []
    conv = converter(issues)
    appointment = conv.appointment(
        {**APPOINTMENT, "status": "no_show", "provider": {"id": "1"}, "operatory": {"id": "2"}}
    )
    assert appointment is not None
    assert appointment.status_id == "NO_SHOW"
    assert appointment.status_description == "No Show"
    assert appointment.status_meaning is AppointmentStatusMeaning.BROKEN
    assert appointment.broken
    assert appointment.start == dt.datetime(2025, 7, 1, 9, 0)
    assert appointment.end == dt.datetime(2025, 7, 1, 10, 0)
    assert sorted((i.column, i.code) for i in issues) == [
        ("operatory.id", "dangling_reference"),
        ("provider.id", "dangling_reference"),
    ]


def test_json_path() -> None:
    obj = {"a": {"b": {"c": 1}}, "n": None, "l": [1]}
    assert json_path(obj, "a.b.c") == 1
    assert json_path(obj, "a.x.c") is None
    assert json_path(obj, "n.x") is None
    assert json_path(obj, "l.x") is None
    assert json_path(obj, "l") == [1]
