"""dentrix-highlevel: move a dental practice's data from Dentrix into HighLevel.

The top level holds what a script needs to run a migration: ``Migration`` and ``build_plan``, the sources,
``HighLevelClient`` with its credentials and budgets, the policies, the map, the results and the base
error. Everything else lives in its namespace:

============================== ===========================================================
``dentrix_highlevel.errors``    the exception tree (``DentrixHighLevelError`` and below)
``dentrix_highlevel.records``   the typed Dentrix records and ``PatientBundle``
``dentrix_highlevel.sources``   G export and Ascend sources, source issues
``dentrix_highlevel.mapping``   the mapping DSL, transforms, targets, map files, the proposer
``dentrix_highlevel.highlevel`` the HighLevel client, inputs, models, limiter, retries
``dentrix_highlevel.migration`` the engine, plan, ledger, audit log, reconciliation
``dentrix_highlevel.synth``     synthetic practices and the G export writer
``dentrix_highlevel.sandbox``   the HighLevel sandbox (``sandbox`` extra)
============================== ===========================================================

Nothing is imported until it is used (``import dentrix_highlevel`` is cheap; the CLI's ``--help`` does
not load the client, the engine or the sandbox). Names that lived here before the namespaces keep working
for one release with a ``DeprecationWarning`` naming their new home.
"""

from __future__ import annotations

import importlib
import logging
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dentrix_highlevel._version import __version__ as __version__
    from dentrix_highlevel.errors import (
        DentrixHighLevelError as DentrixHighLevelError,
    )
    from dentrix_highlevel.highlevel import (
        AgencyLocationToken as AgencyLocationToken,
    )
    from dentrix_highlevel.highlevel import (
        HighLevelClient as HighLevelClient,
    )
    from dentrix_highlevel.highlevel import (
        HttpLimits as HttpLimits,
    )
    from dentrix_highlevel.highlevel import (
        OAuthToken as OAuthToken,
    )
    from dentrix_highlevel.highlevel import (
        PrivateIntegrationToken as PrivateIntegrationToken,
    )
    from dentrix_highlevel.highlevel import (
        RateBudget as RateBudget,
    )
    from dentrix_highlevel.highlevel import (
        RetryPolicy as RetryPolicy,
    )
    from dentrix_highlevel.mapping import (
        DefaultMapOptions as DefaultMapOptions,
    )
    from dentrix_highlevel.mapping import (
        FieldMap as FieldMap,
    )
    from dentrix_highlevel.mapping import (
        PracticeSettings as PracticeSettings,
    )
    from dentrix_highlevel.mapping import (
        default_maps as default_maps,
    )
    from dentrix_highlevel.mapping import (
        load_map as load_map,
    )
    from dentrix_highlevel.mapping import (
        save_map as save_map,
    )
    from dentrix_highlevel.migration import (
        LocationSnapshot as LocationSnapshot,
    )
    from dentrix_highlevel.migration import (
        Migration as Migration,
    )
    from dentrix_highlevel.migration import (
        MigrationPlan as MigrationPlan,
    )
    from dentrix_highlevel.migration import (
        MigrationPolicies as MigrationPolicies,
    )
    from dentrix_highlevel.migration import (
        MigrationProgress as MigrationProgress,
    )
    from dentrix_highlevel.migration import (
        MigrationSource as MigrationSource,
    )
    from dentrix_highlevel.migration import (
        ProgressCallback as ProgressCallback,
    )
    from dentrix_highlevel.migration import (
        ReconcileResult as ReconcileResult,
    )
    from dentrix_highlevel.migration import (
        Reconciliation as Reconciliation,
    )
    from dentrix_highlevel.migration import (
        RunResult as RunResult,
    )
    from dentrix_highlevel.migration import (
        RunStatus as RunStatus,
    )
    from dentrix_highlevel.migration import (
        build_plan as build_plan,
    )
    from dentrix_highlevel.sources import (
        AscendSource as AscendSource,
    )
    from dentrix_highlevel.sources import (
        GExportSource as GExportSource,
    )

__all__ = [
    "AgencyLocationToken",
    "AscendSource",
    "DefaultMapOptions",
    "DentrixHighLevelError",
    "FieldMap",
    "GExportSource",
    "HighLevelClient",
    "HttpLimits",
    "LocationSnapshot",
    "Migration",
    "MigrationPlan",
    "MigrationPolicies",
    "MigrationProgress",
    "MigrationSource",
    "OAuthToken",
    "PracticeSettings",
    "PrivateIntegrationToken",
    "ProgressCallback",
    "RateBudget",
    "ReconcileResult",
    "Reconciliation",
    "RetryPolicy",
    "RunResult",
    "RunStatus",
    "__version__",
    "build_plan",
    "default_maps",
    "load_map",
    "save_map",
]

#: Where each top-level name lives (imported on first use).
_LAZY: dict[str, str] = {
    "__version__": "dentrix_highlevel._version",  # importlib.metadata alone costs more than the rest
    "AgencyLocationToken": "dentrix_highlevel.highlevel",
    "AscendSource": "dentrix_highlevel.sources",
    "DefaultMapOptions": "dentrix_highlevel.mapping",
    "DentrixHighLevelError": "dentrix_highlevel.errors",
    "FieldMap": "dentrix_highlevel.mapping",
    "GExportSource": "dentrix_highlevel.sources",
    "HighLevelClient": "dentrix_highlevel.highlevel",
    "HttpLimits": "dentrix_highlevel.highlevel",
    "LocationSnapshot": "dentrix_highlevel.migration",
    "Migration": "dentrix_highlevel.migration",
    "MigrationPlan": "dentrix_highlevel.migration",
    "MigrationPolicies": "dentrix_highlevel.migration",
    "MigrationProgress": "dentrix_highlevel.migration",
    "MigrationSource": "dentrix_highlevel.migration",
    "OAuthToken": "dentrix_highlevel.highlevel",
    "PracticeSettings": "dentrix_highlevel.mapping",
    "PrivateIntegrationToken": "dentrix_highlevel.highlevel",
    "ProgressCallback": "dentrix_highlevel.migration",
    "RateBudget": "dentrix_highlevel.highlevel",
    "ReconcileResult": "dentrix_highlevel.migration",
    "Reconciliation": "dentrix_highlevel.migration",
    "RetryPolicy": "dentrix_highlevel.highlevel",
    "RunResult": "dentrix_highlevel.migration",
    "RunStatus": "dentrix_highlevel.migration",
    "build_plan": "dentrix_highlevel.migration",
    "default_maps": "dentrix_highlevel.mapping",
    "load_map": "dentrix_highlevel.mapping",
    "save_map": "dentrix_highlevel.mapping",
}

#: Names that moved to their namespace (deprecated here; removed in the next release).
_MOVED: dict[str, str] = {
    "AmbiguousWriteError": "dentrix_highlevel.errors",
    "Appointment": "dentrix_highlevel.records",
    "AppointmentProcedure": "dentrix_highlevel.records",
    "AppointmentStatusCode": "dentrix_highlevel.records",
    "AppointmentStatusMeaning": "dentrix_highlevel.records",
    "AppointmentType": "dentrix_highlevel.records",
    "AscendCodes": "dentrix_highlevel.sources",
    "AscendError": "dentrix_highlevel.errors",
    "AscendResource": "dentrix_highlevel.sources",
    "AscendResources": "dentrix_highlevel.sources",
    "AscendRetry": "dentrix_highlevel.sources",
    "AuditRow": "dentrix_highlevel.migration",
    "AuthenticationError": "dentrix_highlevel.errors",
    "CalendarLayout": "dentrix_highlevel.migration",
    "ClinicalNote": "dentrix_highlevel.records",
    "CodeDefinition": "dentrix_highlevel.records",
    "ColumnProfile": "dentrix_highlevel.mapping",
    "ConfigurationError": "dentrix_highlevel.errors",
    "ContactInput": "dentrix_highlevel.highlevel",
    "Coverage": "dentrix_highlevel.records",
    "CoverageRank": "dentrix_highlevel.records",
    "CustomFieldTarget": "dentrix_highlevel.mapping",
    "CustomFieldValue": "dentrix_highlevel.highlevel",
    "DailyCapReachedError": "dentrix_highlevel.errors",
    "Document": "dentrix_highlevel.records",
    "DocumentFileError": "dentrix_highlevel.errors",
    "DuplicateContactError": "dentrix_highlevel.errors",
    "Employer": "dentrix_highlevel.records",
    "ExistingCustomField": "dentrix_highlevel.mapping",
    "ExportResult": "dentrix_highlevel.synth",
    "FamilyContactPolicy": "dentrix_highlevel.migration",
    "FamilyPosition": "dentrix_highlevel.records",
    "FieldCategory": "dentrix_highlevel.mapping",
    "FieldIssue": "dentrix_highlevel.mapping",
    "FieldRule": "dentrix_highlevel.mapping",
    "FileCount": "dentrix_highlevel.sources",
    "FuzzyProposer": "dentrix_highlevel.mapping",
    "Gender": "dentrix_highlevel.records",
    "GuarantorBalance": "dentrix_highlevel.records",
    "HighLevelError": "dentrix_highlevel.errors",
    "ImagingLink": "dentrix_highlevel.records",
    "InjectedDefect": "dentrix_highlevel.synth",
    "InsurancePlan": "dentrix_highlevel.records",
    "Insured": "dentrix_highlevel.records",
    "IssueCode": "dentrix_highlevel.sources",
    "JournalEntryKind": "dentrix_highlevel.records",
    "KindReconciliation": "dentrix_highlevel.migration",
    "Ledger": "dentrix_highlevel.migration",
    "LedgerEntryType": "dentrix_highlevel.records",
    "LedgerError": "dentrix_highlevel.errors",
    "LedgerIdentity": "dentrix_highlevel.migration",
    "LedgerRecord": "dentrix_highlevel.migration",
    "LedgerTransaction": "dentrix_highlevel.records",
    "LimiterRegistry": "dentrix_highlevel.highlevel",
    "MappingError": "dentrix_highlevel.errors",
    "MappingResult": "dentrix_highlevel.mapping",
    "MedicalAlert": "dentrix_highlevel.records",
    "MedicalAlertKind": "dentrix_highlevel.records",
    "NotFoundError": "dentrix_highlevel.errors",
    "OAuthTokens": "dentrix_highlevel.highlevel",
    "OfficeJournalEntry": "dentrix_highlevel.records",
    "Operatory": "dentrix_highlevel.records",
    "Patient": "dentrix_highlevel.records",
    "PatientBundle": "dentrix_highlevel.records",
    "PatientInsurance": "dentrix_highlevel.records",
    "PatientStatus": "dentrix_highlevel.records",
    "PermissionDeniedError": "dentrix_highlevel.errors",
    "PipelineSnapshot": "dentrix_highlevel.migration",
    "PlanChangedError": "dentrix_highlevel.errors",
    "PlanError": "dentrix_highlevel.errors",
    "PlanNotApprovedError": "dentrix_highlevel.errors",
    "PracticeInfo": "dentrix_highlevel.records",
    "PrivacyFlag": "dentrix_highlevel.records",
    "Procedure": "dentrix_highlevel.records",
    "ProcedureCode": "dentrix_highlevel.records",
    "ProcedureStatus": "dentrix_highlevel.records",
    "Proposal": "dentrix_highlevel.mapping",
    "Proposer": "dentrix_highlevel.mapping",
    "Provider": "dentrix_highlevel.records",
    "ProviderKind": "dentrix_highlevel.records",
    "RateLimitedError": "dentrix_highlevel.errors",
    "RateLimiter": "dentrix_highlevel.highlevel",
    "Recall": "dentrix_highlevel.records",
    "RecallType": "dentrix_highlevel.records",
    "RecordAction": "dentrix_highlevel.migration",
    "RecordOutcome": "dentrix_highlevel.migration",
    "ReferralActivity": "dentrix_highlevel.records",
    "ReferralSource": "dentrix_highlevel.records",
    "ReferredBy": "dentrix_highlevel.records",
    "ReferrerKind": "dentrix_highlevel.records",
    "RemovedInSourcePolicy": "dentrix_highlevel.migration",
    "ResponseFormatError": "dentrix_highlevel.errors",
    "RunMode": "dentrix_highlevel.migration",
    "ServerError": "dentrix_highlevel.errors",
    "SourceError": "dentrix_highlevel.errors",
    "SourceFileError": "dentrix_highlevel.errors",
    "SourceIssue": "dentrix_highlevel.sources",
    "SqliteLedger": "dentrix_highlevel.migration",
    "Staff": "dentrix_highlevel.records",
    "StandardField": "dentrix_highlevel.mapping",
    "SynthConfig": "dentrix_highlevel.synth",
    "SyntheticPractice": "dentrix_highlevel.synth",
    "TransportError": "dentrix_highlevel.errors",
    "TreatmentCaseStatus": "dentrix_highlevel.records",
    "TreatmentPlanCase": "dentrix_highlevel.records",
    "UpsertResult": "dentrix_highlevel.highlevel",
    "ValidationError": "dentrix_highlevel.errors",
    "plan_content_hash": "dentrix_highlevel.migration",
    "write_g_export": "dentrix_highlevel.synth",
}

# A library does not configure logging: without a handler of the host's, its records go nowhere (not to
# the host's stderr through logging's last-resort handler).
logging.getLogger("dentrix_highlevel").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    home = _LAZY.get(name)
    if home is not None:
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    moved = _MOVED.get(name)
    if moved is not None:
        warnings.warn(
            f"dentrix_highlevel.{name} moved to {moved}.{name}; the old name goes in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(moved), name)
    raise AttributeError(f"module 'dentrix_highlevel' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
