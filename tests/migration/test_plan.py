"""MigrationPlan: building from a source, the parts it holds, save/load, the content hash and diff."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from dentrix_highlevel.errors import PlanChangedError, PlanError
from dentrix_highlevel.highlevel import HighLevelClient, RateBudget
from dentrix_highlevel.mapping import (
    DefaultMapOptions,
    ExistingCustomField,
    FieldMap,
    ProposalAction,
    default_maps,
)
from dentrix_highlevel.migration import (
    PLAN_FILENAME,
    PLAN_REPORT_FILENAME,
    LocationSnapshot,
    MigrationPlan,
    PipelineSnapshot,
    build_plan,
    plan_content_hash,
)
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.records import (
    Appointment,
    LedgerEntryType,
    LedgerTransaction,
    OfficeJournalEntry,
    Patient,
    PatientBundle,
    PatientStatus,
    Procedure,
    ProcedureStatus,
    Provider,
)
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

AS_OF = dt.datetime(2025, 6, 30, 9, 0)
CLOCK = dt.datetime(2025, 6, 30, 16, 0, tzinfo=dt.UTC)
OPTIONS = DefaultMapOptions(as_of=AS_OF)


def clock() -> dt.datetime:
    return CLOCK


# --- a small synthetic practice, read through the real G export reader ---------------------------------


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=24, seed=11)), path, dirty=1)
    return path


@pytest.fixture(scope="module")
def g_plan(export_dir: Path) -> MigrationPlan:
    import anyio

    async def build() -> MigrationPlan:
        async with GExportSource(export_dir) as source:
            return await build_plan(source, options=OPTIONS, clock=clock)

    return anyio.run(build)


@pytest.fixture(scope="module")
def bundles(export_dir: Path) -> list[PatientBundle]:
    with GExportSource(export_dir) as source:
        return list(source.iter_bundles())


# --- a source double: hand-built bundles behind the source surface --------------------------------------


class ListSource:
    """The surface a plan reads (bundles, issues, providers, time zone), over records built by hand."""

    practice_timezone = "America/Denver"
    source_fingerprint = "g:test-practice"

    def __init__(self, bundles: list[PatientBundle], providers: tuple[Provider, ...] = ()) -> None:
        self._bundles = bundles
        self._providers = providers
        self.issues: tuple[Any, ...] = ()

    async def bundles(self, *, modified_since: dt.datetime | None = None) -> AsyncIterator[PatientBundle]:
        for bundle in self._bundles:
            yield bundle

    def providers(self) -> tuple[Provider, ...]:
        return self._providers


def patient(pid: str, **kw: Any) -> Patient:
    fields: dict[str, Any] = {
        "first_name": "Ana",
        "last_name": "Lopez",
        "status": PatientStatus.PATIENT,
        "guarantor_id": pid,
    }
    fields.update(kw)
    return Patient(patient_id=pid, **fields)


def bundle(p: Patient, **kw: Any) -> PatientBundle:
    return PatientBundle(patient=p, practice_timezone="America/Denver", **kw)


def hand_bundles() -> tuple[list[PatientBundle], tuple[Provider, ...]]:
    future = AS_OF + dt.timedelta(days=3)
    past = AS_OF - dt.timedelta(days=30)
    providers = (Provider(provider_id="DDS1"), Provider(provider_id="DDS2", inactive=True))
    b1 = bundle(
        patient(
            "1", email="ana@example.test", mobile_phone="801-555-0101", first_visit_date=dt.date(2020, 1, 1)
        ),
        appointments=(
            Appointment(appointment_id="a1", patient_id="1", start=future, length_min=30, provider_id="DDS2"),
            Appointment(appointment_id="a2", patient_id="1", start=future, length_min=30, provider_id="DDS1"),
            Appointment(appointment_id="a3", patient_id="1", start=past, length_min=30, provider_id="DDS1"),
            Appointment(appointment_id="a4", patient_id="1", start=future, provider_id="DDS2", deleted=True),
        ),
        procedures=(
            Procedure(procedure_id="p1", patient_id="1", claim_id="c1", status=ProcedureStatus.COMPLETED),
            Procedure(procedure_id="p2", patient_id="1", claim_id="c2", status=ProcedureStatus.COMPLETED),
        ),
        ledger=(
            LedgerTransaction(
                transaction_id="l1",
                patient_id="1",
                date=dt.date(2025, 1, 2),
                kind=LedgerEntryType.INSURANCE_PAYMENT,
                claim_id="c1",
                amount=Decimal("10.00"),
            ),
            LedgerTransaction(transaction_id="l2", patient_id="1", date=dt.date(2025, 7, 9)),
            LedgerTransaction(transaction_id="l3", patient_id="1", date=None),
        ),
        journal=(
            OfficeJournalEntry(contact_id="j1", patient_id="1", contacted_at=past, text="called"),
            OfficeJournalEntry(contact_id="j2", patient_id="1", contacted_at=past, text="letter"),
        ),
    )
    # Same family: shares the mobile number with patient 1 (formatted differently).
    b2 = bundle(
        patient("2", guarantor_id="1", mobile_phone="(801) 555 0101", first_visit_date=dt.date(2021, 1, 1))
    )
    b3 = bundle(patient("3", first_visit_date=dt.date(2021, 1, 1)))  # no e-mail, no phone
    b4 = bundle(patient("4", status=PatientStatus.ARCHIVED, email="gone@example.test"))
    b5 = bundle(patient("5", status=PatientStatus.NON_PATIENT, email="payer@example.test"))
    return [b1, b2, b3, b4, b5], providers


@pytest.fixture
def hand_source() -> ListSource:
    bundles, providers = hand_bundles()
    return ListSource(bundles, providers)


# --- building -------------------------------------------------------------------------------------------


def test_field_plan_shows_keys_vocabulary_types_and_categories(g_plan: MigrationPlan) -> None:
    recall = next(f for f in g_plan.field_plan if f.field_key == "contact.recall_date")
    assert (recall.vocabulary_name, recall.data_type, recall.category, recall.custom) == (
        "Recall_Date__c",
        "DATE",
        "Clinical",
        True,
    )
    assert recall.source == "computed:next_recall_date"
    first = next(f for f in g_plan.field_plan if f.map == "contact" and f.target == "firstName")
    assert (first.custom, first.category, first.source) == (False, None, "patient.first_name")
    assert "Trim()" in first.transforms
    # Every rule of every map is in the field plan, once.
    rules = sum(len(m.rules) for m in default_maps(OPTIONS).all().values())
    assert len(g_plan.field_plan) == rules


def test_custom_fields_folders_and_pipeline_for_an_empty_location(g_plan: MigrationPlan) -> None:
    keys = [f.field_key for f in g_plan.custom_fields]
    assert len(keys) == len(set(keys))
    expected = {t.field_key for m in default_maps(OPTIONS).all().values() for t in m.custom_fields()}
    # The engine's own identity field rides with the map's Source System ID.
    assert set(keys) == expected | {"contact.source_practice_id"}
    assert {f.action for f in g_plan.custom_fields} == {"create"}
    assert g_plan.folders_to_create == ("Administrative", "Clinical", "Financial", "Insurance")
    assert g_plan.pipeline is not None
    assert not g_plan.pipeline.exists
    assert g_plan.pipeline.missing_stages == ("New Patient", "Active", "Recall", "Inactive")


def test_existing_fields_folders_and_pipeline_are_reused(hand_source: ListSource) -> None:
    import anyio

    location = LocationSnapshot(
        location_id="loc1",
        custom_fields=[
            ExistingCustomField(
                id="f1", name="Recall Date", field_key="contact.recall_date", data_type="DATE"
            ),
            ExistingCustomField(
                id="f2", name="Outstanding Balance", field_key="contact.outstanding_balance", data_type="TEXT"
            ),
            ExistingCustomField(
                id="f3",
                name="Dental Patient",
                field_key="contact.dental_patient",
                data_type="SINGLE_OPTIONS",
                options=("Yes",),
            ),
        ],
        folders={"clinical": "folder-c"},
        pipelines=[PipelineSnapshot(id="p1", name="patient lifecycle", stages=("New Patient", "Active"))],
    )
    plan = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, location=location, clock=clock))
    by_key = {f.field_key: f for f in plan.custom_fields}
    assert (by_key["contact.recall_date"].action, by_key["contact.recall_date"].existing_id) == (
        "reuse",
        "f1",
    )
    assert by_key["contact.recall_date"].folder_id == "folder-c"
    assert by_key["contact.outstanding_balance"].action == "conflict"
    assert "TEXT" in by_key["contact.outstanding_balance"].reason
    assert by_key["contact.dental_patient"].action == "conflict"
    assert "option" in by_key["contact.dental_patient"].reason
    assert "Clinical" not in plan.folders_to_create
    assert plan.pipeline is not None
    assert (plan.pipeline.exists, plan.pipeline.pipeline_id) == (True, "p1")
    assert plan.pipeline.missing_stages == ("Recall", "Inactive")


def test_warnings_count_claims_ledger_providers_contact_points_and_collisions(
    hand_source: ListSource,
) -> None:
    import anyio

    plan = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, clock=clock))
    warnings = {w.code: w.count for w in plan.warnings}
    assert warnings == {
        "open_insurance_claims": 1,  # c2: no insurance payment carries it
        "unposted_ledger_rows": 2,  # one post-dated, one undated
        "future_appointments_inactive_provider": 1,  # a1 (a4 is deleted)
        "patients_without_contact_point": 1,  # patient 3
        "family_contact_point_collisions": 1,  # patient 2 shares patient 1's mobile
    }


def test_request_counts_follow_dispositions_and_policies(hand_source: ListSource) -> None:
    import anyio

    plan = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, clock=clock))
    requests = plan.estimate.requests
    assert requests["contact_upserts"] == 5  # archived and non-patients are contacts by default policy
    assert requests["opportunities"] == 3  # archived (DND) and non-patient get none
    assert requests["notes"] == 2  # two journal entries; nothing overflows
    assert requests["appointments"] == 2  # future, not deleted; past ones are a summary field
    assert requests["users"] == 1  # the active provider
    to_create = sum(1 for f in plan.custom_fields if f.action == "create")
    assert requests["setup"] == 4 + to_create + 1  # lookups + fields + the calendar
    assert plan.estimate.total_requests == sum(requests.values())

    quiet = MigrationPolicies(journal_notes=False, calendar_name=None, pipeline_name=None)
    plan = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, policies=quiet, clock=clock))
    assert (plan.estimate.requests["notes"], plan.estimate.requests["appointments"]) == (0, 0)
    assert plan.estimate.requests["opportunities"] == 0
    assert plan.pipeline is None
    events = DefaultMapOptions(as_of=AS_OF, past_appointments="events", archived="skip")
    plan = anyio.run(lambda: build_plan(hand_source, options=events, clock=clock))
    assert plan.estimate.requests["appointments"] == 3
    assert plan.estimate.requests["contact_upserts"] == 4


def test_estimate_uses_the_location_rate_budget(hand_source: ListSource) -> None:
    import anyio

    budget = RateBudget(max_requests=50, window_ms=10_000, daily_max=100, daily_reserve=90)
    plan = anyio.run(
        lambda: build_plan(hand_source, options=OPTIONS, location=LocationSnapshot(rate_budget=budget))
    )
    total = plan.estimate.total_requests
    assert plan.estimate.rate_per_s == 5.0
    assert plan.estimate.duration_s == pytest.approx(total / 5.0)
    assert plan.estimate.days == -(-total // 10)


def test_proposals_for_extra_columns_enter_unapproved(g_plan: MigrationPlan) -> None:
    by_column = {p.column: p for p in g_plan.proposals}
    assert set(by_column) == {"Emergency Contact Phone", "Pref. Hygienist"}
    assert all(not p.approved for p in g_plan.proposals)
    phone = by_column["Emergency Contact Phone"]
    assert (phone.action, phone.data_type.value, phone.field_key) == (
        ProposalAction.CREATE,
        "PHONE",
        "contact.emergency_contact_phone",
    )
    assert 0 < phone.confidence <= 1
    assert phone.reason


def test_proposals_match_existing_location_fields(export_dir: Path) -> None:
    import anyio

    existing = ExistingCustomField(
        id="hyg", name="Preferred Hygienist", field_key="contact.preferred_hygienist", data_type="TEXT"
    )

    async def build() -> MigrationPlan:
        async with GExportSource(export_dir) as source:
            location = LocationSnapshot(custom_fields=[existing])
            return await build_plan(source, options=OPTIONS, location=location, clock=clock)

    plan = anyio.run(build)
    hygienist = next(p for p in plan.proposals if p.column == "Pref. Hygienist")
    assert (hygienist.action, hygienist.existing_field_id) == (ProposalAction.USE_EXISTING, "hyg")


def test_workflows_name_their_trigger_fields(g_plan: MigrationPlan) -> None:
    by_name = {w.name: w for w in g_plan.workflows}
    assert (by_name["Recall outreach"].trigger, by_name["Recall outreach"].trigger_vocabulary) == (
        "contact.recall_date",
        "Recall_Date__c",
    )
    assert by_name["Balance reminders"].trigger == "contact.outstanding_balance"
    assert "Appointment reminders" in by_name
    assert "Review requests" in by_name


def test_the_plan_reads_only(export_dir: Path, g_plan: MigrationPlan) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in export_dir.iterdir()}
    assert g_plan.source.patients == 24
    assert {p.name: p.stat().st_mtime_ns for p in export_dir.iterdir()} == before


# --- no patient values anywhere ---------------------------------------------------------------------------


def _phi(bundles: list[PatientBundle]) -> Iterator[str]:
    for b in bundles:
        p = b.patient
        if p.first_name and p.last_name:
            yield f"{p.first_name} {p.last_name}"
        for value in (p.email, p.address_line1, p.note):
            if value and len(value.strip()) >= 6:
                yield value.strip()
        for phone in (p.mobile_phone, p.home_phone, p.work_phone):
            digits = re.sub(r"\D", "", phone or "")
            if len(digits) >= 10:
                yield phone.strip()  # type: ignore[union-attr]
                yield digits[-10:]
        if p.birth_date:
            yield p.birth_date.isoformat()
        for extra in p.extra.values():
            if len(extra) >= 6:
                yield extra


def test_no_patient_value_in_the_saved_plan(
    g_plan: MigrationPlan, bundles: list[PatientBundle], tmp_path: Path
) -> None:
    g_plan.save(tmp_path)
    text = (tmp_path / PLAN_FILENAME).read_text(encoding="utf-8") + (
        tmp_path / PLAN_REPORT_FILENAME
    ).read_text(encoding="utf-8")
    values = sorted(set(_phi(bundles)))
    assert len(values) > 40  # the check has teeth: names, e-mails, phones, birth dates
    leaked = [v for v in values if v in text]
    assert leaked == []
    assert "Emergency Contact Phone" in text  # column names are not values


# --- save / load / hash / diff --------------------------------------------------------------------------


def test_save_load_round_trip(g_plan: MigrationPlan, tmp_path: Path) -> None:
    path = g_plan.save(tmp_path / "work")
    assert path == tmp_path / "work" / PLAN_FILENAME
    assert (tmp_path / "work").stat().st_mode & 0o077 == 0  # a new work directory is owner-only
    assert (tmp_path / "work" / PLAN_REPORT_FILENAME).read_text(encoding="utf-8") == g_plan.to_markdown()
    loaded = MigrationPlan.load(tmp_path / "work")
    assert loaded == g_plan
    assert loaded.content_hash == g_plan.content_hash
    assert loaded.diff(g_plan) == []
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["content_hash"] == g_plan.content_hash
    assert data["format"] == "dentrix-highlevel-plan"
    # The maps come back as working FieldMaps, checked against their records.
    maps = loaded.field_maps()
    assert isinstance(maps["contact"], FieldMap)
    assert maps["contact"].describe() == default_maps(OPTIONS).contact.describe()


def test_content_hash_is_the_documented_function(g_plan: MigrationPlan) -> None:
    assert g_plan.content_hash == plan_content_hash(
        maps=g_plan.maps,
        options=g_plan.options,
        policies=g_plan.policies,
        source_fingerprint=g_plan.source.fingerprint,
    )
    assert re.fullmatch(r"[0-9a-f]{64}", g_plan.content_hash)


def test_hash_ignores_the_plan_date_but_not_the_choices(hand_source: ListSource) -> None:
    import anyio

    def build(**kw: Any) -> MigrationPlan:
        return anyio.run(lambda: build_plan(hand_source, clock=clock, **kw))

    base = build(options=OPTIONS)
    later = build(options=DefaultMapOptions(as_of=AS_OF + dt.timedelta(days=2)))
    assert later.content_hash == base.content_hash
    assert later.diff(base) == []
    changed = build(options=DefaultMapOptions(as_of=AS_OF, long_text_limit_chars=3000))
    assert changed.content_hash != base.content_hash
    changes = base.diff(changed)
    assert changes[0] == "options.long_text_limit_chars: 4000 -> 3000"
    # The limit is a parameter of every long-text rule, so those rules changed too.
    assert "maps.contact: rule contact.clinical_notes changed" in changes[1:]
    assert all(c.startswith("maps.contact: rule contact.") for c in changes[1:])
    policy = build(options=OPTIONS, policies=MigrationPolicies(journal_notes=False))
    assert base.diff(policy) == ["policies.journal_notes: True -> False"]
    other = build(options=OPTIONS, fingerprint="g:another-practice")
    assert base.diff(other) == ["source: a different practice (source fingerprint changed)"]


def test_diff_names_map_rules_added_removed_and_changed(hand_source: ListSource) -> None:
    import anyio

    maps = default_maps(OPTIONS).all()
    base = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, maps=maps, clock=clock))
    contact = maps["contact"]
    rules = [r for r in contact.rules if r.target.label != "contact.chart_number"]
    rules = [attrs.evolve(r, required=True) if r.target.label == "city" else r for r in rules]
    edited = dict(maps, contact=attrs.evolve(contact, rules=rules))
    del edited["journal_note"]
    plan = anyio.run(lambda: build_plan(hand_source, options=OPTIONS, maps=edited, clock=clock))
    assert base.diff(plan) == [
        "maps.contact: rule city changed",
        "maps.contact: rule contact.chart_number removed",
        "maps.journal_note: removed",
    ]
    assert plan.diff(base)[1] == "maps.contact: rule contact.chart_number added"
    error = PlanChangedError("the plan changed since approval", changes=base.diff(plan))
    assert "maps.journal_note: removed" in error.changes


def test_an_edited_plan_file_is_validated(g_plan: MigrationPlan, tmp_path: Path) -> None:
    path = g_plan.save(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))
    rules = data["maps"]["contact"]["rules"]
    data["maps"]["contact"]["rules"] = [r for r in rules if r["target"] != "city"]
    path.write_text(json.dumps(data), encoding="utf-8")
    edited = MigrationPlan.load(tmp_path)
    assert edited.content_hash != g_plan.content_hash
    assert g_plan.diff(edited) == ["maps.contact: rule city removed"]
    data["maps"]["contact"]["rules"].append({"target": "city", "source": "patient.no_such_column"})
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanError, match="contact"):
        MigrationPlan.load(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "does not hold a plan"),
        ('{"format": "something-else"}', "not a plan file"),
        ('{"format": "dentrix-highlevel-plan", "format_version": 99}', "format_version"),
        ('{"format": "dentrix-highlevel-plan", "format_version": 1, "source": {}}', "not a valid plan"),
    ],
)
def test_bad_plan_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / PLAN_FILENAME).write_text(content, encoding="utf-8")
    with pytest.raises(PlanError, match=message):
        MigrationPlan.load(tmp_path)


def test_a_missing_plan_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"no plan\.json"):
        MigrationPlan.load(tmp_path)


# --- the location snapshot, read from the HighLevel sandbox --------------------------------------------


@pytest.mark.anyio
async def test_location_snapshot_reads_fields_pipelines_and_settings(sandbox: Any) -> None:
    from dentrix_highlevel.highlevel import CustomFieldInput

    loc = sandbox.create_location(allow_duplicates=True)
    async with HighLevelClient(
        location_id=loc.location_id, auth=loc.token, transport=sandbox.transport()
    ) as client:
        await client.custom_fields.create(
            CustomFieldInput(name="Recall Date", data_type="DATE", model="contact")
        )
        snapshot = await LocationSnapshot.read(client, folders={"Clinical": "folder-1"})
    assert snapshot.location_id == loc.location_id
    assert snapshot.allow_duplicates is True
    assert [(f.name, f.data_type.value) for f in snapshot.custom_fields] == [("Recall Date", "DATE")]
    assert snapshot.custom_fields[0].field_key.startswith("contact.")
    assert [(p.name, p.stages) for p in snapshot.pipelines] == [
        ("Patient Lifecycle", ("New Patient", "Active", "Recall", "Inactive"))
    ]
    assert snapshot.folders == {"Clinical": "folder-1"}
    assert snapshot.rate_budget == client.limiter.budget


# --- large practices: counted in full, profiled and mapped over a sample --------------------------------


def test_a_sample_limit_bounds_profiling_and_mapping(hand_source: ListSource) -> None:
    import anyio

    from dentrix_highlevel.records import ClinicalNote

    long_note = "x" * 300
    bundles = [
        attrs.evolve(
            b,
            clinical_notes=(
                ClinicalNote(note_id=f"n{i}", patient_id=b.patient_id, created_at=AS_OF, text=long_note),
            ),
        )
        if i < 4
        else b
        for i, b in enumerate(hand_source._bundles)
    ]
    source = ListSource(bundles, hand_source._providers)
    options = DefaultMapOptions(as_of=AS_OF, long_text_limit_chars=200)
    quiet = MigrationPolicies(journal_notes=False)

    full = anyio.run(lambda: build_plan(source, options=options, policies=quiet, clock=clock))
    assert full.mapped_patients == 5
    assert full.estimate.requests["notes"] == 4  # one overflow Note per long clinical note

    sampled = anyio.run(
        lambda: build_plan(source, options=options, policies=quiet, clock=clock, sample_limit=2)
    )
    assert sampled.mapped_patients == 2
    assert sampled.estimate.requests["notes"] == 5  # 2 overflows in 2 patients, scaled to 5 contacts
    patients = next(f for f in sampled.availability.files if f.record == "patient")
    assert (patients.records, patients.profiled) == (5, 2)
    assert sampled.availability.field("patient", "first_name").profile.rows == 2
    text = sampled.to_markdown()
    assert "5 records (the first 2 profiled)" in text
    assert "applied to the first 2 of 5 patients" in text


# --- the same plan from Dentrix Ascend (over HTTP, against the emulator) --------------------------------


@pytest.mark.anyio
async def test_a_plan_from_ascend() -> None:
    from dentrix_highlevel.ascend_emulator import AscendEmulator, AscendEmulatorConfig
    from dentrix_highlevel.sources import AscendSource

    emulator = AscendEmulator(
        SyntheticPractice(SynthConfig(patients=10, seed=3)), AscendEmulatorConfig(rate_max=100_000)
    )
    source = AscendSource(
        base_url="https://test.hs1api.com/ascend-gateway/api",
        client_id=emulator.config.client_id,
        client_secret=emulator.config.client_secret,
        organization_id=emulator.config.organization_id,
        practice_timezone="America/Denver",
        transport=emulator.transport(),
    )
    async with source:
        plan = await build_plan(source, options=OPTIONS, clock=clock)
    assert plan.source.kind == "ascend"
    assert plan.source.fingerprint == f"ascend:{emulator.config.organization_id}"
    assert plan.source.patients == 10
    assert plan.estimate.requests["contact_upserts"] == 10
    assert plan.estimate.requests["users"] >= 1  # providers come from the async providers()
    patients = next(f for f in plan.availability.files if f.record == "patient")
    assert patients.records == 10
    assert plan.availability.field("patient", "last_name").status.value == "transform"


def test_maps_the_choices_leave_unused_are_marked_and_read_nothing(g_plan: MigrationPlan) -> None:
    assert list(g_plan.inactive_maps) == ["clinical_note"]  # clinical notes go into a field by default
    assert g_plan.availability.field("clinical_note", "locked").status.value == "unmapped"
    assert "Not used in this plan: options.clinical_notes is 'field'" in g_plan.to_markdown()


def test_policies_switch_maps_off(hand_source: ListSource) -> None:
    import anyio

    quiet = MigrationPolicies(journal_notes=False, calendar_name=None, pipeline_name=None)
    options = DefaultMapOptions(as_of=AS_OF, clinical_notes="both")
    plan = anyio.run(lambda: build_plan(hand_source, options=options, policies=quiet, clock=clock))
    assert "clinical_note" not in plan.inactive_maps
    assert sorted(plan.inactive_maps) == ["appointment", "journal_note", "opportunity"]
    assert plan.availability.field("journal", "text").status.value == "unmapped"
    # Read only by the (switched off) appointment map; start still feeds the visit history summary.
    assert plan.availability.field("appointment", "status_meaning").status.value == "unmapped"
    assert plan.availability.field("appointment", "start").status.value == "custom_field"
