"""Setup, idempotently: location settings, the tag catalogue's pre-image, custom fields by ``fieldKey``
(created when missing, reused when present), the pipeline and its stages, provider users, and the
appointment calendars (one, or one per provider / operatory per the ``calendars`` policy).

Pipelines cannot be created through HighLevel's API: a missing pipeline (or stage) stops the run before any
patient is written, with a message naming what to create.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dentrix_highlevel._errors import PlanError
from dentrix_highlevel.mapping import (
    LIFECYCLE_STAGES,
    match_custom_field,
)
from dentrix_highlevel.migration._engine.calendar_layout import SINGLE_CALENDAR
from dentrix_highlevel.migration._engine.context import RunContext, SetupState
from dentrix_highlevel.migration._engine.identity import PRACTICE_ID_KEY, SOURCE_ID_KEY
from dentrix_highlevel.migration._engine.writers.calendar import ensure_calendars
from dentrix_highlevel.migration._engine.writers.custom_field import KIND as CUSTOM_FIELD
from dentrix_highlevel.migration._engine.writers.custom_field import (
    custom_field_targets,
    ensure_field,
    existing_custom_fields,
)
from dentrix_highlevel.migration._engine.writers.registry import writer
from dentrix_highlevel.migration._engine.writers.user import ensure_provider_users
from dentrix_highlevel.migration._state.setup_record import SetupRecord
from dentrix_highlevel.records import Appointment, Provider

__all__ = ["SOURCE_ID_KEY", "TAG_CATALOGUE", "run_setup"]

TAG_CATALOGUE = "tag_catalogue"
"""Pre-image kind of the location's tag names before the migration (contact writes add tags to it)."""


async def run_setup(
    ctx: RunContext, *, providers: Sequence[Provider] = (), appointments: Iterable[Appointment] = ()
) -> SetupState:
    """``appointments`` are the run's appointments: the provider/operatory layouts make a calendar for
    each provider/operatory that has a migrated one among them."""
    hl = ctx.hl
    location = await hl.locations.get()
    tags = await hl.tags.list()
    await ctx.db(
        ctx.ledger.save_pre_image,
        TAG_CATALOGUE,
        hl.location_id,
        sorted({t.name for t in tags if t.name}),
        run_id=ctx.run_id,
    )
    await _note_setup(ctx)
    listed = await hl.custom_fields.list(model="all")
    existing = {f.field_key: f for f in listed if f.field_key}
    known = existing_custom_fields(listed)
    # Every conflict before any field is made: a field of the wrong shape is never written.
    conflicts = [
        f"{target.field_key} ({match.conflict}; {match.fix})"
        for target in custom_field_targets(ctx)
        if (match := match_custom_field(target, known)).conflict is not None
    ]
    if conflicts:
        raise PlanError("custom field conflicts with the location: " + "; ".join(conflicts))
    # The fields about to be created go into the location's setup record first (one write for all).
    await ctx.note_setup_created(
        (CUSTOM_FIELD, f"field:{t.field_key}")
        for t in custom_field_targets(ctx)
        if t.field_key not in existing
    )
    field_ids: dict[str, str] = {}
    field_types: dict[str, str] = {}
    for target in custom_field_targets(ctx):
        field_id = await ensure_field(ctx, target, existing)
        if field_id is None:
            continue
        field_ids[target.field_key] = field_id
        field_types[field_id] = target.data_type.value
    pipeline_id, stage_ids = await _pipeline(ctx)
    # Users first: a provider's calendar gets the provider's user as its team member.
    user_ids = await ensure_provider_users(ctx, providers)
    calendar_ids, calendar_teams = await ensure_calendars(ctx, providers, appointments, user_ids)
    return SetupState(
        allow_duplicates=location.allows_duplicate_contacts,
        allow_duplicate_opportunities=bool(
            location.settings and location.settings.allow_duplicate_opportunity
        ),
        field_ids=field_ids,
        field_types=field_types,
        source_id_field=field_ids.get(SOURCE_ID_KEY),
        practice_field=field_ids.get(PRACTICE_ID_KEY),
        pipeline_id=pipeline_id,
        stage_ids=stage_ids,
        calendar_id=calendar_ids.get(SINGLE_CALENDAR),
        calendar_ids=calendar_ids,
        calendar_teams=calendar_teams,
        user_ids=user_ids,
    )


async def _note_setup(ctx: RunContext) -> None:
    """Read the location's setup record, and add to it the tag catalogue before the migration and every
    setup object this ledger records as created (a migration begun before the record existed gains one)."""
    record = await SetupRecord.read(ctx.hl, ctx.namespace)
    ctx.setup_record = record
    if ctx.recovered:
        return  # a rebuilt ledger knows less than the record: it reads it, never rewrites it from itself
    before = await ctx.db(ctx.ledger.pre_image, TAG_CATALOGUE, ctx.hl.location_id)
    payload = before.payload if before is not None else None
    created = await ctx.db(ctx.ledger.created_objects)
    await record.note(
        ctx.hl,
        tags_before=[str(t) for t in payload] if isinstance(payload, list) else None,
        created=((o.kind, o.source_key) for o in created if writer(o.kind).setup),
    )


async def _pipeline(ctx: RunContext) -> tuple[str | None, dict[str, str]]:
    name = ctx.policies.pipeline_name
    if name is None or "opportunity" not in ctx.maps:
        return None, {}
    pipelines = await ctx.hl.pipelines.list()
    folded = name.casefold()
    pipeline = next((p for p in pipelines if (p.name or "").casefold() == folded), None)
    if pipeline is None:
        raise PlanError(
            f"the pipeline {name!r} does not exist in location {ctx.hl.location_id}: create it in HighLevel "
            f"with the stages {', '.join(LIFECYCLE_STAGES)} (the API cannot create pipelines)"
        )
    stage_ids = {s.name: s.id for s in pipeline.stages if s.name}
    if ctx.default_maps:
        missing = _missing(stage_ids, LIFECYCLE_STAGES)
        if missing:
            raise PlanError(
                f"the pipeline {name!r} lacks the stage(s) {', '.join(missing)}: add them in HighLevel"
            )
    return pipeline.id, stage_ids


def _missing(have: dict[str, str], wanted: Iterable[str]) -> list[str]:
    folded = {k.casefold() for k in have}
    return [w for w in wanted if w.casefold() not in folded]
