"""A ledger that workers on different machines share: one PostgreSQL schema per migration.

Chosen by a URL (``postgresql://user@host:5432/dbname?schema=smile``); ``open_ledger`` picks this store for
``postgresql://`` and ``postgres://`` URLs and ``SqliteLedger`` for a work directory. ``schema`` (default
``dentrix_highlevel``) names the PostgreSQL schema that holds this ledger's tables, so one database holds
one ledger per office; every other query parameter is psycopg's (``sslmode``, ``connect_timeout`` ...).

The same contract as the SQLite store (see ``ledger``), on the server's terms:

* Every write is one short transaction on one connection (psycopg 3, synchronous, behind a lock): nothing
  is held open across a request, so a client killed at any instant leaves the ledger at a commit boundary.
* *Barrier* writes (``begin_intent``, ``save_pre_image``, run start/finish, watermark, approval, notes)
  commit with ``synchronous_commit = on``: the server has flushed the commit to its WAL before it answers,
  so an intent is durable before its create request leaves. Every other write is group-committed with
  ``SET LOCAL synchronous_commit = off``: visible to every reader at once, flushed by the server within
  ``wal_writer_delay``, and, because the WAL is ordered, made durable by the next barrier at the latest
  (what survives a server crash is a prefix of the commits). ``close()`` issues a barrier when group
  commits are outstanding. A killed *client* loses nothing that returned: the server has it.
* One writing process per ledger: ``open()`` takes a session-level advisory lock named after the schema
  and holds it until ``close()``. The server drops it when the connection goes (the process died, or its
  machine went away), so a lost worker never blocks the resume on another machine. This is the lease a
  distributed fleet relies on: an office never runs twice at once.

Identity: the schema's ``meta`` table carries the store's marker (``application``), the format version,
the migration id, location id and source fingerprint; a schema holding anything else, a newer format or
another migration's identity is refused with ``LedgerError``. The schema is created and stamped in one
transaction under a transaction-level advisory lock, so a schema only ever holds a fully stamped ledger.

Messages name the server by host, port, database and schema, never by a URL that may hold a password.
Pre-images and intent lookups hold patient values (``PAYLOAD_COLUMNS``); every other column holds ids,
hashes, enum values, times and reasons.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dentrix_highlevel._errors import ConfigurationError, LedgerError
from dentrix_highlevel.migration._state.audit import AuditRow, RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import (
    ApprovedPlan,
    Attempt,
    CreatedObject,
    LedgerIdentity,
    LedgerRecord,
    PendingIntent,
    PreImage,
    Run,
    RunMode,
    RunStatus,
    SourceHash,
    Watermark,
    check_aware,
    check_key,
    check_kind,
    check_reason,
)
from dentrix_highlevel.migration._state.rows import (
    attempt_from,
    audit_row_from,
    checked_intent,
    checked_result,
    pre_image_from,
    record_from,
    run_from,
)
from dentrix_highlevel.migration._state.sqlite import LEDGER_FORMAT_VERSION, NOTE_KEYS

if TYPE_CHECKING:
    import psycopg

__all__ = ["DEFAULT_SCHEMA", "PostgresLedger", "is_postgres_url", "postgres_location", "with_schema"]

DEFAULT_SCHEMA = "dentrix_highlevel"
#: What the ``meta`` table says about whose schema it is (the SQLite store's ``application_id``).
APPLICATION = "dentrix-highlevel-ledger"
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_URL_SCHEMES = ("postgresql", "postgres")
_CONNECT_TIMEOUT_S = 10

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _schema_sql(schema: str) -> list[str]:
    s = schema  # checked against _SCHEMA_RE: a plain lowercase identifier, safe to interpolate
    modes = ", ".join(repr(m.value) for m in RunMode)
    statuses = ", ".join(repr(v.value) for v in RunStatus)
    actions = ", ".join(repr(a.value) for a in RecordAction)
    outcomes = ", ".join(repr(o.value) for o in RecordOutcome)
    return [
        f"CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL)",
        f"""CREATE TABLE {s}.runs (
            seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            run_id text PRIMARY KEY,
            mode text NOT NULL CHECK (mode IN ({modes})),
            status text NOT NULL CHECK (status IN ({statuses})),
            started_at timestamptz NOT NULL,
            finished_at timestamptz,
            phase text,
            cursor text,
            checkpoint_at timestamptz
        )""",
        f"""CREATE TABLE {s}.attempts (
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            attempt integer NOT NULL,
            status text NOT NULL CHECK (status IN ({statuses})),
            started_at timestamptz NOT NULL,
            ended_at timestamptz,
            PRIMARY KEY (run_id, attempt)
        )""",
        f"""CREATE TABLE {s}.records (
            kind text NOT NULL,
            source_key text NOT NULL,
            destination_id text,
            content_hash text,
            action text NOT NULL CHECK (action IN ({actions})),
            outcome text NOT NULL CHECK (outcome IN ({outcomes})),
            reason text,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            first_recorded_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (kind, source_key)
        )""",
        f"CREATE INDEX records_by_destination ON {s}.records (kind, destination_id) "
        "WHERE destination_id IS NOT NULL",
        f"""CREATE TABLE {s}.audit (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            kind text NOT NULL,
            source_key text NOT NULL,
            destination_id text,
            action text NOT NULL CHECK (action IN ({actions})),
            outcome text NOT NULL CHECK (outcome IN ({outcomes})),
            reason text,
            at timestamptz NOT NULL,
            UNIQUE (run_id, kind, source_key)
        )""",
        f"""CREATE TABLE {s}.intents (
            intent_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            kind text NOT NULL,
            source_key text NOT NULL,
            operation text NOT NULL,
            parent_id text,
            status text NOT NULL CHECK (status IN ('pending', 'completed', 'abandoned')),
            destination_id text,
            created boolean,
            reason text,
            begun_at timestamptz NOT NULL,
            settled_at timestamptz,
            retired_at timestamptz,
            payload_lookup_json text NOT NULL
        )""",
        f"CREATE INDEX intents_pending ON {s}.intents (intent_id) WHERE status = 'pending'",
        f"CREATE INDEX intents_by_destination ON {s}.intents (kind, destination_id) "
        "WHERE destination_id IS NOT NULL",
        f"CREATE INDEX intents_by_source ON {s}.intents (kind, source_key)",
        f"""CREATE TABLE {s}.created_objects (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL,
            destination_id text NOT NULL,
            parent_id text,
            source_key text NOT NULL,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            intent_id bigint REFERENCES {s}.intents (intent_id),
            created_at timestamptz NOT NULL,
            rolled_back_at timestamptz,
            UNIQUE (kind, destination_id)
        )""",
        f"""CREATE TABLE {s}.pre_images (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind text NOT NULL,
            destination_id text NOT NULL,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            saved_at timestamptz NOT NULL,
            restored_at timestamptz,
            payload_json text NOT NULL,
            UNIQUE (kind, destination_id)
        )""",
        f"""CREATE TABLE {s}.watermarks (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            source_as_of timestamptz NOT NULL,
            taken_at timestamptz NOT NULL
        )""",
        f"""CREATE TABLE {s}.source_hashes (
            kind text NOT NULL,
            source_key text NOT NULL,
            source_hash text NOT NULL,
            run_id text NOT NULL REFERENCES {s}.runs (run_id),
            PRIMARY KEY (kind, source_key)
        )""",
    ]


# Columns allowed to hold patient values (as in the SQLite store).
PAYLOAD_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {("intents", "payload_lookup_json"), ("pre_images", "payload_json")}
)

_META_KEYS = ("application", "format_version", "migration_id", "location_id", "source_fingerprint")

_STICKY_SQL = (
    "{t}.run_id = excluded.run_id AND ("
    "({t}.action = 'created' AND excluded.action IN ('updated', 'unchanged')) OR "
    "({t}.action = 'updated' AND excluded.action = 'unchanged'))"
)


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` names a PostgreSQL ledger (``postgresql://`` or ``postgres://``)."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in _URL_SCHEMES and "://" in value


def _split_url(url: str) -> tuple[str, str]:
    """(the URL psycopg connects with, the schema): ``schema`` is ours, every other parameter psycopg's."""
    if not is_postgres_url(url):
        raise ConfigurationError("a PostgreSQL ledger URL starts with postgresql://")
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = [(k, v) for k, v in query if k != "schema"]
    if not any(k == "connect_timeout" for k, _ in rest):
        rest.append(("connect_timeout", str(_CONNECT_TIMEOUT_S)))
    if len(schemas) > 1:
        raise ConfigurationError("a PostgreSQL ledger URL names at most one schema")
    schema = schemas[0] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_RE.fullmatch(schema):
        raise ConfigurationError(
            "the ledger schema must be a lowercase identifier (letters, digits, underscores; at most 63)"
        )
    return urlunsplit(parts._replace(query=urlencode(rest))), schema


def with_schema(url: str, schema: str) -> str:
    """``url`` naming ``schema`` (replacing any schema it named)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


def postgres_location(url: str) -> str:
    """Where a ledger URL points, for messages: host, port, database and schema; never user or password."""
    parts = urlsplit(url)
    schemas = [v for k, v in parse_qsl(parts.query) if k == "schema"]
    host = parts.hostname or "localhost"
    try:
        port = parts.port or 5432
    except ValueError:
        port = 5432
    database = parts.path.lstrip("/") or "(default database)"
    return f"postgresql://{host}:{port}/{database} schema {schemas[0] if schemas else DEFAULT_SCHEMA}"


def _lock_key(schema: str) -> int:
    """The advisory lock id of one ledger schema: a signed 64-bit number from its name."""
    digest = hashlib.blake2b(f"dentrix-highlevel-ledger:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def _must_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresLedger:
    """The PostgreSQL ``Ledger``. Open it with ``PostgresLedger.open(url, identity=...)``; close it (or use
    it as a context manager) when done."""

    __slots__ = (
        "_clock",
        "_closed",
        "_conn",
        "_durable_writes",
        "_identity",
        "_location",
        "_lock",
        "_schema",
        "_unsynced",
        "_writes",
    )

    def __init__(
        self,
        conn: psycopg.Connection[dict[str, Any]],
        schema: str,
        location: str,
        identity: LedgerIdentity,
        clock: Clock,
    ) -> None:
        # Use open() / open_existing(): they check the schema before handing out a ledger.
        self._conn = conn
        self._schema = schema
        self._location = location
        self._identity = identity
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = False
        self._writes = 0
        self._durable_writes = 0
        self._unsynced = False

    # Opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        identity: LedgerIdentity,
        exclusive: bool = True,
        clock: Clock = _utc_now,
    ) -> PostgresLedger:
        """Open the ledger at ``url``, creating and stamping its schema if absent.

        An existing ledger must carry exactly ``identity``; anything else raises ``LedgerError``.
        ``exclusive`` (the default) holds an advisory lock on the schema until ``close()``: a second run,
        delta or rollback on the same ledger, from any machine, is refused instead of racing this one.
        """
        conninfo, schema = _split_url(url)
        location = postgres_location(url)
        conn = _connect(conninfo, location)
        try:
            if exclusive:
                _acquire_lease(conn, schema, location)
            _create_stamped(conn, schema, identity, check_aware(clock(), "the ledger clock's time"))
            found = _verify(conn, schema, location)
        except BaseException:
            conn.close()
            raise
        if found != identity:
            conn.close()
            mismatched = [
                name
                for name in ("migration_id", "location_id", "source_fingerprint")
                if getattr(found, name) != getattr(identity, name)
            ]
            raise LedgerError(
                f"the ledger at {location} belongs to another migration: "
                + ", ".join(
                    f"{n} is {getattr(found, n)!r}, expected {getattr(identity, n)!r}" for n in mismatched
                )
            )
        return cls(conn, schema, location, found, clock)

    @classmethod
    def open_existing(cls, url: str, *, exclusive: bool = False, clock: Clock = _utc_now) -> PostgresLedger:
        """Open the ledger already at ``url`` whatever migration it is; checks it all the same.

        Not exclusive by default: reports and ``reconcile`` may read while a run writes; pass
        ``exclusive=True`` for anything that writes.
        """
        conninfo, schema = _split_url(url)
        location = postgres_location(url)
        conn = _connect(conninfo, location)
        try:
            if not _has_meta(conn, schema):
                raise LedgerError(f"no ledger at {location}")
            if exclusive:
                _acquire_lease(conn, schema, location)
            identity = _verify(conn, schema, location)
        except BaseException:
            conn.close()
            raise
        return cls(conn, schema, location, identity, clock)

    @property
    def identity(self) -> LedgerIdentity:
        return self._identity

    @property
    def location(self) -> str:
        """Where the ledger is, for messages (no user, no password)."""
        return self._location

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def writes(self) -> int:
        """Write transactions committed through this connection (a measure for benchmarks and tests)."""
        return self._writes

    @property
    def durable_writes(self) -> int:
        """How many of ``writes`` were barriers (flushed by the server before returning)."""
        return self._durable_writes

    def close(self) -> None:
        """Make every write durable (a flushed commit when group commits are outstanding), then close the
        connection, which drops the lease."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._unsynced and not self._conn.closed:
                    # A synchronous commit waits for the WAL flush up to its own record, which comes after
                    # every earlier asynchronous commit.
                    with self._conn.transaction():
                        self._conn.execute("SELECT txid_current()")
            except Exception:  # noqa: S110 - the server is gone; closing must still close
                pass
            finally:
                self._conn.close()

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PostgresLedger(location={self._location!r}, migration_id={self._identity.migration_id!r})"

    @contextlib.contextmanager
    def _tx(self, *, write: bool, durable: bool = False) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """One transaction under the lock. ``durable`` makes the commit a barrier (``synchronous_commit``
        on, the server's default); other writes commit asynchronously (see the module docstring)."""
        import psycopg

        with self._lock:
            if self._closed:
                raise LedgerError(f"the ledger at {self._location} is closed")
            conn = self._conn
            try:
                with conn.transaction():
                    if write and not durable:
                        conn.execute("SET LOCAL synchronous_commit = off")
                    yield conn
                if write:
                    self._writes += 1
                    self._durable_writes += int(durable)
                    self._unsynced = not durable
            except psycopg.Error as exc:
                # The server's primary message names constraints and columns; the DETAIL line may quote
                # values (a key that already exists), so only the primary message is shown.
                primary = exc.diag.message_primary if exc.diag is not None else None
                raise LedgerError(
                    f"the ledger at {self._location} failed a {'write' if write else 'read'}: "
                    f"{exc.__class__.__name__}: {primary or 'the server gave no message'}"
                ) from exc

    def _now(self) -> datetime:
        return _must_utc(check_aware(self._clock(), "the ledger clock's time"))

    def _q(self, sql: str) -> str:
        """Name this ledger's schema in a statement (``{s}.table``): the schema is a checked identifier."""
        return sql.replace("{s}", self._schema)

    # Runs ------------------------------------------------------------------------------------------------

    def begin_run(self, mode: RunMode, *, run_id: str | None = None) -> Run:
        import psycopg

        mode = RunMode(mode)
        now = self._now()
        if run_id is None:
            stamp = now.isoformat()[:19].replace("-", "").replace(":", "")
            run_id = f"{mode.value}-{stamp}Z-{secrets.token_hex(4)}"
        check_key(run_id, "run_id")
        with self._tx(write=True, durable=True) as conn:
            try:
                with conn.transaction():  # a savepoint: the duplicate is reported, not the aborted tx
                    conn.execute(
                        self._q(
                            "INSERT INTO {s}.runs (run_id, mode, status, started_at) "
                            "VALUES (%s, %s, 'running', %s)"
                        ),
                        (run_id, mode.value, now),
                    )
            except psycopg.errors.UniqueViolation:
                raise LedgerError(f"run {run_id!r} already exists in the ledger") from None
            conn.execute(
                self._q(
                    "INSERT INTO {s}.attempts (run_id, attempt, status, started_at) "
                    "VALUES (%s, 1, 'running', %s)"
                ),
                (run_id, now),
            )
            return self._run_row(conn, run_id)

    def resume_run(self, run_id: str) -> Run:
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            run = self._run_row(conn, run_id)
            if run.status is RunStatus.COMPLETED:
                raise LedgerError(f"run {run_id!r} completed; start a new run instead of resuming it")
            conn.execute(
                self._q("UPDATE {s}.runs SET status = 'running', finished_at = NULL WHERE run_id = %s"),
                (run_id,),
            )
            # An attempt still "running" was killed before it could say how it ended: it stopped.
            conn.execute(
                self._q(
                    "UPDATE {s}.attempts SET status = 'stopped' WHERE run_id = %s AND status = 'running'"
                ),
                (run_id,),
            )
            conn.execute(
                self._q(
                    "INSERT INTO {s}.attempts (run_id, attempt, status, started_at) "
                    "SELECT %s, COALESCE(MAX(attempt), 0) + 1, 'running', %s FROM {s}.attempts "
                    "WHERE run_id = %s"
                ),
                (run_id, self._now(), run_id),
            )
            return self._run_row(conn, run_id)

    def finish_run(self, run_id: str, *, status: RunStatus) -> Run:
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise ConfigurationError("finish_run needs a final status, not 'running'")
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            now = self._now()
            conn.execute(
                self._q("UPDATE {s}.runs SET status = %s, finished_at = %s WHERE run_id = %s"),
                (status.value, now, run_id),
            )
            conn.execute(
                self._q(
                    "UPDATE {s}.attempts SET status = %s, ended_at = %s WHERE run_id = %s AND attempt = "
                    "(SELECT MAX(attempt) FROM {s}.attempts WHERE run_id = %s)"
                ),
                (status.value, now, run_id, run_id),
            )
            return self._run_row(conn, run_id)

    def run(self, run_id: str) -> Run | None:
        with self._tx(write=False) as conn:
            row = conn.execute(self._q("SELECT * FROM {s}.runs WHERE run_id = %s"), (run_id,)).fetchone()
        return None if row is None else run_from(row, _must_utc)

    def runs(self) -> list[Run]:
        with self._tx(write=False) as conn:
            rows = conn.execute(self._q("SELECT * FROM {s}.runs ORDER BY seq")).fetchall()
        return [run_from(row, _must_utc) for row in rows]

    def attempts(self) -> list[Attempt]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q(
                    "SELECT a.run_id, a.attempt, a.status, a.started_at, a.ended_at FROM {s}.attempts a "
                    "JOIN {s}.runs r ON r.run_id = a.run_id ORDER BY r.seq, a.attempt"
                )
            ).fetchall()
        return [attempt_from(row, _must_utc) for row in rows]

    def save_checkpoint(self, run_id: str, *, phase: str, cursor: str | None) -> None:
        check_key(phase, "phase")
        if cursor is not None:
            check_key(cursor, "cursor")
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            conn.execute(
                self._q("UPDATE {s}.runs SET phase = %s, cursor = %s, checkpoint_at = %s WHERE run_id = %s"),
                (phase, cursor, self._now(), run_id),
            )

    def _require_run(self, conn: psycopg.Connection[dict[str, Any]], run_id: str) -> None:
        if conn.execute(self._q("SELECT 1 FROM {s}.runs WHERE run_id = %s"), (run_id,)).fetchone() is None:
            raise LedgerError(f"run {run_id!r} is not in the ledger (begin_run first)")

    def _run_row(self, conn: psycopg.Connection[dict[str, Any]], run_id: str) -> Run:
        row = conn.execute(self._q("SELECT * FROM {s}.runs WHERE run_id = %s"), (run_id,)).fetchone()
        assert row is not None  # callers checked it exists in this transaction
        return run_from(row, _must_utc)

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
    ) -> LedgerRecord:
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
            sticky = _STICKY_SQL.format(t="records")
            conn.execute(
                self._q(
                    f"""
                INSERT INTO {{s}}.records AS records (kind, source_key, destination_id, content_hash, action,
                    outcome, reason, run_id, first_recorded_at, updated_at)
                VALUES (%(kind)s, %(source_key)s, %(destination_id)s, %(content_hash)s, %(action)s,
                        %(outcome)s, %(reason)s, %(run_id)s, %(now)s, %(now)s)
                ON CONFLICT (kind, source_key) DO UPDATE SET
                    destination_id = coalesce(excluded.destination_id, records.destination_id),
                    content_hash = coalesce(excluded.content_hash, records.content_hash),
                    action = CASE WHEN {sticky} THEN records.action ELSE excluded.action END,
                    outcome = CASE WHEN {sticky} THEN records.outcome ELSE excluded.outcome END,
                    reason = CASE WHEN {sticky} THEN records.reason ELSE excluded.reason END,
                    run_id = excluded.run_id,
                    updated_at = excluded.updated_at
                """  # noqa: S608 - the interpolated text is our own constant, values are bound
                ),
                params,
            )
            sticky = _STICKY_SQL.format(t="audit")
            conn.execute(
                self._q(
                    f"""
                INSERT INTO {{s}}.audit AS audit (run_id, kind, source_key, destination_id, action, outcome,
                    reason, at)
                VALUES (%(run_id)s, %(kind)s, %(source_key)s, %(destination_id)s, %(action)s, %(outcome)s,
                        %(reason)s, %(now)s)
                ON CONFLICT (run_id, kind, source_key) DO UPDATE SET
                    destination_id = coalesce(excluded.destination_id, audit.destination_id),
                    action = CASE WHEN {sticky} THEN audit.action ELSE excluded.action END,
                    outcome = CASE WHEN {sticky} THEN audit.outcome ELSE excluded.outcome END,
                    reason = CASE WHEN {sticky} THEN audit.reason ELSE excluded.reason END,
                    at = excluded.at
                """  # noqa: S608 - as above
                ),
                params,
            )
            row = conn.execute(
                self._q("SELECT * FROM {s}.records WHERE kind = %s AND source_key = %s"), (kind, source_key)
            ).fetchone()
        assert row is not None  # written in this transaction
        return record_from(row, _must_utc)

    def record(self, kind: str, source_key: str) -> LedgerRecord | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q("SELECT * FROM {s}.records WHERE kind = %s AND source_key = %s"), (kind, source_key)
            ).fetchone()
        return None if row is None else record_from(row, _must_utc)

    def records(self, kind: str | None = None) -> list[LedgerRecord]:
        with self._tx(write=False) as conn:
            # COLLATE "C": the same byte order as SQLite's, whatever the database's locale.
            if kind is None:
                rows = conn.execute(
                    self._q('SELECT * FROM {s}.records ORDER BY kind COLLATE "C", source_key COLLATE "C"')
                ).fetchall()
            else:
                rows = conn.execute(
                    self._q('SELECT * FROM {s}.records WHERE kind = %s ORDER BY source_key COLLATE "C"'),
                    (kind,),
                ).fetchall()
        return [record_from(row, _must_utc) for row in rows]

    def destination_of(self, kind: str, source_key: str) -> str | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q(
                    "SELECT destination_id FROM {s}.records WHERE kind = %s AND source_key = %s "
                    "AND destination_id IS NOT NULL"
                ),
                (kind, source_key),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    self._q(
                        "SELECT destination_id FROM {s}.intents WHERE kind = %s AND source_key = %s "
                        "AND status = 'completed' AND retired_at IS NULL ORDER BY intent_id DESC LIMIT 1"
                    ),
                    (kind, source_key),
                ).fetchone()
        return None if row is None else str(row["destination_id"])

    def owner_of(self, kind: str, destination_id: str) -> str | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q(
                    "SELECT source_key FROM {s}.records WHERE kind = %s AND destination_id = %s "
                    "ORDER BY first_recorded_at LIMIT 1"
                ),
                (kind, destination_id),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    self._q(
                        "SELECT source_key FROM {s}.intents WHERE kind = %s AND destination_id = %s "
                        "AND status = 'completed' AND retired_at IS NULL ORDER BY intent_id LIMIT 1"
                    ),
                    (kind, destination_id),
                ).fetchone()
        return None if row is None else str(row["source_key"])

    def audit_rows(self, *, run_id: str | None = None) -> list[AuditRow]:
        with self._tx(write=False) as conn:
            if run_id is None:
                rows = conn.execute(self._q("SELECT * FROM {s}.audit ORDER BY seq")).fetchall()
            else:
                rows = conn.execute(
                    self._q("SELECT * FROM {s}.audit WHERE run_id = %s ORDER BY seq"), (run_id,)
                ).fetchall()
        return [audit_row_from(row, _must_utc) for row in rows]

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
            row = conn.execute(
                self._q(
                    "INSERT INTO {s}.intents (run_id, kind, source_key, operation, parent_id, status, "
                    "begun_at, payload_lookup_json) VALUES (%s, %s, %s, %s, %s, 'pending', %s, %s) "
                    "RETURNING intent_id"
                ),
                (run_id, kind, source_key, operation, parent_id, self._now(), _json(lookup)),
            ).fetchone()
        assert row is not None  # RETURNING always answers
        return int(row["intent_id"])

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
                    "UPDATE {s}.intents SET status = 'completed', destination_id = %s, created = %s, "
                    "settled_at = %s WHERE intent_id = %s"
                ),
                (destination_id, created, now, intent_id),
            )
            if created:
                # DO NOTHING: one object reported created twice (a resumed lookup finding it) is one object.
                conn.execute(
                    self._q(
                        "INSERT INTO {s}.created_objects (kind, destination_id, parent_id, source_key, "
                        "run_id, intent_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
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
                    "UPDATE {s}.intents SET status = 'abandoned', reason = %s, settled_at = %s "
                    "WHERE intent_id = %s"
                ),
                (reason, self._now(), intent_id),
            )

    def pending_intents(self) -> list[PendingIntent]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q("SELECT * FROM {s}.intents WHERE status = 'pending' ORDER BY intent_id")
            ).fetchall()
        return [
            PendingIntent(
                intent_id=int(row["intent_id"]),
                run_id=row["run_id"],
                kind=row["kind"],
                source_key=row["source_key"],
                operation=row["operation"],
                parent_id=row["parent_id"],
                lookup=json.loads(row["payload_lookup_json"]),
                begun_at=_must_utc(row["begun_at"]),
            )
            for row in rows
        ]

    def _intent_row(self, conn: psycopg.Connection[dict[str, Any]], intent_id: int) -> dict[str, Any]:
        # FOR UPDATE: two settlements of one intent cannot interleave (another process reading is fine).
        row = conn.execute(
            self._q("SELECT * FROM {s}.intents WHERE intent_id = %s FOR UPDATE"), (intent_id,)
        ).fetchone()
        if row is None:
            raise LedgerError(f"intent {intent_id} is not in the ledger")
        return row

    # Rollback material -----------------------------------------------------------------------------------

    def save_pre_image(self, kind: str, destination_id: str, pre_image: object, *, run_id: str) -> bool:
        check_kind(kind)
        check_key(destination_id, "destination_id")
        try:
            payload = _json(pre_image)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"the pre-image of {kind} {destination_id} is not JSON-serialisable"
            ) from exc
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            ours = conn.execute(
                self._q("SELECT 1 FROM {s}.created_objects WHERE kind = %s AND destination_id = %s"),
                (kind, destination_id),
            ).fetchone()
            if ours is not None:
                return False
            cursor = conn.execute(
                self._q(
                    "INSERT INTO {s}.pre_images AS pre_images (kind, destination_id, run_id, saved_at, "
                    "payload_json) VALUES (%s, %s, %s, %s, %s) "
                    "ON CONFLICT (kind, destination_id) DO UPDATE SET run_id = excluded.run_id, "
                    "saved_at = excluded.saved_at, payload_json = excluded.payload_json, restored_at = NULL "
                    "WHERE pre_images.restored_at IS NOT NULL"
                ),
                (kind, destination_id, run_id, self._now(), payload),
            )
            return cursor.rowcount == 1

    def pre_images(self, *, include_restored: bool = False) -> list[PreImage]:
        where = "" if include_restored else "WHERE restored_at IS NULL "
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q(f"SELECT * FROM {{s}}.pre_images {where}ORDER BY seq DESC")  # noqa: S608
            ).fetchall()
        return [pre_image_from(row, _must_utc) for row in rows]

    def pre_image(self, kind: str, destination_id: str) -> PreImage | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q(
                    "SELECT * FROM {s}.pre_images WHERE kind = %s AND destination_id = %s "
                    "AND restored_at IS NULL"
                ),
                (kind, destination_id),
            ).fetchone()
        return None if row is None else pre_image_from(row, _must_utc)

    def mark_restored(self, kind: str, destination_id: str) -> None:
        with self._tx(write=True) as conn:
            now = self._now()
            cursor = conn.execute(
                self._q(
                    "UPDATE {s}.pre_images SET restored_at = coalesce(restored_at, %s) "
                    "WHERE kind = %s AND destination_id = %s"
                ),
                (now, kind, destination_id),
            )
            if cursor.rowcount == 0:
                raise LedgerError(f"no pre-image of {kind} {destination_id} in the ledger")
            self._forget_destination(conn, kind, destination_id, now)

    def created_objects(self, *, include_rolled_back: bool = False) -> list[CreatedObject]:
        where = "" if include_rolled_back else "WHERE rolled_back_at IS NULL "
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q(f"SELECT * FROM {{s}}.created_objects {where}ORDER BY seq DESC")  # noqa: S608
            ).fetchall()
        return [
            CreatedObject(
                seq=int(row["seq"]),
                kind=row["kind"],
                destination_id=row["destination_id"],
                parent_id=row["parent_id"],
                source_key=row["source_key"],
                run_id=row["run_id"],
                created_at=_must_utc(row["created_at"]),
                rolled_back_at=_utc(row["rolled_back_at"]),
            )
            for row in rows
        ]

    def mark_rolled_back(self, kind: str, destination_id: str) -> None:
        with self._tx(write=True) as conn:
            now = self._now()
            cursor = conn.execute(
                self._q(
                    "UPDATE {s}.created_objects SET rolled_back_at = coalesce(rolled_back_at, %s) "
                    "WHERE kind = %s AND destination_id = %s"
                ),
                (now, kind, destination_id),
            )
            if cursor.rowcount == 0:
                raise LedgerError(f"{kind} {destination_id} is not an object this migration created")
            self._forget_destination(conn, kind, destination_id, now)

    def _forget_destination(
        self, conn: psycopg.Connection[dict[str, Any]], kind: str, destination_id: str, now: datetime
    ) -> None:
        conn.execute(
            self._q("DELETE FROM {s}.records WHERE kind = %s AND destination_id = %s"), (kind, destination_id)
        )
        conn.execute(
            self._q(
                "UPDATE {s}.intents SET retired_at = coalesce(retired_at, %s) "
                "WHERE kind = %s AND destination_id = %s"
            ),
            (now, kind, destination_id),
        )

    # Watermark -------------------------------------------------------------------------------------------

    def set_watermark(
        self,
        *,
        run_id: str,
        source_as_of: datetime,
        hashes: Iterable[SourceHash] = (),
        removed: Iterable[tuple[str, str]] = (),
    ) -> Watermark:
        check_aware(source_as_of, "source_as_of")
        upserts = [
            (check_kind(h.kind), check_key(h.source_key, "source_key"), h.source_hash, run_id) for h in hashes
        ]
        deletes = list(removed)
        now = self._now()
        as_of = _must_utc(source_as_of)
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            with conn.cursor() as cur:
                if upserts:
                    cur.executemany(
                        self._q(
                            "INSERT INTO {s}.source_hashes (kind, source_key, source_hash, run_id) "
                            "VALUES (%s, %s, %s, %s) ON CONFLICT (kind, source_key) DO UPDATE SET "
                            "source_hash = excluded.source_hash, run_id = excluded.run_id"
                        ),
                        upserts,
                    )
                if deletes:
                    cur.executemany(
                        self._q("DELETE FROM {s}.source_hashes WHERE kind = %s AND source_key = %s"), deletes
                    )
            conn.execute(
                self._q("INSERT INTO {s}.watermarks (run_id, source_as_of, taken_at) VALUES (%s, %s, %s)"),
                (run_id, as_of, now),
            )
        return Watermark(source_as_of=as_of, taken_at=now, run_id=run_id)

    def watermark(self) -> Watermark | None:
        with self._tx(write=False) as conn:
            row = conn.execute(self._q("SELECT * FROM {s}.watermarks ORDER BY seq DESC LIMIT 1")).fetchone()
        if row is None:
            return None
        return Watermark(
            source_as_of=_must_utc(row["source_as_of"]),
            taken_at=_must_utc(row["taken_at"]),
            run_id=row["run_id"],
        )

    def source_hashes(self, kind: str) -> dict[str, str]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                self._q("SELECT source_key, source_hash FROM {s}.source_hashes WHERE kind = %s"), (kind,)
            ).fetchall()
        return {row["source_key"]: row["source_hash"] for row in rows}

    # Identity notes ------------------------------------------------------------------------------------

    def note(self, key: str) -> str | None:
        """A value the engine noted about this migration's identity (``practice_namespace``, ...)."""
        _check_note(key)
        with self._tx(write=False) as conn:
            row = conn.execute(
                self._q("SELECT value FROM {s}.meta WHERE key = %s"), (f"note.{key}",)
            ).fetchone()
        return None if row is None else str(row["value"])

    def set_note(self, key: str, value: str) -> None:
        """Note an identity value (durable: it decides what later runs may look up in HighLevel)."""
        _check_note(key)
        check_key(value, key)
        with self._tx(write=True, durable=True) as conn:
            self._set_meta(conn, [(f"note.{key}", value)])

    def _set_meta(self, conn: psycopg.Connection[dict[str, Any]], pairs: list[tuple[str, str]]) -> None:
        with conn.cursor() as cur:
            cur.executemany(
                self._q(
                    "INSERT INTO {s}.meta (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ),
                pairs,
            )

    # Plan approval ---------------------------------------------------------------------------------------

    def approve_plan(
        self, plan_hash: str, *, approved_by: str, forced_reason: str | None = None
    ) -> ApprovedPlan:
        check_key(plan_hash, "plan_hash")
        check_key(approved_by, "approved_by")
        now = self._now()
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
        return ApprovedPlan(
            plan_hash=plan_hash, approved_by=approved_by, approved_at=now, forced_reason=forced_reason
        )

    def approved_plan(self) -> ApprovedPlan | None:
        with self._tx(write=False) as conn:
            meta = _read_meta(conn, self._schema)
        if "approved_plan_hash" not in meta:
            return None
        return ApprovedPlan(
            plan_hash=meta["approved_plan_hash"],
            approved_by=meta["approved_by"],
            approved_at=datetime.fromisoformat(meta["approved_at"]),
            forced_reason=meta.get("approval_forced_reason") or None,
        )


# Helpers -------------------------------------------------------------------------------------------------


def _check_note(key: str) -> None:
    if key not in NOTE_KEYS:
        raise LedgerError(f"unknown ledger note {key!r}")


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _connect(conninfo: str, location: str) -> psycopg.Connection[dict[str, Any]]:
    try:
        import psycopg
        from psycopg.rows import dict_row
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "a PostgreSQL ledger needs psycopg: pip install 'dentrix-highlevel[fleet]'"
        ) from exc
    try:
        # autocommit: every statement runs inside an explicit conn.transaction(), nothing stays open.
        conn = psycopg.connect(conninfo, autocommit=True, row_factory=dict_row)
    except psycopg.Error as exc:
        # psycopg's connection messages name host and port, and may echo the user; never the password.
        raise LedgerError(
            f"cannot connect to the ledger at {location} ({exc.__class__.__name__}); check the server "
            "is running and the URL's host, port, user and database"
        ) from exc
    try:
        conn.execute("SET TIME ZONE 'UTC'")
    except psycopg.Error as exc:
        conn.close()
        raise LedgerError(f"cannot configure the ledger connection to {location}") from exc
    return conn


def _acquire_lease(conn: psycopg.Connection[dict[str, Any]], schema: str, location: str) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(%s) AS got", (_lock_key(schema),)).fetchone()
    if row is None or not row["got"]:
        raise LedgerError(
            f"the ledger at {location} is in use by another process (a run, delta or rollback of this "
            "migration is still going, here or on another machine); wait for it to finish or stop it first"
        )


def _has_meta(conn: psycopg.Connection[dict[str, Any]], schema: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) AS t", (f"{schema}.meta",)).fetchone()
    return row is not None and row["t"] is not None


def _create_stamped(
    conn: psycopg.Connection[dict[str, Any]], schema: str, identity: LedgerIdentity, now: datetime
) -> None:
    """Create and stamp the schema's tables in one transaction unless a ledger (or anything) is there."""
    import psycopg

    if _has_meta(conn, schema):
        return
    try:
        with conn.transaction():
            # Two processes creating the same ledger at once: the second waits, then finds the first's.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema) ^ 1,))
            if _has_meta(conn, schema):
                return
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            for statement in _schema_sql(schema):
                conn.execute(statement)  # our own constant DDL
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO {schema}.meta (key, value) VALUES (%s, %s)",  # noqa: S608
                    [
                        ("application", APPLICATION),
                        ("format_version", str(LEDGER_FORMAT_VERSION)),
                        ("migration_id", identity.migration_id),
                        ("location_id", identity.location_id),
                        ("source_fingerprint", identity.source_fingerprint),
                        ("created_at", _must_utc(now).isoformat(timespec="microseconds")),
                    ],
                )
    except psycopg.Error as exc:
        primary = exc.diag.message_primary if exc.diag is not None else None
        raise LedgerError(
            f"cannot create the ledger in schema {schema} ({exc.__class__.__name__}: {primary}); the "
            "user needs CREATE on the database, or an administrator creates the schema for it"
        ) from exc


def _read_meta(conn: psycopg.Connection[dict[str, Any]], schema: str) -> dict[str, str]:
    rows = conn.execute(f"SELECT key, value FROM {schema}.meta").fetchall()  # noqa: S608
    return {str(row["key"]): str(row["value"]) for row in rows}


def _verify(conn: psycopg.Connection[dict[str, Any]], schema: str, location: str) -> LedgerIdentity:
    """Refuse anything we did not write or that is not this format. Raises LedgerError."""
    import psycopg

    try:
        meta = _read_meta(conn, schema)
    except psycopg.Error as exc:
        raise LedgerError(f"{location} is not a dentrix-highlevel ledger (no readable meta table)") from exc
    if meta.get("application") != APPLICATION:
        raise LedgerError(f"{location} is not a dentrix-highlevel ledger (its meta table is someone else's)")
    version_text = meta.get("format_version", "")
    if not version_text.isdigit():
        raise LedgerError(f"the ledger at {location} has unknown format version {version_text!r}")
    version = int(version_text)
    if version > LEDGER_FORMAT_VERSION:
        raise LedgerError(
            f"the ledger at {location} has format version {version}, newer than this dentrix-highlevel "
            f"understands ({LEDGER_FORMAT_VERSION}): upgrade dentrix-highlevel to continue this migration"
        )
    if version != LEDGER_FORMAT_VERSION:
        raise LedgerError(f"the ledger at {location} has unknown format version {version}")
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise LedgerError(f"the ledger at {location} is incomplete: meta lacks {', '.join(missing)}")
    try:
        return LedgerIdentity(
            migration_id=meta["migration_id"],
            location_id=meta["location_id"],
            source_fingerprint=meta["source_fingerprint"],
        )
    except ConfigurationError as exc:
        raise LedgerError(f"the ledger at {location} has an invalid identity in its meta table") from exc
