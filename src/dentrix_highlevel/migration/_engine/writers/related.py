"""Objects that hang off a patient's contact and need their own requests: notes (overflow of long text,
clinical notes, Office Journal entries), future appointments, the lifecycle opportunity and treatment-plan
follow-up tasks (``task``).

Each has a stable ledger key, so it is written once: a re-run sends nothing for it, a changed one is
updated in place, and an interrupted create is found again by lookup (note body hash; contact + pipeline;
calendar + contact + start time) before anything is created twice.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Collection, Sequence
from typing import Any

from dentrix_highlevel._errors import HighLevelError, NotFoundError
from dentrix_highlevel.highlevel import RequestKind
from dentrix_highlevel.mapping import (
    ClinicalNotesMode,
    DefaultMapOptions,
    PastAppointmentsMode,
    lifecycle_stage,
    patient_disposition,
)
from dentrix_highlevel.migration._engine.context import RunContext, content_hash, text_digest
from dentrix_highlevel.migration._engine.policies import CalendarLayout
from dentrix_highlevel.migration._engine.writers.calendar import SINGLE_CALENDAR, calendar_group
from dentrix_highlevel.migration._engine.writers.contact import patient_key, patient_owner
from dentrix_highlevel.migration._engine.writers.task import write_tasks
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.records import Appointment, AppointmentStatusMeaning, PatientBundle

__all__ = [
    "APPOINTMENT_SERVER_DEFAULTS",
    "FAMILY_ASSOCIATION_KEY",
    "OPPORTUNITY_KEYS",
    "appointment_is_live",
    "appointment_key",
    "appointment_migrates",
    "family_link_key",
    "family_members",
    "migrated_appointment",
    "write_family_links",
    "write_related",
]

OPPORTUNITY_KEYS = ("name", "status", "monetaryValue", "pipelineStageId", "assignedTo", "customFields")
#: What HighLevel fills in on an appointment written without it (a title from the calendar, status "new").
APPOINTMENT_SERVER_DEFAULTS = ("title", "appointmentStatus")
_APPOINTMENT_KEYS = ("startTime", "endTime", "title", "appointmentStatus", "description", "assignedUserId")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "field"


def appointment_key(appointment: Appointment) -> str:
    return f"appointment:{appointment.appointment_id}"


def migrated_appointment(ctx: RunContext, appointment: Appointment) -> bool:
    """Future, live appointments become events; past ones are summarised on the contact (per options)."""
    return appointment_migrates(ctx.options, appointment)


def appointment_is_live(appointment: Appointment) -> bool:
    """Booked and kept: not deleted, not broken (flag or a status meaning "broken"), with a start time.
    Only live appointments can become events; the plan counts by the same rule."""
    return not (
        appointment.deleted
        or appointment.broken
        or appointment.start is None
        or appointment.status_meaning is AppointmentStatusMeaning.BROKEN
    )


def appointment_migrates(options: DefaultMapOptions, appointment: Appointment) -> bool:
    """:func:`migrated_appointment` from the options alone (setup, the plan and the source counts use it)."""
    if not appointment_is_live(appointment) or appointment.start is None:
        return False
    if options.past_appointments is PastAppointmentsMode.EVENTS:
        return True
    return appointment.start >= options.as_of


async def write_related(
    ctx: RunContext, bundle: PatientBundle, contact_id: str | None, overflow: Any
) -> None:
    """Everything of one patient besides the contact; without a contact each is recorded as skipped."""
    await _notes(ctx, bundle, contact_id, overflow)
    await _opportunity(ctx, bundle, contact_id)
    await _appointments(ctx, bundle, contact_id)
    await write_tasks(ctx, bundle, contact_id)


async def _skip(ctx: RunContext, kind: str, key: str, reason: str) -> None:
    await ctx.record(kind, key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, reason=reason)


async def _note(ctx: RunContext, key: str, contact_id: str | None, body: str | None) -> None:
    if contact_id is None:
        await _skip(ctx, "note", key, "the patient has no contact in HighLevel")
        return
    if not body or not body.strip():
        await _skip(ctx, "note", key, "empty note")
        return

    async def create() -> str:
        answer = await ctx.call(
            "POST",
            f"/contacts/{contact_id}/notes",
            kind=RequestKind.CREATE,
            json={"body": body},
            resource="note",
            lookup={"contactId": contact_id, "bodySha256": text_digest(body)},
        )
        return str(answer["note"]["id"])

    async def update(note_id: str) -> None:
        await ctx.call(
            "PUT", f"/contacts/{contact_id}/notes/{note_id}", kind=RequestKind.IDEMPOTENT, json={"body": body}
        )

    await ctx.ensure_object(
        kind="note",
        key=key,
        digest=content_hash({"body": body, "contact": contact_id}),
        lookup={"contactId": contact_id, "bodySha256": text_digest(body)},
        create=create,
        update=update,
        parent_id=contact_id,
    )


async def _notes(ctx: RunContext, bundle: PatientBundle, contact_id: str | None, overflow: Any) -> None:
    pid = bundle.patient_id
    if ctx.policies.overflow_notes:
        for item in overflow:
            await _note(
                ctx, f"patient:{pid}/overflow:{_slug(item.field)}", contact_id, f"{item.title}\n\n{item.text}"
            )
    clinical = ctx.maps.get("clinical_note")
    if clinical is not None and ctx.options.clinical_notes is not ClinicalNotesMode.FIELD:
        for note in bundle.clinical_notes:
            result = clinical.apply(note, practice=ctx.practice)
            await _note(ctx, f"clinical_note:{note.note_id}", contact_id, result.payload.get("body"))
    journal = ctx.maps.get("journal_note")
    if journal is not None and ctx.policies.journal_notes:
        for entry in bundle.journal:
            result = journal.apply(entry, practice=ctx.practice)
            await _note(ctx, f"journal:{entry.contact_id}", contact_id, result.payload.get("body"))


async def _opportunity(ctx: RunContext, bundle: PatientBundle, contact_id: str | None) -> None:
    opp_map = ctx.maps.get("opportunity")
    state = ctx.state
    if opp_map is None or state.pipeline_id is None:
        return
    key = f"patient:{bundle.patient_id}/opportunity"
    if ctx.default_maps and not patient_disposition(bundle, ctx.options).opportunity:
        await _skip(ctx, "opportunity", key, patient_disposition(bundle, ctx.options).reason)
        return
    if contact_id is None:
        await _skip(ctx, "opportunity", key, "the patient has no contact in HighLevel")
        return
    result = opp_map.apply(bundle, practice=ctx.practice, field_ids=state.field_ids)
    payload: dict[str, Any] = {k: v for k, v in result.payload.items() if k in OPPORTUNITY_KEYS}
    if "pipelineStageId" not in payload and state.stage_ids:
        stage = lifecycle_stage(bundle, ctx.options) if ctx.default_maps else None
        folded = {name.casefold(): sid for name, sid in state.stage_ids.items()}
        payload["pipelineStageId"] = folded.get(
            (stage or "").casefold(), next(iter(state.stage_ids.values()))
        )
    payload.setdefault("status", "open")
    owner_user = patient_owner(ctx, bundle)
    if owner_user is not None:
        payload.setdefault("assignedTo", owner_user)
    payload.setdefault("name", f"Patient {bundle.patient_id}")
    pipeline_id = state.pipeline_id
    digest = content_hash({**payload, "contact": contact_id})
    outcome = RecordOutcome.PARTIAL if result.issues else RecordOutcome.APPLIED
    dest = await ctx.db(ctx.ledger.destination_of, "opportunity", key)
    if (
        dest is None
        and not state.allow_duplicate_opportunities
        and await ctx.db(ctx.has_pre_image, "contact", contact_id)
    ):
        # The practice's contact: it may already have its opportunity in this pipeline (one per contact).
        existing = await ctx.hl.opportunities.find(contact_id=contact_id, pipeline_id=pipeline_id)
        if existing is not None:
            why = await _adopt_opportunity(ctx, existing.id, payload)
            await ctx.record(
                "opportunity",
                key,
                RecordAction.UPDATED,
                outcome,
                destination_id=existing.id,
                digest=digest,
                reason=why,
            )
            return

    async def adopt(exc: HighLevelError) -> tuple[str, str] | None:
        # A contact created by us can have one too: a practice workflow may add new contacts to the pipeline.
        if state.allow_duplicate_opportunities or not _duplicate_opportunity(exc):
            return None
        existing = await ctx.hl.opportunities.find(contact_id=contact_id, pipeline_id=pipeline_id)
        if existing is None:
            return None
        return existing.id, await _adopt_opportunity(ctx, existing.id, payload)

    async def create() -> str:
        answer = await ctx.call(
            "POST",
            "/opportunities/",
            kind=RequestKind.CREATE,
            json={
                **payload,
                "pipelineId": pipeline_id,
                "contactId": contact_id,
                "locationId": ctx.hl.location_id,
            },
            resource="opportunity",
            lookup={"pipelineId": pipeline_id, "contactId": contact_id},
        )
        return str(answer["opportunity"]["id"])

    async def update(opportunity_id: str) -> str | None:
        if await ctx.db(ctx.has_pre_image, "opportunity", opportunity_id):
            await _adopt_opportunity(ctx, opportunity_id, payload)  # still the practice's: same rules
            return None
        await ctx.call(
            "PUT",
            f"/opportunities/{opportunity_id}",
            kind=RequestKind.IDEMPOTENT,
            json={**payload, "pipelineId": pipeline_id},
        )
        return None

    await ctx.ensure_object(
        kind="opportunity",
        key=key,
        digest=digest,
        lookup={"pipelineId": pipeline_id, "contactId": contact_id},
        create=create,
        update=update,
        parent_id=contact_id,
        outcome=outcome,
        adopt=adopt,
    )


def _duplicate_opportunity(exc: HighLevelError) -> bool:
    """HighLevel's 400 "Can not create duplicate opportunity for the contact." (duplicates disallowed), by
    its code or the category the client reduced the sentence to (the sentence itself is not kept)."""
    messages = getattr(exc, "messages", ()) or ()
    return exc.status_code == 400 and (
        exc.code == "OPPORTUNITY_NO_DUPLICATE" or "duplicate opportunity" in messages
    )


#: What an adopted opportunity keeps as the practice set it: never sent.
_PRACTICE_OWNS = ("name", "monetaryValue", "status", "assignedTo")


async def _adopt_opportunity(ctx: RunContext, opportunity_id: str, payload: dict[str, Any]) -> str:
    """Take over the practice's opportunity: its "before" is kept for rollback, then only the patient's
    custom fields (and, under ``merge.move_adopted_opportunities``, the lifecycle stage) are written; its
    name, value, status and owner stay as the practice set them. Returns the audit reason."""
    raw = (await ctx.call("GET", f"/opportunities/{opportunity_id}", kind=RequestKind.READ)).get(
        "opportunity"
    )
    before: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
    await ctx.db(ctx.ledger.save_pre_image, "opportunity", opportunity_id, before, run_id=ctx.run_id)
    move = ctx.policies.merge.move_adopted_opportunities
    body: dict[str, Any] = {}
    if payload.get("customFields"):
        body["customFields"] = payload["customFields"]
    if move and payload.get("pipelineStageId"):
        body["pipelineStageId"] = payload["pipelineStageId"]
    if body:
        await ctx.call("PUT", f"/opportunities/{opportunity_id}", kind=RequestKind.IDEMPOTENT, json=body)
    kept = ", ".join(k for k in (*_PRACTICE_OWNS, *(() if move else ("pipelineStageId",))) if k in payload)
    return f"adopted the practice's opportunity in the pipeline; kept its {kept}"


async def _appointments(ctx: RunContext, bundle: PatientBundle, contact_id: str | None) -> None:
    appt_map = ctx.maps.get("appointment")
    state = ctx.state
    layout = ctx.policies.calendars
    if appt_map is None:
        return
    for appointment in bundle.appointments:
        key = appointment_key(appointment)
        if not migrated_appointment(ctx, appointment):
            await _skip(ctx, "appointment", key, "past, broken or deleted: summarised on the contact")
            continue
        group = calendar_group(layout, appointment)
        calendar_id = state.calendar_ids.get(group)
        if calendar_id is None and group == SINGLE_CALENDAR:
            calendar_id = state.calendar_id
        if calendar_id is None:
            await _skip(ctx, "appointment", key, "no calendar in the plan")
            continue
        if contact_id is None:
            await _skip(ctx, "appointment", key, "the patient has no contact in HighLevel")
            continue
        result = appt_map.apply(appointment, practice=ctx.practice)
        payload = {k: v for k, v in result.payload.items() if k in _APPOINTMENT_KEYS}
        if "startTime" not in payload:
            await _skip(ctx, "appointment", key, "no start time")
            continue
        user_id = state.user_ids.get(appointment.provider_id or "") if ctx.policies.provider_users else None
        if user_id is not None:
            payload.setdefault("assignedUserId", user_id)
        reasons = []
        if layout is not CalendarLayout.SINGLE:
            reasons.append(
                f"calendar {group}" if group != SINGLE_CALENDAR else f"no {layout.value}: single calendar"
            )
        assigned = payload.get("assignedUserId")
        if assigned is not None and assigned not in state.calendar_teams.get(calendar_id, frozenset()):
            # HighLevel refuses a user who is not on the calendar's team; the practice's own calendars
            # are never modified, so the appointment is booked unassigned there.
            del payload["assignedUserId"]
            reasons.append("provider's user is not on the calendar's team: unassigned")
        await _appointment(
            ctx,
            key,
            contact_id,
            calendar_id,
            payload,
            reason="; ".join(reasons) or None,
            by_calendar=layout is not CalendarLayout.SINGLE,
        )


async def _appointment(
    ctx: RunContext,
    key: str,
    contact_id: str,
    calendar_id: str,
    payload: dict[str, Any],
    *,
    reason: str | None = None,
    by_calendar: bool = False,
) -> None:
    # Imports never notify the patient and never fail on slot rules (API-NOTES: toNotify / free slot).
    flags = {"toNotify": False, "ignoreFreeSlotValidation": True, "ignoreDateRange": True}
    lookup = {"calendarId": calendar_id, "contactId": contact_id, "startTime": str(payload["startTime"])}

    async def create() -> str:
        answer = await ctx.call(
            "POST",
            "/calendars/events/appointments",
            kind=RequestKind.CREATE,
            json={
                **payload,
                **flags,
                "calendarId": calendar_id,
                "contactId": contact_id,
                "locationId": ctx.hl.location_id,
            },
            resource="appointment",
            lookup=lookup,
        )
        return str(answer["id"])

    async def update(event_id: str) -> None:
        await ctx.call(
            "PUT",
            f"/calendars/events/appointments/{event_id}",
            kind=RequestKind.IDEMPOTENT,
            json={**payload, **flags, "calendarId": calendar_id},
        )

    hashed: dict[str, Any] = {**payload, "contact": contact_id}
    if by_calendar:
        # Layouts other than single: a new calendar for the appointment (layout changed) moves it.
        hashed["calendar"] = calendar_id
    await ctx.ensure_object(
        kind="appointment",
        key=key,
        digest=content_hash(hashed),
        lookup=lookup,
        create=create,
        update=update,
        parent_id=contact_id,
        reason=reason,
    )


FAMILY_ASSOCIATION_KEY = "family_member"
"""The contact–contact association a family member's contact is linked to its guarantor's contact by."""


def family_link_key(patient_id: str) -> str:
    return f"patient:{patient_id}/family"


def family_members(bundles: Sequence[PatientBundle]) -> list[PatientBundle]:
    """The patients that get a family link: those whose guarantor is another patient."""
    return [b for b in bundles if not b.patient.is_own_guarantor]


async def _family_association(ctx: RunContext) -> str | None:
    key = f"association:{FAMILY_ASSOCIATION_KEY}"
    ours = await ctx.db(ctx.ledger.destination_of, "association", key)
    if ours is None:
        existing = await ctx.hl.associations.find(key=FAMILY_ASSOCIATION_KEY)
        if existing is not None:
            # The practice (or another tool) made it: used, never deleted by rollback.
            await ctx.record(
                "association",
                key,
                RecordAction.UNCHANGED,
                RecordOutcome.APPLIED,
                destination_id=existing.id,
                reason="existing association reused",
            )
            return existing.id

    async def create() -> str:
        association = await ctx.hl.associations.create(
            key=FAMILY_ASSOCIATION_KEY,
            first_object_key="contact",
            first_object_label="Family member",
            second_object_key="contact",
            second_object_label="Guarantor",
        )
        return association.id

    return await ctx.ensure_object(
        kind="association",
        key=key,
        digest=content_hash({"key": FAMILY_ASSOCIATION_KEY}),
        lookup={"key": FAMILY_ASSOCIATION_KEY},
        create=create,
        update=None,
    )


async def write_family_links(
    ctx: RunContext, bundles: Sequence[PatientBundle], *, doomed: Collection[str] = ()
) -> int:
    """``family_associations`` policy: one relation per family member's contact -> its guarantor's contact.

    Runs after every patient's contact is written, so a guarantor later in source order is linked too.
    Each link is ledger-keyed by the member, so nothing is related twice and rollback deletes it; a member
    whose guarantor changed (a delta) gets the old relation replaced by the new one. A relation the
    migration created for a patient who no longer gets one (now their own guarantor; the guarantor has no
    contact, or is in ``doomed``: patient keys whose contacts this delta deletes) is deleted, with an audit
    row saying why. Returns how many relation rows were recorded for patients that are not family members
    (their own guarantors now): the engine adds them to the run's source counts.
    """
    association_id = await _family_association(ctx)
    unlinked = 0
    for bundle in bundles:
        key = family_link_key(bundle.patient_id)
        if bundle.patient.is_own_guarantor:
            if await _unlink(ctx, key, "the patient is now their own guarantor", member=False):
                unlinked += 1
            continue
        guarantor_key = patient_key(bundle.patient.guarantor_id or "")
        member = await ctx.db(ctx.ledger.destination_of, "contact", patient_key(bundle.patient_id))
        guarantor = await ctx.db(ctx.ledger.destination_of, "contact", guarantor_key)
        if guarantor_key in doomed:
            reason = "the guarantor is no longer in the source (contact deleted)"
            if not await _unlink(ctx, key, reason, member=True):
                await _skip(ctx, "relation", key, reason)
            continue
        if association_id is None:
            await _skip(ctx, "relation", key, "the family association could not be made")
            continue
        if member is None or guarantor is None:
            whose = "the patient" if member is None else "the guarantor"
            reason = f"{whose} has no contact in HighLevel"
            if not await _unlink(ctx, key, reason, member=True):
                await _skip(ctx, "relation", key, reason)
            continue
        if member == guarantor:
            reason = "the patient shares the guarantor's contact"
            if not await _unlink(ctx, key, reason, member=True):
                await _skip(ctx, "relation", key, reason)
            continue
        ids = {"associationId": association_id, "firstRecordId": member, "secondRecordId": guarantor}

        async def create(member: str = member, guarantor: str = guarantor) -> str:
            assert association_id is not None
            relation = await ctx.hl.associations.create_relation(
                association_id=association_id, first_record_id=member, second_record_id=guarantor
            )
            return relation.id

        async def delete(relation_id: str) -> None:
            await ctx.hl.associations.delete_relation(relation_id)

        # No update: a relation has nothing to change. A new guarantor (or a new contact of either) is a
        # new digest: the old relation is deleted and marked rolled back, and the new one created, so the
        # member is linked to its current guarantor only and rollback deletes only the live relation.
        await ctx.ensure_object(
            kind="relation",
            key=key,
            digest=content_hash(ids),
            lookup=ids,
            create=create,
            update=None,
            replace=delete,
            parent_id=member,
        )
    return unlinked


async def _unlink(ctx: RunContext, key: str, reason: str, *, member: bool) -> bool:
    """Delete the relation the migration created under ``key`` (gone already counts as deleted) and say
    why in the audit log; False when there is none of ours (a practice's relation is never touched).

    A family member keeps a (skipped) record, so a reconcile still accounts for it; a patient who is no
    longer a member keeps none: the audit row is written first, then the retirement drops the record.
    """
    dest = await ctx.db(ctx.ledger.destination_of, "relation", key)
    if dest is None or not await ctx.db(ctx._created_by_us, "relation", dest):
        return False
    with contextlib.suppress(NotFoundError):
        await ctx.hl.associations.delete_relation(dest)
    why = f"{reason}: the migration's relation deleted"
    if member:
        await ctx.db(ctx.ledger.mark_rolled_back, "relation", dest)
        await _skip(ctx, "relation", key, why)
    else:
        await ctx.record(
            "relation", key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, destination_id=dest, reason=why
        )
        await ctx.db(ctx.ledger.mark_rolled_back, "relation", dest)
    return True
