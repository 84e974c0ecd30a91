"""The default ledger: one SQLite file in the migration's work directory.

Durability choices, and why:

* ``journal_mode=WAL`` so a reader (a report, ``reconcile``) never blocks the run, and a commit is one
  append to the WAL instead of a rollback journal dance.
* Group commit (the durability contract in ``ledger``): the connection runs ``synchronous=NORMAL``, so an
  outcome write (``record_result``, ``complete_intent``, a checkpoint ...) is a WAL append without an
  fsync. A killed *process* loses none of them (the WAL is in the OS cache); a power cut or kernel panic
  may lose the ones since the last barrier. A *barrier* write (``begin_intent``, ``save_pre_image``, run
  start/finish, watermark, approval) commits with ``synchronous=FULL``: that fsyncs the WAL, and since the
  WAL is append-only it makes every earlier commit durable with it (what survives a power cut is always a
  prefix of the commits). ``close()`` fsyncs the WAL too. Measured on the benchmark machine:
  ``record_result`` ~670/s with an fsync per commit, ~3,500/s group-committed. The fsync that guards
  against duplicates is one per *batch* of creates: ``begin_intents`` commits the intents of every task
  waiting at that moment in one transaction with one fsync (the engine's ``batch`` gathers them),
  and each caller sends its create only after that commit returned, so an intent is still on disk before
  its request leaves.
* Every write is one short ``BEGIN IMMEDIATE`` ... ``COMMIT``; nothing is held open across a request, so a
  kill -9 at any instant leaves the file at a commit boundary.
* ``foreign_keys=ON``: every row names a run that exists; an intent's settlement names an intent.
* One connection per ledger, guarded by a lock, ``check_same_thread=False``: the async engine calls the
  methods from anyio worker threads, one batch of calls per hop (``batch``), one at a time.
* One writing process per work directory: ``open()`` holds an ``flock`` on ``ledger.sqlite3.lock`` until
  ``close()`` (the OS releases it when the process dies), so two runs cannot interleave their intents.

Identity: the file carries ``PRAGMA application_id`` (``DHLG``) and ``user_version`` (the format), and a
``meta`` table with the format version, migration id, location id and source fingerprint. A new ledger is
built in a temporary file and linked into place, so the path only ever holds a fully stamped ledger.
Anything else at the path (not SQLite, not ours, newer format, another migration/location/source, or
failing ``PRAGMA quick_check``) is refused with ``LedgerError``: a ledger we cannot trust would make a
resume create duplicates or a rollback delete the wrong objects.

Files: the directory is made 0o700 and the file 0o600 before any data is written (SQLite gives its -wal and
-shm files the database file's mode; the lock file is 0o600 too). Pre-images and intent lookups hold
patient values; every other column holds ids, hashes, enum values, times and reasons (``PAYLOAD_COLUMNS``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from dentrix_highlevel._errors import ConfigurationError, LedgerError
from dentrix_highlevel._private_files import ensure_private_dir
from dentrix_highlevel.migration._state.audit import AuditRow, RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.batch import IntentRequest
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

if sys.platform != "win32":
    import fcntl

__all__ = ["LEDGER_FILENAME", "LEDGER_FORMAT_VERSION", "SqliteLedger"]

LEDGER_FILENAME = "ledger.sqlite3"
LEDGER_FORMAT_VERSION = 1
# "DHLG" as a big-endian 32-bit integer; `file` and the sqlite3 shell show it.
APPLICATION_ID = 0x44484C47
_BUSY_TIMEOUT_MS = 10_000
# Outcome writes are group-committed: WAL appends, fsynced by the next barrier (see the module docstring).
_GROUP_SYNCHRONOUS = "NORMAL"

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Added after format 1 shipped: additive, so the format stays 1; a ledger without it gets it (filled from
# ``runs``, one attempt per run) at its next begin or resume, and reads of it fall back to the same.
_ATTEMPTS_TABLE = """CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    PRIMARY KEY (run_id, attempt)
) WITHOUT ROWID;"""

_SCHEMA = f"""
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL CHECK (mode IN ({", ".join(repr(m.value) for m in RunMode)})),
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s.value) for s in RunStatus)})),
    started_at TEXT NOT NULL,
    finished_at TEXT,
    phase TEXT,
    cursor TEXT,
    checkpoint_at TEXT
);

{_ATTEMPTS_TABLE}

CREATE TABLE records (
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    destination_id TEXT,
    content_hash TEXT,
    action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a.value) for a in RecordAction)})),
    outcome TEXT NOT NULL CHECK (outcome IN ({", ".join(repr(o.value) for o in RecordOutcome)})),
    reason TEXT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    first_recorded_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, source_key)
);
CREATE INDEX records_by_destination ON records (kind, destination_id) WHERE destination_id IS NOT NULL;

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    destination_id TEXT,
    action TEXT NOT NULL CHECK (action IN ({", ".join(repr(a.value) for a in RecordAction)})),
    outcome TEXT NOT NULL CHECK (outcome IN ({", ".join(repr(o.value) for o in RecordOutcome)})),
    reason TEXT,
    at TEXT NOT NULL,
    UNIQUE (run_id, kind, source_key)
);

CREATE TABLE intents (
    intent_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    parent_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'completed', 'abandoned')),
    destination_id TEXT,
    created INTEGER CHECK (created IN (0, 1)),
    reason TEXT,
    begun_at TEXT NOT NULL,
    settled_at TEXT,
    -- Set when rollback deleted or restored the object: the intent no longer says where a record lives.
    retired_at TEXT,
    -- Lookup values (e-mail, phone, source id) put on the object to find it again: may be PHI.
    payload_lookup_json TEXT NOT NULL
);
CREATE INDEX intents_pending ON intents (intent_id) WHERE status = 'pending';
CREATE INDEX intents_by_destination ON intents (kind, destination_id) WHERE destination_id IS NOT NULL;
CREATE INDEX intents_by_source ON intents (kind, source_key);

CREATE TABLE created_objects (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    parent_id TEXT,
    source_key TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    intent_id INTEGER REFERENCES intents (intent_id),
    created_at TEXT NOT NULL,
    rolled_back_at TEXT,
    UNIQUE (kind, destination_id)
);

CREATE TABLE pre_images (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    destination_id TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    saved_at TEXT NOT NULL,
    restored_at TEXT,
    -- The object as HighLevel returned it before our first change: patient values.
    payload_json TEXT NOT NULL,
    UNIQUE (kind, destination_id)
);

CREATE TABLE watermarks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    source_as_of TEXT NOT NULL,
    taken_at TEXT NOT NULL
);

CREATE TABLE source_hashes (
    kind TEXT NOT NULL,
    source_key TEXT NOT NULL,
    source_hash TEXT NOT NULL,
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    PRIMARY KEY (kind, source_key)
) WITHOUT ROWID;
"""

# Columns allowed to hold patient values: everything else is ids, hashes, enums, times and reasons.
PAYLOAD_COLUMNS: frozenset[tuple[str, str]] = frozenset(
    {("intents", "payload_lookup_json"), ("pre_images", "payload_json")}
)

_META_KEYS = ("format_version", "migration_id", "location_id", "source_fingerprint", "created_at")

# Within one run a record keeps its strongest action: CREATED over UPDATED and UNCHANGED, UPDATED over
# UNCHANGED (a resumed run re-seeing its own write); see Ledger.record_result.
_STICKY_SQL = (
    "{t}.run_id = excluded.run_id AND ("
    "({t}.action = 'created' AND excluded.action IN ('updated', 'unchanged')) OR "
    "({t}.action = 'updated' AND excluded.action = 'unchanged'))"
)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _dt_or_none(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class SqliteLedger:
    """The SQLite ``Ledger``. Open it with ``SqliteLedger.open(workdir, identity=...)``; close it (or use
    it as a context manager) when done."""

    __slots__ = (
        "_clock",
        "_closed",
        "_conn",
        "_durable_writes",
        "_identity",
        "_lock",
        "_path",
        "_process_lock_fd",
        "_unsynced",
        "_writes",
    )

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        identity: LedgerIdentity,
        clock: Clock,
        process_lock_fd: int | None = None,
    ) -> None:
        # Use open() / open_existing(): they check the file before handing out a ledger.
        self._conn = conn
        self._path = path
        self._identity = identity
        self._clock = clock
        self._process_lock_fd = process_lock_fd
        self._lock = threading.Lock()
        self._closed = False
        self._writes = 0
        self._durable_writes = 0
        self._unsynced = False

    # Opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        workdir: Path | str,
        *,
        identity: LedgerIdentity,
        exclusive: bool = True,
        clock: Clock = _utc_now,
    ) -> SqliteLedger:
        """Open the ledger in ``workdir`` (created 0o700 if missing), creating and stamping it if absent.

        An existing ledger must carry exactly ``identity``; anything else raises ``LedgerError``.
        ``exclusive`` (the default) holds an OS lock on ``ledger.sqlite3.lock`` until ``close()``: a second
        run, delta or rollback on the same work directory is refused instead of racing this one. The OS
        drops the lock when the process dies, so a killed run never blocks its resume.
        """
        directory = Path(workdir)
        ensure_private_dir(directory)  # it holds pre-images (patient values)
        path = directory / LEDGER_FILENAME
        lock_fd = _acquire_process_lock(path) if exclusive else None
        try:
            if not path.exists():
                _create_stamped(path, identity, clock())
            ledger = cls._open_checked(path, clock, lock_fd)
        except BaseException:
            _release_process_lock(lock_fd)
            raise
        if ledger.identity != identity:
            found = ledger.identity
            ledger.close()
            mismatched = [
                name
                for name in ("migration_id", "location_id", "source_fingerprint")
                if getattr(found, name) != getattr(identity, name)
            ]
            raise LedgerError(
                f"the ledger at {path} belongs to another migration: "
                + ", ".join(
                    f"{n} is {getattr(found, n)!r}, expected {getattr(identity, n)!r}" for n in mismatched
                )
            )
        return ledger

    @classmethod
    def open_existing(
        cls, workdir: Path | str, *, exclusive: bool = False, clock: Clock = _utc_now
    ) -> SqliteLedger:
        """Open the ledger already in ``workdir`` whatever migration it is; checks it all the same.

        ``ledger.identity`` says whose it is. Not exclusive by default: reports and ``reconcile`` may read
        while a run writes (WAL); pass ``exclusive=True`` for anything that writes.
        """
        path = Path(workdir) / LEDGER_FILENAME
        if not path.is_file():
            raise LedgerError(f"no ledger at {path}")
        lock_fd = _acquire_process_lock(path) if exclusive else None
        try:
            return cls._open_checked(path, clock, lock_fd)
        except BaseException:
            _release_process_lock(lock_fd)
            raise

    @classmethod
    def _open_checked(cls, path: Path, clock: Clock, lock_fd: int | None) -> SqliteLedger:
        _check_header(path)
        conn = _connect(path)
        try:
            identity = _verify(conn, path)
            _configure(conn)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise LedgerError(_why_unopenable(path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, path, identity, clock, lock_fd)

    @property
    def identity(self) -> LedgerIdentity:
        return self._identity

    @property
    def path(self) -> Path:
        return self._path

    @property
    def writes(self) -> int:
        """Write transactions committed through this connection (a measure for benchmarks and tests)."""
        return self._writes

    @property
    def durable_writes(self) -> int:
        """How many of ``writes`` were barriers (fsynced before returning); see the module docstring."""
        return self._durable_writes

    def close(self) -> None:
        """Make every write durable (fsync the WAL), then close the connection and drop the process lock."""
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    if self._unsynced:
                        # Group-committed writes since the last barrier are in the OS cache only; a reader
                        # in another process would keep the WAL from being checkpointed on close.
                        _fsync_file(self._path.with_name(self._path.name + "-wal"))
                finally:
                    self._conn.close()
                    _release_process_lock(self._process_lock_fd)

    def __enter__(self) -> SqliteLedger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteLedger(path={str(self._path)!r}, migration_id={self._identity.migration_id!r})"

    @contextlib.contextmanager
    def _tx(self, *, write: bool, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock. Writes take the write lock up front (IMMEDIATE) so they never
        fail half-way on a busy upgrade. ``durable`` makes the commit a barrier: it fsyncs the WAL, so this
        write and every one before it survive a power cut (see the module docstring)."""
        with self._lock:
            if self._closed:
                raise LedgerError(f"the ledger at {self._path} is closed")
            conn = self._conn
            try:
                if durable:
                    # Per connection and outside a transaction: this one commit syncs, the next ones do not.
                    conn.execute("PRAGMA synchronous = FULL")
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield conn
                conn.commit()
                if write:
                    self._writes += 1
                    self._durable_writes += int(durable)
                    self._unsynced = not durable
            except BaseException as exc:
                if conn.in_transaction:
                    conn.rollback()
                if isinstance(exc, sqlite3.Error):
                    # SQLite's messages name constraints and columns, never bound values: safe to show.
                    raise LedgerError(
                        f"the ledger at {self._path} failed a {'write' if write else 'read'}: "
                        f"{exc.__class__.__name__}: {exc}"
                    ) from exc
                raise
            finally:
                if durable:
                    conn.execute(f"PRAGMA synchronous = {_GROUP_SYNCHRONOUS}")

    def _now(self) -> str:
        return _ts(check_aware(self._clock(), "the ledger clock's time"))

    # Runs ------------------------------------------------------------------------------------------------

    def begin_run(self, mode: RunMode, *, run_id: str | None = None) -> Run:
        mode = RunMode(mode)
        now = self._now()
        if run_id is None:
            stamp = now[:19].replace("-", "").replace(":", "")
            run_id = f"{mode.value}-{stamp}Z-{secrets.token_hex(4)}"
        check_key(run_id, "run_id")
        with self._tx(write=True, durable=True) as conn:
            try:
                conn.execute(
                    "INSERT INTO runs (run_id, mode, status, started_at) VALUES (?, ?, 'running', ?)",
                    (run_id, mode.value, now),
                )
            except sqlite3.IntegrityError:
                raise LedgerError(f"run {run_id!r} already exists in the ledger") from None
            self._ensure_attempts(conn, but=run_id)
            conn.execute(
                "INSERT INTO attempts (run_id, attempt, status, started_at) VALUES (?, 1, 'running', ?)",
                (run_id, now),
            )
            return self._run_row(conn, run_id)

    def resume_run(self, run_id: str) -> Run:
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            run = self._run_row(conn, run_id)
            if run.status is RunStatus.COMPLETED:
                raise LedgerError(f"run {run_id!r} completed; start a new run instead of resuming it")
            self._ensure_attempts(conn)  # before the update: an old ledger's attempt keeps its status
            conn.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE run_id = ?", (run_id,))
            # An attempt still "running" was killed before it could say how it ended: it stopped.
            conn.execute(
                "UPDATE attempts SET status = 'stopped' WHERE run_id = ? AND status = 'running'", (run_id,)
            )
            (last,) = conn.execute(
                "SELECT COALESCE(MAX(attempt), 0) FROM attempts WHERE run_id = ?", (run_id,)
            ).fetchone()
            conn.execute(
                "INSERT INTO attempts (run_id, attempt, status, started_at) VALUES (?, ?, 'running', ?)",
                (run_id, last + 1, self._now()),
            )
            return self._run_row(conn, run_id)

    @staticmethod
    def _ensure_attempts(conn: sqlite3.Connection, *, but: str | None = None) -> None:
        """The attempts table, made and filled from ``runs`` in a ledger written before it existed."""
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'").fetchone():
            return
        conn.execute(_ATTEMPTS_TABLE)
        conn.execute(
            "INSERT INTO attempts (run_id, attempt, status, started_at, ended_at) "
            "SELECT run_id, 1, status, started_at, finished_at FROM runs WHERE run_id IS NOT ?",
            (but,),
        )

    def attempts(self) -> list[Attempt]:
        with self._tx(write=False) as conn:
            if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'"
            ).fetchone():
                rows = conn.execute(
                    "SELECT a.run_id, a.attempt, a.status, a.started_at, a.ended_at FROM attempts a "
                    "JOIN runs r ON r.run_id = a.run_id ORDER BY r.rowid, a.attempt"
                ).fetchall()
            else:  # a ledger older than the table, opened only to read: one attempt per run
                rows = conn.execute(
                    "SELECT run_id, 1 AS attempt, status, started_at, finished_at AS ended_at FROM runs "
                    "ORDER BY rowid"
                ).fetchall()
        return [attempt_from(row, _dt) for row in rows]

    def finish_run(self, run_id: str, *, status: RunStatus) -> Run:
        status = RunStatus(status)
        if status is RunStatus.RUNNING:
            raise ConfigurationError("finish_run needs a final status, not 'running'")
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            now = self._now()
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?",
                (status.value, now, run_id),
            )
            self._ensure_attempts(conn)
            conn.execute(
                "UPDATE attempts SET status = ?, ended_at = ? WHERE run_id = ? AND attempt = "
                "(SELECT MAX(attempt) FROM attempts WHERE run_id = ?)",
                (status.value, now, run_id, run_id),
            )
            return self._run_row(conn, run_id)

    def run(self, run_id: str) -> Run | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else run_from(row, _dt)

    def runs(self) -> list[Run]:
        with self._tx(write=False) as conn:
            rows = conn.execute("SELECT * FROM runs ORDER BY rowid").fetchall()
        return [run_from(row, _dt) for row in rows]

    def save_checkpoint(self, run_id: str, *, phase: str, cursor: str | None) -> None:
        check_key(phase, "phase")
        if cursor is not None:
            check_key(cursor, "cursor")
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            conn.execute(
                "UPDATE runs SET phase = ?, cursor = ?, checkpoint_at = ? WHERE run_id = ?",
                (phase, cursor, self._now(), run_id),
            )

    def _require_run(self, conn: sqlite3.Connection, run_id: str) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
            raise LedgerError(f"run {run_id!r} is not in the ledger (begin_run first)")

    def _run_row(self, conn: sqlite3.Connection, run_id: str) -> Run:
        return run_from(conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone(), _dt)

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
        now = self._now()
        params = {
            "run_id": run_id,
            "kind": kind,
            "source_key": source_key,
            "destination_id": destination_id,
            "content_hash": content_hash,
            "action": action.value,
            "outcome": outcome.value,
            "reason": reason,
            "now": now,
        }
        with self._tx(write=True) as conn:
            self._require_run(conn, run_id)
            sticky = _STICKY_SQL.format(t="records")
            # A failed or skipped retry must not forget where the object is or what it last held.
            conn.execute(
                f"""
                INSERT INTO records (kind, source_key, destination_id, content_hash, action, outcome, reason,
                                     run_id, first_recorded_at, updated_at)
                VALUES (:kind, :source_key, :destination_id, :content_hash, :action, :outcome, :reason,
                        :run_id, :now, :now)
                ON CONFLICT (kind, source_key) DO UPDATE SET
                    destination_id = coalesce(excluded.destination_id, records.destination_id),
                    content_hash = coalesce(excluded.content_hash, records.content_hash),
                    action = CASE WHEN {sticky} THEN records.action ELSE excluded.action END,
                    outcome = CASE WHEN {sticky} THEN records.outcome ELSE excluded.outcome END,
                    reason = CASE WHEN {sticky} THEN records.reason ELSE excluded.reason END,
                    run_id = excluded.run_id,
                    updated_at = excluded.updated_at
                """,  # noqa: S608 - the interpolated text is our own constant, values are bound
                params,
            )
            sticky = _STICKY_SQL.format(t="audit")
            conn.execute(
                f"""
                INSERT INTO audit (run_id, kind, source_key, destination_id, action, outcome, reason, at)
                VALUES (:run_id, :kind, :source_key, :destination_id, :action, :outcome, :reason, :now)
                ON CONFLICT (run_id, kind, source_key) DO UPDATE SET
                    destination_id = coalesce(excluded.destination_id, audit.destination_id),
                    action = CASE WHEN {sticky} THEN audit.action ELSE excluded.action END,
                    outcome = CASE WHEN {sticky} THEN audit.outcome ELSE excluded.outcome END,
                    reason = CASE WHEN {sticky} THEN audit.reason ELSE excluded.reason END,
                    at = excluded.at
                """,  # noqa: S608 - as above
                params,
            )
            row = conn.execute(
                "SELECT * FROM records WHERE kind = ? AND source_key = ?", (kind, source_key)
            ).fetchone()
        return record_from(row, _dt)

    def record(self, kind: str, source_key: str) -> LedgerRecord | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT * FROM records WHERE kind = ? AND source_key = ?", (kind, source_key)
            ).fetchone()
        return None if row is None else record_from(row, _dt)

    def records(self, kind: str | None = None) -> list[LedgerRecord]:
        with self._tx(write=False) as conn:
            if kind is None:
                rows = conn.execute("SELECT * FROM records ORDER BY kind, source_key").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM records WHERE kind = ? ORDER BY source_key", (kind,)
                ).fetchall()
        return [record_from(row, _dt) for row in rows]

    def destination_of(self, kind: str, source_key: str) -> str | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT destination_id FROM records WHERE kind = ? AND source_key = ? "
                "AND destination_id IS NOT NULL",
                (kind, source_key),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT destination_id FROM intents WHERE kind = ? AND source_key = ? "
                    "AND status = 'completed' AND retired_at IS NULL ORDER BY intent_id DESC LIMIT 1",
                    (kind, source_key),
                ).fetchone()
        return None if row is None else str(row["destination_id"])

    def owner_of(self, kind: str, destination_id: str) -> str | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT source_key FROM records WHERE kind = ? AND destination_id = ? "
                "ORDER BY first_recorded_at LIMIT 1",
                (kind, destination_id),
            ).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT source_key FROM intents WHERE kind = ? AND destination_id = ? "
                    "AND status = 'completed' AND retired_at IS NULL ORDER BY intent_id LIMIT 1",
                    (kind, destination_id),
                ).fetchone()
        return None if row is None else str(row["source_key"])

    def audit_rows(self, *, run_id: str | None = None) -> list[AuditRow]:
        with self._tx(write=False) as conn:
            if run_id is None:
                rows = conn.execute("SELECT * FROM audit ORDER BY seq").fetchall()
            else:
                rows = conn.execute("SELECT * FROM audit WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        return [audit_row_from(row, _dt) for row in rows]

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
            cursor = conn.execute(
                "INSERT INTO intents (run_id, kind, source_key, operation, parent_id, status, begun_at, "
                "payload_lookup_json) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, kind, source_key, operation, parent_id, self._now(), _json(lookup)),
            )
            intent_id = cursor.lastrowid
        assert intent_id is not None  # an INSERT into a rowid table always sets it
        return intent_id

    def begin_intents(self, requests: Sequence[IntentRequest]) -> list[int]:
        """:meth:`begin_intent` for many creates in one transaction and one fsync (a group commit).

        All or nothing: when one request is refused, none is recorded (the caller may retry them one by
        one). Every returned id is durable, as with :meth:`begin_intent`.
        """
        rows = []
        for r in requests:
            check_kind(r.kind)
            check_key(r.source_key, "source_key")
            check_key(r.operation, "operation")
            if r.parent_id is not None:
                check_key(r.parent_id, "parent_id")
            lookup = dict(r.lookup_keys)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in lookup.items()):
                raise ConfigurationError("lookup_keys must map names to strings")
            rows.append((r.run_id, r.kind, r.source_key, r.operation, r.parent_id, _json(lookup)))
        ids: list[int] = []
        with self._tx(write=True, durable=True) as conn:
            now = self._now()
            for run_id in {row[0] for row in rows}:
                self._require_run(conn, run_id)
            for run_id, kind, source_key, operation, parent_id, lookup_json in rows:
                cursor = conn.execute(
                    "INSERT INTO intents (run_id, kind, source_key, operation, parent_id, status, begun_at, "
                    "payload_lookup_json) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (run_id, kind, source_key, operation, parent_id, now, lookup_json),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
        return ids

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
                "UPDATE intents SET status = 'completed', destination_id = ?, created = ?, settled_at = ? "
                "WHERE intent_id = ?",
                (destination_id, int(created), now, intent_id),
            )
            if created:
                # OR IGNORE: one object reported created twice (a resumed lookup finding it) is one object.
                conn.execute(
                    "INSERT OR IGNORE INTO created_objects (kind, destination_id, parent_id, source_key, "
                    "run_id, intent_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
                "UPDATE intents SET status = 'abandoned', reason = ?, settled_at = ? WHERE intent_id = ?",
                (reason, self._now(), intent_id),
            )

    def pending_intents(self) -> list[PendingIntent]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT * FROM intents WHERE status = 'pending' ORDER BY intent_id"
            ).fetchall()
        return [
            PendingIntent(
                intent_id=row["intent_id"],
                run_id=row["run_id"],
                kind=row["kind"],
                source_key=row["source_key"],
                operation=row["operation"],
                parent_id=row["parent_id"],
                lookup=json.loads(row["payload_lookup_json"]),
                begun_at=_dt(row["begun_at"]),
            )
            for row in rows
        ]

    def _intent_row(self, conn: sqlite3.Connection, intent_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM intents WHERE intent_id = ?", (intent_id,)
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
                "SELECT 1 FROM created_objects WHERE kind = ? AND destination_id = ?", (kind, destination_id)
            ).fetchone()
            if ours is not None:
                return False
            # First write wins, unless that pre-image was restored: the object is back at its old state and
            # a new migration of it needs a new "before" (else a second rollback would restore nothing).
            cursor = conn.execute(
                "INSERT INTO pre_images (kind, destination_id, run_id, saved_at, payload_json) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, destination_id) DO UPDATE SET run_id = excluded.run_id, "
                "saved_at = excluded.saved_at, payload_json = excluded.payload_json, restored_at = NULL "
                "WHERE pre_images.restored_at IS NOT NULL",
                (kind, destination_id, run_id, self._now(), payload),
            )
            return cursor.rowcount == 1

    def pre_images(self, *, include_restored: bool = False) -> list[PreImage]:
        where = "" if include_restored else "WHERE restored_at IS NULL "
        with self._tx(write=False) as conn:
            rows = conn.execute(f"SELECT * FROM pre_images {where}ORDER BY seq DESC").fetchall()  # noqa: S608
        return [pre_image_from(row, _dt) for row in rows]

    def pre_image(self, kind: str, destination_id: str) -> PreImage | None:
        with self._tx(write=False) as conn:
            row = conn.execute(
                "SELECT * FROM pre_images WHERE kind = ? AND destination_id = ? AND restored_at IS NULL",
                (kind, destination_id),
            ).fetchone()
        return None if row is None else pre_image_from(row, _dt)

    def mark_restored(self, kind: str, destination_id: str) -> None:
        with self._tx(write=True) as conn:
            now = self._now()
            cursor = conn.execute(
                "UPDATE pre_images SET restored_at = coalesce(restored_at, ?) "
                "WHERE kind = ? AND destination_id = ?",
                (now, kind, destination_id),
            )
            if cursor.rowcount == 0:
                raise LedgerError(f"no pre-image of {kind} {destination_id} in the ledger")
            _forget_destination(conn, kind, destination_id, now)

    def created_objects(self, *, include_rolled_back: bool = False) -> list[CreatedObject]:
        where = "" if include_rolled_back else "WHERE rolled_back_at IS NULL "
        with self._tx(write=False) as conn:
            rows = conn.execute(f"SELECT * FROM created_objects {where}ORDER BY seq DESC").fetchall()  # noqa: S608
        return [
            CreatedObject(
                seq=row["seq"],
                kind=row["kind"],
                destination_id=row["destination_id"],
                parent_id=row["parent_id"],
                source_key=row["source_key"],
                run_id=row["run_id"],
                created_at=_dt(row["created_at"]),
                rolled_back_at=_dt_or_none(row["rolled_back_at"]),
            )
            for row in rows
        ]

    def mark_rolled_back(self, kind: str, destination_id: str) -> None:
        with self._tx(write=True) as conn:
            now = self._now()
            cursor = conn.execute(
                "UPDATE created_objects SET rolled_back_at = coalesce(rolled_back_at, ?) "
                "WHERE kind = ? AND destination_id = ?",
                (now, kind, destination_id),
            )
            if cursor.rowcount == 0:
                raise LedgerError(f"{kind} {destination_id} is not an object this migration created")
            _forget_destination(conn, kind, destination_id, now)

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
        with self._tx(write=True, durable=True) as conn:
            self._require_run(conn, run_id)
            conn.executemany(
                "INSERT INTO source_hashes (kind, source_key, source_hash, run_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, source_key) DO UPDATE SET source_hash = excluded.source_hash, "
                "run_id = excluded.run_id",
                upserts,
            )
            conn.executemany("DELETE FROM source_hashes WHERE kind = ? AND source_key = ?", deletes)
            conn.execute(
                "INSERT INTO watermarks (run_id, source_as_of, taken_at) VALUES (?, ?, ?)",
                (run_id, _ts(source_as_of), now),
            )
        return Watermark(source_as_of=_dt(_ts(source_as_of)), taken_at=_dt(now), run_id=run_id)

    def watermark(self) -> Watermark | None:
        with self._tx(write=False) as conn:
            row = conn.execute("SELECT * FROM watermarks ORDER BY seq DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return Watermark(
            source_as_of=_dt(row["source_as_of"]), taken_at=_dt(row["taken_at"]), run_id=row["run_id"]
        )

    def source_hashes(self, kind: str) -> dict[str, str]:
        with self._tx(write=False) as conn:
            rows = conn.execute(
                "SELECT source_key, source_hash FROM source_hashes WHERE kind = ?", (kind,)
            ).fetchall()
        return {row["source_key"]: row["source_hash"] for row in rows}

    # Identity notes ------------------------------------------------------------------------------------

    def note(self, key: str) -> str | None:
        """A value the engine noted about this migration's identity (``practice_namespace``, ...)."""
        _check_note(key)
        with self._tx(write=False) as conn:
            return _read_meta(conn).get(f"note.{key}")

    def set_note(self, key: str, value: str) -> None:
        """Note an identity value (durable: it decides what later runs may look up in HighLevel)."""
        _check_note(key)
        check_key(value, key)
        with self._tx(write=True, durable=True) as conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"note.{key}", value),
            )

    # Plan approval ---------------------------------------------------------------------------------------

    def approve_plan(
        self, plan_hash: str, *, approved_by: str, forced_reason: str | None = None
    ) -> ApprovedPlan:
        check_key(plan_hash, "plan_hash")
        check_key(approved_by, "approved_by")
        now = self._now()
        with self._tx(write=True, durable=True) as conn:
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [
                    ("approved_plan_hash", plan_hash),
                    ("approved_by", approved_by),
                    ("approved_at", now),
                    ("approval_forced_reason", forced_reason or ""),
                ],
            )
        return ApprovedPlan(
            plan_hash=plan_hash, approved_by=approved_by, approved_at=_dt(now), forced_reason=forced_reason
        )

    def approved_plan(self) -> ApprovedPlan | None:
        with self._tx(write=False) as conn:
            meta = _read_meta(conn)
        if "approved_plan_hash" not in meta:
            return None
        return ApprovedPlan(
            plan_hash=meta["approved_plan_hash"],
            approved_by=meta["approved_by"],
            approved_at=_dt(meta["approved_at"]),
            forced_reason=meta.get("approval_forced_reason") or None,
        )


# Helpers -------------------------------------------------------------------------------------------------

#: The identity notes a ledger keeps (prefixed ``note.`` in ``meta``, so they never shadow its identity).
NOTE_KEYS = frozenset({"practice_namespace", "ledger_token", "ledger_token_next", "recovered_at"})


def _check_note(key: str) -> None:
    if key not in NOTE_KEYS:
        raise LedgerError(f"unknown ledger note {key!r}")


def _forget_destination(conn: sqlite3.Connection, kind: str, destination_id: str, now: str) -> None:
    """After rollback deleted or restored an object, no record may still claim it holds what we sent:
    a later run must treat its source records as new (the audit log keeps the history)."""
    conn.execute("DELETE FROM records WHERE kind = ? AND destination_id = ?", (kind, destination_id))
    conn.execute(
        "UPDATE intents SET retired_at = coalesce(retired_at, ?) WHERE kind = ? AND destination_id = ?",
        (now, kind, destination_id),
    )


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _why_unopenable(path: Path, exc: sqlite3.DatabaseError) -> str:
    """Read-only, unreadable or corrupt: three different fixes, so three different sentences (a read-only
    work directory is not a damaged ledger, and must not send the operator to restore a backup)."""
    readonly = "readonly" in str(exc).replace("-", "").replace(" ", "").lower()
    if readonly or not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return (
            f"the ledger at {path} is read-only (its work directory or file cannot be written): make "
            "the work directory writable, or copy it to a writable place"
        )
    if not os.access(path, os.R_OK):
        return f"the ledger at {path} is unreadable (permissions): give this user read and write access"
    return f"the ledger at {path} is unreadable or corrupt ({exc.__class__.__name__}: {exc})"


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we write BEGIN/COMMIT ourselves, so nothing is left open between calls.
    # "file:...?mode=rw" never creates a file: a path that vanished is an error, not a new empty ledger.
    uri = path.resolve().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise LedgerError(f"cannot open the ledger at {path} ({exc.__class__.__name__})") from exc
    conn.row_factory = sqlite3.Row
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise LedgerError(f"the ledger's file system does not support WAL mode (got {mode!r})")
    conn.execute(f"PRAGMA synchronous = {_GROUP_SYNCHRONOUS}")
    conn.execute("PRAGMA foreign_keys = ON")
    # The schema is ours; a planted trigger or view calling functions must not run with our connection.
    conn.execute("PRAGMA trusted_schema = OFF")


def _create_stamped(path: Path, identity: LedgerIdentity, now: datetime) -> None:
    """Build and stamp a new ledger next to ``path`` and rename it in: the path never holds half a ledger."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        os.close(fd)  # mkstemp made it 0o600 already; SQLite reopens it by name
        conn = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {LEDGER_FORMAT_VERSION}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _split_sql(_SCHEMA):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("format_version", str(LEDGER_FORMAT_VERSION)),
                    ("migration_id", identity.migration_id),
                    ("location_id", identity.location_id),
                    ("source_fingerprint", identity.source_fingerprint),
                    ("created_at", _ts(check_aware(now, "the ledger clock's time"))),
                ],
            )
            conn.execute("COMMIT")
        finally:
            # Closing the last connection checkpoints the WAL into the file and removes -wal/-shm.
            conn.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            # link + unlink instead of rename: if another process stamped the path first, we keep theirs
            # and check it like any existing ledger rather than silently replacing it.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: rename, still never over an existing ledger.
            if not path.exists():
                os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        tmp.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(tmp_name + suffix).unlink(missing_ok=True)


def _split_sql(script: str) -> list[str]:
    # executescript() would COMMIT our transaction first; the schema has no ';' inside statements.
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no WAL: everything is in the database file already
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _acquire_process_lock(path: Path) -> int | None:
    """Take the work directory's exclusive lock, or raise LedgerError naming it as busy.

    ``flock`` on a side file rather than SQLite's own locking: SQLite's locks last one transaction, ours
    must last the whole run; and readers of the ledger itself stay unblocked.
    """
    if sys.platform == "win32":
        # No flock; Windows users get SQLite's per-transaction locking only (documented limitation).
        return None
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LedgerError(
            f"the ledger at {path} is in use by another process (a run, delta or rollback on this work "
            "directory is still going); wait for it to finish or stop it first"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release_process_lock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the flock


def _check_header(path: Path) -> None:
    # Before SQLite sees it: an empty or non-SQLite file would otherwise be taken for a new, empty database
    # or give a vague "file is not a database".
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger at {path} ({exc.__class__.__name__})") from exc
    if head != _SQLITE_MAGIC:
        raise LedgerError(f"{path} is not a dentrix-highlevel ledger (not an SQLite database file)")


def _read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return {row["key"]: row["value"] for row in conn.execute("SELECT key, value FROM meta")}


def _verify(conn: sqlite3.Connection, path: Path) -> LedgerIdentity:
    """Refuse anything we did not write, cannot read, or that is damaged. Raises LedgerError."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id != APPLICATION_ID:
        raise LedgerError(
            f"{path} is not a dentrix-highlevel ledger (SQLite application_id {application_id:#x})"
        )
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LEDGER_FORMAT_VERSION:
        raise LedgerError(
            f"the ledger at {path} has format version {version}, newer than this dentrix-highlevel "
            f"understands ({LEDGER_FORMAT_VERSION}): upgrade dentrix-highlevel to continue this migration"
        )
    if version != LEDGER_FORMAT_VERSION:
        raise LedgerError(f"the ledger at {path} has unknown format version {version}")
    problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise LedgerError(
            f"the ledger at {path} is corrupt (quick_check reported {len(problems)} problem(s)); "
            "restore it from a backup rather than resuming with it"
        )
    try:
        meta = _read_meta(conn)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"the ledger at {path} has no readable meta table") from exc
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise LedgerError(f"the ledger at {path} is incomplete: meta lacks {', '.join(missing)}")
    if meta["format_version"] != str(version):
        raise LedgerError(
            f"the ledger at {path} is inconsistent: meta says format {meta['format_version']}, "
            f"the file header says {version}"
        )
    try:
        return LedgerIdentity(
            migration_id=meta["migration_id"],
            location_id=meta["location_id"],
            source_fingerprint=meta["source_fingerprint"],
        )
    except ConfigurationError as exc:
        raise LedgerError(f"the ledger at {path} has an invalid identity in its meta table") from exc
