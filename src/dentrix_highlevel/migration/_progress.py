"""Progress events and run results: counts, rate and ETA, identifiers only (they reach logs and screens)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs

from dentrix_highlevel.migration._ledger import RunMode, RunStatus
from dentrix_highlevel.migration._reconcile import Reconciliation

__all__ = ["MigrationProgress", "ProgressCallback", "RunResult"]


@attrs.frozen(kw_only=True)
class MigrationProgress:
    """One progress event. ``done``/``total`` count patients; the action counts cover every object kind."""

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

    def line(self) -> str:
        """A one-line rendering for terminals and notebooks."""
        eta = f"{self.eta_s:.0f}s" if self.eta_s is not None else "?"
        return (
            f"[{self.mode.value} {self.phase}] {self.done}/{self.total} patients, {self.rate_per_s:.1f}/s, "
            f"ETA {eta}; created {self.created}, updated {self.updated}, unchanged {self.unchanged}, "
            f"skipped {self.skipped}, failed {self.failed}, conflicts {self.conflicts}; "
            f"{self.requests} requests"
        )


ProgressCallback = Callable[[MigrationProgress], None]


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
