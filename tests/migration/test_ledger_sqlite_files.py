"""The SQLite ledger's file: permissions, pragmas, identity stamp, and refusal of anything we cannot trust
(what every store shares, one writer and identity refusal, is in ``test_ledger_stores.py``)."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from dentrix_highlevel.errors import LedgerError
from dentrix_highlevel.migration import (
    LEDGER_FILENAME,
    LEDGER_FORMAT_VERSION,
    LedgerIdentity,
    RecordAction,
    RecordOutcome,
    RunMode,
    SqliteLedger,
)
from dentrix_highlevel.migration._state.sqlite import APPLICATION_ID, PAYLOAD_COLUMNS

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_ledger_is_private(workdir: Path, identity: LedgerIdentity) -> None:
    old_umask = os.umask(0o022)
    try:
        with SqliteLedger.open(workdir, identity=identity) as ledger:
            ledger.begin_run(RunMode.RUN, run_id="run-1")  # something in the WAL
            assert _mode(workdir) == 0o700
            assert _mode(workdir / LEDGER_FILENAME) == 0o600
            wal = workdir / (LEDGER_FILENAME + "-wal")
            shm = workdir / (LEDGER_FILENAME + "-shm")
            assert wal.exists()
            assert _mode(wal) == 0o600
            assert _mode(shm) == 0o600
    finally:
        os.umask(old_umask)
    # Nothing else was left behind (no temporary stamping files); the lock file is private too.
    assert sorted(p.name for p in workdir.iterdir()) == [LEDGER_FILENAME, LEDGER_FILENAME + ".lock"]
    assert _mode(workdir / (LEDGER_FILENAME + ".lock")) == 0o600


def test_an_existing_loose_workdir_is_tightened(tmp_path: Path, identity: LedgerIdentity) -> None:
    workdir = tmp_path / "shared"
    workdir.mkdir(mode=0o755)
    workdir.chmod(0o755)
    SqliteLedger.open(workdir, identity=identity).close()
    assert _mode(workdir) == 0o700


def test_connection_pragmas(ledger: SqliteLedger) -> None:
    conn = ledger._conn  # the one place a test looks inside: the durability settings are the contract
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL: outcomes are group-committed
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == LEDGER_FORMAT_VERSION


def test_a_barrier_commits_with_synchronous_full_and_an_outcome_without(ledger: SqliteLedger) -> None:
    conn = ledger._conn  # as above: which commit fsyncs is the durability contract
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        intent = ledger.begin_intent("contact", "patient:1", "create", {"source_id": "1"}, run_id="run-1")
        barrier = [s for s in statements if s.startswith(("PRAGMA", "BEGIN", "COMMIT"))]
        statements.clear()
        ledger.complete_intent(intent, destination_id="C1", created=True)
        outcome = [s for s in statements if s.startswith(("PRAGMA", "BEGIN", "COMMIT"))]
    finally:
        conn.set_trace_callback(None)
    assert barrier == [
        "PRAGMA synchronous = FULL",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "PRAGMA synchronous = NORMAL",
    ]
    assert outcome == ["BEGIN IMMEDIATE", "COMMIT"]
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1


def test_the_stamp_is_readable_by_anyone_with_sqlite(ledger: SqliteLedger, identity: LedgerIdentity) -> None:
    raw = sqlite3.connect(ledger.path)
    try:
        meta = dict(raw.execute("SELECT key, value FROM meta").fetchall())
    finally:
        raw.close()
    assert meta["format_version"] == str(LEDGER_FORMAT_VERSION)
    assert meta["migration_id"] == identity.migration_id
    assert meta["location_id"] == identity.location_id
    assert meta["source_fingerprint"] == identity.source_fingerprint


def test_a_file_that_is_not_sqlite_is_refused(workdir: Path, identity: LedgerIdentity) -> None:
    workdir.mkdir(mode=0o700)
    (workdir / LEDGER_FILENAME).write_text("patid,lname\n1,Example\n")
    with pytest.raises(LedgerError, match="not a dentrix-highlevel ledger"):
        SqliteLedger.open(workdir, identity=identity)


def test_an_empty_file_is_refused(workdir: Path, identity: LedgerIdentity) -> None:
    workdir.mkdir(mode=0o700)
    (workdir / LEDGER_FILENAME).touch()
    with pytest.raises(LedgerError, match="not a dentrix-highlevel ledger"):
        SqliteLedger.open(workdir, identity=identity)


def test_someone_elses_sqlite_database_is_refused(workdir: Path, identity: LedgerIdentity) -> None:
    workdir.mkdir(mode=0o700)
    foreign = sqlite3.connect(workdir / LEDGER_FILENAME)
    foreign.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    foreign.execute("INSERT INTO meta VALUES ('migration_id', ?)", (identity.migration_id,))
    foreign.commit()
    foreign.close()
    with pytest.raises(LedgerError, match="not a dentrix-highlevel ledger"):
        SqliteLedger.open(workdir, identity=identity)


def test_a_newer_format_is_refused_with_advice(workdir: Path, identity: LedgerIdentity) -> None:
    SqliteLedger.open(workdir, identity=identity).close()
    raw = sqlite3.connect(workdir / LEDGER_FILENAME)
    raw.execute(f"PRAGMA user_version = {LEDGER_FORMAT_VERSION + 1}")
    raw.close()
    with pytest.raises(LedgerError, match=r"newer than this dentrix-highlevel understands.*upgrade"):
        SqliteLedger.open(workdir, identity=identity)
    with pytest.raises(LedgerError, match="newer"):
        SqliteLedger.open_existing(workdir)


def test_a_meta_table_disagreeing_with_the_header_is_refused(workdir: Path, identity: LedgerIdentity) -> None:
    SqliteLedger.open(workdir, identity=identity).close()
    raw = sqlite3.connect(workdir / LEDGER_FILENAME)
    raw.execute("UPDATE meta SET value = '7' WHERE key = 'format_version'")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match="inconsistent"):
        SqliteLedger.open(workdir, identity=identity)


def test_a_stamp_missing_identity_is_refused(workdir: Path, identity: LedgerIdentity) -> None:
    SqliteLedger.open(workdir, identity=identity).close()
    raw = sqlite3.connect(workdir / LEDGER_FILENAME)
    raw.execute("DELETE FROM meta WHERE key = 'location_id'")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match="incomplete: meta lacks location_id"):
        SqliteLedger.open(workdir, identity=identity)


@pytest.mark.parametrize(
    ("table", "offset", "garbage", "expected"),
    [
        # The b-tree page header's "start of cell content" field: SQLite reads on, quick_check objects.
        ("audit", 5, b"\x00\x10", "quick_check reported"),
        ("records", 5, b"\x00\x10", "quick_check reported"),
        # Scribbled cell pointers: SQLite itself calls the file malformed while checking it.
        ("audit", 16, bytes((n * 37 + 11) % 256 for n in range(512)), "corrupt"),
    ],
)
def test_a_corrupt_ledger_is_refused(
    workdir: Path, identity: LedgerIdentity, table: str, offset: int, garbage: bytes, expected: str
) -> None:
    with SqliteLedger.open(workdir, identity=identity) as ledger:
        ledger.begin_run(RunMode.RUN, run_id="run-1")
        for n in range(400):
            ledger.record_result(
                "run-1",
                "contact",
                f"patient:{n:05d}",
                action=RecordAction.SKIPPED,
                outcome=RecordOutcome.NOT_APPLIED,
                reason="excluded by plan",
            )
    path = workdir / LEDGER_FILENAME
    raw = sqlite3.connect(path)
    page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    root = raw.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    raw.close()
    data = bytearray(path.read_bytes())
    # The stamp on page 1 stays intact: only an integrity check can tell this file is damaged.
    start = (root - 1) * page_size + offset
    data[start : start + len(garbage)] = garbage
    path.write_bytes(bytes(data))
    with pytest.raises(LedgerError, match=expected):
        SqliteLedger.open(workdir, identity=identity)


# PHI: keys, ids, hashes and reasons only, outside the payload columns ------------------------------------

# Every column a non-payload table may have. A new column must be added here on purpose, after asking
# "can this ever hold a patient's value?"
_ALLOWED_COLUMNS = {
    "key",
    "value",
    "run_id",
    "mode",
    "status",
    "started_at",
    "finished_at",
    "phase",
    "cursor",
    "checkpoint_at",
    "kind",
    "source_key",
    "destination_id",
    "content_hash",
    "action",
    "outcome",
    "reason",
    "first_recorded_at",
    "updated_at",
    "seq",
    "at",
    "intent_id",
    "operation",
    "parent_id",
    "created",
    "begun_at",
    "settled_at",
    "created_at",
    "rolled_back_at",
    "saved_at",
    "restored_at",
    "retired_at",
    "source_as_of",
    "taken_at",
    "source_hash",
    "attempt",  # a number
    "ended_at",
}


def test_only_payload_columns_can_hold_patient_values(ledger: SqliteLedger) -> None:
    phi = ["Jane", "Doe", "jane.doe@example.org", "+15555550123", "1961-04-02", "crown #14 fractured"]
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    intent = ledger.begin_intent(
        "contact", "patient:1", "upsert", {"email": phi[2], "phone": phi[3]}, run_id="run-1"
    )
    ledger.complete_intent(intent, destination_id="C1", created=True)
    ledger.record_result(
        "run-1",
        "contact",
        "patient:1",
        action=RecordAction.CONFLICT,
        outcome=RecordOutcome.PARTIAL,
        destination_id="C1",
        content_hash="sha256:0f1e",
        reason="email shared with patient:2; created without it",
    )
    ledger.save_pre_image(
        "contact",
        "X7",
        {"firstName": phi[0], "lastName": phi[1], "dateOfBirth": phi[4], "note": phi[5]},
        run_id="run-1",
    )
    conn = ledger._conn
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    seen_payload: set[tuple[str, str]] = set()
    for table in tables:
        if table.startswith("sqlite_"):
            continue
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        for column in columns:
            if column.startswith("payload_"):
                seen_payload.add((table, column))
                continue
            assert column in _ALLOWED_COLUMNS, (table, column)
            for (value,) in conn.execute(f'SELECT "{column}" FROM "{table}"'):  # noqa: S608
                for secret in phi:
                    assert secret not in str(value), (table, column)
    assert seen_payload == PAYLOAD_COLUMNS


def test_sqlite_failures_surface_as_ledger_errors(ledger: SqliteLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    raw = sqlite3.connect(ledger.path)
    raw.execute("DROP TABLE audit")
    raw.commit()
    raw.close()
    with pytest.raises(LedgerError, match="failed a write: OperationalError"):
        ledger.record_result(
            "run-1", "contact", "patient:1", action=RecordAction.SKIPPED, outcome=RecordOutcome.NOT_APPLIED
        )
    # The failed transaction left nothing half-written: the records row went with it.
    assert ledger.record("contact", "patient:1") is None
