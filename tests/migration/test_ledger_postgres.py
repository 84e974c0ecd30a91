"""The PostgreSQL ledger's own concerns, against a real server: its schema is its identity, the lease
dies with its holder, the URL's password is never shown, and server failures surface as ledger errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
from tests.migration.test_ledger_sqlite_files import _ALLOWED_COLUMNS

from dentrix_highlevel.errors import ConfigurationError, LedgerError
from dentrix_highlevel.migration import (
    LEDGER_FORMAT_VERSION,
    LedgerIdentity,
    PostgresLedger,
    RecordAction,
    RecordOutcome,
    RunMode,
)
from dentrix_highlevel.migration._state.postgres import PAYLOAD_COLUMNS, _split_url

# Without psycopg these are skipped here; CI installs it (the dev extra), and the server fixture fails there.
psycopg = pytest.importorskip("psycopg")

pytestmark = pytest.mark.usefixtures("postgres_server")


def _raw(url: str) -> psycopg.Connection[tuple[object, ...]]:
    conninfo, _ = _split_url(url)
    return psycopg.connect(conninfo, autocommit=True)


def _schema(url: str) -> str:
    return _split_url(url)[1]


def test_each_ledger_is_one_schema_and_schemas_are_independent(
    postgres_url: str, identity: LedgerIdentity
) -> None:
    other_url = postgres_url.rsplit("=", 1)[0] + "=" + _schema(postgres_url) + "_other"
    other = LedgerIdentity(migration_id="office-2", location_id="loc-2", source_fingerprint="g:2")
    with (
        PostgresLedger.open(postgres_url, identity=identity) as one,
        PostgresLedger.open(other_url, identity=other) as two,
    ):
        one.begin_run(RunMode.RUN, run_id="run-1")
        two.begin_run(RunMode.RUN, run_id="run-1")  # same run id, another ledger
        assert one.identity != two.identity
        assert one.schema != two.schema
    with _raw(postgres_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (_schema(postgres_url),),
            )
        }
    assert {"meta", "runs", "records", "audit", "intents", "created_objects", "pre_images"} <= tables


def test_a_schema_that_is_not_a_ledger_is_refused(postgres_url: str, identity: LedgerIdentity) -> None:
    schema = _schema(postgres_url)
    with _raw(postgres_url) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.meta (key text PRIMARY KEY, value text NOT NULL)")
        conn.execute(f"INSERT INTO {schema}.meta VALUES ('application', 'payroll')")  # noqa: S608
    with pytest.raises(LedgerError, match="not a dentrix-highlevel ledger"):
        PostgresLedger.open(postgres_url, identity=identity)


def test_a_newer_format_is_refused_with_advice(postgres_url: str, identity: LedgerIdentity) -> None:
    PostgresLedger.open(postgres_url, identity=identity).close()
    with _raw(postgres_url) as conn:
        conn.execute(
            f"UPDATE {_schema(postgres_url)}.meta SET value = %s WHERE key = 'format_version'",  # noqa: S608
            (str(LEDGER_FORMAT_VERSION + 1),),
        )
    with pytest.raises(LedgerError, match="upgrade dentrix-highlevel"):
        PostgresLedger.open(postgres_url, identity=identity)


def test_a_stamp_missing_identity_is_refused(postgres_url: str, identity: LedgerIdentity) -> None:
    PostgresLedger.open(postgres_url, identity=identity).close()
    with _raw(postgres_url) as conn:
        conn.execute(f"DELETE FROM {_schema(postgres_url)}.meta WHERE key = 'location_id'")  # noqa: S608
    with pytest.raises(LedgerError, match="meta lacks location_id"):
        PostgresLedger.open_existing(postgres_url)


def test_the_lease_dies_with_the_process_that_held_it(postgres_url: str, identity: LedgerIdentity) -> None:
    """A worker killed mid-run (its machine gone) must not block the resume elsewhere: the server drops
    the advisory lock with the connection."""
    PostgresLedger.open(postgres_url, identity=identity).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from dentrix_highlevel.migration import PostgresLedger
                ledger = PostgresLedger.open_existing({postgres_url!r}, exclusive=True)
                ledger.begin_run("run", run_id="run-1")
                print("held", flush=True)
                time.sleep(600)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LedgerError, match="in use by another process"):
            PostgresLedger.open(postgres_url, identity=identity)
        holder.kill()
        holder.wait(timeout=60)
        # The server notices the closed socket; the next open takes the lease and resumes the run.
        for _ in range(200):
            try:
                ledger = PostgresLedger.open(postgres_url, identity=identity)
                break
            except LedgerError:
                time.sleep(0.05)
        else:
            pytest.fail("the lease outlived its holder")
        with ledger:
            assert ledger.resume_run("run-1").run_id == "run-1"
    finally:
        holder.kill()
        holder.wait(timeout=60)


def test_the_password_in_a_url_is_never_shown(postgres_server: object, identity: LedgerIdentity) -> None:
    url = "postgresql://migrator:pw-9f3a1c@127.0.0.1:1/nowhere?schema=smile&connect_timeout=2"
    with pytest.raises(LedgerError) as caught:
        PostgresLedger.open(url, identity=identity)
    message = str(caught.value)
    assert "pw-9f3a1c" not in message
    assert "migrator" not in message
    assert "127.0.0.1:1/nowhere schema smile" in message


@pytest.mark.parametrize("schema", ["Smile", "smile;drop", "1smile", "a" * 64, ""])
def test_schema_names_are_plain_identifiers(postgres_url: str, identity: LedgerIdentity, schema: str) -> None:
    url = postgres_url.rsplit("=", 1)[0] + "=" + schema
    with pytest.raises(ConfigurationError, match="schema"):
        PostgresLedger.open(url, identity=identity)


def test_server_failures_surface_as_ledger_errors_without_values(
    postgres_url: str, identity: LedgerIdentity
) -> None:
    with PostgresLedger.open(postgres_url, identity=identity) as ledger:
        ledger.begin_run(RunMode.RUN, run_id="run-1")
        with _raw(postgres_url) as conn:
            conn.execute(f"DROP TABLE {_schema(postgres_url)}.audit")
        with pytest.raises(LedgerError, match="failed a write: UndefinedTable"):
            ledger.record_result(
                "run-1",
                "contact",
                "patient:1",
                action=RecordAction.SKIPPED,
                outcome=RecordOutcome.NOT_APPLIED,
            )
        # The failed transaction left nothing half-written, and the connection is usable again.
        assert ledger.record("contact", "patient:1") is None


def test_only_payload_columns_can_hold_patient_values(postgres_url: str, identity: LedgerIdentity) -> None:
    phi = ["Jane", "Doe", "jane.doe@example.org", "+15555550123", "1961-04-02", "crown #14 fractured"]
    with PostgresLedger.open(postgres_url, identity=identity) as ledger:
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
    schema = _schema(postgres_url)
    seen_payload: set[tuple[str, str]] = set()
    with _raw(postgres_url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = %s",
            (schema,),
        ).fetchall()
        for table, column in columns:
            assert isinstance(table, str)
            assert isinstance(column, str)
            if column.startswith("payload_"):
                seen_payload.add((table, column))
                continue
            assert column in _ALLOWED_COLUMNS, (table, column)
            for (value,) in conn.execute(f'SELECT "{column}" FROM {schema}."{table}"'):  # noqa: S608
                for secret in phi:
                    assert secret not in str(value), (table, column)
    assert seen_payload == PAYLOAD_COLUMNS
