"""The ledger's interface: what the migration engine may ask of its durable state, whatever stores it.

The engine (plan / sample / run / delta / rollback) keeps every fact it needs to resume, reconcile and roll
back here. ``SqliteLedger`` is the default store; another one only has to satisfy ``Ledger``.

Vocabulary:

* ``kind`` is the destination object kind a source record becomes (``contact``, ``note``, ``appointment``,
  ``custom_field`` ...) and ``source_key`` the record's stable key in the source (``patient:1042``,
  ``appointment:77/note:overflow``). One (kind, source_key) is one row: the ledger's unit of truth.
* A *run* is one invocation of sample / run / delta / rollback; every write names the run that made it.
* An *intent* is written before a request that may create an object and settled after it, so a crash
  between the two leaves a visible "may or may not exist in HighLevel" instead of a silent gap.

Calling convention: methods are synchronous, each one short transaction, and thread-safe (one connection
behind a lock). The async engine runs them in a worker thread with ``anyio.to_thread.run_sync`` so an
fsync never stalls the event loop; calling them directly from the loop is also correct, only less smooth.

Durability contract (what a store must guarantee, and what a crash may cost):

* Every write is atomic, and writes become durable in the order they were made: whatever survives a crash
  is a prefix of the writes, so a surviving checkpoint implies the records before it survived.
* A killed *process* (SIGKILL, OOM) loses no write that returned.
* *Barrier* writes are durable against a power cut or OS crash when they return, and so is every write
  made before them: ``begin_intent`` (the create is sent only after its intent is on disk, so a crash is
  resolved by lookup, never by a second create), ``save_pre_image`` (the "before" exists before the
  request that changes the object), ``begin_run`` / ``resume_run`` / ``finish_run``, ``set_watermark``,
  ``approve_plan`` and ``close``.
* Every other write is *group-committed*: after a power cut it may be lost, back to the last barrier.
  What that costs: a lost ``record_result`` or ``complete_intent`` of a create leaves the durable intent
  pending or completed, so the resumed run finds the object (lookup, or ``destination_of``'s intent
  fallback) and records it as created, never creating it twice; a lost ``abandon_intent`` is looked up
  again and abandoned again; a lost unchanged / skipped / failed record or checkpoint is simply redone; a
  lost ``mark_rolled_back`` / ``mark_restored`` makes a rollback delete (404 counts as gone) or restore
  (the same pre-image) again.

``SqliteLedger`` implements barriers as ``synchronous=FULL`` commits in a WAL otherwise at ``NORMAL``.

PHI: every column of every table holds identifiers, hashes, times, enum values or reasons, except those
whose name starts with ``payload_`` (the lookup values an intent may need and the pre-images). Reasons and
cursors are written by the engine and must follow the same rule: ids and field names, never values.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._state.audit import AuditRow, RecordAction, RecordOutcome

__all__ = [
    "ApprovedPlan",
    "Attempt",
    "CreatedObject",
    "Ledger",
    "LedgerIdentity",
    "LedgerRecord",
    "PendingIntent",
    "PreImage",
    "Run",
    "RunMode",
    "RunStatus",
    "SourceHash",
    "Watermark",
]


class RunMode(enum.StrEnum):
    """Which engine operation a run is."""

    SAMPLE = "sample"
    RUN = "run"
    DELTA = "delta"
    ROLLBACK = "rollback"
    RECONCILE = "reconcile"


class RunStatus(enum.StrEnum):
    """Where a run stands. ``RUNNING`` after a crash means "resume me"."""

    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    """Stopped cleanly before the end (daily cap, cancelled); the checkpoint says where."""
    FAILED = "failed"


# Kinds are names we choose ("contact", "custom_field", "calendar.event"): keep them boring so they can be
# table keys, file names and CSV cells without surprises.
_KIND_RE = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*")
_MAX_KIND = 64
_MAX_KEY = 256
# One regex scan instead of a Python loop over the characters: every ledger write checks its keys.
_CONTROL_CHAR = re.compile("[\x00-\x1f\x7f]")
_MAX_REASON = 1000


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or len(kind) > _MAX_KIND or not _KIND_RE.fullmatch(kind):
        raise ConfigurationError(
            f"object kind must be a lowercase dotted identifier of at most {_MAX_KIND} characters, "
            f"got {kind!r}"
        )
    return kind


def check_key(value: str, what: str) -> str:
    """Keys and ids are single-line, non-empty, bounded text (they end up in CSV cells and messages)."""
    if not isinstance(value, str) or not value or len(value) > _MAX_KEY:
        raise ConfigurationError(f"{what} must be a non-empty string of at most {_MAX_KEY} characters")
    if _CONTROL_CHAR.search(value) is not None:
        raise ConfigurationError(f"{what} must not contain control characters")
    return value


def check_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > _MAX_REASON:
        raise ConfigurationError(f"reason must be a string of at most {_MAX_REASON} characters")
    return reason


def check_aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime")
    return value


@attrs.frozen
class LedgerIdentity:
    """What a ledger belongs to. Opening a ledger with another identity is refused.

    ``source_fingerprint`` identifies the *source practice* (e.g. the G export's practice id, or the Ascend
    organization id), not one export's content: a delta from a newer export of the same practice must
    open the same ledger.
    """

    migration_id: str
    location_id: str
    source_fingerprint: str

    def __attrs_post_init__(self) -> None:
        check_key(self.migration_id, "migration_id")
        check_key(self.location_id, "location_id")
        check_key(self.source_fingerprint, "source_fingerprint")


@attrs.frozen
class Run:
    run_id: str
    mode: RunMode
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    phase: str | None
    """The last checkpoint's phase (e.g. ``setup``, ``patients``, ``appointments``), or None."""
    cursor: str | None
    """The last checkpoint's cursor: an opaque, PHI-free position (a source key, a page token)."""
    checkpoint_at: datetime | None


@attrs.frozen
class Attempt:
    """One process's part of a run: a run stopped and resumed is one run id with two attempts."""

    run_id: str
    attempt: int
    """1 for the attempt that began the run, then 2, 3, … for each resume."""
    status: RunStatus
    """How the attempt ended (``STOPPED`` for one killed before it could say); ``RUNNING`` while it runs."""
    started_at: datetime
    ended_at: datetime | None


@attrs.frozen
class LedgerRecord:
    """The latest state of one (kind, source_key): what the destination holds after the last run."""

    kind: str
    source_key: str
    destination_id: str | None
    content_hash: str | None
    """Hash of what was last sent (the mapped payload); a delta resends only when it changes."""
    action: RecordAction
    outcome: RecordOutcome
    reason: str | None
    run_id: str
    first_recorded_at: datetime
    updated_at: datetime


@attrs.frozen
class PendingIntent:
    """A create that was about to be (or was) sent when the process stopped: it may exist in HighLevel.

    ``lookup`` holds what the engine put on the object to find it again (the source-system id custom field,
    an e-mail, a phone): values may be PHI, so the repr shows only the lookup's keys.
    """

    intent_id: int
    run_id: str
    kind: str
    source_key: str
    operation: str
    parent_id: str | None
    lookup: Mapping[str, str] = attrs.field(repr=False)
    begun_at: datetime

    def __repr__(self) -> str:
        return (
            f"PendingIntent(intent_id={self.intent_id!r}, run_id={self.run_id!r}, kind={self.kind!r}, "
            f"source_key={self.source_key!r}, operation={self.operation!r}, parent_id={self.parent_id!r}, "
            f"lookup_keys={sorted(self.lookup)!r}, begun_at={self.begun_at!r})"
        )


@attrs.frozen
class CreatedObject:
    """An object the migration created: rollback deletes it (children first, see ``created_objects``)."""

    seq: int
    kind: str
    destination_id: str
    parent_id: str | None
    """The object it hangs off, where the delete path needs it (a note's contact id)."""
    source_key: str
    run_id: str
    created_at: datetime
    rolled_back_at: datetime | None


@attrs.frozen
class PreImage:
    """The state of an object the practice already had, before the migration first changed it."""

    seq: int
    kind: str
    destination_id: str
    run_id: str
    saved_at: datetime
    restored_at: datetime | None
    payload: object = attrs.field(repr=False)
    """The decoded JSON as saved: patient values, shown nowhere but to the code that restores it."""


@attrs.frozen
class SourceHash:
    """The source record's content hash at the watermark (to tell changed from unchanged in a delta)."""

    kind: str
    source_key: str
    source_hash: str


@attrs.frozen
class Watermark:
    """Where the source stood when a run or delta read it.

    ``source_as_of`` is the source's own clock (the export's time, or the newest Ascend ``lastModified``
    read), so the next delta asks for changes after it; ``taken_at`` is our clock.
    """

    source_as_of: datetime
    taken_at: datetime
    run_id: str


@attrs.frozen
class ApprovedPlan:
    plan_hash: str
    approved_by: str
    """Who approved (a staff identity, not a patient's)."""
    approved_at: datetime
    forced_reason: str | None = None
    """Why a plan whose preflight failed was approved anyway (None: the preflight passed or none ran)."""


@runtime_checkable
class Ledger(Protocol):
    """The engine's durable state. See the module docstring for vocabulary and calling convention."""

    @property
    def identity(self) -> LedgerIdentity: ...

    def close(self) -> None: ...

    # Runs and checkpoints ------------------------------------------------------------------------------

    def begin_run(self, mode: RunMode, *, run_id: str | None = None) -> Run:
        """Start a run (a fresh id unless one is given) in status RUNNING."""
        ...

    def resume_run(self, run_id: str) -> Run:
        """Set a crashed (still RUNNING), STOPPED or FAILED run running again, checkpoint kept, so one run
        id covers a run however many processes it took. A COMPLETED run is refused."""
        ...

    def finish_run(self, run_id: str, *, status: RunStatus) -> Run: ...

    def run(self, run_id: str) -> Run | None: ...

    def runs(self) -> list[Run]:
        """Every run, oldest first."""
        ...

    def attempts(self) -> list[Attempt]:
        """Every attempt of every run (begun, then each resume), oldest first."""
        ...

    def save_checkpoint(self, run_id: str, *, phase: str, cursor: str | None) -> None:
        """Replace the run's checkpoint; write it only after everything before the cursor is recorded."""
        ...

    # Records and the audit log -------------------------------------------------------------------------

    def record_result(
        self,
        run_id: str,
        kind: str,
        source_key: str,
        *,
        action: RecordAction,
        outcome: RecordOutcome,
        destination_id: str | None = None,
        content_hash: str | None = None,
        reason: str | None = None,
    ) -> LedgerRecord:
        """Record what the run did with one record: updates its row and its audit row in one transaction.

        Within one run a record keeps its strongest action: CREATED stays CREATED and UPDATED stays
        UPDATED when the same run later reports the record UNCHANGED or UPDATED again (a resumed run
        re-seeing its own write is not news). Any other action replaces the earlier one.
        """
        ...

    def record(self, kind: str, source_key: str) -> LedgerRecord | None: ...

    def records(self, kind: str | None = None) -> list[LedgerRecord]: ...

    def destination_of(self, kind: str, source_key: str) -> str | None:
        """Where the record lives in HighLevel: its row's destination id, else the newest completed intent's.

        The fallback covers a crash between ``complete_intent`` and ``record_result``: the object exists
        and the resumed run must update it, not create a second one.
        """
        ...

    def owner_of(self, kind: str, destination_id: str) -> str | None:
        """The source key the ledger already holds ``destination_id`` for (records, then settled intents).

        This is how the engine notices that HighLevel's upsert matched another patient's contact.
        """
        ...

    def audit_rows(self, *, run_id: str | None = None) -> list[AuditRow]:
        """One row per (run, kind, source_key), in the order first recorded; all runs unless one is named."""
        ...

    # Write intents -------------------------------------------------------------------------------------

    def begin_intent(
        self,
        kind: str,
        source_key: str,
        operation: str,
        lookup_keys: Mapping[str, str],
        *,
        run_id: str,
        parent_id: str | None = None,
    ) -> int:
        """Record, durably, that a create is about to be sent; returns the intent id."""
        ...

    def complete_intent(self, intent_id: int, *, destination_id: str, created: bool) -> None:
        """The request answered with ``destination_id``. ``created`` False means it matched an existing
        object (an upsert with ``new: false``), which rollback must not delete. Idempotent."""
        ...

    def abandon_intent(self, intent_id: int, *, reason: str) -> None:
        """The object was established not to exist (looked up after a crash, or a definite refusal)."""
        ...

    def pending_intents(self) -> list[PendingIntent]:
        """Intents neither completed nor abandoned, oldest first: resolve each before creating again."""
        ...

    # Rollback material ---------------------------------------------------------------------------------

    def save_pre_image(self, kind: str, destination_id: str, pre_image: object, *, run_id: str) -> bool:
        """Keep the state before our first change; returns False when one is already kept (first write
        wins) or the object is one the migration created (there is no "before" to restore).

        A pre-image already restored by a rollback is replaced: the object is back at its old state, and
        migrating it again needs a fresh "before"."""
        ...

    def pre_images(self, *, include_restored: bool = False) -> list[PreImage]:
        """Pre-images, most recently saved first."""
        ...

    def pre_image(self, kind: str, destination_id: str) -> PreImage | None:
        """The unrestored pre-image of one object, if the migration kept one (the object was the
        practice's before the migration changed it)."""
        ...

    def mark_restored(self, kind: str, destination_id: str) -> None:
        """Rollback restored the pre-image. Idempotent. The records pointing at the object are dropped (a
        later run sends them again) and its intents retired."""
        ...

    def created_objects(self, *, include_rolled_back: bool = False) -> list[CreatedObject]:
        """Objects the migration created, newest first: children are deleted before their parents."""
        ...

    def mark_rolled_back(self, kind: str, destination_id: str) -> None:
        """Rollback deleted the object (or found it gone). Idempotent. As ``mark_restored``, the records
        pointing at it are dropped and its intents retired, so nothing resolves to a deleted id."""
        ...

    # Delta watermark -----------------------------------------------------------------------------------

    def set_watermark(
        self,
        *,
        run_id: str,
        source_as_of: datetime,
        hashes: Iterable[SourceHash] = (),
        removed: Iterable[tuple[str, str]] = (),
    ) -> Watermark:
        """Advance the watermark and upsert per-record source hashes (``removed``: (kind, key) pairs)."""
        ...

    def watermark(self) -> Watermark | None: ...

    def source_hashes(self, kind: str) -> dict[str, str]:
        """source_key -> source hash at the watermark, for one kind."""
        ...

    # The approved plan ---------------------------------------------------------------------------------

    def approve_plan(
        self, plan_hash: str, *, approved_by: str, forced_reason: str | None = None
    ) -> ApprovedPlan: ...

    def approved_plan(self) -> ApprovedPlan | None: ...

    # Identity notes (the practice namespace, the ledger's own token) ------------------------------------

    def note(self, key: str) -> str | None: ...

    def set_note(self, key: str, value: str) -> None: ...
