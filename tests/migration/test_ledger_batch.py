"""Batched ledger calls: many tasks share one worker-thread hop, and their intents one durable commit."""

from __future__ import annotations

import anyio
import pytest

from dentrix_highlevel.errors import LedgerError
from dentrix_highlevel.migration import RunMode, SqliteLedger
from dentrix_highlevel.migration._state.batch import IntentRequest, LedgerBatcher

TASKS = 50


def test_concurrent_intents_share_batches_and_each_is_durable_on_return(ledger: SqliteLedger) -> None:
    run = ledger.begin_run(RunMode.RUN, run_id="run-1")
    batcher = LedgerBatcher(ledger)
    ids: dict[int, int] = {}
    on_disk_when_returned: list[bool] = []

    async def task(n: int) -> None:
        request = IntentRequest(
            "contact", f"patient:{n}", "create", {"email": f"p{n}@example.com"}, run.run_id
        )
        ids[n] = await batcher.begin_intent(request)
        # What a crash would leave: the intent is committed before the caller may send its create.
        pending = {p.intent_id for p in ledger.pending_intents()}
        on_disk_when_returned.append(ids[n] in pending)
        await batcher.call(ledger.complete_intent, ids[n], destination_id=f"c{n}", created=True)

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(TASKS):
                tg.start_soon(task, n)

    anyio.run(main)
    assert len(set(ids.values())) == TASKS
    assert all(on_disk_when_returned)
    assert ledger.pending_intents() == []
    assert {o.destination_id for o in ledger.created_objects()} == {f"c{n}" for n in range(TASKS)}
    # 100 calls, far fewer hops (the exact count depends on scheduling, never on the clock).
    assert batcher.calls == 2 * TASKS
    assert batcher.batches < batcher.calls
    # One durable commit per batch of intents, not one per intent.
    assert ledger.durable_writes < 1 + TASKS


def test_one_refused_call_fails_alone(ledger: SqliteLedger) -> None:
    run = ledger.begin_run(RunMode.RUN, run_id="run-1")
    batcher = LedgerBatcher(ledger)
    results: dict[str, object] = {}

    async def good(n: int) -> None:
        results[f"good{n}"] = await batcher.begin_intent(
            IntentRequest("contact", f"patient:{n}", "create", {}, run.run_id)
        )

    async def bad() -> None:
        with pytest.raises(LedgerError):
            await batcher.begin_intent(IntentRequest("contact", "patient:x", "create", {}, "no-such-run"))
        results["bad"] = "raised"

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(good, n)
            tg.start_soon(bad)

    anyio.run(main)
    assert results["bad"] == "raised"
    assert len({results[f"good{n}"] for n in range(5)}) == 5
    assert len(ledger.pending_intents()) == 5


def test_a_cancelled_caller_still_finishes_its_write(ledger: SqliteLedger) -> None:
    run = ledger.begin_run(RunMode.RUN, run_id="run-1")
    batcher = LedgerBatcher(ledger)

    async def main() -> None:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await batcher.begin_intent(IntentRequest("contact", "patient:1", "create", {}, run.run_id))

    anyio.run(main)
    assert len(ledger.pending_intents()) == 1
