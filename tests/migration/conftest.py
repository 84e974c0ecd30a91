"""Fixtures for the migration state layer: a ledger in a temporary work directory with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dentrix_highlevel.migration import LedgerIdentity, PostgresLedger, SqliteLedger


class SteppingClock:
    """A clock that moves one second per reading: timestamps are distinct and predictable."""

    def __init__(self, start: datetime = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        current = self.now
        self.now += timedelta(seconds=1)
        return current


IDENTITY = LedgerIdentity(
    migration_id="smile-2026", location_id="ve9EPM428h8vShlRW1KT", source_fingerprint="g:4711"
)


@pytest.fixture
def identity() -> LedgerIdentity:
    return IDENTITY


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "migration"


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


@pytest.fixture
def ledger(workdir: Path, clock: SteppingClock) -> Iterator[SqliteLedger]:
    with SqliteLedger.open(workdir, identity=IDENTITY, clock=clock) as opened:
        yield opened


class LedgerStore:
    """One ledger backend under test: where its ledger lives, and how to open it there again."""

    def __init__(self, backend: str, where: str | Path) -> None:
        self.backend = backend
        self.where = where

    def open(self, identity: LedgerIdentity = IDENTITY, **kwargs: Any) -> Any:
        if self.backend == "sqlite":
            return SqliteLedger.open(self.where, identity=identity, **kwargs)
        return PostgresLedger.open(str(self.where), identity=identity, **kwargs)

    def open_existing(self, **kwargs: Any) -> Any:
        if self.backend == "sqlite":
            return SqliteLedger.open_existing(self.where, **kwargs)
        return PostgresLedger.open_existing(str(self.where), **kwargs)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, workdir: Path) -> LedgerStore:
    """The ledger contract's backends: SQLite in a work directory, and a schema on a real PostgreSQL
    server (started once per session; see ``postgres_server``)."""
    if request.param == "sqlite":
        return LedgerStore("sqlite", workdir)
    return LedgerStore("postgresql", request.getfixturevalue("postgres_url"))


@pytest.fixture
def any_ledger(store: LedgerStore, clock: SteppingClock) -> Iterator[Any]:
    """A fresh ledger on each backend (the contract tests' ``ledger``)."""
    with store.open(clock=clock) as opened:
        yield opened
