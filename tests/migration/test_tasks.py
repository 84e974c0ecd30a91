"""Treatment-plan follow-up tasks (``treatment_tasks`` policy, issue #6): one per open case, written once,
updated in place, completed (never deleted) when the case closes, deleted by rollback."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import (
    client,
    contacts_by_source_id,
    export,
    normalised,
    scaled_sandbox,
    source,
)

from dentrix_highlevel._errors import HighLevelError
from dentrix_highlevel.mapping import DefaultMapOptions, PracticeSettings, patient_disposition
from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus, build_plan
from dentrix_highlevel.migration._engine.writers.task import (
    open_case,
    task_count,
    task_due_date,
    task_payload,
)
from dentrix_highlevel.records import Procedure, TreatmentCaseStatus, TreatmentPlanCase
from dentrix_highlevel.sandbox import FaultConfig
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


# --- the task, from the case alone ---------------------------------------------------------------------


def test_due_date_is_the_plan_date_plus_days_at_nine_practice_time() -> None:
    options = DefaultMapOptions(as_of=dt.datetime(2026, 3, 1, 16, 45))
    # 2026-03-08 is the day Denver moves to daylight time: 09:00 MDT is 15:00 UTC.
    assert (
        task_due_date(options, PracticeSettings(timezone="America/Denver"), days=7) == "2026-03-08T15:00:00Z"
    )
    assert (
        task_due_date(options, PracticeSettings(timezone="America/Denver"), days=0) == "2026-03-01T16:00:00Z"
    )
    assert task_due_date(options, PracticeSettings(timezone="UTC"), days=2) == "2026-03-03T09:00:00Z"


def test_payload_titles_by_case_id_and_keeps_details_in_the_body() -> None:
    case = TreatmentPlanCase(
        case_id="77",
        patient_id="1001",
        status=TreatmentCaseStatus.PROPOSED,
        description="Crown #3",
        created_date=dt.date(2026, 1, 5),
        procedures=(
            Procedure(procedure_id="p1", patient_id="1001", ada_code="D2740", amount=Decimal("1100.00")),
            Procedure(procedure_id="p2", patient_id="1001", ada_code="D2950", amount=Decimal("250.50")),
        ),
    )
    payload = task_payload(case, due_date="2026-03-08T15:00:00Z", assigned_to="u1")
    assert payload["title"] == "Treatment plan follow-up: case 77"
    assert payload["body"].splitlines() == [
        "Dentrix treatment plan case 77 (Proposed)",
        "Crown #3",
        "Procedures: D2740, D2950",
        "Total fee: 1350.50",
        "Created in Dentrix: 2026-01-05",
    ]
    assert (payload["dueDate"], payload["completed"], payload["assignedTo"]) == (
        "2026-03-08T15:00:00Z",
        False,
        "u1",
    )
    assert "assignedTo" not in task_payload(case, due_date="x", assigned_to=None)


@pytest.mark.parametrize("status", list(TreatmentCaseStatus))
def test_open_cases_are_the_ones_still_waiting_for_the_patient(status: TreatmentCaseStatus) -> None:
    closed = {TreatmentCaseStatus.ACCEPTED, TreatmentCaseStatus.COMPLETED, TreatmentCaseStatus.REJECTED}
    assert open_case(TreatmentPlanCase(case_id="1", patient_id="1", status=status)) is (status not in closed)


def test_the_policy_is_off_by_default_and_keeps_existing_plan_hashes() -> None:
    assert "treatment_tasks" not in MigrationPolicies().to_dict()
    assert "task_due_days" not in MigrationPolicies(task_due_days=3).to_dict()
    on = MigrationPolicies(treatment_tasks=True, task_due_days=3)
    assert on.to_dict()["treatment_tasks"] is True
    assert on.to_dict()["task_due_days"] == 3
    assert MigrationPolicies(**on.to_dict()) == on
    assert task_count(MigrationPolicies(), []) == 0


# --- end to end against the sandbox --------------------------------------------------------------------

_STATUSES = ("proposed", "accepted", "created", "follow_up_made", "rejected", "printed")


def _write_cases(path: Path, cases: dict[str, tuple[str, str, str]]) -> None:
    """Replace ``txcase.csv``: case id -> (patient id, status_text, description)."""
    file = path / "txcase.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        fields = list(csv.DictReader(handle).fieldnames or [])
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for case_id, (patient_id, status, description) in cases.items():
            writer.writerow(
                {
                    "txcaseid": case_id,
                    "patid": patient_id,
                    "status": "1",
                    "status_text": status,
                    "descript": description,
                    "createdate": "2025-06-01",
                    "priority": "1",
                    "isdefault": "1",
                }
            )


def _tasks_by_case(sandbox: Any, location_id: str) -> dict[str, dict[str, Any]]:
    tasks = sandbox.location(location_id).tasks.values()
    return {t["title"].rsplit(" ", 1)[1]: t for t in tasks}


def _audit(result: Any) -> list[dict[str, Any]]:
    assert result.audit_jsonl is not None
    return [json.loads(line) for line in result.audit_jsonl.read_text(encoding="utf-8").splitlines()]


async def test_tasks_written_once_updated_completed_and_rolled_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    with GExportSource(practice) as staged:
        patients = [b.patient_id for b in staged.iter_bundles()]
        primary = {b.patient_id: b.patient.primary_provider_id for b in staged.iter_bundles()}
        emails = {p.provider_id: p.email.casefold() for p in staged.providers() if p.email}
    cases = {f"9{i:02d}": (pid, _STATUSES[i % len(_STATUSES)], f"Plan {i}") for i, pid in enumerate(patients)}
    _write_cases(practice, cases)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(
        treatment_tasks=True, task_due_days=14, provider_users=True, calendar_name=None
    )
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        assert first.reconciliation.reconciles, first.reconciliation.render()
        state = sandbox.location(loc.location_id)
        contact_of = {k: v[0]["id"] for k, v in contacts_by_source_id(sandbox, loc.location_id).items() if k}
        user_of = {
            pid: uid for pid, email in emails.items() for uid, u in state.users.items() if u["email"] == email
        }
        expected = {
            cid for cid, (pid, status, _) in cases.items() if pid in contact_of and open_case_text(status)
        }
        assert expected, "some open cases of migrated patients"
        tasks = _tasks_by_case(sandbox, loc.location_id)
        assert set(tasks) == expected
        due = task_due_date(migration.options, PracticeSettings(timezone="America/Denver"), days=14)
        for case_id in expected:
            task = tasks[case_id]
            patient_id = cases[case_id][0]
            assert task["contactId"] == contact_of[patient_id]
            assert task["completed"] is False
            assert task["dueDate"] == due
            assert f"Plan {int(case_id) - 900}" in task["body"]
            assert task.get("assignedTo") == user_of.get(primary[patient_id] or "")
        rows = [r for r in _audit(first) if r["kind"] == "task"]
        assert len(rows) == len(cases)  # every case accounted for: written or skipped with a reason
        assert all("Plan" not in (r["reason"] or "") for r in rows), "no case text in the audit"

        # A re-run sends nothing.
        log = len(sandbox.request_log)
        await migration.run()
        assert [r for r in sandbox.request_log[log:] if r.method in ("POST", "PUT", "DELETE")] == []

        # The practice accepts one plan, rewords another: completed (not deleted) and updated in place.
        closing, rewording = sorted(expected)[:2]
        changed = dict(cases)
        changed[closing] = (cases[closing][0], "accepted", cases[closing][2])
        changed[rewording] = (cases[rewording][0], cases[rewording][1], "Plan reworded")
        _write_cases(practice, changed)
        ids_before = {c: t["id"] for c, t in _tasks_by_case(sandbox, loc.location_id).items()}
        log = len(sandbox.request_log)
        delta = await migration.delta(source(practice))
        assert delta.reconciliation.reconciles, delta.reconciliation.render()
        after = _tasks_by_case(sandbox, loc.location_id)
        assert {c: t["id"] for c, t in after.items()} == ids_before, "no task deleted or created"
        assert after[closing]["completed"] is True
        assert "Plan reworded" in after[rewording]["body"]
        assert after[rewording]["completed"] is False
        writes = sorted((r.method, r.path) for r in sandbox.request_log[log:] if r.method in ("POST", "PUT"))
        contact_c, contact_r = contact_of[cases[closing][0]], contact_of[cases[rewording][0]]
        assert (
            "PUT",
            f"/contacts/{contact_c}/tasks/{ids_before[closing]}/completed",
        ) in writes
        assert ("PUT", f"/contacts/{contact_r}/tasks/{ids_before[rewording]}") in writes

        await migration.rollback()
    assert normalised(sandbox.dump()) == before


def open_case_text(status: str) -> bool:
    return open_case(TreatmentPlanCase(case_id="x", patient_id="x", status=TreatmentCaseStatus(status)))


async def test_the_plan_counts_one_task_request_per_open_case_of_a_contact(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    with GExportSource(practice) as staged:
        patients = [b.patient_id for b in staged.iter_bundles()]
    cases = {f"9{i:02d}": (pid, _STATUSES[i % len(_STATUSES)], f"Plan {i}") for i, pid in enumerate(patients)}
    _write_cases(practice, cases)
    with GExportSource(practice) as staged:
        off = await build_plan(staged)
        on = await build_plan(staged, policies=MigrationPolicies(treatment_tasks=True))
        contacts = {
            b.patient_id for b in staged.iter_bundles() if patient_disposition(b, on.map_options()).contact
        }
    assert "tasks" not in off.estimate.requests
    expected = sum(1 for pid, status, _ in cases.values() if pid in contacts and open_case_text(status))
    assert expected
    assert on.estimate.requests["tasks"] == expected
    assert on.estimate.total_requests == off.estimate.total_requests + expected
    assert "| tasks |" in on.to_markdown()


async def test_the_sample_diff_reads_the_tasks_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=6, seed=21)
    with GExportSource(practice) as staged:
        patients = [b.patient_id for b in staged.iter_bundles()]
    _write_cases(practice, {f"8{i:02d}": (pid, "proposed", f"Plan {i}") for i, pid in enumerate(patients)})
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(treatment_tasks=True, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        sampled = await migration.sample(len(patients))
        assert sampled.report is not None
        with sampled.report.open(encoding="utf-8", newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["object"] == "task"]
        tasks = sandbox.location(loc.location_id).tasks
        assert {r["destination_id"] for r in rows} == set(tasks)
        assert {r["field"] for r in rows} == {"title", "body", "dueDate", "completed"}
        assert {r["verdict"] for r in rows} == {"match"}
        # Someone edits a task in HighLevel: the next read-back shows the mismatch.
        some = next(iter(tasks.values()))
        some["title"] = "edited in HighLevel"
        again = await migration.sample(len(patients))
        assert again.report is not None
        with again.report.open(encoding="utf-8", newline="") as handle:
            flagged = [r for r in csv.DictReader(handle) if r["object"] == "task" and r["verdict"] != "match"]
        assert [(r["destination_id"], r["field"], r["verdict"]) for r in flagged] == [
            (some["id"], "title", "mismatch")
        ]


async def test_interrupted_task_creates_are_found_again_not_duplicated(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=8, seed=21)
    with GExportSource(practice) as staged:
        patients = [b.patient_id for b in staged.iter_bundles()]
    # Three open cases a patient: enough task creates that some meet a fault whatever the scheduling.
    cases = {
        f"7{i:02d}{n}": (pid, "created", f"Plan {i}.{n}") for i, pid in enumerate(patients) for n in range(3)
    }
    _write_cases(practice, cases)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(treatment_tasks=True, calendar_name=None, search_lag_s=0.0)
    # Requests are processed, then the answer is lost: a task create is ambiguous and must be looked up.
    sandbox.set_faults(FaultConfig(reset_rate=0.25, timeout_rate=0.1, timeout_s=0.0))
    result = None
    for _attempt in range(8):
        async with (
            client(sandbox, loc) as hl,
            Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
        ):
            migration.approve(by="manager")
            try:
                result = await migration.run()
            except HighLevelError:  # a fault that outlasted the retries: run again, as an operator would
                continue
            if result.status is RunStatus.COMPLETED and result.reconciliation.totals().failed == 0:
                break
    sandbox.set_faults(FaultConfig())
    assert result is not None
    assert result.reconciliation.totals().failed == 0, result.reconciliation.render()
    contacts = {k for k, v in contacts_by_source_id(sandbox, loc.location_id).items() if k}
    titles = [t["title"] for t in sandbox.location(loc.location_id).tasks.values()]
    assert sorted(titles) == sorted(
        f"Treatment plan follow-up: case {case_id}"
        for case_id, (pid, _, _) in cases.items()
        if pid in contacts
    ), "exactly one task per open case of a migrated patient"
    lookups = [r for r in sandbox.request_log if r.method == "GET" and r.path.endswith("/tasks")]
    assert lookups, "some task create was ambiguous and resolved by lookup (contact + title)"
