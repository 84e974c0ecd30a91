"""Rollback: return the sub-account to its state before the migration.

Order matters: the objects the migration created are deleted newest first (children before parents), then
the practice's own contacts get their pre-images back, then the tag catalogue loses the tags added since
the migration began that no kept contact carries, and last the custom fields (and calendar) the migration
created go once nothing holds a value in them (no event, for a calendar). "Kept" matters where several
practices share a location: rolling one back leaves what the others' contacts use. Every step is marked in
the ledger as it is done, so a rollback that stops is simply run again: what is already gone (404) counts
as done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from typing import Any

from dentrix_highlevel._errors import NotFoundError
from dentrix_highlevel.highlevel import RequestKind, clear_value, value_for_write
from dentrix_highlevel.migration._engine.context import RunContext
from dentrix_highlevel.migration._engine.events import PhaseStarted
from dentrix_highlevel.migration._engine.setup import TAG_CATALOGUE
from dentrix_highlevel.migration._state.ledger import CreatedObject, PreImage

__all__ = ["delete_created", "run_rollback"]

_LAST = ("custom_field", "calendar", "user")
# What a contact's pre-image restores (everything a PUT accepts; derived fields follow from these).
_RESTORED = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "source",
    "country",
    "assignedTo",
    "dateOfBirth",
)


async def run_rollback(ctx: RunContext) -> None:
    created = await ctx.db(ctx.ledger.created_objects)
    # Read before the deletes (which do not touch pre-images), so progress counts every step from the start.
    restored = [pre for pre in await ctx.db(ctx.ledger.pre_images) if pre.kind in ("contact", "opportunity")]
    ctx.total = len(created) + len(restored)
    ctx.phase = "delete"
    await ctx.report(PhaseStarted)
    for obj in created:
        if obj.kind not in _LAST:
            await _delete(ctx, obj)
    ctx.phase = "restore"
    await ctx.report(PhaseStarted)
    if restored:
        # A restore writes values back (and clears others) per field type: read the types once.
        types = {f.id: f.data_type for f in await ctx.hl.custom_fields.list(model="all")}
        for pre in restored:
            if pre.kind == "contact":
                await _restore_contact(ctx, pre, types)
            else:
                await _restore_opportunity(ctx, pre, types)
            ctx.counters.restored += 1
            ctx.done += 1
            await ctx.report()
    # One pass over the contacts the location keeps: which custom fields and tags they still use.
    used, tagged = await _kept_usage(ctx, restored)
    for pre in await ctx.db(ctx.ledger.pre_images):
        if pre.kind == TAG_CATALOGUE:
            await _restore_tags(ctx, pre, tagged)
    ctx.phase = "fields"
    await ctx.report(PhaseStarted)
    for obj in created:
        if obj.kind in _LAST:
            if obj.kind == "custom_field" and obj.destination_id in used:
                continue  # a practice user (or another practice's migration) put values in it: keep it
            if obj.kind == "calendar" and await _holds_events(ctx, obj.destination_id):
                continue  # events this rollback did not create are in it (deleting it deletes them)
            await _delete(ctx, obj)


async def _delete(ctx: RunContext, obj: CreatedObject) -> None:
    await delete_created(ctx, obj.kind, obj.destination_id, obj.parent_id)
    ctx.counters.deleted += 1
    ctx.done += 1
    await ctx.report()


async def delete_created(ctx: RunContext, kind: str, destination_id: str, parent_id: str | None) -> None:
    """Delete one object the migration created and mark it rolled back in the ledger (rollback, and a delta
    deleting a patient gone from the source). Already gone (404) counts as deleted: a resumed step, or
    deleted by hand."""
    with contextlib.suppress(NotFoundError):
        if kind == "relation":
            # The relation delete wants ?locationId, which the client's method adds.
            await ctx.hl.associations.delete_relation(destination_id)
        elif kind == "document":
            # An uploaded document file: DELETE /medias/{id}?altType=location&altId=<location>.
            await ctx.hl.media.delete(destination_id)
        else:
            await ctx.call(
                "DELETE",
                _delete_path(ctx, kind, destination_id, parent_id),
                kind=RequestKind.IDEMPOTENT,
                json={} if kind == "appointment" else None,
            )
    await ctx.db(ctx.ledger.mark_rolled_back, kind, destination_id)


def _delete_path(ctx: RunContext, kind: str, oid: str, parent_id: str | None) -> str:
    if kind == "note":
        return f"/contacts/{parent_id}/notes/{oid}"
    if kind == "task":
        return f"/contacts/{parent_id}/tasks/{oid}"
    if kind == "appointment":
        return f"/calendars/events/{oid}"
    if kind == "opportunity":
        return f"/opportunities/{oid}"
    if kind == "custom_field":
        return f"/locations/{ctx.hl.location_id}/customFields/{oid}"
    if kind == "user":
        return f"/users/{oid}"
    if kind == "calendar":
        return f"/calendars/{oid}"
    if kind == "association":
        return f"/associations/{oid}"
    return f"/contacts/{oid}"


async def _restore_contact(ctx: RunContext, pre: PreImage, types: Mapping[str, str | None]) -> None:
    before: dict[str, Any] = dict(pre.payload) if isinstance(pre.payload, dict) else {}
    try:
        now = (await ctx.call("GET", f"/contacts/{pre.destination_id}", kind=RequestKind.READ)).get("contact")
    except NotFoundError:
        await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)  # deleted by the practice since
        return
    current: dict[str, Any] = now if isinstance(now, dict) else {}
    body: dict[str, Any] = {key: before.get(key) for key in _RESTORED}
    body["tags"] = list(before.get("tags") or [])
    old_values = {c["id"]: c.get("value") for c in before.get("customFields") or [] if isinstance(c, dict)}
    fields = [
        {"id": fid, "field_value": value_for_write(types.get(fid), value)}
        for fid, value in old_values.items()
    ]
    fields += [
        {"id": c["id"], "field_value": clear_value(types.get(c["id"]))}
        for c in current.get("customFields") or []
        if isinstance(c, dict) and c.get("id") not in old_values
    ]
    body["customFields"] = fields
    await ctx.call("PUT", f"/contacts/{pre.destination_id}", kind=RequestKind.IDEMPOTENT, json=body)
    await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)


#: What an adopted opportunity's pre-image restores (UpdateOpportunityDto's fields).
_OPPORTUNITY_RESTORED = ("name", "pipelineId", "pipelineStageId", "status", "monetaryValue", "assignedTo")


def _field_values(raw: Any) -> dict[str, Any]:
    """Opportunity custom fields as read (``fieldValue`` or ``value``): field id -> value."""
    out: dict[str, Any] = {}
    for item in raw or []:
        if isinstance(item, dict) and item.get("id"):
            out[str(item["id"])] = item.get("fieldValue", item.get("value"))
    return out


async def _restore_opportunity(ctx: RunContext, pre: PreImage, types: Mapping[str, str | None]) -> None:
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


async def _restore_tags(ctx: RunContext, pre: PreImage, tagged: set[str]) -> None:
    """Delete the tags the location gained since the migration began that no kept contact carries. A tag
    in use stays: another practice's migration into the same location (or a practice user) put it on a
    contact this rollback does not delete."""
    before = {t.casefold() for t in pre.payload} if isinstance(pre.payload, list) else set()
    for tag in await ctx.hl.tags.list():
        name = (tag.name or "").casefold()
        if name not in before and name not in tagged:
            with contextlib.suppress(NotFoundError):
                await ctx.hl.tags.delete(tag.id)
    await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)


async def _holds_events(ctx: RunContext, calendar_id: str) -> bool:
    """Does a calendar the migration created hold events it did not create (all of its own are deleted
    by now)? The events read is not a search: it does not lag."""
    start = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(days=3660)
    with contextlib.suppress(NotFoundError):
        return bool(await ctx.hl.appointments.list(start=start, end=end, calendar_id=calendar_id))
    return False


async def _kept_usage(ctx: RunContext, restored: list[PreImage]) -> tuple[set[str], set[str]]:
    """The custom fields holding a value, and the tags (case-folded), on some contact the location keeps.
    The search index lags writes (and deletes), so it still shows the contacts this rollback deleted and
    the values it just restored: the deleted ones are skipped, and a restored contact counts with its
    pre-image's values. "Deleted" is every contact the migration ever created, those an earlier,
    interrupted attempt of this rollback deleted (marked rolled back) included: the index may still show
    them too."""
    every = await ctx.db(lambda: ctx.ledger.created_objects(include_rolled_back=True))
    deleted = {o.destination_id for o in every if o.kind == "contact"}
    before = {p.destination_id: p.payload for p in restored if p.kind == "contact"}
    used: set[str] = set()
    tagged: set[str] = set()
    for payload in before.values():
        if not isinstance(payload, dict):
            continue
        used |= {
            str(c["id"])
            for c in payload.get("customFields") or []
            if isinstance(c, dict) and "id" in c and c.get("value") not in (None, "", [])
        }
        tagged |= {str(t).casefold() for t in payload.get("tags") or []}
    async for contact in ctx.hl.contacts.search(page_limit=500):
        if contact.id in deleted or contact.id in before:
            continue
        used |= {reading.id for reading in contact.custom_fields if reading.current not in (None, "", [])}
        tagged |= {t.casefold() for t in contact.tags}
    return used, tagged
