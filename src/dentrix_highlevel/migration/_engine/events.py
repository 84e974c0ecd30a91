"""Typed progress events, and the bounded stream ``Migration.events()`` hands them out on.

Every event is a :class:`MigrationProgress` (the run's counts at that moment), so a callback written for
``MigrationProgress`` keeps working; its type says what happened. Identifiers and counts only: events
reach logs, screens and other processes.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from dentrix_highlevel.migration._engine.progress import MigrationProgress
from dentrix_highlevel.migration._state.ledger import RunStatus

__all__ = [
    "EventStream",
    "Finished",
    "PhaseStarted",
    "ProgressEvent",
    "RateWait",
    "RecordDone",
    "Stopped",
]


@attrs.frozen(kw_only=True)
class ProgressEvent(MigrationProgress):
    """The base of every event: the counts of :class:`MigrationProgress`; match on the subclass."""


@attrs.frozen(kw_only=True)
class PhaseStarted(ProgressEvent):
    """A phase (``phase``: patients, families, removed; a rollback's delete, restore, fields) began."""


@attrs.frozen(kw_only=True)
class RecordDone(ProgressEvent):
    """One more patient is done (a rollback: one more object deleted or restored); see ``done``."""


@attrs.frozen(kw_only=True)
class RateWait(ProgressEvent):
    """Requests of this run waited for HighLevel's rate window (the budget, not an error)."""

    waited_s: float
    """How long the limiter held requests back since the previous event."""


@attrs.frozen(kw_only=True)
class Stopped(ProgressEvent):
    """The run ended early and can be resumed (a daily cap, a lost connection, a cancellation)."""

    reason: str | None = None
    """Why, in words without values (``RunResult.stopped_reason``); None for a cancellation."""


@attrs.frozen(kw_only=True)
class Finished(ProgressEvent):
    """The run completed: the last event of a run that is not :class:`Stopped`."""

    reconciles: bool
    """Whether every source record is accounted for (``RunResult.ok``)."""


class EventStream:
    """``async for event in migration.events()``: every event of the migration's runs, from the call on.

    Subscribed when ``events()`` is called (before the run starts, the first event is not missed). The
    buffer is bounded (``max_buffered``): a consumer that falls behind never slows the run, the oldest
    buffered events are dropped instead and counted in :attr:`dropped`; the newest event (the
    :class:`Finished` or :class:`Stopped` that ends a run) is always kept. The iteration ends when the
    migration is closed or :meth:`aclose` is called; ``break`` on :class:`Finished` to follow one run.
    """

    def __init__(self, max_buffered: int, unsubscribe: Callable[[EventStream], None]) -> None:
        send, receive = anyio.create_memory_object_stream[ProgressEvent](max_buffered)
        self._send: MemoryObjectSendStream[ProgressEvent] = send
        self._receive: MemoryObjectReceiveStream[ProgressEvent] = receive
        self._unsubscribe = unsubscribe
        self._closed = False
        self.dropped = 0
        """Events dropped because the consumer was ``max_buffered`` events behind."""

    def publish(self, event: ProgressEvent) -> None:
        """Hand ``event`` over without waiting (the engine's side): drop the oldest when full."""
        if self._closed:
            return
        while True:
            try:
                self._send.send_nowait(event)
                return
            except anyio.WouldBlock:
                try:
                    self._receive.receive_nowait()
                except anyio.WouldBlock:  # pragma: no cover - a full buffer always has one to drop
                    return
                self.dropped += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    def close(self) -> None:
        """End the iteration once the buffered events are read."""
        self._closed = True
        self._unsubscribe(self)
        self._send.close()

    async def aclose(self) -> None:
        self.close()
        self._receive.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ProgressEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def final_event_type(status: RunStatus) -> type[Finished] | type[Stopped]:
    return Finished if status is RunStatus.COMPLETED else Stopped
