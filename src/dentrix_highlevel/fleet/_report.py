"""What a fleet command did, per office: the JSON and markdown report in the fleet directory.

Identifiers and counts only: office names, location ids, statuses, record counts, failed records' source
keys and one-sentence reasons (the library's own messages, which never carry patient values). Both files
are owner-only (0600), written atomically.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Any, Final

import attrs

from dentrix_highlevel._private_files import ensure_private_dir, write_private

__all__ = [
    "REPORT_JSON",
    "REPORT_MARKDOWN",
    "FleetReport",
    "OfficeProgress",
    "OfficeReport",
    "OfficeStatus",
]

REPORT_JSON: Final = "fleet-report.json"
REPORT_MARKDOWN: Final = "fleet-report.md"
_FORMAT: Final = "dentrix-highlevel-fleet-report"
#: Record counts kept per office (the reconciliation's buckets).
COUNT_NAMES: Final = ("source", "created", "updated", "unchanged", "conflict", "skipped", "failed")


class OfficeStatus(enum.StrEnum):
    """How one office's part of a fleet command ended."""

    OK = "ok"
    """Done: planned, approved, completed, reconciled or rolled back, as the command asked."""
    FAILED_RECORDS = "failed_records"
    """Finished, with failed records or a reconciliation that does not add up (listed in its audit)."""
    HELD = "held"
    """Not started: its plan is not approved, or changed since it was approved (``reason`` says which)."""
    STOPPED = "stopped"
    """Stopped cleanly before the end (the daily cap): the same command resumes it."""
    FAILED = "failed"
    """Could not run: a token, a source, the network (``reason`` has one sentence)."""
    SKIPPED = "skipped"
    """Nothing to do for this command (``status`` of an office that was never planned)."""


@attrs.frozen(kw_only=True)
class OfficeProgress:
    """One live progress event of one office (identifiers and counts only)."""

    office: str
    location_id: str
    phase: str
    done: int = 0
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    requests: int = 0


@attrs.frozen(kw_only=True)
class OfficeReport:
    """One office's line of the fleet report."""

    office: str
    location_id: str
    status: OfficeStatus
    reason: str | None = None
    counts: dict[str, int] = attrs.field(factory=dict)
    failures: tuple[str, ...] = ()
    """Failed records as ``source_key (kind): reason`` (at most 50; the office's audit log has all)."""
    failure_count: int = 0
    requests: int = 0
    """HTTP requests this command sent for the office (retries included)."""
    daily_remaining: int | None = None
    """Requests left today under the daily cap (HighLevel's own count when it told us)."""
    days_left: int | None = None
    """Days of the daily cap the office still needs: the plan's estimate less what was done, over the
    usable daily budget, rounded up; 0 once it completed; None when there is no plan."""
    plan_hash: str | None = None
    approved_by: str | None = None
    run_id: str | None = None
    workdir: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data["status"] = self.status.value
        data["failures"] = list(self.failures)
        return data


@attrs.frozen(kw_only=True)
class FleetReport:
    """Every office's outcome of one fleet command."""

    operation: str
    started_at: str
    finished_at: str
    offices: tuple[OfficeReport, ...]

    @property
    def ok(self) -> bool:
        return all(o.status in (OfficeStatus.OK, OfficeStatus.SKIPPED) for o in self.offices)

    def by_status(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for office in self.offices:
            out.setdefault(office.status.value, []).append(office.office)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "format_version": 1,
            "operation": self.operation,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "ok": self.ok,
            "by_status": self.by_status(),
            "offices": [o.to_dict() for o in self.offices],
        }

    def markdown(self) -> str:
        lines = [
            f"# Fleet report: {self.operation}",
            "",
            f"- started {self.started_at}, finished {self.finished_at}",
            "- offices: "
            + ", ".join(f"{status} {len(names)}" for status, names in sorted(self.by_status().items())),
            "",
            "| office | location | status | created | updated | unchanged | skipped | failed | requests "
            "| days left | reason |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for o in self.offices:
            c = o.counts
            days = "-" if o.days_left is None else str(o.days_left)
            reason = (o.reason or "").replace("|", "/")
            lines.append(
                f"| {o.office} | {o.location_id} | {o.status.value} | {c.get('created', 0)} "
                f"| {c.get('updated', 0)} | {c.get('unchanged', 0)} | {c.get('skipped', 0)} "
                f"| {c.get('failed', 0)} | {o.requests} | {days} | {reason} |"
            )
        failing = [o for o in self.offices if o.failures]
        if failing:
            lines += ["", "## Failed records", ""]
            for o in failing:
                lines.append(f"### {o.office} ({o.failure_count})")
                lines += ["", *(f"- {line}" for line in o.failures), ""]
        return "\n".join(lines) + "\n"

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write ``fleet-report.json`` and ``fleet-report.md`` into ``directory`` (owner-only)."""
        ensure_private_dir(directory)
        as_json = write_private(
            directory / REPORT_JSON, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        )
        as_markdown = write_private(directory / REPORT_MARKDOWN, self.markdown())
        return as_json, as_markdown
