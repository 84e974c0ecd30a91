"""Which calendars a migration books into, per the ``calendars`` policy, and which one an appointment uses.

The plan and setup both ask :func:`calendar_specs`, so the calendars the plan lists are exactly the ones setup
creates (or reuses by name). Names carry provider/operatory ids and staff names only (no patient data).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from dentrix_highlevel.migration._engine.policies import CalendarLayout, MigrationPolicies
from dentrix_highlevel.records import Appointment, Provider

__all__ = ["SINGLE_CALENDAR", "CalendarSpec", "calendar_group", "calendar_specs"]

SINGLE_CALENDAR = "single"
"""Group key of the ``calendar_name`` calendar (the single layout, and every layout's fallback)."""
_DASH = "\N{EN DASH}"


@attrs.frozen(kw_only=True)
class CalendarSpec:
    """One calendar the run books into: its group key, its name, and the provider it belongs to."""

    key: str
    """``single``, ``provider:<provider id>`` or ``operatory:<operatory id>``."""
    name: str
    provider_id: str | None = None


def calendar_group(layout: CalendarLayout, appointment: Appointment) -> str:
    """The group key of the calendar ``appointment`` is booked into (the single one when it has no
    provider/operatory to go by)."""
    if layout is CalendarLayout.PROVIDER and appointment.provider_id:
        return f"provider:{appointment.provider_id}"
    operatory = appointment.operatory_id or appointment.operatory_title
    if layout is CalendarLayout.OPERATORY and operatory:
        return f"operatory:{operatory}"
    return SINGLE_CALENDAR


def _provider_name(provider_id: str, provider: Provider | None) -> str:
    if provider is None:
        return f"Dentrix {_DASH} {provider_id}"
    person = " ".join(p.strip() for p in (provider.first_name, provider.last_name) if p and p.strip())
    if person and provider.title and provider.title.strip():
        person = f"{person}, {provider.title.strip()}"
    return f"Dentrix {_DASH} {provider_id} {person}".rstrip()


def _operatory_name(appointment: Appointment) -> str:
    parts = [p.strip() for p in (appointment.operatory_id, appointment.operatory_title) if p and p.strip()]
    # An operatory title that repeats its id (``OP1 OP1``) says it once.
    unique = list(dict.fromkeys(parts))
    return f"Dentrix {_DASH} {' '.join(unique)}"


def calendar_specs(
    policies: MigrationPolicies,
    appointments: Iterable[Appointment],
    *,
    providers: Mapping[str, Provider] | Iterable[Provider] = (),
) -> tuple[CalendarSpec, ...]:
    """The calendars for these (already filtered: migrated) appointments, sorted by group key.

    None without a ``calendar_name`` (no appointments are migrated then). The single layout always has
    its one calendar, as before layouts existed; the others have one per provider/operatory seen, plus the
    single calendar only when some appointment has no provider/operatory.
    """
    if policies.calendar_name is None:
        return ()
    by_id = providers if isinstance(providers, Mapping) else {p.provider_id: p for p in providers}
    single = CalendarSpec(key=SINGLE_CALENDAR, name=policies.calendar_name)
    layout = policies.calendars
    if layout is CalendarLayout.SINGLE:
        return (single,)
    specs: dict[str, CalendarSpec] = {}
    for appointment in appointments:
        key = calendar_group(layout, appointment)
        if key in specs:
            continue
        if key == SINGLE_CALENDAR:
            specs[key] = single
        elif layout is CalendarLayout.PROVIDER:
            pid = appointment.provider_id or ""
            specs[key] = CalendarSpec(key=key, name=_provider_name(pid, by_id.get(pid)), provider_id=pid)
        else:
            specs[key] = CalendarSpec(key=key, name=_operatory_name(appointment))
    return tuple(specs[k] for k in sorted(specs))
