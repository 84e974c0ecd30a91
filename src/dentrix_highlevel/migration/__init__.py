"""The migration's durable state: the ledger, the audit log and the reconciliation of counts.

``Ledger`` is the interface the engine uses; ``SqliteLedger`` is the default store, one file in the
migration's work directory; ``PostgresLedger`` keeps the same state in a PostgreSQL schema that workers on
several machines share, and ``open_ledger`` picks one by where it lives (a work directory or a
``postgresql://`` URL). ``AuditRow`` rows export to CSV (escaped against formula injection) and JSONL;
``Reconciliation`` checks that every source record is accounted for, per object kind.

::

    identity = LedgerIdentity(migration_id="smile-2026", location_id=location_id, source_fingerprint="g:4711")
    with SqliteLedger.open("migrations/smile", identity=identity) as ledger:
        run = ledger.begin_run(RunMode.RUN)
        lookup = {"source_id": "g:1042"}
        intent = ledger.begin_intent("contact", "patient:1042", "upsert", lookup, run_id=run.run_id)
        ...  # send the request
        ledger.complete_intent(intent, destination_id=contact_id, created=response_new)
        ledger.record_result(run.run_id, "contact", "patient:1042", action=RecordAction.CREATED,
                             outcome=RecordOutcome.APPLIED, destination_id=contact_id, content_hash=digest)
        ledger.finish_run(run.run_id, status=RunStatus.COMPLETED)
        export_audit(ledger.audit_rows(run_id=run.run_id), "migrations/smile/audit.csv")
        print(Reconciliation.from_results(ledger.audit_rows(run_id=run.run_id), source_counts={"contact": 1}))
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.migration._engine.events import (
    EventStream,
    Finished,
    PhaseStarted,
    ProgressEvent,
    RateWait,
    RecordDone,
    Stopped,
)
from dentrix_highlevel.migration._engine.policies import (
    MERGEABLE_FIELDS,
    CalendarLayout,
    FamilyContactPolicy,
    MergePolicy,
    MigrationPolicies,
    RemovedInSourcePolicy,
)
from dentrix_highlevel.migration._engine.progress import MigrationProgress, ProgressCallback, RunResult
from dentrix_highlevel.migration._migration import Migration, MigrationSource, ReconcileResult, plan_date
from dentrix_highlevel.migration._plan.availability import (
    AvailabilityReport,
    FieldAvailability,
    FileAvailability,
    IssueSummary,
    MappingStatus,
)
from dentrix_highlevel.migration._plan.estimate import Estimate, RequestCounts
from dentrix_highlevel.migration._plan.migration_plan import (
    PLAN_FILENAME,
    PLAN_REPORT_FILENAME,
    CustomFieldPlan,
    CutoverWarning,
    LocationSnapshot,
    MigrationPlan,
    PipelinePlan,
    PipelineSnapshot,
    PlannedField,
    SourceSummary,
    WorkflowToRebuild,
    build_plan,
    options_from_dict,
    options_to_dict,
    plan_content_hash,
    source_fingerprint,
)
from dentrix_highlevel.migration._plan.preflight import CheckStatus, Preflight, PreflightCheck
from dentrix_highlevel.migration._plan.scopes import FEATURES, Feature, features_for, required_scopes
from dentrix_highlevel.migration._state.audit import (
    AuditRow,
    RecordAction,
    RecordOutcome,
    escape_spreadsheet_cell,
    export_audit,
    write_audit_csv,
    write_audit_jsonl,
)
from dentrix_highlevel.migration._state.ledger import (
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
from dentrix_highlevel.migration._state.open import open_existing_ledger, open_ledger
from dentrix_highlevel.migration._state.postgres import PostgresLedger
from dentrix_highlevel.migration._state.reconcile import KindReconciliation, Reconciliation
from dentrix_highlevel.migration._state.sqlite import LEDGER_FILENAME, LEDGER_FORMAT_VERSION, SqliteLedger

__all__ = [
    "FEATURES",
    "LEDGER_FILENAME",
    "LEDGER_FORMAT_VERSION",
    "MERGEABLE_FIELDS",
    "PLAN_FILENAME",
    "PLAN_REPORT_FILENAME",
    "ApprovedPlan",
    "AuditRow",
    "AvailabilityReport",
    "CalendarLayout",
    "CheckStatus",
    "CreatedObject",
    "CustomFieldPlan",
    "CutoverWarning",
    "Estimate",
    "EventStream",
    "FamilyContactPolicy",
    "Feature",
    "FieldAvailability",
    "FileAvailability",
    "Finished",
    "IssueSummary",
    "KindReconciliation",
    "Ledger",
    "LedgerIdentity",
    "LedgerRecord",
    "LocationSnapshot",
    "MappingStatus",
    "MergePolicy",
    "Migration",
    "MigrationPlan",
    "MigrationPolicies",
    "MigrationProgress",
    "MigrationSource",
    "PendingIntent",
    "PhaseStarted",
    "PipelinePlan",
    "PipelineSnapshot",
    "PlannedField",
    "PostgresLedger",
    "PreImage",
    "Preflight",
    "PreflightCheck",
    "ProgressCallback",
    "ProgressEvent",
    "RateWait",
    "ReconcileResult",
    "Reconciliation",
    "RecordAction",
    "RecordDone",
    "RecordOutcome",
    "RemovedInSourcePolicy",
    "RequestCounts",
    "Run",
    "RunMode",
    "RunResult",
    "RunStatus",
    "SourceHash",
    "SourceSummary",
    "SqliteLedger",
    "Stopped",
    "Watermark",
    "WorkflowToRebuild",
    "build_plan",
    "escape_spreadsheet_cell",
    "export_audit",
    "features_for",
    "open_existing_ledger",
    "open_ledger",
    "options_from_dict",
    "options_to_dict",
    "plan_content_hash",
    "plan_date",
    "required_scopes",
    "source_fingerprint",
    "write_audit_csv",
    "write_audit_jsonl",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
