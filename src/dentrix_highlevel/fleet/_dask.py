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

* **Live progress comes back through the scheduler.** A task logs its office's progress events on a topic
  of Dask's structured event log (``Worker.log_event``), and the submitting client subscribes to that
  topic (``Client.subscribe_topic``) and hands each event to the fleet's ``progress``: the same per-office
  view as in one process. Events hold identifiers and counts only, like every progress event.

This module knows Dask and nothing of the fleet's engine: the task body and the fleet's callbacks are
given to it (``Fleet.run_on_dask`` does), so the fleet imports it and never the other way round.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.fleet._manifest import OfficeSpec
from dentrix_highlevel.fleet._report import OfficeProgress, OfficeReport, OfficeStatus

__all__ = ["DAY_S", "OPERATIONS", "hold_lease", "submit_offices", "worker_progress"]

#: How the lease's holder is told apart from other failures (the ledgers' "in use" message).
_LEASE_TAKEN = "in use by another process"
#: The operations a task runs: those that work on one office alone, from its ledger.
OPERATIONS = ("run", "delta", "reconcile", "rollback")
#: How a stop at the daily cap is told from other stops (the engine's stopped reason).
_DAILY_CAP = "daily request cap"
#: HighLevel's daily budget resets within a day of the first request counted against it.
DAY_S = 86_400.0
#: A worker sends an office's counts at most this often (its phase changes always go): each event is a
#: message to the scheduler and on to the client, and a person reads the view, not every patient.
_PROGRESS_EVERY_S = 0.2
_PROGRESS_FIELDS = frozenset(attrs.fields_dict(OfficeProgress))


def _distributed() -> Any:
    try:
        # Untyped: reached through Any (the package ships no type information).
        return importlib.import_module("distributed")
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            "running a fleet on Dask needs distributed: pip install 'dentrix-highlevel[fleet]'"
        ) from exc


def hold_lease(attempt: Callable[[], OfficeReport], *, wait_s: float, poll_s: float) -> OfficeReport:
    """``attempt()`` (one office's operation), again while another process holds the office's lease
    (``wait_s`` at most, every ``poll_s``) rather than fail: the holder is a previous attempt finishing or
    dying."""
    deadline = time.monotonic() + wait_s
    while True:
        report = attempt()
        leased = report.status is OfficeStatus.FAILED and _LEASE_TAKEN in (report.reason or "")
        if not leased or time.monotonic() >= deadline:
            return report
        time.sleep(poll_s)


def worker_progress(topic: str | None) -> Callable[[OfficeProgress], None] | None:
    """Where a task sends its office's progress: ``topic`` of the event log of the worker running it
    (None without a topic, or outside a worker: nobody listens)."""
    if topic is None:
        return None
    try:
        worker = _distributed().get_worker()
    except ValueError:  # not in a worker (the task body called directly)
        return None
    last: dict[str, tuple[str, float]] = {}

    def send(event: OfficeProgress) -> None:
        now = time.monotonic()
        phase, at = last.get(event.office, ("", -_PROGRESS_EVERY_S))
        finished = event.total > 0 and event.done >= event.total
        if event.phase == phase and not finished and now - at < _PROGRESS_EVERY_S:
            return
        last[event.office] = (event.phase, now)
        worker.log_event(topic, attrs.asdict(event))

    return send


def _paused_by_the_daily_cap(report: OfficeReport) -> bool:
    return report.status is OfficeStatus.STOPPED and _DAILY_CAP in (report.reason or "")


async def submit_offices(
    scheduler: Any,
    chosen: Sequence[OfficeSpec],
    *,
    task: Callable[..., OfficeReport],
    task_kwargs: dict[str, Any],
    emit: Callable[[OfficeSpec, str], None],
    failure: Callable[[OfficeSpec, OfficeStatus, str], OfficeReport],
    progress: Callable[[OfficeProgress], None] | None,
    operation: str,
    resubmits: int,
    daily_reset_s: float | None = None,
    max_pauses: int = 30,
) -> dict[str, OfficeReport]:
    """Each office of ``chosen`` as one task ``task(office_name, progress_topic=…, **task_kwargs)`` on
    ``scheduler`` (an address, or a ``distributed.Client``); the offices' reports by name. A task the
    cluster gave up on is resubmitted ``resubmits`` times; ``emit`` tells the fleet's view of each
    resubmission, pause and end, ``failure`` makes the report of an office whose task failed, and
    ``progress`` receives the workers' live events.

    An office whose task stops at its daily cap is "paused until T" (``daily_reset_s`` after it stopped)
    and submitted again at T, up to ``max_pauses`` times; ``daily_reset_s`` None reports it stopped, with
    T in the reason, and leaves rescheduling to the next command."""
    distributed = _distributed()
    own_client = not isinstance(scheduler, distributed.Client)
    client: Any = await distributed.Client(scheduler, asynchronous=True) if own_client else scheduler
    results: dict[str, OfficeReport] = {}
    # A topic of this submission only: two fleets on one cluster never see each other's offices.
    topic = f"dentrix-highlevel-progress-{time.time_ns()}" if progress is not None else None
    if progress is not None:
        relay = progress

        def relayed(event: tuple[float, Any]) -> None:
            # The worker adds its own address to the message: keep the event's fields only.
            relay(OfficeProgress(**{k: v for k, v in event[1].items() if k in _PROGRESS_FIELDS}))

        client.subscribe_topic(topic, relayed)

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
                task,
                office.name,
                progress_topic=topic,
                **task_kwargs,
                key=f"dentrix-highlevel-{operation}-{office.name}-{attempt}-{time.time_ns()}",
                pure=False,
            )
            try:
                report = await outcome(future)
            except distributed.KilledWorker:
                if lost < resubmits:
                    lost += 1
                    emit(office, f"resubmitted ({lost})")
                    continue
                results[office.name] = failure(
                    office,
                    OfficeStatus.STOPPED,
                    "its Dask task was lost with its worker too often; the ledger keeps what was done: "
                    "run again to resume",
                )
                return
            except Exception as caught:  # one office's failure is its own line
                results[office.name] = failure(
                    office, OfficeStatus.FAILED, f"its Dask task failed ({type(caught).__name__})"
                )
                return
            if _paused_by_the_daily_cap(report):
                delay = daily_reset_s if daily_reset_s is not None else DAY_S
                until = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay)).isoformat(timespec="seconds")
                report = attrs.evolve(report, reason=f"paused until {until} (the daily request cap)")
                emit(office, f"paused until {until}")
                if daily_reset_s is not None and pauses < max_pauses:
                    pauses += 1
                    await anyio.sleep(daily_reset_s)
                    continue
            results[office.name] = report
            emit(office, report.status.value)
            return

    try:
        async with anyio.create_task_group() as group:
            for office in chosen:
                group.start_soon(drive, office)
    finally:
        if topic is not None:
            client.unsubscribe_topic(topic)
        if own_client:
            await client.close()
    return results
