"""The default Dentrix → HighLevel maps applied to bundles built by hand, with the exact payloads expected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.mapping import (
    LIFECYCLE_STAGES,
    DefaultMapOptions,
    PracticeSettings,
    default_maps,
    lifecycle_stage,
    loads_map,
    map_to_dict,
    patient_disposition,
)
from dentrix_highlevel.mapping._serialize import dumps_map
from dentrix_highlevel.records import (
    Appointment,
    AppointmentProcedure,
    AppointmentStatusMeaning,
    ClinicalNote,
    Coverage,
    CoverageRank,
    Document,
    GuarantorBalance,
    ImagingLink,
    InsurancePlan,
    Insured,
    JournalEntryKind,
    MedicalAlert,
    MedicalAlertKind,
    OfficeJournalEntry,
    Patient,
    PatientBundle,
    PatientInsurance,
    PatientStatus,
    PrivacyFlag,
    Procedure,
    ProcedureStatus,
    Provider,
    ProviderKind,
    Recall,
    ReferralSource,
    ReferredBy,
    ReferrerKind,
    TreatmentCaseStatus,
    TreatmentPlanCase,
)

AS_OF = dt.datetime(2025, 6, 30, 12, 0)
OPTIONS = DefaultMapOptions(as_of=AS_OF)
DENVER = PracticeSettings(timezone="America/Denver")
MAPS = default_maps(OPTIONS)


def appointment(appointment_id: str, start: dt.datetime, **kw: object) -> Appointment:
    return Appointment(appointment_id=appointment_id, patient_id="1001", start=start, **kw)  # type: ignore[arg-type]


def ana() -> PatientBundle:
    patient = Patient(
        patient_id="1001",
        guarantor_id="1001",
        status=PatientStatus.PATIENT,
        chart_number="00042",
        first_name="ANA ",
        last_name="lopez",
        preferred_name="Annie",
        birth_date=dt.date(1984, 7, 2),
        address_line1="12 Main St",
        address_line2="Apt 3",
        city="Provo",
        state="UT",
        zipcode="08401",
        home_phone="801-555-1234",
        work_phone="(385) 555-0142 x12",
        mobile_phone="801.555.9876",
        email="Ana.Lopez@Example.com",
        primary_provider_id="DDS1",
        first_visit_date=dt.date(2019, 2, 11),
        last_visit_date=dt.date(2025, 3, 3),
        privacy_flags=PrivacyFlag.NO_VOICE_CALLS,
        premedication=True,
    )
    plan = InsurancePlan(plan_id="P1", carrier_name="Delta Dental ", group_number="G-100", group_name="Acme")
    insurance = PatientInsurance(
        primary=Coverage(
            rank=CoverageRank.PRIMARY,
            insured=Insured(insured_id="I1", plan_id="P1", member_id=" M778 "),
            plan=plan,
        ),
        secondary=Coverage(
            rank=CoverageRank.SECONDARY,
            insured=Insured(insured_id="I2", member_id="S-9"),
            plan=InsurancePlan(plan_id="P2", carrier_name="Aetna", group_name="Beta Corp"),
        ),
    )
    procedures = (
        Procedure(
            procedure_id="p1",
            patient_id="1001",
            date=dt.date(2024, 9, 1),
            ada_code="D1110",
            description="Prophy",
            status=ProcedureStatus.COMPLETED,
        ),
        Procedure(
            procedure_id="p2",
            patient_id="1001",
            date=dt.date(2025, 3, 3),
            ada_code="D2391",
            tooth="14",
            surfaces="MO",
            status=ProcedureStatus.COMPLETED,
        ),
        Procedure(
            procedure_id="p3",
            patient_id="1001",
            date=dt.date(2025, 3, 3),
            ada_code="D2740",
            tooth="3",
            status=ProcedureStatus.TREATMENT_PLANNED,
            amount=Decimal("1200.00"),
        ),
    )
    case = TreatmentPlanCase(
        case_id="c1",
        patient_id="1001",
        status=TreatmentCaseStatus.PROPOSED,
        description="Crown #3",
        created_date=dt.date(2025, 3, 3),
        procedures=(procedures[2],),
    )
    return PatientBundle(
        patient=patient,
        practice_timezone="America/Denver",
        family_member_ids=("1001", "1002"),
        insurance=insurance,
        procedures=procedures,
        clinical_notes=(
            ClinicalNote(
                note_id="n1",
                patient_id="1001",
                created_at=dt.datetime(2025, 3, 3, 9, 15),
                text="MO comp #14.",
            ),
            ClinicalNote(
                note_id="n2", patient_id="1001", created_at=dt.datetime(2024, 9, 1, 8, 0), text="Prophy, OHI."
            ),
        ),
        treatment_cases=(case,),
        recalls=(
            Recall(patient_id="1001", recall_type_id="2", type_name="Perio", due_date=dt.date(2025, 9, 3)),
            Recall(patient_id="1001", recall_type_id="1", type_name="Prophy", due_date=dt.date(2025, 9, 1)),
        ),
        guarantor_balance=GuarantorBalance(
            guarantor_id="1001",
            balance_0_30=Decimal("40.00"),
            balance_31_60=Decimal("10.50"),
            balance_91_plus=Decimal("-5.00"),
            last_payment_date=dt.date(2025, 5, 1),
        ),
        referred_by=ReferredBy(
            kind=ReferrerKind.REFERRAL_SOURCE,
            referrer_id="R7",
            source=ReferralSource(
                referral_id="R7", first_name="Sam", last_name="Reed", title="DDS", phone="8015550100"
            ),
        ),
        medical_alerts=(
            MedicalAlert(
                alert_id="a1",
                patient_id="1001",
                kind=MedicalAlertKind.ALLERGY,
                description="Penicillin",
                critical=True,
            ),
            MedicalAlert(
                alert_id="a2", patient_id="1001", kind=MedicalAlertKind.MEDICATION, description="Lisinopril"
            ),
            MedicalAlert(
                alert_id="a3",
                patient_id="1001",
                kind=MedicalAlertKind.CONDITION,
                description="Old sprain",
                end_date=dt.date(2020, 1, 1),
            ),
        ),
        appointments=(
            appointment(
                "A1",
                dt.datetime(2025, 3, 3, 9, 0),
                length_min=60,
                provider_id="DDS1",
                operatory_id="OP-1",
                operatory_title="Op 1",
                type_description="Restorative",
                status_meaning=AppointmentStatusMeaning.COMPLETE,
                status_description="Complete",
            ),
            appointment(
                "A0", dt.datetime(2024, 9, 1, 8, 0), provider_id="HYG1", reason="Prophy", broken=True
            ),
        ),
        documents=(
            Document(
                document_id="d1", patient_id="1001", description="Consent", url="https://files.example/d1.pdf"
            ),
            Document(
                document_id="d2", patient_id="1001", type_description="EOB", created_date=dt.date(2025, 1, 5)
            ),
        ),
        imaging=(ImagingLink(patient_id="1001", imaging_system="DEXIS", image_id="77", modality="BW"),),
    )


def test_contact_payload_for_a_full_bundle() -> None:
    result = MAPS.contact.apply(ana(), practice=DENVER)
    assert result.ok, [i.line() for i in result.issues]
    payload = dict(result.payload)
    custom = {c["key"]: c["field_value"] for c in payload.pop("customFields")}
    assert payload == {
        "firstName": "Ana",
        "lastName": "Lopez",
        "email": "ana.lopez@example.com",
        "phone": "+18015559876",
        "address1": "12 Main St, Apt 3",
        "city": "Provo",
        "state": "UT",
        "postalCode": "08401",
        "dateOfBirth": "1984-07-02",
        "source": "Dentrix",
        "dndSettings": {"Call": {"status": "active", "message": "Privacy request carried over from Dentrix"}},
        "tags": ["dentrix", "dentrix patient"],
    }
    assert custom == {
        "contact.source_system_id": "1001",
        "contact.dental_patient": "Yes",
        "contact.patient_status": "Patient",
        "contact.chart_number": "00042",
        "contact.preferred_name": "Annie",
        "contact.guarantor_source_id": "1001",
        "contact.family_member_ids": "1001, 1002",
        "contact.home_phone": "+18015551234",
        "contact.work_phone": "+13855550142",
        "contact.primary_provider": "DDS1",
        "contact.first_visit_date": "2019-02-11",
        "contact.last_visit_date": "2025-03-03",
        "contact.premedication_required": "Yes",
        "contact.insurance_carrier": "Delta Dental",
        "contact.insurance_group": "G-100",
        "contact.insurance_member_id": "M778",
        "contact.secondary_insurance_carrier": "Aetna",
        "contact.secondary_insurance_group": "Beta Corp",
        "contact.secondary_insurance_member_id": "S-9",
        "contact.cdt_code_history": "2025-03-03 D2391 #14 MO\n2024-09-01 D1110 Prophy",
        "contact.clinical_notes": "[2025-03-03 09:15] MO comp #14.\n[2024-09-01 08:00] Prophy, OHI.",
        "contact.treatment_plan": "Crown #3 (Proposed, 2025-03-03): D2740 = 1200.00",
        "contact.treatment_plan_status": "Proposed",
        "contact.treatment_plan_amount": 1200.0,
        "contact.recall_date": "2025-09-01",
        "contact.recall_type": "Prophy",
        "contact.outstanding_balance": 45.5,
        "contact.last_payment_date": "2025-05-01",
        "contact.referring_dentist": "Sam Reed, DDS",
        "contact.referring_contact": "8015550100",
        "contact.medical_alerts": "CRITICAL: Penicillin (Allergy)",
        "contact.medical_history": "Lisinopril (Medication)",
        "contact.document_links": "Consent: https://files.example/d1.pdf",
        "contact.documents_to_re_upload": "document d2 EOB 2025-01-05\nimage DEXIS/77 BW undated",
        "contact.visit_history": (
            "2025-03-03 09:00 · Restorative · DDS1 · chair Op 1 · Complete\n"
            "2024-09-01 08:00 · Prophy · HYG1 · broken"
        ),
    }
    assert not result.overflow


def test_custom_fields_carry_category_key_and_practice_vocabulary() -> None:
    fields = {f.field_key: f for f in MAPS.contact.custom_fields()}
    assert fields["contact.source_system_id"].vocabulary_name == "Source_System_ID__c"
    assert fields["contact.recall_date"].vocabulary_name == "Recall_Date__c"
    assert fields["contact.cdt_code_history"].vocabulary_name == "CDT_Code_History__c"
    assert fields["contact.insurance_member_id"].category.value == "Insurance"
    assert fields["contact.outstanding_balance"].category.value == "Financial"
    assert fields["contact.medical_alerts"].category.value == "Clinical"
    assert fields["contact.referring_dentist"].category.value == "Administrative"


def test_family_member_without_its_own_balance_and_with_blanks() -> None:
    child = PatientBundle(
        patient=Patient(
            patient_id="1002", guarantor_id="1001", status=PatientStatus.PATIENT, first_name="LEO"
        ),
        practice_timezone="America/Denver",
        guarantor_balance=GuarantorBalance(guarantor_id="1001", balance_0_30=Decimal("99")),
    )
    result = MAPS.contact.apply(child, practice=DENVER)
    assert result.ok
    custom = {c["key"]: c["field_value"] for c in result.payload["customFields"]}
    assert custom["contact.guarantor_source_id"] == "1001"
    assert "contact.outstanding_balance" not in custom
    assert set(result.payload) == {"firstName", "source", "tags", "customFields"}


def test_dirty_bundle_gathers_issues_and_overflows_to_notes() -> None:
    bundle = ana()
    dirty = PatientBundle(
        patient=Patient(
            patient_id="1003",
            status=PatientStatus.ARCHIVED,
            home_phone="555-1234",
            email="nope@",
            zipcode=" 84601 ",
        ),
        practice_timezone="America/Denver",
        clinical_notes=tuple(
            ClinicalNote(
                note_id=f"n{i}",
                patient_id="1003",
                created_at=dt.datetime(2020, 1, 1) + dt.timedelta(days=i),
                text="x" * 300,
            )
            for i in range(20)
        ),
        appointments=bundle.appointments,
    )
    result = MAPS.contact.apply(dirty, practice=DENVER)
    assert sorted((i.field, i.code) for i in result.issues) == [
        ("contact.home_phone", "incomplete_number"),
        ("email", "invalid_email"),
        ("phone", "incomplete_number"),
    ]
    assert all(i.record_key == "1003" for i in result.issues)
    assert result.payload["dndSettings"].keys() == {"Call", "Email", "SMS", "WhatsApp", "GMB", "FB"}
    assert result.payload["tags"] == ["dentrix", "dentrix archived"]
    (note,) = result.overflow
    assert note.field == "contact.clinical_notes"
    assert note.title == "Clinical notes (continued)"
    custom = {c["key"]: c["field_value"] for c in result.payload["customFields"]}
    assert len(custom["contact.clinical_notes"]) <= OPTIONS.long_text_limit_chars
    assert note.items + custom["contact.clinical_notes"].count("[20") == 20


def test_opportunity_lifecycle() -> None:
    stage_ids = {name: f"stage-{i}" for i, name in enumerate(LIFECYCLE_STAGES)}
    options = DefaultMapOptions(as_of=AS_OF, pipeline_stage_ids=stage_ids)
    maps = default_maps(options)
    result = maps.opportunity.apply(ana(), practice=DENVER)
    assert result.ok
    assert result.payload == {
        "name": "Ana Lopez",
        "status": "open",
        "monetaryValue": 1200.0,
        "source": "Dentrix",
        "pipelineStageId": "stage-1",
    }
    assert "pipelineStageId" not in MAPS.opportunity.apply(ana()).payload
    with pytest.raises(ConfigurationError, match="Inactive"):
        DefaultMapOptions(pipeline_stage_ids={"New Patient": "a", "Active": "b", "Recall": "c"})


@pytest.mark.parametrize(
    ("changes", "stage"),
    [
        ({}, "Active"),
        ({"first_visit_date": None, "last_visit_date": None}, "New Patient"),
        ({"last_visit_date": dt.date(2023, 12, 1)}, "Inactive"),
        ({"status": PatientStatus.INACTIVE}, "Inactive"),
    ],
)
def test_lifecycle_stage(changes: dict[str, object], stage: str) -> None:
    import attrs

    bundle = ana()
    bundle = attrs.evolve(bundle, patient=attrs.evolve(bundle.patient, **changes), appointments=())
    assert lifecycle_stage(bundle, OPTIONS) == stage


def test_overdue_recall_puts_the_patient_in_recall() -> None:
    assert lifecycle_stage(ana(), DefaultMapOptions(as_of=dt.datetime(2025, 9, 2))) == "Recall"


def test_policies() -> None:
    import attrs

    def with_status(status: PatientStatus) -> PatientBundle:
        bundle = ana()
        return attrs.evolve(bundle, patient=attrs.evolve(bundle.patient, status=status))

    assert patient_disposition(with_status(PatientStatus.PATIENT), OPTIONS).opportunity
    non_patient = patient_disposition(with_status(PatientStatus.NON_PATIENT), OPTIONS)
    assert (non_patient.contact, non_patient.opportunity) == (True, False)
    archived = patient_disposition(with_status(PatientStatus.ARCHIVED), OPTIONS)
    assert (archived.contact, archived.opportunity, archived.dnd_all) == (True, False, True)
    skip = DefaultMapOptions(as_of=AS_OF, archived="skip", non_patient="contact")
    assert not patient_disposition(with_status(PatientStatus.ARCHIVED), skip).contact
    assert patient_disposition(with_status(PatientStatus.NON_PATIENT), skip).opportunity


def test_appointment_event_keeps_chair_context() -> None:
    appt = appointment(
        "A9",
        dt.datetime(2025, 7, 14, 15, 30),
        length_min=90,
        provider_id="DDS1",
        additional_provider_id="HYG1",
        operatory_id="OP-2",
        operatory_title="Hygiene 2",
        type_description="Crown prep",
        status_meaning=AppointmentStatusMeaning.CONFIRMED,
        procedures=(AppointmentProcedure(sequence=1, code_type=0, code_id="9", ada_code="D2740"),),
    )
    result = MAPS.appointment.apply(appt, practice=DENVER)
    assert result.ok
    assert result.payload == {
        "startTime": "2025-07-14T15:30:00-06:00",
        "endTime": "2025-07-14T17:00:00-06:00",
        "title": "Crown prep",
        "appointmentStatus": "confirmed",
        "description": (
            "Dentrix appointment A9\nChair: OP-2 Hygiene 2\nProvider: DDS1 (+HYG1)\nProcedures: D2740"
        ),
    }
    broken = MAPS.appointment.apply(
        appointment("A8", dt.datetime(2025, 7, 1, 9, 0), broken=True), practice=DENVER
    )
    assert broken.payload["appointmentStatus"] == "cancelled"
    missing = MAPS.appointment.apply(Appointment(appointment_id="A7"), practice=DENVER)
    assert [i.code for i in missing.issues] == ["missing"]


def test_notes_keep_the_original_timestamp() -> None:
    note = ClinicalNote(
        note_id="n1",
        patient_id="1001",
        provider_id="DDS1",
        created_at=dt.datetime(2025, 3, 3, 9, 15),
        text=" MO comp #14. ",
        locked=True,
    )
    assert MAPS.clinical_note.apply(note).payload == {
        "body": "Clinical note, 2025-03-03 09:15, provider DDS1, signed and locked in Dentrix\n\nMO comp #14."
    }
    entry = OfficeJournalEntry(
        contact_id="j1",
        patient_id="1001",
        contacted_at=dt.datetime(2024, 2, 1, 16, 5),
        kind=JournalEntryKind.CALL,
        title="Called re: balance",
        text="Left voicemail.",
    )
    result = MAPS.journal_note.apply(entry)
    assert result.record_key == "j1"
    assert result.payload == {
        "body": (
            "Office Journal call, 2024-02-01 16:05 (original time)\n\nCalled re: balance\n\nLeft voicemail."
        )
    }


def test_provider_maps() -> None:
    provider = Provider(
        provider_id="HYG1",
        first_name="KIM",
        last_name="Olsen",
        email="kim@smile.example",
        work_phone="801-555-2000",
        kind=ProviderKind.HYGIENIST,
    )
    assert MAPS.provider_user.apply(provider).payload == {
        "firstName": "Kim",
        "lastName": "Olsen",
        "email": "kim@smile.example",
        "phone": "+18015552000",
    }
    assert MAPS.provider_contact.apply(provider).payload == {
        "customFields": [
            {"key": "contact.provider_role", "field_value": "Hygienist"},
            {"key": "contact.provider_source_id", "field_value": "provider:HYG1"},
        ]
    }
    no_mail = MAPS.provider_user.apply(Provider(provider_id="DDS2", first_name="A", last_name="B"))
    assert [(i.field, i.code) for i in no_mail.issues] == [("email", "missing")]


def test_options_switch_fields() -> None:
    options = DefaultMapOptions(
        as_of=AS_OF,
        cdt_history="per_code",
        clinical_notes="notes",
        past_appointments="events",
        tracked_codes=("D1110",),
    )
    maps = default_maps(options)
    keys = {f.field_key for f in maps.contact.custom_fields()}
    assert "contact.last_d1110_date" in keys
    assert not keys & {"contact.cdt_code_history", "contact.clinical_notes", "contact.visit_history"}
    custom = {c["key"]: c["field_value"] for c in maps.contact.apply(ana()).payload["customFields"]}
    assert custom["contact.last_d1110_date"] == "2024-09-01"


def test_default_maps_round_trip_through_their_files() -> None:
    for name, field_map in MAPS.all().items():
        loaded = loads_map(dumps_map(field_map), schema=field_map.schema, computed=MAPS.computed)
        assert loaded == field_map, name
        assert map_to_dict(loaded) == map_to_dict(field_map)
    again = loads_map(dumps_map(MAPS.contact), computed=MAPS.computed).apply(ana(), practice=DENVER)
    assert again == MAPS.contact.apply(ana(), practice=DENVER)


def test_default_maps_over_a_synthetic_practice() -> None:
    import json

    synth = pytest.importorskip("dentrix_highlevel.synth")
    practice = synth.SyntheticPractice(synth.SynthConfig(patients=60, seed=11))
    maps = default_maps(DefaultMapOptions(as_of=dt.datetime(2025, 6, 30)))
    settings = PracticeSettings(timezone="America/Denver")
    seen = 0
    for bundle in practice.bundles():
        seen += 1
        result = maps.contact.apply(bundle, practice=settings)
        assert result.record_key == bundle.patient.patient_id
        custom = {c["key"]: c["field_value"] for c in result.payload["customFields"]}
        assert custom["contact.source_system_id"] == bundle.patient.patient_id
        json.dumps(result.payload)  # the payload is plain JSON
        secrets = [
            v
            for v in (
                bundle.patient.first_name,
                bundle.patient.last_name,
                bundle.patient.email,
                bundle.patient.home_phone,
            )
            if v and len(v) > 3
        ]
        for issue in result.issues:
            assert issue.record_key == bundle.patient.patient_id
            assert not any(secret in issue.line() for secret in secrets)
        for appt in bundle.appointments:
            event = maps.appointment.apply(appt, practice=settings)
            assert event.ok
            assert event.payload["startTime"].startswith(appt.start.date().isoformat())
    assert seen >= 60
