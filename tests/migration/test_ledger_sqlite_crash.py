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

# The child does what the engine does per patient: pre-image of a pre-existing object, intent, create,
# complete, record, checkpoint; it prints an index only after all of that is committed. On start it
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
    done = {int(r.source_key.split(":")[1]) for r in ledger.records("contact")}
    start = max(done) + 1 if done else 0
    # Created and completed but killed before the record (patients go one at a time, so at most the
    # next one): finish recording it.
    if ledger.destination_of("contact", f"patient:{start}"):
        record(start)
        start += 1
    print("ready", start, flush=True)
    for n in range(start, total):
        # Before any change, as the engine does; a resumed patient saves it again and the first one wins.
        ledger.save_pre_image("contact", f"X{n}", {"n": n}, run_id=run_id)
        lookup = {"source_id": str(n)}
        intent = ledger.begin_intent("contact", f"patient:{n}", "create", lookup, run_id=run_id)
        ledger.complete_intent(intent, destination_id=f"C{n}", created=True)
        record(n)
        ledger.save_checkpoint(run_id, phase="patients", cursor=f"patient:{n}")
        print(n, flush=True)
    ledger.close()
    print("finished", flush=True)
    """
)

# Killed children are told to go far beyond where they will be killed (still a bound on their loop); the
# final, uninterrupted one finishes a short way past where the last kill left off.
_KILLED_CHILD_LIMIT = 20_000
_FINAL_EXTRA = 25
_IDENTITY = LedgerIdentity(migration_id="crash", location_id="loc-1", source_fingerprint="g:1")


def _check_consistent(workdir: Path, acknowledged: set[int]) -> int:
    """Open (stamp + quick_check), then check every invariant; returns how many patients are recorded."""
    with SqliteLedger.open(workdir, identity=_IDENTITY) as ledger:
        records = {int(r.source_key.split(":")[1]): r for r in ledger.records("contact")}
        created = ledger.created_objects()
        pre_images = {p.destination_id for p in ledger.pre_images()}
        pending = ledger.pending_intents()
        audited = {row.source_key for row in ledger.audit_rows()}
    assert acknowledged <= set(records), "an acknowledged write is missing"
    # A record and its audit row are one transaction: never one without the other.
    assert audited == {f"patient:{n}" for n in records}
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
        assert intent.source_key == f"patient:{len(records)}"
    return len(records)


def test_sigkill_at_random_points_loses_nothing_acknowledged(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    rng = random.Random(20260301)
    acknowledged: set[int] = set()
    for round_number in range(8):
        child = subprocess.Popen(
            [sys.executable, str(script), str(workdir), f"run-{round_number}", str(_KILLED_CHILD_LIMIT)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        ready = child.stdout.readline().split()
        assert ready[:1] == ["ready"], child.stderr.read() if child.stderr else ""
        # Kill after a random number of acknowledged writes; the child keeps writing while we read, so
        # the signal lands at an arbitrary instant inside its loop (often mid-transaction).
        for _ in range(rng.randint(0, 25)):
            acknowledged.add(int(child.stdout.readline()))
        child.send_signal(signal.SIGKILL)
        _, stderr = child.communicate(timeout=120)  # a safety net against a hung child, not a timing check
        assert child.returncode == -signal.SIGKILL, stderr
        _check_consistent(workdir, acknowledged)

    # A last, uninterrupted resume finishes the job: every patient exactly once.
    with SqliteLedger.open(workdir, identity=_IDENTITY) as ledger:
        total = len(ledger.records("contact")) + _FINAL_EXTRA
    result = subprocess.run(
        [sys.executable, str(script), str(workdir), "run-final", str(total)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().endswith("finished")
    assert _check_consistent(workdir, acknowledged) == total
    with SqliteLedger.open(workdir, identity=_IDENTITY) as ledger:
        assert ledger.pending_intents() == []
        assert len(ledger.created_objects()) == total
        assert len(ledger.pre_images()) == total
