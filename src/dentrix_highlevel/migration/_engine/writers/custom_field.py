"""Custom fields: the ones the plan writes, created once per location by ``fieldKey`` (or the practice's
own field of that key reused, never deleted).
"""

from __future__ import annotations

from collections.abc import Iterable

from dentrix_highlevel.highlevel import CustomField, CustomFieldInput
from dentrix_highlevel.mapping import (
    CustomFieldTarget,
    DataType,
    ExistingCustomField,
)
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.identity import identity_targets
from dentrix_highlevel.migration._engine.writers.base import CountScope, Usage, Writer, feature
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome

__all__ = ["KIND", "WRITER", "custom_field_targets", "ensure_field", "existing_custom_fields"]


def custom_field_targets(ctx: RunContext) -> list[CustomFieldTarget]:
    """Every custom field the plan writes, once per fieldKey, in map order."""
    seen: dict[str, CustomFieldTarget] = {}
    for name in ("contact", "opportunity"):
        field_map = ctx.maps.get(name)
        if field_map is None:
            continue
        for target in field_map.custom_fields():
            seen.setdefault(target.field_key, target)
    # The engine's own identity fields (the practice namespace) ride with the map's Source System ID.
    for target in identity_targets(ctx.maps):
        seen.setdefault(target.field_key, target)
    return list(seen.values())


async def ensure_field(
    ctx: RunContext, target: CustomFieldTarget, existing: dict[str, CustomField]
) -> str | None:
    key = f"field:{target.field_key}"
    found = existing.get(target.field_key)
    definition = {
        "name": target.name,
        "dataType": target.data_type.value,
        "model": target.model.value,
        "fieldKey": target.field_key,
        "options": list(target.options),
    }
    digest = content_hash(definition)
    if found is not None:
        found_id = found.id
        ours = await ctx.db(ctx.ledger.destination_of, "custom_field", key)
        if ours != found_id and not (ours is None and ctx.made_in_setup("custom_field", key)):
            # The practice's own field (or one from an earlier migration): reuse it, never delete it.
            await ctx.record(
                "custom_field",
                key,
                RecordAction.UNCHANGED,
                RecordOutcome.APPLIED,
                destination_id=found_id,
                digest=digest,
                reason="existing field reused",
            )
            return found_id

    async def create() -> str:
        field = await ctx.hl.custom_fields.create(
            CustomFieldInput(
                name=target.name,
                data_type=target.data_type.value,
                model=target.model.value,
                field_key=target.field_key,
                options=target.options or None,
                parent_id=ctx.policies.folder_for(target.category.value),
            )
        )
        return field.id

    return await ctx.ensure_object(
        kind="custom_field",
        key=key,
        digest=digest,
        lookup={"name": target.name, "model": target.model.value},
        create=create,
        update=None,
    )


KIND = "custom_field"
_DATA_TYPES = frozenset(t.value for t in DataType)


def existing_custom_fields(listed: Iterable[CustomField]) -> tuple[ExistingCustomField, ...]:
    """The location's custom fields as the matcher sees them (those of a type the plan can write)."""
    return tuple(
        ExistingCustomField(
            id=f.id,
            name=f.name or "",
            field_key=f.field_key or "",
            data_type=f.data_type or "TEXT",
            options=tuple(str(o) for o in f.picklist_options),
        )
        for f in listed
        if f.field_key and (f.data_type or "TEXT") in _DATA_TYPES
    )


def _count(scope: CountScope) -> int:
    """Every custom field the plan writes, once per fieldKey (setup objects: not in a sample's counts)."""
    if not scope.setup:
        return 0
    maps = scope.maps
    keys = {
        t.field_key for name in ("contact", "opportunity") if name in maps for t in maps[name].custom_fields()
    }
    return len(keys | {t.field_key for t in identity_targets(maps)})


async def _in_use(_ctx: RunContext, field_id: str, usage: Usage) -> bool:
    # A practice user (or another practice's migration) put values in it: rollback keeps it.
    return field_id in usage.fields


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "custom fields",
        "find the existing custom fields, create the missing ones; rollback deletes those it created",
        "GET /locations/{locationId}/customFields",
        "POST /locations/{locationId}/customFields",
        "DELETE /locations/{locationId}/customFields/{id}",
    ),
    count=_count,
    setup=True,
    keep=_in_use,
    in_plan=lambda policies, mapped: True,
)
