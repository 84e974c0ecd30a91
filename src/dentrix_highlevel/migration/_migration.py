"""``Migration``: plan / approve / sample / run / delta / reconcile / rollback; embeddable, notebook-friendly.

::

    async with HighLevelClient(location_id=loc, token=pit) as hl, GExportSource("export.zip") as source:
        migration = Migration(source, hl, workdir="migrations/smile")
        async with migration:
            print(migration.plan_hash())
            migration.approve(by="office.manager@practice")
            await migration.sample(25)          # writes sample-<run>.csv: field-level diff to review
            result = await migration.run()      # STOPPED at the daily cap: call run() again to resume
            await migration.delta(GExportSource("export-tomorrow.zip"))
            print((await migration.reconcile()).reconciliation)
            await migration.rollback()          # the sub-account as it was before

Everything durable is in the ledger (``workdir``); a run killed at any instant resumes with ``run()``.
Logs, exceptions, progress events and the audit log carry ids and reasons only, never patient values.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence, Set
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

import anyio
import attrs

from dentrix_highlevel._errors import (
    AuthenticationError,
    ConfigurationError,
    DailyCapReachedError,
    HighLevelError,
    NotFoundError,
    PlanError,
)
from dentrix_highlevel._private_files import write_private
from dentrix_highlevel.highlevel import HighLevelClient, RequestKind
from dentrix_highlevel.highlevel._limiter import RATE_WAIT_HOOK
from dentrix_highlevel.mapping import (
    LIFECYCLE_STAGES,
    Coalesce,
    Collect,
    Constant,
    CustomFieldTarget,
    DefaultMapOptions,
    FieldMap,
    MappingResult,
    PathSource,
    PracticeSettings,
    default_maps,
    patient_disposition,
)
from dentrix_highlevel.migration._engine.context import CONNECTION_ERRORS, RunContext, SetupState
from dentrix_highlevel.migration._engine.diff import FieldDiff, Verdict, diff_object
from dentrix_highlevel.migration._engine.events import (
    EventStream,
    Finished,
    PhaseStarted,
    ProgressEvent,
    Stopped,
)
from dentrix_highlevel.migration._engine.identity import (
    PRACTICE_ID_KEY,
    SOURCE_ID_KEY,
    namespace_slug,
    practice_namespace,
)
from dentrix_highlevel.migration._engine.merge import expected_contact
from dentrix_highlevel.migration._engine.policies import MigrationPolicies, RemovedInSourcePolicy
from dentrix_highlevel.migration._engine.progress import ProgressCallback, RunResult
from dentrix_highlevel.migration._engine.rollback import run_rollback
from dentrix_highlevel.migration._engine.sample import stratified_sample, write_report
from dentrix_highlevel.migration._engine.setup import TAG_CATALOGUE, run_setup
from dentrix_highlevel.migration._engine.source_keys import SourceKeys
from dentrix_highlevel.migration._engine.writers.association import FamilyMember, write_family_links
from dentrix_highlevel.migration._engine.writers.base import CountScope, PatientObjects
from dentrix_highlevel.migration._engine.writers.calendar import keep_calendar_appointments, setup_calendars
from dentrix_highlevel.migration._engine.writers.contact import KIND as CONTACT
from dentrix_highlevel.migration._engine.writers.contact import (
    ContactAssignment,
    ContactIndex,
    contact_body,
    index_existing_contacts,
    patient_key,
    plan_contact_points,
    write_contact,
)
from dentrix_highlevel.migration._engine.writers.document import (
    DOCUMENT_KIND,
    DocumentUploader,
    known_document_urls,
    with_document_urls,
)
from dentrix_highlevel.migration._engine.writers.registry import (
    SourceTally,
    finders,
    read_back_patient_objects,
    searched_kinds,
    setup_keys,
    source_counts,
    undo,
    write_patient_objects,
)
from dentrix_highlevel.migration._plan.approval import (
    PlanComponents,
    check_approved,
    plan_components,
    save_components,
)
from dentrix_highlevel.migration._plan.migration_plan import MigrationPlan, batches_of, source_fingerprint
from dentrix_highlevel.migration._plan.preflight import Preflight, run_preflight
from dentrix_highlevel.migration._plan.scopes import features_for
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome, export_audit
from dentrix_highlevel.migration._state.ledger import (
    ApprovedPlan,
    Ledger,
    LedgerIdentity,
    RunMode,
    RunStatus,
    SourceHash,
)
from dentrix_highlevel.migration._state.open import open_ledger
from dentrix_highlevel.migration._state.ownership import (
    OwnershipError,
    claim_location,
    end_lease,
    ledger_is_empty,
    read_owner,
    release_location,
    take_lease,
)
from dentrix_highlevel.migration._state.postgres import check_ledger_url
from dentrix_highlevel.migration._state.reconcile import Reconciliation
from dentrix_highlevel.migration._state.setup_record import SetupRecord
from dentrix_highlevel.records import Appointment, PatientBundle, Provider
from dentrix_highlevel.sources._staging_dirs import (
    STAGING_DIRNAME,
    remove_kept_staging,
    remove_leftover_staging,
)

__all__ = ["Migration", "MigrationSource", "ReconcileResult", "plan_date"]

_log = logging.getLogger("dentrix_highlevel.migration")
_CHECKPOINT_EVERY = 25
# Connection failures in a row (a revoked token, a dead host) after which a run stops at once: one may be a
# blip the other patients get through; three in a row is the connection, and every further patient would
# only wait out its retries.
_CONNECTION_FAILURES_BOUND = 3
SOURCE_HASH_KIND = "patient"


@runtime_checkable
class MigrationSource(Protocol):
    """What the engine reads: a G export or an Ascend organisation (``GExportSource``, ``AscendSource``)."""

    def bundles(self, *, modified_since: dt.datetime | None = None) -> AsyncIterator[PatientBundle]: ...

    @property
    def practice_timezone(self) -> str: ...


@attrs.frozen(kw_only=True)
class ReconcileResult:
    """``reconcile()``: counts per object kind, and destination objects that differ from what was sent."""

    reconciliation: Reconciliation
    checked: int
    mismatches: tuple[tuple[str, str], ...]
    """(source key, field name) pairs whose destination value differs (ids and names only)."""
    path: Path

    @property
    def ok(self) -> bool:
        """Everything reconciled: the counts balance and no object read back differs."""
        return self.reconciliation.ok and not self.mismatches


@attrs.define
class _Lease:
    taken: bool = False


@attrs.define
class _Prepared:
    bundle: PatientBundle
    key: str
    contact: bool
    result: MappingResult


@attrs.frozen(slots=True)
class _Projection:
    """What a run keeps of one patient of the source between its two passes over it: ids, the contact
    points the assignment needs and the content hash the watermark records, never the bundle."""

    family: FamilyMember
    in_run: bool
    """Written by this run (a delta: changed; a sample: picked); the others only take part in the
    contact-point assignment and the family links."""
    contact: bool
    """Takes part in the contact-point assignment (a run's patient: it gets a contact)."""
    email: Any
    phone: Any
    """The contact payload's ``email`` and ``phone`` as the contact map gives them (None: not needed)."""

    @property
    def key(self) -> str:
        return patient_key(self.family.patient_id)


_Row = tuple[str, str | None, bool, bool, bool, Any, Any]
"""A projection as kept: patient id, guarantor id, own guarantor, in run, contact, e-mail, phone."""


class _Projections:
    """Every patient's projection, in source order, kept as plain tuples of strings and flags.

    One object per patient of the practice, held for the whole run: as attrs instances (two per patient)
    every full garbage collection would walk them all while the embedding program's event loop waits on the
    interpreter lock, a pause that grows with the practice. A tuple of strings, flags and None is one the
    collector stops tracking. :class:`_Projection` objects are made as they are iterated."""

    __slots__ = ("_rows",)

    def __init__(self) -> None:
        self._rows: list[_Row] = []

    def append(self, family: FamilyMember, in_run: bool, contact: bool, email: Any, phone: Any) -> None:
        self._rows.append(
            (family.patient_id, family.guarantor_id, family.own_guarantor, in_run, contact, email, phone)
        )

    def __iter__(self) -> Iterator[_Projection]:
        for pid, guarantor, own, in_run, contact, email, phone in self._rows:
            yield _Projection(FamilyMember(pid, guarantor, own), in_run, contact, email, phone)

    def __len__(self) -> int:
        return len(self._rows)

    def run_keys(self) -> set[str]:
        return {patient_key(row[0]) for row in self._rows if row[3]}

    def run_count(self) -> int:
        return sum(1 for row in self._rows if row[3])

    def run_contact_keys(self) -> Iterator[str]:
        """The keys of the run's patients that get a contact."""
        return (patient_key(row[0]) for row in self._rows if row[3] and row[4])

    def contact_points(self) -> dict[str, tuple[Any, Any]]:
        """Patient key -> (e-mail, phone) of every patient taking part in the contact-point assignment,
        in first-seen order (a key seen twice: its last projection decides)."""
        points: dict[str, tuple[Any, Any] | None] = {}
        for pid, _guarantor, _own, _in_run, contact, email, phone in self._rows:
            points[patient_key(pid)] = (email, phone) if contact else None
        return {key: point for key, point in points.items() if point is not None}


class _Assignments(Mapping[str, ContactAssignment]):
    """Patient key -> contact-point assignment, for the patients whose assignment is not the plain one, kept
    as plain tuples of their fields (ids and field names only), which the garbage collector does not
    track: a practice of families sharing e-mails and phones has one per member, held for the whole run."""

    __slots__ = ("_rows",)
    _FIELDS = tuple(f.name for f in attrs.fields(ContactAssignment))

    def __init__(self, assignments: Mapping[str, ContactAssignment] | None = None) -> None:
        self._rows: dict[str, tuple[Any, ...]] = {
            key: attrs.astuple(a, recurse=False) for key, a in (assignments or {}).items()
        }

    def __getitem__(self, key: str) -> ContactAssignment:
        return ContactAssignment(**dict(zip(self._FIELDS, self._rows[key], strict=True)))

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@attrs.define
class _Survey:
    """The first pass over the source: one small projection per patient, in source order (a few hundred
    bytes each, so a run holds no bundle beyond those in flight), and what the second pass adds up."""

    patients: _Projections
    appointments: tuple[Appointment, ...]
    """The first migrated appointment of each calendar group among the run's: what setup needs."""
    removed: list[str]
    """A delta: patient keys the ledger has hashes of that the source no longer has, sorted."""
    tally: SourceTally
    """The source counts of the run's bundles: a sample's at once, a run's and a delta's as the second
    pass reads them (``counted``: it read them all)."""
    digests: dict[str, str]
    """Patient key -> content hash of the run's patients, for the watermark (a delta's from this pass,
    a run's from the second, which hashes off the event loop while requests go out)."""
    picked: Sequence[PatientBundle] | None = None
    """A sample: its patients, in the sample's order (held: a sample is small)."""
    counted: bool = False

    @property
    def run_keys(self) -> set[str]:
        return self.patients.run_keys()

    @property
    def run_count(self) -> int:
        return len(self.picked) if self.picked is not None else self.patients.run_count()


_SURVEY_CHUNK = 64
"""Bundles projected per worker-thread hop in the first pass (few: every bundle held is heap a full garbage
collection walks while the event loop waits)."""
_STREAM_CHUNK = 16
"""Bundles the second pass maps per worker-thread hop (a few beyond the patients in flight)."""
_MIGRATED_CHUNK = 1000
"""Patient keys looked up in the ledger per call when the assignment asks which are migrated."""


def _fingerprint(source: Any) -> str:
    return source_fingerprint(source)


def plan_date(source: MigrationSource) -> dt.datetime:
    """The plan date ("as of") a migration of ``source`` maps with: the export's time in the practice's
    zone, naive as Dentrix times are (now, where the source has no export time). ``plan --offline`` and
    :class:`Migration` use the same one, so an offline plan maps exactly as the run will."""
    local = _source_as_of(source).astimezone(ZoneInfo(source.practice_timezone))
    return local.replace(tzinfo=None)


def _source_as_of(source: Any) -> dt.datetime:
    """The source's own clock: the export's time (aware), else now."""
    manifest = getattr(source, "manifest", None)
    raw = manifest.get("exported_at") if isinstance(manifest, Mapping) else None
    if isinstance(raw, str):
        try:
            stamp = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            stamp = None
        if stamp is not None:
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=ZoneInfo(source.practice_timezone))
            return stamp
    return dt.datetime.now(dt.UTC)


class Migration:
    """One practice's migration into one HighLevel location. See the module docstring.

    ``maps`` defaults to ``default_maps(options)``; ``options`` default to ``DefaultMapOptions`` whose
    ``as_of`` is the source export's time in practice-local time (so the plan hash is stable across
    processes). ``concurrency`` bounds patients in flight; the client's per-location limiter paces requests.
    ``progress`` receives a typed event (``PhaseStarted``, ``RecordDone`` after every patient and every
    object a rollback deletes or restores, ``RateWait``, ``Stopped``, ``Finished``; each a
    :class:`MigrationProgress`): a plain function is called, an ``async def`` one awaited, both in the
    event loop. One that raises is logged once per run (the exception's type only) and the run goes on.
    :meth:`events` hands the same events to ``async for``. File, SQLite and CPU-heavy work runs in worker
    threads; :meth:`aapprove` and :meth:`aexport_audit` are the async twins of the two sync calls.
    ``ledger_url`` keeps the ledger on a PostgreSQL server (``postgresql://user@host/db?schema=smile``)
    instead of ``ledger.sqlite3`` in ``workdir``, so a resume on another machine finds it; the work
    directory still holds the plan, staging and reports.
    """

    def __init__(
        self,
        source: MigrationSource,
        highlevel: HighLevelClient,
        *,
        workdir: str | Path,
        maps: Mapping[str, FieldMap] | None = None,
        options: DefaultMapOptions | None = None,
        policies: MigrationPolicies | None = None,
        concurrency: int = 8,
        migration_id: str = "dentrix-highlevel",
        progress: ProgressCallback | None = None,
        clock: Callable[[], float] = time.monotonic,
        ledger_url: str | None = None,
    ) -> None:
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        check_ledger_url(ledger_url)
        self._ledger_url = ledger_url
        self._source = source
        self._hl = highlevel
        self._workdir = Path(workdir)
        self._maps_given = dict(maps) if maps is not None else None
        self._options_given = options
        self._policies = policies or MigrationPolicies()
        self._concurrency = concurrency
        self._migration_id = migration_id
        self._progress = progress
        self._clock = clock
        self._ledger: Ledger | None = None
        self._options: DefaultMapOptions | None = None
        self._maps: dict[str, FieldMap] | None = None
        self._last_setup: SetupState | None = None
        self._documents: DocumentUploader | None = None
        self._preflight: Preflight | None = None
        self._handed_over: MigrationSource | None = None
        """The source the last ``delta(source)`` took over: the migration closes it."""
        self._streams: set[EventStream] = set()
        """The open ``events()`` streams: each hears every event, none can hold the run up."""
        self._running: RunContext | None = None
        """The run in progress (its RateWait events are counted on it)."""

    def __repr__(self) -> str:
        return f"Migration(location_id={self._hl.location_id!r}, workdir={str(self._workdir)!r})"

    # -- lifecycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> Migration:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        # The export's staged copy holds PHI: it goes into the work directory (never a shared temp dir),
        # and one a killed process left there is removed now.
        staging = self._workdir / STAGING_DIRNAME
        for leftover in remove_leftover_staging(staging):
            _log.warning("removed a staging directory a stopped process left behind: %s", leftover.name)
        _stage_in(self._source, staging)
        opener = getattr(self._source, "open", None)
        if opener is not None:
            await opener()
        await anyio.to_thread.run_sync(self._prepare)

    def close(self) -> None:
        """Close the ledger, and a source handed over to ``delta`` if it closes synchronously (a G export);
        ``aclose()`` (or ``async with``) closes any kind."""
        handed = self._handed_over
        if handed is not None and not inspect.iscoroutinefunction(getattr(handed, "close", None)):
            closer = getattr(handed, "close", None)
            if callable(closer):
                self._handed_over = None
                closer()
        for stream in tuple(self._streams):
            stream.close()
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    async def aclose(self) -> None:
        """``close()``, closing a source handed over to ``delta`` whatever kind it is (an Ascend source's
        HTTP client too)."""
        handed, self._handed_over = self._handed_over, None
        try:
            if handed is not None:
                with anyio.CancelScope(shield=True):
                    await _close_source(handed)
        finally:
            self.close()

    def _prepare(self) -> Ledger:
        if self._ledger is None:
            identity = LedgerIdentity(
                migration_id=self._migration_id,
                location_id=self._hl.location_id,
                source_fingerprint=_fingerprint(self._source),
            )
            where = self._ledger_url if self._ledger_url is not None else self._workdir
            self._ledger = open_ledger(where, identity=identity)
        return self._ledger

    @property
    def ledger(self) -> Ledger:
        """The migration's ledger. ``open()`` (``async with``) has already opened it in a worker thread;
        only a migration never opened opens it here, synchronously."""
        return self._prepare()

    @property
    def practice_namespace(self) -> str:
        """The namespace of this migration's source keys in HighLevel (``MigrationPolicies.practice_id``,
        else the source practice's fingerprint): contacts carry it in ``Source Practice ID``."""
        return practice_namespace(self._policies.practice_id, _fingerprint(self._source))

    def _claim_namespace(self, *, write: bool) -> None:
        """The ledger keeps the namespace its first run wrote: a later run under another one would no
        longer find its own contacts by their source keys (and could match another practice's)."""
        ledger = self._prepare()
        noted = ledger.note("practice_namespace")
        wanted = self.practice_namespace
        if noted is None:
            if write:
                ledger.set_note("practice_namespace", wanted)
        elif noted != wanted:
            raise ConfigurationError(
                f"the migration in {self._workdir} writes practice namespace {noted!r}, not {wanted!r}: "
                "keep the practice_id it was run with (or start a new work directory)"
            )

    @property
    def options(self) -> DefaultMapOptions:
        if self._options is None:
            if self._options_given is not None:
                self._options = self._options_given
            else:
                self._options = DefaultMapOptions(as_of=plan_date(self._source))
        return self._options

    @property
    def maps(self) -> dict[str, FieldMap]:
        if self._maps is None:
            self._maps = (
                self._maps_given if self._maps_given is not None else default_maps(self.options).all()
            )
        return self._maps

    # -- the plan ----------------------------------------------------------------------------------------

    def _components(self) -> PlanComponents:
        return plan_components(self.maps, self.options, self._policies, _fingerprint(self._source))

    def plan_hash(self) -> str:
        """sha256 over the serialised maps, options, policies and the source practice's fingerprint."""
        return self._components().plan_hash

    def approve(
        self, *, by: str, preflight: Preflight | None = None, force_reason: str | None = None
    ) -> ApprovedPlan:
        """Record that ``by`` (a staff identity) approved this exact plan.

        A plan whose preflight failed (``preflight``, else the last :meth:`preflight` of this migration)
        is refused with :class:`PlanError` naming the failed checks, unless ``force_reason`` says why it is
        approved anyway; the reason is recorded with the approval.
        """
        checked = preflight if preflight is not None else self._preflight
        reason = (force_reason or "").strip() or None
        if checked is not None and not checked.ok and reason is None:
            failed = ", ".join(c.check for c in checked.failures)
            raise PlanError(
                f"the preflight failed ({failed}): fix the location and check again, or approve with a "
                "reason for forcing it"
            )
        components = self._components()
        ledger = self._prepare()
        approved = ledger.approve_plan(components.plan_hash, approved_by=by, forced_reason=reason)
        save_components(self._workdir, components)
        return approved

    async def aapprove(
        self, *, by: str, preflight: Preflight | None = None, force_reason: str | None = None
    ) -> ApprovedPlan:
        """:meth:`approve` for async code: hashing the plan and the SQLite and file writes run in a
        worker thread, so an embedding program's event loop keeps serving while they do."""
        return await anyio.to_thread.run_sync(
            lambda: self.approve(by=by, preflight=preflight, force_reason=force_reason)
        )

    async def preflight(self, *, plan: MigrationPlan | None = None) -> Preflight:
        """Check, before any write, that the location can take this migration: the token, every scope
        the plan's features need, duplicate settings, pipeline and stages, calendars and their teams, the
        daily budget against the estimate, and published workflows (reads only; see ``Preflight``).

        ``plan`` (this migration's, e.g. just built) gives the calendars and the request estimate; without
        it the calendars are worked out from the source and the budget is not compared.
        """
        if plan is not None:
            calendars = tuple(plan.calendars)
            estimated: int | None = plan.estimate.total_requests
        else:
            bundles = await self._bundles()
            specs = setup_calendars(
                self._policies,
                self.options,
                self.maps,
                [a for b in bundles for a in b.appointments],
                self._providers(),
            )
            calendars, estimated = tuple(spec.name for spec in specs), None
        result = await run_preflight(
            self._hl,
            features=features_for(self._policies, self.maps),
            pipeline_name=self._policies.pipeline_name,
            stages=LIFECYCLE_STAGES if self._maps_given is None else (),
            calendars=calendars,
            provider_users=self._policies.provider_users,
            dedupe_order=self._policies.dedupe_order,
            estimated_requests=estimated,
        )
        self._preflight = result
        return result

    # -- operations --------------------------------------------------------------------------------------

    async def run(self) -> RunResult:
        """The full run (resumes an unfinished one). Refuses an unapproved or changed plan."""
        survey = await self._survey(RunMode.RUN)
        return (await self._execute(RunMode.RUN, survey))[0]

    async def sample(self, size: int) -> RunResult:
        """Migrate a stratified sample of ``size`` patients, read every object back by id and write the
        field-level diff report (``result.report``) into the work directory."""
        if size < 1:
            raise ConfigurationError("sample size must be at least 1")
        picked = stratified_sample(await self._bundles(), size)
        survey = await self._survey(RunMode.SAMPLE, picked=picked)
        result, ctx, prepared, assignments = await self._execute(RunMode.SAMPLE, survey)
        rows = await self._read_back(ctx, prepared, assignments)
        path = write_report(self._workdir / f"sample-{result.run_id}.csv", rows)
        return attrs.evolve(result, report=path)

    async def delta(self, source: MigrationSource | None = None) -> RunResult:
        """Send only new and changed patients of a newer export; patients gone from it per policy.

        ``source``, the newer export, is handed over: the migration reads it from then on (``reconcile``
        compares with it) and closes it (its staging index holds patient values) when the migration closes
        or the next ``delta(source)`` replaces it; one of another practice is closed at once and refused.
        Entering it with ``async with`` as well is harmless (closing twice is a no-op). Without ``source``
        the migration's current source is read again, and stays whoever's it was.
        """
        if source is not None:
            try:
                if _fingerprint(source) != _fingerprint(self._source):
                    raise ConfigurationError("the delta source is another practice than the migration's")
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await _close_source(source)
                raise
            _stage_in(source, self._workdir / STAGING_DIRNAME)
            previous, self._handed_over = self._handed_over, source
            self._source = source
            if previous is not None and previous is not source:
                await _close_source(previous)
        ledger = self._prepare()
        known = await anyio.to_thread.run_sync(ledger.source_hashes, SOURCE_HASH_KIND)
        survey = await self._survey(RunMode.DELTA, known=known)
        return (await self._execute(RunMode.DELTA, survey))[0]

    async def rollback(self) -> RunResult:
        """Delete what the migration created, restore what it changed; idempotent and resumable."""
        hook = RATE_WAIT_HOOK.set(self._note_rate_wait)  # as in a run: this rollback's RateWait events
        try:
            result = await self._rollback()
        finally:
            RATE_WAIT_HOOK.reset(hook)
            self._running = None
        if result.status is RunStatus.COMPLETED:
            # Nothing is left to migrate: the export's staged copy (PHI, kept for the next command) goes.
            for removed in remove_kept_staging(self._workdir / STAGING_DIRNAME):
                _log.info("removed the staged copy of the export: %s", removed.name)
        return result

    async def _rollback(self) -> RunResult:
        ledger = await anyio.to_thread.run_sync(self._prepare)
        await anyio.to_thread.run_sync(lambda: self._claim_namespace(write=False))
        if await anyio.to_thread.run_sync(ledger_is_empty, ledger):
            # Never "completed" for work this ledger did not do: the location may hold it all the same.
            raise OwnershipError(
                f"the ledger in {self._workdir} records nothing to roll back: if location "
                f"{self._hl.location_id} holds this migration, run `dentrix-highlevel recover --workdir "
                f"{self._workdir}` first (it rebuilds the ledger from HighLevel), then roll back"
            )
        await claim_location(
            self._hl,
            ledger,
            namespace=self.practice_namespace,
            migration_id=self._migration_id,
            workdir=self._workdir,
            create=False,
        )
        run = await self._start_run(RunMode.ROLLBACK)
        with self._leased(ledger, run.run_id):
            return await self._rollback_leased(ledger, run)

    @contextlib.contextmanager
    def _leased(self, ledger: Ledger, run_id: str) -> Iterator[_Lease]:
        """The run's lease on the location (``take_lease``), taken before its first write, if it writes."""
        state = _Lease()

        async def lease() -> None:
            await take_lease(
                self._hl,
                ledger,
                namespace=self.practice_namespace,
                migration_id=self._migration_id,
                run_id=run_id,
                workdir=self._workdir,
            )
            state.taken = True

        self._hl.before_first_write(lease)
        try:
            yield state
        finally:
            self._hl.before_first_write(None)

    async def _rollback_leased(self, ledger: Ledger, run: Any) -> RunResult:
        ctx = await anyio.to_thread.run_sync(lambda: self._context(run.run_id, RunMode.ROLLBACK, self.maps))
        try:
            await run_rollback(ctx)
        except DailyCapReachedError as exc:
            await ctx.db(ledger.finish_run, run.run_id, status=RunStatus.STOPPED)
            return await self._result(
                ctx, RunStatus.STOPPED, {}, stopped=f"daily cap reached ({type(exc).__name__})"
            )
        except CONNECTION_ERRORS as exc:
            # Nothing is marked failed for the connection's sake: the rollback resumes where it stopped.
            await ctx.db(ledger.finish_run, run.run_id, status=RunStatus.STOPPED)
            result = await self._result(ctx, RunStatus.STOPPED, {}, stopped=_connection_reason(exc))
            if isinstance(exc, AuthenticationError):
                raise
            return result
        except BaseException as exc:
            await _finish_interrupted(ctx, exc)
            raise
        await release_location(self._hl, ledger, namespace=self.practice_namespace)
        await ctx.db(ledger.finish_run, run.run_id, status=RunStatus.COMPLETED)
        return await self._result(ctx, RunStatus.COMPLETED, {})

    async def recover(self) -> int:
        """Rebuild a new or empty ledger from HighLevel; returns how many objects it adopted.

        Contacts are found by their Source System ID and this practice's Source Practice ID, uploads by
        their namespaced names. A contact HighLevel added before the migration first claimed the location
        was the practice's own (merged into): it is recorded updated, never deleted by rollback (its
        pre-image is lost with the old ledger, so rollback cannot restore it). Every other object (notes,
        tasks, appointments, opportunities) is looked up by its marker before the next run creates it.
        Recovery is an interrupted run: ``run()`` continues it, after which reconcile and rollback work as
        before.
        """
        ledger = self._prepare()
        if not await anyio.to_thread.run_sync(ledger_is_empty, ledger):
            raise OwnershipError(
                f"the ledger in {self._workdir} already holds this migration's work: recover only rebuilds "
                "a new or empty one (use a new --workdir)"
            )
        await anyio.to_thread.run_sync(lambda: self._claim_namespace(write=True))
        namespace = self.practice_namespace
        owner = await read_owner(self._hl, namespace)
        fields = {f.field_key: f.id for f in await self._hl.custom_fields.list(model="all") if f.field_key}
        source_field = fields.get(SOURCE_ID_KEY)
        practice_field = fields.get(PRACTICE_ID_KEY)
        if owner is None or source_field is None or practice_field is None:
            raise OwnershipError(
                f"location {self._hl.location_id} holds no migration of practice {namespace}: nothing to "
                "recover (run `plan` and `run` as for a new migration)"
            )
        started = dt.datetime.fromisoformat(owner[3]) if owner[3] else None
        run = await self._start_run(RunMode.RUN)
        adopted = 0
        filters = [{"field": f"customFields.{practice_field}", "operator": "eq", "value": namespace}]

        def adopt(kind: str, key: str, dest: str, lookup: dict[str, str], created: bool) -> None:
            if created:
                intent = ledger.begin_intent(kind, key, "create", lookup, run_id=run.run_id)
                ledger.complete_intent(intent, destination_id=dest, created=True)
            ledger.record_result(
                run.run_id,
                kind,
                key,
                action=RecordAction.CREATED if created else RecordAction.UPDATED,
                outcome=RecordOutcome.APPLIED,
                destination_id=dest,
                content_hash=None,
                reason="recovered from HighLevel",
            )

        async for contact in self._hl.contacts.search(filters=filters, page_limit=500):
            source_id = contact.custom_value(source_field)
            if contact.custom_value(practice_field) != namespace or source_id in (None, ""):
                continue
            added = _stamp(contact.date_added)
            created = started is None or added is None or added >= started
            lookup = {"source_id": str(source_id), "namespace": namespace}
            key = patient_key(str(source_id))
            await anyio.to_thread.run_sync(adopt, CONTACT, key, contact.id, lookup, created)
            adopted += 1
        prefix = f"dentrix-document-{namespace_slug(namespace)}-"
        async for item in self._hl.media.files(query=prefix):
            name = item.name or ""
            if not name.startswith(prefix):
                continue
            document_id = name.removeprefix(prefix).rsplit(".", 1)[0]
            await anyio.to_thread.run_sync(
                adopt, DOCUMENT_KIND, f"{DOCUMENT_KIND}:{document_id}", item.id, {"name": name}, True
            )
            adopted += 1
        # The tags the location had before the migration: rollback deletes the ones it added (the
        # setup objects it created are adopted by the recovered run's setup, from the same record).
        record = await SetupRecord.read(self._hl, namespace)
        if record.tags_before is not None:
            tags_before = sorted(record.tags_before)
            await anyio.to_thread.run_sync(
                lambda: ledger.save_pre_image(
                    TAG_CATALOGUE, self._hl.location_id, tags_before, run_id=run.run_id
                )
            )
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        await anyio.to_thread.run_sync(ledger.set_note, "recovered_at", stamp)
        await claim_location(
            self._hl,
            ledger,
            namespace=namespace,
            migration_id=self._migration_id,
            workdir=self._workdir,
            recovering=True,
        )
        await anyio.to_thread.run_sync(
            lambda: ledger.save_checkpoint(run.run_id, phase="recovered", cursor=None)
        )
        _log.info("recovered %d objects of practice namespace %s from HighLevel", adopted, namespace)
        return adopted

    async def reconcile(self) -> ReconcileResult:
        """Counts per kind over the whole migration (source + removed = created + updated + unchanged +
        conflict + skipped + failed; ``removed``: records of patients and related records the current
        source no longer has, and calendars and provider users it no longer needs), and every migrated
        contact re-read and compared with what the plan sends; saved as ``reconciliation.json``."""
        ledger = self._prepare()
        bundles = await self._bundles()
        fields = await self._hl.custom_fields.list(model="all")
        field_ids = {f.field_key: f.id for f in fields if f.field_key}
        practice = PracticeSettings(timezone=self._source.practice_timezone)
        contact_map = self.maps["contact"]
        # Uploaded documents are in Document Links: compare with the URLs the uploads got.
        urls = await known_document_urls(self._hl, ledger) if self._policies.upload_documents else {}
        allow_duplicates = (await self._hl.locations.get()).allows_duplicate_contacts

        def mapped() -> tuple[list[tuple[PatientBundle, MappingResult]], dict[str, ContactAssignment]]:
            # Applying the contact map to every bundle and assigning contact points is CPU work that grows
            # with the practice (about half a second per thousand patients): in a worker thread.
            pairs = [
                (b, contact_map.apply(with_document_urls(b, urls), practice=practice, field_ids=field_ids))
                for b in bundles
            ]
            return pairs, plan_contact_points(
                [(patient_key(b.patient_id), r.payload, True) for b, r in pairs],
                ContactIndex(by_point={}),
                allow_duplicates=allow_duplicates,
                policy=self._policies.family_contacts,
            )

        prepared, assignments = await anyio.to_thread.run_sync(mapped)
        before = {
            p.destination_id: p.payload
            for p in await anyio.to_thread.run_sync(ledger.pre_images)
            if p.kind == CONTACT and isinstance(p.payload, dict)
        }
        mismatches: list[tuple[str, str]] = []
        checked = 0
        for bundle, result in prepared:
            key = patient_key(bundle.patient_id)
            record = await anyio.to_thread.run_sync(ledger.record, CONTACT, key)
            if record is None or record.destination_id is None or record.outcome is RecordOutcome.NOT_APPLIED:
                continue
            try:
                body = await self._hl.call("GET", f"/contacts/{record.destination_id}", kind=RequestKind.READ)
            except NotFoundError:
                mismatches.append((key, "contact missing"))
                continue
            checked += 1
            assignment = assignments[key]
            expected, _kept = expected_contact(
                contact_body(result, assignment),
                practice=before.get(record.destination_id),
                policy=self._policies.merge,
            )
            rows = diff_object(
                field_map=contact_map,
                record=bundle,
                source_key=key,
                destination_id=record.destination_id,
                expected=expected,
                actual=body.get("contact") or {},
                field_ids=field_ids,
                withheld=assignment.withheld,
            )
            mismatches += [(key, r.field) for r in rows if r.verdict in (Verdict.MISMATCH, Verdict.MISSING)]
        path = self._workdir / "reconciliation.json"

        def reconciled() -> Reconciliation:
            # Every ledger record and audit row, every map over every bundle again for the source counts,
            # and the file: work that grows with the practice, in a worker thread like the run's.
            records = _over_all_runs(ledger.records(), ledger.audit_rows())
            counts = _source_counts(self, bundles)
            # Calendars and provider users the current source no longer needs count as removed, like
            # patients.
            keys = SourceKeys.of(bundles).needing(_setup_keys(self, bundles))
            result = Reconciliation.from_results(records, source_counts=counts, removed=keys.removed)
            write_private(path, result.to_json())
            return result

        reconciliation = await anyio.to_thread.run_sync(reconciled)
        return ReconcileResult(
            reconciliation=reconciliation, checked=checked, mismatches=tuple(mismatches), path=path
        )

    def export_audit(self, *, run_id: str | None = None) -> tuple[Path, Path]:
        """Write the audit log (all runs, or one) as ``audit.csv`` and ``audit.jsonl`` in the workdir."""
        rows = self._prepare().audit_rows(run_id=run_id)
        csv_path, jsonl_path = self._workdir / "audit.csv", self._workdir / "audit.jsonl"
        export_audit(rows, csv_path)
        export_audit(rows, jsonl_path)
        return csv_path, jsonl_path

    async def aexport_audit(self, *, run_id: str | None = None) -> tuple[Path, Path]:
        """:meth:`export_audit` with the ledger reads and file writes in a worker thread."""
        return await anyio.to_thread.run_sync(lambda: self.export_audit(run_id=run_id))

    # -- the engine ----------------------------------------------------------------------------------------

    def _providers(self) -> tuple[Provider, ...]:
        providers = getattr(self._source, "providers", None)
        return tuple(providers()) if callable(providers) else ()

    async def _bundles(self) -> list[PatientBundle]:
        return [b async for b in self._source.bundles()]

    async def _survey(
        self,
        mode: RunMode,
        *,
        picked: Sequence[PatientBundle] | None = None,
        known: Mapping[str, str] | None = None,
    ) -> _Survey:
        """The first pass over the source, a chunk at a time: the projection of every patient (a run's
        patients: all of them; a delta's: those whose content hash changed; a sample's: ``picked``) and the
        calendars the run's appointments need. Mapping (e-mail and phone only) runs in a worker thread."""
        maps, options, default = self.maps, self.options, self._maps_given is None
        points_map = _points_map(maps["contact"])
        practice = PracticeSettings(timezone=self._source.practice_timezone)
        policies = self._policies
        chosen = {patient_key(b.patient_id) for b in picked} if picked is not None else None
        unseen = set(known) if known is not None else set()
        patients = _Projections()
        digests: dict[str, str] = {}
        calendars: dict[str, Appointment] = {}

        def project(chunk: list[PatientBundle]) -> None:
            for bundle in chunk:
                key = patient_key(bundle.patient_id)
                unseen.discard(key)
                if mode is RunMode.RUN:
                    in_run = True
                elif mode is RunMode.DELTA:
                    digest = bundle.content_hash()
                    in_run = known is None or known.get(key) != digest
                    if in_run:
                        digests[key] = digest
                else:
                    in_run = chosen is not None and key in chosen
                # The assignment's other patients always take part (as the run would map them).
                contact = not in_run or not default or patient_disposition(bundle, options).contact
                email = phone = None
                if contact:
                    payload = points_map.apply(bundle, practice=practice).payload
                    email, phone = payload.get("email"), payload.get("phone")
                patients.append(FamilyMember.of(bundle), in_run, contact, email, phone)
                if in_run and picked is None:
                    keep_calendar_appointments(policies, options, bundle.appointments, calendars)

        # A source that can hand out survey bundles (the patient and its appointments: all this pass reads
        # when the e-mail and phone rules read only the patient record) gives a quicker first pass; a
        # delta hashes whole bundles.
        survey_bundles: Callable[[], AsyncIterator[PatientBundle]] | None = getattr(
            self._source, "survey_bundles", None
        )
        reader = (
            survey_bundles()
            if survey_bundles is not None and mode is not RunMode.DELTA and _reads_patient_only(points_map)
            else self._source.bundles()
        )
        async for chunk in batches_of(reader, _SURVEY_CHUNK):
            await anyio.to_thread.run_sync(project, chunk)
        tally = SourceTally(lambda bundles: _count_scope(self, bundles))
        if picked is not None:
            # Counted in the sample's order, as its setup sees the appointments.
            await anyio.to_thread.run_sync(tally.add, picked)
            calendars = tally.appointments
        return _Survey(
            patients=patients,
            appointments=tuple(calendars.values()),
            removed=sorted(unseen),
            tally=tally,
            digests=digests,
            picked=picked,
            counted=picked is not None,
        )

    async def _counts(self, survey: _Survey) -> dict[str, int]:
        """The run's source counts: the second pass added them up, unless it stopped before the end (a
        stopped run), when one more pass counts the run's patients."""
        if not survey.counted:
            keys = survey.run_keys
            tally = survey.tally = SourceTally(lambda bundles: _count_scope(self, bundles))
            wanted = (b async for b in self._source.bundles() if patient_key(b.patient_id) in keys)
            async for chunk in batches_of(wanted, _SURVEY_CHUNK):
                await anyio.to_thread.run_sync(tally.add, chunk)
            survey.counted = True
        return await anyio.to_thread.run_sync(survey.tally.counts)

    async def _start_run(self, mode: RunMode) -> Any:
        ledger = self._prepare()
        runs = await anyio.to_thread.run_sync(ledger.runs)
        unfinished = [r for r in runs if r.mode is mode and r.status is not RunStatus.COMPLETED]
        if unfinished:
            return await anyio.to_thread.run_sync(ledger.resume_run, unfinished[-1].run_id)
        return await anyio.to_thread.run_sync(ledger.begin_run, mode)

    def _context(self, run_id: str, mode: RunMode, maps: Mapping[str, FieldMap]) -> RunContext:
        ctx = RunContext(
            hl=self._hl,
            ledger=self._prepare(),
            run_id=run_id,
            mode=mode,
            maps=maps,
            options=self.options,
            policies=self._policies,
            practice=PracticeSettings(timezone=self._source.practice_timezone),
            default_maps=self._maps_given is None,
            namespace=self.practice_namespace,
            recovered=self._prepare().note("recovered_at") is not None,
            finders=finders(),
            searched_kinds=searched_kinds(),
            progress=self._progress,
            clock=self._clock,
            publish=self._publish,
        )
        ctx.started_s = self._clock()
        self._running = ctx
        return ctx

    def _publish(self, event: ProgressEvent) -> None:
        for stream in tuple(self._streams):
            stream.publish(event)

    def _note_rate_wait(self, waited_s: float) -> None:
        if self._running is not None:
            self._running.note_rate_wait(waited_s)

    def events(self, *, max_buffered: int = 256) -> EventStream:
        """Every progress event of this migration's runs from now on, for ``async for``.

        Call it before the run starts (in the task that starts it, or before starting the consumer) so the
        first :class:`PhaseStarted` is not missed. At most ``max_buffered`` events wait for a slow
        consumer; beyond that the oldest are dropped (``EventStream.dropped`` counts them), so a consumer
        never slows the run. The iteration ends when the migration closes or the stream is closed.
        """
        if max_buffered < 1:
            raise ConfigurationError("max_buffered must be at least 1")
        stream = EventStream(max_buffered, self._streams.discard)
        self._streams.add(stream)
        return stream

    async def _execute(
        self, mode: RunMode, survey: _Survey
    ) -> tuple[RunResult, RunContext, list[_Prepared], Mapping[str, ContactAssignment]]:
        # The limiter is shared by every client of the location: a context variable (inherited by the
        # run's tasks, reset after) tells it whose requests waited, for this run's RateWait events.
        hook = RATE_WAIT_HOOK.set(self._note_rate_wait)
        try:
            return await self._execute_run(mode, survey)
        finally:
            RATE_WAIT_HOOK.reset(hook)
            self._running = None

    async def _execute_run(
        self, mode: RunMode, survey: _Survey
    ) -> tuple[RunResult, RunContext, list[_Prepared], Mapping[str, ContactAssignment]]:
        # The first open of the ledger, the plan hash and the approval check are SQLite and CPU work:
        # off the event loop, like every other ledger call of a run.
        ledger = await anyio.to_thread.run_sync(self._prepare)
        await anyio.to_thread.run_sync(lambda: check_approved(ledger, self._workdir, self._components()))
        await anyio.to_thread.run_sync(lambda: self._claim_namespace(write=True))
        # Counted in the run's requests (the progress events' total matches HighLevel's log).
        requests_before = self._hl.requests_sent
        leased = await claim_location(
            self._hl,
            ledger,
            namespace=self.practice_namespace,
            migration_id=self._migration_id,
            workdir=self._workdir,
        )
        run = await self._start_run(mode)
        with self._leased(ledger, run.run_id) as wrote:

            async def end() -> None:
                # Only a run that ends (not one stopped: its lease stays, it resumes from this work
                # directory and no other), and before its last progress event (which counts requests).
                if leased or wrote.taken:
                    self._hl.before_first_write(None)
                    await end_lease(
                        self._hl, ledger, namespace=self.practice_namespace, migration_id=self._migration_id
                    )

            return await self._run_leased(mode, survey, ledger, run, requests_before, end)

    async def _run_leased(
        self,
        mode: RunMode,
        survey: _Survey,
        ledger: Ledger,
        run: Any,
        requests_before: int,
        end: Callable[[], Awaitable[None]],
    ) -> tuple[RunResult, RunContext, list[_Prepared], Mapping[str, ContactAssignment]]:
        if mode is RunMode.RUN and await anyio.to_thread.run_sync(ledger.watermark) is None:
            # Taken before the full run starts: a delta asks for what changed after this point.
            await anyio.to_thread.run_sync(
                lambda: ledger.set_watermark(run_id=run.run_id, source_as_of=_source_as_of(self._source))
            )
        ctx = await anyio.to_thread.run_sync(lambda: self._context(run.run_id, mode, self.maps))
        ctx.requests_at_start = requests_before
        removed = survey.removed
        prepared: list[_Prepared] = []  # a sample's patients (a run and a delta stream theirs)
        assignments: Mapping[str, ContactAssignment] = _Assignments()
        reached = False  # the patients' phase began: the counts are the survey's
        extra_relations = 0  # relation rows of patients the source counts do not see as family members
        lost: set[tuple[str, str]] = set()  # (kind, key) this run recorded for records the source lost
        refused: HighLevelError | None = None  # the connection failure that stopped the run, if one did
        try:
            ctx.setup = await run_setup(ctx, providers=self._providers(), appointments=survey.appointments)
            self._last_setup = ctx.setup
            if ctx.default_maps and ctx.setup.stage_ids:
                staged = attrs.evolve(self.options, pipeline_stage_ids=_stage_map(ctx.setup.stage_ids))
                # Building and checking every map is CPU work: a worker thread, the loop stays free.
                ctx.maps = await anyio.to_thread.run_sync(lambda: default_maps(staged).all())
            await ctx.resolve_pending()
            if self._policies.upload_documents:
                self._documents = DocumentUploader(ctx, getattr(self._source, "read_document", None))
            ctx.phase = "patients"
            reached = True
            if survey.picked is not None:
                prepared = [self._prepared(ctx, b) for b in survey.picked]
            assignments = await self._assign(ctx, survey)
            ctx.total = survey.run_count
            await ctx.report(PhaseStarted)
            items = _each(prepared) if survey.picked is not None else self._stream(ctx, survey)
            stopped = await self._patients(ctx, items, assignments)
            if stopped is None and self._policies.family_associations:
                ctx.phase = "families"
                await ctx.report(PhaseStarted)
                doomed = await self._doomed(ctx, removed)
                # Unchanged members of a guarantor this delta deletes: their relation goes with it.
                orphaned = [
                    p.family
                    for p in (survey.patients if doomed else ())
                    if not p.in_run
                    and not p.family.own_guarantor
                    and patient_key(p.family.guarantor_id or "") in doomed
                ]
                members = (
                    [FamilyMember.of(p.bundle) for p in prepared]
                    if survey.picked is not None
                    else [p.family for p in survey.patients if p.in_run]
                )
                try:
                    unlinked = await write_family_links(ctx, members + orphaned, doomed=doomed)
                    extra_relations = unlinked + len(orphaned)
                except DailyCapReachedError:
                    stopped = "HighLevel's daily request cap reached: run again after the reset"
            if stopped is None and removed:
                ctx.phase = "removed"
                await ctx.report(PhaseStarted)
                stopped = await self._removed(ctx, removed, lost)
        except DailyCapReachedError:
            # Anywhere before the patients (setup, the index of existing contacts) as well as among them.
            stopped = "HighLevel's daily request cap reached: run again after the reset"
        except _ConnectionLost as exc:
            stopped, refused = exc.reason, exc.error
        except CONNECTION_ERRORS as exc:
            # Setup, the family links or the removed patients lost the connection: stopped, resumable.
            stopped, refused = _connection_reason(exc), exc
        except BaseException as exc:
            await _finish_interrupted(ctx, exc)
            raise
        # The survey counted the run's bundles; a run stopped before its patients counts none (as it did
        # when the counts came from the patients prepared).
        counts = (
            await self._counts(survey)
            if reached
            else await anyio.to_thread.run_sync(_source_counts, self, [])
        )
        if extra_relations:
            counts["relation"] = counts.get("relation", 0) + extra_relations
        if stopped is not None:
            await ctx.db(ledger.finish_run, run.run_id, status=RunStatus.STOPPED)
            result = await self._result(ctx, RunStatus.STOPPED, counts, stopped=stopped, gone=lost)
            if isinstance(refused, AuthenticationError):
                # The run is stopped and resumable, but only a new token helps: the caller must hear it
                # as the credentials error it is (the command line's exit 2), not as a pause.
                raise refused
            return (
                result,
                ctx,
                prepared,
                assignments,
            )
        if mode in (RunMode.RUN, RunMode.DELTA):
            gone = [(SOURCE_HASH_KIND, k) for k in removed]
            as_of = _source_as_of(self._source)

            def watermark() -> None:
                # Hashing every bundle (canonical JSON, sha256) is CPU work: in the worker thread too.
                hashes = [SourceHash(SOURCE_HASH_KIND, k, d) for k, d in survey.digests.items()]
                ledger.set_watermark(run_id=run.run_id, source_as_of=as_of, hashes=hashes, removed=gone)

            await ctx.db(watermark)
        await end()
        await ctx.db(ledger.finish_run, run.run_id, status=RunStatus.COMPLETED)
        return await self._result(ctx, RunStatus.COMPLETED, counts, gone=lost), ctx, prepared, assignments

    def _prepared(self, ctx: RunContext, bundle: PatientBundle) -> _Prepared:
        """One patient mapped for the run (with the maps as setup left them), as it enters the pipeline."""
        wanted = not ctx.default_maps or patient_disposition(bundle, ctx.options).contact
        result = ctx.maps["contact"].apply(bundle, practice=ctx.practice, field_ids=ctx.state.field_ids)
        return _Prepared(bundle=bundle, key=patient_key(bundle.patient_id), contact=wanted, result=result)

    async def _stream(self, ctx: RunContext, survey: _Survey) -> AsyncIterator[_Prepared]:
        """The second pass: the run's patients from the source, mapped (and a run's hashed, and counted) a
        few at a time in a worker thread as the pipeline asks for them. A patient the source gained since
        the survey is left to the next run (it has no assignment)."""
        keys = survey.run_keys
        hash_them = ctx.mode is RunMode.RUN

        def prepare(chunk: list[PatientBundle]) -> list[_Prepared]:
            survey.tally.add(chunk)
            if hash_them:
                survey.digests.update((patient_key(b.patient_id), b.content_hash()) for b in chunk)
            return [self._prepared(ctx, b) for b in chunk]

        bundles = self._source.bundles()
        try:
            wanted = (b async for b in bundles if patient_key(b.patient_id) in keys)
            async for chunk in batches_of(wanted, _STREAM_CHUNK):
                for item in await anyio.to_thread.run_sync(prepare, chunk):
                    yield item
            survey.counted = True
        finally:
            closer = getattr(bundles, "aclose", None)
            if closer is not None:
                with anyio.CancelScope(shield=True):
                    await closer()

    async def _assign(self, ctx: RunContext, survey: _Survey) -> Mapping[str, ContactAssignment]:
        """The contact-point assignment of every patient the survey saw taking part (a sample and a delta:
        the source's other patients too), so a sample, a run and a delta assign shared points the same
        way. Only assignments that differ from the plain one are kept."""
        # Every patient's points, and the assignment over them, are work that grows with the practice (a
        # second and more at 100,000 patients): in a worker thread, the event loop stays free.
        points = await anyio.to_thread.run_sync(survey.patients.contact_points)
        keys = list(points)
        migrated: set[str] = set()
        for at in range(0, len(keys), _MIGRATED_CHUNK):
            chunk = keys[at : at + _MIGRATED_CHUNK]
            # One ledger call per chunk, not one per patient.
            migrated.update(await ctx.db(_migrated, ctx.ledger, chunk))
        needs_index = await anyio.to_thread.run_sync(
            lambda: any(key not in migrated for key in survey.patients.run_contact_keys())
        )
        index = await index_existing_contacts(ctx) if needs_index else ContactIndex(by_point={})
        allow_duplicates, policies = ctx.state.allow_duplicates, self._policies
        delta = ctx.mode is RunMode.DELTA

        def assign() -> _Assignments:
            assigned = plan_contact_points(
                (
                    (key, {"email": email, "phone": phone}, key in migrated)
                    for key, (email, phone) in points.items()
                ),
                index,
                allow_duplicates=allow_duplicates,
                policy=policies.family_contacts,
                migrated_first=delta,
                dedupe_order=policies.dedupe_order,
                only_changed=True,
            )
            return _Assignments(assigned)

        return await anyio.to_thread.run_sync(assign)

    async def _patients(
        self, ctx: RunContext, items: AsyncIterator[_Prepared], assignments: Mapping[str, ContactAssignment]
    ) -> str | None:
        """The patients through a bounded pipeline: ``items`` are read (and mapped) only as a slot frees,
        so at most ``concurrency`` patients are in flight and memory does not grow with the practice."""
        slots = anyio.Semaphore(self._concurrency)
        stopped: list[str] = []
        connection: list[HighLevelError] = []  # the connection failures in a row (a success clears it)
        seen: list[HighLevelError] = []
        stopped_by: list[HighLevelError] = []
        left_behind: set[str] = set()
        finished: set[int] = set()
        keys: dict[int, str] = {}  # position -> key of the patients not yet in the finished prefix
        prefix = 0
        cursor: str | None = None  # the key of the last patient of the finished prefix

        async def one(position: int, item: _Prepared, group: anyio.abc.TaskGroup) -> None:
            nonlocal prefix, cursor
            try:
                if stopped:
                    return
                try:
                    await self._patient(ctx, item, assignments.get(item.key, ContactAssignment()))
                except DailyCapReachedError:
                    stopped.append("HighLevel's daily request cap reached: run again after the reset")
                    group.cancel_scope.cancel()
                    return
                except CONNECTION_ERRORS as exc:
                    # The connection is at fault, not the patient: nothing is recorded failed, the patient
                    # stays unfinished for the resume. Past a few in a row it is no blip: stop at once
                    # rather than grind through every remaining patient.
                    connection.append(exc)
                    seen.append(exc)
                    left_behind.add(item.key)
                    if len(connection) >= _CONNECTION_FAILURES_BOUND and not stopped:
                        stopped.append(_connection_reason(exc))
                        stopped_by.append(exc)
                        group.cancel_scope.cancel()
                    return
            finally:
                slots.release()
            connection.clear()
            ctx.done += 1
            finished.add(position)
            while prefix in finished:
                finished.discard(prefix)
                cursor = keys.pop(prefix)
                prefix += 1
            if ctx.done % _CHECKPOINT_EVERY == 0 and prefix:
                await ctx.db(ctx.ledger.save_checkpoint, ctx.run_id, phase="patients", cursor=cursor)
            await ctx.report()

        async def feed(group: anyio.abc.TaskGroup) -> None:
            position = 0
            try:
                async for item in items:
                    await slots.acquire()
                    if stopped:
                        slots.release()
                        break
                    keys[position] = item.key
                    group.start_soon(one, position, item, group)
                    position += 1
            finally:
                closer = getattr(items, "aclose", None)
                if closer is not None:
                    with anyio.CancelScope(shield=True):
                        await closer()

        async with anyio.create_task_group() as group:
            group.start_soon(feed, group)
        if prefix:
            await ctx.db(ctx.ledger.save_checkpoint, ctx.run_id, phase="patients", cursor=cursor)
        if stopped_by:
            raise _ConnectionLost(stopped[0], stopped_by[0])
        if left_behind and not stopped:
            # Fewer than the bound in a row, but those patients are not done: the run is not complete.
            raise _ConnectionLost(
                f"{len(left_behind)} patient(s) not finished ({_connection_reason(seen[-1])})", seen[-1]
            )
        return stopped[0] if stopped else None

    async def _patient(self, ctx: RunContext, item: _Prepared, assignment: ContactAssignment) -> None:
        if not item.contact:
            reason = patient_disposition(item.bundle, ctx.options).reason
            await ctx.record(
                CONTACT, item.key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, reason=reason
            )
            if self._documents is not None:
                await self._documents.skip_all(item.bundle)
            await write_patient_objects(ctx, PatientObjects(bundle=item.bundle, contact_id=None, overflow=()))
            return
        if self._documents is not None:
            # Uploads go first, so their URLs ride in the contact's one write (Document Links).
            urls = await self._documents.upload(item.bundle)
            if urls:
                item.result = ctx.maps["contact"].apply(
                    with_document_urls(item.bundle, urls),
                    practice=ctx.practice,
                    field_ids=ctx.state.field_ids,
                )
        contact_id = await write_contact(ctx, item.bundle, item.result, assignment)
        await write_patient_objects(
            ctx, PatientObjects(bundle=item.bundle, contact_id=contact_id, overflow=item.result.overflow)
        )

    async def _doomed(self, ctx: RunContext, removed: Sequence[str]) -> frozenset[str]:
        """The removed patients whose contacts ``_removed`` deletes (policy delete, contact ours)."""
        if self._policies.removed_in_source is RemovedInSourcePolicy.KEEP or not removed:
            return frozenset()
        created = {o.destination_id for o in await ctx.db(ctx.ledger.created_objects) if o.kind == CONTACT}
        out = set()
        for key in removed:
            dest = await ctx.db(ctx.ledger.destination_of, CONTACT, key)
            if dest is not None and dest in created:
                out.add(key)
        return frozenset(out)

    async def _removed(
        self, ctx: RunContext, removed: Sequence[str], gone: set[tuple[str, str]]
    ) -> str | None:
        """Keep or delete the contacts of patients gone from the source; ``gone`` collects the records
        recorded here (the run's reconciliation counts them as removed, not as source records)."""
        created = {o.destination_id: o for o in await ctx.db(ctx.ledger.created_objects)}
        for key in removed:
            dest = await ctx.db(ctx.ledger.destination_of, CONTACT, key)
            if (
                self._policies.removed_in_source is RemovedInSourcePolicy.KEEP
                or dest is None
                or dest not in created
            ):
                await ctx.record(
                    CONTACT,
                    key,
                    RecordAction.SKIPPED,
                    RecordOutcome.NOT_APPLIED,
                    reason="no longer in the source: kept in HighLevel (policy)",
                )
                gone.add((CONTACT, key))
                continue
            # The contact's children, and the patient's uploaded documents (their parent is the patient's
            # source key: they are uploaded before the contact exists).
            children = [
                o
                for o in created.values()
                if o.parent_id == dest or (o.kind == DOCUMENT_KIND and o.parent_id == key)
            ]
            try:
                for child in children:
                    await undo(ctx, child.kind, child.destination_id, child.parent_id)
                    # Deleting forgets the child's record (as a rollback does): say why in the audit log,
                    # and keep it accounted for. Recorded one by one, so a run stopped half-way has said so
                    # for each child it deleted. Another patient's key is theirs to record.
                    if _head(child.source_key) in (key, child.source_key):
                        await ctx.record(
                            child.kind,
                            child.source_key,
                            RecordAction.SKIPPED,
                            RecordOutcome.NOT_APPLIED,
                            reason="no longer in the source: deleted with the contact (policy)",
                        )
                        gone.add((child.kind, child.source_key))
                await undo(ctx, CONTACT, dest, None)
            except DailyCapReachedError:
                return "HighLevel's daily request cap reached: run again after the reset"
            documents = sum(1 for o in children if o.kind == DOCUMENT_KIND)
            await ctx.record(
                CONTACT,
                key,
                RecordAction.SKIPPED,
                RecordOutcome.NOT_APPLIED,
                reason="no longer in the source: contact deleted (policy)"
                + (f"; {documents} uploaded document(s) deleted" if documents else ""),
            )
            gone.add((CONTACT, key))
        return None

    async def _result(
        self,
        ctx: RunContext,
        status: RunStatus,
        counts: Mapping[str, int],
        *,
        stopped: str | None = None,
        gone: Set[tuple[str, str]] = frozenset(),
    ) -> RunResult:
        def write() -> tuple[Reconciliation, Path, Path]:
            # Reading every audit row and writing three files takes long enough on a large practice to
            # stall the caller's event loop: it runs in a worker thread.
            rows = self._prepare().audit_rows(run_id=ctx.run_id)
            reconciliation = Reconciliation.from_results(
                rows, source_counts=counts, removed=lambda kind, key: (kind, key) in gone
            )
            write_private(self._workdir / "reconciliation.json", reconciliation.to_json())
            return (reconciliation, *self.export_audit(run_id=ctx.run_id))

        reconciliation, csv_path, jsonl_path = await anyio.to_thread.run_sync(write)
        if status is RunStatus.COMPLETED:
            await ctx.report(Finished, reconciles=reconciliation.reconciles)
        else:
            await ctx.report(Stopped, reason=stopped)
        _log.info(
            "%s run %s %s: %s",
            ctx.mode.value,
            ctx.run_id,
            status.value,
            "reconciles" if reconciliation.reconciles else "does not reconcile",
        )
        return RunResult(
            run_id=ctx.run_id,
            mode=ctx.mode,
            status=status,
            reconciliation=reconciliation,
            stopped_reason=stopped,
            audit_csv=csv_path,
            audit_jsonl=jsonl_path,
        )

    async def _read_back(
        self, ctx: RunContext, prepared: list[_Prepared], assignments: Mapping[str, ContactAssignment]
    ) -> list[FieldDiff]:
        rows: list[FieldDiff] = []
        state = ctx.state
        practice = {
            p.destination_id: p.payload
            for p in await ctx.db(ctx.ledger.pre_images)
            if p.kind == CONTACT and isinstance(p.payload, dict)
        }
        for item in prepared:
            dest = await ctx.db(ctx.ledger.destination_of, CONTACT, item.key)
            if dest is None:
                continue
            assignment = assignments.get(item.key, ContactAssignment())
            body = await self._hl.call("GET", f"/contacts/{dest}", kind=RequestKind.READ)
            wanted, _kept = expected_contact(
                contact_body(item.result, assignment),
                practice=practice.get(dest),
                policy=self._policies.merge,
            )
            rows += diff_object(
                field_map=ctx.maps["contact"],
                record=item.bundle,
                source_key=item.key,
                destination_id=dest,
                expected=wanted,
                actual=body.get("contact") or {},
                field_ids=state.field_ids,
                withheld=assignment.withheld,
            )
            rows += await read_back_patient_objects(ctx, item.bundle)
        return rows


async def _each(items: Sequence[_Prepared]) -> AsyncIterator[_Prepared]:
    for item in items:
        yield item


def _points_map(contact_map: FieldMap) -> FieldMap:
    """The contact map's e-mail and phone rules alone: all the contact-point assignment reads (a map has
    one rule per standard field, so these give exactly the full map's values), at a fraction of the cost."""
    rules = tuple(
        r
        for r in contact_map.rules
        if not isinstance(r.target, CustomFieldTarget) and r.target.name in _POINT_FIELDS
    )
    return attrs.evolve(contact_map, rules=rules)


_POINT_FIELDS = ("email", "phone")


def _reads_patient_only(field_map: FieldMap) -> bool:
    """Whether every rule of ``field_map`` reads only the bundle's patient record (paths under ``patient``
    or constants): then a survey bundle gives the same values as the whole bundle. A computed source may
    read anything: no."""
    for rule in field_map.rules:
        source = rule.source
        if isinstance(source, PathSource):
            paths = [source.path]
        elif isinstance(source, Coalesce | Collect):
            paths = list(source.paths)
        elif isinstance(source, Constant):
            paths = []
        else:
            return False
        if not all(str(p) == "patient" or str(p).startswith(("patient.", "patient[")) for p in paths):
            return False
    return True


def _migrated(ledger: Ledger, keys: Sequence[str]) -> list[str]:
    """The patient keys whose contact the ledger knows (one call for many: a worker-thread hop each)."""
    return [key for key in keys if ledger.destination_of(CONTACT, key) is not None]


def _stamp(value: str | None) -> dt.datetime | None:
    """A HighLevel timestamp (ISO, ``Z`` or an offset) as an aware datetime, None when unreadable."""
    if not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


class _ConnectionLost(Exception):
    """The patient loop stopped for the connection's sake (``error``, the last such failure)."""

    def __init__(self, reason: str, error: HighLevelError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


# What a record's history says the migration did to it, most telling first (see ``_over_all_runs``).
_DID = (RecordAction.CREATED, RecordAction.UPDATED, RecordAction.CONFLICT)


def _over_all_runs(records: Sequence[Any], history: Sequence[Any]) -> list[Any]:
    """Each record as the whole migration saw it, not as its latest action: a contact created by the
    first attempt and found unchanged by a no-op rerun still counts as created, a conflict stays a
    conflict. A record whose latest action is failed or skipped is that (its current state)."""
    actions: dict[tuple[str, str], set[RecordAction]] = {}
    for row in history:
        actions.setdefault((row.kind, row.source_key), set()).add(row.action)
    out = []
    for record in records:
        if record.action in (RecordAction.FAILED, RecordAction.SKIPPED):
            out.append(record)
            continue
        seen = actions.get((record.kind, record.source_key), set())
        did = next((action for action in _DID if action in seen), record.action)
        outcome = RecordOutcome.NOT_APPLIED if did is RecordAction.CONFLICT else record.outcome
        out.append(attrs.evolve(record, action=did, outcome=outcome))
    return out


def _ended_by(exc: BaseException) -> RunStatus:
    """The status of a run an exception ended: cancelled (by the caller, or by Ctrl-C / SIGTERM, alone
    or as a whole exception group) or interrupted is a clean stop the next call resumes, anything else a
    failure."""
    if isinstance(exc, KeyboardInterrupt) or is_cancellation(exc):
        return RunStatus.STOPPED
    return RunStatus.FAILED


def _connection_reason(exc: BaseException) -> str:
    """Why a run stopped for the connection, and what to do (no values: an error type at most)."""
    if isinstance(exc, AuthenticationError):
        return "HighLevel refused the token (revoked or expired): give a valid token and run again to resume"
    return "HighLevel unreachable (no answer after retries): run again to resume"


def _head(source_key: str) -> str:
    """The key of the source record a key belongs to: ``patient:7`` of ``patient:7/opportunity``."""
    return source_key.split("/", 1)[0]


def _stage_map(stage_ids: Mapping[str, str]) -> dict[str, str]:
    from dentrix_highlevel.mapping import LIFECYCLE_STAGES

    folded = {name.casefold(): sid for name, sid in stage_ids.items()}
    return {stage: folded[stage.casefold()] for stage in LIFECYCLE_STAGES if stage.casefold() in folded}


def _count_scope(migration: Migration, bundles: Sequence[PatientBundle], *, setup: bool = True) -> CountScope:
    return CountScope(
        bundles=bundles,
        maps=migration.maps,
        policies=migration._policies,
        options=migration.options,
        practice=PracticeSettings(timezone=migration._source.practice_timezone),
        providers=migration._providers(),
        setup=setup,
    )


def _source_counts(
    migration: Migration, bundles: Sequence[PatientBundle], *, setup: bool = True
) -> dict[str, int]:
    """How many source records of each kind the run had to account for (computed from the source alone:
    records the source no longer has are the reconciliation's ``removed`` column), per writer."""
    return source_counts(_count_scope(migration, bundles, setup=setup))


def _setup_keys(migration: Migration, bundles: Sequence[PatientBundle]) -> dict[str, frozenset[str]]:
    """The source keys of the calendars and provider users these bundles need (they come from the source:
    a calendar from migrated appointments, a user from the provider list); the source counts of both."""
    return setup_keys(_count_scope(migration, bundles))


def is_cancellation(exc: BaseException) -> bool:
    """Whether ``exc`` is the host cancelling us (a cancel scope, ``move_on_after``, a task group's
    cancellation), alone or as every member of an exception group."""
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return True
    if isinstance(exc, BaseExceptionGroup):
        return all(is_cancellation(e) for e in exc.exceptions)
    return False


async def _finish_interrupted(ctx: RunContext, exc: BaseException) -> None:
    """Record a run that ends by an exception: a cancellation is the caller stopping the run (STOPPED:
    the same call resumes it), anything else a failure. Shielded, so the write happens although the
    caller's scope is cancelled; the caller re-raises ``exc`` (anyio requires a cancellation to
    propagate)."""
    status = _ended_by(exc)
    with anyio.CancelScope(shield=True):
        await ctx.db(ctx.ledger.finish_run, ctx.run_id, status=status)
    if status is RunStatus.STOPPED:
        # Nothing can be awaited in a cancelled scope: the streams hear of it, callbacks cannot.
        ctx.report_nowait(Stopped)
        _log.info("%s run %s stopped: cancelled by the caller", ctx.mode.value, ctx.run_id)


def _stage_in(source: object, directory: Path) -> None:
    """Ask a source to stage under ``directory`` (a no-op for one given its own ``staging_dir``, or one
    already staged)."""
    use = getattr(source, "use_staging_dir", None)
    if callable(use):
        use(directory)


async def _close_source(source: object) -> None:
    """Close a source whichever way it closes: ``aclose()`` (Ascend) or ``close()`` (a G export)."""
    closer = getattr(source, "aclose", None) or getattr(source, "close", None)
    if callable(closer):
        result = closer()
        if inspect.isawaitable(result):
            await result
