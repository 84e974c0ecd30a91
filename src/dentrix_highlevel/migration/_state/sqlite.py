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
import os
import sqlite3
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dentrix_highlevel._errors import LedgerError
from dentrix_highlevel._private_files import ensure_private_dir
from dentrix_highlevel.migration._state import store
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.batch import IntentRequest
from dentrix_highlevel.migration._state.ledger import LedgerIdentity, RunMode, RunStatus, check_aware
from dentrix_highlevel.migration._state.rows import checked_intent
from dentrix_highlevel.migration._state.store import LEDGER_FORMAT_VERSION, Clock, Dialect, SqlStore

if sys.platform != "win32":
    import fcntl

__all__ = ["LEDGER_FILENAME", "LEDGER_FORMAT_VERSION", "SqliteLedger"]

LEDGER_FILENAME = "ledger.sqlite3"
# "DHLG" as a big-endian 32-bit integer; `file` and the sqlite3 shell show it.
APPLICATION_ID = 0x44484C47
_BUSY_TIMEOUT_MS = 10_000
# Outcome writes are group-committed: WAL appends, fsynced by the next barrier (see the module docstring).
_GROUP_SYNCHRONOUS = "NORMAL"

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

# Columns allowed to hold patient values (``store`` has them, for both stores).
PAYLOAD_COLUMNS = store.PAYLOAD_COLUMNS
NOTE_KEYS = store.NOTE_KEYS

_META_KEYS = ("format_version", "migration_id", "location_id", "source_fingerprint", "created_at")


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


class SqliteLedger(SqlStore[sqlite3.Connection]):
    """The SQLite ``Ledger``. Open it with ``SqliteLedger.open(workdir, identity=...)``; close it (or use
    it as a context manager) when done."""

    __slots__ = ("_path", "_process_lock_fd")

    # The file is locked by each write transaction, so a settlement needs no row lock; BINARY (SQLite's
    # default) is byte order already.
    _DIALECT = Dialect(positional="?", named=":{}", run_order="rowid", collate="", for_update="")

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        identity: LedgerIdentity,
        clock: Clock,
        process_lock_fd: int | None = None,
    ) -> None:
        # Use open() / open_existing(): they check the file before handing out a ledger.
        super().__init__(conn, identity, clock, tables="")
        self._path = path
        self._process_lock_fd = process_lock_fd

    # Opening ---------------------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        workdir: Path | str,
        *,
        identity: LedgerIdentity,
        exclusive: bool = True,
        clock: Clock = store.utc_now,
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
            raise store.identity_mismatch(found, identity, str(path))
        return ledger

    @classmethod
    def open_existing(
        cls, workdir: Path | str, *, exclusive: bool = False, clock: Clock = store.utc_now
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
    def path(self) -> Path:
        return self._path

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
                    self._commit_written(durable=durable)
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

    # The dialect's own side of the shared methods ---------------------------------------------------------

    def _stamp(self, value: datetime) -> str:
        return _ts(value)

    def _when(self, value: Any) -> datetime:
        return _dt(value)

    def _insert_intent(self, conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> int:
        intent_id = conn.execute(sql, params).lastrowid
        assert intent_id is not None  # an INSERT into a rowid table always sets it
        return intent_id

    def _insert_new(self, conn: sqlite3.Connection, sql: str, params: Sequence[object]) -> bool:
        try:
            conn.execute(sql, params)
        except sqlite3.IntegrityError:
            return False
        return True

    def _many(self, conn: sqlite3.Connection, sql: str, rows: Sequence[Sequence[object]]) -> None:
        conn.executemany(sql, rows)

    def _has_attempts(self, conn: sqlite3.Connection) -> bool:
        found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempts'")
        return found.fetchone() is not None

    def _upgrade(self, conn: sqlite3.Connection, *, but: str | None = None) -> None:
        """The attempts table, made and filled from ``runs`` in a ledger written before it existed."""
        if self._has_attempts(conn):
            return
        conn.execute(_ATTEMPTS_TABLE)
        conn.execute(
            "INSERT INTO attempts (run_id, attempt, status, started_at, ended_at) "
            "SELECT run_id, 1, status, started_at, finished_at FROM runs WHERE run_id IS NOT ?",
            (but,),
        )

    # Intents in one commit ---------------------------------------------------------------------------------

    def begin_intents(self, requests: Sequence[IntentRequest]) -> list[int]:
        """:meth:`begin_intent` for many creates in one transaction and one fsync (a group commit).

        All or nothing: when one request is refused, none is recorded (the caller may retry them one by
        one). Every returned id is durable, as with :meth:`begin_intent`.
        """
        rows = [
            (r.run_id, r.kind, r.source_key, r.operation, r.parent_id, store.to_json(lookup))
            for r in requests
            for lookup in [
                checked_intent(r.kind, r.source_key, r.operation, r.lookup_keys, parent_id=r.parent_id)
            ]
        ]
        with self._tx(write=True, durable=True) as conn:
            return self._insert_intents(conn, rows)


# Helpers -------------------------------------------------------------------------------------------------


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


def _verify(conn: sqlite3.Connection, path: Path) -> LedgerIdentity:
    """Refuse anything we did not write, cannot read, or that is damaged. Raises LedgerError."""
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if application_id != APPLICATION_ID:
        raise LedgerError(
            f"{path} is not a dentrix-highlevel ledger (SQLite application_id {application_id:#x})"
        )
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    store.check_format_version(version, str(path))
    problems = [row[0] for row in conn.execute("PRAGMA quick_check").fetchall()]
    if problems != ["ok"]:
        raise LedgerError(
            f"the ledger at {path} is corrupt (quick_check reported {len(problems)} problem(s)); "
            "restore it from a backup rather than resuming with it"
        )
    try:
        meta = store.read_meta(conn, "meta")
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"the ledger at {path} has no readable meta table") from exc
    store.check_complete(meta, _META_KEYS, str(path))
    if meta["format_version"] != str(version):
        raise LedgerError(
            f"the ledger at {path} is inconsistent: meta says format {meta['format_version']}, "
            f"the file header says {version}"
        )
    return store.identity_from_meta(meta, str(path))
