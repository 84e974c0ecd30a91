"""Treatment-plan follow-up tasks (``treatment_tasks`` policy): one per open case, on the patient's contact.

A task is ledger-keyed by its case (``treatment_case:<id>/task``), so it is written once, updated in place
(``PUT``) when the case changes, and found again after an interrupted create by contact + title hash. A case
that closes later (accepted, completed, rejected) marks its task completed instead of deleting it: the
practice may have worked on it in HighLevel. Titles hold the case id only; the body (description, CDT
codes, fee) goes to HighLevel, never into logs or the audit.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

from dentrix_highlevel._errors import DailyCapReachedError, HighLevelError
from dentrix_highlevel.highlevel import RequestKind
from dentrix_highlevel.mapping import DefaultMapOptions, PracticeSettings
from dentrix_highlevel.migration._engine.context import RunContext, content_hash, text_digest
from dentrix_highlevel.migration._engine.diff import FieldDiff, diff_payload
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._engine.writers.base import PatientObjects, Writer, feature
from dentrix_highlevel.migration._engine.writers.contact import patient_key, patient_owner
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.records import PatientBundle, TreatmentCaseStatus, TreatmentPlanCase

__all__ = [
    "KIND",
    "OPEN_CASE_STATUSES",
    "TASK_DUE_HOUR",
    "WRITER",
    "open_case",
    "read_back_tasks",
    "task_count",
    "task_due_date",
    "task_key",
    "task_payload",
    "write_tasks",
]

#: Case statuses that still need a follow-up (the rest are accepted, completed, rejected or unknown).
OPEN_CASE_STATUSES: Final = frozenset(
    {
        TreatmentCaseStatus.CREATED,
        TreatmentCaseStatus.PRINTED,
        TreatmentCaseStatus.PRE_AUTH_PRIMARY,
        TreatmentCaseStatus.PRE_AUTH_SECONDARY,
        TreatmentCaseStatus.FOLLOW_UP_MADE,
        TreatmentCaseStatus.PROPOSED,
        TreatmentCaseStatus.PREFERRED,
    }
)
TASK_DUE_HOUR: Final = 9
"""Tasks fall due at 09:00 practice time (start of the front desk's day)."""


def open_case(case: TreatmentPlanCase) -> bool:
    return case.status in OPEN_CASE_STATUSES


def task_key(case: TreatmentPlanCase) -> str:
    return f"treatment_case:{case.case_id}/task"


def task_count(policies: MigrationPolicies, bundles: Iterable[PatientBundle]) -> int:
    """Source records of kind ``task``: every case of these patients gets exactly one result (written,
    completed, unchanged or skipped) when the policy is on."""
    if not policies.treatment_tasks:
        return 0
    return sum(len(b.treatment_cases) for b in bundles)


def task_due_date(options: DefaultMapOptions, practice: PracticeSettings, *, days: int) -> str:
    """``as_of``'s date + ``days`` at 09:00 practice time, as UTC ISO (deterministic: the plan date)."""
    day = options.as_of.date() + dt.timedelta(days=days)
    local = dt.datetime.combine(day, dt.time(TASK_DUE_HOUR), tzinfo=practice.zone)
    return local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _label(status: TreatmentCaseStatus | None) -> str:
    return status.value.replace("_", " ").capitalize() if status is not None else "Unknown status"


def task_payload(case: TreatmentPlanCase, *, due_date: str, assigned_to: str | None) -> dict[str, Any]:
    """The task as sent (``POST /contacts/{id}/tasks``): title by case id, details in the body."""
    lines = [f"Dentrix treatment plan case {case.case_id} ({_label(case.status)})"]
    if case.description and case.description.strip():
        lines.append(case.description.strip())
    codes = [p.ada_code for p in case.procedures if p.ada_code]
    if codes:
        lines.append(f"Procedures: {', '.join(codes)}")
    if case.procedures:
        lines.append(f"Total fee: {case.total_amount:.2f}")
    if case.created_date is not None:
        lines.append(f"Created in Dentrix: {case.created_date.isoformat()}")
    payload: dict[str, Any] = {
        "title": f"Treatment plan follow-up: case {case.case_id}",
        "body": "\n".join(lines),
        "dueDate": due_date,
        "completed": False,
    }
    if assigned_to is not None:
        payload["assignedTo"] = assigned_to
    return payload


def _assignee(ctx: RunContext, bundle: PatientBundle, case: TreatmentPlanCase) -> str | None:
    """The user of the case's treating provider (most procedures), else the patient's primary provider's."""
    if not ctx.policies.provider_users:
        return None
    treating = Counter(p.provider_id for p in case.procedures if p.provider_id)
    for provider_id, _ in treating.most_common():
        user_id = ctx.state.user_ids.get(provider_id)
        if user_id is not None:
            return user_id
    return patient_owner(ctx, bundle)


async def _skip(ctx: RunContext, key: str, reason: str) -> None:
    await ctx.record("task", key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, reason=reason)


async def write_tasks(ctx: RunContext, bundle: PatientBundle, contact_id: str | None) -> None:
    """One result per treatment-plan case of the patient (policy ``treatment_tasks``)."""
    if not ctx.policies.treatment_tasks:
        return
    due = task_due_date(ctx.options, ctx.practice, days=ctx.policies.task_due_days)
    for case in bundle.treatment_cases:
        key = task_key(case)
        if contact_id is None:
            await _skip(ctx, key, "the patient has no contact in HighLevel")
        elif open_case(case):
            payload = task_payload(case, due_date=due, assigned_to=_assignee(ctx, bundle, case))
            await _open_task(ctx, key, contact_id, payload)
        else:
            await _close_task(ctx, key, contact_id)


async def _open_task(ctx: RunContext, key: str, contact_id: str, payload: dict[str, Any]) -> None:
    lookup = {"contactId": contact_id, "titleSha256": text_digest(str(payload["title"]))}

    async def create() -> str:
        return await ctx.create(f"/contacts/{contact_id}/tasks", payload, resource="task", lookup=lookup)

    async def update(task_id: str) -> None:
        # The whole task, ``completed: false`` included: a reopened case reopens its task.
        await ctx.call(
            "PUT", f"/contacts/{contact_id}/tasks/{task_id}", kind=RequestKind.IDEMPOTENT, json=payload
        )

    await ctx.ensure_object(
        kind="task",
        key=key,
        digest=content_hash({**payload, "contact": contact_id}),
        lookup=lookup,
        create=create,
        update=update,
        parent_id=contact_id,
    )


async def _close_task(ctx: RunContext, key: str, contact_id: str) -> None:
    """A closed case: its task (if the migration made one) is marked completed, never deleted."""
    task_id = await ctx.db(ctx.ledger.destination_of, "task", key)
    if task_id is None:
        await _skip(
            ctx, key, "treatment plan case closed (accepted, completed or rejected) or status unknown"
        )
        return
    digest = content_hash({"completed": True, "contact": contact_id, "task": task_id})
    rec = await ctx.db(ctx.ledger.record, "task", key)
    if rec is not None and rec.content_hash == digest and rec.action is not RecordAction.FAILED:
        await ctx.record(
            "task", key, RecordAction.UNCHANGED, RecordOutcome.APPLIED, destination_id=task_id, digest=digest
        )
        return
    try:
        await ctx.call(
            "PUT",
            f"/contacts/{contact_id}/tasks/{task_id}/completed",
            kind=RequestKind.IDEMPOTENT,
            json={"completed": True},
        )
    except DailyCapReachedError:
        raise
    except HighLevelError as exc:
        await ctx.fail("task", key, exc, destination_id=task_id)
        return
    await ctx.record(
        "task",
        key,
        RecordAction.UPDATED,
        RecordOutcome.APPLIED,
        destination_id=task_id,
        digest=digest,
        reason="treatment plan case closed: task marked completed",
    )


async def read_back_tasks(ctx: RunContext, bundle: PatientBundle) -> list[FieldDiff]:
    """The sample's field diff of the patient's open-case tasks: each one read back by id and compared
    with what is sent for it now (closed cases only carry ``completed``; they are not diffed)."""
    if not ctx.policies.treatment_tasks:
        return []
    contact_id = await ctx.db(ctx.ledger.destination_of, "contact", patient_key(bundle.patient_id))
    if contact_id is None:
        return []
    due = task_due_date(ctx.options, ctx.practice, days=ctx.policies.task_due_days)
    rows: list[FieldDiff] = []
    for case in bundle.treatment_cases:
        key = task_key(case)
        task_id = await ctx.db(ctx.ledger.destination_of, "task", key)
        if task_id is None or not open_case(case):
            continue
        answer = await ctx.call("GET", f"/contacts/{contact_id}/tasks/{task_id}", kind=RequestKind.READ)
        actual = answer.get("task")
        rows += diff_payload(
            object_name="task",
            source_key=key,
            destination_id=task_id,
            expected=task_payload(case, due_date=due, assigned_to=_assignee(ctx, bundle, case)),
            actual=actual if isinstance(actual, dict) else {},
        )
    return rows


KIND = "task"


async def _write(ctx: RunContext, objects: PatientObjects) -> None:
    await write_tasks(ctx, objects.bundle, objects.contact_id)


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "treatment tasks",
        "one follow-up task per open treatment-plan case",
        "POST /contacts/{contactId}/tasks",
        "PUT /contacts/{contactId}/tasks/{taskId}",
        "PUT /contacts/{contactId}/tasks/{taskId}/completed",
        "GET /contacts/{contactId}/tasks",
        "GET /contacts/{contactId}/tasks/{taskId}",
        "DELETE /contacts/{contactId}/tasks/{taskId}",
    ),
    count=lambda scope: task_count(scope.policies, scope.bundles),
    write_for_patient=_write,
    read_back=read_back_tasks,
    in_plan=lambda policies, mapped: policies.treatment_tasks,
)
