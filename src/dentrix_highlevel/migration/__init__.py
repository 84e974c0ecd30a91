"""The migration's durable state: the ledger, the audit log and the reconciliation of counts.

``Ledger`` is the interface the engine uses; ``SqliteLedger`` is the default store, one file in the
migration's work directory. ``AuditRow`` rows export to CSV (escaped against formula injection) and JSONL;
``Reconciliation`` checks that every source record is accounted for, per object kind.
"""

from __future__ import annotations

from dentrix_highlevel.migration._audit import (
    AuditRow,
    RecordAction,
    RecordOutcome,
    escape_spreadsheet_cell,
    export_audit,
    write_audit_csv,
    write_audit_jsonl,
)
from dentrix_highlevel.migration._ledger import (
    ApprovedPlan,
    CreatedObject,
    Ledger,
    LedgerIdentity,
    LedgerRecord,
    PendingIntent,
    PreImage,
    Run,
    RunMode,
    RunStatus,
    SourceHash,
    Watermark,
)
from dentrix_highlevel.migration._ledger_sqlite import LEDGER_FILENAME, LEDGER_FORMAT_VERSION, SqliteLedger
from dentrix_highlevel.migration._reconcile import KindReconciliation, Reconciliation

__all__ = [
    "LEDGER_FILENAME",
    "LEDGER_FORMAT_VERSION",
    "ApprovedPlan",
    "AuditRow",
    "CreatedObject",
    "KindReconciliation",
    "Ledger",
    "LedgerIdentity",
    "LedgerRecord",
    "PendingIntent",
    "PreImage",
    "Reconciliation",
    "RecordAction",
    "RecordOutcome",
    "Run",
    "RunMode",
    "RunStatus",
    "SourceHash",
    "SqliteLedger",
    "Watermark",
    "escape_spreadsheet_cell",
    "export_audit",
    "write_audit_csv",
    "write_audit_jsonl",
]
