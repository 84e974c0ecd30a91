"""Embed ``Migration`` in another tool: progress into the host's own UI, a Stop button, resume.

``HostTool`` stands for the integrator's application (a practice-management dashboard, a job runner...). It
gives the migration a progress callback that feeds its own status line (ids, counts, rate, ETA) and its own
log, wraps the run in an anyio cancel scope its Stop button cancels, and resumes later: the ledger in the
work directory remembers every patient already written, so the second ``run()`` continues the same run and
sends nothing twice.

Real destination (the default; the plan must have been approved, e.g. with g_export_migration.py):

    export HIGHLEVEL_LOCATION_ID=... HIGHLEVEL_TOKEN=...      # HIGHLEVEL_BASE_URL is optional
    python embed_with_progress.py --export exports/smile.zip --workdir migrations/smile

Against the embedded HighLevel sandbox with a synthetic practice (approved automatically, sandbox only),
stopping half way and resuming:

    python embed_with_progress.py --sandbox --patients 40 --stop-after 20

Output is identifiers and counts only: never a patient value, never the token.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import attrs

from dentrix_highlevel import GExportSource, HighLevelClient, Migration, MigrationProgress, RateBudget
from dentrix_highlevel.errors import PlanNotApprovedError
from dentrix_highlevel.migration import RunMode

# The sandbox scales HighLevel's 10 s burst window down to 100 ms (and the client's budget with it).
SANDBOX_WINDOW_MS = 100


@attrs.define
class HostTool:
    """The host application's side: a status line, a log, and a Stop button (a cancel scope)."""

    status_every: int = 10
    clock: Callable[[], float] = time.monotonic
    log: list[str] = attrs.field(factory=list)
    status: str = "idle"
    stop_after: int | None = None
    _scope: anyio.CancelScope | None = None
    _last_shown: int = -1
    _run_id: str = ""

    def on_progress(self, event: MigrationProgress) -> None:
        """The migration's progress callback: runs in the event loop, so it must be quick."""
        eta = f"{event.eta_s:.0f}s" if event.eta_s is not None else "?"
        if event.mode is RunMode.ROLLBACK:  # a rollback counts the objects it deletes and restores
            counts = f"deleted {event.deleted}, restored {event.restored}, failed {event.failed}"
        else:
            counts = f"created {event.created}, updated {event.updated}, failed {event.failed}"
        self.status = (
            f"{event.run_id} {event.phase}: {event.done}/{event.total} {event.unit}, "
            f"{event.rate_per_s:.1f}/s, ETA {eta}; {counts}"
        )
        if event.run_id != self._run_id:
            self._run_id, self._last_shown = event.run_id, -1
        finished = event.total > 0 and event.done == event.total and event.done != self._last_shown
        every = max(self.status_every, event.total // 4)  # a handful of lines per run, whatever its size
        if event.done - self._last_shown >= every or finished:
            self._last_shown = event.done
            self.show(self.status)
        if self.stop_after is not None and event.done >= self.stop_after:
            self.stop_after = None
            self.show(f"Stop pressed at {event.done}/{event.total} patients")
            self.press_stop()

    def show(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)

    def press_stop(self) -> None:
        if self._scope is not None:
            self._scope.cancel()

    async def run_job(self, migration: Migration) -> str:
        """Run (or resume) the migration until it completes or Stop is pressed; returns what happened."""
        started = self.clock()
        with anyio.CancelScope() as scope:
            self._scope = scope
            result = await migration.run()
        self._scope = None
        seconds = self.clock() - started
        if scope.cancelled_caught:
            self.show(f"stopped by the user after {seconds:.1f}s; the ledger keeps what was written")
            return "stopped"
        self.show(f"run {result.run_id}: {result.status.value} in {seconds:.1f}s")
        return result.status.value


# HighLevel API v2 (HIGHLEVEL_BASE_URL overrides it, e.g. for a sandbox started in a terminal).
HIGHLEVEL_API = "https://services.leadconnectorhq.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--export", type=Path, help="the G export (folder or .zip); synthetic if omitted")
    parser.add_argument("--workdir", type=Path, help="work directory (ledger, plan, audit log)")
    parser.add_argument("--stop-after", type=int, help="press Stop after this many patients, then resume")
    parser.add_argument("--sandbox", action="store_true", help="run against the embedded HighLevel sandbox")
    parser.add_argument("--patients", type=int, default=40, help="synthetic practice size (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic practice seed (default 7)")
    return parser.parse_args(argv)


@contextmanager
def destination(args: argparse.Namespace) -> Iterator[HighLevelClient]:
    if not args.sandbox:
        missing = [n for n in ("HIGHLEVEL_LOCATION_ID", "HIGHLEVEL_TOKEN") if not os.environ.get(n)]
        if missing:
            sys.exit(f"set {', '.join(missing)} (or pass --sandbox)")
        yield HighLevelClient(
            location_id=os.environ["HIGHLEVEL_LOCATION_ID"],
            token=os.environ["HIGHLEVEL_TOKEN"],
            base_url=os.environ.get("HIGHLEVEL_BASE_URL") or HIGHLEVEL_API,
        )
        return
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    print(f"sandbox: HighLevel emulator on 127.0.0.1, rate window scaled down to {SANDBOX_WINDOW_MS} ms")
    with SandboxServer(sandbox=Sandbox(SandboxConfig(rate_window_ms=SANDBOX_WINDOW_MS))) as server:
        assert server.location is not None
        yield HighLevelClient(
            base_url=server.base_url,
            location_id=server.location.location_id,
            token=server.location.token,
            budget=RateBudget(window_ms=SANDBOX_WINDOW_MS),
        )


async def host(args: argparse.Namespace, hl: HighLevelClient, export: Path, workdir: Path) -> int:
    tool = HostTool(stop_after=args.stop_after)
    async with (
        hl,
        GExportSource(export) as source,
        Migration(source, hl, workdir=workdir, progress=tool.on_progress) as migration,
    ):
        if args.sandbox:
            migration.approve(by="example script (automatic: sandbox only)")
        try:
            outcome = await tool.run_job(migration)
        except PlanNotApprovedError:
            tool.show("the plan is not approved: approve it first (g_export_migration.py --approved-by NAME)")
            return 1
        if outcome == "stopped":
            tool.show("resuming")
            outcome = await tool.run_job(migration)
        runs = migration.ledger.runs()
        tool.show(f"runs in the ledger: {', '.join(f'{r.run_id}={r.status.value}' for r in runs)}")
        if outcome != "completed":
            return 2
        check = await migration.reconcile()
        tool.show(f"reconciled: {check.ok}; contacts re-read: {check.checked}")
        if args.sandbox:
            undo = await migration.rollback()
            tool.show(f"rollback {undo.run_id}: {undo.status.value}")
        return 0 if check.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="embed-example-") as scratch:
        if args.export is None:
            if not args.sandbox:
                sys.exit("pass --export PATH (or --sandbox for a synthetic practice)")
            from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

            practice = SyntheticPractice(SynthConfig(patients=args.patients, seed=args.seed))
            args.export = Path(scratch) / "export"
            print(f"synthetic G export: {write_g_export(practice, args.export).patients} patients")
        workdir = args.workdir or (Path(scratch) / "workdir" if args.sandbox else None)
        if workdir is None:
            sys.exit("pass --workdir: the ledger there is what a resumed run continues from")
        with destination(args) as hl:
            return anyio.run(host, args, hl, args.export, workdir)


if __name__ == "__main__":
    sys.exit(main())
