"""Network faults mid-run (timeouts, resets, 5xx after commit, "created anyway" 4xx): ambiguous creates are
resolved by lookup, so running again converges to the uninterrupted state without any duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration._engine_helpers import (
    canonical,
    client,
    contacts_by_source_id,
    export,
    normalised,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.errors import HighLevelError
from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.sandbox import FaultConfig

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("allow_duplicates", [False, True])
async def test_faults_converge_without_duplicates(tmp_path: Path, allow_duplicates: bool) -> None:
    practice = export(tmp_path, patients=14, seed=8)
    policies = MigrationPolicies(search_lag_s=0.0)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(allow_duplicates=allow_duplicates)
    async with client(sandbox, loc) as hl:
        await hl.calendars.create(name="Dentrix Appointments", calendar_type="event")
    before = normalised(sandbox.dump())
    sandbox.set_faults(
        FaultConfig(
            timeout_rate=0.06,
            timeout_s=0.0,
            reset_rate=0.04,
            error_after_commit_rate=0.04,
            created_anyway_rate=0.1,
            error_statuses=(502,),
        )
    )
    for _attempt in range(6):
        async with (
            client(sandbox, loc) as hl,
            Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
        ):
            migration.approve(by="manager")
            try:
                result = await migration.run()
            except HighLevelError:  # a fault that outlasted the retries: run again, as an operator would
                continue
            failed = result.reconciliation.totals().failed
            if result.status is RunStatus.COMPLETED and failed == 0:
                break
    assert result.status is RunStatus.COMPLETED
    assert result.reconciliation.totals().failed == 0
    by_source = contacts_by_source_id(sandbox, loc.location_id)
    assert all(len(v) == 1 for v in by_source.values()), "never a second contact for one patient"
    migrated = canonical(sandbox, loc.location_id)
    # Rollback under the same faults: run again until it completes, then the location is as it was.
    for _attempt in range(6):
        async with (
            client(sandbox, loc) as hl,
            Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
        ):
            try:
                rolled = await migration.rollback()
            except HighLevelError:
                continue
            if rolled.status is RunStatus.COMPLETED:
                break
    sandbox.set_faults(FaultConfig())
    after_rollback = normalised(sandbox.dump())
    expected_sandbox = scaled_sandbox()
    ref = expected_sandbox.create_location(allow_duplicates=allow_duplicates)
    async with (
        client(expected_sandbox, ref) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "ref", policies=policies) as reference,
    ):
        reference.approve(by="manager")
        await reference.run()
    assert migrated == canonical(expected_sandbox, ref.location_id)
    assert after_rollback == before
