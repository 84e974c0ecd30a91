"""Setup, idempotently: location settings, the tag catalogue's pre-image, custom fields by ``fieldKey``
(created when missing, reused when present), the pipeline and its stages, provider users, and the
appointment calendars (one, or one per provider / operatory per the ``calendars`` policy).

Pipelines cannot be created through HighLevel's API: a missing pipeline (or stage) stops the run before any
patient is written, with a message naming what to create.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence

from dentrix_highlevel._errors import PlanError
from dentrix_highlevel.highlevel import Calendar, CustomField, CustomFieldInput, UserInput
from dentrix_highlevel.mapping import (
    LIFECYCLE_STAGES,
    CustomFieldTarget,
    DataType,
    DefaultMapOptions,
    ExistingCustomField,
    FieldMap,
    match_custom_field,
)
from dentrix_highlevel.migration._engine.context import RunContext, SetupState, content_hash
from dentrix_highlevel.migration._engine.identity import PRACTICE_ID_KEY, SOURCE_ID_KEY, identity_targets
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._engine.writers.calendar import SINGLE_CALENDAR, CalendarSpec, calendar_specs
from dentrix_highlevel.migration._engine.writers.related import appointment_migrates
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.setup_record import SETUP_KINDS, SetupRecord
from dentrix_highlevel.records import Appointment, Provider

__all__ = [
    "ALREADY_ON_TEAM",
    "SOURCE_ID_KEY",
    "TAG_CATALOGUE",
    "calendar_team",
    "custom_field_targets",
    "run_setup",
    "setup_calendars",
]

TAG_CATALOGUE = "tag_catalogue"
"""Pre-image kind of the location's tag names before the migration (contact writes add tags to it)."""
_DATA_TYPES = frozenset(t.value for t in DataType)
ALREADY_ON_TEAM = "the providers' users are already on the calendar's team"
"""Audit reason of a calendar we created whose new team member someone already added in HighLevel."""


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
    known = [
        ExistingCustomField(
            id=f.id,
            name=f.name or "",
            field_key=f.field_key or "",
            data_type=f.data_type or "TEXT",
            options=tuple(str(o) for o in f.picklist_options),
        )
        for f in listed
        if f.field_key and (f.data_type or "TEXT") in _DATA_TYPES
    ]
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
        ("custom_field", f"field:{t.field_key}")
        for t in custom_field_targets(ctx)
        if t.field_key not in existing
    )
    field_ids: dict[str, str] = {}
    field_types: dict[str, str] = {}
    for target in custom_field_targets(ctx):
        field_id = await _ensure_field(ctx, target, existing)
        if field_id is None:
            continue
        field_ids[target.field_key] = field_id
        field_types[field_id] = target.data_type.value
    pipeline_id, stage_ids = await _pipeline(ctx)
    # Users first: a provider's calendar gets the provider's user as its team member.
    user_ids = await _provider_users(ctx, providers)
    calendar_ids, calendar_teams = await _calendars(ctx, providers, appointments, user_ids)
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
        created=((o.kind, o.source_key) for o in created if o.kind in SETUP_KINDS),
    )


async def _ensure_field(
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


def setup_calendars(
    policies: MigrationPolicies,
    options: DefaultMapOptions,
    maps: Mapping[str, FieldMap],
    appointments: Iterable[Appointment],
    providers: Iterable[Provider],
) -> tuple[CalendarSpec, ...]:
    """The calendars setup makes (or reuses) for these appointments: the engine counts them from this too."""
    if "appointment" not in maps:
        return ()
    migrated = (a for a in appointments if appointment_migrates(options, a))
    return calendar_specs(policies, migrated, providers=providers)


def calendar_team(spec: CalendarSpec, user_ids: Mapping[str, str]) -> tuple[str, ...]:
    """The users a calendar the migration creates has on its team: a provider's calendar its provider's
    user; the single (and fallback) and operatory calendars every provider's user, since any provider may
    book there. HighLevel refuses an appointment assigned to a user who is not on the calendar's team."""
    if spec.provider_id is not None:
        user = user_ids.get(spec.provider_id)
        return (user,) if user is not None else ()
    return tuple(sorted(set(user_ids.values())))


def _members(calendar: Calendar) -> tuple[str, ...]:
    return tuple(str(m["userId"]) for m in calendar.team_members if isinstance(m, dict) and m.get("userId"))


async def _calendars(
    ctx: RunContext,
    providers: Sequence[Provider],
    appointments: Iterable[Appointment],
    user_ids: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """Group key (``single``, ``provider:<id>``, ``operatory:<id>``) -> calendar id, per the policy; and
    calendar id -> the user ids on its team (what an appointment may be assigned to)."""
    out: dict[str, str] = {}
    teams: dict[str, frozenset[str]] = {}
    listed: dict[str, Calendar] | None = None  # the location's calendars by name, read once when needed
    for spec in setup_calendars(ctx.policies, ctx.options, ctx.maps, appointments, providers):
        ours = await ctx.db(ctx.ledger.destination_of, "calendar", f"calendar:{spec.name}")
        if listed is None and (ours is None or not await ctx.db(ctx._created_by_us, "calendar", ours)):
            listed = {}
            for calendar in await ctx.hl.calendars.list():
                if calendar.name:
                    listed.setdefault(calendar.name, calendar)  # the first of a name, as ``find`` does
        found = await _calendar(ctx, spec, calendar_team(spec, user_ids), listed or {})
        if found is not None:
            calendar_id, team = found
            out[spec.key] = calendar_id
            teams[calendar_id] = team
    return out, teams


async def _calendar(
    ctx: RunContext, spec: CalendarSpec, team: tuple[str, ...], listed: Mapping[str, Calendar]
) -> tuple[str, frozenset[str]] | None:
    name = spec.name
    key = f"calendar:{name}"
    # The single calendar's digest is what it was before layouts existed (ledgers stay unchanged).
    definition: dict[str, object] = {"name": name}
    if team:
        definition["teamMembers"] = list(team)
    ours = await ctx.db(ctx.ledger.destination_of, "calendar", key)
    practice: Calendar | None = None
    if ours is None:
        practice = None if ctx.made_in_setup("calendar", key) else listed.get(name)
    elif not await ctx.db(ctx._created_by_us, "calendar", ours):
        # Reused in an earlier run: still the practice's, never modified.
        practice = next((c for c in listed.values() if c.id == ours), None) or Calendar(id=ours, name=name)
    if practice is None:
        await ctx.note_setup_created([("calendar", key)])
    if practice is not None:
        # The practice's calendar: used, never modified, never deleted by rollback. Its team is what it
        # is: appointments are assigned only to users on it (the others go unassigned, and say so).
        await ctx.record(
            "calendar",
            key,
            RecordAction.UNCHANGED,
            RecordOutcome.APPLIED,
            destination_id=practice.id,
            reason="existing calendar reused",
        )
        return practice.id, frozenset(_members(practice))

    async def create() -> str:
        return (await ctx.hl.calendars.create(name=name, calendar_type="event", team_member_ids=team)).id

    async def add_members(calendar_id: str) -> str | None:
        # Only reached for a calendar the migration created whose definition changed: provider users
        # appeared after the calendar was made (``provider_users`` switched on, or users found later).
        # The team is read first so members added in HighLevel since are kept; users someone already
        # added by hand need no PUT, and the audit row must not claim one (so: unchanged).
        members = _members(await ctx.hl.calendars.get(calendar_id))
        missing = [user for user in team if user not in members]
        if not missing:
            return ALREADY_ON_TEAM
        await ctx.hl.calendars.update(calendar_id, team_member_ids=(*members, *missing))
        return None

    calendar_id = await ctx.ensure_object(
        kind="calendar",
        key=key,
        digest=content_hash(definition),
        lookup={"name": name},
        create=create,
        update=add_members if team else None,
    )
    return None if calendar_id is None else (calendar_id, frozenset(team))


async def _provider_users(ctx: RunContext, providers: Sequence[Provider]) -> dict[str, str]:
    """provider id -> HighLevel user id, per the ``provider_users`` policy."""
    user_map = ctx.maps.get("provider_user")
    if not ctx.policies.provider_users or user_map is None:
        return {}
    out: dict[str, str] = {}
    for provider in providers:
        key = f"provider:{provider.provider_id}"
        payload = user_map.apply(provider, practice=ctx.practice).payload
        first, last, email = payload.get("firstName"), payload.get("lastName"), payload.get("email")
        if not (isinstance(first, str) and isinstance(last, str) and isinstance(email, str)):
            await ctx.record(
                "user",
                key,
                RecordAction.SKIPPED,
                RecordOutcome.NOT_APPLIED,
                reason="provider has no name or e-mail: no user",
            )
            continue
        digest = content_hash(payload)
        ours = await ctx.db(ctx.ledger.destination_of, "user", key)
        if ours is None:
            existing = await ctx.hl.users.find(email=email)
            if existing is not None and not ctx.made_in_setup("user", key):
                # The practice already has this person as a user: use it, never delete it.
                await ctx.record(
                    "user",
                    key,
                    RecordAction.UNCHANGED,
                    RecordOutcome.APPLIED,
                    destination_id=existing.id,
                    digest=digest,
                    reason="existing user reused",
                )
                out[provider.provider_id] = existing.id
                continue
            await ctx.note_setup_created([("user", key)])
        phone = payload.get("phone")

        async def create(
            first: str = first, last: str = last, email: str = email, phone: object = phone
        ) -> str:
            # HighLevel requires a password on create: a random one, never stored or logged; the provider
            # sets their own through HighLevel's "forgot password" flow.
            password = secrets.token_urlsafe(24) + "aA1!"
            user = await ctx.hl.users.create(
                UserInput(
                    password=password,
                    first_name=first,
                    last_name=last,
                    email=email,
                    phone=phone if isinstance(phone, str) else None,
                )
            )
            return user.id

        user_id = await ctx.ensure_object(
            kind="user", key=key, digest=digest, lookup={"email": email}, create=create, update=None
        )
        if user_id is not None:
            out[provider.provider_id] = user_id
    return out
