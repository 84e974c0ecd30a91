"""sample(n): a stratified pick, migrated, read back by id, with a field-level diff report (0o600)."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, export, scaled_sandbox, source

from dentrix_highlevel.migration import Migration, RunStatus
from dentrix_highlevel.migration._engine.diff import Verdict, compare_values
from dentrix_highlevel.migration._engine.sample import REPORT_COLUMNS, stratified_sample, stratum
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("sample"), patients=40, seed=7)


def test_stratified_sample_covers_every_stratum_first(practice: Path) -> None:
    with GExportSource(practice) as staged:
        bundles = list(staged.iter_bundles())
    strata = {stratum(b) for b in bundles}
    picked = stratified_sample(bundles, len(strata))
    assert {stratum(b) for b in picked} == strata
    assert len({b.patient_id for b in picked}) == len(picked)
    assert [b.patient_id for b in stratified_sample(bundles, 7)] == [
        b.patient_id for b in stratified_sample(list(reversed(bundles)), 7)
    ]
    assert len(stratified_sample(bundles, 1000)) == len(bundles)


async def test_sample_migrates_reads_back_and_reports_every_field(practice: Path, tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
    ):
        migration.approve(by="manager")
        result = await migration.sample(8)
        assert result.status is RunStatus.COMPLETED
        assert result.report is not None
        assert stat.S_IMODE(result.report.stat().st_mode) == 0o600
        with result.report.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert tuple(rows[0]) == REPORT_COLUMNS
        migrated = {k for k in contacts_by_source_id(sandbox, loc.location_id) if k}
        assert len(migrated) == 8
        assert {r["source_key"] for r in rows if r["object"] == "contact"} == {
            f"patient:{k}" for k in migrated
        }
        verdicts = {r["verdict"] for r in rows}
        ok = {Verdict.MATCH, Verdict.WITHHELD, Verdict.NOT_SENT}
        assert verdicts <= ok, [r["field"] for r in rows if r["verdict"] not in ok]
        fields = {r["field"] for r in rows if r["object"] == "contact"}
        assert {"firstName", "lastName", "Source System ID", "tags"} <= fields
        assert any(r["object"] == "opportunity" for r in rows)
        # Values are in the report (the deliverable) but not in the audit log.
        names = {r["expected"] for r in rows if r["field"] == "lastName" and r["expected"]}
        assert names
        audit = result.audit_csv.read_text() if result.audit_csv else ""
        assert not any(name in audit for name in names)

        # The full run afterwards treats the sampled patients as migrated: nothing twice.
        full = await migration.run()
        contacts = full.reconciliation.kind("contact")
        assert contacts is not None
        assert contacts.unchanged == 8
        assert contacts.created + contacts.conflict + contacts.skipped == 32  # conflict: written, own column
    assert all(len(v) == 1 for v in contacts_by_source_id(sandbox, loc.location_id).values())


def test_compare_values_follows_highlevel_read_shapes() -> None:
    assert compare_values("email", "A@B.example", "a@b.example")
    assert compare_values("x", "2024-05-01", 1714521600000, data_type="DATE")
    assert compare_values("startTime", "2025-10-22T10:20:00-06:00", "2025-10-22T16:20:00.000Z")
    assert compare_values("tags", ["dentrix"], ["vip", "dentrix"])
    assert not compare_values("tags", ["dentrix", "x"], ["dentrix"])
    assert compare_values("amount", 12.5, "12.50")
    assert not compare_values("city", "Denver", "Boulder")
    assert not compare_values("city", "Denver", None)
