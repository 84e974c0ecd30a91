"""The audit log: one row per source record and destination object, exported as CSV or JSONL.

A row holds identifiers and reasons only (source key, destination id, action, outcome, reason, time, run
id), never patient values, so the file can be handed to anyone who checks the cutover. The CSV export is
escaped against spreadsheet formula injection: a reason or key is data from outside (a Dentrix chart
number, a HighLevel message) and a spreadsheet must never run it as a formula.
"""

from __future__ import annotations

import csv
import enum
import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel._private_files import open_private

__all__ = [
    "AUDIT_COLUMNS",
    "AuditRow",
    "RecordAction",
    "RecordOutcome",
    "escape_spreadsheet_cell",
    "export_audit",
    "write_audit_csv",
    "write_audit_jsonl",
]


class RecordAction(enum.StrEnum):
    """What a run did with one source record's destination object."""

    CREATED = "created"
    """The object did not exist; the migration created it (rollback deletes it)."""
    UPDATED = "updated"
    """The object existed (ours from an earlier run, or the practice's); we changed it."""
    UNCHANGED = "unchanged"
    """The object already holds what the mapping asks for (same content hash); nothing was sent."""
    SKIPPED = "skipped"
    """Deliberately not migrated: excluded by the plan, or a policy said so."""
    FAILED = "failed"
    """We tried and HighLevel refused, or the record could not be mapped."""
    CONFLICT = "conflict"
    """The record collided with another one (e.g. a family sharing an e-mail); resolved by policy or left."""


class RecordOutcome(enum.StrEnum):
    """What the destination holds for the record afterwards, whatever the action was."""

    APPLIED = "applied"
    """Everything the mapping asked for is there."""
    PARTIAL = "partial"
    """The object exists but some mapped value was withheld (e.g. a contact point shared with another
    patient) or dropped by HighLevel; the reason says which field, never its value."""
    NOT_APPLIED = "not_applied"
    """Nothing of this record was written in this run."""


# Which outcomes make sense with which action: checked when a row is written, so a report never shows a
# "created" record with nothing applied, or a "failed" one that is nonetheless complete.
ALLOWED_OUTCOMES: dict[RecordAction, frozenset[RecordOutcome]] = {
    RecordAction.CREATED: frozenset({RecordOutcome.APPLIED, RecordOutcome.PARTIAL}),
    RecordAction.UPDATED: frozenset({RecordOutcome.APPLIED, RecordOutcome.PARTIAL}),
    RecordAction.UNCHANGED: frozenset({RecordOutcome.APPLIED, RecordOutcome.PARTIAL}),
    RecordAction.SKIPPED: frozenset({RecordOutcome.NOT_APPLIED}),
    RecordAction.FAILED: frozenset({RecordOutcome.NOT_APPLIED, RecordOutcome.PARTIAL}),
    RecordAction.CONFLICT: frozenset({RecordOutcome.PARTIAL, RecordOutcome.NOT_APPLIED}),
}

AUDIT_COLUMNS: tuple[str, ...] = (
    "run_id",
    "kind",
    "source_key",
    "destination_id",
    "action",
    "outcome",
    "reason",
    "at",
)


@attrs.frozen
class AuditRow:
    """One source record's object in one run. Identifiers and reasons only: safe to log and to share."""

    run_id: str
    kind: str
    source_key: str
    destination_id: str | None
    action: RecordAction
    outcome: RecordOutcome
    reason: str | None
    at: datetime

    def cells(self) -> tuple[str, ...]:
        """The row as text cells, in ``AUDIT_COLUMNS`` order (empty string for none)."""
        return (
            self.run_id,
            self.kind,
            self.source_key,
            self.destination_id or "",
            self.action.value,
            self.outcome.value,
            self.reason or "",
            self.at.isoformat(),
        )

    def to_json_dict(self) -> dict[str, str | None]:
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "source_key": self.source_key,
            "destination_id": self.destination_id,
            "action": self.action.value,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "at": self.at.isoformat(),
        }


# Excel, LibreOffice and Google Sheets start a formula (or DDE call) with these; tab and CR are on OWASP's
# list because some importers strip them and then see the character after.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_spreadsheet_cell(value: str) -> str:
    """Prefix ``'`` to a cell a spreadsheet would read as a formula (OWASP "CSV injection")."""
    if value.startswith(_FORMULA_TRIGGERS):
        return "'" + value
    return value


def write_audit_csv(rows: Iterable[AuditRow], out: TextIO) -> int:
    """Write a header and one escaped line per row; returns the number of rows written.

    ``out`` should be opened with ``newline=""`` (the csv module writes its own ``\\r\\n``).
    """
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    count = 0
    for row in rows:
        writer.writerow([escape_spreadsheet_cell(cell) for cell in row.cells()])
        count += 1
    return count


def write_audit_jsonl(rows: Iterable[AuditRow], out: TextIO) -> int:
    """Write one JSON object per line (no header); returns the number of rows written.

    JSON is read by programs, not spreadsheets, so values are written as they are (no ``'`` prefix).
    """
    count = 0
    for row in rows:
        out.write(json.dumps(row.to_json_dict(), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        count += 1
    return count


def export_audit(
    rows: Iterable[AuditRow], path: Path | str, *, file_format: Literal["csv", "jsonl"] | None = None
) -> int:
    """Write the audit log to ``path`` (format from ``file_format`` or the suffix); returns the row count.

    The file is written beside its destination and renamed into place, so a reader never sees half a log,
    and it is created 0o600 like everything else in the migration's work directory.
    """
    target = Path(path)
    chosen = file_format or _format_from_suffix(target)
    with open_private(target, newline="") as out:
        count = write_audit_csv(rows, out) if chosen == "csv" else write_audit_jsonl(rows, out)
    return count


def _format_from_suffix(path: Path) -> Literal["csv", "jsonl"]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson"}:
        return "jsonl"
    raise ConfigurationError(
        f"cannot tell the audit format from {path.name!r}: use a .csv or .jsonl name, or pass file_format"
    )
