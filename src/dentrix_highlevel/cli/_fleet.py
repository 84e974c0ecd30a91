"""``dentrix-highlevel fleet …``: every office of a fleet manifest at once (plan, approve, run, delta,
status, reconcile, rollback).

Each command is one call on :class:`~dentrix_highlevel.fleet.Fleet`; it prints one row per office
(identifiers and counts only), writes the fleet report into the manifest's folder and exits with the
highest of the offices' exit codes (0 all done, 1 failed records, 2 an office could not run, 3 an office
held back, 4 an office stopped and resumable): the report says which office.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dentrix_highlevel.cli._common import (
    EXIT_FAILED_RECORDS,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STOPPED,
    EXIT_USAGE,
    CliFailure,
    compact_table,
    console,
    debug_option,
    error_console,
    run_async,
)
from dentrix_highlevel.fleet import (
    REPORT_JSON,
    REPORT_MARKDOWN,
    Fleet,
    FleetReport,
    OfficeProgress,
    OfficeStatus,
    load_manifest,
)
from dentrix_highlevel.fleet._dask import DAY_S
from dentrix_highlevel.migration._state.postgres import is_postgres_url

__all__ = ["fleet"]

_F = TypeVar("_F", bound=Callable[..., Any])

_EXIT_FOR: dict[OfficeStatus, int] = {
    OfficeStatus.OK: EXIT_OK,
    OfficeStatus.SKIPPED: EXIT_OK,
    OfficeStatus.FAILED_RECORDS: EXIT_FAILED_RECORDS,
    OfficeStatus.FAILED: EXIT_USAGE,
    OfficeStatus.HELD: EXIT_REFUSED,
    OfficeStatus.STOPPED: EXIT_STOPPED,
}


class FleetProgressView:
    """One live line per office on stderr: its phase, patients done of total, counts and requests (ids
    and counts only). A non-terminal gets the final state once."""

    def __init__(self, offices: list[tuple[str, str]], *, enabled: bool = True) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.fields[office]}"),
            TextColumn("{task.fields[location]}"),
            TextColumn("{task.fields[phase]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[counts]}"),
            console=error_console,
            disable=not enabled,
        )
        self._tasks: dict[str, TaskID] = {
            name: self._progress.add_task(
                name, total=None, office=name, location=location, phase="waiting", counts=""
            )
            for name, location in offices
        }

    def __call__(self, event: OfficeProgress) -> None:
        task = self._tasks.get(event.office)
        if task is None:
            return
        counts = (
            f"created {event.created} updated {event.updated} unchanged {event.unchanged} "
            f"skipped {event.skipped} failed {event.failed} requests {event.requests}"
            if event.total
            else ""
        )
        if counts:
            self._progress.update(task, counts=counts)
        self._progress.update(task, phase=event.phase, total=event.total or None, completed=event.done)

    @contextmanager
    def shown(self) -> Iterator[FleetProgressView]:
        with self._progress:
            yield self


def _options(function: _F) -> _F:
    """``--manifest``, ``--office`` (repeat: a subset), ``--max-offices`` and ``--no-progress``."""
    for decorator in reversed(
        (
            click.option(
                "--manifest",
                "manifest_path",
                required=True,
                envvar="DENTRIX_FLEET_MANIFEST",
                type=click.Path(dir_okay=False, path_type=Path),
                help="The fleet manifest (TOML) [env DENTRIX_FLEET_MANIFEST].",
            ),
            click.option(
                "--office",
                "offices",
                multiple=True,
                metavar="NAME",
                help="Only this office (repeat); default every office of the manifest.",
            ),
            click.option(
                "--max-offices",
                type=click.IntRange(min=1),
                default=4,
                show_default=True,
                help="Offices in flight at once (each has its own rate budget).",
            ),
            click.option("--no-progress", is_flag=True, help="Do not draw the per-office progress lines."),
            click.option(
                "--ledger",
                "ledger_url",
                default=None,
                envvar="DENTRIX_HIGHLEVEL_LEDGER",
                metavar="URL",
                help=(
                    "Keep every office's ledger on a PostgreSQL server, a schema per office "
                    "(postgresql://user@host/db), instead of ledger.sqlite3 in each work directory "
                    "[env DENTRIX_HIGHLEVEL_LEDGER]. Give the same URL to every fleet command."
                ),
            ),
        )
    ):
        function = decorator(function)
    return function


def _rotated(_: Any) -> None:
    # The new refresh token is held in memory for this command only; it is never written nor shown.
    error_console.print(
        "warning: HighLevel rotated the agency refresh token during this command; the value given in "
        "the environment is spent: authorise the agency app again before the next command",
        markup=False,
    )


def _execute(
    manifest_path: Path,
    offices: tuple[str, ...],
    max_offices: int,
    no_progress: bool,
    call: Callable[[Fleet], Any],
    *,
    progress: bool = True,
    ledger_url: str | None = None,
) -> FleetReport:
    manifest = load_manifest(manifest_path)
    chosen = manifest.select(list(offices))
    view = FleetProgressView([(o.name, o.location_id) for o in chosen], enabled=progress and not no_progress)
    if ledger_url is not None and not is_postgres_url(ledger_url):
        raise CliFailure("--ledger takes a postgresql:// URL (leave it out for the SQLite ledgers)")
    fleet = Fleet(
        manifest,
        max_offices=max_offices,
        progress=view,
        on_agency_refresh=_rotated,
        ledger_url=ledger_url,
    )

    async def go() -> FleetReport:
        with view.shown():
            report: FleetReport = await call(fleet)
        return report

    return run_async(go)


def _print(report: FleetReport, manifest_path: Path) -> int:
    table = compact_table(f"fleet {report.operation}: {len(report.offices)} office(s)")
    columns = ("office", "location", "status", "created", "updated", "unchanged", "skipped", "failed")
    for name in (*columns, "requests", "days left", "reason"):
        numeric = name not in ("office", "location", "status", "reason")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=name != "reason")
    for o in report.offices:
        c = o.counts
        table.add_row(
            o.office,
            o.location_id,
            o.status.value,
            *(str(c.get(n, "")) for n in ("created", "updated", "unchanged", "skipped", "failed")),
            str(o.requests),
            "-" if o.days_left is None else str(o.days_left),
            o.reason or "",
        )
    console.print(table)
    for o in report.offices:
        if o.failures:
            console.print(f"{o.office}: {o.failure_count} failed record(s)", markup=False)
            for line in o.failures[:10]:
                console.print(f"  {line}", markup=False)
    folder = manifest_path.expanduser().resolve().parent
    console.print(f"fleet report: {folder / REPORT_JSON} and {folder / REPORT_MARKDOWN}", markup=False)
    return max((_EXIT_FOR[o.status] for o in report.offices), default=EXIT_OK)


def _command(name: str, summary: str) -> Callable[[Callable[..., Any]], click.Command]:
    """A fleet subcommand: the shared options, --debug, the table and the exit code. The decorated body
    checks its own options and returns the :class:`Fleet` call to make."""

    def build(body: Callable[..., Callable[[Fleet], Any]]) -> click.Command:
        def command(
            manifest_path: Path,
            offices: tuple[str, ...],
            max_offices: int,
            no_progress: bool,
            ledger_url: str | None,
            **extra: Any,
        ) -> None:
            call = body(offices=list(offices), **extra)
            report = _execute(
                manifest_path,
                offices,
                max_offices,
                no_progress,
                call,
                progress=name != "status",
                ledger_url=ledger_url,
            )
            sys.exit(_print(report, manifest_path))

        command.__doc__ = summary
        return click.command(name)(debug_option(_options(command)))

    return build


@click.group("fleet")
def fleet() -> None:
    """Migrate many offices at once from a fleet manifest (one HighLevel sub-account per office)."""


@_command("plan", "Write each office's plan (plan.md, plan.json in its work directory), preflight-checked.")
def _plan(offices: list[str]) -> Callable[[Fleet], Any]:
    return lambda f: f.plan(offices=offices)


def _approve_body(offices: list[str], approved_by: str, reason: str | None) -> Callable[[Fleet], Any]:
    if not approved_by.strip():
        raise CliFailure("--by needs the approver's name or e-mail")
    return lambda f: f.approve(by=approved_by, offices=offices, force_reason=reason)


_approve = click.option("--by", "approved_by", required=True, help="Who approves (a staff identity).")(
    click.option("--reason", default=None, help="Why offices whose preflight failed are approved anyway.")(
        _command(
            "approve", "Record that NAME approved each office's plan exactly as it is now, each on its own."
        )(_approve_body)
    )
)


def _run_body(offices: list[str], dask: str | None, wait_for_reset: bool) -> Callable[[Fleet], Any]:
    if dask is not None:
        if not dask.strip():
            raise CliFailure("--dask needs the scheduler's address (e.g. tcp://10.0.0.5:8786)")
        reset = DAY_S if wait_for_reset else None
        return lambda f: f.run_on_dask(dask.strip(), offices=offices, daily_reset_s=reset)
    if wait_for_reset:
        raise CliFailure("--wait-for-reset goes with --dask")
    return lambda f: f.run(offices=offices)


_run = click.option(
    "--wait-for-reset",
    is_flag=True,
    help=(
        "With --dask: an office paused at its daily cap is submitted again a day later, and the command "
        "waits for it (default: it is reported paused until then, and the next run resumes it)."
    ),
)(
    click.option(
        "--dask",
        "dask",
        default=None,
        metavar="SCHEDULER_ADDRESS",
        help=(
            "Run one task per office on this Dask scheduler (tcp://host:8786) instead of in this process; "
            "workers read the offices' tokens from their own environment."
        ),
    )(
        _command(
            "run", "Run every approved office at once; one not approved, or whose plan changed, is held back."
        )(_run_body)
    )
)


@_command(
    "delta", "Send what is new or changed in each office's source (the manifest names the newer export)."
)
def _delta(offices: list[str]) -> Callable[[Fleet], Any]:
    return lambda f: f.delta(offices=offices)


@_command("status", "Each office's state from its work directory alone (no token, no request).")
def _status(offices: list[str]) -> Callable[[Fleet], Any]:
    return lambda f: f.status(offices=offices)


@_command("reconcile", "Account for every source record of each office and re-read its migrated contacts.")
def _reconcile(offices: list[str]) -> Callable[[Fleet], Any]:
    return lambda f: f.reconcile(offices=offices)


def _rollback_body(offices: list[str], yes: bool) -> Callable[[Fleet], Any]:
    if not yes and sys.stdin.isatty():
        click.confirm("Roll back everything the fleet's migrations did in the offices named?", abort=True)
    return lambda f: f.rollback(offices=offices)


_rollback = click.option("--yes", is_flag=True, help="Do not ask for confirmation on a terminal.")(
    _command("rollback", "Delete what each office's migration created and restore what it changed.")(
        _rollback_body
    )
)

for _sub in (_plan, _approve, _run, _delta, _status, _reconcile, _rollback):
    fleet.add_command(_sub)
