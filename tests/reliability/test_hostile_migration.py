"""A hostile export through the whole engine against the sandbox: every usable patient still migrates, the
damaged values never reach HighLevel, and formula look-alikes stay inert in every CSV we write."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, scaled_sandbox
from tests.reliability._corpus import FORMULAS, clean_export, combined

from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio
_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


async def _migrate(export: Path, workdir: Path, *, sample: int = 0) -> tuple[Any, Any, Any, Any]:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(
            GExportSource(export), hl, workdir=workdir, policies=MigrationPolicies(search_lag_s=0.0)
        ) as migration,
    ):
        migration.approve(by="manager")
        sampled = await migration.sample(sample) if sample else None
        result = await migration.run()
        checked = await migration.reconcile()
    return sandbox, loc, result, (sampled, checked)


def _csv_cells(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


async def test_every_usable_patient_migrates_and_formulas_stay_inert(tmp_path: Path) -> None:
    clean_export(tmp_path)
    hostile, lost = combined(tmp_path)
    ref_sandbox, ref_loc, ref_result, _ = await _migrate(tmp_path / "clean", tmp_path / "ref")
    assert ref_result.status is RunStatus.COMPLETED
    expected_keys = {k for k in contacts_by_source_id(ref_sandbox, ref_loc.location_id) if k} - lost

    sandbox, loc, result, (sampled, checked) = await _migrate(hostile, tmp_path / "wd", sample=16)
    assert result.status is RunStatus.COMPLETED
    assert result.reconciliation.reconciles, result.reconciliation.render()
    assert result.reconciliation.totals().failed == 0
    assert checked.ok, checked.mismatches
    by_source = contacts_by_source_id(sandbox, loc.location_id)
    assert {k for k in by_source if k} == expected_keys
    assert all(len(v) == 1 for v in by_source.values())

    # Emoji and right-to-left text arrive exactly; the formula look-alikes arrive as the text they are.
    names = {
        (c.get("firstName"), c.get("lastName")) for c in sandbox.location(loc.location_id).contacts.values()
    }
    assert ("Zoë 😀🦷", "\u202eمحمد עברית") in names
    assert (FORMULAS[0], FORMULAS[1]) in names
    dump = json.dumps(sandbox.dump(), ensure_ascii=False)
    assert "9999-12-31" not in dump, "the open-date sentinel is never sent as a birthday"

    # Every CSV we write: no cell a spreadsheet would run. The sample report holds the formulas, escaped.
    assert sampled is not None
    assert sampled.report is not None
    assert result.audit_csv is not None
    for path in (sampled.report, result.audit_csv, sampled.audit_csv):
        assert path is not None
        cells = _csv_cells(path)
        assert not [c for c in cells if c.startswith(_TRIGGERS)], path.name
    report_cells = _csv_cells(sampled.report)
    for formula in FORMULAS[:2]:
        assert "'" + formula in report_cells, "a formula value is kept, escaped, in the sample report"
