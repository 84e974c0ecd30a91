"""Crash safety: a writer killed with SIGKILL at random points leaves a ledger that opens, passes
``quick_check``, holds every write it acknowledged, and lets the next process resume without duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dentrix_highlevel.migration import LedgerIdentity, RecordAction, SqliteLedger

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL")

# The child does what the engine does per patient: intent, create, complete, record, pre-image of a
# pre-existing object, checkpoint; it prints an index only after all of that is committed. On start it
# resolves what a killed predecessor left pending (here: "found it in HighLevel") and resumes after the
# last recorded patient, as the engine's resume would.
_WRITER = textwrap.dedent(
    """
    import sys
    from dentrix_highlevel.migration import (
        LedgerIdentity, RecordAction, RecordOutcome, RunMode, SqliteLedger,
    )

    workdir, run_id, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    identity = LedgerIdentity(migration_id="crash", location_id="loc-1", source_fingerprint="g:1")
    ledger = SqliteLedger.open(workdir, identity=identity)
    ledger.begin_run(RunMode.RUN, run_id=run_id)

    def record(n):
        ledger.record_result(
            run_id, "contact", f"patient:{n}", action=RecordAction.CREATED, outcome=RecordOutcome.APPLIED,
            destination_id=f"C{n}", content_hash=f"h{n}",
        )

    for intent in ledger.pending_intents():
        n = int(intent.source_key.split(":")[1])
        ledger.complete_intent(intent.intent_id, destination_id=f"C{n}", created=True)
    for n in range(total):
        # Created and completed but killed before the record: finish recording it.
        key = f"patient:{n}"
        if ledger.record("contact", key) is None and ledger.destination_of("contact", key):
            record(n)
    done = {int(r.source_key.split(":")[1]) for r in ledger.records("contact")}
    start = max(done) + 1 if done else 0
    print("ready", start, flush=True)
    for n in range(start, total):
        lookup = {"source_id": str(n)}
        intent = ledger.begin_intent("contact", f"patient:{n}", "create", lookup, run_id=run_id)
        ledger.complete_intent(intent, destination_id=f"C{n}", created=True)
        record(n)
        ledger.save_pre_image("contact", f"X{n}", {"n": n}, run_id=run_id)
        ledger.save_checkpoint(run_id, phase="patients", cursor=f"patient:{n}")
        print(n, flush=True)
    ledger.close()
    print("finished", flush=True)
    """
)

_TOTAL = 400  # bounds every child's loop
_IDENTITY = LedgerIdentity(migration_id="crash", location_id="loc-1", source_fingerprint="g:1")


def _check_consistent(workdir: Path, acknowledged: set[int]) -> int:
    """Open (stamp + quick_check), then check every invariant; returns how many patients are recorded."""
    with SqliteLedger.open(workdir, identity=_IDENTITY) as ledger:
        records = {int(r.source_key.split(":")[1]): r for r in ledger.records("contact")}
        created = ledger.created_objects()
        pre_images = {p.destination_id for p in ledger.pre_images()}
        pending = ledger.pending_intents()
    assert acknowledged <= set(records), "an acknowledged write is missing"
    # Recorded patients are a prefix: nothing skipped.
    assert set(records) == set(range(len(records)))
    for n, record in records.items():
        assert record.destination_id == f"C{n}"
        assert record.action is RecordAction.CREATED
    for n in acknowledged:
        assert f"X{n}" in pre_images
    # One created object per patient, never two; each is either recorded or the one left in flight.
    created_ids = [o.destination_id for o in created]
    assert len(created_ids) == len(set(created_ids))
    assert len(created_ids) - len(records) in (0, 1)
    # At most the one create the kill interrupted is pending, and it is for the next patient.
    assert len(pending) <= 1
    for intent in pending:
        assert (
            intent.source_key == f"patient:{len(records)}"
            or intent.source_key == f"patient:{len(records) - 1}"
        )
    return len(records)


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    rng = random.Random(20260301)
    acknowledged: set[int] = set()
    kills = 0
    for round_number in range(8):
        child = subprocess.Popen(
            [sys.executable, str(script), str(workdir), f"run-{round_number}", str(_TOTAL)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], child.stderr.read() if child.stderr else ""
        # Kill after a random number of acknowledged writes; the child keeps writing while we read, so
        # the signal lands at an arbitrary instant inside its loop (often mid-transaction).
        wanted = rng.randint(0, 25)
        finished = False
        for _ in range(wanted):
            line = child.stdout.readline().strip()
            if not line or line == "finished":
                finished = True
                break
            acknowledged.add(int(line))
        if not finished:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.communicate()
        if not finished:
            assert child.returncode == -signal.SIGKILL
        _check_consistent(workdir, acknowledged)
    assert kills >= 6

    # A last, uninterrupted resume finishes the job: every patient exactly once.
    result = subprocess.run(
        [sys.executable, str(script), str(workdir), "run-final", str(_TOTAL)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().endswith("finished")
    assert _check_consistent(workdir, acknowledged) == _TOTAL
    with SqliteLedger.open(workdir, identity=_IDENTITY) as ledger:
        assert ledger.pending_intents() == []
        assert len(ledger.created_objects()) == _TOTAL
        assert len(ledger.pre_images()) == _TOTAL
