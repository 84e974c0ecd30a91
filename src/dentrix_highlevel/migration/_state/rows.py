"""What the two ledger stores share: the checks of a write's arguments and the rows read back as values.

The SQLite and PostgreSQL stores differ in SQL and in how a timestamp reads back (ISO text in SQLite,
``timestamptz`` in PostgreSQL); everything else about a row is the same, so a row is read into its value
class by the class's own fields: a column per field of the same name, converted by the field's type (a
time through the store's ``when``, an enum, an integer), and a ``payload_`` column decoded from JSON.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._state.audit import ALLOWED_OUTCOMES, AuditRow, RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import (
    Attempt,
    CreatedObject,
    LedgerRecord,
    PendingIntent,
    PreImage,
    Run,
    Watermark,
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
    "created_object_from",
    "pending_intent_from",
    "pre_image_from",
    "record_from",
    "run_from",
    "watermark_from",
]

When = Callable[[Any], datetime]
Row = Mapping[str, Any]
V = TypeVar("V", bound=attrs.AttrsInstance)
_Read = Callable[[Row, When], Any]

# The fields whose column holds JSON (patient values: see ``ledger``'s PHI note).
_JSON_COLUMNS = {"lookup": "payload_lookup_json", "payload": "payload_json"}


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


def _read_field(name: str, hint: Any) -> _Read:
    """How one field reads from its column, chosen once by the field's type."""
    if name in _JSON_COLUMNS:
        column = _JSON_COLUMNS[name]
        return lambda row, when: json.loads(row[column])
    if hint is datetime:
        return lambda row, when: when(row[name])
    if isinstance(hint, types.UnionType) and set(typing.get_args(hint)) == {datetime, type(None)}:
        return lambda row, when: None if row[name] is None else when(row[name])
    if hint is int or (isinstance(hint, type) and issubclass(hint, enum.Enum)):
        convert = cast(Callable[[Any], Any], hint)
        return lambda row, when: convert(row[name])
    return lambda row, when: row[name]


def _reader(cls: type[V]) -> Callable[[Row, When], V]:
    """A row (by column name) as a ``cls``, its times read by the store's ``when``."""
    hints = typing.get_type_hints(cls)
    fields = [(field.name, _read_field(field.name, hints[field.name])) for field in attrs.fields(cls)]
    make = cast(Callable[..., V], cls)

    def read(row: Row, when: When) -> V:
        return make(**{name: read_field(row, when) for name, read_field in fields})

    return read


run_from = _reader(Run)
attempt_from = _reader(Attempt)
record_from = _reader(LedgerRecord)
audit_row_from = _reader(AuditRow)
pending_intent_from = _reader(PendingIntent)
created_object_from = _reader(CreatedObject)
pre_image_from = _reader(PreImage)
watermark_from = _reader(Watermark)
