"""``family_associations`` in a delta: a member whose guarantor changed gets the old relation deleted and a
new one made; the ledger marks the old one rolled back, so rollback deletes only the live relation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.migration._engine_helpers import (
    client,
    contacts_by_source_id,
    edit_patients,
    export,
    normalised,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.migration import (
    Migration,
    MigrationPolicies,
    RecordAction,
    RemovedInSourcePolicy,
    RunStatus,
)
from dentrix_highlevel.migration._engine.writers.association import family_link_key
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


async def test_a_new_guarantor_replaces_the_relation_and_rollback_deletes_only_the_live_one(
    tmp_path: Path,
) -> None:
    first = export(tmp_path, patients=16, seed=5, name="monday")
    with GExportSource(first) as staged:
        guarantor_of = {b.patient_id: b.patient.guarantor_id for b in staged.iter_bundles()}
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(family_associations=True, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(first), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
        state = sandbox.location(loc.location_id)
        contact_of = {
            pid: c[0]["id"] for pid, c in contacts_by_source_id(sandbox, loc.location_id).items() if pid
        }
        patient_of = {cid: pid for pid, cid in contact_of.items()}
        relations_before = len(state.relations)
        # A linked member, and a guarantor of another family (with a contact) to move it to.
        old_relation = next(iter(state.relations.values()))
        member = patient_of[old_relation["firstRecordId"]]
        old_guarantor = guarantor_of[member]
        new_guarantor = next(
            pid
            for pid, g in sorted(guarantor_of.items())
            if g == pid and pid not in (old_guarantor, member) and pid in contact_of
        )

        second = tmp_path / "tuesday"
        shutil.copytree(first, second)
        edit_patients(second, {member: {"guar_id": new_guarantor}})
        delta = await migration.delta(source(second))
        assert delta.status is RunStatus.COMPLETED
        assert delta.reconciliation.reconciles, delta.reconciliation.render()

        mine = [r for r in state.relations.values() if r["firstRecordId"] == contact_of[member]]
        assert [r["secondRecordId"] for r in mine] == [contact_of[new_guarantor]]
        assert old_relation["id"] not in state.relations
        assert len(state.relations) == relations_before

        ledger = migration.ledger
        key = family_link_key(member)
        rows = {r.source_key: r for r in ledger.audit_rows(run_id=delta.run_id) if r.kind == "relation"}
        assert (rows[key].action, rows[key].destination_id) == (RecordAction.CREATED, mine[0]["id"])
        # Any other member the delta saw keeps its relation (same digest: nothing sent).
        assert all(r.action is RecordAction.UNCHANGED for k, r in rows.items() if k != key)
        record = ledger.record("relation", key)
        assert record is not None
        assert record.destination_id == mine[0]["id"]
        relations = {
            o.destination_id: o.rolled_back_at
            for o in ledger.created_objects(include_rolled_back=True)
            if o.kind == "relation"
        }
        assert relations[old_relation["id"]] is not None  # deleted by the delta: marked rolled back
        assert relations[mine[0]["id"]] is None
        assert ledger.owner_of("relation", old_relation["id"]) is None

        # The same delta again: nothing to replace, no association write at all.
        mark = len(sandbox.request_log)
        again = await migration.delta(source(second))
        assert again.status is RunStatus.COMPLETED
        assert [
            r for r in sandbox.request_log[mark:] if r.path.startswith("/associations") and r.method != "GET"
        ] == []

        mark = len(sandbox.request_log)
        await migration.rollback()
        deleted = [
            r.path
            for r in sandbox.request_log[mark:]
            if r.method == "DELETE" and r.path.startswith("/associations/relations")
        ]
        assert len(deleted) == relations_before  # the live relations only, once each
        assert not any(old_relation["id"] in path for path in deleted)
    assert normalised(sandbox.dump()) == before


async def test_a_member_who_no_longer_gets_a_relation_loses_the_migrations_one(tmp_path: Path) -> None:
    first = export(tmp_path, patients=16, seed=5, name="monday")
    with GExportSource(first) as staged:
        guarantor_of = {b.patient_id: b.patient.guarantor_id for b in staged.iter_bundles()}
    # One member becomes their own guarantor; a guarantor with members leaves the source (deleted).
    own = next(pid for pid, g in sorted(guarantor_of.items()) if g != pid)
    gone = next(
        g
        for g in sorted(set(guarantor_of.values()))
        if g != guarantor_of[own] and list(guarantor_of.values()).count(g) > 2
    )
    orphans = sorted(pid for pid, g in guarantor_of.items() if g == gone and pid != gone)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(
        family_associations=True, calendar_name=None, removed_in_source=RemovedInSourcePolicy.DELETE
    )
    async with (
        client(sandbox, loc) as hl,
        Migration(source(first), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
        state = sandbox.location(loc.location_id)
        contact_of = {
            pid: c[0]["id"] for pid, c in contacts_by_source_id(sandbox, loc.location_id).items() if pid
        }
        linked = {r["firstRecordId"]: r["id"] for r in state.relations.values()}
        dropped = {linked[contact_of[pid]] for pid in [own, *orphans]}
        kept = set(state.relations) - dropped

        second = tmp_path / "tuesday"
        shutil.copytree(first, second)
        edit_patients(second, {own: {"guar_id": own}}, drop=(gone,))
        delta = await migration.delta(source(second))
        assert delta.status is RunStatus.COMPLETED
        assert delta.reconciliation.reconciles, delta.reconciliation.render()
        assert set(state.relations) == kept
        assert contact_of[gone] not in state.contacts

        ledger = migration.ledger
        rows = {r.source_key: r for r in ledger.audit_rows(run_id=delta.run_id) if r.kind == "relation"}
        own_row = rows[family_link_key(own)]
        assert own_row.action is RecordAction.SKIPPED
        assert own_row.reason == "the patient is now their own guarantor: the migration's relation deleted"
        assert ledger.record("relation", family_link_key(own)) is None  # not a member: nothing to reconcile
        for pid in orphans:
            row = rows[family_link_key(pid)]
            assert row.action is RecordAction.SKIPPED
            assert row.reason is not None
            assert row.reason.startswith("the guarantor is no longer in the source")
            assert row.reason.endswith("the migration's relation deleted")
        live = {o.destination_id for o in ledger.created_objects() if o.kind == "relation"}
        assert live == kept
        relations = (await migration.reconcile()).reconciliation.kind("relation")
        assert relations is not None
        assert relations.reconciles, relations

        mark = len(sandbox.request_log)
        await migration.rollback()
        deleted = [
            r.path
            for r in sandbox.request_log[mark:]
            if r.method == "DELETE" and r.path.startswith("/associations/relations")
        ]
        assert len(deleted) == len(kept)
        assert not [p for p in deleted if p.rsplit("/", 1)[-1] in dropped]
    assert normalised(sandbox.dump()) == before
