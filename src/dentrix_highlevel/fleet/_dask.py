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

import importlib
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.fleet._report import OfficeReport, OfficeStatus

if TYPE_CHECKING:
    from dentrix_highlevel.fleet._fleet import Fleet

__all__ = ["run_office"]

#: How the lease's holder is told apart from other failures (the ledgers' "in use" message).
_LEASE_TAKEN = "in use by another process"
_OPERATIONS = ("run", "delta", "reconcile", "rollback")


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


async def submit_offices(
    fleet: Fleet,
    scheduler: Any,
    *,
    operation: str,
    offices: Sequence[str] | None,
    resubmits: int,
) -> dict[str, OfficeReport]:
    """Each office of ``offices`` as one task on ``scheduler`` (an address, or a ``distributed.Client``);
    the offices' reports by name. A task the cluster gave up on is resubmitted ``resubmits`` times."""
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
    try:

        def submit(name: str, attempt: int) -> Any:
            return client.submit(
                run_office,
                manifest_path,
                name,
                operation,
                ledger_url=fleet.ledger_url,
                key=f"dentrix-highlevel-{operation}-{name}-{attempt}-{time.time_ns()}",
                pure=False,
            )

        attempts = {o.name: 0 for o in chosen}
        futures = {submit(o.name, 0): o.name for o in chosen}
        spec = {o.name: o for o in chosen}
        done = distributed.as_completed(list(futures), with_results=False)
        async for future in done:
            name = futures.pop(future)
            try:
                results[name] = await future
                fleet._emit(spec[name], results[name].status.value)
            except distributed.KilledWorker:
                if attempts[name] < resubmits:
                    attempts[name] += 1
                    fleet._emit(spec[name], f"resubmitted ({attempts[name]})")
                    again = submit(name, attempts[name])
                    futures[again] = name
                    done.add(again)
                else:
                    results[name] = fleet._failure(
                        spec[name],
                        OfficeStatus.STOPPED,
                        "its Dask task was lost with its worker too often; the ledger keeps what was "
                        "done: run again to resume",
                    )
            except Exception as caught:  # one office's failure is its own line
                results[name] = fleet._failure(
                    spec[name], OfficeStatus.FAILED, f"its Dask task failed ({type(caught).__name__})"
                )
    finally:
        if own_client:
            await client.close()
    return results
