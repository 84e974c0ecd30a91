"""AscendSource over HTTP against the emulator: every record type read back with the right values.

The expected bundle of each patient is derived here from the synthetic practice the emulator serves, by
the rules of what an Ascend organisation can carry (ids become 13-digit Ascend ids, phones digits only,
codes by Ascend spelling, no ledger/journal/imaging). Whole bundles are compared with ``==``.
"""

from __future__ import annotations

import datetime as dt
import re
import weakref
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs
import pytest

from dentrix_highlevel.ascend_emulator import (
    AscendEmulator,
    AscendEmulatorConfig,
    AscendEmulatorServer,
    alert_id,
    ascend_id,
    coverage_id,
    provider_id,
)
from dentrix_highlevel.errors import AscendError, SourceError
from dentrix_highlevel.records import (
    Appointment,
    AppointmentProcedure,
    AppointmentStatusMeaning,
    ClinicalNote,
    Coverage,
    CoverageRank,
    Document,
    GuarantorBalance,
    InsurancePlan,
    Insured,
    MedicalAlert,
    Patient,
    PatientBundle,
    PatientInsurance,
    PatientStatus,
    Procedure,
    Provider,
    Recall,
    ReferralSource,
    ReferredBy,
    ReferrerKind,
    TreatmentPlanCase,
)
from dentrix_highlevel.sources import AscendResources, AscendSource
from dentrix_highlevel.sources._order import canonical_bundle
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

BASE_URL = "https://test.hs1api.com/ascend-gateway/api"
TZ = "America/Denver"
# Written out here (not imported from the emulator) so a wrong mapping on either side shows.
STATUS = {
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
BOOKING = {
    "1": "NEW_PATIENT",
    "2": "RECARE",
    "5": "RECARE",
    "3": "TREATMENT",
    "4": "TREATMENT",
    "6": "TREATMENT",
}


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=60, seed=7))


def make_emulator(practice: SyntheticPractice, **config: Any) -> AscendEmulator:
    config.setdefault("rate_max", 100_000)
    return AscendEmulator(practice, AscendEmulatorConfig(**config))


def make_source(emulator: AscendEmulator, **options: Any) -> AscendSource:
    return AscendSource(
        base_url=BASE_URL,
        client_id=emulator.config.client_id,
        client_secret=emulator.config.client_secret,
        organization_id=emulator.config.organization_id,
        practice_timezone=TZ,
        transport=emulator.transport(),
        **options,
    )


async def read_all(source: AscendSource, **kwargs: Any) -> list[PatientBundle]:
    async with source:
        return [b async for b in source.bundles(**kwargs)]


# ---- the expected bundle ------------------------------------------------------------------------------


def _a(value: str | None) -> str | None:
    return None if value is None else ascend_id(value)


def _phone(text: str | None) -> tuple[str | None, str | None]:
    if not text:
        return None, None
    m = re.match(r"^(.*?)\s*x(\d+)\s*$", text)
    main, ext = (m.group(1), m.group(2)) if m else (text, None)
    digits = re.sub(r"\D", "", main)
    return (digits or None), ext


def _plain_phone(text: str | None) -> str | None:
    number, ext = _phone(text)
    if number is None:
        return None
    return f"{number} x{ext}" if ext else number


def expected_patient(p: Patient) -> Patient:
    work, embedded = _phone(p.work_phone)
    method = "TEXT ME" if p.mobile_phone else ("EMAIL ME" if p.email else "CALL ME")
    return Patient(
        patient_id=ascend_id(p.patient_id),
        guarantor_id=_a(p.guarantor_id),
        status=p.status,
        status_code=p.status.code if p.status else None,
        chart_number=p.chart_number,
        last_name=p.last_name,
        first_name=p.first_name,
        middle_initial=p.middle_initial,
        preferred_name=p.preferred_name,
        title=p.title,
        gender=p.gender,
        birth_date=p.birth_date,
        address_line1=p.address_line1,
        address_line2=p.address_line2,
        city=p.city,
        state=p.state,
        zipcode=p.zipcode,
        home_phone=_plain_phone(p.home_phone),
        work_phone=work,
        work_ext=(embedded or p.work_ext) if work else None,
        mobile_phone=_plain_phone(p.mobile_phone),
        email=p.email,
        primary_provider_id=p.primary_provider_id,
        first_visit_date=p.first_visit_date,
        referred_by_id=_a(p.referred_by_id),
        referred_by_kind=p.referred_by_kind if p.referred_by_id else None,
        modified_at=p.modified_at,
        extra={"contact_method": method, "language": "ENGLISH"},
    )


def expected_provider(practice: SyntheticPractice, short: str | None) -> Provider | None:
    for index, p in enumerate(practice.providers):
        if p.provider_id == short:
            return Provider(
                provider_id=p.provider_id,
                last_name=p.last_name,
                first_name=p.first_name,
                npi=p.npi,
                kind=p.kind,
                inactive=p.inactive,
                modified_at=p.modified_at,
                extra={"ascend_id": provider_id(index), "short_name": p.provider_id},
            )
    return None


def expected_procedure(p: Procedure) -> Procedure:
    return Procedure(
        procedure_id=ascend_id(p.procedure_id),
        patient_id=ascend_id(p.patient_id),
        guarantor_id=_a(p.guarantor_id),
        date=p.date,
        proc_code_id=_a(p.proc_code_id),
        ada_code=p.ada_code,
        description=p.description,
        tooth=p.tooth,
        surfaces=p.surfaces,
        status=p.status,
        provider_id=p.provider_id,
        amount=p.amount,
        tx_case_id=_a(p.tx_case_id),
        modified_at=p.modified_at,
    )


def expected_appointment(practice: SyntheticPractice, a: Appointment) -> Appointment:
    codes = {c.ada_code: c for c in practice.procedure_codes}
    status = STATUS[a.status_id or ""]
    booking = BOOKING.get(a.type_id or "")
    return Appointment(
        appointment_id=ascend_id(a.appointment_id),
        patient_id=_a(a.patient_id),
        start=a.start,
        length_min=a.length_min,
        provider_id=a.provider_id,
        operatory_id=a.operatory_id,
        operatory_title=a.operatory_title,
        status_id=status,
        status_description=status.replace("_", " ").title(),
        status_meaning=a.status_meaning,
        type_id=booking,
        type_description=booking.replace("_", " ").title() if booking else None,
        reason=a.reason,
        note=a.note,
        broken=a.status_meaning is AppointmentStatusMeaning.BROKEN,
        modified_at=a.modified_at,
        procedures=tuple(
            AppointmentProcedure(
                sequence=i,
                code_type=0,
                code_id=ascend_id(codes[s.ada_code].proc_code_id),
                ada_code=s.ada_code,
                abbrev_description=codes[s.ada_code].abbrev_description,
            )
            for i, s in enumerate(a.procedures, start=1)
        ),
    )


def expected_plan(plan: InsurancePlan | None) -> InsurancePlan | None:
    if plan is None:
        return None
    return InsurancePlan(
        plan_id=ascend_id(plan.plan_id),
        carrier_name=plan.carrier_name,
        group_name=plan.group_name,
        group_number=plan.group_number,
        payor_id=plan.payor_id,
        phone=plan.phone,
        max_coverage_person=plan.max_coverage_person,
        max_coverage_family=plan.max_coverage_family,
        renew_month=plan.renew_month,
    )


def expected_coverage(c: Coverage | None) -> Coverage | None:
    if c is None:
        return None
    return Coverage(
        rank=c.rank,
        insured=Insured(
            insured_id=ascend_id(c.insured.insured_id),
            plan_id=_a(c.insured.plan_id),
            subscriber_id=_a(c.insured.subscriber_id),
            member_id=c.insured.member_id,
        ),
        plan=expected_plan(c.plan),
        relationship_code=c.relationship_code,
        subscriber=expected_patient(c.subscriber) if c.subscriber else None,
    )


def expected_source(r: ReferralSource | None) -> ReferralSource | None:
    if r is None:
        return None
    return ReferralSource(
        referral_id=ascend_id(r.referral_id),
        last_name=r.last_name,
        first_name=r.first_name,
        title=r.title,
        is_non_person=r.is_non_person,
        email=r.email,
        phone=r.phone,
    )


def expected_bundle(practice: SyntheticPractice, b: PatientBundle) -> PatientBundle:
    procedures = tuple(expected_procedure(p) for p in b.procedures)
    referred_by = None
    if b.referred_by is not None:
        referred_by = ReferredBy(
            kind=b.referred_by.kind,
            referrer_id=ascend_id(b.referred_by.referrer_id),
            source=expected_source(b.referred_by.source)
            if b.referred_by.kind is ReferrerKind.REFERRAL_SOURCE
            else None,
        )
    balance = b.guarantor_balance
    return canonical_bundle(
        PatientBundle(
            patient=expected_patient(b.patient),
            practice_timezone=TZ,
            guarantor=expected_patient(b.guarantor) if b.guarantor else None,
            family_member_ids=tuple(ascend_id(i) for i in b.family_member_ids),
            primary_provider=expected_provider(practice, b.patient.primary_provider_id),
            appointments=tuple(expected_appointment(practice, a) for a in b.appointments if not a.deleted),
            insurance=PatientInsurance(
                primary=expected_coverage(b.insurance.primary),
                secondary=expected_coverage(b.insurance.secondary),
            ),
            procedures=procedures,
            clinical_notes=tuple(
                ClinicalNote(
                    note_id=ascend_id(n.note_id),
                    patient_id=ascend_id(n.patient_id),
                    provider_id=n.provider_id,
                    created_at=n.created_at,
                    entered_at=n.entered_at,
                    text=n.text,
                    locked=n.locked,
                    modified_at=n.modified_at,
                )
                for n in b.clinical_notes
            ),
            treatment_cases=tuple(
                TreatmentPlanCase(
                    case_id=ascend_id(c.case_id),
                    patient_id=ascend_id(c.patient_id),
                    status=c.status,
                    description=c.description,
                    created_date=c.created_date,
                    procedures=tuple(p for p in procedures if p.tx_case_id == ascend_id(c.case_id)),
                )
                for c in b.treatment_cases
            ),
            recalls=tuple(
                Recall(
                    patient_id=ascend_id(r.patient_id),
                    recall_type_id=ascend_id(r.recall_type_id),
                    type_name=r.type_name,
                    type_description=r.type_description,
                    interval_months=r.interval_months,
                    due_date=r.due_date,
                    prior_date=r.prior_date,
                    appointment_id=_a(r.appointment_id),
                    provider_id=r.provider_id,
                )
                for r in b.recalls
            ),
            documents=tuple(
                Document(
                    document_id=ascend_id(d.document_id),
                    patient_id=ascend_id(d.patient_id),
                    type_id=_a(d.type_id),
                    type_description=d.type_description,
                    description=d.description,
                    created_date=d.created_date,
                    pages=d.pages,
                    mime_type=d.mime_type,
                    url=d.url,
                )
                for d in b.documents
            ),
            guarantor_balance=None
            if balance is None
            else GuarantorBalance(
                guarantor_id=ascend_id(balance.guarantor_id),
                balance_0_30=balance.balance_0_30,
                balance_31_60=balance.balance_31_60,
                balance_61_90=balance.balance_61_90,
                balance_91_plus=balance.balance_91_plus,
            ),
            referred_by=referred_by,
            medical_alerts=tuple(
                MedicalAlert(
                    alert_id=alert_id(m),
                    patient_id=ascend_id(m.patient_id),
                    kind=m.kind,
                    description=m.description,
                    critical=m.critical,
                    reported_date=m.reported_date,
                    start_date=m.start_date,
                    end_date=m.end_date,
                    open_ended=m.open_ended,
                    note=m.note,
                )
                for m in b.medical_alerts
            ),
        )
    )


def assert_same(actual: PatientBundle, expected: PatientBundle) -> None:
    """Field by field first, so a failure names the field (and only ids are printed by reprs)."""
    for field in attrs.fields(PatientBundle):
        got, want = getattr(actual, field.name), getattr(expected, field.name)
        if isinstance(want, tuple):
            assert len(got) == len(want), (actual.patient_id, field.name)
            for g, w in zip(got, want, strict=True):
                if attrs.has(type(w)):
                    for sub in attrs.fields(type(w)):
                        assert getattr(g, sub.name) == getattr(w, sub.name), (
                            actual.patient_id,
                            field.name,
                            sub.name,
                        )
        elif attrs.has(type(want)):
            for sub in attrs.fields(type(want)):
                assert getattr(got, sub.name) == getattr(want, sub.name), (
                    actual.patient_id,
                    field.name,
                    sub.name,
                )
        assert got == want, (actual.patient_id, field.name)
    assert actual == expected


# ---- tests --------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_record_type_reads_back_with_the_synthetic_values(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    source = make_source(emulator, page_size=37)
    bundles = await read_all(source)
    synthetic = list(practice.bundles())
    assert [b.patient_id for b in bundles] == [ascend_id(b.patient_id) for b in synthetic]
    for actual, synth in zip(bundles, synthetic, strict=True):
        assert_same(actual, expected_bundle(practice, synth))
    # The practice really exercises every record type the adapter maps (the comparison is not vacuous).
    for name in ("appointments", "procedures", "clinical_notes", "treatment_cases", "recalls", "documents"):
        assert sum(len(getattr(b, name)) for b in bundles) > 0, name
    assert any(b.medical_alerts for b in bundles)
    assert any(b.insurance.secondary for b in bundles)
    assert any(b.insurance.primary for b in bundles)
    assert any(b.guarantor is not None for b in bundles)
    assert any(b.referred_by and b.referred_by.kind is ReferrerKind.REFERRAL_SOURCE for b in bundles)
    assert any(b.guarantor_balance and b.guarantor_balance.total > Decimal(0) for b in bundles)
    assert any(a.broken for b in bundles for a in b.appointments)
    assert any(m.open_ended for b in bundles for m in b.medical_alerts)
    assert {b.patient.status for b in bundles} >= {PatientStatus.PATIENT, PatientStatus.INACTIVE}
    assert source.issues == ()
    assert source.bundle_count == len(synthetic)
    counts = source.counts
    assert counts["v1/patients"].rows == counts["v1/patients"].records == len(synthetic)
    assert counts["v1/patients"].required
    assert not counts["v1/clinicalnotes"].required
    assert counts["v1/appointments"].rows == sum(
        1 for b in synthetic for a in b.appointments if not a.deleted
    ) + len(list(practice.unattached_appointments()))
    assert "firstName" in counts["v1/patients"].columns
    # Fields the emulator serves that no field map reads are reported, so the proposer can offer them.
    assert {"preferredDays", "secondaryGuarantor"} <= set(counts["v1/patients"].extra_columns)
    unattached = source.unattached_appointments()
    assert len(unattached) == len(list(practice.unattached_appointments()))
    assert all(a.patient_id is None for a in unattached)


@pytest.mark.anyio
async def test_shared_tables(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    source = make_source(emulator)
    with pytest.raises(SourceError):
        source.providers()
    async with source:
        providers = source.providers()
        operatories = source.operatories()
        codes = source.procedure_codes()
        plans = source.insurance_plans()
        referrals = source.referral_sources()
        locations = source.locations()
        assert source.practice == locations[0]
    assert {p.provider_id for p in providers} == {p.provider_id for p in practice.providers}
    retired = next(p for p in providers if p.provider_id == "DOC1")
    assert retired.inactive
    assert [(o.operatory_id, o.title) for o in operatories] == [
        (o.operatory_id, o.title) for o in practice.operatories
    ]
    assert {(c.ada_code, c.description) for c in codes} == {
        (c.ada_code, c.description) for c in practice.procedure_codes
    }
    assert [expected_plan(p) for p in practice.insurance_plans] == list(plans)
    assert [expected_source(r) for r in practice.referral_sources] == list(referrals)
    assert [(loc.practice_id, loc.name, loc.timezone) for loc in locations] == [
        (emulator.location_id, practice.practice.name, TZ)
    ]


@pytest.mark.anyio
async def test_page_and_keyset_pagination_read_the_same(practice: SyntheticPractice) -> None:
    keyset_emulator = make_emulator(practice)
    page_emulator = make_emulator(practice)
    keyset = await read_all(make_source(keyset_emulator, page_size=25, pagination="keyset"))
    paged = await read_all(make_source(page_emulator, page_size=25, pagination="page"))
    assert [b.content_hash() for b in keyset] == [b.content_hash() for b in paged]
    patient_calls = [r for r in keyset_emulator.request_log if r.path.endswith("/v1/patients")]
    assert "lastId" not in patient_calls[0].params
    assert all("lastId" in r.params for r in patient_calls[1:])
    assert len(patient_calls) == len(keyset) // 25 + 1
    paged_calls = [r for r in page_emulator.request_log if r.path.endswith("/v1/patients")]
    assert [r.params["page"] for r in paged_calls] == [str(n) for n in range(1, len(paged_calls) + 1)]


@pytest.mark.anyio
async def test_delta_yields_exactly_the_changed_patients_with_their_families(
    practice: SyntheticPractice,
) -> None:
    emulator = make_emulator(practice, now=lambda: dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    before = {b.patient_id: b for b in await read_all(make_source(emulator))}
    synthetic = list(practice.bundles())
    family = next(b for b in synthetic if len(b.family_member_ids) >= 3 and b.guarantor is None)
    child_id = ascend_id(family.family_member_ids[1])
    emulator.update("patients", child_id, {"firstName": "Renamed"})
    archived = ascend_id(synthetic[-1].patient_id)
    emulator.archive_patient(archived)
    added = emulator.add_patient(
        first_name="New", last_name="Patient", guarantor_id=ascend_id(family.patient_id)
    )
    appointment_owner = next(
        b
        for b in synthetic
        if any(not a.deleted for a in b.appointments)
        and b.patient_id not in family.family_member_ids
        and b.patient_id != synthetic[-1].patient_id
    )
    appointment = next(a for a in appointment_owner.appointments if not a.deleted)
    emulator.update("appointments", ascend_id(appointment.appointment_id), {"note": "moved"})

    since = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    source = make_source(emulator)
    delta = {b.patient_id: b for b in await read_all(source, modified_since=since)}
    owner = ascend_id(appointment_owner.patient_id)
    assert set(delta) == {child_id, archived, added["id"], owner}
    assert delta[child_id].patient.first_name == "Renamed"
    assert delta[archived].patient.status is PatientStatus.ARCHIVED
    assert added["id"] in delta[child_id].family_member_ids
    assert set(delta[added["id"]].family_member_ids) == {ascend_id(i) for i in family.family_member_ids} | {
        added["id"]
    }
    assert delta[added["id"]].guarantor == before[ascend_id(family.patient_id)].patient
    changed = next(
        a for a in delta[owner].appointments if a.appointment_id == ascend_id(appointment.appointment_id)
    )
    assert changed.note == "moved"
    # Everything else in the changed bundle is what the full read had: only the edited field differs.
    assert delta[owner].content_hash() != before[owner].content_hash()
    restored = attrs.evolve(
        delta[owner],
        appointments=tuple(
            attrs.evolve(a, note=appointment.note, modified_at=appointment.modified_at)
            if a.appointment_id == changed.appointment_id
            else a
            for a in delta[owner].appointments
        ),
    )
    assert restored == before[owner]
    filters = [r.params.get("filter", "") for r in emulator.request_log if r.path.endswith("/v1/patients")]
    assert any(f.startswith("lastModified>=2030-01-01T00:00:00.000Z") for f in filters)
    assert any("->[" in f for f in filters)


@pytest.mark.anyio
async def test_naive_modified_since_is_practice_local_time(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    await read_all(make_source(emulator), modified_since=dt.datetime(2025, 1, 1, 0, 0))
    first = next(r for r in emulator.request_log if r.path.endswith("/v1/patients"))
    assert first.params["filter"] == "lastModified>=2025-01-01T07:00:00.000Z"  # Denver is UTC-7 in January


@pytest.mark.anyio
async def test_configurable_resource_names_and_fields(practice: SyntheticPractice) -> None:
    emulator = make_emulator(
        practice,
        paths={"clinical_notes": "v2/notes", "recalls": "v1/continuingcare"},
        renamed_fields={"clinical_notes": {"text": "body"}},
    )
    defaults = AscendResources()
    assert defaults.clinical_notes is not None
    assert defaults.recalls is not None
    resources = attrs.evolve(
        defaults,
        clinical_notes=attrs.evolve(defaults.clinical_notes, path="v2/notes").with_fields(text="body"),
        recalls=attrs.evolve(defaults.recalls, path="v1/continuingcare"),
    )
    configured = await read_all(make_source(emulator, resources=resources))
    notes = [n for b in configured for n in b.clinical_notes]
    synthetic_notes = [n for b in practice.bundles() for n in b.clinical_notes]
    assert sorted((n.note_id, n.text) for n in notes) == sorted(
        (ascend_id(n.note_id), n.text) for n in synthetic_notes
    )
    assert sum(len(b.recalls) for b in configured) == sum(len(b.recalls) for b in practice.bundles())

    # With the defaults the guessed names miss: one located issue per resource, the rest still reads.
    fresh = make_emulator(practice, paths={"clinical_notes": "v2/notes"})
    source = make_source(fresh)
    plain = await read_all(source)
    assert len(plain) == len(configured)
    assert all(not b.clinical_notes for b in plain)
    unavailable = [i for i in source.issues if i.file == "v1/clinicalnotes"]
    assert len(unavailable) == 1
    assert "404" in unavailable[0].message
    assert defaults.guessed()["clinical_notes"] == "v1/clinicalnotes"


@pytest.mark.anyio
async def test_a_forbidden_required_resource_fails_with_its_path(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice, forbidden=frozenset({"appointments"}))
    with pytest.raises(AscendError) as caught:
        await read_all(make_source(emulator))
    assert caught.value.status_code == 403
    assert caught.value.path == "/ascend-gateway/api/v1/appointments"
    optional = make_emulator(practice, forbidden=frozenset({"documents"}))
    source = make_source(optional)
    bundles = await read_all(source)
    assert bundles
    assert not any(b.documents for b in bundles)
    assert [i.file for i in source.issues] == ["v1/documents"]
    assert not source.counts["v1/documents"].present
    assert source.counts["v1/documents"].issues == 1


@pytest.mark.anyio
async def test_numeric_provider_ids_when_asked(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    bundles = await read_all(make_source(emulator, provider_ids="id"))
    index = {p.provider_id: i for i, p in enumerate(practice.providers)}
    for actual, synth in zip(bundles, practice.bundles(), strict=True):
        for got, want in zip(
            actual.appointments, [a for a in synth.appointments if not a.deleted], strict=True
        ):
            assert got.provider_id == provider_id(index[want.provider_id or ""])


@pytest.mark.anyio
async def test_bad_values_become_located_issues_without_values(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    target = next(b for b in practice.bundles() if any(not a.deleted for a in b.appointments))
    pid = ascend_id(target.patient_id)
    emulator.update(
        "patients",
        pid,
        {"dateOfBirth": "31/02/1990", "patientStatus": "ZOMBIE", "gender": 7, "city": {"x": 1}},
    )
    appointment = next(a for a in target.appointments if not a.deleted)
    emulator.update("appointments", ascend_id(appointment.appointment_id), {"duration": "an hour"})
    source = make_source(emulator)
    bundles = await read_all(source)
    first = next(b for b in bundles if b.patient_id == pid)
    assert first.patient.birth_date is None
    assert first.patient.status is None
    assert first.patient.gender is None
    assert first.patient.city is None
    found = {(i.file, i.column, i.code, i.record_key) for i in source.issues}
    assert found == {
        ("v1/patients", "dateOfBirth", "bad_date", pid),
        ("v1/patients", "patientStatus", "bad_code", pid),
        ("v1/patients", "gender", "bad_code", pid),
        ("v1/patients", "city", "bad_value", pid),
        ("v1/appointments", "duration", "bad_number", ascend_id(appointment.appointment_id)),
    }
    for issue in source.issues:
        assert "31/02" not in issue.message
        assert "ZOMBIE" not in issue.message
        assert "hour" not in issue.message


@pytest.mark.anyio
async def test_dangling_references_and_duplicate_coverage_are_issues(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    emulator.add(
        "clinical_notes",
        {"id": "9000000000001", "patient": {"id": "9999999999999"}, "text": "orphan", "dateCreated": None},
    )
    covered = next(b for b in practice.bundles() if b.insurance.primary is not None)
    primary = emulator.get("patient_insurance", coverage_id(covered.patient_id, CoverageRank.PRIMARY))
    emulator.add("patient_insurance", {**primary, "id": "8999999999999", "insuredId": "7999999999999"})
    source = make_source(emulator)
    bundles = {b.patient_id: b for b in await read_all(source)}
    assert sorted((i.file, i.code, i.record_key, i.row_dropped) for i in source.issues) == [
        ("v1/clinicalnotes", "dangling_reference", "9000000000001", True),
        ("v1/patientinsurance", "duplicate_key", "7999999999999", True),
    ]
    kept = bundles[ascend_id(covered.patient_id)].insurance.primary
    assert kept is not None
    assert kept.insured.insured_id == ascend_id(covered.insurance.primary.insured.insured_id)


def test_repr_and_errors_never_show_the_secret() -> None:
    source = AscendSource(
        base_url=BASE_URL,
        client_id="cid",
        client_secret="s3cr3t-value",
        organization_id="5e7b7774c9e1470c0d716320",
        practice_timezone=TZ,
    )
    assert "s3cr3t" not in repr(source)
    assert "s3cr3t" not in repr(source.client)
    assert "s3cr3t" not in repr(vars(source.client))


@pytest.mark.parametrize(
    ("option", "value"),
    [("page_size", 0), ("pagination", "cursor"), ("provider_ids", "npi"), ("practice_timezone", "Mars/Base")],
)
def test_bad_configuration_is_refused(option: str, value: Any) -> None:
    from dentrix_highlevel.errors import ConfigurationError

    kwargs: dict[str, Any] = {
        "base_url": BASE_URL,
        "client_id": "cid",
        "client_secret": "secret",
        "organization_id": "org",
        "practice_timezone": TZ,
        option: value,
    }
    build: Callable[..., AscendSource] = AscendSource
    with pytest.raises(ConfigurationError):
        build(**kwargs)


@pytest.mark.anyio
async def test_a_read_over_real_loopback_http() -> None:
    small = SyntheticPractice(SynthConfig(patients=12, seed=11))
    with AscendEmulatorServer(make_emulator(small)) as server:
        source = AscendSource(
            base_url=server.base_url,
            client_id=server.emulator.config.client_id,
            client_secret=server.emulator.config.client_secret,
            organization_id=server.emulator.config.organization_id,
            practice_timezone=TZ,
            page_size=5,
        )
        bundles = await read_all(source)
    assert [b.patient_id for b in bundles] == [ascend_id(b.patient_id) for b in small.bundles()]
    assert bundles == [expected_bundle(small, b) for b in small.bundles()]


@pytest.mark.anyio
async def test_an_abandoned_read_deletes_its_staging_file(practice: SyntheticPractice, tmp_path: Any) -> None:
    emulator = make_emulator(practice)
    async with make_source(emulator, staging_dir=tmp_path) as source:
        reader = source.bundles()
        first = await reader.__anext__()
        assert first.patient_id == ascend_id("1001")
        staged = list(tmp_path.iterdir())
        assert len(staged) == 1
        assert staged[0].stat().st_mode & 0o777 == 0o700
        assert (staged[0] / "staging.sqlite3").stat().st_mode & 0o777 == 0o600
        await reader.aclose()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.anyio
async def test_get_bundle_equals_the_full_read(practice: SyntheticPractice) -> None:
    emulator = make_emulator(practice)
    async with make_source(emulator) as source:
        everyone = [b async for b in source.bundles()]
        counts = source.counts
        target = next(
            b
            for b in everyone
            if b.guarantor is not None and b.insurance.primary is not None and b.insurance.primary.subscriber
        )
        one = await source.get_bundle(target.patient_id)
        missing = await source.get_bundle("42")
        assert source.counts == counts  # still the full read's figures
        assert source.bundle_count == len(everyone)
    assert one == target
    assert missing is None


@pytest.mark.anyio
async def test_bundles_are_let_go_of_as_they_are_handed_out(practice: SyntheticPractice) -> None:
    # As the G export's: a consumer that keeps no bundle holds none (the rest of a chunk is not kept).
    emulator = make_emulator(practice)
    async with make_source(emulator) as source:
        previous: weakref.ref[PatientBundle] | None = None
        seen = 0
        async for bundle in source.bundles():
            if previous is not None:
                assert previous() is None, f"bundle {seen} is still held after the consumer let it go"
            previous = weakref.ref(bundle)
            seen += 1
            del bundle
        assert seen == source.bundle_count == 60
