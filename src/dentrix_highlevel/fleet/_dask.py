"""Past one machine: one Dask ``distributed`` task per office.

``Fleet.run_on_dask(scheduler)`` (and ``fleet run --dask ADDRESS``) submits one task per office to a Dask
cluster. A task loads the manifest on the worker, runs that office alone and returns its
:class:`OfficeReport`; everything durable is in the office's ledger, so a task is safe to run again:

* **An office never runs twice at once.** The task opens the office's ledger exclusively (the SQLite
  file lock, or the PostgreSQL advisory lock): that is the lease. A second task for the same office (a
  worker the scheduler thought lost, still running) finds the lease taken and waits for it, then resumes
  whatever the first one left; it never runs beside it.
* **A lost task is resubmitted and resumes.** The scheduler reschedules a task whose worker died (up to
  ``distributed.scheduler.allowed-failures`` times); past that the fleet resubmits it itself, up to
  ``resubmits`` times. The lease dies with the worker's process (the OS drops the file lock, the server
  the connection's advisory lock), and the next attempt resumes from the ledger: pending intents are
  looked up, never created again, so a worker killed mid-office costs no duplicate.

Workers read the offices' tokens from *their own* environment (``token_env`` in the manifest): no token
travels in a task. Workers on several machines need the same manifest path, the exports at the same
paths, and a ledger they share: ``ledger_url`` (PostgreSQL); the SQLite default suits one machine.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.fleet._report import OfficeReport, OfficeStatus

if TYPE_CHECKING:
    from dentrix_highlevel.fleet._fleet import Fleet
    from dentrix_highlevel.fleet._manifest import OfficeSpec

__all__ = ["run_office"]

#: How the lease's holder is told apart from other failures (the ledgers' "in use" message).
_LEASE_TAKEN = "in use by another process"
_OPERATIONS = ("run", "delta", "reconcile", "rollback")
#: How a stop at the daily cap is told from other stops (the engine's stopped reason).
_DAILY_CAP = "daily request cap"
#: HighLevel's daily budget resets within a day of the first request counted against it.
DAY_S = 86_400.0


def run_office(
    manifest_path: str,
    office: str,
    operation: str = "run",
    *,
    ledger_url: str | None = None,
    lease_wait_s: float = 600.0,
    lease_poll_s: float = 0.5,
) -> OfficeReport:
    """One office's ``operation`` in this process (a Dask task's body): its report.

    While another process holds the office's lease the task waits (``lease_wait_s`` at most, polling every
    ``lease_poll_s``) rather than fail: the holder is a previous attempt finishing or dying.
    """
    from dentrix_highlevel.fleet._fleet import Fleet
    from dentrix_highlevel.fleet._manifest import load_manifest

    if operation not in _OPERATIONS:
        raise ConfigurationError(f"a Dask task runs one of {', '.join(_OPERATIONS)}, not {operation!r}")
    manifest = load_manifest(manifest_path)
    fleet = Fleet(manifest, max_offices=1, save_report=False, ledger_url=ledger_url)
    deadline = time.monotonic() + lease_wait_s
    while True:
        report = anyio.run(_one, fleet, operation, office)
        leased = report.status is OfficeStatus.FAILED and _LEASE_TAKEN in (report.reason or "")
        if not leased or time.monotonic() >= deadline:
            return report
        time.sleep(lease_poll_s)


async def _one(fleet: Fleet, operation: str, office: str) -> OfficeReport:
    method = getattr(fleet, operation)
    report = await method(offices=[office])
    only: OfficeReport = report.offices[0]
    return only


def _paused_by_the_daily_cap(report: OfficeReport) -> bool:
    return report.status is OfficeStatus.STOPPED and _DAILY_CAP in (report.reason or "")


async def submit_offices(
    fleet: Fleet,
    scheduler: Any,
    *,
    operation: str,
    offices: Sequence[str] | None,
    resubmits: int,
    daily_reset_s: float | None = None,
    max_pauses: int = 30,
) -> dict[str, OfficeReport]:
    """Each office of ``offices`` as one task on ``scheduler`` (an address, or a ``distributed.Client``);
    the offices' reports by name. A task the cluster gave up on is resubmitted ``resubmits`` times.

    An office whose task stops at its daily cap is "paused until T" (``daily_reset_s`` after it stopped)
    and submitted again at T, up to ``max_pauses`` times; ``daily_reset_s`` None reports it stopped, with
    T in the reason, and leaves rescheduling to the next command."""
    try:
        # Untyped: reached through Any (the package ships no type information).
        distributed: Any = importlib.import_module("distributed")
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "running a fleet on Dask needs distributed: pip install 'dentrix-highlevel[fleet]'"
        ) from exc

    chosen = fleet.manifest.select(list(offices or ()))
    manifest_path = str(fleet.manifest.path)  # load_manifest resolved it
    own_client = not isinstance(scheduler, distributed.Client)
    client: Any = await distributed.Client(scheduler, asynchronous=True) if own_client else scheduler
    results: dict[str, OfficeReport] = {}

    async def outcome(future: Any) -> OfficeReport:
        if client.asynchronous:
            report: OfficeReport = await future
            return report
        # A synchronous client (a notebook's): wait for it off the event loop.
        done: OfficeReport = await anyio.to_thread.run_sync(future.result)
        return done

    async def drive(office: OfficeSpec) -> None:
        """One office: its task, again after a lost worker, again after each daily reset."""
        lost = pauses = attempt = 0
        while True:
            attempt += 1
            future = client.submit(
                run_office,
                manifest_path,
                office.name,
                operation,
                ledger_url=fleet.ledger_url,
                key=f"dentrix-highlevel-{operation}-{office.name}-{attempt}-{time.time_ns()}",
                pure=False,
            )
            try:
                report = await outcome(future)
            except distributed.KilledWorker:
                if lost < resubmits:
                    lost += 1
                    fleet._emit(office, f"resubmitted ({lost})")
                    continue
                results[office.name] = fleet._failure(
                    office,
                    OfficeStatus.STOPPED,
                    "its Dask task was lost with its worker too often; the ledger keeps what was done: "
                    "run again to resume",
                )
                return
            except Exception as caught:  # one office's failure is its own line
                results[office.name] = fleet._failure(
                    office, OfficeStatus.FAILED, f"its Dask task failed ({type(caught).__name__})"
                )
                return
            if _paused_by_the_daily_cap(report):
                delay = daily_reset_s if daily_reset_s is not None else DAY_S
                until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)).isoformat(timespec="seconds")
                report = attrs.evolve(report, reason=f"paused until {until} (the daily request cap)")
                fleet._emit(office, f"paused until {until}")
                if daily_reset_s is not None and pauses < max_pauses:
                    pauses += 1
                    await anyio.sleep(daily_reset_s)
                    continue
            results[office.name] = report
            fleet._emit(office, report.status.value)
            return

    try:
        async with anyio.create_task_group() as group:
            for office in chosen:
                group.start_soon(drive, office)
    finally:
        if own_client:
            await client.close()
    return results
