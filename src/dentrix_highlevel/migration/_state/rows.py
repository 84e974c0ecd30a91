"""What the two ledger stores share: the checks of a write's arguments and the rows read back as values.

The SQLite and PostgreSQL stores differ in SQL and in how a timestamp reads back (ISO text in SQLite,
``timestamptz`` in PostgreSQL); everything else about a row is the same, so each store reads its rows by
column name and passes its own ``when`` (a stored timestamp → an aware ``datetime``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._state.audit import ALLOWED_OUTCOMES, AuditRow, RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import (
    Attempt,
    LedgerRecord,
    PreImage,
    Run,
    RunMode,
    RunStatus,
    check_key,
    check_kind,
    check_reason,
)

__all__ = [
    "When",
    "attempt_from",
    "audit_row_from",
    "checked_intent",
    "checked_result",
    "pre_image_from",
    "record_from",
    "run_from",
]

When = Callable[[Any], datetime]
Row = Mapping[str, Any]


def _maybe(when: When, value: Any) -> datetime | None:
    return None if value is None else when(value)


def checked_result(
    kind: str,
    source_key: str,
    *,
    action: RecordAction,
    outcome: RecordOutcome,
    destination_id: str | None,
    content_hash: str | None,
    reason: str | None,
) -> tuple[RecordAction, RecordOutcome]:
    """``record_result``'s arguments checked (identifiers only, an outcome its action allows, a
    destination for what HighLevel holds); returns the action and outcome as enums."""
    check_kind(kind)
    check_key(source_key, "source_key")
    action = RecordAction(action)
    outcome = RecordOutcome(outcome)
    if outcome not in ALLOWED_OUTCOMES[action]:
        raise ConfigurationError(f"outcome {outcome.value!r} cannot go with action {action.value!r}")
    if destination_id is not None:
        check_key(destination_id, "destination_id")
    elif outcome is not RecordOutcome.NOT_APPLIED:
        raise ConfigurationError(f"a record {outcome.value} in HighLevel needs its destination_id")
    if content_hash is not None:
        check_key(content_hash, "content_hash")
    check_reason(reason)
    return action, outcome


def checked_intent(
    kind: str,
    source_key: str,
    operation: str,
    lookup_keys: Mapping[str, str],
    *,
    parent_id: str | None,
) -> dict[str, str]:
    """``begin_intent``'s arguments checked; returns the lookup as a plain dict of strings."""
    check_kind(kind)
    check_key(source_key, "source_key")
    check_key(operation, "operation")
    if parent_id is not None:
        check_key(parent_id, "parent_id")
    lookup = dict(lookup_keys)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in lookup.items()):
        raise ConfigurationError("lookup_keys must map names to strings")
    return lookup


def run_from(row: Row, when: When) -> Run:
    return Run(
        run_id=row["run_id"],
        mode=RunMode(row["mode"]),
        status=RunStatus(row["status"]),
        started_at=when(row["started_at"]),
        finished_at=_maybe(when, row["finished_at"]),
        phase=row["phase"],
        cursor=row["cursor"],
        checkpoint_at=_maybe(when, row["checkpoint_at"]),
    )


def attempt_from(row: Row, when: When) -> Attempt:
    return Attempt(
        run_id=row["run_id"],
        attempt=int(row["attempt"]),
        status=RunStatus(row["status"]),
        started_at=when(row["started_at"]),
        ended_at=_maybe(when, row["ended_at"]),
    )


def record_from(row: Row, when: When) -> LedgerRecord:
    return LedgerRecord(
        kind=row["kind"],
        source_key=row["source_key"],
        destination_id=row["destination_id"],
        content_hash=row["content_hash"],
        action=RecordAction(row["action"]),
        outcome=RecordOutcome(row["outcome"]),
        reason=row["reason"],
        run_id=row["run_id"],
        first_recorded_at=when(row["first_recorded_at"]),
        updated_at=when(row["updated_at"]),
    )


def audit_row_from(row: Row, when: When) -> AuditRow:
    return AuditRow(
        run_id=row["run_id"],
        kind=row["kind"],
        source_key=row["source_key"],
        destination_id=row["destination_id"],
        action=RecordAction(row["action"]),
        outcome=RecordOutcome(row["outcome"]),
        reason=row["reason"],
        at=when(row["at"]),
    )


def pre_image_from(row: Row, when: When) -> PreImage:
    return PreImage(
        seq=int(row["seq"]),
        kind=row["kind"],
        destination_id=row["destination_id"],
        run_id=row["run_id"],
        saved_at=when(row["saved_at"]),
        restored_at=_maybe(when, row["restored_at"]),
        payload=json.loads(row["payload_json"]),
    )
