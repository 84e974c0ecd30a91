"""The ledger contract, on every store (SQLite in a work directory, PostgreSQL on a real server): runs,
records, audit, intents, pre-images, rollback marks, watermark."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import anyio
import pytest
from tests.migration.conftest import LedgerStore

from dentrix_highlevel.errors import ConfigurationError, LedgerError
from dentrix_highlevel.migration import (
    Ledger,
    LedgerIdentity,
    PostgresLedger,
    RecordAction,
    RecordOutcome,
    RunMode,
    RunStatus,
    SourceHash,
    SqliteLedger,
)

A = RecordAction
Out = RecordOutcome
AnyLedger = SqliteLedger | PostgresLedger


@pytest.fixture
def ledger(any_ledger: AnyLedger) -> AnyLedger:
    """Every test here runs on each store (see ``store`` in conftest)."""
    return any_ledger


def test_each_store_satisfies_the_protocol(ledger: AnyLedger) -> None:
    as_protocol: Ledger = ledger  # mypy checks the signatures here; isinstance only checks the names
    assert isinstance(as_protocol, Ledger)
    assert as_protocol.identity == ledger.identity


# Runs and checkpoints ----------------------------------------------------------------------------------


def test_runs_start_running_and_finish_with_a_status(ledger: AnyLedger) -> None:
    run = ledger.begin_run(RunMode.RUN, run_id="run-1")
    assert run.status is RunStatus.RUNNING
    assert run.finished_at is None
    finished = ledger.finish_run("run-1", status=RunStatus.STOPPED)
    assert finished.status is RunStatus.STOPPED
    assert finished.finished_at is not None
    assert finished.finished_at > finished.started_at
    assert [r.run_id for r in ledger.runs()] == ["run-1"]


def test_generated_run_ids_are_unique_and_name_the_mode(ledger: AnyLedger) -> None:
    first = ledger.begin_run(RunMode.DELTA)
    second = ledger.begin_run(RunMode.DELTA)
    assert first.run_id != second.run_id
    assert first.run_id.startswith("delta-20260301T")


def test_a_run_id_cannot_be_reused(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(LedgerError, match="already exists"):
        ledger.begin_run(RunMode.RUN, run_id="run-1")


def test_finish_run_refuses_running_and_unknown_runs(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(ConfigurationError):
        ledger.finish_run("run-1", status=RunStatus.RUNNING)
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.finish_run("nope", status=RunStatus.COMPLETED)


def test_checkpoint_is_replaced_and_survives_reopening(
    ledger: AnyLedger, store: LedgerStore, identity: LedgerIdentity
) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.save_checkpoint("run-1", phase="patients", cursor="patient:10")
    ledger.save_checkpoint("run-1", phase="appointments", cursor="appointment:3")
    ledger.close()
    with store.open(identity) as reopened:
        run = reopened.run("run-1")
    assert run is not None
    assert (run.phase, run.cursor) == ("appointments", "appointment:3")
    assert run.checkpoint_at is not None


def test_a_stopped_or_crashed_run_resumes_under_its_own_id(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.save_checkpoint("run-1", phase="patients", cursor="patient:41")
    ledger.finish_run("run-1", status=RunStatus.STOPPED)  # daily cap
    resumed = ledger.resume_run("run-1")
    assert (resumed.status, resumed.finished_at) == (RunStatus.RUNNING, None)
    assert (resumed.phase, resumed.cursor) == ("patients", "patient:41")
    assert ledger.resume_run("run-1").status is RunStatus.RUNNING  # killed while running: resumable too
    ledger.finish_run("run-1", status=RunStatus.COMPLETED)
    with pytest.raises(LedgerError, match="completed"):
        ledger.resume_run("run-1")
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.resume_run("run-2")


def test_every_attempt_of_a_run_is_kept_with_how_it_ended(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.finish_run("run-1", status=RunStatus.STOPPED)  # daily cap
    ledger.resume_run("run-1")
    ledger.resume_run("run-1")  # the second attempt was killed while running
    ledger.finish_run("run-1", status=RunStatus.COMPLETED)
    ledger.begin_run(RunMode.ROLLBACK, run_id="rollback-1")
    seen = [(a.run_id, a.attempt, a.status) for a in ledger.attempts()]
    assert seen == [
        ("run-1", 1, RunStatus.STOPPED),
        ("run-1", 2, RunStatus.STOPPED),
        ("run-1", 3, RunStatus.COMPLETED),
        ("rollback-1", 1, RunStatus.RUNNING),
    ]
    first, _, last, running = ledger.attempts()
    assert first.ended_at is not None
    assert last.ended_at is not None
    assert last.ended_at >= last.started_at
    assert running.ended_at is None


def test_writes_naming_an_unknown_run_are_refused(ledger: AnyLedger) -> None:
    with pytest.raises(LedgerError, match="begin_run first"):
        ledger.record_result("ghost", "contact", "patient:1", action=A.SKIPPED, outcome=Out.NOT_APPLIED)
    with pytest.raises(LedgerError):
        ledger.begin_intent("contact", "patient:1", "create", {}, run_id="ghost")
    with pytest.raises(LedgerError):
        ledger.save_checkpoint("ghost", phase="setup", cursor=None)


# Records and the audit log -----------------------------------------------------------------------------


def test_record_result_keeps_the_latest_state_and_one_audit_row_per_run(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.record_result(
        "run-1",
        "contact",
        "patient:1",
        action=A.CREATED,
        outcome=Out.APPLIED,
        destination_id="C1",
        content_hash="h1",
    )
    ledger.begin_run(RunMode.DELTA, run_id="delta-1")
    record = ledger.record_result(
        "delta-1",
        "contact",
        "patient:1",
        action=A.UPDATED,
        outcome=Out.APPLIED,
        destination_id="C1",
        content_hash="h2",
    )
    assert (record.action, record.content_hash, record.run_id) == (A.UPDATED, "h2", "delta-1")
    assert record.first_recorded_at < record.updated_at
    assert ledger.record("contact", "patient:1") == record
    assert [(r.run_id, r.action) for r in ledger.audit_rows()] == [
        ("run-1", A.CREATED),
        ("delta-1", A.UPDATED),
    ]
    assert [r.action for r in ledger.audit_rows(run_id="delta-1")] == [A.UPDATED]


def test_a_resumed_run_keeps_the_stronger_action(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.record_result(
        "run-1", "contact", "patient:1", action=A.CREATED, outcome=Out.APPLIED, destination_id="C1"
    )
    ledger.record_result(
        "run-1", "contact", "patient:1", action=A.UNCHANGED, outcome=Out.APPLIED, destination_id="C1"
    )
    ledger.record_result(
        "run-1", "contact", "patient:1", action=A.UPDATED, outcome=Out.APPLIED, destination_id="C1"
    )
    ledger.record_result(
        "run-1", "contact", "patient:2", action=A.UPDATED, outcome=Out.APPLIED, destination_id="C2"
    )
    ledger.record_result(
        "run-1", "contact", "patient:2", action=A.UNCHANGED, outcome=Out.APPLIED, destination_id="C2"
    )
    rows = {r.source_key: r.action for r in ledger.audit_rows(run_id="run-1")}
    assert rows == {"patient:1": A.CREATED, "patient:2": A.UPDATED}
    record = ledger.record("contact", "patient:1")
    assert record is not None
    assert record.action is A.CREATED
    # A failure later in the same run is news: it replaces the earlier action.
    ledger.record_result(
        "run-1", "contact", "patient:1", action=A.FAILED, outcome=Out.NOT_APPLIED, reason="HTTP 422"
    )
    assert {r.source_key: r.action for r in ledger.audit_rows(run_id="run-1")}["patient:1"] is A.FAILED
    # In the next run the same record can be plainly unchanged.
    ledger.begin_run(RunMode.RUN, run_id="run-2")
    after = ledger.record_result(
        "run-2", "contact", "patient:1", action=A.UNCHANGED, outcome=Out.APPLIED, destination_id="C1"
    )
    assert after.action is A.UNCHANGED


def test_a_failed_retry_keeps_the_known_destination_and_hash(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.record_result(
        "run-1",
        "contact",
        "patient:1",
        action=A.CREATED,
        outcome=Out.APPLIED,
        destination_id="C1",
        content_hash="h1",
    )
    ledger.begin_run(RunMode.DELTA, run_id="delta-1")
    record = ledger.record_result(
        "delta-1", "contact", "patient:1", action=A.FAILED, outcome=Out.NOT_APPLIED, reason="HTTP 422 on PUT"
    )
    assert (record.destination_id, record.content_hash, record.action) == ("C1", "h1", A.FAILED)
    assert ledger.destination_of("contact", "patient:1") == "C1"


@pytest.mark.parametrize(
    ("action", "outcome", "destination_id"),
    [
        (A.CREATED, Out.NOT_APPLIED, "C1"),
        (A.SKIPPED, Out.APPLIED, "C1"),
        (A.CONFLICT, Out.APPLIED, "C1"),
        (A.CREATED, Out.APPLIED, None),
        (A.CONFLICT, Out.PARTIAL, None),
    ],
)
def test_inconsistent_results_are_refused(
    ledger: AnyLedger, action: RecordAction, outcome: RecordOutcome, destination_id: str | None
) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(ConfigurationError):
        ledger.record_result(
            "run-1", "contact", "patient:1", action=action, outcome=outcome, destination_id=destination_id
        )
    assert ledger.record("contact", "patient:1") is None
    assert ledger.audit_rows() == []


@pytest.mark.parametrize(
    ("kind", "key"), [("Contact", "p:1"), ("contact", ""), ("contact", "p\n1"), ("", "p:1")]
)
def test_bad_kinds_and_keys_are_refused(ledger: AnyLedger, kind: str, key: str) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(ConfigurationError):
        ledger.record_result("run-1", kind, key, action=A.SKIPPED, outcome=Out.NOT_APPLIED)


def test_owner_of_finds_the_patient_a_contact_belongs_to(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.record_result(
        "run-1", "contact", "patient:1", action=A.CREATED, outcome=Out.APPLIED, destination_id="C1"
    )
    assert ledger.owner_of("contact", "C1") == "patient:1"
    assert ledger.owner_of("contact", "C2") is None
    assert ledger.owner_of("note", "C1") is None
    # Created but not yet recorded (killed in between): the settled intent still says whose it is.
    intent = ledger.begin_intent("contact", "patient:2", "upsert", {}, run_id="run-1")
    ledger.complete_intent(intent, destination_id="C2", created=True)
    assert ledger.owner_of("contact", "C2") == "patient:2"
    assert ledger.destination_of("contact", "patient:2") == "C2"
    assert ledger.destination_of("contact", "patient:3") is None


def test_records_lists_by_kind(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    for key in ("patient:2", "patient:1"):
        ledger.record_result("run-1", "contact", key, action=A.SKIPPED, outcome=Out.NOT_APPLIED)
    ledger.record_result("run-1", "note", "patient:1/note:0", action=A.SKIPPED, outcome=Out.NOT_APPLIED)
    assert [r.source_key for r in ledger.records("contact")] == ["patient:1", "patient:2"]
    assert len(ledger.records()) == 3


# Intents -----------------------------------------------------------------------------------------------


def test_intents_are_pending_until_settled(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    first = ledger.begin_intent(
        "contact",
        "patient:1",
        "upsert",
        {"source_system_id": "g:1", "email": "a@example.org"},
        run_id="run-1",
    )
    second = ledger.begin_intent("note", "patient:1/note:0", "create", {}, run_id="run-1", parent_id="C1")
    third = ledger.begin_intent("contact", "patient:2", "create", {"source_system_id": "g:2"}, run_id="run-1")
    pending = ledger.pending_intents()
    assert [p.intent_id for p in pending] == [first, second, third]
    assert pending[0].lookup == {"source_system_id": "g:1", "email": "a@example.org"}
    assert pending[1].parent_id == "C1"

    ledger.complete_intent(first, destination_id="C1", created=True)
    ledger.abandon_intent(third, reason="not found by source_system_id")
    assert [p.intent_id for p in ledger.pending_intents()] == [second]


def test_completing_is_idempotent_and_conflicting_settlements_are_refused(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    intent = ledger.begin_intent("contact", "patient:1", "create", {}, run_id="run-1")
    ledger.complete_intent(intent, destination_id="C1", created=True)
    ledger.complete_intent(intent, destination_id="C1", created=True)
    assert len(ledger.created_objects()) == 1
    with pytest.raises(LedgerError, match="another result"):
        ledger.complete_intent(intent, destination_id="C9", created=True)
    with pytest.raises(LedgerError, match="cannot be abandoned"):
        ledger.abandon_intent(intent, reason="x")
    other = ledger.begin_intent("contact", "patient:2", "create", {}, run_id="run-1")
    ledger.abandon_intent(other, reason="not found")
    ledger.abandon_intent(other, reason="not found")
    with pytest.raises(LedgerError, match="abandoned"):
        ledger.complete_intent(other, destination_id="C2", created=True)
    with pytest.raises(LedgerError, match="not in the ledger"):
        ledger.complete_intent(999, destination_id="C2", created=True)


def test_an_upsert_that_matched_an_existing_object_is_not_ours_to_delete(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    intent = ledger.begin_intent("contact", "patient:1", "upsert", {}, run_id="run-1")
    ledger.complete_intent(intent, destination_id="PRE-EXISTING", created=False)
    assert ledger.created_objects() == []
    assert ledger.owner_of("contact", "PRE-EXISTING") == "patient:1"


def test_pending_intent_repr_hides_lookup_values(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    ledger.begin_intent("contact", "patient:1", "upsert", {"email": "jane.doe@example.org"}, run_id="run-1")
    (pending,) = ledger.pending_intents()
    text = repr(pending) + str(pending)
    assert "jane.doe" not in text
    assert "email" in text


# Pre-images and rollback material ----------------------------------------------------------------------


def test_pre_image_first_write_wins(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    before = {"id": "X1", "tags": ["vip"], "customFields": [{"id": "cf1", "value": "old"}]}
    assert ledger.save_pre_image("contact", "X1", before, run_id="run-1") is True
    assert (
        ledger.save_pre_image("contact", "X1", {"id": "X1", "tags": ["vip", "migrated"]}, run_id="run-1")
        is False
    )
    ledger.begin_run(RunMode.DELTA, run_id="delta-1")
    assert ledger.save_pre_image("contact", "X1", {"id": "X1", "tags": []}, run_id="delta-1") is False
    (image,) = ledger.pre_images()
    assert image.payload == before
    assert image.run_id == "run-1"
    assert "vip" not in repr(image)


def test_objects_we_created_get_no_pre_image(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    intent = ledger.begin_intent("contact", "patient:1", "create", {}, run_id="run-1")
    ledger.complete_intent(intent, destination_id="C1", created=True)
    assert ledger.save_pre_image("contact", "C1", {"id": "C1"}, run_id="run-1") is False
    assert ledger.pre_images() == []


def test_pre_images_must_be_json(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(ConfigurationError, match="JSON"):
        ledger.save_pre_image("contact", "X1", {"when": datetime.now(UTC)}, run_id="run-1")
    with pytest.raises(ConfigurationError):
        ledger.save_pre_image("contact", "X1", float("nan"), run_id="run-1")


def test_created_objects_come_newest_first_and_rollback_marks_are_idempotent(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    created: list[tuple[str, str]] = []
    for n in range(3):
        contact = ledger.begin_intent("contact", f"patient:{n}", "create", {}, run_id="run-1")
        ledger.complete_intent(contact, destination_id=f"C{n}", created=True)
        note = ledger.begin_intent(
            "note", f"patient:{n}/note:0", "create", {}, run_id="run-1", parent_id=f"C{n}"
        )
        ledger.complete_intent(note, destination_id=f"N{n}", created=True)
        created += [("contact", f"C{n}"), ("note", f"N{n}")]
    order = [(o.kind, o.destination_id) for o in ledger.created_objects()]
    assert order == list(reversed(created))
    assert ledger.created_objects()[0].parent_id == "C2"

    ledger.begin_run(RunMode.ROLLBACK, run_id="rollback-1")
    ledger.mark_rolled_back("note", "N2")
    ledger.mark_rolled_back("contact", "C2")
    first_mark = ledger.created_objects(include_rolled_back=True)[0].rolled_back_at
    ledger.mark_rolled_back("note", "N2")  # a resumed rollback repeating itself changes nothing
    assert ledger.created_objects(include_rolled_back=True)[0].rolled_back_at == first_mark
    remaining = [(o.kind, o.destination_id) for o in ledger.created_objects()]
    assert remaining == list(reversed(created))[2:]
    assert len(ledger.created_objects(include_rolled_back=True)) == 6
    with pytest.raises(LedgerError, match="not an object this migration created"):
        ledger.mark_rolled_back("contact", "X1")


def test_rollback_marks_forget_what_pointed_at_the_object(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    intent = ledger.begin_intent("contact", "patient:1", "create", {}, run_id="run-1")
    ledger.complete_intent(intent, destination_id="C1", created=True)
    ledger.record_result(
        "run-1",
        "contact",
        "patient:1",
        action=A.CREATED,
        outcome=Out.APPLIED,
        destination_id="C1",
        content_hash="h",
    )
    matched = ledger.begin_intent("contact", "patient:2", "upsert", {}, run_id="run-1")
    ledger.complete_intent(matched, destination_id="X2", created=False)
    ledger.save_pre_image("contact", "X2", {"id": "X2"}, run_id="run-1")
    ledger.record_result(
        "run-1",
        "contact",
        "patient:2",
        action=A.UPDATED,
        outcome=Out.APPLIED,
        destination_id="X2",
        content_hash="h",
    )
    ledger.begin_run(RunMode.ROLLBACK, run_id="rollback-1")
    ledger.mark_rolled_back("contact", "C1")
    ledger.mark_restored("contact", "X2")
    # Nothing resolves to a deleted id or claims the restored object holds what we sent...
    for key, destination in (("patient:1", "C1"), ("patient:2", "X2")):
        assert ledger.record("contact", key) is None
        assert ledger.destination_of("contact", key) is None
        assert ledger.owner_of("contact", destination) is None
    # ...and the audit log still tells what happened.
    assert [(r.source_key, r.action) for r in ledger.audit_rows()] == [
        ("patient:1", A.CREATED),
        ("patient:2", A.UPDATED),
    ]


def test_migrating_a_restored_object_again_takes_a_fresh_pre_image(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    assert ledger.save_pre_image("contact", "X1", {"v": 1}, run_id="run-1")
    ledger.begin_run(RunMode.ROLLBACK, run_id="rollback-1")
    ledger.mark_restored("contact", "X1")
    assert ledger.pre_images() == []
    ledger.begin_run(RunMode.RUN, run_id="run-2")
    assert ledger.save_pre_image("contact", "X1", {"v": 2}, run_id="run-2") is True
    assert ledger.save_pre_image("contact", "X1", {"v": 3}, run_id="run-2") is False
    (image,) = ledger.pre_images()
    assert (image.payload, image.run_id, image.restored_at) == ({"v": 2}, "run-2", None)


def test_restored_pre_images_drop_out_of_the_list(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    for n in range(3):
        ledger.save_pre_image("contact", f"X{n}", {"n": n}, run_id="run-1")
    assert [p.destination_id for p in ledger.pre_images()] == ["X2", "X1", "X0"]
    ledger.mark_restored("contact", "X1")
    ledger.mark_restored("contact", "X1")
    assert [p.destination_id for p in ledger.pre_images()] == ["X2", "X0"]
    assert len(ledger.pre_images(include_restored=True)) == 3
    with pytest.raises(LedgerError):
        ledger.mark_restored("contact", "nope")


# Watermark and plan ------------------------------------------------------------------------------------


def test_watermark_and_source_hashes(ledger: AnyLedger) -> None:
    assert ledger.watermark() is None
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    as_of = datetime(2026, 2, 28, 23, 0, tzinfo=UTC)
    ledger.set_watermark(
        run_id="run-1",
        source_as_of=as_of,
        hashes=[SourceHash("contact", "patient:1", "a"), SourceHash("contact", "patient:2", "b")],
    )
    ledger.begin_run(RunMode.DELTA, run_id="delta-1")
    later = as_of + timedelta(days=1)
    mark = ledger.set_watermark(
        run_id="delta-1",
        source_as_of=later,
        hashes=[SourceHash("contact", "patient:2", "b2"), SourceHash("contact", "patient:3", "c")],
        removed=[("contact", "patient:1")],
    )
    assert ledger.watermark() == mark
    assert mark.source_as_of == later
    assert ledger.source_hashes("contact") == {"patient:2": "b2", "patient:3": "c"}
    assert ledger.source_hashes("note") == {}


def test_watermark_needs_an_aware_time(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    with pytest.raises(ConfigurationError, match="timezone"):
        ledger.set_watermark(run_id="run-1", source_as_of=datetime(2026, 1, 1))


def test_plan_approval_is_recorded(ledger: AnyLedger) -> None:
    assert ledger.approved_plan() is None
    ledger.approve_plan("sha256:abc", approved_by="office.manager")
    ledger.approve_plan("sha256:def", approved_by="office.manager")
    approved = ledger.approved_plan()
    assert approved is not None
    assert approved.plan_hash == "sha256:def"


# Lifecycle and threads ---------------------------------------------------------------------------------


def test_a_closed_ledger_refuses_work(ledger: AnyLedger) -> None:
    ledger.close()
    ledger.close()
    with pytest.raises(LedgerError, match="closed"):
        ledger.runs()


@pytest.mark.anyio
async def test_worker_threads_can_share_one_ledger(ledger: AnyLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    limiter = anyio.CapacityLimiter(8)

    async def migrate(n: int) -> None:
        intent = await anyio.to_thread.run_sync(
            functools.partial(ledger.begin_intent, "contact", f"patient:{n}", "create", {}, run_id="run-1"),
            limiter=limiter,
        )
        await anyio.to_thread.run_sync(
            functools.partial(ledger.complete_intent, intent, destination_id=f"C{n}", created=True),
            limiter=limiter,
        )
        await anyio.to_thread.run_sync(
            functools.partial(
                ledger.record_result,
                "run-1",
                "contact",
                f"patient:{n}",
                action=A.CREATED,
                outcome=Out.APPLIED,
                destination_id=f"C{n}",
            ),
            limiter=limiter,
        )

    async with anyio.create_task_group() as tg:
        for n in range(40):
            tg.start_soon(migrate, n)
    assert len(ledger.records("contact")) == 40
    assert len(ledger.created_objects()) == 40
    assert ledger.pending_intents() == []
