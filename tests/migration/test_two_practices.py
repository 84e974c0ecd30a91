"""Two practices of a dental group migrated into ONE HighLevel location, with overlapping patient ids.

The synthetic generator gives every seed the same patient ids (1001, 1002, ...), which is what two real
offices' Dentrix databases look like. Source keys are namespaced by practice (``Source Practice ID`` on
every contact, uploads named inside the namespace), so: no lookup of one practice ever matches the other's
objects, even when the second practice's creates are ambiguous (5xx after commit, "created anyway", resets)
and resolved by search; and rolling one practice back leaves the other's contacts, notes, opportunities,
appointments, tags and custom fields exactly as they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import client, export, source

from dentrix_highlevel.errors import HighLevelError
from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig

pytestmark = pytest.mark.anyio

PATIENTS = 12
A, B = "g:CVFD1", "g:CVFD2"
FAULTS = FaultConfig(
    error_after_commit_rate=0.12,
    created_anyway_rate=0.15,
    reset_rate=0.04,
    error_statuses=(502,),
)


def _policies(**kw: Any) -> MigrationPolicies:
    return MigrationPolicies(search_lag_s=0.05, ambiguous_lookup_s=2.0, upload_documents=True, **kw)


def _sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100, search_index_lag_ms=50))


def _field_id(sandbox: Sandbox, location_id: str, key: str) -> str:
    loc = sandbox.location(location_id)
    return next(f["id"] for f in loc.custom_fields.values() if f["fieldKey"] == key)


def _value(contact: dict[str, Any], field_id: str) -> Any:
    return next((c.get("value") for c in contact.get("customFields", []) if c["id"] == field_id), None)


def _by_practice(sandbox: Sandbox, location_id: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Source Practice ID -> Source System ID -> the contact (a second contact for one key fails)."""
    loc = sandbox.location(location_id)
    source_field = _field_id(sandbox, location_id, "contact.source_system_id")
    practice_field = _field_id(sandbox, location_id, "contact.source_practice_id")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for contact in loc.contacts.values():
        practice, key = _value(contact, practice_field), _value(contact, source_field)
        assert key not in out.setdefault(str(practice), {}), f"a second contact for {practice}/{key}"
        out[str(practice)][str(key)] = contact
    return out


def _children(sandbox: Sandbox, location_id: str, contact_ids: set[str]) -> dict[str, list[str]]:
    """The notes, opportunities, events and tasks hanging off these contacts (as canonical JSON)."""
    loc = sandbox.location(location_id)

    def rows(objects: Any) -> list[str]:
        return sorted(json.dumps(o, sort_keys=True) for o in objects if o.get("contactId") in contact_ids)

    return {
        "notes": rows(loc.notes.values()),
        "opportunities": rows(loc.opportunities.values()),
        "events": rows(loc.events.values()),
        "tasks": rows(getattr(loc, "tasks", {}).values()),
    }


async def _run(sandbox: Sandbox, loc: Any, practice: Path, workdir: Path, policies: MigrationPolicies) -> Any:
    result = None
    for _attempt in range(8):
        async with (
            client(sandbox, loc) as hl,
            Migration(source(practice), hl, workdir=workdir, policies=policies) as migration,
        ):
            migration.approve(by="manager")
            try:
                result = await migration.run()
            except HighLevelError:  # a fault that outlasted the retries: run again, as an operator would
                continue
            if result.status is RunStatus.COMPLETED and result.reconciliation.totals().failed == 0:
                ledger = migration.ledger
                contacts = {
                    r.source_key.removeprefix("patient:"): r.destination_id for r in ledger.records("contact")
                }
                return ledger.note("practice_namespace"), contacts, result
    raise AssertionError(f"the run did not converge: {result}")


async def _rollback(sandbox: Sandbox, loc: Any, practice: Path, workdir: Path) -> None:
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=workdir, policies=_policies()) as migration,
    ):
        rolled = await migration.rollback()
        assert rolled.status is RunStatus.COMPLETED


async def test_two_practices_with_overlapping_ids_never_cross_match_and_roll_back_apart(
    tmp_path: Path,
) -> None:
    first = export(tmp_path, patients=PATIENTS, seed=3, name="office-a", practice_id="CVFD1")
    second = export(tmp_path, patients=PATIENTS, seed=11, name="office-b", practice_id="CVFD2")
    async with source(first) as a, source(second) as b:
        ids_a = {bundle.patient_id async for bundle in a.bundles()}
        ids_b = {bundle.patient_id async for bundle in b.bundles()}
        docs = sum([len(bundle.documents) async for bundle in b.bundles()])
    assert ids_a == ids_b, "the synthetic practices share their patient ids: the case under test"
    sandbox = _sandbox()
    loc = sandbox.create_location(allow_duplicates=False)
    async with client(sandbox, loc) as hl:
        tags_before = {t.name for t in await hl.tags.list()}

    namespace_a, contacts_a, result_a = await _run(sandbox, loc, first, tmp_path / "wd-a", _policies())
    sandbox.settle_search_index()
    # The second office's creates are ambiguous now and then: each is resolved by a search for its source
    # key, which (the index settled) would see the first office's contact of the same patient id.
    sandbox.set_faults(FAULTS)
    namespace_b, contacts_b, result_b = await _run(sandbox, loc, second, tmp_path / "wd-b", _policies())
    sandbox.set_faults(FaultConfig())
    sandbox.settle_search_index()
    assert result_b.reconciliation.reconciles
    assert (namespace_a, namespace_b) == (A, B)
    assert result_a.reconciliation.reconciles

    by_practice = _by_practice(sandbox, loc.location_id)
    assert set(by_practice) == {A, B}
    assert {k: c["id"] for k, c in by_practice[A].items()} == {k: v for k, v in contacts_a.items() if v}
    assert {k: c["id"] for k, c in by_practice[B].items()} == {k: v for k, v in contacts_b.items() if v}
    # 0 cross-matches: no contact id is in both ledgers, and the location holds both practices' patients.
    assert not set(contacts_a.values()) & set(contacts_b.values())
    migrated_a = {k for k, v in contacts_a.items() if v}
    migrated_b = {k for k, v in contacts_b.items() if v}
    assert len(sandbox.location(loc.location_id).contacts) == len(migrated_a) + len(migrated_b)
    assert migrated_a & migrated_b, "overlapping patient ids were migrated by both"
    # Every contact holds its own practice's patient (the names come from that practice's export).
    async with source(first) as a, source(second) as b:
        names = {
            (A, bundle.patient_id): (bundle.patient.first_name, bundle.patient.last_name)
            async for bundle in a.bundles()
        }
        names |= {
            (B, bundle.patient_id): (bundle.patient.first_name, bundle.patient.last_name)
            async for bundle in b.bundles()
        }
    for practice, contacts in by_practice.items():
        for key, contact in contacts.items():
            first_name, last_name = names[(practice, key)]
            assert (contact.get("firstName"), contact.get("lastName")) == (first_name, last_name), (
                f"{practice}/{key} holds another patient's data"
            )
    # Uploads are named inside their practice's namespace: each practice's documents are its own.
    media = [m["name"] for m in sandbox.location(loc.location_id).media.values()]
    names_a = [n for n in media if n.startswith("dentrix-document-g-CVFD1-")]
    names_b = [n for n in media if n.startswith("dentrix-document-g-CVFD2-")]
    assert len(names_a) + len(names_b) == len(media)
    assert len(set(names_b)) == len(names_b)
    assert docs == 0 or names_b
    # Roll back the first office: the second's objects are untouched, the first's are gone.
    ids_b_contacts = {c["id"] for c in by_practice[B].values()}
    ids_a_contacts = {c["id"] for c in by_practice[A].values()}
    before_b = {cid: sandbox.location(loc.location_id).contacts[cid] for cid in ids_b_contacts}
    before_b_json = json.dumps(before_b, sort_keys=True)
    children_b = _children(sandbox, loc.location_id, ids_b_contacts)
    media_b = sorted(names_b)
    await _rollback(sandbox, loc, first, tmp_path / "wd-a")
    state = sandbox.location(loc.location_id)
    assert set(state.contacts) == ids_b_contacts
    assert json.dumps({cid: state.contacts[cid] for cid in ids_b_contacts}, sort_keys=True) == before_b_json
    assert _children(sandbox, loc.location_id, ids_b_contacts) == children_b
    assert _children(sandbox, loc.location_id, ids_a_contacts) == {
        "notes": [],
        "opportunities": [],
        "events": [],
        "tasks": [],
    }
    assert sorted(m["name"] for m in state.media.values()) == media_b
    # Every custom field the second office's contacts hold a value in is still there, and every tag they
    # carry is still in the location's tag list; the first office's own tags (on no kept contact) are gone.
    field_ids = set(state.custom_fields)
    for contact in before_b.values():
        assert {c["id"] for c in contact.get("customFields", [])} <= field_ids
    async with client(sandbox, loc) as hl:
        tags_now = {t.name for t in await hl.tags.list()}
    used_b = {t for c in before_b.values() for t in c.get("tags", [])}
    assert used_b <= tags_now
    assert tags_now <= used_b | tags_before
    # The shared calendar (created by the first office) keeps the second office's appointments.
    assert children_b["events"] == _children(sandbox, loc.location_id, ids_b_contacts)["events"]

    # And the second office rolls back too: the location holds no migrated contact any more.
    sandbox.settle_search_index()
    await _rollback(sandbox, loc, second, tmp_path / "wd-b")
    assert not sandbox.location(loc.location_id).contacts
    assert not sandbox.location(loc.location_id).media


async def test_a_configured_practice_id_namespaces_one_practice_exported_twice(tmp_path: Path) -> None:
    """Two offices exported under one Dentrix practice id: ``practice_id`` tells them apart."""
    first = export(tmp_path, patients=6, seed=3, name="north")
    second = export(tmp_path, patients=6, seed=5, name="south")
    sandbox = _sandbox()
    loc = sandbox.create_location(allow_duplicates=False)
    _, _, result_a = await _run(sandbox, loc, first, tmp_path / "wd-n", _policies(practice_id="north"))
    sandbox.settle_search_index()
    sandbox.set_faults(FAULTS)
    await _run(sandbox, loc, second, tmp_path / "wd-s", _policies(practice_id="south"))
    sandbox.set_faults(FaultConfig())
    by_practice = _by_practice(sandbox, loc.location_id)
    assert set(by_practice) == {"north", "south"}
    contacts = result_a.reconciliation.kind("contact")
    assert contacts is not None
    assert len(by_practice["north"]) == contacts.created
    assert set(by_practice["north"]) == set(by_practice["south"])
    # The namespace a ledger ran with is kept: another one later is refused, naming the work directory.
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(second), hl, workdir=tmp_path / "wd-s", policies=_policies(practice_id="elsewhere")
        ) as migration,
    ):
        migration.approve(by="manager")
        with pytest.raises(Exception, match="practice namespace 'south'") as info:
            await migration.run()
        assert "wd-s" in str(info.value)
