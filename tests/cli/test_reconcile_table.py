"""The CLI's reconciliation table (``run``, ``delta``, ``reconcile``): conflict is a column of its own, in
the equation's order, and the row adds up without counting a conflict twice."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console

from dentrix_highlevel.cli._common import RECONCILE_BUCKETS, reconciliation_table
from dentrix_highlevel.migration import AuditRow, Reconciliation, RecordAction, RecordOutcome


def _row(key: str, action: RecordAction, outcome: RecordOutcome) -> AuditRow:
    return AuditRow(
        run_id="run-1",
        kind="contact",
        source_key=key,
        destination_id=None if outcome is RecordOutcome.NOT_APPLIED else f"C-{key}",
        action=action,
        outcome=outcome,
        reason=None,
        at=datetime(2026, 3, 1, tzinfo=UTC),
    )


def test_conflict_column_sits_in_the_equation_and_is_not_counted_twice() -> None:
    rows = [
        _row("patient:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("patient:2", RecordAction.CONFLICT, RecordOutcome.PARTIAL),
        _row("patient:3", RecordAction.CONFLICT, RecordOutcome.NOT_APPLIED),
        _row("patient:4", RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED),
    ]
    reconciliation = Reconciliation.from_results(rows, source_counts={"contact": 4})
    console = Console(width=120, record=True, color_system=None)
    console.print(reconciliation_table(reconciliation, title="delta"))
    lines = [line.split() for line in console.export_text().splitlines() if line.strip()]
    header = next(line for line in lines if line[0] == "kind")
    assert header == ["kind", "source", "removed", *RECONCILE_BUCKETS, "status"]
    assert RECONCILE_BUCKETS == ("created", "updated", "unchanged", "conflict", "skipped", "failed")
    contact = next(line for line in lines if line[0] == "contact")
    # created 1, conflict 1 (written without the shared value), skipped 1, failed 1 (left for a person).
    assert contact == ["contact", "4", "0", "1", "0", "0", "1", "1", "1", "OK"]


def test_removed_column_follows_source_and_the_row_adds_up_in_80_columns() -> None:
    rows = [
        _row("patient:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("patient:2", RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED),
    ]
    reconciliation = Reconciliation.from_results(
        rows, source_counts={"contact": 1}, removed=lambda _kind, key: key == "patient:2"
    )
    console = Console(width=80, record=True, color_system=None)
    console.print(reconciliation_table(reconciliation, title="reconciliation (all runs)"))
    lines = [line.split() for line in console.export_text().splitlines() if line.strip()]
    # source 1 + removed 1 = created 1 + skipped 1 (the patient gone from the source, kept in HighLevel).
    assert next(line for line in lines if line[0] == "contact") == [
        "contact",
        "1",
        "1",
        "1",
        "0",
        "0",
        "0",
        "1",
        "0",
        "OK",
    ]
    assert next(line for line in lines if line[0] == "total")[-1] == "OK"
