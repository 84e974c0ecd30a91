"""Calendars the appointments are booked into: found by name (the practice's, reused and never modified) or
created with their team; a created one gains the provider users that appear later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence

from dentrix_highlevel._errors import NotFoundError
from dentrix_highlevel.highlevel import Calendar
from dentrix_highlevel.mapping import (
    DefaultMapOptions,
    FieldMap,
)
from dentrix_highlevel.migration._engine.calendar_layout import CalendarSpec, calendar_group, calendar_specs
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._engine.writers.appointment import FEATURE as APPOINTMENTS
from dentrix_highlevel.migration._engine.writers.appointment import WRITER as APPOINTMENT_WRITER
from dentrix_highlevel.migration._engine.writers.appointment import appointment_migrates
from dentrix_highlevel.migration._engine.writers.base import CountScope, Usage, Writer, delete_at
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.records import Appointment, Provider

__all__ = [
    "ALREADY_ON_TEAM",
    "KIND",
    "WRITER",
    "calendar_team",
    "ensure_calendars",
    "keep_calendar_appointments",
    "setup_calendars",
]

ALREADY_ON_TEAM = "the providers' users are already on the calendar's team"
"""Audit reason of a calendar we created whose new team member someone already added in HighLevel."""


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


def keep_calendar_appointments(
    policies: MigrationPolicies,
    options: DefaultMapOptions,
    appointments: Iterable[Appointment],
    kept: dict[str, Appointment],
) -> None:
    """Keep in ``kept`` the first migrated appointment of each calendar group not yet in it.

    ``setup_calendars`` makes each calendar from the first migrated appointment of its group, so these few
    stand for all of a run's appointments: a run streaming its patients keeps them instead of every one.
    """
    for appointment in appointments:
        if appointment_migrates(options, appointment):
            kept.setdefault(calendar_group(policies.calendars, appointment), appointment)


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


async def ensure_calendars(
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


KIND = "calendar"


def _keys(scope: CountScope) -> frozenset[str]:
    """The calendars these bundles' migrated appointments need (or ``scope.appointments``')."""
    appointments = (
        scope.appointments
        if scope.appointments is not None
        else [a for b in scope.bundles for a in b.appointments]
    )
    specs = setup_calendars(scope.policies, scope.options, scope.maps, appointments, scope.providers)
    return frozenset(f"calendar:{spec.name}" for spec in specs)


async def _holds_events(ctx: RunContext, calendar_id: str, _usage: Usage) -> bool:
    """Does a calendar the migration created hold events it did not create (all of its own are deleted
    by now)? The events read is not a search: it does not lag."""
    start = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(days=3660)
    with contextlib.suppress(NotFoundError):
        return bool(await ctx.hl.appointments.list(start=start, end=end, calendar_id=calendar_id))
    return False


WRITER = Writer(
    kind=KIND,
    delete=delete_at(lambda _ctx, calendar_id, _parent: f"/calendars/{calendar_id}"),
    setup_keys=_keys,
    setup=True,
    # Events this rollback did not create are in it (deleting the calendar deletes them): it stays.
    keep=_holds_events,
    feature=APPOINTMENTS,
    in_plan=APPOINTMENT_WRITER.in_plan,
)
