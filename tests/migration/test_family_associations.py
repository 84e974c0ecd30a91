"""``family_associations``: each family member's contact is related to its guarantor's contact, once."""

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


def test_the_policy_is_in_the_plan_only_when_chosen() -> None:
    assert "family_associations" not in MigrationPolicies().to_dict()
    assert MigrationPolicies(family_associations=True).to_dict()["family_associations"] is True


async def test_members_are_linked_to_their_guarantor_once_and_rolled_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=16, seed=5)
    with GExportSource(practice) as staged:
        guarantor_of = {b.patient_id: b.patient.guarantor_id for b in staged.iter_bundles()}
    members = {p: g for p, g in guarantor_of.items() if g and g != p}
    assert members, "the synthetic practice has families"
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(family_associations=True, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        assert first.reconciliation.reconciles, first.reconciliation.render()
        state = sandbox.location(loc.location_id)
        (association,) = state.associations.values()
        assert association["key"] == "family_member"
        contact_of = {
            pid: c[0]["id"] for pid, c in contacts_by_source_id(sandbox, loc.location_id).items() if pid
        }
        linked = 0
        for member, guarantor in members.items():
            mine = [
                r
                for r in state.relations.values()
                if member in contact_of and r["firstRecordId"] == contact_of[member]
            ]
            if member not in contact_of or guarantor not in contact_of:
                assert mine == []
                continue
            assert [(r["secondRecordId"], r["associationId"]) for r in mine] == [
                (contact_of[guarantor], association["id"])
            ]
            linked += 1
        assert linked
        assert len(state.relations) == linked

        # A re-run sends no write at all: the association and every relation are in the ledger.
        log = len(sandbox.request_log)
        again = await migration.run()
        assert again.status is RunStatus.COMPLETED
        writes = [r for r in sandbox.request_log[log:] if r.method != "GET" and "search" not in r.path]
        assert writes == []

        await migration.rollback()
    assert normalised(sandbox.dump()) == before


async def test_an_existing_association_is_reused_and_kept(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=8, seed=5)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(family_associations=True, calendar_name=None)
    async with client(sandbox, loc) as hl:
        theirs = await hl.associations.create(
            key="family_member",
            first_object_key="contact",
            first_object_label="Member",
            second_object_key="contact",
            second_object_label="Head",
        )
        before = normalised(sandbox.dump())
        async with Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration:
            migration.approve(by="manager")
            await migration.run()
            relations = sandbox.location(loc.location_id).relations.values()
            assert relations
            assert {r["associationId"] for r in relations} == {theirs.id}
            await migration.rollback()
    assert normalised(sandbox.dump()) == before
