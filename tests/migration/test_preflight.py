"""The preflight: what a plan needs, checked against the location before any write (reads only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dentrix_highlevel import Migration, MigrationPolicies
from dentrix_highlevel.errors import PlanError
from dentrix_highlevel.migration import CheckStatus, Preflight, features_for, required_scopes
from dentrix_highlevel.sandbox import Sandbox

from ._engine_helpers import client, export, normalised, scaled_sandbox, source

pytestmark = pytest.mark.anyio

EVERYTHING = MigrationPolicies(
    provider_users=True,
    treatment_tasks=True,
    upload_documents=True,
    family_associations=True,
    calendars="provider",
)


def _status(preflight: Preflight, check: str) -> CheckStatus:
    return next(c.status for c in preflight.checks if c.check == check)


async def _preflight(
    tmp_path: Path, sandbox: Sandbox, loc: Any, policies: MigrationPolicies = EVERYTHING
) -> tuple[Preflight, Migration]:
    practice = export(tmp_path, patients=12, seed=5)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as m,
    ):
        return await m.preflight(), m


async def test_a_ready_location_passes_and_nothing_is_written(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    preflight, _ = await _preflight(tmp_path, sandbox, loc)
    assert preflight.ok, preflight.render()
    assert normalised(sandbox.dump()) == before, "the preflight wrote something"
    assert preflight.requests == len(sandbox.request_log)
    for scope in required_scopes(features_for(EVERYTHING)):
        assert _status(preflight, f"scope {scope}") is CheckStatus.OK
    assert _status(preflight, "token") is CheckStatus.OK
    assert _status(preflight, "pipeline 'Patient Lifecycle'") is CheckStatus.OK
    text = preflight.render()
    assert "✔ token" in text
    assert "preflight passed" in text
    # Written probes were refused as invalid (past the scope check), never carried out.
    writes = [r for r in sandbox.request_log if r.method in ("POST", "PUT", "DELETE") and r.status < 300]
    assert writes
    assert {r.path for r in writes} == {"/contacts/search"}  # searches are POSTs that only read


async def test_a_missing_scope_fails_names_the_feature_and_blocks_approval(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    scopes = [s for s in required_scopes(features_for(EVERYTHING)) if s != "associations.readonly"]
    loc = sandbox.create_location(scopes=scopes)
    practice = export(tmp_path, patients=12, seed=5)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=EVERYTHING) as migration,
    ):
        preflight = await migration.preflight()
        assert not preflight.ok
        failed = {c.check: c for c in preflight.failures}
        assert set(failed) == {"scope associations.readonly"}
        assert "family associations" in failed["scope associations.readonly"].detail
        assert "associations.readonly" in failed["scope associations.readonly"].fix
        with pytest.raises(PlanError, match=r"scope associations\.readonly"):
            migration.approve(by="manager")
        approved = migration.approve(by="manager", force_reason="relations are added after the run")
        assert approved.forced_reason == "relations are added after the run"
        assert migration.ledger.approved_plan() == approved


async def test_a_missing_optional_scope_is_a_warning(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    scopes = [s for s in required_scopes(features_for(EVERYTHING)) if s != "workflows.readonly"]
    preflight, _ = await _preflight(tmp_path, sandbox, sandbox.create_location(scopes=scopes))
    assert preflight.ok
    assert _status(preflight, "scope workflows.readonly") is CheckStatus.WARN
    assert _status(preflight, "workflows") is CheckStatus.WARN


async def test_an_invalid_token_stops_at_the_first_row(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    sandbox.expire_token(loc.token)
    preflight, _ = await _preflight(tmp_path, sandbox, loc)
    assert [(c.check, c.status) for c in preflight.checks] == [("token", CheckStatus.FAIL)]
    assert "Private Integration token" in preflight.checks[0].fix


async def test_a_missing_pipeline_or_stage_fails_with_the_fix(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    none = sandbox.create_location(pipelines=[])
    preflight, _ = await _preflight(tmp_path / "a", sandbox, none)
    row = next(c for c in preflight.failures if c.check.startswith("pipeline"))
    assert "New Patient" in row.fix
    partial = sandbox.create_location(pipelines=[("Patient Lifecycle", ("New Patient", "Active"))])
    preflight, _ = await _preflight(tmp_path / "b", sandbox, partial)
    row = next(c for c in preflight.failures if c.check.startswith("pipeline"))
    assert "Recall" in row.detail
    assert "Inactive" in row.detail


async def test_a_practice_calendar_warns_that_appointments_go_unassigned(tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(provider_users=True)
    sandbox.location(loc.location_id).calendars["cal00000000000000001"] = {
        "id": "cal00000000000000001",
        "name": "Dentrix Appointments",
        "locationId": loc.location_id,
        "calendarType": "event",
        "teamMembers": [],
    }
    preflight, _ = await _preflight(tmp_path, sandbox, loc, policies)
    row = next(c for c in preflight.checks if c.check == "calendar 'Dentrix Appointments'")
    assert row.status is CheckStatus.WARN
    assert "unassigned" in row.fix


async def test_a_short_daily_budget_warns_with_the_days(tmp_path: Path) -> None:
    from dentrix_highlevel.migration import build_plan
    from dentrix_highlevel.sandbox import SandboxConfig

    sandbox = Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100, daily_max=60))
    loc = sandbox.create_location()
    practice = export(tmp_path, patients=12, seed=5)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
    ):
        async with source(practice) as staged:
            plan = await build_plan(staged, options=migration.options)
        preflight = await migration.preflight(plan=plan)
    row = next(c for c in preflight.checks if c.check == "daily budget")
    assert row.status is CheckStatus.WARN
    assert "resumes after the reset" in row.fix
