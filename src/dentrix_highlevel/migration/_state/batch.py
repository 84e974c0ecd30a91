"""Ledger calls from many tasks, run in batches: one worker-thread hop and one durable commit per batch.

Every object an engine run writes costs a handful of ledger calls (look up, begin the intent, complete it,
record the result). Run one by one, each is a hop into a worker thread and back, and every
``begin_intent`` is its own commit with an fsync. :class:`LedgerBatcher` queues the calls of all tasks
instead: the first caller takes every call queued so far into one hop, and the calls that arrive meanwhile
form the next batch (its first caller leads it). In a batch, the ``begin_intent`` calls are committed
together in one transaction with one fsync (``begin_intents`` when the ledger has it); the other calls run
one after another, each in its own transaction as before.

The crash guarantee stays as it was: a caller gets its intent id only once the batch's commit is on disk,
and it sends its create only after that, so an intent is durable before its request leaves. A batch holds
at most one call per task (each task awaits its call before it makes the next one), so the calls of one
batch never depend on each other and their order within the batch does not matter.

A caller that is cancelled while its call is queued or running still waits for it to finish (as with
``anyio.to_thread.run_sync``, which never abandons a started call): a ledger write is never half-known.

Under asyncio the batches run on one thread of the batcher's own (:class:`_LedgerThread`), handed over
through a queue and answered with ``call_soon_threadsafe``: a third of the CPU an ``anyio.to_thread`` hop
costs (its capacity limiter, cancel scope and worker bookkeeping), and every batch on the same thread and
so the same SQLite connection state, in order. The thread ends after ``_IDLE_S`` without work. Under
another event loop (trio) a batch is an ``anyio.to_thread`` hop as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast

import anyio
import attrs
import sniffio

from dentrix_highlevel.migration._state.ledger import Ledger

__all__ = ["IntentRequest", "LedgerBatcher"]

T = TypeVar("T")

_IDLE_S = 10.0
"""How long the ledger thread waits for another batch before it ends (the next batch starts a new one)."""


@attrs.frozen
class IntentRequest:
    """The arguments of one ``begin_intent`` call."""

    kind: str
    source_key: str
    operation: str
    lookup_keys: Mapping[str, str]
    run_id: str
    parent_id: str | None = None


class _BatchIntents(Protocol):
    def begin_intents(self, requests: Sequence[IntentRequest]) -> list[int]: ...


@attrs.define(eq=False)
class _Call:
    fn: Callable[[], Any] | None
    intent: IntentRequest | None
    wake: anyio.Event = attrs.field(factory=anyio.Event)
    finished: bool = False
    result: Any = None
    error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class _LedgerThread:
    """One thread that runs the jobs handed to it, one after another, and ends when idle for ``_IDLE_S``."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._alive = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            self._jobs.put(job)
            if not self._alive:
                self._alive = True
                # A daemon: an idle ledger thread must not hold the interpreter's exit for _IDLE_S.
                threading.Thread(target=self._serve, name="dentrix-highlevel ledger", daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=_IDLE_S)
            except queue.Empty:
                with self._lock:  # a job submitted meanwhile is either seen here or starts a new thread
                    if self._jobs.empty():
                        self._alive = False
                        return
                continue
            job()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():  # its awaiter is gone (the task was cancelled outside anyio's shield)
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)


class LedgerBatcher:
    """Runs ledger calls in batches from one event loop (see the module docstring)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._queue: list[_Call] = []
        self._leading = False
        self._thread = _LedgerThread()
        self.batches = 0
        """Hops to the ledger thread (or a worker thread) so far (a measure for benchmarks and tests)."""
        self.calls = 0

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the next batch; returns its result or raises its exception."""
        return cast(T, await self._submit(_Call(functools.partial(fn, *args, **kwargs), None)))

    async def begin_intent(self, request: IntentRequest) -> int:
        """``ledger.begin_intent`` in the next batch, committed durably with the batch's other intents."""
        return cast(int, await self._submit(_Call(None, request)))

    async def _submit(self, call: _Call) -> Any:
        self._queue.append(call)
        self.calls += 1
        with anyio.CancelScope(shield=True):
            if self._leading:
                await call.wake.wait()  # done by another batch's leader, or promoted to lead the next one
            if not call.finished:
                await self._lead(call)
        return call.outcome()

    async def _lead(self, call: _Call) -> None:
        self._leading = True
        try:
            batch, self._queue = self._queue, []  # ``call`` is in it
            try:
                await self._hop(batch)
            except BaseException as exc:  # the hop itself failed: nobody in it got an answer
                for queued in batch:
                    if not queued.finished:
                        queued.error, queued.finished = exc, True
                raise
            finally:
                self.batches += 1
                for queued in batch:
                    if queued is not call:
                        queued.wake.set()
        finally:
            if self._queue:
                self._queue[0].wake.set()  # the next batch's first caller leads it
            else:
                self._leading = False

    async def _hop(self, batch: list[_Call]) -> None:
        """``_run_batch(batch)`` off the event loop: on the ledger thread under asyncio."""
        if sniffio.current_async_library() != "asyncio":
            await anyio.to_thread.run_sync(self._run_batch, batch)
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def job() -> None:
            error: BaseException | None = None
            try:
                self._run_batch(batch)
            except BaseException as exc:  # handed to the awaiting leader, as a failed hop
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is left to answer
                loop.call_soon_threadsafe(_settle, done, error)

        self._thread.submit(job)
        await done

    def _run_batch(self, batch: list[_Call]) -> None:
        """In the worker thread: the batch's intents in one commit, then its other calls in order."""
        intents = [c for c in batch if c.intent is not None]
        if intents:
            self._begin_intents(intents)
        for queued in batch:
            if queued.fn is not None:
                try:
                    queued.result = queued.fn()
                except Exception as exc:
                    queued.error = exc
                queued.finished = True

    def _begin_intents(self, calls: list[_Call]) -> None:
        requests = [c.intent for c in calls if c.intent is not None]
        many = getattr(self._ledger, "begin_intents", None)
        if many is not None and len(requests) > 1:
            try:
                ids = cast(_BatchIntents, self._ledger).begin_intents(requests)
            except Exception:  # noqa: S110 - one bad request fails the batch; each is retried on its own
                pass
            else:
                for queued, intent_id in zip(calls, ids, strict=True):
                    queued.result, queued.finished = intent_id, True
                return
        for queued, request in zip(calls, requests, strict=True):
            try:
                queued.result = self._ledger.begin_intent(
                    request.kind,
                    request.source_key,
                    request.operation,
                    request.lookup_keys,
                    run_id=request.run_id,
                    parent_id=request.parent_id,
                )
            except Exception as exc:
                queued.error = exc
            queued.finished = True
