"""Progress events and run results: counts, rate and ETA, identifiers only (they reach logs and screens)."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

import attrs

from dentrix_highlevel.migration._state.ledger import RunMode, RunStatus
from dentrix_highlevel.migration._state.reconcile import Reconciliation

__all__ = ["MigrationProgress", "ProgressCallback", "RunResult"]


@attrs.frozen(kw_only=True)
class MigrationProgress:
    """One progress event. ``done``/``total`` count patients; the action counts cover every object kind.

    A rollback counts objects instead: ``done``/``total`` are the objects it deletes and restores,
    ``deleted`` the objects of ours it removed, ``restored`` the practice's own it put back as they were.
    """

    run_id: str
    mode: RunMode
    phase: str
    total: int
    done: int
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    deleted: int = 0
    """Objects the migration had created that a rollback deleted."""
    restored: int = 0
    """The practice's own objects a rollback returned to their pre-migration state."""
    requests: int = 0
    """HTTP requests this run has sent so far (retries included)."""
    elapsed_s: float = 0.0

    @property
    def rate_per_s(self) -> float:
        """Patients per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate; None before the first patient is done."""
        rate = self.rate_per_s
        return (self.total - self.done) / rate if rate > 0 else None

    @property
    def unit(self) -> str:
        """What ``done``/``total`` count: ``"objects"`` for a rollback, ``"patients"`` otherwise."""
        return "objects" if self.mode is RunMode.ROLLBACK else "patients"

    def line(self) -> str:
        """A one-line rendering for terminals and notebooks."""
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        if self.mode is RunMode.ROLLBACK:
            return (
                f"[{self.mode.value} {self.phase}] {self.done}/{self.total} objects, "
                f"{self.rate_per_s:.1f}/s, ETA {eta}; deleted {self.deleted}, restored {self.restored}, "
                f"failed {self.failed}; {self.requests} requests"
            )
        return (
            f"[{self.mode.value} {self.phase}] {self.done}/{self.total} patients, {self.rate_per_s:.1f}/s, "
            f"ETA {eta}; created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}, failed {self.failed}, conflicts {self.conflicts}; "
            f"{self.requests} requests"
        )


class ProgressCallback(Protocol):
    """What ``Migration(progress=...)`` takes: a function of one :class:`MigrationProgress`.

    What it receives is a typed event (``PhaseStarted``, ``RecordDone``, ``RateWait``, ``Stopped``,
    ``Finished``, all in ``dentrix_highlevel.migration``), each a :class:`MigrationProgress` subclass
    carrying the run's counts, so a callback that reads only the counts needs no change.

    A plain function (``events.append``, a bound method) is called; an ``async def`` one is awaited. Both
    run in the event loop between writes, so keep them quick. One that raises is logged once per run (the
    exception's type, never its message) and the run goes on; a cancellation it raises stops the run.
    """

    def __call__(self, event: MigrationProgress, /) -> Awaitable[None] | None: ...


@attrs.frozen(kw_only=True)
class RunResult:
    """What one ``sample``/``run``/``delta``/``rollback`` did.

    ``status`` is COMPLETED, or STOPPED when the run ended cleanly early (HighLevel's daily cap): call the
    same method again to resume. ``stopped_reason`` says why (no values).
    """

    run_id: str
    mode: RunMode
    status: RunStatus
    reconciliation: Reconciliation
    stopped_reason: str | None = None
    audit_csv: Path | None = None
    audit_jsonl: Path | None = None
    report: Path | None = None
    """The sample's field-level diff report (sample only)."""

    @property
    def completed(self) -> bool:
        return self.status is RunStatus.COMPLETED

    @property
    def ok(self) -> bool:
        """Everything reconciled: the run completed and every source record is accounted for (the same
        word as ``ReconcileResult.ok`` and ``Reconciliation.ok``)."""
        return self.completed and self.reconciliation.ok
