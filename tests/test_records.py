"""The record model: codes, derived values, PHI-free reprs and a stable content hash."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from dentrix_highlevel import records as r


def _bundle() -> r.PatientBundle:
    patient = r.Patient(
        patient_id="0042",
        guarantor_id="0042",
        status=r.PatientStatus.PATIENT,
        last_name="Zebrowski",
        first_name="Anneliese",
        email="anneliese@example.com",
        home_phone="(801) 555-1234",
        birth_date=dt.date(1984, 7, 2),
        extra={"Pref. Hygienist": "HYG1"},
        modified_at=dt.datetime(2025, 1, 2, 3, 4),
    )
    appointment = r.Appointment(
        appointment_id="77",
        patient_id="0042",
        start=dt.datetime(2025, 7, 1, 9, 30),
        length_min=60,
        note="Nervous about needles",
        modified_at=dt.datetime(2025, 6, 1, 8, 0),
    )
    case = r.TreatmentPlanCase(
        case_id="5",
        patient_id="0042",
        procedures=(
            r.Procedure(procedure_id="1", patient_id="0042", amount=Decimal("100.50")),
            r.Procedure(procedure_id="2", patient_id="0042", amount=None),
            r.Procedure(procedure_id="3", patient_id="0042", amount=Decimal("20.00")),
        ),
    )
    return r.PatientBundle(
        patient=patient,
        practice_timezone="America/Denver",
        appointments=(appointment,),
        treatment_cases=(case,),
        clinical_notes=(r.ClinicalNote(note_id="9", patient_id="0042", text="Patient reports pain"),),
    )


def test_codes() -> None:
    assert r.PatientStatus.from_code(4) is r.PatientStatus.ARCHIVED
    assert r.PatientStatus.from_code(9) is None
    assert r.PatientStatus.NON_PATIENT.code == 2
    assert r.Gender.from_code(2) is r.Gender.FEMALE
    assert r.Gender.from_code(0) is None
    assert r.FamilyPosition.from_code(3) is r.FamilyPosition.CHILD
    flags = r.PrivacyFlag(3)
    assert r.PrivacyFlag.NO_VOICE_CALLS in flags
    assert r.PrivacyFlag.NO_CORRESPONDENCE in flags


def test_derived_values() -> None:
    bundle = _bundle()
    assert bundle.appointments[0].end == dt.datetime(2025, 7, 1, 10, 30)
    assert r.Appointment(appointment_id="1").end is None
    assert bundle.treatment_cases[0].total_amount == Decimal("120.50")
    assert bundle.modified_at == dt.datetime(2025, 6, 1, 8, 0)
    assert bundle.patient_id == "0042"
    assert bundle.patient.is_own_guarantor
    balance = r.GuarantorBalance(
        guarantor_id="1", balance_0_30=Decimal("1.10"), balance_91_plus=Decimal("2.00")
    )
    assert balance.total == Decimal("3.10")
    insured = r.Insured(insured_id="1", subscriber_id="0042")
    assert r.Coverage(rank=r.CoverageRank.PRIMARY, insured=insured).subscriber_is_patient


def test_records_are_frozen_and_hashable() -> None:
    bundle = _bundle()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        bundle.patient.last_name = "x"  # type: ignore[misc]
    assert hash(bundle.patient) == hash(attrs.evolve(bundle.patient))


def test_reprs_show_identifiers_only() -> None:
    bundle = _bundle()
    text = repr(bundle) + repr(bundle.patient) + repr(bundle.appointments) + repr(bundle.clinical_notes)
    for value in (
        "Zebrowski",
        "Anneliese",
        "example.com",
        "555-1234",
        "1984",
        "Nervous",
        "pain",
        "HYG1",
        "datetime",
    ):
        assert value not in text
    assert "0042" in text


def test_content_hash_is_stable_and_sensitive() -> None:
    bundle = _bundle()
    assert bundle.content_hash() == _bundle().content_hash()
    assert len(bundle.content_hash()) == 64
    changed = attrs.evolve(bundle, patient=attrs.evolve(bundle.patient, extra={"Pref. Hygienist": "HYG2"}))
    assert changed.content_hash() != bundle.content_hash()
    other_zone = attrs.evolve(bundle, practice_timezone="America/Boise")
    assert other_zone.content_hash() != bundle.content_hash()
    # The same in another process (no hash randomisation, no id()s).
    code = (
        "import sys; sys.path.insert(0, '.'); from test_records import _bundle; "
        "print(_bundle().content_hash())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
    )
    assert out.stdout.strip() == bundle.content_hash()
