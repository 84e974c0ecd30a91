"""What every step of one engine run shares, and the one way an object is written: look, intend, send, record.

``ensure_object`` is the idempotency core. For one (kind, source key) it sends nothing when the ledger says
the destination already holds this content hash, updates when the object exists, and otherwise creates it
between ``begin_intent`` and ``complete_intent``, so a crash at any instant leaves a pending intent that the
next run resolves by lookup before creating anything again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import anyio
import attrs

from dentrix_highlevel._errors import (
    AmbiguousWriteError,
    AuthenticationError,
    DailyCapReachedError,
    HighLevelError,
    NotFoundError,
    TransportError,
)
from dentrix_highlevel._server_text import safe_code, shown_or_withheld
from dentrix_highlevel.highlevel import HighLevelClient, RequestKind
from dentrix_highlevel.mapping import DefaultMapOptions, FieldMap, PracticeSettings
from dentrix_highlevel.migration._engine.events import ProgressEvent, RateWait, RecordDone
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._engine.progress import ProgressCallback
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.batch import IntentRequest, LedgerBatcher
from dentrix_highlevel.migration._state.ledger import Ledger, PendingIntent, RunMode
from dentrix_highlevel.migration._state.setup_record import SetupRecord

__all__ = ["CONNECTION_ERRORS", "Counters", "RunContext", "SetupState", "content_hash", "text_digest"]

_log = logging.getLogger("dentrix_highlevel.migration")
#: Failures of the connection rather than of one record: they stop a run instead of failing records.
CONNECTION_ERRORS = (TransportError, AuthenticationError)
T = TypeVar("T")
# Polling for a contact the search index may not show yet: waits grow by half each time, to 15 s at most.
#: Kinds whose interrupted creates are looked up by a search, which lags writes (the rest: by reads).
_FIRST_POLL_S = 1.0
_POLL_BACKOFF = 1.5
_MAX_POLL_S = 15.0


def failure_reason(exc: HighLevelError) -> str:
    """The audit reason of a refused write: the error's type, HTTP status, HighLevel's error code and the
    fields at fault (``HighLevel refused: ValidationError 422: email (invalid)``). Built from the error's
    structured parts, never its text: the audit is the file the docs call safe to send to support."""
    status = f" {exc.status_code}" if exc.status_code is not None else ""
    reason = f"HighLevel refused: {type(exc).__name__}{status}"
    code = safe_code(exc.code)
    shown = [code] if code else []
    for message in getattr(exc, "messages", ()) or ():
        text = shown_or_withheld(str(message))
        if text not in shown:
            shown.append(text)
    if shown:
        reason += ": " + ", ".join(shown[:8])
    return reason[:400]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def content_hash(payload: Any) -> str:
    """The hash of what is sent: canonical JSON, so equal payloads hash equal in every process."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_digest(text: str) -> str:
    """Same digest the client's note lookup uses (``bodySha256``): the hash finds it, the text stays out."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@attrs.frozen(kw_only=True)
class SetupState:
    """What setup learnt about the location: ids only."""

    allow_duplicates: bool
    field_ids: Mapping[str, str]
    """fieldKey -> custom field id."""
    field_types: Mapping[str, str]
    """custom field id -> dataType (the diff needs it: DATE values read back as epoch ms)."""
    source_id_field: str | None
    pipeline_id: str | None
    stage_ids: Mapping[str, str]
    calendar_id: str | None
    """The ``calendar_name`` calendar (the single layout's one calendar; other layouts' fallback)."""
    allow_duplicate_opportunities: bool = False
    user_ids: Mapping[str, str] = attrs.field(factory=dict)
    """provider id -> HighLevel user id (``provider_users`` policy)."""
    calendar_ids: Mapping[str, str] = attrs.field(factory=dict)
    """Calendar group key (``single``, ``provider:<id>``, ``operatory:<id>``) -> calendar id."""
    calendar_teams: Mapping[str, frozenset[str]] = attrs.field(factory=dict)
    """Calendar id -> the user ids on its team: an appointment is assigned only to one of them."""
    practice_field: str | None = None
    """The ``Source Practice ID`` custom field id (the practice namespace beside the Source System ID)."""


@attrs.define
class Counters:
    """Running totals for progress events (engine-internal, mutated from one event loop)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    conflicts: int = 0
    deleted: int = 0
    restored: int = 0

    def add(self, action: RecordAction) -> None:
        name = "conflicts" if action is RecordAction.CONFLICT else action.value
        setattr(self, name, getattr(self, name) + 1)


@attrs.define
class RunContext:
    """One run's shared state. Ledger calls go through :meth:`db` and :meth:`begin_intent`: batched into a
    worker thread (``batch``: fsyncs never stall the event loop, one hop serves every task waiting,
    and a cancelled task still finishes the ledger write it started)."""

    hl: HighLevelClient
    ledger: Ledger
    run_id: str
    mode: RunMode
    maps: Mapping[str, FieldMap]
    options: DefaultMapOptions
    policies: MigrationPolicies
    practice: PracticeSettings
    default_maps: bool
    namespace: str = ""
    """The practice namespace of this run's source keys (``identity``): lookups match it too."""
    recovered: bool = False
    """The ledger was rebuilt from HighLevel: an object it lacks is looked up there before any create."""
    setup: SetupState | None = None
    finders: Mapping[str, Callable[[RunContext, Mapping[str, str]], Awaitable[str | None]]] = attrs.field(
        factory=dict
    )
    """Kind -> its writer's lookup of an interrupted create (other kinds: the client's ``find_created``)."""
    searched_kinds: frozenset[str] = frozenset()
    """The kinds found by searches that lag writes: looked for with backoff (the writers say which)."""
    setup_record: SetupRecord | None = None
    """The location's record of the setup objects the migration created (read at setup)."""
    counters: Counters = attrs.field(factory=Counters)
    progress: ProgressCallback | None = None
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], dt.datetime] = _utc_now
    """Aware UTC now: intents carry wall-clock times, so lookups measure the search lag against it."""
    started_s: float = 0.0
    total: int = 0
    done: int = 0
    phase: str = "setup"
    requests_at_start: int = 0
    progress_failed: bool = False
    """Whether the progress callback has raised in this run (its failure is logged once)."""
    publish: Callable[[ProgressEvent], None] | None = None
    """Hands an event to the migration's ``events()`` streams without waiting."""
    rate_waited_s: float = 0.0
    """Time the limiter held this run's requests back since the last event (a :class:`RateWait`)."""

    def note_rate_wait(self, waited_s: float) -> None:
        """The limiter's hook (called in the event loop, inside its lock): only adds up, never waits."""
        self.rate_waited_s += waited_s

    def event(self, kind: type[ProgressEvent] = RecordDone, **extra: Any) -> ProgressEvent:
        """The current counts as an event of type ``kind``."""
        c = self.counters
        return kind(
            run_id=self.run_id,
            mode=self.mode,
            phase=self.phase,
            total=self.total,
            done=self.done,
            created=c.created,
            updated=c.updated,
            unchanged=c.unchanged,
            skipped=c.skipped,
            failed=c.failed,
            conflicts=c.conflicts,
            deleted=c.deleted,
            restored=c.restored,
            requests=self.hl.requests_sent - self.requests_at_start,
            elapsed_s=max(0.0, self.clock() - self.started_s),
            **extra,
        )

    def __attrs_post_init__(self) -> None:
        self.requests_at_start = self.hl.requests_sent

    batcher: LedgerBatcher | None = None
    """Runs :meth:`db` calls of all tasks in batches (one worker-thread hop, one fsync per batch)."""

    async def db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self._batcher().call(fn, *args, **kwargs)

    async def begin_intent(
        self, kind: str, key: str, lookup: Mapping[str, str], *, parent_id: str | None = None
    ) -> int:
        """A durable create intent; it is on disk when this returns (committed with its batch)."""
        request = IntentRequest(kind, key, "create", dict(lookup), self.run_id, parent_id)
        return await self._batcher().begin_intent(request)

    def _batcher(self) -> LedgerBatcher:
        if self.batcher is None:
            self.batcher = LedgerBatcher(self.ledger)
        return self.batcher

    @property
    def state(self) -> SetupState:
        assert self.setup is not None, "setup runs before any object is written"
        return self.setup

    async def record(
        self,
        kind: str,
        key: str,
        action: RecordAction,
        outcome: RecordOutcome,
        *,
        destination_id: str | None = None,
        digest: str | None = None,
        reason: str | None = None,
    ) -> None:
        await self.db(
            self.ledger.record_result,
            self.run_id,
            kind,
            key,
            action=action,
            outcome=outcome,
            destination_id=destination_id,
            content_hash=digest,
            reason=reason,
        )
        self.counters.add(action)

    async def report(self, kind: type[ProgressEvent] = RecordDone, **extra: Any) -> None:
        """Deliver an event of type ``kind`` (a :class:`RateWait` first, if requests waited since the last
        one) to the ``events()`` streams and the callback; await the callback if it is async. A callback
        that raises does not end the run: its first failure is logged (type only: its message may quote
        anything), the rest are dropped. A cancellation from it is the caller's and propagates."""
        if self.rate_waited_s > 0:
            waited, self.rate_waited_s = self.rate_waited_s, 0.0
            await self._deliver(self.event(RateWait, waited_s=round(waited, 3)))
        await self._deliver(self.event(kind, **extra))

    def report_nowait(self, kind: type[ProgressEvent], **extra: Any) -> None:
        """An event for the ``events()`` streams only, where awaiting is impossible (a cancelled run)."""
        if self.publish is not None:
            self.publish(self.event(kind, **extra))

    async def _deliver(self, event: ProgressEvent) -> None:
        if self.publish is not None:
            self.publish(event)
        if self.progress is None:
            return
        try:
            pending = self.progress(event)
            if inspect.isawaitable(pending):
                await pending
        except Exception as exc:
            if not self.progress_failed:
                self.progress_failed = True
                _log.warning(
                    "%s run %s: the progress callback raised %s; the run goes on (later failures of the "
                    "callback are not logged)",
                    self.mode.value,
                    self.run_id,
                    type(exc).__name__,
                )

    def made_in_setup(self, kind: str, key: str) -> bool:
        """The location's setup record says the migration created this setup object (a rebuilt ledger
        adopts it as created, so rollback deletes it, instead of reusing it as the practice's)."""
        return self.setup_record is not None and self.setup_record.made(kind, key)

    async def note_setup_created(self, entries: Iterable[tuple[str, str]]) -> None:
        """Before setup objects are created: the location's setup record names them first."""
        if self.setup_record is not None:
            await self.setup_record.note(self.hl, created=entries)

    # -- the write path ---------------------------------------------------------------------------------

    async def ensure_object(
        self,
        *,
        kind: str,
        key: str,
        digest: str,
        lookup: Mapping[str, str],
        create: Callable[[], Awaitable[str]],
        update: Callable[[str], Awaitable[str | None]] | None,
        parent_id: str | None = None,
        outcome: RecordOutcome = RecordOutcome.APPLIED,
        reason: str | None = None,
        action_if_created: RecordAction = RecordAction.CREATED,
        replace: Callable[[str], Awaitable[None]] | None = None,
        adopt: Callable[[HighLevelError], Awaitable[tuple[str, str] | None]] | None = None,
    ) -> str | None:
        """Make the destination hold this object; returns its id, or None when it failed (recorded).

        ``replace`` is for objects that cannot be updated (a relation): when the content hash differs, it
        deletes the old object (gone already counts as deleted), the ledger marks that one rolled back, and
        a new one is created; rollback then deletes only the live one. Only an object the migration
        created is ever replaced; any other is left as it is (recorded unchanged, as without ``replace``).

        ``update`` returns None when it changed the object (recorded ``updated``), or a reason when it found
        nothing to send (recorded ``unchanged`` with that reason: the audit log says no write was made).

        ``adopt`` is asked when the create is refused: it may find that the object already exists in
        HighLevel (the practice's: a duplicate the location does not allow) and take it over, keeping its
        pre-image; it returns (its id, the audit reason), recorded ``updated``, or None (a refusal).
        """
        rec = await self.db(self.ledger.record, kind, key)
        dest = await self.db(self.ledger.destination_of, kind, key)
        if rec is None and dest is None and self.recovered and lookup:
            # A rebuilt ledger (``recover``) does not know this object: HighLevel may already hold it.
            found = await self.find_existing(kind, lookup, poll=False)
            if found is not None:
                intent = await self.begin_intent(kind, key, lookup)
                await self.db(self.ledger.complete_intent, intent, destination_id=found, created=True)
                dest = found
        if (
            dest is not None
            and rec is not None
            and rec.content_hash == digest
            and rec.action is not (RecordAction.FAILED)
        ):
            await self.record(
                kind, key, RecordAction.UNCHANGED, outcome, destination_id=dest, digest=digest, reason=reason
            )
            return dest
        if (
            dest is not None
            and update is None
            and replace is not None
            and rec is not None
            and rec.content_hash != digest
            and await self.db(self._created_by_us, kind, dest)
        ):
            try:
                with contextlib.suppress(NotFoundError):
                    await replace(dest)
            except DailyCapReachedError:
                raise
            except HighLevelError as exc:
                await self.fail(kind, key, exc, destination_id=dest)
                return None
            # The old object is gone: its record and intents are retired, so the create below is fresh.
            await self.db(self.ledger.mark_rolled_back, kind, dest)
            dest = None
        if dest is not None:
            if update is not None:
                try:
                    nothing_sent = await update(dest)
                except DailyCapReachedError:
                    raise
                except HighLevelError as exc:
                    await self.fail(kind, key, exc, destination_id=dest)
                    return None
                action = RecordAction.UPDATED if nothing_sent is None else RecordAction.UNCHANGED
                if rec is None and await self.db(self._created_by_us, kind, dest):
                    action = action_if_created  # a resumed create: the intent settled, the record was not
                await self.record(
                    kind,
                    key,
                    action,
                    outcome,
                    destination_id=dest,
                    digest=digest,
                    reason=reason if nothing_sent is None else nothing_sent,
                )
            else:
                await self.record(
                    kind,
                    key,
                    RecordAction.UNCHANGED,
                    outcome,
                    destination_id=dest,
                    digest=digest,
                    reason=reason,
                )
            return dest
        intent = await self.begin_intent(kind, key, lookup, parent_id=parent_id)
        try:
            async with self.unsent_abandoned(intent):
                new_id = await create()
        except AmbiguousWriteError:
            found = await self.find_existing(kind, lookup)
            if found is None:
                await self.db(
                    self.ledger.abandon_intent, intent, reason="ambiguous create: not found on lookup"
                )
                await self.record(
                    kind,
                    key,
                    RecordAction.FAILED,
                    RecordOutcome.NOT_APPLIED,
                    reason="ambiguous create, not found on lookup: sent again next run",
                )
                return None
            new_id = found
        except DailyCapReachedError:
            await self.db(self.ledger.abandon_intent, intent, reason="daily cap reached before the create")
            raise
        except HighLevelError as exc:
            taken = await adopt(exc) if adopt is not None else None
            await self.db(self.ledger.abandon_intent, intent, reason=f"refused: {type(exc).__name__}")
            if taken is None:
                await self.fail(kind, key, exc)
                return None
            found_id, why = taken
            await self.record(
                kind, key, RecordAction.UPDATED, outcome, destination_id=found_id, digest=digest, reason=why
            )
            return found_id
        await self.db(self.ledger.complete_intent, intent, destination_id=new_id, created=True)
        await self.record(
            kind, key, action_if_created, outcome, destination_id=new_id, digest=digest, reason=reason
        )
        return new_id

    @contextlib.asynccontextmanager
    async def unsent_abandoned(self, intent: int) -> AsyncIterator[None]:
        """Around a create: cancelled before any of its requests left (waiting for the rate limiter, the
        usual place), the object cannot exist, so its intent is abandoned at once instead of staying
        pending for the next run to search for."""
        with self.hl.track_sends() as sends:
            try:
                yield
            except anyio.get_cancelled_exc_class():
                if sends.sent == 0:
                    with anyio.CancelScope(shield=True):
                        await self.db(
                            self.ledger.abandon_intent, intent, reason="cancelled before it was sent"
                        )
                raise

    async def fail(
        self, kind: str, key: str, exc: HighLevelError, *, destination_id: str | None = None
    ) -> None:
        if isinstance(exc, CONNECTION_ERRORS):
            # The connection's fault (a revoked token, no answer after every retry), not the record's:
            # recording it failed would hide it from the resume. The engine counts it and stops the run.
            raise exc
        reason = failure_reason(exc)
        _log.warning("%s %s failed: %s", kind, key, reason)
        await self.record(
            kind,
            key,
            RecordAction.FAILED,
            RecordOutcome.NOT_APPLIED,
            destination_id=destination_id,
            reason=reason,
        )

    async def find_existing(
        self, kind: str, lookup: Mapping[str, str], *, since: dt.datetime | None = None, poll: bool = True
    ) -> str | None:
        """Does the object an interrupted create was making exist? Its id, or None (safe to create).

        Some kinds (contacts by their Source System ID, opportunities by contact and pipeline: their
        writers say which) are found by searches, and HighLevel's search index lags writes (reports of a
        minute): a create begun at ``since`` (default: now) is searched for with backoff until
        ``policies.ambiguous_lookup_s`` after it began, so a create the index has not caught up with is
        never sent a second time. Other kinds are found by reads that do not lag.
        """
        probe: Callable[[], Awaitable[str | None]]
        finder = self.finders.get(kind)
        if finder is not None:
            probe = functools.partial(finder, self, lookup)
        else:
            probe = functools.partial(self._created, kind, dict(lookup))
        if kind not in self.searched_kinds or not poll:
            return await probe()
        policies = self.policies
        began = since or self.wall_clock()
        deadline = began + dt.timedelta(seconds=policies.ambiguous_lookup_s)
        delay = policies.search_lag_s
        waited_for_index = self.wall_clock() - began >= dt.timedelta(seconds=policies.search_lag_s)
        while True:
            if not waited_for_index and delay > 0:
                await anyio.sleep(max(0.0, min(delay, (deadline - self.wall_clock()).total_seconds())))
            waited_for_index = False
            found = await probe()
            if found is not None:
                return found
            remaining = (deadline - self.wall_clock()).total_seconds()
            if remaining <= 0:
                return None
            delay = min(max(delay, _FIRST_POLL_S) * _POLL_BACKOFF, _MAX_POLL_S, remaining)

    async def _created(self, kind: str, lookup: dict[str, str]) -> str | None:
        found = await self.hl.find_created(AmbiguousWriteError("resolve", resource=kind, lookup=lookup))
        return None if found is None else str(found.id)

    async def resolve_pending(self) -> int:
        """Settle every intent a previous process left open: completed when the object exists, else
        abandoned (the record is then sent again). Returns how many were settled."""
        pending: list[PendingIntent] = await self.db(self.ledger.pending_intents)
        for intent in pending:
            found = await self.find_existing(intent.kind, intent.lookup, since=intent.begun_at)
            if found is None:
                await self.db(
                    self.ledger.abandon_intent, intent.intent_id, reason="resume: not found on lookup"
                )
                continue
            created = not await self.db(self._has_pre_image, intent.kind, found)
            await self.db(
                self.ledger.complete_intent, intent.intent_id, destination_id=found, created=created
            )
        return len(pending)

    def _created_by_us(self, kind: str, destination_id: str) -> bool:
        return any(
            o.kind == kind and o.destination_id == destination_id for o in self.ledger.created_objects()
        )

    def has_pre_image(self, kind: str, destination_id: str) -> bool:
        """Was this object the practice's before the migration changed it (a pre-image is kept)?"""
        return self._has_pre_image(kind, destination_id)

    def _has_pre_image(self, kind: str, destination_id: str) -> bool:
        return self.ledger.pre_image(kind, destination_id) is not None

    async def call(
        self,
        method: str,
        path: str,
        *,
        kind: RequestKind,
        json: Any = None,
        resource: str = "object",
        lookup: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self.hl.call(method, path, kind=kind, json=json, resource=resource, lookup=lookup)

    async def create(
        self, path: str, body: Any, *, resource: str, lookup: Mapping[str, str], wrapped: bool = True
    ) -> str:
        """Send a create (``POST path``) and return the new object's id. HighLevel answers with the object
        under its resource name (``{"note": {"id": ...}}``), or bare (``wrapped`` False: an appointment)."""
        answer = await self.call(
            "POST", path, kind=RequestKind.CREATE, json=body, resource=resource, lookup=lookup
        )
        return str((answer[resource] if wrapped else answer)["id"])
