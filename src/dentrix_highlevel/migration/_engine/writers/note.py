"""Notes on a patient's contact: the overflow of long text, clinical notes and Office Journal entries.

Each has a stable ledger key (an overflow by its field, a note by its source id), so it is written once: a
re-run sends nothing, a changed one is updated in place, and an interrupted create is found again by the
note body's hash before anything is created twice.
"""

from __future__ import annotations

import re
from typing import Any

from dentrix_highlevel.highlevel import RequestKind
from dentrix_highlevel.mapping import (
    ClinicalNotesMode,
)
from dentrix_highlevel.migration._engine.context import RunContext, content_hash, text_digest
from dentrix_highlevel.migration._engine.writers.base import (
    CountScope,
    PatientObjects,
    Writer,
    feature,
    skip,
)
from dentrix_highlevel.records import PatientBundle

__all__ = ["KIND", "WRITER", "write_notes"]

KIND = "note"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_") or "field"


async def _note(ctx: RunContext, key: str, contact_id: str | None, body: str | None) -> None:
    if contact_id is None:
        await skip(ctx, KIND, key, "the patient has no contact in HighLevel")
        return
    if not body or not body.strip():
        await skip(ctx, KIND, key, "empty note")
        return

    async def create() -> str:
        return await ctx.create(
            f"/contacts/{contact_id}/notes",
            {"body": body},
            resource="note",
            lookup={"contactId": contact_id, "bodySha256": text_digest(body)},
        )

    async def update(note_id: str) -> None:
        await ctx.call(
            "PUT", f"/contacts/{contact_id}/notes/{note_id}", kind=RequestKind.IDEMPOTENT, json={"body": body}
        )

    await ctx.ensure_object(
        kind=KIND,
        key=key,
        digest=content_hash({"body": body, "contact": contact_id}),
        lookup={"contactId": contact_id, "bodySha256": text_digest(body)},
        create=create,
        update=update,
        parent_id=contact_id,
    )


async def write_notes(ctx: RunContext, bundle: PatientBundle, contact_id: str | None, overflow: Any) -> None:
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


def _count(scope: CountScope) -> int:
    """Overflow notes, clinical notes (unless kept as a field) and Office Journal entries, per the plan."""
    maps, policies, options = scope.maps, scope.policies, scope.options
    notes = 0
    for bundle in scope.bundles:
        if policies.overflow_notes:
            notes += len(maps["contact"].apply(bundle, practice=scope.practice).overflow)
        if "clinical_note" in maps and options.clinical_notes is not ClinicalNotesMode.FIELD:
            notes += len(bundle.clinical_notes)
        if "journal_note" in maps and policies.journal_notes:
            notes += len(bundle.journal)
    return notes


async def _write(ctx: RunContext, objects: PatientObjects) -> None:
    await write_notes(ctx, objects.bundle, objects.contact_id, objects.overflow)


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "notes",
        "overflow, clinical and Office Journal notes on the contact",
        "POST /contacts/{contactId}/notes",
        "PUT /contacts/{contactId}/notes/{id}",
        "GET /contacts/{contactId}/notes",
        "DELETE /contacts/{contactId}/notes/{id}",
    ),
    count=_count,
    write_for_patient=_write,
    in_plan=lambda policies, mapped: (
        policies.journal_notes or policies.overflow_notes or mapped("clinical_note")
    ),
)
