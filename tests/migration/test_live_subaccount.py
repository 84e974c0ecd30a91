"""Migrating into a sub-account the practice already uses (issue #14's held-out scenario, both orders).

The sub-account is seeded through HighLevel's own API: a marketing lead with a patient's e-mail (tags
``newsletter`` and ``fb-lead-2025``, source "Facebook Ad", an open opportunity "Whitening inquiry" worth 450
in the lifecycle pipeline), a web-form lead with another patient's mobile, and the dentist as a user. After
the run nothing is duplicated and the practice's data is intact beside the patients'; after rollback the
sub-account is exactly as it was.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import pytest

from dentrix_highlevel import GExportSource, Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.highlevel import HighLevelClient, RequestKind
from dentrix_highlevel.migration import MergePolicy, build_plan
from dentrix_highlevel.migration._engine.writers.contact import ContactIndex, plan_contact_points
from dentrix_highlevel.sandbox import Sandbox

from ._engine_helpers import client, contacts_by_source_id, export, normalised, scaled_sandbox, source

pytestmark = pytest.mark.anyio


@attrs.frozen
class Seeded:
    lead_email: str
    lead_phone: str
    email_patient: str
    phone_patient: str
    opportunity: str
    dentist: str


def _unique_points(practice: Path) -> tuple[Any, Any, Any]:
    """A patient with an e-mail no one else has, another with a mobile no one else has, and a provider
    with an e-mail."""
    with GExportSource(practice) as staged:
        bundles = list(staged.iter_bundles())
        providers = list(staged.providers())
    emails = Counter(b.patient.email.lower() for b in bundles if b.patient.email)
    phones = Counter(
        p for b in bundles for p in (b.patient.mobile_phone, b.patient.home_phone, b.patient.work_phone) if p
    )
    by_email = next(b for b in bundles if b.patient.email and emails[b.patient.email.lower()] == 1)
    by_phone = next(
        b
        for b in bundles
        if b.patient_id != by_email.patient_id
        and b.patient.mobile_phone
        and phones[b.patient.mobile_phone] == 1
        and not b.patient.email
    )
    dentist = next(p for p in providers if p.email and not p.is_non_person)
    return by_email, by_phone, dentist


async def _seed(sandbox: Sandbox, loc: Any, practice: Path) -> Seeded:
    by_email, by_phone, dentist = _unique_points(practice)
    async with client(sandbox, loc) as hl:
        lead = await hl.call(
            "POST",
            "/contacts/",
            kind=RequestKind.CREATE,
            json={
                "locationId": loc.location_id,
                "email": by_email.patient.email,
                "firstName": "Marketing",
                "lastName": "Lead",
                "source": "Facebook Ad",
                "tags": ["newsletter", "fb-lead-2025"],
            },
        )
        web = await hl.call(
            "POST",
            "/contacts/",
            kind=RequestKind.CREATE,
            json={
                "locationId": loc.location_id,
                "phone": by_phone.patient.mobile_phone,
                "firstName": "Web",
                "source": "Web Form",
                "tags": ["web-form"],
            },
        )
        pipeline = await hl.pipelines.find(name="Patient Lifecycle")
        assert pipeline is not None
        opp = await hl.call(
            "POST",
            "/opportunities/",
            kind=RequestKind.CREATE,
            json={
                "locationId": loc.location_id,
                "pipelineId": pipeline.id,
                "contactId": lead["contact"]["id"],
                "name": "Whitening inquiry",
                "status": "open",
                "monetaryValue": 450,
            },
        )
        user = await hl.call(
            "POST",
            "/users/",
            kind=RequestKind.CREATE,
            json={
                "companyId": loc.company_id,
                "firstName": "Practice",
                "lastName": "Dentist",
                "email": dentist.email,
                "password": "Sandbox-Password-1!",
                "type": "account",
                "role": "admin",
                "locationIds": [loc.location_id],
            },
        )
    _settle(sandbox)
    return Seeded(
        lead_email=lead["contact"]["id"],
        lead_phone=web["contact"]["id"],
        email_patient=by_email.patient_id,
        phone_patient=by_phone.patient_id,
        opportunity=opp["opportunity"]["id"],
        dentist=user["id"],
    )


def _settle(sandbox: Sandbox) -> None:
    """The practice's data is old: HighLevel's search index has caught up with it."""
    settle = getattr(sandbox, "settle_search_index", None)
    if callable(settle):
        settle()


@pytest.mark.parametrize(
    "order", [("email", "phone"), ("phone", "email")], ids=["email-first", "phone-first"]
)
async def test_patients_land_beside_the_practices_data_and_rollback_restores_it(
    tmp_path: Path, order: tuple[str, str]
) -> None:
    practice = export(tmp_path, patients=30, seed=17)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(dedupe_order=order)
    seeded = await _seed(sandbox, loc, practice)
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(provider_users=True, dedupe_order=order)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        assert (await migration.preflight()).ok
        migration.approve(by="manager")
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.totals().failed == 0, result.reconciliation.render()
        state = sandbox.location(loc.location_id)

        # No duplicates: one contact per patient, the two leads are those patients' contacts.
        mine = contacts_by_source_id(sandbox, loc.location_id)
        assert all(len(v) == 1 for k, v in mine.items() if k)
        assert mine[seeded.email_patient][0]["id"] == seeded.lead_email
        assert mine[seeded.phone_patient][0]["id"] == seeded.lead_phone
        lead = state.contacts[seeded.lead_email]
        web = state.contacts[seeded.lead_phone]
        # The practice's tags, source and names stay; the patient's tags are added.
        assert {"newsletter", "fb-lead-2025", "dentrix"} <= set(lead["tags"])
        assert {"web-form", "dentrix"} <= set(web["tags"])
        assert (lead["source"], web["source"]) == ("Facebook Ad", "Web Form")
        assert (lead["firstName"], web["firstName"]) == ("Marketing", "Web")
        # One opportunity for the lead in the pipeline: the practice's, name and value kept.
        opps = [o for o in state.opportunities.values() if o["contactId"] == seeded.lead_email]
        assert [o["id"] for o in opps] == [seeded.opportunity]
        assert (opps[0]["name"], opps[0]["monetaryValue"]) == ("Whitening inquiry", 450)
        # The dentist is linked, not created again.
        dentists = [
            u for u in state.users.values() if u["email"].lower() == state.users[seeded.dentist]["email"]
        ]
        assert len(dentists) == 1

        reconciled = await migration.reconcile()
        assert reconciled.ok, (reconciled.mismatches, reconciled.reconciliation.render())

        # The practice loses a tag behind our back: reconcile says so.
        async with HighLevelClient(
            location_id=loc.location_id, token=loc.token, transport=sandbox.transport()
        ) as admin:
            await admin.call(
                "DELETE",
                f"/contacts/{seeded.lead_email}/tags",
                kind=RequestKind.IDEMPOTENT,
                json={"tags": ["newsletter"]},
            )
        lost = await migration.reconcile()
        assert (f"patient:{seeded.email_patient}", "tags") in lost.mismatches
        async with HighLevelClient(
            location_id=loc.location_id, token=loc.token, transport=sandbox.transport()
        ) as admin:
            await admin.call(
                "POST",
                f"/contacts/{seeded.lead_email}/tags",
                kind=RequestKind.IDEMPOTENT,
                json={"tags": ["newsletter"]},
            )

        # A re-run and a delta keep the practice's tags too.
        assert (await migration.run()).status is RunStatus.COMPLETED
        assert (await migration.delta()).status is RunStatus.COMPLETED
        assert {"newsletter", "fb-lead-2025"} <= set(state.contacts[seeded.lead_email]["tags"])

        rolled = await migration.rollback()
        assert rolled.status is RunStatus.COMPLETED
    assert normalised(sandbox.dump()) == before


async def test_the_collision_report_predicts_the_merges(tmp_path: Path) -> None:
    from dentrix_highlevel.migration import LocationSnapshot

    practice = export(tmp_path, patients=30, seed=17)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    await _seed(sandbox, loc, practice)
    policies = MigrationPolicies(provider_users=True)
    async with client(sandbox, loc) as hl:
        snapshot = await LocationSnapshot.read(hl, users=True)
        with GExportSource(practice) as staged:
            plan = await build_plan(staged, policies=policies, location=snapshot)
    report = plan.collisions
    assert report is not None
    assert (report.merge_by_email, report.merge_by_phone) == (1, 1)
    assert report.opportunities_adopted == 1
    assert report.users_adopted == 1
    assert report.contacts_in_location == 2
    assert report.read_requests >= 3
    assert plan.estimate.requests["existing_data"] >= report.read_requests + 2
    text = plan.to_markdown()
    assert "patients merging into an existing contact by e-mail | 1" in text
    assert "existing opportunities adopted (name and value kept) | 1" in text


def test_the_dedupe_order_decides_which_existing_contact_a_patient_lands_on() -> None:
    index = ContactIndex(
        by_point={("email", "a@x.example"): "lead-email", ("phone", "+15555550100"): "lead-phone"}
    )
    patient = [("patient:1", {"email": "a@x.example", "phone": "+15555550100"}, False)]
    common = {"allow_duplicates": False, "policy": MigrationPolicies().family_contacts}
    email_first = plan_contact_points(patient, index, dedupe_order=("email", "phone"), **common)["patient:1"]
    phone_first = plan_contact_points(patient, index, dedupe_order=("phone", "email"), **common)["patient:1"]
    assert (email_first.existing_id, email_first.matched_by, email_first.withheld) == (
        "lead-email",
        "email",
        ("phone",),
    )
    assert (phone_first.existing_id, phone_first.matched_by, phone_first.withheld) == (
        "lead-phone",
        "phone",
        ("email",),
    )


async def test_overwrite_is_opt_in_per_field_and_dnd_only_gets_stricter(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=30, seed=17)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    seeded = await _seed(sandbox, loc, practice)
    policies = MigrationPolicies(merge=MergePolicy(overwrite={"source", "firstName"}))
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
        lead = sandbox.location(loc.location_id).contacts[seeded.lead_email]
        assert lead["source"] == "Dentrix"
        assert lead["firstName"] != "Marketing"
        assert lead["lastName"] == "Lead", "not opted in: the practice's value stays"
        assert {"newsletter", "fb-lead-2025"} <= set(lead["tags"])
        rows = [r for r in migration.ledger.audit_rows() if r.destination_id == seeded.lead_email]
        assert any("merged into the practice's contact (same email)" in (r.reason or "") for r in rows)
