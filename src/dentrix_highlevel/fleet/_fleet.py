"""``Fleet``: every office of a manifest through its own :class:`~dentrix_highlevel.migration.Migration`, at
once, in one process.

Each office has its own HighLevel client and rate limiter (HighLevel's budget is per location, so the
fleet's rate is the sum of its offices'), its own work directory (ledger, plan, approval, audit log) and its
own outcome: an office that fails, is held back or stops is one line of the :class:`FleetReport`, never the
end of the others. The engine is reused as it is; the fleet only opens, runs and accounts for offices.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import attrs
import httpx

from dentrix_highlevel._errors import (
    ConfigurationError,
    DailyCapReachedError,
    DentrixHighLevelError,
    PlanChangedError,
    PlanError,
    PlanNotApprovedError,
)
from dentrix_highlevel._private_files import ensure_private_dir
from dentrix_highlevel.fleet._dask import OPERATIONS, hold_lease, submit_offices, worker_progress
from dentrix_highlevel.fleet._manifest import FleetManifest, OfficeSpec, load_manifest
from dentrix_highlevel.fleet._report import (
    COUNT_NAMES,
    FleetReport,
    OfficeProgress,
    OfficeReport,
    OfficeStatus,
)
from dentrix_highlevel.highlevel import (
    AgencyLocationToken,
    Auth,
    HighLevelClient,
    OAuthToken,
    OAuthTokens,
    PrivateIntegrationToken,
    RateBudget,
    RateLimiter,
)
from dentrix_highlevel.migration import (
    PLAN_FILENAME,
    LocationSnapshot,
    Migration,
    MigrationPlan,
    MigrationProgress,
    Reconciliation,
    RecordAction,
    RecordOutcome,
    RunResult,
    RunStatus,
    build_plan,
    open_existing_ledger,
)
from dentrix_highlevel.migration._state.open import ledger_exists
from dentrix_highlevel.migration._state.postgres import check_ledger_url, with_schema

__all__ = ["Fleet", "FleetProgress", "office_schema", "run_office"]

FleetProgress = Callable[[OfficeProgress], None]
AgencyRefresh = Callable[[OAuthTokens], Awaitable[None] | None]
_MAX_FAILURES_LISTED = 50
#: An office's connections (HighLevelClient's own default).
_CONNECTIONS = 100


def office_schema(name: str) -> str:
    """The PostgreSQL schema of one office's ledger: ``office_`` and the name as a plain identifier (a
    short hash keeps two names that differ only in punctuation apart)."""
    plain = "".join(ch if ch.isascii() and ch.isalnum() else "_" for ch in name.lower()).strip("_")
    digest = hashlib.blake2b(name.encode(), digest_size=4).hexdigest()
    return f"office_{plain[:40]}_{digest}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _innermost(exc: BaseException) -> BaseException:
    """The failure that matters in an exception group the engine's task groups raised: ours if any."""
    while isinstance(exc, BaseExceptionGroup):
        ours = [e for e in exc.exceptions if isinstance(_innermost(e), DentrixHighLevelError)]
        exc = _innermost(ours[0]) if ours else exc.exceptions[0]
    return exc


def _counts(reconciliation: Reconciliation) -> dict[str, int]:
    totals = reconciliation.totals()
    return {name: int(getattr(totals, name)) for name in COUNT_NAMES}


def _failed_lines(rows: Sequence[Any]) -> list[str]:
    """``source_key (kind): reason`` of each failed record (identifiers and the engine's reasons only)."""
    out = []
    for row in rows:
        if row.action is RecordAction.FAILED or (
            row.action is RecordAction.CONFLICT and row.outcome is RecordOutcome.NOT_APPLIED
        ):
            out.append(
                f"{row.source_key} ({row.kind}): {getattr(row, 'reason', None) or 'no reason recorded'}"
            )
    return out


@attrs.frozen(kw_only=True)
class _Opened:
    office: OfficeSpec
    migration: Migration
    client: HighLevelClient
    source: Any


class Fleet:
    """The offices of ``manifest`` migrated side by side; every method returns a :class:`FleetReport` and
    saves it (``fleet-report.json``, ``fleet-report.md``) in the fleet directory.

    ``max_offices`` bounds offices in flight (each runs its own engine with ``manifest.concurrency`` patients
    in flight). ``environ`` is where tokens are read (default ``os.environ``): values are held in memory,
    never logged or written. ``transport`` plugs in an httpx transport for every office (the sandbox's
    in-process one in tests and benchmarks). ``progress`` receives an :class:`OfficeProgress` per office
    event. ``on_agency_refresh`` receives the agency credential HighLevel rotated (persist it in a secret
    store there; the fleet itself never writes it). ``ledger_url`` (``postgresql://…/db``) keeps every
    office's ledger on one PostgreSQL server, a schema per office (:func:`office_schema`), instead of
    ``ledger.sqlite3`` in its work directory: what workers on several machines need (:meth:`run_on_dask`).
    """

    def __init__(
        self,
        manifest: FleetManifest,
        *,
        max_offices: int = 4,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        progress: FleetProgress | None = None,
        on_agency_refresh: AgencyRefresh | None = None,
        save_report: bool = True,
        ledger_url: str | None = None,
    ) -> None:
        if max_offices < 1:
            raise ConfigurationError("max_offices must be at least 1")
        check_ledger_url(ledger_url)
        self.ledger_url = ledger_url
        self.manifest = manifest
        self.max_offices = max_offices
        self._environ = environ if environ is not None else os.environ
        self._transport = transport
        self._progress = progress
        self._on_agency_refresh = on_agency_refresh
        self._save_report = save_report
        self._agency: OAuthToken | None = None
        self._tls: ssl.SSLContext | None = None
        self.minted: dict[str, AgencyLocationToken] = {}
        """Per office name, the agency credential minting its location token (exchange counts; tests)."""

    def __repr__(self) -> str:
        return f"Fleet(manifest={str(self.manifest.path)!r}, offices={len(self.manifest.offices)})"

    def office_ledger(self, office: OfficeSpec) -> str | None:
        """The office's PostgreSQL ledger URL, or None for the SQLite ledger in its work directory."""
        if self.ledger_url is None:
            return None
        return with_schema(self.ledger_url, office_schema(office.name))

    def _ledger_where(self, office: OfficeSpec) -> Any:
        url = self.office_ledger(office)
        return url if url is not None else office.workdir

    # -- credentials -----------------------------------------------------------------------------------

    def _env(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value.strip() if value and value.strip() else None

    def _agency_token(self) -> OAuthToken:
        if self._agency is not None:
            return self._agency
        source = self.manifest.agency
        if source is None:  # the manifest refuses agency offices without [agency]; a guard only
            raise ConfigurationError("the manifest has no [agency] table")
        refresh = self._env(source.refresh_token_env)
        client_id = self._env(source.client_id_env)
        client_secret = self._env(source.client_secret_env)
        missing = [
            name
            for name, value in (
                (source.refresh_token_env, refresh),
                (source.client_id_env, client_id),
                (source.client_secret_env, client_secret),
            )
            if value is None
        ]
        if missing:
            raise ConfigurationError(f"the agency credential needs {', '.join(missing)} in the environment")
        access = self._env(source.access_token_env)
        self._agency = OAuthToken(
            # Without an access token the first use refreshes (expired at 0); with one, its expiry is not
            # known, so it is used until HighLevel answers 401 and then refreshed.
            access_token=access or "none",
            refresh_token=refresh or "",
            client_id=client_id or "",
            client_secret=client_secret or "",
            expires_at=math.inf if access else 0.0,
            user_type="Company",
            on_refresh=self._on_agency_refresh,
        )
        return self._agency

    def _auth(self, office: OfficeSpec) -> Auth:
        if office.agency:
            source = self.manifest.agency
            assert source is not None  # load_manifest checks it
            minted = self.minted.get(office.name)
            if minted is None:
                minted = AgencyLocationToken(
                    agency=self._agency_token(),
                    company_id=source.company_id,
                    location_id=office.location_id,
                    refresh_margin_s=source.refresh_margin_s,
                )
                self.minted[office.name] = minted
            return minted
        assert office.token_env is not None  # load_manifest checks it
        token = self._env(office.token_env)
        if token is None:
            raise ConfigurationError(
                f"the environment variable {office.token_env} (the office's token) is not set"
            )
        return PrivateIntegrationToken(token)

    def _budget(self) -> RateBudget:
        m = self.manifest
        return RateBudget.scaled(max_requests=m.rate_max, window_ms=m.rate_window_ms, daily_max=m.daily_max)

    def _source(self, office: OfficeSpec) -> Any:
        if office.source_kind == "g-export":
            from dentrix_highlevel.sources import GExportSource

            return GExportSource(office.source_location, practice_timezone=office.practice_timezone)
        from dentrix_highlevel.sources import AscendSource

        ascend = self.manifest.ascend
        client_id, client_secret = self._env(ascend.client_id_env), self._env(ascend.client_secret_env)
        if client_id is None or client_secret is None:
            raise ConfigurationError(
                f"an Ascend source needs {ascend.client_id_env} and {ascend.client_secret_env} in the "
                "environment"
            )
        return AscendSource(
            base_url=office.source_location,
            client_id=client_id,
            client_secret=client_secret,
            organization_id=office.ascend_organization_id or "",
            practice_timezone=office.practice_timezone or "",
            token_url=ascend.token_url,
        )

    def _http_transport(self) -> httpx.AsyncBaseTransport:
        """An office's own connection pool, as its client would make it (100 connections, no proxy from the
        environment), on the fleet's one TLS context: loading the CA bundle costs tens of milliseconds of
        CPU, once per office and command otherwise, while every other office waits for the process."""
        if self._transport is not None:
            return self._transport
        if self._tls is None:
            self._tls = httpx.create_ssl_context(trust_env=False)
        return httpx.AsyncHTTPTransport(
            verify=self._tls,
            trust_env=False,
            limits=httpx.Limits(max_connections=_CONNECTIONS, max_keepalive_connections=_CONNECTIONS),
        )

    # -- one office --------------------------------------------------------------------------------------

    def _emit(self, office: OfficeSpec, phase: str, event: MigrationProgress | None = None) -> None:
        if self._progress is None:
            return
        if event is None:
            self._progress(OfficeProgress(office=office.name, location_id=office.location_id, phase=phase))
            return
        self._progress(
            OfficeProgress(
                office=office.name,
                location_id=office.location_id,
                phase=f"{event.mode.value} {event.phase}",
                done=event.done,
                total=event.total,
                created=event.created,
                updated=event.updated,
                unchanged=event.unchanged,
                skipped=event.skipped,
                failed=event.failed,
                requests=event.requests,
            )
        )

    @asynccontextmanager
    async def _open(self, office: OfficeSpec) -> AsyncIterator[_Opened]:
        auth = self._auth(office)
        budget = self._budget()
        ensure_private_dir(office.workdir)
        async with (
            self._source(office) as source,
            HighLevelClient(
                location_id=office.location_id,
                auth=auth,
                base_url=self.manifest.base_url,
                transport=self._http_transport(),
                budget=budget,
                # A limiter of its own: each location has its own budget, and this command's requests are
                # counted apart from any other client's in the process.
                limiter=RateLimiter(budget),
            ) as client,
        ):
            migration = Migration(
                source,
                client,
                workdir=office.workdir,
                policies=office.policies,
                migration_id=self.manifest.migration_id,
                concurrency=self.manifest.concurrency,
                progress=lambda event: self._emit(office, "", event),
                ledger_url=self.office_ledger(office),
            )
            async with migration:
                yield _Opened(office=office, migration=migration, client=client, source=source)

    def _usable_per_day(self) -> int:
        budget = self._budget()
        return max(1, budget.daily_max - budget.daily_reserve)

    def _days_left(self, plan: MigrationPlan | None, ledger: Any, *, completed: bool) -> int | None:
        if plan is None:
            return None
        if completed:
            return 0
        done = 0
        if ledger is not None:
            done = sum(1 for r in ledger.records("contact") if r.action is not RecordAction.FAILED)
        patients = max(1, plan.source.patients)
        remaining = plan.estimate.total_requests * max(0.0, 1.0 - done / patients)
        return math.ceil(remaining / self._usable_per_day())

    def _base(self, opened: _Opened, status: OfficeStatus, **fields: Any) -> OfficeReport:
        limiter = opened.client.limiter
        server = limiter.server_daily_remaining
        return OfficeReport(
            office=opened.office.name,
            location_id=opened.office.location_id,
            status=status,
            requests=limiter.daily_sent,
            daily_remaining=server
            if server is not None
            else max(0, limiter.budget.daily_max - limiter.daily_sent),
            workdir=str(opened.office.workdir),
            **fields,
        )

    @staticmethod
    def _plan_or_none(office: OfficeSpec) -> MigrationPlan | None:
        if not (office.workdir / PLAN_FILENAME).exists():
            return None
        try:
            return MigrationPlan.load(office.workdir)
        except PlanError:
            return None

    def _failure(self, office: OfficeSpec, status: OfficeStatus, reason: str) -> OfficeReport:
        return OfficeReport(
            office=office.name,
            location_id=office.location_id,
            status=status,
            reason=reason,
            workdir=str(office.workdir),
            days_left=self._days_left(self._plan_or_none(office), None, completed=False),
        )

    async def _one(
        self, office: OfficeSpec, work: Callable[[_Opened], Awaitable[OfficeReport]], label: str
    ) -> OfficeReport:
        self._emit(office, label)
        try:
            async with self._open(office) as opened:
                report = await work(opened)
        except Exception as caught:  # one office's failure is its own line, never the fleet's end
            exc = _innermost(caught)
            if isinstance(exc, PlanNotApprovedError | PlanChangedError):
                report = self._failure(office, OfficeStatus.HELD, str(exc))
            elif isinstance(exc, DailyCapReachedError):
                report = self._failure(office, OfficeStatus.STOPPED, "HighLevel's daily request cap reached")
            elif isinstance(exc, DentrixHighLevelError):
                # Our messages name what is wrong with ids and names only, never a value.
                report = self._failure(office, OfficeStatus.FAILED, str(exc))
            elif isinstance(exc, Exception):
                # Not ours: its message may hold anything, so only its type.
                report = self._failure(office, OfficeStatus.FAILED, f"internal error ({type(exc).__name__})")
            else:
                raise
        self._emit(office, report.status.value)
        return report

    async def _each(
        self,
        operation: str,
        offices: Sequence[str] | None,
        work: Callable[[_Opened], Awaitable[OfficeReport]] | None = None,
        offline: Callable[[OfficeSpec], OfficeReport] | None = None,
    ) -> FleetReport:
        started = _now()
        chosen = self.manifest.select(list(offices or ()))
        results: dict[str, OfficeReport] = {}
        limiter = anyio.CapacityLimiter(self.max_offices)

        async def one(office: OfficeSpec) -> None:
            async with limiter:
                if offline is not None:
                    results[office.name] = await anyio.to_thread.run_sync(offline, office)
                else:
                    assert work is not None
                    results[office.name] = await self._one(office, work, operation)

        async with anyio.create_task_group() as group:
            for office in chosen:
                group.start_soon(one, office)
        return self._finish(operation, started, chosen, results)

    def _finish(
        self, operation: str, started: str, chosen: Sequence[OfficeSpec], results: Mapping[str, OfficeReport]
    ) -> FleetReport:
        """The command's report, in the manifest's order of ``chosen``, saved unless told not to."""
        report = FleetReport(
            operation=operation,
            started_at=started,
            finished_at=_now(),
            offices=tuple(results[o.name] for o in chosen),
        )
        if self._save_report:
            report.save(self.manifest.directory)
        return report

    def _result(self, opened: _Opened, result: RunResult, *, plan: MigrationPlan | None) -> OfficeReport:
        ledger = opened.migration.ledger
        failed = _failed_lines(ledger.audit_rows(run_id=result.run_id))
        if result.status is RunStatus.STOPPED:
            status, reason = OfficeStatus.STOPPED, result.stopped_reason
        elif failed or not result.reconciliation.reconciles:
            status = OfficeStatus.FAILED_RECORDS
            reason = f"{len(failed)} failed record(s)" if failed else "the reconciliation does not add up"
        else:
            status, reason = OfficeStatus.OK, None
        approved = ledger.approved_plan()
        return self._base(
            opened,
            status,
            reason=reason,
            counts=_counts(result.reconciliation),
            failures=tuple(failed[:_MAX_FAILURES_LISTED]),
            failure_count=len(failed),
            days_left=self._days_left(plan, ledger, completed=result.status is RunStatus.COMPLETED),
            plan_hash=approved.plan_hash if approved is not None else None,
            approved_by=approved.approved_by if approved is not None else None,
            run_id=result.run_id,
        )

    # -- operations --------------------------------------------------------------------------------------

    async def plan(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """Read each office's source and location and write its plan (``plan.md``, ``plan.json``) into its
        work directory, checked by the preflight (reads only)."""

        async def work(opened: _Opened) -> OfficeReport:
            m, policies = opened.migration, opened.office.policies
            location = await LocationSnapshot.read(
                opened.client,
                folders=dict(policies.field_folders),
                pipeline_name=policies.pipeline_name,
                users=policies.provider_users,
            )
            built = await build_plan(opened.source, options=m.options, policies=policies, location=location)
            checked = await m.preflight(plan=built)
            plan = attrs.evolve(built, preflight=checked.to_dict())
            previous = self._plan_or_none(opened.office)
            if previous is not None and previous.source.fingerprint != plan.source.fingerprint:
                raise ConfigurationError(
                    f"{opened.office.workdir} holds the migration of another practice; give the office "
                    "another workdir"
                )
            plan.save(opened.office.workdir)
            approved = m.ledger.approved_plan()
            is_approved = approved is not None and approved.plan_hash == plan.content_hash
            reason = None
            status = OfficeStatus.OK
            if not checked.ok:
                status = OfficeStatus.FAILED
                reason = f"the preflight failed ({', '.join(c.check for c in checked.failures)})"
            return self._base(
                opened,
                status,
                reason=reason,
                counts={"patients": plan.source.patients},
                days_left=self._days_left(plan, None, completed=False),
                plan_hash=plan.content_hash,
                approved_by=approved.approved_by if is_approved and approved is not None else None,
            )

        return await self._each("plan", offices, work)

    async def approve(
        self, *, by: str, offices: Sequence[str] | None = None, force_reason: str | None = None
    ) -> FleetReport:
        """Record that ``by`` approved each office's plan exactly as it is now (each office on its own).

        An office whose ``plan.json`` no longer matches its source or the manifest's policies, or whose
        preflight failed (unless ``force_reason`` says why), is held back with the reason."""
        if not by.strip():
            raise ConfigurationError("approve needs the approver's name or e-mail")

        async def work(opened: _Opened) -> OfficeReport:
            plan = self._plan_or_none(opened.office)
            if plan is None:
                return self._base(opened, OfficeStatus.HELD, reason="no plan yet: run `fleet plan` first")
            if opened.migration.plan_hash() != plan.content_hash:
                return self._base(
                    opened,
                    OfficeStatus.HELD,
                    reason="plan.json no longer matches the source or the manifest's policies; plan again "
                    "and review it",
                    plan_hash=plan.content_hash,
                )
            checked = plan.preflight_result()
            if checked is not None and not checked.ok and not (force_reason or "").strip():
                failed = ", ".join(c.check for c in checked.failures)
                return self._base(
                    opened,
                    OfficeStatus.HELD,
                    reason=f"the preflight failed ({failed}); fix the location and plan again",
                    plan_hash=plan.content_hash,
                )
            approved = opened.migration.approve(by=by.strip(), preflight=checked, force_reason=force_reason)
            return self._base(
                opened,
                OfficeStatus.OK,
                counts={"patients": plan.source.patients},
                days_left=self._days_left(plan, None, completed=False),
                plan_hash=approved.plan_hash,
                approved_by=approved.approved_by,
            )

        return await self._each("approve", offices, work)

    async def run(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """The full run of every approved office (each resumes an unfinished one); an office not approved,
        or whose plan changed since, is held back."""

        async def work(opened: _Opened) -> OfficeReport:
            result = await opened.migration.run()
            return self._result(opened, result, plan=self._plan_or_none(opened.office))

        return await self._each("run", offices, work)

    async def run_on_dask(
        self,
        scheduler: Any,
        *,
        offices: Sequence[str] | None = None,
        operation: str = "run",
        resubmits: int = 3,
        daily_reset_s: float | None = None,
    ) -> FleetReport:
        """``operation`` (``run`` by default) with one Dask task per office on ``scheduler`` (a scheduler
        address such as ``tcp://10.0.0.5:8786``, or a ``distributed.Client``).

        Each task holds its office's lease (the ledger's lock) while it runs, so an office never runs twice
        at once; a task lost with its worker is rescheduled (by the scheduler, then ``resubmits`` times by
        the fleet) and resumes from the ledger. Workers read tokens from their own environment. An office
        that stops at its daily cap is "paused until T"; with ``daily_reset_s`` (HighLevel's reset comes
        within a day: 86400) the fleet submits it again at T, else the report says T and the next command
        resumes it. See ``dentrix_highlevel.fleet._dask`` and the "many offices" page."""
        started = _now()
        chosen = self.manifest.select(list(offices or ()))
        results = await submit_offices(
            scheduler,
            chosen,
            task=run_office,
            task_kwargs={
                "manifest_path": str(self.manifest.path),  # load_manifest resolved it
                "operation": operation,
                "ledger_url": self.ledger_url,
            },
            emit=self._emit,
            failure=self._failure,
            progress=self._progress,
            operation=operation,
            resubmits=resubmits,
            daily_reset_s=daily_reset_s,
        )
        return self._finish(operation, started, chosen, results)

    async def delta(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """Send what is new or changed in each office's source (point ``source`` at the newer export)."""

        async def work(opened: _Opened) -> OfficeReport:
            result = await opened.migration.delta()
            return self._result(opened, result, plan=self._plan_or_none(opened.office))

        return await self._each("delta", offices, work)

    async def rollback(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """Delete what each office's migration created and restore what it changed (idempotent)."""

        async def work(opened: _Opened) -> OfficeReport:
            result = await opened.migration.rollback()
            return self._result(opened, result, plan=None)

        return await self._each("rollback", offices, work)

    async def reconcile(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """Account for every source record of each office and re-read its migrated contacts."""

        async def work(opened: _Opened) -> OfficeReport:
            result = await opened.migration.reconcile()
            failed = _failed_lines(opened.migration.ledger.records())
            ok = result.ok and not failed
            reason = None
            if not ok:
                reason = f"{len(result.mismatches)} field mismatch(es), {len(failed)} failed record(s)" + (
                    "" if result.reconciliation.reconciles else ", counts do not add up"
                )
            plan = self._plan_or_none(opened.office)
            return self._base(
                opened,
                OfficeStatus.OK if ok else OfficeStatus.FAILED_RECORDS,
                reason=reason,
                counts=_counts(result.reconciliation),
                failures=tuple(failed[:_MAX_FAILURES_LISTED]),
                failure_count=len(failed),
                days_left=self._days_left(plan, opened.migration.ledger, completed=ok),
            )

        return await self._each("reconcile", offices, work)

    async def status(self, *, offices: Sequence[str] | None = None) -> FleetReport:
        """Each office's state from its work directory alone (no token, no request): planned, approved,
        the last run and the latest record counts."""
        return await self._each("status", offices, offline=self._status)

    def _status(self, office: OfficeSpec) -> OfficeReport:
        plan = self._plan_or_none(office)
        base: dict[str, Any] = {
            "office": office.name,
            "location_id": office.location_id,
            "workdir": str(office.workdir),
        }
        if plan is None:
            return OfficeReport(status=OfficeStatus.SKIPPED, reason="not planned", **base)
        where = self._ledger_where(office)
        if not ledger_exists(where):
            return OfficeReport(
                status=OfficeStatus.OK,
                reason="planned, not approved",
                counts={"patients": plan.source.patients},
                plan_hash=plan.content_hash,
                days_left=self._days_left(plan, None, completed=False),
                **base,
            )
        ledger = open_existing_ledger(where)
        try:
            approved = ledger.approved_plan()
            runs = ledger.runs()
            records = ledger.records()
            last = runs[-1] if runs else None
            completed = any(r.mode.value == "run" and r.status is RunStatus.COMPLETED for r in runs)
            days = self._days_left(plan, ledger, completed=completed)
        finally:
            ledger.close()
        if approved is None:
            state = "planned, not approved"
        elif approved.plan_hash != plan.content_hash:
            state = "approved an earlier plan: approve again"
        else:
            state = "approved"
        if last is not None:
            state += f"; last {last.mode.value} {last.status.value}"
        actions = Counter(r.action.value for r in records)
        failed = _failed_lines(records)
        return OfficeReport(
            status=OfficeStatus.FAILED_RECORDS if failed else OfficeStatus.OK,
            reason=state,
            counts={
                "patients": plan.source.patients,
                **{name: actions.get(name, 0) for name in COUNT_NAMES[1:]},
            },
            failures=tuple(failed[:_MAX_FAILURES_LISTED]),
            failure_count=len(failed),
            plan_hash=plan.content_hash,
            approved_by=approved.approved_by if approved is not None else None,
            run_id=last.run_id if last is not None else None,
            days_left=days,
            **base,
        )


def run_office(
    office: str,
    *,
    manifest_path: str,
    operation: str = "run",
    ledger_url: str | None = None,
    progress_topic: str | None = None,
    lease_wait_s: float = 600.0,
    lease_poll_s: float = 0.5,
) -> OfficeReport:
    """One office's ``operation`` in this process (a Dask task's body): its report.

    Its progress events go to ``progress_topic`` of the worker's event log (the submitting client shows
    them). While another process holds the office's lease the task waits (``lease_wait_s`` at most,
    polling every ``lease_poll_s``) rather than fail: the holder is a previous attempt finishing or dying.
    """
    if operation not in OPERATIONS:
        raise ConfigurationError(f"a Dask task runs one of {', '.join(OPERATIONS)}, not {operation!r}")
    fleet = Fleet(
        load_manifest(manifest_path),
        max_offices=1,
        save_report=False,
        ledger_url=ledger_url,
        progress=worker_progress(progress_topic),
    )

    async def one() -> OfficeReport:
        report: FleetReport = await getattr(fleet, operation)(offices=[office])
        return report.offices[0]

    return hold_lease(lambda: anyio.run(one), wait_s=lease_wait_s, poll_s=lease_poll_s)
