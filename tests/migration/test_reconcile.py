"""Reconciliation math: source + removed = created + updated + unchanged + conflict + skipped + failed,
each record in exactly one column on the right."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.migration import (
    AuditRow,
    KindReconciliation,
    Reconciliation,
    RecordAction,
    RecordOutcome,
    RunMode,
    SqliteLedger,
)
from dentrix_highlevel.migration._state.audit import ALLOWED_OUTCOMES

AT = datetime(2026, 3, 1, tzinfo=UTC)


def _row(kind: str, key: str, action: RecordAction, outcome: RecordOutcome) -> AuditRow:
    return AuditRow(
        run_id="run-1",
        kind=kind,
        source_key=key,
        destination_id=None if outcome is RecordOutcome.NOT_APPLIED else f"D-{key}",
        action=action,
        outcome=outcome,
        reason=None,
        at=AT,
    )


_PAIRS = [(action, outcome) for action, outcomes in ALLOWED_OUTCOMES.items() for outcome in sorted(outcomes)]

_rows = st.lists(
    st.tuples(
        st.sampled_from(["contact", "note", "appointment"]), st.integers(0, 30), st.sampled_from(_PAIRS)
    ),
    max_size=120,
)


@given(rows=_rows, extra=st.integers(-3, 3))
def test_counts_partition_the_source(
    rows: list[tuple[str, int, tuple[RecordAction, RecordOutcome]]], extra: int
) -> None:
    audit = [_row(kind, f"k:{n}", action, outcome) for kind, n, (action, outcome) in rows]
    latest = {(r.kind, r.source_key): r for r in audit}  # last row per record wins
    distinct = Counter(kind for kind, _ in latest)
    source_counts = dict(distinct)
    if distinct:
        first_kind = sorted(distinct)[0]
        source_counts[first_kind] = max(0, source_counts[first_kind] + extra)

    rec = Reconciliation.from_results(audit, source_counts=source_counts)

    for kind, count in distinct.items():
        k = rec.kind(kind)
        assert k is not None
        assert k.accounted == count
        assert k.created + k.updated + k.unchanged + k.conflict + k.skipped + k.failed == count
        conflicts = [r for (kk, _), r in latest.items() if kk == kind and r.action is RecordAction.CONFLICT]
        written = sum(r.outcome is RecordOutcome.PARTIAL for r in conflicts)
        plain_skipped = sum(r.action is RecordAction.SKIPPED for (kk, _), r in latest.items() if kk == kind)
        plain_failed = sum(r.action is RecordAction.FAILED for (kk, _), r in latest.items() if kk == kind)
        assert k.conflict == written
        assert k.skipped == plain_skipped
        assert k.failed == plain_failed + len(conflicts) - written
        assert k.difference == source_counts[kind] - count
    assert rec.reconciles == all(rec.kind(kind).difference == 0 for kind in distinct)  # type: ignore[union-attr]
    total = rec.totals()
    assert total.accounted == sum(distinct.values())
    assert total.source == sum(source_counts.values())


def test_written_with_conflict_has_its_own_column_unresolved_is_failed() -> None:
    rows = [
        _row("contact", "patient:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("contact", "patient:2", RecordAction.CONFLICT, RecordOutcome.PARTIAL),
        _row("contact", "patient:3", RecordAction.CONFLICT, RecordOutcome.NOT_APPLIED),
        _row("contact", "patient:4", RecordAction.UNCHANGED, RecordOutcome.APPLIED),
    ]
    rec = Reconciliation.from_results(rows, source_counts={"contact": 4})
    assert rec.kinds == (
        KindReconciliation(kind="contact", source=4, created=1, unchanged=1, conflict=1, failed=1),
    )
    assert rec.reconciles
    assert rec.kinds[0].skipped == 0  # not counted twice


def test_written_with_conflict_in_the_ledgers_latest_state(ledger: SqliteLedger) -> None:
    # The engine records a family member created without the shared e-mail as CONFLICT / PARTIAL.
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    for n, action, outcome in [
        (1, RecordAction.CREATED, RecordOutcome.APPLIED),
        (2, RecordAction.CONFLICT, RecordOutcome.PARTIAL),
        (3, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED),
    ]:
        ledger.record_result(
            "run-1",
            "contact",
            f"patient:{n}",
            action=action,
            outcome=outcome,
            destination_id=None if outcome is RecordOutcome.NOT_APPLIED else f"C{n}",
            reason="email withheld: shared with patient:1" if n == 2 else None,
        )
    k = Reconciliation.from_results(ledger.records(), source_counts={"contact": 3}).kinds[0]
    assert (k.created, k.conflict, k.skipped, k.failed, k.reconciles) == (1, 1, 1, 0, True)


def test_missing_and_unexpected_kinds_do_not_reconcile() -> None:
    rows = [_row("note", "patient:1/note:0", RecordAction.CREATED, RecordOutcome.APPLIED)]
    rec = Reconciliation.from_results(rows, source_counts={"contact": 2})
    assert not rec.reconciles
    assert [(k.kind, k.difference) for k in rec.mismatched] == [("contact", 2), ("note", -1)]


def test_render_shows_every_kind_a_total_and_the_gap() -> None:
    rows = [
        _row("contact", "patient:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("contact", "patient:2", RecordAction.FAILED, RecordOutcome.NOT_APPLIED),
        _row("appointment", "appointment:1", RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED),
    ]
    text = Reconciliation.from_results(rows, source_counts={"contact": 3, "appointment": 1}).render()
    lines = text.splitlines()
    assert lines[0].split() == [
        "kind",
        "source",
        "removed",
        "created",
        "updated",
        "unchanged",
        "conflict",
        "skipped",
        "failed",
        "status",
    ]
    by_kind = {line.split()[0]: line.split() for line in lines if not line.startswith("-")}
    assert by_kind["appointment"][1:] == ["1", "0", "0", "0", "0", "0", "1", "0", "OK"]
    assert by_kind["contact"][1:] == ["3", "0", "1", "0", "0", "0", "0", "1", "MISMATCH", "+1"]
    assert by_kind["total"][1:] == ["4", "0", "1", "0", "0", "0", "1", "1", "MISMATCH", "+1"]
    assert [line.split()[0] for line in lines if not line.startswith("-")] == [
        "kind",
        "appointment",
        "contact",
        "total",
    ]


def test_to_json_round_trips_the_counts() -> None:
    rows = [_row("contact", "patient:1", RecordAction.UPDATED, RecordOutcome.PARTIAL)]
    saved = json.loads(Reconciliation.from_results(rows, source_counts={"contact": 1}).to_json())
    assert saved == {
        "reconciles": True,
        "kinds": [
            {
                "kind": "contact",
                "source": 1,
                "removed": 0,
                "created": 0,
                "updated": 1,
                "unchanged": 0,
                "conflict": 0,
                "skipped": 0,
                "failed": 0,
                "reconciles": True,
            }
        ],
    }


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        KindReconciliation(kind="contact", source=-1)


def test_the_ledgers_latest_state_reconciles_across_runs(ledger: SqliteLedger) -> None:
    ledger.begin_run(RunMode.RUN, run_id="run-1")
    for n in range(3):
        ledger.record_result(
            "run-1",
            "contact",
            f"patient:{n}",
            action=RecordAction.CREATED,
            outcome=RecordOutcome.APPLIED,
            destination_id=f"C{n}",
        )
    ledger.begin_run(RunMode.DELTA, run_id="delta-1")
    ledger.record_result(
        "delta-1",
        "contact",
        "patient:1",
        action=RecordAction.UPDATED,
        outcome=RecordOutcome.APPLIED,
        destination_id="C1",
    )
    whole = Reconciliation.from_results(ledger.records(), source_counts={"contact": 3})
    assert whole.reconciles
    assert (whole.kinds[0].created, whole.kinds[0].updated) == (2, 1)
    delta = Reconciliation.from_results(ledger.audit_rows(run_id="delta-1"), source_counts={"contact": 1})
    assert delta.reconciles
    assert delta.kinds[0].updated == 1


def test_removed_records_balance_against_the_current_source_and_stay_in_their_column() -> None:
    # patient:2 is gone from the source: kept in HighLevel (skipped), its appointment still created.
    rows = [
        _row("contact", "patient:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("contact", "patient:2", RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED),
        _row("appointment", "appointment:1", RecordAction.CREATED, RecordOutcome.APPLIED),
        _row("appointment", "appointment:2", RecordAction.CREATED, RecordOutcome.APPLIED),
    ]
    gone = {("contact", "patient:2"), ("appointment", "appointment:2")}
    rec = Reconciliation.from_results(
        rows, source_counts={"contact": 1, "appointment": 1}, removed=lambda kind, key: (kind, key) in gone
    )
    assert rec.reconciles, rec.render()
    contact = rec.kind("contact")
    assert contact == KindReconciliation(kind="contact", source=1, removed=1, created=1, skipped=1)
    assert rec.totals().removed == 2
    assert json.loads(rec.to_json())["kinds"][1]["removed"] == 1
    assert rec.render().splitlines()[2].split()[:4] == ["appointment", "1", "1", "2"]
    # Without telling removed records apart, the same rows are more than the source holds.
    plain = Reconciliation.from_results(rows, source_counts={"contact": 1, "appointment": 1})
    assert [(k.kind, k.difference) for k in plain.mismatched] == [("appointment", -1), ("contact", -1)]
    # A removed count without its records is a gap too.
    short = KindReconciliation(kind="contact", source=1, removed=1, created=1)
    assert short.difference == 1
    assert not short.reconciles


def test_a_negative_removed_count_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        KindReconciliation(kind="contact", source=0, removed=-1)
