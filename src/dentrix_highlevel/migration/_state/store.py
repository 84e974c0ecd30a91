"""What the two ledger stores share: every ``Ledger`` method whose logic is the same in SQLite and PostgreSQL.

``SqlStore`` holds the methods once, with their statements written once in a neutral form: ``{s}.`` before
every table, ``?`` for a positional value and ``:name`` for a named one, and a few ``{...}`` words where the
dialects differ (``Dialect``). Each store says what those become, how a timestamp is stored and read back,
and keeps what is genuinely its own: the connection and how it is opened and checked, the transaction (its
locking, durability and error translation), how an inserted row's id comes back, and how a duplicate shows.

The durability contract is the stores' (``ledger``, ``sqlite``, ``postgres``): which method is a barrier is
decided here (``durable=True``), what a barrier costs is decided by each store's ``_tx``.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, Self, TypeVar

import attrs

from dentrix_highlevel._errors import ConfigurationError, LedgerError
from dentrix_highlevel.migration._state import ledger
from dentrix_highlevel.migration._state.audit import AuditRow, RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import check_aware, check_key, check_kind, check_reason
from dentrix_highlevel.migration._state.rows import (
    attempt_from,
    audit_row_from,
    checked_intent,
    checked_result,
    created_object_from,
    pending_intent_from,
    pre_image_from,
    record_from,
    run_from,
    watermark_from,
)

__all__ = [
    "LEDGER_FORMAT_VERSION",
    "NOTE_KEYS",
    "PAYLOAD_COLUMNS",
    "Clock",
    "Connection",
    "Dialect",
    "SqlStore",
    "check_complete",
    "check_format_version",
    "identity_from_meta",
    "identity_mismatch",
    "read_meta",
    "to_json",
    "utc_now",
]

#: The ledger format both stores write (the SQLite file's ``user_version``, the ``meta`` table's version).
LEDGER_FORMAT_VERSION = 1

#: The identity notes a ledger keeps (prefixed ``note.`` in ``meta``, so they never shadow its identity).
NOTE_KEYS = frozenset({"practice_namespace", "ledger_token", "ledger_token_next", "recovered_at"})

# Columns allowed to hold patient values: everything else is ids, hashes, enums, times and reasons.
PAYLOAD_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {("intents", "payload_lookup_json"), ("pre_images", "payload_json")}
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Cursor(Protocol):
    """What the shared methods read from a statement's cursor (``sqlite3`` and psycopg both have it)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """What the shared methods ask of a connection: statements, one at a time."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...


@attrs.frozen(cache_hash=True)  # a key of every statement's translation
class Dialect:
    """Where the stores' SQL differs, as data: ``SqlStore._q`` writes these into the neutral statements."""

    positional: str
    """A positional value's placeholder (``?`` stays, or becomes ``%s``)."""
    named: str
    """A named value's placeholder, ``{}`` for the name (``:{}``, or ``%({})s``)."""
    run_order: str
    """The ``runs`` column that orders runs as they began."""
    collate: str
    """What makes text sort in byte order (SQLite's own order; PostgreSQL's depends on the locale)."""
    for_update: str
    """What locks an intent's row for its settlement (nothing where the transaction locks the file)."""


_NAMED_RE = re.compile(r"(?<![:\w]):([a-z_]+)")


@functools.lru_cache(maxsize=256)
def _translate(sql: str, tables: str, dialect: Dialect) -> str:
    # Our own constant statements: the schema is a checked identifier, every value is bound.
    sql = sql.replace("{s}.", tables)
    sql = sql.replace("{run_order}", dialect.run_order).replace("{collate}", dialect.collate)
    sql = sql.replace("{for_update}", dialect.for_update).replace("?", dialect.positional)
    return _NAMED_RE.sub(lambda m: dialect.named.format(m.group(1)), sql)


# Within one run a record keeps its strongest action: CREATED over UPDATED and UNCHANGED, UPDATED over
# UNCHANGED (a resumed run re-seeing its own write); see Ledger.record_result.
_STICKY_SQL = (
    "{t}.run_id = excluded.run_id AND ("
    "({t}.action = 'created' AND excluded.action IN ('updated', 'unchanged')) OR "
    "({t}.action = 'updated' AND excluded.action = 'unchanged'))"
)


def _sticky(column: str, table: str) -> str:
    sticky = _STICKY_SQL.format(t=table)
    return f"{column} = CASE WHEN {sticky} THEN {table}.{column} ELSE excluded.{column} END"


# A failed or skipped retry must not forget where the object is or what it last held.
_UPSERT_RECORD = f"""
    INSERT INTO {{s}}.records AS records (kind, source_key, destination_id, content_hash, action, outcome,
        reason, run_id, first_recorded_at, updated_at)
    VALUES (:kind, :source_key, :destination_id, :content_hash, :action, :outcome, :reason, :run_id, :now,
        :now)
    ON CONFLICT (kind, source_key) DO UPDATE SET
        destination_id = coalesce(excluded.destination_id, records.destination_id),
        content_hash = coalesce(excluded.content_hash, records.content_hash),
        {_sticky("action", "records")},
        {_sticky("outcome", "records")},
        {_sticky("reason", "records")},
        run_id = excluded.run_id,
        updated_at = excluded.updated_at
"""  # noqa: S608 - the interpolated text is our own constant, values are bound

_UPSERT_AUDIT = f"""
    INSERT INTO {{s}}.audit AS audit (run_id, kind, source_key, destination_id, action, outcome, reason, at)
    VALUES (:run_id, :kind, :source_key, :destination_id, :action, :outcome, :reason, :now)
    ON CONFLICT (run_id, kind, source_key) DO UPDATE SET
        destination_id = coalesce(excluded.destination_id, audit.destination_id),
        {_sticky("action", "audit")},
        {_sticky("outcome", "audit")},
        {_sticky("reason", "audit")},
        at = excluded.at
"""  # noqa: S608 - as above

_INSERT_INTENT = (
    "INSERT INTO {s}.intents (run_id, kind, source_key, operation, parent_id, status, begun_at, "
    "payload_lookup_json) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)"
)


def _resolving(want: str, by: str, records_tail: str, intents_order: str) -> tuple[str, str]:
    """Where a record lives (or whose an object is): its row first, then the settled intents (a crash
    between ``complete_intent`` and ``record_result``); a retired intent no longer says where anything is."""
    return (
        f"SELECT {want} FROM {{s}}.records WHERE kind = ? AND {by} = ? {records_tail}",  # noqa: S608
        f"SELECT {want} FROM {{s}}.intents WHERE kind = ? AND {by} = ? "  # noqa: S608 - our own names
        f"AND status = 'completed' AND retired_at IS NULL ORDER BY intent_id{intents_order} LIMIT 1",
    )


# Built once: the statements are the keys of their translations.
_DESTINATION_OF = _resolving("destination_id", "source_key", "AND destination_id IS NOT NULL", " DESC")
_OWNER_OF = _resolving("source_key", "destination_id", "ORDER BY first_recorded_at LIMIT 1", "")


def to_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _check_note(key: str) -> None:
    if key not in NOTE_KEYS:
        raise LedgerError(f"unknown ledger note {key!r}")


def read_meta(conn: Connection, table: str) -> dict[str, str]:
    """The ``meta`` table (``table`` names it, schema-qualified where the store has schemas)."""
    rows = conn.execute(f"SELECT key, value FROM {table}").fetchall()  # noqa: S608 - our own table name
    return {str(row["key"]): str(row["value"]) for row in rows}


def check_format_version(version: int, where: str) -> None:
    if version > LEDGER_FORMAT_VERSION:
        raise LedgerError(
            f"the ledger at {where} has format version {version}, newer than this dentrix-highlevel "
            f"understands ({LEDGER_FORMAT_VERSION}): upgrade dentrix-highlevel to continue this migration"
        )
    if version != LEDGER_FORMAT_VERSION:
        raise LedgerError(f"the ledger at {where} has unknown format version {version}")


def check_complete(meta: Mapping[str, str], keys: Sequence[str], where: str) -> None:
    missing = [key for key in keys if key not in meta]
    if missing:
        raise LedgerError(f"the ledger at {where} is incomplete: meta lacks {', '.join(missing)}")


def identity_from_meta(meta: Mapping[str, str], where: str) -> ledger.LedgerIdentity:
    """The identity the ``meta`` table carries; raises LedgerError for an invalid one."""
    try:
        return ledger.LedgerIdentity(
            migration_id=meta["migration_id"],
            location_id=meta["location_id"],
            source_fingerprint=meta["source_fingerprint"],
        )
    except ConfigurationError as exc:
        raise LedgerError(f"the ledger at {where} has an invalid identity in its meta table") from exc


def identity_mismatch(
    found: ledger.LedgerIdentity, expected: ledger.LedgerIdentity, where: str
) -> LedgerError:
    """The refusal of a ledger that belongs to another migration, naming what differs (ids, never PHI)."""
    mismatched = [
        name
        for name in ("migration_id", "location_id", "source_fingerprint")
        if getattr(found, name) != getattr(expected, name)
    ]
    return LedgerError(
        f"the ledger at {where} belongs to another migration: "
        + ", ".join(f"{n} is {getattr(found, n)!r}, expected {getattr(expected, n)!r}" for n in mismatched)
    )


C = TypeVar("C", bound=Connection)


class SqlStore(abc.ABC, Generic[C]):
    """The ``Ledger`` methods both stores share; a store supplies its connection's side (the abstract
    methods) and its ``Dialect``."""

    __slots__ = (
        "_clock",
        "_closed",
        "_conn",
        "_durable_writes",
        "_identity",
        "_lock",
        "_tables",
        "_unsynced",
        "_writes",
    )

    _DIALECT: Dialect

    def __init__(self, conn: C, identity: ledger.LedgerIdentity, clock: Clock, *, tables: str) -> None:
        self._conn = conn
        self._identity = identity
        self._clock = clock
        self._tables = tables
        self._lock = threading.Lock()
        self._closed = False
        self._writes = 0
        self._durable_writes = 0
        self._unsynced = False

    # What each store does its own way --------------------------------------------------------------------

    @abc.abstractmethod
    def _tx(self, *, write: bool, durable: bool = False) -> contextlib.AbstractContextManager[C]:
        """One transaction under the lock; ``durable`` makes its commit a barrier."""

    @abc.abstractmethod
    def _stamp(self, value: datetime) -> object:
        """An aware time as the store keeps it."""

    @abc.abstractmethod
    def _when(self, value: Any) -> datetime:
        """A kept time as an aware ``datetime``."""

    @abc.abstractmethod
    def _insert_intent(self, conn: C, sql: str, params: Sequence[object]) -> int:
        """Run ``_INSERT_INTENT``; returns the new intent's id (the store's generated key)."""

    @abc.abstractmethod
    def _insert_new(self, conn: C, sql: str, params: Sequence[object]) -> bool:
        """Run an INSERT; False (and the transaction still usable) when the row's key already exists."""

    @abc.abstractmethod
    def _many(self, conn: C, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Run one statement for each of ``rows``."""

    def _upgrade(self, conn: C, *, but: str | None = None) -> None:
        """Bring an older ledger's tables up to date before a run writes to them (``but``: a run just
        begun, which gets its own first attempt)."""

    def _has_attempts(self, conn: C) -> bool:
        """Whether the ledger has its ``attempts`` table (an old one opened only to read may not)."""
        return True

    # Shared ----------------------------------------------------------------------------------------------

    @property
    def identity(self) -> ledger.LedgerIdentity:
        return self._identity

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Make every write durable, then close the connection and drop the process's hold on the ledger."""

    def _q(self, sql: str) -> str:
        """A neutral statement (see the module docstring) in this store's SQL."""
        return _translate(sql, self._tables, self._DIALECT)

    def _time(self) -> datetime:
        return check_aware(self._clock(), "the ledger clock's time").astimezone(UTC)

    def _now(self) -> object:
        return self._stamp(self._time())

    # What the write counters say, and how a store's ``_tx`` moves them --------------------------------

    @property
    def writes(self) -> int:
        """Write transactions committed through this connection (a measure for benchmarks and tests)."""
        return self._writes

    def _commit_written(self, *, durable: bool) -> None:
        """Count a committed write (each store's ``_tx`` calls it once its commit returned)."""
        self._writes += 1
        self._durable_writes += int(durable)
        self._unsynced = not durable

    @property
    def durable_writes(self) -> int:
        """How many of ``writes`` were barriers (durable before returning: an fsynced WAL in SQLite, a
        commit the server flushed in PostgreSQL); see the store's module docstring."""
        return self._durable_writes

    # Runs ------------------------------------------------------------------------------------------------

    def begin_run(self, mode: ledger.RunMode, *, run_id: str | None = None) -> ledger.Run:
        mode = ledger.RunMode(mode)
        at = self._time()
        now = self._stamp(at)
        if run_id is None:
            stamp = at.isoformat()[:19].replace("-", "").replace(":", "")
            run_id = f"{mode.value}-{stamp}Z-{secrets.token_hex(4)}"
        check_key(run_id, "run_id")
        with self._tx(write=True, durable=True) as conn:
            if not self._insert_new(
                conn,
                self._q(
                    "INSERT INTO {s}.runs (run_id, mode, status, started_at) VALUES (?, ?, 'running', ?)"
                ),
                (run_id, mode.value, now),
            ):
                raise LedgerError(f"run {run_id!r} already exists in the ledger")
            self._upgrade(conn, but=run_id)
            conn.execute(
                self._q(
                    "INSERT INTO {s}.attempts (run_id, attempt, status, started_at) "
                    "VALUES (?, 1, 'running', ?)"
                ),
                (run_id, now),
            )
            return self._run_row(conn, run_id)

    def resume_run(self, run_id: str) -> ledger.Run:
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            run = self._run_row(conn, run_id)
            if run.status is ledger.RunStatus.COMPLETED:
                raise LedgerError(f"run {run_id!r} completed; start a new run instead of resuming it")
            self._upgrade(conn)  # before the update: an old ledger's attempt keeps its status
            conn.execute(
                self._q("UPDATE {s}.runs SET status = 'running', finished_at = NULL WHERE run_id = ?"),
                (run_id,),
            )
            # An attempt still "running" was killed before it could say how it ended: it stopped.
            conn.execute(
                self._q("UPDATE {s}.attempts SET status = 'stopped' WHERE run_id = ? AND status = 'running'"),
                (run_id,),
            )
            conn.execute(
                self._q(
                    "INSERT INTO {s}.attempts (run_id, attempt, status, started_at) "
                    "SELECT ?, COALESCE(MAX(attempt), 0) + 1, 'running', ? FROM {s}.attempts WHERE run_id = ?"
                ),
                (run_id, self._now(), run_id),
            )
            return self._run_row(conn, run_id)

    def finish_run(self, run_id: str, *, status: ledger.RunStatus) -> ledger.Run:
        status = ledger.RunStatus(status)
        if status is ledger.RunStatus.RUNNING:
            raise ConfigurationError("finish_run needs a final status, not 'running'")
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            now = self._now()
            conn.execute(
                self._q("UPDATE {s}.runs SET status = ?, finished_at = ? WHERE run_id = ?"),
                (status.value, now, run_id),
            )
            self._upgrade(conn)
            conn.execute(
                self._q(
                    "UPDATE {s}.attempts SET status = ?, ended_at = ? WHERE run_id = ? AND attempt = "
                    "(SELECT MAX(attempt) FROM {s}.attempts WHERE run_id = ?)"
                ),
                (status.value, now, run_id, run_id),
            )
            return self._run_row(conn, run_id)

    def run(self, run_id: str) -> ledger.Run | None:
        with self._tx(write=False) as conn:
            row = conn.execute(self._q("SELECT * FROM {s}.runs WHERE run_id = ?"), (run_id,)).fetchone()
        return None if row is None else run_from(row, self._when)

    def runs(self) -> list[ledger.Run]:
        with self._tx(write=False) as conn:
            rows = conn.execute(self._q("SELECT * FROM {s}.runs ORDER BY {run_order}")).fetchall()
        return [run_from(row, self._when) for row in rows]

    def attempts(self) -> list[ledger.Attempt]:
        with self._tx(write=False) as conn:
            if self._has_attempts(conn):
                sql = (
                    "SELECT a.run_id, a.attempt, a.status, a.started_at, a.ended_at FROM {s}.attempts a "
                    "JOIN {s}.runs r ON r.run_id = a.run_id ORDER BY r.{run_order}, a.attempt"
                )
            else:  # a ledger older than the table, opened only to read: one attempt per run
                sql = (
                    "SELECT run_id, 1 AS attempt, status, started_at, finished_at AS ended_at FROM {s}.runs "
                    "ORDER BY {run_order}"
                )
            rows = conn.execute(self._q(sql)).fetchall()
        return [attempt_from(row, self._when) for row in rows]

    def save_checkpoint(self, run_id: str, *, phase: str, cursor: str | None) -> None:
        check_key(phase, "phase")
        if cursor is not None:
            check_key(cursor, "cursor")
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            conn.execute(
                self._q("UPDATE {s}.runs SET phase = ?, cursor = ?, checkpoint_at = ? WHERE run_id = ?"),
                (phase, cursor, self._now(), run_id),
            )

    def _require_run(self, conn: C, run_id: str) -> None:
        if conn.execute(self._q("SELECT 1 FROM {s}.runs WHERE run_id = ?"), (run_id,)).fetchone() is None:
            raise LedgerError(f"run {run_id!r} is not in the ledger (begin_run first)")

    def _run_row(self, conn: C, run_id: str) -> ledger.Run:
        row = conn.execute(self._q("SELECT * FROM {s}.runs WHERE run_id = ?"), (run_id,)).fetchone()
        assert row is not None  # callers checked it exists in this transaction
        return run_from(row, self._when)

    # Records and audit -----------------------------------------------------------------------------------

    def record_result(
        self,
        run_id: str,
        kind: str,
        source_key: str,
        *,
        action: RecordAction,
        outcome: RecordOutcome,
        destination_id: str | None = None,
        content_hash: str | None = None,
        reason: str | None = None,
    ) -> ledger.LedgerRecord:
        action, outcome = checked_result(
            kind,
            source_key,
            action=action,
            outcome=outcome,
            destination_id=destination_id,
            content_hash=content_hash,
            reason=reason,
        )
        params = {
            "run_id": run_id,
            "kind": kind,
            "source_key": source_key,
            "destination_id": destination_id,
            "content_hash": content_hash,
            "action": action.value,
            "outcome": outcome.value,
            "reason": reason,
            "now": self._now(),
        }
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            conn.execute(self._q(_UPSERT_RECORD), params)
            conn.execute(self._q(_UPSERT_AUDIT), params)
            row = self._record_row(conn, kind, source_key)
        assert row is not None  # written in this transaction
        return record_from(row, self._when)

    def record(self, kind: str, source_key: str) -> ledger.LedgerRecord | None:
        with self._tx(write=False) as conn:
            row = self._record_row(conn, kind, source_key)
        return None if row is None else record_from(row, self._when)

    def _record_row(self, conn: C, kind: str, source_key: str) -> Any:
        sql = self._q("SELECT * FROM {s}.records WHERE kind = ? AND source_key = ?")
        return conn.execute(sql, (kind, source_key)).fetchone()

    def records(self, kind: str | None = None) -> list[ledger.LedgerRecord]:
        with self._tx(write=False) as conn:
            # {collate}: the same byte order in both stores, whatever a database's locale.
            params: tuple[str, ...]
            if kind is None:
                sql, params = "SELECT * FROM {s}.records ORDER BY kind{collate}, source_key{collate}", ()
            else:
                sql, params = "SELECT * FROM {s}.records WHERE kind = ? ORDER BY source_key{collate}", (kind,)
            rows = conn.execute(self._q(sql), params).fetchall()
        return [record_from(row, self._when) for row in rows]

    def destination_of(self, kind: str, source_key: str) -> str | None:
        return self._resolve(_DESTINATION_OF, "destination_id", kind, source_key)

    def owner_of(self, kind: str, destination_id: str) -> str | None:
        return self._resolve(_OWNER_OF, "source_key", kind, destination_id)

    def _resolve(self, queries: tuple[str, str], want: str, kind: str, value: str) -> str | None:
        with self._tx(write=False) as conn:
            for sql in queries:
                row = conn.execute(self._q(sql), (kind, value)).fetchone()
                if row is not None:
                    return str(row[want])
        return None

    def audit_rows(self, *, run_id: str | None = None) -> list[AuditRow]:
        with self._tx(write=False) as conn:
            if run_id is None:
                rows = conn.execute(self._q("SELECT * FROM {s}.audit ORDER BY seq")).fetchall()
            else:
                rows = conn.execute(
                    self._q("SELECT * FROM {s}.audit WHERE run_id = ? ORDER BY seq"), (run_id,)
                ).fetchall()
        return [audit_row_from(row, self._when) for row in rows]

    # Intents ---------------------------------------------------------------------------------------------

    def begin_intent(
        self,
        kind: str,
        source_key: str,
        operation: str,
        lookup_keys: Mapping[str, str],
        *,
        run_id: str,
        parent_id: str | None = None,
    ) -> int:
        lookup = checked_intent(kind, source_key, operation, lookup_keys, parent_id=parent_id)
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            params = (run_id, kind, source_key, operation, parent_id, self._now(), to_json(lookup))
            return self._insert_intent(conn, self._q(_INSERT_INTENT), params)

    def _insert_intents(
        self, conn: C, rows: Sequence[tuple[str, str, str, str, str | None, str]]
    ) -> list[int]:
        """Checked intents (run id, kind, source key, operation, parent id, lookup JSON), in ``conn``'s
        transaction; returns their ids."""
        now = self._now()
        for run_id in {row[0] for row in rows}:
            self._require_run(conn, run_id)
        sql = self._q(_INSERT_INTENT)
        return [self._insert_intent(conn, sql, (*row[:5], now, row[5])) for row in rows]

    def complete_intent(self, intent_id: int, *, destination_id: str, created: bool) -> None:
        check_key(destination_id, "destination_id")
        with self._tx(write=True) as conn:
            row = self._intent_row(conn, intent_id)
            if row["status"] == "completed":
                if row["destination_id"] == destination_id and bool(row["created"]) == created:
                    return
                raise LedgerError(f"intent {intent_id} is already completed with another result")
            if row["status"] == "abandoned":
                raise LedgerError(f"intent {intent_id} was abandoned; begin a new intent to create again")
            now = self._now()
            conn.execute(
                self._q(
                    "UPDATE {s}.intents SET status = 'completed', destination_id = ?, created = ?, "
                    "settled_at = ? WHERE intent_id = ?"
                ),
                (destination_id, created, now, intent_id),
            )
            if created:
                # DO NOTHING: one object reported created twice (a resumed lookup finding it) is one object.
                conn.execute(
                    self._q(
                        "INSERT INTO {s}.created_objects (kind, destination_id, parent_id, source_key, "
                        "run_id, intent_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT (kind, destination_id) DO NOTHING"
                    ),
                    (
                        row["kind"],
                        destination_id,
                        row["parent_id"],
                        row["source_key"],
                        row["run_id"],
                        intent_id,
                        now,
                    ),
                )

    def abandon_intent(self, intent_id: int, *, reason: str) -> None:
        check_reason(reason)
        with self._tx(write=True) as conn:
            row = self._intent_row(conn, intent_id)
            if row["status"] == "abandoned":
                return
            if row["status"] == "completed":
                raise LedgerError(f"intent {intent_id} is completed; it cannot be abandoned")
            conn.execute(
                self._q(
                    "UPDATE {s}.intents SET status = 'abandoned', reason = ?, settled_at = ? "
                    "WHERE intent_id = ?"
                ),
                (reason, self._now(), intent_id),
            )

    def pending_intents(self) -> list[ledger.PendingIntent]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q("SELECT * FROM {s}.intents WHERE status = 'pending' ORDER BY intent_id")
            ).fetchall()
        return [pending_intent_from(row, self._when) for row in rows]

    def _intent_row(self, conn: C, intent_id: int) -> Any:
        # {for_update}: two settlements of one intent cannot interleave (another process reading is fine).
        row = conn.execute(
            self._q("SELECT * FROM {s}.intents WHERE intent_id = ?{for_update}"), (intent_id,)
        ).fetchone()
        if row is None:
            raise LedgerError(f"intent {intent_id} is not in the ledger")
        return row

    # Rollback material -----------------------------------------------------------------------------------

    def save_pre_image(self, kind: str, destination_id: str, pre_image: object, *, run_id: str) -> bool:
        check_kind(kind)
        check_key(destination_id, "destination_id")
        try:
            payload = to_json(pre_image)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"the pre-image of {kind} {destination_id} is not JSON-serialisable"
            ) from exc
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            ours = conn.execute(
                self._q("SELECT 1 FROM {s}.created_objects WHERE kind = ? AND destination_id = ?"),
                (kind, destination_id),
            ).fetchone()
            if ours is not None:
                return False
            # First write wins, unless that pre-image was restored: the object is back at its old state and
            # a new migration of it needs a new "before" (else a second rollback would restore nothing).
            cursor = conn.execute(
                self._q(
                    "INSERT INTO {s}.pre_images AS pre_images (kind, destination_id, run_id, saved_at, "
                    "payload_json) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (kind, destination_id) DO UPDATE SET run_id = excluded.run_id, "
                    "saved_at = excluded.saved_at, payload_json = excluded.payload_json, restored_at = NULL "
                    "WHERE pre_images.restored_at IS NOT NULL"
                ),
                (kind, destination_id, run_id, self._now(), payload),
            )
            return cursor.rowcount == 1

    def pre_images(self, *, include_restored: bool = False) -> list[ledger.PreImage]:
        rows = self._newest_first("pre_images", "restored_at", include_restored)
        return [pre_image_from(row, self._when) for row in rows]

    def pre_image(self, kind: str, destination_id: str) -> ledger.PreImage | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q(
                    "SELECT * FROM {s}.pre_images WHERE kind = ? AND destination_id = ? "
                    "AND restored_at IS NULL"
                ),
                (kind, destination_id),
            ).fetchone()
        return None if row is None else pre_image_from(row, self._when)

    def mark_restored(self, kind: str, destination_id: str) -> None:
        self._mark_undone(
            "pre_images", "restored_at", kind, destination_id, "no pre-image of {} {} in the ledger"
        )

    def created_objects(self, *, include_rolled_back: bool = False) -> list[ledger.CreatedObject]:
        rows = self._newest_first("created_objects", "rolled_back_at", include_rolled_back)
        return [created_object_from(row, self._when) for row in rows]

    def mark_rolled_back(self, kind: str, destination_id: str) -> None:
        self._mark_undone(
            "created_objects",
            "rolled_back_at",
            kind,
            destination_id,
            "{} {} is not an object this migration created",
        )

    def _newest_first(self, table: str, undone: str, include_undone: bool) -> list[Any]:
        where = "" if include_undone else f"WHERE {undone} IS NULL "
        with self._tx(write=False) as conn:
            sql = f"SELECT * FROM {{s}}.{table} {where}ORDER BY seq DESC"  # noqa: S608 - our own names
            return conn.execute(self._q(sql)).fetchall()

    def _mark_undone(self, table: str, undone: str, kind: str, destination_id: str, unknown: str) -> None:
        """Rollback deleted or restored the object (idempotent): stamp ``undone`` and forget the object.

        No record may still claim the object holds what we sent: a later run must treat its source records
        as new (the audit log keeps the history), and its intents no longer say where a record lives.
        """
        with self._tx(write=True) as conn:
            now = self._now()
            cursor = conn.execute(
                self._q(
                    f"UPDATE {{s}}.{table} SET {undone} = coalesce({undone}, ?) "  # noqa: S608
                    "WHERE kind = ? AND destination_id = ?"
                ),
                (now, kind, destination_id),
            )
            if cursor.rowcount == 0:
                raise LedgerError(unknown.format(kind, destination_id))
            conn.execute(
                self._q("DELETE FROM {s}.records WHERE kind = ? AND destination_id = ?"),
                (kind, destination_id),
            )
            conn.execute(
                self._q(
                    "UPDATE {s}.intents SET retired_at = coalesce(retired_at, ?) "
                    "WHERE kind = ? AND destination_id = ?"
                ),
                (now, kind, destination_id),
            )

    # Watermark -------------------------------------------------------------------------------------------

    def set_watermark(
        self,
        *,
        run_id: str,
        source_as_of: datetime,
        hashes: Iterable[ledger.SourceHash] = (),
        removed: Iterable[tuple[str, str]] = (),
    ) -> ledger.Watermark:
        check_aware(source_as_of, "source_as_of")
        upserts = [
            (check_kind(h.kind), check_key(h.source_key, "source_key"), h.source_hash, run_id) for h in hashes
        ]
        deletes = list(removed)
        now = self._now()
        as_of = self._stamp(source_as_of)
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            if upserts:
                self._many(
                    conn,
                    self._q(
                        "INSERT INTO {s}.source_hashes (kind, source_key, source_hash, run_id) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (kind, source_key) DO UPDATE SET "
                        "source_hash = excluded.source_hash, run_id = excluded.run_id"
                    ),
                    upserts,
                )
            if deletes:
                self._many(
                    conn, self._q("DELETE FROM {s}.source_hashes WHERE kind = ? AND source_key = ?"), deletes
                )
            conn.execute(
                self._q("INSERT INTO {s}.watermarks (run_id, source_as_of, taken_at) VALUES (?, ?, ?)"),
                (run_id, as_of, now),
            )
        return ledger.Watermark(source_as_of=self._when(as_of), taken_at=self._when(now), run_id=run_id)

    def watermark(self) -> ledger.Watermark | None:
        with self._tx(write=False) as conn:
            row = conn.execute(self._q("SELECT * FROM {s}.watermarks ORDER BY seq DESC LIMIT 1")).fetchone()
        return None if row is None else watermark_from(row, self._when)

    def source_hashes(self, kind: str) -> dict[str, str]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q("SELECT source_key, source_hash FROM {s}.source_hashes WHERE kind = ?"), (kind,)
            ).fetchall()
        return {row["source_key"]: row["source_hash"] for row in rows}

    # Identity notes ------------------------------------------------------------------------------------

    def note(self, key: str) -> str | None:
        """A value the engine noted about this migration's identity (``practice_namespace``, ...)."""
        _check_note(key)
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q("SELECT value FROM {s}.meta WHERE key = ?"), (f"note.{key}",)
            ).fetchone()
        return None if row is None else str(row["value"])

    def set_note(self, key: str, value: str) -> None:
        """Note an identity value (durable: it decides what later runs may look up in HighLevel)."""
        _check_note(key)
        check_key(value, key)
        with self._tx(write=True, durable=True) as conn:
            self._set_meta(conn, [(f"note.{key}", value)])

    def _set_meta(self, conn: C, pairs: Sequence[tuple[str, str]]) -> None:
        sql = (
            "INSERT INTO {s}.meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        self._many(conn, self._q(sql), pairs)

    # Plan approval ---------------------------------------------------------------------------------------

    def approve_plan(
        self, plan_hash: str, *, approved_by: str, forced_reason: str | None = None
    ) -> ledger.ApprovedPlan:
        check_key(plan_hash, "plan_hash")
        check_key(approved_by, "approved_by")
        now = self._time()
        with self._tx(write=True, durable=True) as conn:
            self._set_meta(
                conn,
                [
                    ("approved_plan_hash", plan_hash),
                    ("approved_by", approved_by),
                    ("approved_at", now.isoformat(timespec="microseconds")),
                    ("approval_forced_reason", forced_reason or ""),
                ],
            )
        return ledger.ApprovedPlan(
            plan_hash=plan_hash, approved_by=approved_by, approved_at=now, forced_reason=forced_reason
        )

    def approved_plan(self) -> ledger.ApprovedPlan | None:
        with self._tx(write=False) as conn:
            meta = read_meta(conn, self._q("{s}.meta"))
        if "approved_plan_hash" not in meta:
            return None
        return ledger.ApprovedPlan(
            plan_hash=meta["approved_plan_hash"],
            approved_by=meta["approved_by"],
            approved_at=datetime.fromisoformat(meta["approved_at"]),
            forced_reason=meta.get("approval_forced_reason") or None,
        )
