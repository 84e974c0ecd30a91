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
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from dentrix_highlevel._errors import ConfigurationError, LedgerError
from dentrix_highlevel.migration._state import store
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import LedgerIdentity, RunMode, RunStatus, check_aware
from dentrix_highlevel.migration._state.store import LEDGER_FORMAT_VERSION, Clock, Dialect, SqlStore

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "DEFAULT_SCHEMA",
    "PostgresLedger",
    "check_ledger_url",
    "is_postgres_url",
    "postgres_location",
    "with_schema",
]

DEFAULT_SCHEMA = "dentrix_highlevel"
#: What the ``meta`` table says about whose schema it is (the SQLite store's ``application_id``).
APPLICATION = "dentrix-highlevel-ledger"
_SCHEMA_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_URL_SCHEMES = ("postgresql", "postgres")
_CONNECT_TIMEOUT_S = 10


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
PAYLOAD_COLUMNS = store.PAYLOAD_COLUMNS

_META_KEYS = ("application", "format_version", "migration_id", "location_id", "source_fingerprint")


def is_postgres_url(value: object) -> bool:
    """Whether ``value`` names a PostgreSQL ledger (``postgresql://`` or ``postgres://``)."""
    return isinstance(value, str) and value.split("://", 1)[0].lower() in _URL_SCHEMES and "://" in value


def check_ledger_url(url: str | None) -> None:
    """A ``ledger_url`` argument is None (the SQLite ledger in the work directory) or a PostgreSQL URL."""
    if url is not None and not is_postgres_url(url):
        raise ConfigurationError("ledger_url must be a postgresql:// URL (leave it out for SQLite)")


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


def _must_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class PostgresLedger(SqlStore["psycopg.Connection[dict[str, Any]]"]):
    """The PostgreSQL ``Ledger``. Open it with ``PostgresLedger.open(url, identity=...)``; close it (or use
    it as a context manager) when done."""

    __slots__ = ("_location", "_schema")

    # COLLATE "C": the same byte order as SQLite's, whatever the database's locale. FOR UPDATE: two
    # settlements of one intent cannot interleave (another process reading is fine).
    _DIALECT = Dialect(
        positional="%s", named="%({})s", run_order="seq", collate=' COLLATE "C"', for_update=" FOR UPDATE"
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
        super().__init__(conn, identity, clock, tables=f"{schema}.")
        self._schema = schema
        self._location = location

    @property
    def schema(self) -> str:
        return self._schema

    # Opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        *,
        identity: LedgerIdentity,
        exclusive: bool = True,
        clock: Clock = store.utc_now,
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
            raise store.identity_mismatch(found, identity, location)
        return cls(conn, schema, location, found, clock)

    @classmethod
    def open_existing(
        cls, url: str, *, exclusive: bool = False, clock: Clock = store.utc_now
    ) -> PostgresLedger:
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

    @property
    def location(self) -> str:
        """Where the ledger is, for messages (no user, no password)."""
        return self._location

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
                    self._commit_written(durable=durable)
            except psycopg.Error as exc:
                # The server's primary message names constraints and columns; the DETAIL line may quote
                # values (a key that already exists), so only the primary message is shown.
                primary = exc.diag.message_primary if exc.diag is not None else None
                raise LedgerError(
                    f"the ledger at {self._location} failed a {'write' if write else 'read'}: "
                    f"{exc.__class__.__name__}: {primary or 'the server gave no message'}"
                ) from exc

    # The dialect's own side of the shared methods ---------------------------------------------------------

    def _stamp(self, value: datetime) -> datetime:
        return _must_utc(value)

    def _when(self, value: Any) -> datetime:
        return _must_utc(value)

    def _insert_intent(
        self, conn: psycopg.Connection[dict[str, Any]], sql: str, params: Sequence[object]
    ) -> int:
        row = conn.execute(f"{sql} RETURNING intent_id", params).fetchone()
        assert row is not None  # RETURNING always answers
        return int(row["intent_id"])

    def _insert_new(
        self, conn: psycopg.Connection[dict[str, Any]], sql: str, params: Sequence[object]
    ) -> bool:
        import psycopg

        try:
            with conn.transaction():  # a savepoint: the duplicate is reported, not the aborted tx
                conn.execute(sql, params)
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def _many(
        self, conn: psycopg.Connection[dict[str, Any]], sql: str, rows: Sequence[Sequence[object]]
    ) -> None:
        with conn.cursor() as cur:
            cur.executemany(sql, rows)


# Helpers -------------------------------------------------------------------------------------------------


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


def _verify(conn: psycopg.Connection[dict[str, Any]], schema: str, location: str) -> LedgerIdentity:
    """Refuse anything we did not write or that is not this format. Raises LedgerError."""
    import psycopg

    try:
        meta = store.read_meta(conn, f"{schema}.meta")
    except psycopg.Error as exc:
        raise LedgerError(f"{location} is not a dentrix-highlevel ledger (no readable meta table)") from exc
    if meta.get("application") != APPLICATION:
        raise LedgerError(f"{location} is not a dentrix-highlevel ledger (its meta table is someone else's)")
    version_text = meta.get("format_version", "")
    if not version_text.isdigit():
        raise LedgerError(f"the ledger at {location} has unknown format version {version_text!r}")
    store.check_format_version(int(version_text), location)
    store.check_complete(meta, _META_KEYS, location)
    return store.identity_from_meta(meta, location)
