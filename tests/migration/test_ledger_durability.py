"""The ledger's durability contract: barrier writes are fsynced before they return, outcome writes are
group-committed (committed and visible at once, fsynced by the next barrier or ``close``), on every store:
SQLite fsyncs its WAL, PostgreSQL commits with ``synchronous_commit`` on or off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from tests.migration.conftest import LedgerStore

from dentrix_highlevel.errors import LedgerError
from dentrix_highlevel.migration import (
    LedgerIdentity,
    PostgresLedger,
    RecordAction,
    RecordOutcome,
    RunMode,
    RunStatus,
    SqliteLedger,
)

RUN = "run-1"
AnyLedger = SqliteLedger | PostgresLedger


@pytest.fixture
def ledger(any_ledger: AnyLedger) -> AnyLedger:
    return any_ledger


def _record(ledger: AnyLedger, n: int = 1) -> None:
    ledger.record_result(
        RUN,
        "contact",
        f"patient:{n}",
        action=RecordAction.CREATED,
        outcome=RecordOutcome.APPLIED,
        destination_id=f"C{n}",
        content_hash=f"h{n}",
    )


def _intent(ledger: AnyLedger, n: int = 1) -> int:
    return ledger.begin_intent("contact", f"patient:{n}", "create", {"source_id": str(n)}, run_id=RUN)


# (name, write, durable): every write method of the ledger and the class the contract puts it in.
WRITES: list[tuple[str, Callable[[AnyLedger], object], bool]] = [
    ("begin_intent", _intent, True),
    ("save_pre_image", lambda led: led.save_pre_image("contact", "X1", {"a": 1}, run_id=RUN), True),
    ("resume_run", lambda led: led.resume_run(RUN), True),
    ("finish_run", lambda led: led.finish_run(RUN, status=RunStatus.STOPPED), True),
    (
        "set_watermark",
        lambda led: led.set_watermark(run_id=RUN, source_as_of=datetime(2026, 3, 1, tzinfo=UTC)),
        True,
    ),
    ("approve_plan", lambda led: led.approve_plan("p" * 64, approved_by="office.manager"), True),
    ("record_result", _record, False),
    (
        "complete_intent",
        lambda led: led.complete_intent(_intent(led, 7), destination_id="C7", created=True),
        False,
    ),
    ("abandon_intent", lambda led: led.abandon_intent(_intent(led, 8), reason="not found on lookup"), False),
    ("save_checkpoint", lambda led: led.save_checkpoint(RUN, phase="patients", cursor="patient:1"), False),
]


@pytest.mark.parametrize(("name", "write", "durable"), WRITES, ids=[w[0] for w in WRITES])
def test_each_write_is_a_barrier_or_group_committed_as_the_contract_says(
    ledger: AnyLedger, name: str, write: Callable[[AnyLedger], object], durable: bool
) -> None:
    ledger.begin_run(RunMode.RUN, run_id=RUN)
    # complete/abandon need an intent first: count only the write under test.
    setup_writes = 1 if name in ("complete_intent", "abandon_intent") else 0
    writes, barriers = ledger.writes, ledger.durable_writes
    write(ledger)
    assert ledger.writes - writes == 1 + setup_writes
    assert ledger.durable_writes - barriers == int(durable) + setup_writes


def test_begin_run_is_a_barrier_and_outcomes_between_barriers_cost_no_fsync(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id=RUN)
    assert (ledger.writes, ledger.durable_writes) == (1, 1)
    for n in range(20):
        _record(ledger, n)
    assert (ledger.writes, ledger.durable_writes) == (21, 1)
    _intent(ledger, 99)
    assert (ledger.writes, ledger.durable_writes) == (22, 2)


def test_rollback_marks_are_group_committed(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id=RUN)
    ledger.complete_intent(_intent(ledger), destination_id="C1", created=True)
    ledger.save_pre_image("contact", "X1", {"a": 1}, run_id=RUN)
    barriers = ledger.durable_writes
    ledger.mark_rolled_back("contact", "C1")
    ledger.mark_restored("contact", "X1")
    assert ledger.durable_writes == barriers
    assert ledger.created_objects() == []
    assert ledger.pre_images() == []


def test_group_committed_writes_are_visible_to_another_reader_at_once(
    ledger: AnyLedger, store: LedgerStore
) -> None:
    # Group commit is about fsync only: every write is its own committed transaction, so a report or
    # `reconcile` in another process sees the run's progress while it goes.
    ledger.begin_run(RunMode.RUN, run_id=RUN)
    _record(ledger, 1)
    ledger.save_checkpoint(RUN, phase="patients", cursor="patient:1")
    with store.open_existing() as reader:
        assert [r.source_key for r in reader.records("contact")] == ["patient:1"]
        run = reader.run(RUN)
        assert run is not None
        assert run.cursor == "patient:1"


def test_close_keeps_group_committed_writes_and_a_failed_write_counts_nothing(
    ledger: AnyLedger, store: LedgerStore, identity: LedgerIdentity
) -> None:
    ledger.begin_run(RunMode.RUN, run_id=RUN)
    for n in range(5):
        _record(ledger, n)
    writes = ledger.writes
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.save_checkpoint("no-such-run", phase="patients", cursor=None)
    assert ledger.writes == writes
    ledger.close()
    with store.open(identity) as reopened:
        assert len(reopened.records("contact")) == 5
        assert (reopened.writes, reopened.durable_writes) == (0, 0)
