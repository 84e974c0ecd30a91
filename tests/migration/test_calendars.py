"""Calendars per the ``calendars`` policy: one, or one per provider / operatory (issue #6), with the
provider's user as team member and as every appointment's ``assignedUserId``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import client, export, normalised, scaled_sandbox, source

from dentrix_highlevel.mapping import DefaultMapOptions, PastAppointmentsMode
from dentrix_highlevel.migration import (
    CalendarLayout,
    Migration,
    MigrationPlan,
    MigrationPolicies,
    RunStatus,
    build_plan,
)
from dentrix_highlevel.migration._calendars import SINGLE_CALENDAR, calendar_group, calendar_specs
from dentrix_highlevel.records import Appointment, Provider
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio

_START = dt.datetime(2027, 1, 4, 9, 0)


def _appt(
    appointment_id: str, provider: str | None = None, op: str | None = None, title: str | None = None
) -> Any:
    return Appointment(
        appointment_id=appointment_id,
        start=_START,
        provider_id=provider,
        operatory_id=op,
        operatory_title=title,
    )


# --- the layouts, from the source alone ----------------------------------------------------------------


def test_single_layout_has_its_one_calendar_even_without_appointments() -> None:
    specs = calendar_specs(MigrationPolicies(), [])
    assert [(s.key, s.name) for s in specs] == [(SINGLE_CALENDAR, "Dentrix Appointments")]
    assert calendar_specs(MigrationPolicies(calendar_name=None), [_appt("1", "DDS1")]) == ()


def test_provider_layout_names_a_calendar_per_provider_and_falls_back_only_when_needed() -> None:
    policies = MigrationPolicies(calendars="provider")
    provider = Provider(provider_id="DDS1", first_name="Ada", last_name="Byrd", title="DDS")
    specs = calendar_specs(
        policies, [_appt("1", "DDS1"), _appt("2", "DDS1"), _appt("3", "HYG9")], providers=[provider]
    )
    assert [(s.key, s.name, s.provider_id) for s in specs] == [
        ("provider:DDS1", "Dentrix \N{EN DASH} DDS1 Ada Byrd, DDS", "DDS1"),
        ("provider:HYG9", "Dentrix \N{EN DASH} HYG9", "HYG9"),
    ]
    with_orphan = calendar_specs(policies, [_appt("1", "DDS1"), _appt("2", None)])
    assert [s.key for s in with_orphan] == ["provider:DDS1", SINGLE_CALENDAR]
    assert with_orphan[1].name == "Dentrix Appointments"


def test_operatory_layout_groups_by_chair() -> None:
    policies = MigrationPolicies(calendars=CalendarLayout.OPERATORY)
    appointments = [_appt("1", "DDS1", "OP1", "Op 1"), _appt("2", "DDS2", "OP1", "Op 1"), _appt("3", "DDS1")]
    specs = calendar_specs(policies, appointments)
    assert [(s.key, s.name) for s in specs] == [
        ("operatory:OP1", "Dentrix \N{EN DASH} OP1 Op 1"),
        (SINGLE_CALENDAR, "Dentrix Appointments"),
    ]
    assert calendar_group(CalendarLayout.OPERATORY, appointments[2]) == SINGLE_CALENDAR
    assert calendar_group(CalendarLayout.SINGLE, appointments[0]) == SINGLE_CALENDAR


def test_the_default_layout_keeps_existing_plan_hashes() -> None:
    assert "calendars" not in MigrationPolicies().to_dict()
    assert MigrationPolicies(calendars="provider").to_dict()["calendars"] == "provider"
    assert (
        MigrationPolicies(**MigrationPolicies(calendars="operatory").to_dict()).calendars
        is CalendarLayout.OPERATORY
    )


# --- end to end against the sandbox --------------------------------------------------------------------


def _audit(result: Any) -> list[dict[str, Any]]:
    assert result.audit_jsonl is not None
    return [json.loads(line) for line in result.audit_jsonl.read_text(encoding="utf-8").splitlines()]


def _destinations(result: Any, kind: str) -> dict[str, str]:
    rows = _audit(result)
    return {r["source_key"]: r["destination_id"] for r in rows if r["kind"] == kind and r["destination_id"]}


_OPTIONS = DefaultMapOptions(as_of=dt.datetime(2024, 1, 1), past_appointments=PastAppointmentsMode.EVENTS)


async def test_provider_calendars_with_their_users_created_once_and_rolled_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    with GExportSource(practice) as staged:
        with_email = {p.provider_id for p in staged.providers() if p.email}
        appointments = {
            a.appointment_id: a
            for b in staged.iter_bundles()
            for a in b.appointments
            if not (a.deleted or a.broken)
        }
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(calendars="provider", provider_users=True)
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", policies=policies, options=_OPTIONS
        ) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        assert first.reconciliation.reconciles, first.reconciliation.render()
        state = sandbox.location(loc.location_id)
        users = {u["email"].casefold(): uid for uid, u in state.users.items()}
        with GExportSource(practice) as staged:
            user_of = {p.provider_id: users[p.email.casefold()] for p in staged.providers() if p.email}
        calendars = {c["name"]: c for c in state.calendars.values()}
        wanted = {a.provider_id for a in appointments.values() if a.provider_id}
        assert {n.split(" ")[2] for n in calendars} == wanted
        for name, calendar in calendars.items():
            provider_id = name.split(" ")[2]
            members = [m["userId"] for m in calendar["teamMembers"]]
            assert members == ([user_of[provider_id]] if provider_id in with_email else [])
        events = _destinations(first, "appointment")
        assert events, "some appointments were migrated"
        reasons = {r["reason"] for r in _audit(first) if r["kind"] == "appointment" and r["destination_id"]}
        assert reasons == {f"calendar provider:{p}" for p in wanted}, "each row says which calendar"
        calendar_lists = [r for r in sandbox.request_log if r.method == "GET" and r.path == "/calendars/"]
        assert len(calendar_lists) == 1, "the location's calendars are read once, not per calendar"
        by_id = {c["id"]: name for name, c in calendars.items()}
        for key, event_id in events.items():
            appointment = appointments[key.removeprefix("appointment:")]
            event = state.events[event_id]
            assert by_id[event["calendarId"]].split(" ")[2] == appointment.provider_id
            assert event["assignedUserId"] == user_of.get(appointment.provider_id or "", "")

        # Idempotent: a re-run writes nothing and creates no calendar.
        log = len(sandbox.request_log)
        again = await migration.run()
        assert again.reconciliation.reconciles, again.reconciliation.render()
        writes = [r for r in sandbox.request_log[log:] if r.method in ("POST", "PUT", "DELETE")]
        assert [r for r in writes if "search" not in r.path] == []
        assert len(state.calendars) == len(calendars)

        await migration.rollback()
    assert normalised(sandbox.dump()) == before


async def test_operatory_calendars_reuse_the_practices_own_and_keep_it_on_rollback(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=8, seed=5)
    with GExportSource(practice) as staged:
        migrated = [a for b in staged.iter_bundles() for a in b.appointments if not (a.deleted or a.broken)]
    chairs = sorted({a.operatory_id for a in migrated if a.operatory_id})
    assert len(chairs) >= 2, "the synthetic practice books several chairs"
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    sample = next(a for a in migrated if a.operatory_id == chairs[0])
    own_name = calendar_specs(MigrationPolicies(calendars="operatory"), [sample])[0].name
    async with client(sandbox, loc) as hl:
        own = await hl.calendars.create(name=own_name, calendar_type="event")
    before = normalised(sandbox.dump())
    policies = MigrationPolicies(calendars="operatory")
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", policies=policies, options=_OPTIONS
        ) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.reconciliation.reconciles, result.reconciliation.render()
        state = sandbox.location(loc.location_id)
        names = {c["id"]: c["name"] for c in state.calendars.values()}
        assert len([n for n in names.values() if n == own_name]) == 1, "reused, not created twice"
        assert _destinations(result, "calendar")[f"calendar:{own_name}"] == own.id
        by_key = {a.appointment_id: a for a in migrated}
        for key, event_id in _destinations(result, "appointment").items():
            appointment = by_key[key.removeprefix("appointment:")]
            assert names[state.events[event_id]["calendarId"]].split(" ")[2] == appointment.operatory_id
        await migration.rollback()
    assert normalised(sandbox.dump()) == before
    assert own.id in sandbox.location(loc.location_id).calendars


async def test_the_plan_lists_and_counts_the_calendars(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    with GExportSource(practice) as staged:
        single = await build_plan(staged, options=_OPTIONS)
        per_provider = await build_plan(
            staged, options=_OPTIONS, policies=MigrationPolicies(calendars="provider")
        )
        providers = {
            a.provider_id
            for b in staged.iter_bundles()
            for a in b.appointments
            if not (a.deleted or a.broken)
        }
    assert single.calendars == ("Dentrix Appointments",)
    assert "Setup creates these calendars" not in single.to_markdown()
    assert {name.split(" ")[2] for name in per_provider.calendars} == providers
    extra = len(per_provider.calendars) - 1
    assert per_provider.estimate.requests["setup"] == single.estimate.requests["setup"] + extra
    report = per_provider.to_markdown()
    assert all(f"- {name}" in report for name in per_provider.calendars)
    assert per_provider.content_hash != single.content_hash
    assert MigrationPlan.from_dict(per_provider.to_dict()).calendars == per_provider.calendars
