"""Calendars per the ``calendars`` policy: one, or one per provider / operatory (issue #6), with the
provider's user as team member and as every appointment's ``assignedUserId``."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import client, export, normalised, scaled_sandbox, source

from dentrix_highlevel.highlevel import UserInput
from dentrix_highlevel.mapping import DefaultMapOptions, PastAppointmentsMode
from dentrix_highlevel.migration import (
    CalendarLayout,
    Migration,
    MigrationPlan,
    MigrationPolicies,
    RunStatus,
    build_plan,
)
from dentrix_highlevel.migration._engine.calendar_layout import (
    SINGLE_CALENDAR,
    calendar_group,
    calendar_specs,
)
from dentrix_highlevel.migration._engine.writers.calendar import ALREADY_ON_TEAM
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


async def test_a_provider_user_that_appears_later_joins_only_the_calendars_we_created(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    with GExportSource(practice) as staged:
        providers = list(staged.providers())
        with_email = {p.provider_id for p in providers if p.email}
        migrated = [a for b in staged.iter_bundles() for a in b.appointments if not (a.deleted or a.broken)]
    layout = MigrationPolicies(calendars="provider")
    specs = calendar_specs(layout, migrated, providers=providers)
    with_user = [s for s in specs if s.provider_id in with_email]
    assert len(with_user) >= 3, "the synthetic practice has several providers with an e-mail"
    by_provider = {p.provider_id: p for p in providers}
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with client(sandbox, loc) as hl:
        # The practice's own calendar for one of them: reused, so never given a team member by us.
        own = await hl.calendars.create(name=with_user[0].name, calendar_type="event")
        # The practice's own user for another one: reused when provider users are switched on.
        hand = with_user[1]
        person = by_provider[hand.provider_id or ""]
        hand_user = await hl.users.create(
            UserInput(
                first_name=person.first_name or "Provider",
                last_name=person.last_name or "Provider",
                email=person.email or "",
                password="Pw-0123456789aA1!",
            )
        )
    before = normalised(sandbox.dump())
    state = sandbox.location(loc.location_id)
    workdir = tmp_path / "wd"
    async with client(sandbox, loc) as hl:
        async with Migration(
            source(practice), hl, workdir=workdir, policies=layout, options=_OPTIONS
        ) as migration:
            migration.approve(by="manager")
            assert (await migration.run()).status is RunStatus.COMPLETED
        assert all(c["teamMembers"] == [] for c in state.calendars.values())
        # Someone puts that user on the calendar we created for their provider, by hand in HighLevel.
        hand_calendar = next(c for c in state.calendars.values() if c["name"] == hand.name)
        await hl.calendars.update(hand_calendar["id"], team_member_ids=(hand_user.id,))

        # A later approved plan switches provider users on: the same ledger, the same calendars.
        later = MigrationPolicies(calendars="provider", provider_users=True)
        async with Migration(
            source(practice), hl, workdir=workdir, policies=later, options=_OPTIONS
        ) as migration:
            migration.approve(by="manager")
            mark = len(sandbox.request_log)
            result = await migration.run()
            assert result.status is RunStatus.COMPLETED
            assert result.reconciliation.reconciles, result.reconciliation.render()
            users = {u["email"].casefold(): uid for uid, u in state.users.items()}
            user_of = {p.provider_id: users[p.email.casefold()] for p in providers if p.email}
            by_name = {c["name"]: c for c in state.calendars.values()}
            assert user_of[hand.provider_id or ""] == hand_user.id
            for spec in with_user[1:]:
                assert [m["userId"] for m in by_name[spec.name]["teamMembers"]] == [user_of[spec.provider_id]]
            assert state.calendars[own.id]["teamMembers"] == [], "the practice's calendar is not modified"
            puts = [
                r.path
                for r in sandbox.request_log[mark:]
                if r.method == "PUT" and r.path.startswith("/calendars/")
            ]
            calendar_puts = [p for p in puts if not p.startswith("/calendars/events")]
            # The user already on its team: no PUT for that calendar, and its audit row does not claim one.
            assert sorted(calendar_puts) == sorted(
                f"/calendars/{by_name[s.name]['id']}" for s in with_user[2:]
            )
            rows = {r["source_key"]: r for r in _audit(result) if r["kind"] == "calendar"}
            assert {k for k, r in rows.items() if r["action"] == "updated"} == {
                f"calendar:{s.name}" for s in with_user[2:]
            }
            assert (rows[f"calendar:{hand.name}"]["action"], rows[f"calendar:{hand.name}"]["reason"]) == (
                "unchanged",
                ALREADY_ON_TEAM,
            )
            assert rows[f"calendar:{own.name}"]["reason"] == "existing calendar reused"

            # Nothing left to add: a re-run sends no calendar update.
            mark = len(sandbox.request_log)
            again = await migration.run()
            assert again.reconciliation.reconciles, again.reconciliation.render()
            assert not [
                r
                for r in sandbox.request_log[mark:]
                if r.method == "PUT" and r.path.startswith("/calendars/")
            ]

            await migration.rollback()
    assert normalised(sandbox.dump()) == before
    assert own.id in state.calendars


def _blank_provider(path: Path, appointment_id: str) -> None:
    file = path / "v_appointment.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        if row["appointment_id"].strip() == appointment_id:
            row["provider_id"] = ""
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


async def test_a_future_appointment_without_provider_lands_in_the_fallback_calendar(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=10, seed=21)
    policies = MigrationPolicies(calendars="provider")
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    async with client(sandbox, loc) as hl:
        with GExportSource(practice) as staged:
            as_of = Migration(staged, hl, workdir=tmp_path / "probe").options.as_of  # the export's time
            future = [
                a
                for b in staged.iter_bundles()
                for a in b.appointments
                if not (a.deleted or a.broken) and a.start is not None and a.start >= as_of
            ]
    assert len(future) >= 2, "the synthetic practice books future appointments"
    assert all(a.provider_id for a in future)
    # Without an orphan the fallback calendar is not in the plan at all.
    assert SINGLE_CALENDAR not in {s.key for s in calendar_specs(policies, future)}
    orphan = future[0]
    _blank_provider(practice, orphan.appointment_id)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        assert migration.options.as_of == as_of
        migration.approve(by="manager")
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.reconciles, result.reconciliation.render()

        state = sandbox.location(loc.location_id)
        names = {c["id"]: c["name"] for c in state.calendars.values()}
        fallback = [cid for cid, name in names.items() if name == "Dentrix Appointments"]
        assert len(fallback) == 1, "the calendar_name calendar is created because one appointment needs it"
        assert {n.split(" ")[2] for n in names.values() if n != "Dentrix Appointments"} == {
            a.provider_id for a in future[1:]
        }
        rows = {(r["kind"], r["source_key"]): r for r in _audit(result)}
        orphan_row = rows[("appointment", f"appointment:{orphan.appointment_id}")]
        assert orphan_row["action"] == "created"
        assert orphan_row["reason"] == "no provider: single calendar"
        assert state.events[orphan_row["destination_id"]]["calendarId"] == fallback[0]
        others = [rows[("appointment", f"appointment:{a.appointment_id}")] for a in future[1:]]
        assert all(
            r["reason"] == f"calendar provider:{a.provider_id}"
            for r, a in zip(others, future[1:], strict=True)
        )
        created = {k for (kind, k), r in rows.items() if kind == "calendar" and r["action"] == "created"}
        assert "calendar:Dentrix Appointments" in created
        assert len(created) == len(names)

        await migration.rollback()
    assert state.calendars == {}
    assert normalised(sandbox.dump()) == before
