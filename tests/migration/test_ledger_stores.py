"""Opening a ledger, on every store: one writer at a time, identity refusal, reopening, and the
``open_ledger`` factory choosing the store by where the ledger lives."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration.conftest import LedgerStore

from dentrix_highlevel.errors import LedgerError
from dentrix_highlevel.migration import (
    LedgerIdentity,
    PostgresLedger,
    RecordAction,
    RecordOutcome,
    RunMode,
    SqliteLedger,
    open_existing_ledger,
    open_ledger,
)
from dentrix_highlevel.migration._state.open import describe_ledger, ledger_exists


def test_one_writing_process_at_a_time(store: LedgerStore, identity: LedgerIdentity) -> None:
    with store.open(identity) as first:
        first.begin_run(RunMode.RUN, run_id="run-1")
        with pytest.raises(LedgerError, match="in use by another process"):
            store.open(identity)
        with pytest.raises(LedgerError, match="in use"):
            store.open_existing(exclusive=True)
        # A report may read while the run writes.
        with store.open_existing() as reader:
            assert [r.run_id for r in reader.runs()] == ["run-1"]
    with store.open(identity) as second:
        assert [r.run_id for r in second.runs()] == ["run-1"]


def test_a_refused_open_releases_the_lock(store: LedgerStore, identity: LedgerIdentity) -> None:
    store.open(identity).close()
    other = LedgerIdentity(migration_id="other", location_id="loc", source_fingerprint="g:9")
    with pytest.raises(LedgerError, match="another migration"):
        store.open(other)
    store.open(identity).close()


def test_reopening_keeps_everything(store: LedgerStore, identity: LedgerIdentity) -> None:
    with store.open(identity) as ledger:
        ledger.begin_run(RunMode.RUN, run_id="run-1")
        ledger.record_result(
            "run-1",
            "contact",
            "patient:1",
            action=RecordAction.CREATED,
            outcome=RecordOutcome.APPLIED,
            destination_id="C1",
        )
        ledger.set_note("practice_namespace", "ns-1")
    with store.open(identity) as again:
        record = again.record("contact", "patient:1")
        assert again.note("practice_namespace") == "ns-1"
    assert record is not None
    assert record.destination_id == "C1"
    with store.open_existing() as existing:
        assert existing.identity == identity


@pytest.mark.parametrize("field", ["migration_id", "location_id", "source_fingerprint"])
def test_another_migrations_ledger_is_refused(
    store: LedgerStore, identity: LedgerIdentity, field: str
) -> None:
    store.open(identity).close()
    other = {
        "migration_id": identity.migration_id,
        "location_id": identity.location_id,
        "source_fingerprint": identity.source_fingerprint,
        field: "something-else",
    }
    with pytest.raises(LedgerError, match=f"another migration: {field} is"):
        store.open(LedgerIdentity(**other))


def test_open_existing_needs_a_ledger(store: LedgerStore) -> None:
    with pytest.raises(LedgerError, match="no ledger"):
        store.open_existing()
    assert not ledger_exists(store.where)


def test_open_ledger_picks_the_store_by_where_it_lives(store: LedgerStore, identity: LedgerIdentity) -> None:
    expected = SqliteLedger if store.backend == "sqlite" else PostgresLedger
    with open_ledger(store.where, identity=identity) as ledger:
        assert isinstance(ledger, expected)
        ledger.begin_run(RunMode.RUN, run_id="run-1")
    assert ledger_exists(store.where)
    with open_existing_ledger(store.where) as existing:
        assert isinstance(existing, expected)
        assert existing.identity == identity
        assert [r.run_id for r in existing.runs()] == ["run-1"]


def test_describe_ledger_never_shows_a_password(tmp_path: Path) -> None:
    shown = describe_ledger(
        "postgresql://migrator:s3cret-pw@db.internal:6543/dhl?schema=smile&sslmode=require"
    )
    assert shown == "postgresql://db.internal:6543/dhl schema smile"
    assert describe_ledger(tmp_path) == str(tmp_path / "ledger.sqlite3")


def test_a_migration_takes_only_a_postgresql_ledger_url(tmp_path: Path) -> None:
    from dentrix_highlevel.errors import ConfigurationError
    from dentrix_highlevel.highlevel import HighLevelClient
    from dentrix_highlevel.migration import Migration

    with pytest.raises(ConfigurationError, match="postgresql://"):
        Migration(
            object(),  # type: ignore[arg-type]  # refused before the source is looked at
            HighLevelClient(location_id="loc", token="t"),
            workdir=tmp_path,
            ledger_url=str(tmp_path / "ledger.sqlite3"),
        )
