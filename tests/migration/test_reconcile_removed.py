"""The whole-migration reconciliation after deltas that found patients gone from the source (issue #6):
``source + removed`` balances the ledger's records, per policy, and again once the patient is re-added."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.migration._engine_helpers import (
    client,
    contacts_by_source_id,
    edit_patients,
    export,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.mapping import ClinicalNotesMode, DefaultMapOptions, PastAppointmentsMode
from dentrix_highlevel.migration import (
    Migration,
    MigrationPolicies,
    Reconciliation,
    RecordAction,
    RemovedInSourcePolicy,
    RunStatus,
)
from dentrix_highlevel.records import PatientBundle
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio

# Clinical notes as Notes and past appointments as events, so the removed patient has notes and
# appointments in HighLevel (and broken or deleted appointments skipped).
OPTIONS = DefaultMapOptions(
    clinical_notes=ClinicalNotesMode.NOTES, past_appointments=PastAppointmentsMode.EVENTS
)


def _not_sent(bundle: PatientBundle) -> int:
    return sum(a.deleted or a.broken or a.start is None for a in bundle.appointments)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, PatientBundle]:
    base = tmp_path_factory.mktemp("removed")
    monday = export(base, patients=20, seed=9, name="monday")
    with GExportSource(monday) as staged:
        bundles = list(staged.iter_bundles())
    guarantors = {b.patient.guarantor_id for b in bundles}
    # Nobody's guarantor (no family link hangs off them), with appointments sent and skipped, clinical
    # notes and journal entries.
    gone = max(
        (b for b in bundles if b.patient_id not in guarantors),
        key=lambda b: (
            _not_sent(b) > 0,
            bool(b.clinical_notes),
            bool(b.journal),
            len(b.appointments) + len(b.clinical_notes) + len(b.journal),
            b.patient_id,
        ),
    )
    assert len(gone.appointments) > _not_sent(gone) > 0
    assert gone.clinical_notes
    tuesday = base / "tuesday"
    shutil.copytree(monday, tuesday)
    edit_patients(tuesday, {}, drop=(gone.patient_id,))
    return monday, tuesday, gone


def _belongs_to(key: str, gone: PatientBundle) -> bool:
    own = key == f"patient:{gone.patient_id}" or key.startswith(f"patient:{gone.patient_id}/")
    related = (
        {f"appointment:{a.appointment_id}" for a in gone.appointments}
        | {f"clinical_note:{n.note_id}" for n in gone.clinical_notes}
        | {f"journal:{j.contact_id}" for j in gone.journal}
    )
    return own or key.split("/", 1)[0] in related


def _removed(rec: Reconciliation) -> dict[str, int]:
    return {k.kind: k.removed for k in rec.kinds if k.removed}


def _check_saved(workdir: Path, rec: Reconciliation) -> None:
    saved = json.loads((workdir / "reconciliation.json").read_text("utf-8"))
    assert saved["reconciles"] is True
    assert {k["kind"]: k["removed"] for k in saved["kinds"] if k["removed"]} == _removed(rec)


@pytest.mark.parametrize("policy", [RemovedInSourcePolicy.KEEP, RemovedInSourcePolicy.DELETE])
async def test_whole_reconcile_balances_after_a_removal_and_after_the_patient_is_re_added(
    exports: tuple[Path, Path, PatientBundle], tmp_path: Path, policy: RemovedInSourcePolicy
) -> None:
    monday, tuesday, gone = exports
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(removed_in_source=policy)
    workdir = tmp_path / "wd"
    async with (
        client(sandbox, loc) as hl,
        Migration(source(monday), hl, workdir=workdir, options=OPTIONS, policies=policies) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
        before = {(r.kind, r.source_key) for r in migration.ledger.records()}
        mine = {f"appointment:{a.appointment_id}" for a in gone.appointments}
        sent = {
            r.source_key
            for r in migration.ledger.records("appointment")
            if r.source_key in mine and r.destination_id is not None
        }
        assert sent, "some of the removed patient's appointments are in HighLevel"
        theirs = {(kind, key) for kind, key in before if _belongs_to(key, gone)}
        expected = {kind: sum(1 for k, _ in theirs if k == kind) for kind in {kind for kind, _ in theirs}}
        assert expected["appointment"] == len(gone.appointments)
        assert expected["note"] >= len(gone.clinical_notes)

        delta = await migration.delta(source(tuesday))
        assert delta.status is RunStatus.COMPLETED
        assert delta.reconciliation.reconciles, delta.reconciliation.render()
        contact = delta.reconciliation.kind("contact")
        assert contact is not None
        assert (contact.removed, contact.skipped) == (1, 1)

        whole = await migration.reconcile()
        rec = whole.reconciliation
        assert rec.reconciles, rec.render()
        assert whole.mismatches == ()
        # Exactly the removed patient's records, none dropped, none counted as source records.
        assert _removed(rec) == expected
        assert rec.kind("contact").source == 19  # type: ignore[union-attr]
        _check_saved(workdir, rec)
        records = {(r.kind, r.source_key): r for r in migration.ledger.records()}
        assert theirs <= set(records), "the removed patient's records stay accounted for"
        contact_row = records[("contact", f"patient:{gone.patient_id}")]
        assert contact_row.action is RecordAction.SKIPPED
        assert "no longer in the source" in (contact_row.reason or "")
        audit = [
            r for r in migration.ledger.audit_rows(run_id=delta.run_id) if (r.kind, r.source_key) in theirs
        ]
        if policy is RemovedInSourcePolicy.DELETE:
            # Every object deleted with the contact is in the audit log, and no record claims it exists.
            assert all(records[pair].destination_id is None for pair in theirs if pair[0] != "contact")
            deleted = [r for r in audit if "deleted with the contact" in (r.reason or "")]
            assert {r.kind for r in deleted} >= {"appointment", "note"}
            assert all(records[pair].action is RecordAction.SKIPPED for pair in theirs)
        in_highlevel = gone.patient_id in contacts_by_source_id(sandbox, loc.location_id)
        assert in_highlevel is (policy is RemovedInSourcePolicy.KEEP)
        if policy is RemovedInSourcePolicy.KEEP:
            assert [r.source_key for r in audit] == [f"patient:{gone.patient_id}"], "kept: not touched"

        # Re-added to the source: their records are source records again, nothing removed.
        again = await migration.delta(source(monday))
        assert again.status is RunStatus.COMPLETED
        assert again.reconciliation.reconciles, again.reconciliation.render()
        whole = await migration.reconcile()
        rec = whole.reconciliation
        assert rec.reconciles, rec.render()
        assert whole.mismatches == ()
        assert _removed(rec) == {}
        assert rec.kind("contact").source == 20  # type: ignore[union-attr]
        back = migration.ledger.record("contact", f"patient:{gone.patient_id}")
        assert back is not None
        assert back.destination_id is not None
        assert back.action is not RecordAction.SKIPPED
        # Their appointments are in HighLevel again (deleted with the contact: created anew), each once.
        live = [
            o for o in migration.ledger.created_objects() if o.kind == "appointment" and o.source_key in sent
        ]
        assert sorted(o.source_key for o in live) == sorted(sent)
        assert {o.parent_id for o in live} == {back.destination_id}
