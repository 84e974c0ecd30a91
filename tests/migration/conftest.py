"""Fixtures for the migration state layer: a ledger in a temporary work directory with a stepping clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dentrix_highlevel.migration import LedgerIdentity, SqliteLedger


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
