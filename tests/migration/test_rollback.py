"""Rollback returns the sub-account to its exact pre-migration state, also when it already held contacts."""

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

from dentrix_highlevel.highlevel import RequestKind
from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


async def test_rollback_restores_exact_pre_state_of_a_used_location(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=11)
    with GExportSource(practice) as staged:
        emails = [b.patient.email for b in staged.iter_bundles() if b.patient.email]
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with client(sandbox, loc) as hl:
        # The practice already uses HighLevel: a calendar, tags, contacts (two match patients by e-mail).
        await hl.calendars.create(name="Dentrix Appointments", calendar_type="event")
        for n, email in enumerate([emails[0].upper(), emails[3], "walk-in@elsewhere.example"]):
            await hl.call(
                "POST",
                "/contacts/",
                kind=RequestKind.CREATE,
                json={
                    "locationId": loc.location_id,
                    "email": email,
                    "firstName": f"Existing{n}",
                    "tags": ["vip"],
                    "city": "Boulder",
                },
            )
        before = normalised(sandbox.dump())

        async with Migration(source(practice), hl, workdir=tmp_path / "wd") as migration:
            migration.approve(by="manager")
            result = await migration.run()
            assert result.status is RunStatus.COMPLETED
            state = sandbox.location(loc.location_id)
            assert len(state.contacts) == 20 + 1, "two patients landed on the practice's matching contacts"
            matched = [c for c in state.contacts.values() if c.get("firstName", "").startswith("Existing")]
            # Merged, not overwritten: the practice's names, cities and tags stay; the patients' tags join.
            assert len(matched) == 3
            assert all("vip" in c["tags"] and c["city"] == "Boulder" for c in matched)
            assert sum("dentrix" in c["tags"] for c in matched) == 2
            assert normalised(sandbox.dump()) != before

            rolled = await migration.rollback()
            assert rolled.status is RunStatus.COMPLETED
            assert normalised(sandbox.dump()) == before

            # Idempotent: a second rollback finds nothing to do and changes nothing.
            log = len(sandbox.request_log)
            await migration.rollback()
            assert [
                r for r in sandbox.request_log[log:] if r.method != "GET" and "search" not in r.path
            ] == []
            assert normalised(sandbox.dump()) == before

            # And the migration can run again from scratch after a rollback.
            again = await migration.run()
            assert again.status is RunStatus.COMPLETED
            assert all(len(v) == 1 for k, v in contacts_by_source_id(sandbox, loc.location_id).items() if k)
            await migration.rollback()
            assert normalised(sandbox.dump()) == before


async def test_provider_users_are_created_once_and_rolled_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=6, seed=12)
    with GExportSource(practice) as staged:
        with_email = [p for p in staged.providers() if p.email]
    assert with_email, "the synthetic practice's providers have e-mails"
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(provider_users=True, calendar_name=None)
    before = normalised(sandbox.dump())
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        users = sandbox.location(loc.location_id).users
        assert len(users) == len(with_email)
        assert first.reconciliation.reconciles, first.reconciliation.render()
        await migration.run()
        assert len(sandbox.location(loc.location_id).users) == len(with_email)
        await migration.rollback()
    assert normalised(sandbox.dump()) == before
