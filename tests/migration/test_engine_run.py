"""The full run end to end against the sandbox: setup, patients, related objects, re-run, reconcile, gates."""

from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, export, scaled_sandbox, source

from dentrix_highlevel import GExportSource
from dentrix_highlevel.errors import PlanChangedError, PlanError, PlanNotApprovedError
from dentrix_highlevel.mapping import Computed, DefaultMapOptions, default_maps
from dentrix_highlevel.migration import Migration, MigrationPolicies, MigrationProgress, RunStatus
from dentrix_highlevel.migration._engine.writers.contact import ContactAssignment
from dentrix_highlevel.records import PatientBundle

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("practice"), patients=24, seed=5)


async def test_full_run_then_rerun_sends_no_writes(practice: Path, tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    events: list[MigrationProgress] = []
    appointment_bodies: list[dict[str, Any]] = []
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", progress=events.append) as migration,
    ):
        original = hl.call

        async def spy(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
            if path == "/calendars/events/appointments" and method == "POST":
                appointment_bodies.append(kwargs["json"])
            return await original(method, path, **kwargs)

        hl.call = spy  # type: ignore[method-assign]
        migration.approve(by="manager@practice.example")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        assert first.reconciliation.reconciles, first.reconciliation.render()
        contact_counts = first.reconciliation.kind("contact")
        assert contact_counts is not None
        assert contact_counts.source == 24
        assert contact_counts.failed == 0

        state = sandbox.location(loc.location_id)
        by_source = contacts_by_source_id(sandbox, loc.location_id)
        assert sorted(k for k in by_source if k) == sorted(str(1000 + i) for i in range(1, 25))
        assert all(len(v) == 1 for v in by_source.values()), "one contact per patient, never two"
        opportunities = first.reconciliation.kind("opportunity")
        assert opportunities is not None
        assert len(state.opportunities) == opportunities.created
        for event in state.events.values():
            assert event["calendarId"] in state.calendars
        # Imports never notify patients and never fail on slot rules.
        assert appointment_bodies, "the synthetic practice has future appointments"
        assert all(
            b["toNotify"] is False and b["ignoreFreeSlotValidation"] is True for b in appointment_bodies
        )
        assert len(appointment_bodies) == len(state.events)
        assert events
        assert events[-1].done == 24
        # The progress stream counts the HTTP requests the run put on the wire, as the sandbox saw them.
        assert events[-1].requests == len(sandbox.request_log)
        assert [e.requests for e in events] == sorted(e.requests for e in events)

        # No PHI in the audit log or the progress lines: ids and reasons only.
        assert first.audit_csv is not None
        assert first.audit_jsonl is not None
        audit = (
            first.audit_csv.read_text() + first.audit_jsonl.read_text() + "\n".join(e.line() for e in events)
        )
        values: set[str] = set()
        for contact in state.contacts.values():
            values |= {contact.get(k) or "" for k in ("email", "phone", "firstName", "lastName", "address1")}
        assert sorted(v for v in values if len(v) > 3 and v in audit) == []
        assert "patient:1001" in audit

        log_before = len(sandbox.request_log)
        second = await migration.run()
        writes = [r for r in sandbox.request_log[log_before:] if r.method != "GET" and "search" not in r.path]
        assert writes == [], [(r.method, r.path) for r in writes]
        assert second.reconciliation.reconciles
        assert second.reconciliation.totals().created == 0

        checked = await migration.reconcile()
        assert checked.ok, checked.mismatches
        assert checked.checked == 24
        assert json.loads(checked.path.read_text())["reconciles"] is True


async def test_run_refuses_unapproved_and_changed_plans(practice: Path, tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with client(sandbox, loc) as hl:
        async with Migration(source(practice), hl, workdir=tmp_path / "wd") as migration:
            with pytest.raises(PlanNotApprovedError):
                await migration.run()
            approved = migration.approve(by="manager")
            assert approved.plan_hash == migration.plan_hash()
        changed = MigrationPolicies(journal_notes=False)
        async with Migration(source(practice), hl, workdir=tmp_path / "wd", policies=changed) as migration:
            assert migration.plan_hash() != approved.plan_hash
            with pytest.raises(PlanChangedError) as caught:
                await migration.run()
            assert caught.value.changes == ("policies",)
    assert sandbox.location(loc.location_id).contacts == {}


async def test_missing_pipeline_fails_before_any_patient(practice: Path, tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(pipelines=[("Sales", ("Lead", "Won"))])
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
    ):
        migration.approve(by="manager")
        with pytest.raises(PlanError, match="Patient Lifecycle"):
            await migration.run()
    assert sandbox.location(loc.location_id).contacts == {}


async def test_a_run_holds_a_bounded_number_of_bundles_whatever_the_practice_size(tmp_path: Path) -> None:
    # The patients stream through the run: the bundles alive at any moment are those in flight and the few
    # a source chunk and a mapping hop hold, not the practice (a bound far below the patient count).
    patients, concurrency = 300, 4
    path = export(tmp_path, patients=patients, seed=11)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    alive: list[int] = []

    assignments: list[int] = []

    def count(event: MigrationProgress) -> None:
        if event.done % 10 == 5:
            objects = gc.get_objects()
            alive.append(sum(1 for o in objects if type(o) is PatientBundle))
            # Nor does it keep an object per patient for the family's shared contact points.
            assignments.append(sum(1 for o in objects if type(o) is ContactAssignment))

    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(path), hl, workdir=tmp_path / "wd", concurrency=concurrency, progress=count
        ) as migration,
    ):
        migration.approve(by="manager@practice.example")
        result = await migration.run()
    assert result.status is RunStatus.COMPLETED
    assert len(alive) >= 20
    assert max(alive) <= 120, alive
    assert max(assignments) <= 40, assignments


class _Hiding:
    """A source that passes everything through to a G export but ``survey_bundles`` (a source without
    them), counting what a run reads."""

    def __init__(self, inner: GExportSource, *, survey: bool) -> None:
        self._inner = inner
        self._survey = survey
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> Any:
        if name == "survey_bundles" and not self._survey:
            raise AttributeError(name)
        if name in ("bundles", "survey_bundles"):
            self.reads.append(name)
        return getattr(self._inner, name)


def _audit(result: Any) -> list[tuple[str, ...]]:
    rows = [json.loads(line) for line in result.audit_jsonl.read_text().splitlines()]
    return sorted(
        (r["kind"], r["source_key"], r["action"], r["outcome"], r.get("reason") or "")
        for r in rows
        if r["kind"] not in ("run",)
    )


@pytest.mark.parametrize("email_rule", ["patient", "computed"])
async def test_the_first_pass_reads_survey_bundles_only_when_they_give_the_same_assignment(
    tmp_path: Path, email_rule: str
) -> None:
    # Families share e-mails and phones: the first pass's contact-point assignment decides who keeps them.
    path = export(tmp_path, patients=60, seed=9)
    maps = None
    if email_rule == "computed":
        contact = default_maps(DefaultMapOptions()).contact
        rules = tuple(
            attrs.evolve(r, source=Computed("email", lambda b: b.patient.email, output_type=str))
            if getattr(r.target, "name", None) == "email"
            else r
            for r in contact.rules
        )
        maps = {"contact": attrs.evolve(contact, rules=rules)}
    audits = []
    for survey in (True, False):
        sandbox = scaled_sandbox()
        loc = sandbox.create_location()
        wrapped = _Hiding(source(path), survey=survey)
        async with (
            client(sandbox, loc) as hl,
            Migration(wrapped, hl, workdir=tmp_path / f"wd-{survey}", maps=maps) as migration,  # type: ignore[arg-type]
        ):
            migration.approve(by="manager@practice.example")
            result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.reconciles, result.reconciliation.render()
        # The first pass of the run: survey bundles where the e-mail and phone rules read only the patient.
        run_reads = wrapped.reads[-2:]
        expected_first = "survey_bundles" if survey and email_rule == "patient" else "bundles"
        assert run_reads == [expected_first, "bundles"], wrapped.reads
        audits.append(_audit(result))
    assert any("shared with" in row[4] for row in audits[0]), "the practice has shared contact points"
    assert audits[0] == audits[1]
