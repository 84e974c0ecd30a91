"""The patient's lifecycle opportunity in the practice's pipeline.

One per patient (ledger key ``patient:<id>/opportunity``): its stage follows the patient's disposition; an
interrupted create is found again by contact + pipeline; a duplicate the location refuses is the practice's
own opportunity, adopted with its pre-image and never deleted by rollback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dentrix_highlevel._errors import HighLevelError, NotFoundError
from dentrix_highlevel.highlevel import RequestKind, clear_value, value_for_write
from dentrix_highlevel.mapping import (
    lifecycle_stage,
    patient_disposition,
)
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.diff import FieldDiff, diff_object
from dentrix_highlevel.migration._engine.writers.base import (
    CountScope,
    PatientObjects,
    Writer,
    feature,
    skip,
)
from dentrix_highlevel.migration._engine.writers.contact import patient_key, patient_owner
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import PreImage
from dentrix_highlevel.records import PatientBundle

__all__ = ["KIND", "OPPORTUNITY_KEYS", "WRITER", "restore_opportunity", "write_opportunity"]

OPPORTUNITY_KEYS = ("name", "status", "monetaryValue", "pipelineStageId", "assignedTo", "customFields")


async def write_opportunity(ctx: RunContext, bundle: PatientBundle, contact_id: str | None) -> None:
    opp_map = ctx.maps.get("opportunity")
    state = ctx.state
    if opp_map is None or state.pipeline_id is None:
        return
    key = f"patient:{bundle.patient_id}/opportunity"
    if ctx.default_maps and not patient_disposition(bundle, ctx.options).opportunity:
        await skip(ctx, "opportunity", key, patient_disposition(bundle, ctx.options).reason)
        return
    if contact_id is None:
        await skip(ctx, "opportunity", key, "the patient has no contact in HighLevel")
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
        lookup = {"pipelineId": pipeline_id, "contactId": contact_id}
        body = {**payload, **lookup, "locationId": ctx.hl.location_id}
        return await ctx.create("/opportunities/", body, resource="opportunity", lookup=lookup)

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


KIND = "opportunity"


#: What an adopted opportunity's pre-image restores (UpdateOpportunityDto's fields).
_OPPORTUNITY_RESTORED = ("name", "pipelineId", "pipelineStageId", "status", "monetaryValue", "assignedTo")


def _field_values(raw: Any) -> dict[str, Any]:
    """Opportunity custom fields as read (``fieldValue`` or ``value``): field id -> value."""
    out: dict[str, Any] = {}
    for item in raw or []:
        if isinstance(item, dict) and item.get("id"):
            out[str(item["id"])] = item.get("fieldValue", item.get("value"))
    return out


async def restore_opportunity(ctx: RunContext, pre: PreImage, types: Mapping[str, str | None]) -> None:
    before: dict[str, Any] = dict(pre.payload) if isinstance(pre.payload, dict) else {}
    path = f"/opportunities/{pre.destination_id}"
    try:
        now = (await ctx.call("GET", path, kind=RequestKind.READ)).get("opportunity")
    except NotFoundError:
        await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)  # deleted by the practice since
        return
    current = _field_values(now.get("customFields") if isinstance(now, dict) else None)
    old = _field_values(before.get("customFields"))
    body: dict[str, Any] = {k: before[k] for k in _OPPORTUNITY_RESTORED if before.get(k) is not None}
    fields = [{"id": fid, "field_value": value_for_write(types.get(fid), v)} for fid, v in old.items()]
    fields += [{"id": fid, "field_value": clear_value(types.get(fid))} for fid in current if fid not in old]
    if fields:
        body["customFields"] = fields
    await ctx.call("PUT", path, kind=RequestKind.IDEMPOTENT, json=body)
    await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)


def _count(scope: CountScope) -> int:
    """One lifecycle opportunity per patient when the plan has a pipeline."""
    return len(scope.bundles) if "opportunity" in scope.maps and scope.policies.pipeline_name else 0


async def _write(ctx: RunContext, objects: PatientObjects) -> None:
    await write_opportunity(ctx, objects.bundle, objects.contact_id)


async def _read_back(ctx: RunContext, bundle: PatientBundle) -> list[FieldDiff]:
    key = f"{patient_key(bundle.patient_id)}/opportunity"
    opportunity_id = await ctx.db(ctx.ledger.destination_of, KIND, key)
    opp_map = ctx.maps.get("opportunity")
    if opportunity_id is None or opp_map is None:
        return []
    path = f"/opportunities/{opportunity_id}"
    actual = (await ctx.hl.call("GET", path, kind=RequestKind.READ)).get("opportunity") or {}
    expected = opp_map.apply(bundle, practice=ctx.practice).payload
    return diff_object(
        field_map=opp_map,
        record=bundle,
        source_key=key,
        destination_id=opportunity_id,
        expected={k: v for k, v in expected.items() if k in OPPORTUNITY_KEYS},
        actual=actual,
        field_ids=ctx.state.field_ids,
        not_sent=[k for k in expected if k not in OPPORTUNITY_KEYS and k != "customFields"],
    )


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "opportunities",
        "read the lifecycle pipeline's stages; create, move, read back and (rollback) delete opportunities",
        "GET /opportunities/pipelines",
        "POST /opportunities/",
        "PUT /opportunities/{id}",
        "GET /opportunities/{id}",
        "GET /opportunities/search",
        "DELETE /opportunities/{id}",
    ),
    count=_count,
    write_for_patient=_write,
    searched=True,
    read_back=_read_back,
    restore=restore_opportunity,
    in_plan=lambda policies, mapped: policies.pipeline_name is not None and mapped("opportunity"),
)
