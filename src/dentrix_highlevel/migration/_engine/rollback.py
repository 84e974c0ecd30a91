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

from dentrix_highlevel._errors import NotFoundError
from dentrix_highlevel.migration._engine.context import RunContext
from dentrix_highlevel.migration._engine.events import PhaseStarted
from dentrix_highlevel.migration._engine.setup import TAG_CATALOGUE
from dentrix_highlevel.migration._engine.writers.base import Usage
from dentrix_highlevel.migration._engine.writers.contact import KIND as CONTACT
from dentrix_highlevel.migration._engine.writers.registry import undo, writer
from dentrix_highlevel.migration._state.ledger import CreatedObject, PreImage

__all__ = ["run_rollback"]


async def run_rollback(ctx: RunContext) -> None:
    created = await ctx.db(ctx.ledger.created_objects)
    # Read before the deletes (which do not touch pre-images), so progress counts every step from the start.
    restored = [pre for pre in await ctx.db(ctx.ledger.pre_images) if _restorable(pre.kind)]
    ctx.total = len(created) + len(restored)
    ctx.phase = "delete"
    await ctx.report(PhaseStarted)
    for obj in created:
        if not writer(obj.kind).setup:
            await _delete(ctx, obj)
    ctx.phase = "restore"
    await ctx.report(PhaseStarted)
    if restored:
        # A restore writes values back (and clears others) per field type: read the types once.
        types = {f.id: f.data_type for f in await ctx.hl.custom_fields.list(model="all")}
        for pre in restored:
            restore = writer(pre.kind).restore
            assert restore is not None  # _restorable
            await restore(ctx, pre, types)
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
    usage = Usage(fields=frozenset(used))
    for obj in created:
        setup = writer(obj.kind)
        if setup.setup:
            if setup.keep is not None and await setup.keep(ctx, obj.destination_id, usage):
                continue  # still in use by what the location keeps (the writer says why)
            await _delete(ctx, obj)


def _restorable(kind: str) -> bool:
    """A pre-image a writer restores (the tag catalogue's is restored last, from the usage scan)."""
    if kind == TAG_CATALOGUE:
        return False
    try:
        return writer(kind).restore is not None
    except ValueError:
        return False  # a pre-image no writer restores


async def _delete(ctx: RunContext, obj: CreatedObject) -> None:
    await undo(ctx, obj.kind, obj.destination_id, obj.parent_id)
    ctx.counters.deleted += 1
    ctx.done += 1
    await ctx.report()


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


async def _kept_usage(ctx: RunContext, restored: list[PreImage]) -> tuple[set[str], set[str]]:
    """The custom fields holding a value, and the tags (case-folded), on some contact the location keeps.
    The search index lags writes (and deletes), so it still shows the contacts this rollback deleted and
    the values it just restored: the deleted ones are skipped, and a restored contact counts with its
    pre-image's values. "Deleted" is every contact the migration ever created, those an earlier,
    interrupted attempt of this rollback deleted (marked rolled back) included: the index may still show
    them too."""
    every = await ctx.db(lambda: ctx.ledger.created_objects(include_rolled_back=True))
    deleted = {o.destination_id for o in every if o.kind == CONTACT}
    before = {p.destination_id: p.payload for p in restored if p.kind == CONTACT}
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
