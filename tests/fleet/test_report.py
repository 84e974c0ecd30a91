"""The fleet report: one row per office, JSON and markdown, owner-only files."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from dentrix_highlevel.fleet import REPORT_JSON, REPORT_MARKDOWN, FleetReport, OfficeReport, OfficeStatus


def test_report_files_are_private_and_hold_every_office(tmp_path: Path) -> None:
    report = FleetReport(
        operation="run",
        started_at="2026-01-05T09:00:00+00:00",
        finished_at="2026-01-05T09:10:00+00:00",
        offices=(
            OfficeReport(
                office="north",
                location_id="LocNorth",
                status=OfficeStatus.OK,
                counts={"created": 12, "failed": 0},
                requests=40,
                days_left=0,
            ),
            OfficeReport(
                office="south",
                location_id="LocSouth",
                status=OfficeStatus.FAILED_RECORDS,
                reason="1 failed record(s)",
                failures=("patient:7 (contact): 422: email (invalid)",),
                failure_count=1,
            ),
            OfficeReport(office="east", location_id="LocEast", status=OfficeStatus.HELD, reason="a | b"),
        ),
    )
    assert not report.ok
    assert report.by_status() == {"ok": ["north"], "failed_records": ["south"], "held": ["east"]}
    as_json, as_markdown = report.save(tmp_path)
    assert (as_json.name, as_markdown.name) == (REPORT_JSON, REPORT_MARKDOWN)
    for path in (as_json, as_markdown):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(as_json.read_text("utf-8"))
    assert [o["office"] for o in data["offices"]] == ["north", "south", "east"]
    assert data["offices"][1]["failures"] == ["patient:7 (contact): 422: email (invalid)"]
    text = as_markdown.read_text("utf-8")
    assert "| north | LocNorth | ok | 12 |" in text
    assert "### south (1)" in text
    assert "a / b" in text  # a reason never breaks the table
