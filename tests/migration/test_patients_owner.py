"""Provider users own their patients: ``assignedTo`` on the contact and the opportunity (issue #5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration._engine_helpers import (
    client,
    contacts_by_source_id,
    export,
    normalised,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


async def test_contacts_and_opportunities_carry_the_primary_providers_user(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=12, seed=21)
    with GExportSource(practice) as staged:
        emails = {p.provider_id: p.email.casefold() for p in staged.providers() if p.email}
        providers = {b.patient_id: b.patient.primary_provider_id for b in staged.iter_bundles()}
    assert any(providers.get(pid) in emails for pid in providers), "patients of providers with a user"
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(provider_users=True, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        state = sandbox.location(loc.location_id)
        user_of = {
            pid: uid
            for pid, email in emails.items()
            for uid, user in state.users.items()
            if str(user.get("email", "")).casefold() == email
        }
        assert set(user_of) == set(emails)
        by_source = contacts_by_source_id(sandbox, loc.location_id)
        checked = 0
        for patient_id, provider_id in providers.items():
            contacts = by_source.get(patient_id, [])
            if not contacts:
                continue  # not migrated as a contact (e.g. inactive, per the default disposition)
            (contact,) = contacts
            expected = user_of.get(provider_id or "")
            assert contact.get("assignedTo") == expected, patient_id
            for opportunity in state.opportunities.values():
                if opportunity.get("contactId") == contact["id"]:
                    assert opportunity.get("assignedTo") == expected, patient_id
                    checked += 1
        assert checked, "some opportunities were checked"
        assert first.reconciliation.reconciles, first.reconciliation.render()

        # Ownership is part of what was sent: a re-run writes nothing.
        log = len(sandbox.request_log)
        await migration.run()
        assert [
            r
            for r in sandbox.request_log[log:]
            if r.method in ("POST", "PUT", "DELETE") and "search" not in r.path
        ] == []

        await migration.rollback()
    assert normalised(sandbox.dump()) == before


async def test_without_the_policy_nothing_is_assigned(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=5, seed=21)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
    state = sandbox.location(loc.location_id)
    assert state.contacts
    assert state.opportunities
    assert all("assignedTo" not in c for c in state.contacts.values())
    assert all(o.get("assignedTo") is None for o in state.opportunities.values())
