"""``AscendSource``: a Dentrix Ascend organisation read through the API Exchange, as patient bundles.

How a read goes: the small shared lists (providers, operatories, practice procedures, locations, plans,
referral sources) are loaded into memory; every per-patient list is paged into a private on-disk SQLite
staging file as raw JSON keyed by patient, so memory stays flat in practice size; bundles are then built
patient by patient (in a worker thread, a chunk at a time) and converted to the same records a G export
yields, in the same canonical order, so content hashes compare across runs.

Delta (``modified_since``): only patients whose own record or any appointment, procedure, case or note
changed since then are yielded — with *all* their related records and their family, fetched with the
``->[a,b]`` id-list filter — so the bundle's content hash tells the migration exactly what changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import attrs
import httpx

from dentrix_highlevel._errors import AscendError, ConfigurationError, SourceError
from dentrix_highlevel._http_limits import HttpLimits
from dentrix_highlevel.records import (
    Appointment,
    Coverage,
    CoverageRank,
    InsurancePlan,
    Operatory,
    Patient,
    PatientBundle,
    PatientInsurance,
    PracticeInfo,
    ProcedureCode,
    Provider,
    ReferralSource,
    ReferredBy,
    ReferrerKind,
)
from dentrix_highlevel.sources._ascend_client import AscendClient
from dentrix_highlevel.sources._ascend_config import (
    AscendCodes,
    AscendResource,
    AscendResources,
    AscendRetry,
    Pagination,
)
from dentrix_highlevel.sources._ascend_convert import Converter, json_path
from dentrix_highlevel.sources._g_export import FileCount
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue
from dentrix_highlevel.sources._order import canonical_bundle, id_order
from dentrix_highlevel.sources._staging_dirs import new_staging_dir

__all__ = ["AscendSource"]

Json = dict[str, Any]
_T = TypeVar("_T")

#: Per-patient resources (attribute names of :class:`AscendResources`), staged by patient.
_RELATED = (
    "appointments",
    "patient_procedures",
    "tx_cases",
    "clinical_notes",
    "recalls",
    "medical_alerts",
    "documents",
    "patient_insurance",
)
#: Per-patient resources whose ``lastModified`` says a bundle changed.
_CHANGE_STAMPED = ("appointments", "patient_procedures", "tx_cases", "clinical_notes")
#: The attribute holding each per-patient resource's own id.
_ID_ATTR = {
    "appointments": "appointment_id",
    "patient_procedures": "procedure_id",
    "tx_cases": "case_id",
    "clinical_notes": "note_id",
    "recalls": "id",
    "medical_alerts": "alert_id",
    "documents": "document_id",
    "patient_insurance": "id",
}
_ID_CHUNK = 50  # ids per "->[...]" filter: keeps the query string short
_BUNDLE_CHUNK = 64  # bundles built per worker-thread call (few: a chunk is heap every full GC walks)


def _utc_stamp(when: dt.datetime, tz: ZoneInfo) -> str:
    """Ascend's filter form of an instant; a naive value is practice-local, like the records."""
    aware = when.replace(tzinfo=tz) if when.tzinfo is None else when
    utc = aware.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first real error inside a task group's exception group (cancellations are its echoes)."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending[:0] = list(current.exceptions)
        else:
            leaves.append(current)
    real = [e for e in leaves if not isinstance(e, anyio.get_cancelled_exc_class())]
    return (real or leaves)[0]


class _Staging:
    """Raw Ascend objects by patient in a private SQLite file (0o600 in a 0o700 directory; it holds PHI)."""

    def __init__(self, parent: Path | None) -> None:
        self.dir = new_staging_dir("ascend-", parent)  # created 0o700
        path = self.dir / "staging.sqlite3"
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        # check_same_thread=False: worker threads take turns (anyio.to_thread), never run concurrently.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE patients (id TEXT PRIMARY KEY, sort TEXT NOT NULL, guarantor TEXT,
                                   body TEXT NOT NULL);
            CREATE INDEX patients_guarantor ON patients (guarantor);
            CREATE INDEX patients_sort ON patients (sort);
            CREATE TABLE related (kind TEXT NOT NULL, id TEXT NOT NULL, patient TEXT, body TEXT NOT NULL,
                                  PRIMARY KEY (kind, id));
            CREATE INDEX related_patient ON related (patient, kind);
            CREATE TABLE balances (guarantor TEXT PRIMARY KEY, body TEXT NOT NULL);
            CREATE TABLE wanted (id TEXT PRIMARY KEY);
            """
        )

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_patients(self, rows: Iterable[tuple[str, str, str | None, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO patients VALUES (?, ?, ?, ?)", rows)

    def add_related(self, rows: Iterable[tuple[str, str, str | None, str]]) -> int:
        before = self.db.total_changes
        self.db.executemany("INSERT OR IGNORE INTO related VALUES (?, ?, ?, ?)", rows)
        return self.db.total_changes - before

    def want_all(self) -> None:
        self.db.execute("INSERT OR IGNORE INTO wanted SELECT id FROM patients")

    def subscribers(self, resource: AscendResource | None) -> list[str]:
        """Subscriber ids named by staged coverages (the subscriber field's path from the resource)."""
        if resource is None or not resource.field("subscriber_id"):
            return []
        path = resource.field("subscriber_id")
        out = set()
        for (body,) in self.db.execute("SELECT body FROM related WHERE kind = 'patient_insurance'"):
            value = json_path(json.loads(body), path)
            if isinstance(value, str | int) and not isinstance(value, bool):
                out.add(str(value))
        return sorted(out)

    def want(self, ids: Iterable[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", ((i,) for i in ids))

    def missing_patients(self, ids: Iterable[str]) -> list[str]:
        lookup = "SELECT 1 FROM patients WHERE id = ?"
        return sorted({i for i in ids if self.db.execute(lookup, (i,)).fetchone() is None})

    def guarantors_of_wanted(self) -> list[str]:
        rows = self.db.execute(
            "SELECT DISTINCT COALESCE(p.guarantor, p.id) FROM patients p JOIN wanted w ON w.id = p.id"
        )
        return sorted(row[0] for row in rows)

    def wanted_ids(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT id FROM wanted ORDER BY id")]

    def patient_body(self, patient_id: str) -> str | None:
        row = self.db.execute("SELECT body FROM patients WHERE id = ?", (patient_id,)).fetchone()
        return None if row is None else str(row[0])


@attrs.frozen
class _Options:
    page_size: int
    pagination: Pagination


def _keyed(
    convert: Callable[[Json], _T | None], key: Callable[[_T], str]
) -> Callable[[Json], tuple[str, _T] | None]:
    """``convert`` answering a record, as one answering (key, record) like the provider converters do."""

    def pair(obj: Json) -> tuple[str, _T] | None:
        row = convert(obj)
        return None if row is None else (key(row), row)

    return pair


class AscendSource:
    """Read one Ascend organisation as :class:`~dentrix_highlevel.records.PatientBundle` s.

    ::

        async with AscendSource(
            base_url="https://prod.hs1api.com/ascend-gateway/api", client_id=..., client_secret=...,
            organization_id="5e7b...", practice_timezone="America/Denver",
        ) as src:
            async for bundle in src.bundles():
                ...
            print(src.counts, src.issues)

    Per-patient resources are paged ``concurrency`` at a time (one task group; the first failure cancels
    the rest); ``max_requests_per_s`` paces requests on our side. ``provider_ids="short_name"`` (default)
    keys providers and operatories by their short names (``DDS1``, ``OP-1``) like Dentrix G does; ``"id"``
    uses Ascend's numeric ids. ``transport`` is the test seam (an ``httpx`` transport such as the
    emulator's); ``clock``/``sleep`` let tests skip real waiting. ``limits`` (:class:`HttpLimits`),
    ``trust_env`` and ``proxy`` go to the :class:`AscendClient`: https only (loopback excepted), proxies
    from the environment only when asked for. See ``docs/ascend.md``.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: str,
        organization_id: str,
        practice_timezone: str,
        transport: httpx.AsyncBaseTransport | None = None,
        page_size: int = 200,
        pagination: Pagination = "keyset",
        resources: AscendResources | None = None,
        codes: AscendCodes | None = None,
        retry: AscendRetry | None = None,
        provider_ids: Literal["short_name", "id"] = "short_name",
        token_url: str | None = None,
        timeout_s: float = 30.0,
        staging_dir: str | os.PathLike[str] | None = None,
        concurrency: int = 4,
        max_requests_per_s: float | None = None,
        limits: HttpLimits | None = None,
        trust_env: bool = False,
        proxy: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        if not 1 <= page_size <= 1000:
            raise ConfigurationError("page_size must be between 1 and 1000")
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if pagination not in ("keyset", "page"):
            raise ConfigurationError("pagination must be 'keyset' or 'page'")
        if provider_ids not in ("short_name", "id"):
            raise ConfigurationError("provider_ids must be 'short_name' or 'id'")
        try:
            self._tz = ZoneInfo(practice_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(f"unknown IANA timezone {practice_timezone!r}") from None
        self.practice_timezone = practice_timezone
        self.resources = resources or AscendResources()
        self.codes = codes or AscendCodes()
        self._options = _Options(page_size=page_size, pagination=pagination)
        self._staging_dir = Path(staging_dir) if staging_dir is not None else None
        self.client = AscendClient(
            base_url=base_url,
            client_id=client_id,
            client_secret=client_secret,
            organization_id=organization_id,
            transport=transport,
            token_url=token_url,
            retry=retry,
            timeout_s=timeout_s,
            max_requests_per_s=max_requests_per_s,
            limits=limits,
            trust_env=trust_env,
            proxy=proxy,
            clock=clock,
            sleep=sleep,
        )
        self._issues: list[SourceIssue] = []
        self._rows: dict[str, int] = {}
        self._keys: dict[str, set[str]] = {}
        self._unavailable: set[str] = set()
        self._bundle_count = 0
        self._unattached: list[Appointment] = []
        self._conv = Converter(
            resources=self.resources,
            codes=self.codes,
            tz=self._tz,
            issues=self._issues,
            provider_key=provider_ids,
        )
        self._shared_loaded = False
        self._concurrency = concurrency
        self._db_lock = anyio.Lock()
        self._other_patients: dict[str, Patient | None] = {}
        self._locations: list[PracticeInfo] = []
        self._providers_by_key: dict[str, Provider] = {}

    def __repr__(self) -> str:
        return (
            f"AscendSource(base_url={self.client.base_url!r}, "
            f"organization_id={self.client.organization_id!r}, practice_timezone={self.practice_timezone!r})"
        )

    async def __aenter__(self) -> AscendSource:
        try:
            await self.open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()

    # ---- what the read found ------------------------------------------------------------------------------

    @property
    def issues(self) -> tuple[SourceIssue, ...]:
        """Every problem found so far, located by resource, field and record id (never values)."""
        return tuple(self._issues)

    @property
    def counts(self) -> dict[str, FileCount]:
        """Per-resource figures for the availability report, keyed by resource path (no values).

        ``rows`` are the objects read by the last :meth:`bundles` (plus the shared lists), ``columns`` the
        mapped top-level fields seen, ``extra_columns`` the fields seen that no field map reads.
        """
        out: dict[str, FileCount] = {}
        for field in attrs.fields(AscendResources):
            resource: AscendResource | None = getattr(self.resources, field.name)
            if resource is None:
                continue
            mapped = {path.split(".")[0] for path in resource.fields.values() if path}
            seen = self._keys.get(field.name, set())
            issues = [i for i in self._issues if i.file == resource.path]
            dropped = sum(1 for i in issues if i.row_dropped)
            rows = self._rows.get(field.name, 0)
            out[resource.path] = FileCount(
                file=resource.path,
                present=field.name not in self._unavailable,
                required=not resource.optional,
                rows=rows,
                records=rows - dropped,
                dropped=dropped,
                issues=len(issues),
                columns=tuple(sorted(seen & mapped)),
                extra_columns=tuple(sorted(seen - mapped - {"type"})),
            )
        return out

    @property
    def bundle_count(self) -> int:
        """Bundles yielded by the last (or current) :meth:`bundles` read."""
        return self._bundle_count

    @property
    def practice(self) -> PracticeInfo:
        """The first location as the practice (``practice_id`` is its Ascend id; only the zone before
        :meth:`open`)."""
        return self._locations[0] if self._locations else PracticeInfo(timezone=self.practice_timezone)

    def unattached_appointments(self) -> tuple[Appointment, ...]:
        """Appointments without a patient (new patients never entered), from the last full read."""
        return tuple(self._unattached)

    # ---- paging -------------------------------------------------------------------------------------------

    async def _objects(
        self, attr: str, filters: tuple[str, ...] = (), *, items_field: str | None = None
    ) -> AsyncIterator[list[Json]]:
        """Pages of one resource's objects. An optional resource refused with 403/404 is one issue."""
        resource: AscendResource | None = getattr(self.resources, attr)
        if resource is None:
            return
        pages = self.client.pages(
            resource.path,
            filters=filters,
            page_size=self._options.page_size,
            pagination=resource.pagination or self._options.pagination,
            items_field=items_field,
        )
        keys = self._keys.setdefault(attr, set())
        try:
            async for page in pages:
                self._rows[attr] = self._rows.get(attr, 0) + len(page.items)
                for item in page.items:
                    keys.update(item)
                yield page.items
        except AscendError as error:
            if not (resource.optional and error.status_code in (403, 404)):
                raise
            self._unavailable.add(attr)
            self._note_issue(
                resource,
                None,
                IssueCode.BAD_VALUE,
                f"resource unavailable (HTTP {error.status_code}); its records are left out"
                + (" — the resource name is a guess, configure it" if resource.guessed else ""),
            )

    def use_staging_dir(self, directory: str | os.PathLike[str]) -> None:
        """Stage under ``directory`` unless ``staging_dir`` was given (a migration passes its work
        directory's ``staging`` folder, so the organisation's copy stays with its other private files)."""
        if self._staging_dir is None:
            self._staging_dir = Path(directory)

    # ---- shared tables ------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Load the shared lists (providers, operatories, procedures, locations, plans, referral sources).

        Idempotent; :meth:`bundles` reloads them itself so a later delta sees new providers."""
        if not self._shared_loaded:
            await self._load_shared()

    def _note_issue(
        self,
        resource: AscendResource,
        field: str | None,
        code: IssueCode,
        message: str,
        *,
        row_dropped: bool = False,
        record_key: str | None = None,
    ) -> None:
        """Record an issue on ``resource`` (JSON has no line numbers; ``field`` names the column, if any)."""
        self._issues.append(
            SourceIssue(
                file=resource.path,
                line=None,
                column=None if field is None else resource.field(field),
                code=code,
                message=message,
                row_dropped=row_dropped,
                record_key=record_key,
            )
        )

    def _require_open(self) -> None:
        if not self._shared_loaded:
            raise SourceError("the Ascend source is not open: use 'async with' or await open() first")

    async def _load_shared(self) -> None:
        conv = self._conv
        conv.providers.clear()
        conv.operatories.clear()
        conv.procedure_codes.clear()
        conv.plans.clear()
        conv.referral_sources.clear()
        self._locations = []
        await self._load_table("providers", conv.providers, conv.provider)
        await self._load_table("operatories", conv.operatories, conv.operatory)
        await self._load_table(
            "practice_procedures", conv.procedure_codes, _keyed(conv.procedure_code, lambda c: c.proc_code_id)
        )
        async for items in self._objects("locations"):
            self._locations.extend(conv.location(obj, self.practice_timezone) for obj in items)
        await self._load_table(
            "insurance_plans", conv.plans, _keyed(conv.insurance_plan, lambda p: p.plan_id)
        )
        await self._load_table(
            "referral_sources", conv.referral_sources, _keyed(conv.referral_source, lambda r: r.referral_id)
        )
        self._providers_by_key = {p.provider_id: p for p in conv.providers.values()}
        self._shared_loaded = True

    async def _load_table(
        self, attr: str, table: dict[str, _T], convert: Callable[[Json], tuple[str, _T] | None]
    ) -> None:
        """Every object of resource ``attr`` that converts, into ``table`` under its key."""
        async for items in self._objects(attr):
            for obj in items:
                pair = convert(obj)
                if pair is not None:
                    table[pair[0]] = pair[1]

    def _by_id(self, table: dict[str, _T], id_of: Callable[[_T], str]) -> tuple[_T, ...]:
        """A loaded table's records in id order (the order every source lists its objects in)."""
        self._require_open()
        return tuple(sorted(table.values(), key=lambda row: id_order(id_of(row))))

    def providers(self) -> tuple[Provider, ...]:
        return self._by_id(self._conv.providers, lambda p: p.provider_id)

    def operatories(self) -> tuple[Operatory, ...]:
        return self._by_id(self._conv.operatories, lambda o: o.operatory_id)

    def procedure_codes(self) -> tuple[ProcedureCode, ...]:
        return self._by_id(self._conv.procedure_codes, lambda c: c.proc_code_id)

    def insurance_plans(self) -> tuple[InsurancePlan, ...]:
        return self._by_id(self._conv.plans, lambda p: p.plan_id)

    def referral_sources(self) -> tuple[ReferralSource, ...]:
        return self._by_id(self._conv.referral_sources, lambda r: r.referral_id)

    def locations(self) -> tuple[PracticeInfo, ...]:
        """The organisation's locations (``practice_id`` is the Ascend location id)."""
        self._require_open()
        return tuple(self._locations)

    # ---- staging ------------------------------------------------------------------------------------------

    def _patient_rows(self, items: list[Json]) -> tuple[list[tuple[str, str, str | None, str]], list[str]]:
        res = self.resources.patients
        rows: list[tuple[str, str, str | None, str]] = []
        for obj in items:
            pid = json_path(obj, res.field("patient_id"))
            if pid is None or isinstance(pid, bool | dict | list):
                self._note_issue(
                    res,
                    "patient_id",
                    IssueCode.MISSING_VALUE,
                    "patient without id; skipped",
                    row_dropped=True,
                )
                continue
            guarantor = json_path(obj, res.field("guarantor_id"))
            gid = (
                str(guarantor)
                if isinstance(guarantor, str | int) and not isinstance(guarantor, bool)
                else None
            )
            rows.append((str(pid), id_order(str(pid)), gid, json.dumps(obj, separators=(",", ":"))))
        return rows, [r[0] for r in rows]

    def _related_rows(self, attr: str, items: list[Json]) -> list[tuple[str, str, str | None, str]]:
        resource: AscendResource = getattr(self.resources, attr)
        id_path = resource.field(_ID_ATTR[attr]) or "id"
        patient_path = resource.field("patient_id")
        rows = []
        for n, obj in enumerate(items):
            raw_id = json_path(obj, id_path)
            pid = json_path(obj, patient_path) if patient_path else None
            ident = str(raw_id) if raw_id is not None else f"#{self._rows.get(attr, 0)}:{n}"
            patient = str(pid) if isinstance(pid, str | int) and not isinstance(pid, bool) else None
            rows.append((attr, ident, patient, json.dumps(obj, separators=(",", ":"))))
        return rows

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run one staging call in a worker thread; one at a time (one SQLite connection)."""
        async with self._db_lock:
            return await anyio.to_thread.run_sync(fn, *args)

    async def _stage_patients(self, staging: _Staging, filters: tuple[str, ...]) -> list[str]:
        seen: list[str] = []
        async for items in self._objects("patients", filters):
            rows, ids = self._patient_rows(items)
            await self._write(staging.add_patients, rows)
            seen.extend(ids)
        return seen

    async def _stage_related(self, staging: _Staging, attr: str, filters: tuple[str, ...]) -> list[str]:
        patients: list[str] = []
        async for items in self._objects(attr, filters):
            rows = self._related_rows(attr, items)
            await self._write(staging.add_related, rows)
            patients.extend(r[2] for r in rows if r[2] is not None)
        return patients

    async def _stage_balances(self, staging: _Staging) -> None:
        report = self.resources.aging_report
        if report is None:
            return
        location_ids: list[str | None] = [loc.practice_id for loc in self._locations if loc.practice_id]
        for location_id in location_ids or [None]:
            filters = (f"location.id=={location_id}",) if location_id else ()
            async for items in self._objects(
                "aging_report", filters, items_field=report.field("reports") or None
            ):
                rows = []
                for obj in items:
                    gid = json_path(obj, report.field("guarantor_id"))
                    if isinstance(gid, str | int) and not isinstance(gid, bool):
                        rows.append((str(gid), json.dumps(obj, separators=(",", ":"))))
                await self._write(
                    staging.db.executemany, "INSERT OR REPLACE INTO balances VALUES (?, ?)", rows
                )

    def _id_filters(self, path: str, ids: list[str]) -> list[tuple[str, ...]]:
        return [(f"{path}->[{','.join(ids[i : i + _ID_CHUNK])}]",) for i in range(0, len(ids), _ID_CHUNK)]

    async def _concurrently(self, jobs: list[Callable[[], Awaitable[list[str]]]]) -> set[str]:
        """Run staging jobs ``concurrency`` at a time; the union of the patient ids they return.

        The first failure cancels the rest and is raised as itself (not as an exception group).
        """
        found: set[str] = set()
        limiter = anyio.CapacityLimiter(self._concurrency)

        async def run(job: Callable[[], Awaitable[list[str]]]) -> None:
            async with limiter:
                found.update(await job())

        try:
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(run, job)
        except BaseExceptionGroup as group:
            raise _first_leaf(group) from None
        return found

    def _job(
        self, staging: _Staging, attr: str, filters: tuple[str, ...]
    ) -> Callable[[], Awaitable[list[str]]]:
        if attr == "patients":
            return lambda: self._stage_patients(staging, filters)
        return lambda: self._stage_related(staging, attr, filters)

    async def _stage_full(self, staging: _Staging) -> None:
        jobs = [self._job(staging, "patients", ())]
        jobs += [self._job(staging, attr, ()) for attr in _RELATED]
        await self._concurrently(jobs)
        await self._write(staging.want_all)
        await self._write(self._check_dangling, staging)

    async def _stage_delta(self, staging: _Staging, since: dt.datetime) -> None:
        stamp = _utc_stamp(since, self._tz)
        res = self.resources
        jobs = []
        if res.patients.field("modified_at"):
            jobs.append(self._job(staging, "patients", (f"{res.patients.field('modified_at')}>={stamp}",)))
        for attr in _CHANGE_STAMPED:
            resource: AscendResource | None = getattr(res, attr)
            if resource is not None and resource.field("modified_at"):
                jobs.append(self._job(staging, attr, (f"{resource.field('modified_at')}>={stamp}",)))
        changed = await self._concurrently(jobs)
        await self._stage_for(staging, changed)

    async def _stage_for(self, staging: _Staging, changed: set[str]) -> None:
        """Stage the given patients with all their related records, their families and subscribers."""
        res = self.resources
        await self._write(staging.want, changed)
        id_path = res.patients.field("patient_id")
        missing = await self._write(staging.missing_patients, changed)
        await self._concurrently(
            [self._job(staging, "patients", f) for f in self._id_filters(id_path, missing)]
        )
        # Whole families: bundles carry the guarantor's record and every member's id.
        guarantors = await self._write(staging.guarantors_of_wanted)
        family_path = res.patients.field("guarantor_id")
        await self._concurrently(
            [self._job(staging, "patients", f) for f in self._id_filters(family_path, guarantors)]
        )
        missing = await self._write(staging.missing_patients, guarantors)
        await self._concurrently(
            [self._job(staging, "patients", f) for f in self._id_filters(id_path, missing)]
        )
        wanted = await self._write(staging.wanted_ids)
        jobs: list[Callable[[], Awaitable[list[str]]]] = []
        for attr in _RELATED:
            resource = getattr(res, attr)
            if resource is not None:
                jobs += [
                    self._job(staging, attr, f)
                    for f in self._id_filters(resource.field("patient_id"), wanted)
                ]
        await self._concurrently(jobs)
        # Subscribers of another family: the coverage links their record.
        subscribers = await self._write(staging.subscribers, res.patient_insurance)
        missing = await self._write(staging.missing_patients, subscribers)
        await self._concurrently(
            [self._job(staging, "patients", f) for f in self._id_filters(id_path, missing)]
        )

    def _check_dangling(self, staging: _Staging) -> None:
        rows = staging.db.execute(
            "SELECT kind, id, patient FROM related WHERE patient IS NOT NULL "
            "AND patient NOT IN (SELECT id FROM patients) ORDER BY kind, id"
        )
        for kind, ident, patient in rows:
            resource: AscendResource = getattr(self.resources, kind)
            self._note_issue(
                resource,
                "patient_id",
                IssueCode.DANGLING_REFERENCE,
                f"patient {patient} is not in the patients list; the record is left out",
                row_dropped=True,
                record_key=ident,
            )
        unattached = staging.db.execute(
            "SELECT body FROM related WHERE kind = 'appointments' AND patient IS NULL ORDER BY id"
        )
        self._unattached = [a for (body,) in unattached if (a := self._conv.appointment(json.loads(body)))]

    # ---- bundles ------------------------------------------------------------------------------------------

    async def get_bundle(self, patient_id: str) -> PatientBundle | None:
        """One patient's bundle (a handful of id-filtered requests), or ``None`` if there is no such patient.

        For sample runs and spot checks; its family and guarantor come along as in a full read. ``issues``,
        ``counts`` and ``bundle_count`` keep describing the last :meth:`bundles` read."""
        saved = (
            list(self._issues),
            dict(self._rows),
            dict(self._keys),
            set(self._unavailable),
            self._bundle_count,
        )
        found = None
        try:
            async for bundle in self._read(None, {patient_id}):
                found = bundle
        finally:
            issues, self._rows, self._keys, self._unavailable, self._bundle_count = saved
            self._issues[:] = issues  # in place: the converter holds this list
        return found

    def bundles(self, *, modified_since: dt.datetime | None = None) -> AsyncIterator[PatientBundle]:
        """Every patient's bundle in id order; with ``modified_since`` only those that changed since then.

        A naive ``modified_since`` is practice-local time (like the records' ``modified_at``).
        """
        return self._read(modified_since, None)

    async def _read(
        self, modified_since: dt.datetime | None, only: set[str] | None
    ) -> AsyncIterator[PatientBundle]:
        self._issues.clear()  # issues describe the latest read (the converter shares this list)
        self._rows.clear()
        self._keys.clear()
        self._unavailable.clear()
        self._bundle_count = 0
        await self._load_shared()
        self._other_patients.clear()
        staging = await anyio.to_thread.run_sync(_Staging, self._staging_dir)
        try:
            await self._stage_balances(staging)
            if only is not None:
                await self._stage_for(staging, only)
            elif modified_since is None:
                await self._stage_full(staging)
            else:
                await self._stage_delta(staging, modified_since)
            after = ""
            while True:
                chunk, after, scanned = await anyio.to_thread.run_sync(self._bundle_chunk, staging, after)
                # Let go of one by one, as the G export's: a bundle lives as long as its consumer keeps it.
                chunk.reverse()
                while chunk:
                    self._bundle_count += 1
                    yield chunk.pop()
                if scanned < _BUNDLE_CHUNK:
                    break
        finally:
            # Shielded: a cancelled or abandoned read must still delete the staging file (it holds PHI).
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(staging.close)

    def _bundle_chunk(self, staging: _Staging, after: str) -> tuple[list[PatientBundle], str, int]:
        rows = staging.db.execute(
            "SELECT p.id, p.sort, p.body FROM patients p JOIN wanted w ON w.id = p.id "
            "WHERE p.sort > ? ORDER BY p.sort LIMIT ?",
            (after, _BUNDLE_CHUNK),
        ).fetchall()
        out = []
        for pid, sort, body in rows:
            after = sort
            bundle = self._bundle(staging, pid, json.loads(body))
            if bundle is not None:
                out.append(bundle)
        return out, after, len(rows)

    def _quiet_patient(self, staging: _Staging, patient_id: str) -> Patient | None:
        """Another patient's record (guarantor, subscriber): its issues are reported with its own bundle.

        Families sit together in id order, so a small cache saves re-reading the guarantor per member."""
        cache = self._other_patients
        if patient_id in cache:
            return cache[patient_id]
        if len(cache) >= 256:
            cache.clear()
        cache[patient_id] = found = self._read_other(staging, patient_id)
        return found

    def _read_other(self, staging: _Staging, patient_id: str) -> Patient | None:
        body = staging.patient_body(patient_id)
        if body is None:
            return None
        loud = self._conv.issues
        self._conv.issues = []
        try:
            return self._conv.patient(json.loads(body))
        finally:
            self._conv.issues = loud

    def _bundle(self, staging: _Staging, pid: str, body: Json) -> PatientBundle | None:
        conv = self._conv
        patient = conv.patient(body)
        if patient is None:
            return None
        related: dict[str, list[Json]] = {attr: [] for attr in _RELATED}
        for kind, raw in staging.db.execute(
            "SELECT kind, body FROM related WHERE patient = ? ORDER BY kind, id", (pid,)
        ):
            related[kind].append(json.loads(raw))
        family_key = patient.guarantor_id or pid
        family = {
            row[0] for row in staging.db.execute("SELECT id FROM patients WHERE guarantor = ?", (family_key,))
        }
        family.add(pid)
        guarantor = None
        if patient.guarantor_id is not None and patient.guarantor_id != pid:
            guarantor = self._quiet_patient(staging, patient.guarantor_id)
            if guarantor is None:
                self._note_issue(
                    self.resources.patients,
                    "guarantor_id",
                    IssueCode.DANGLING_REFERENCE,
                    f"guarantor {patient.guarantor_id} is not in the patients list",
                    record_key=pid,
                )
        procedures = [
            p for obj in related["patient_procedures"] if (p := conv.procedure(obj, patient.guarantor_id))
        ]
        cases = [c for obj in related["tx_cases"] if (c := conv.tx_case(obj, procedures))]
        coverage: dict[CoverageRank, Coverage] = {}
        for obj in related["patient_insurance"]:
            ranked = conv.coverage(obj, pid, lambda other: self._quiet_patient(staging, other))
            if ranked is None:
                continue
            if ranked[0] in coverage:
                resource = self.resources.patient_insurance
                self._issues.append(
                    SourceIssue(
                        file=resource.path if resource else "patient_insurance",
                        line=None,
                        column=resource.field("rank") if resource else None,
                        code=IssueCode.DUPLICATE_KEY,
                        message=f"a second {ranked[0].value} coverage for patient {pid}; the first is kept",
                        row_dropped=True,
                        record_key=ranked[1].insured.insured_id,
                    )
                )
                continue
            coverage[ranked[0]] = ranked[1]
        balance = None
        balance_row = staging.db.execute(
            "SELECT body FROM balances WHERE guarantor = ?", (family_key,)
        ).fetchone()
        if balance_row is not None:
            balance = conv.balance(json.loads(balance_row[0]))
        referred_by = None
        if patient.referred_by_id is not None and patient.referred_by_kind is not None:
            source = None
            if patient.referred_by_kind is ReferrerKind.REFERRAL_SOURCE:
                source = conv.referral_sources.get(patient.referred_by_id)
            referred_by = ReferredBy(
                kind=patient.referred_by_kind, referrer_id=patient.referred_by_id, source=source
            )
        bundle = PatientBundle(
            patient=patient,
            practice_timezone=self.practice_timezone,
            guarantor=guarantor,
            family_member_ids=tuple(family),
            primary_provider=self._providers_by_key.get(patient.primary_provider_id or ""),
            appointments=tuple(a for obj in related["appointments"] if (a := conv.appointment(obj))),
            insurance=PatientInsurance(
                primary=coverage.get(CoverageRank.PRIMARY), secondary=coverage.get(CoverageRank.SECONDARY)
            ),
            procedures=tuple(procedures),
            clinical_notes=tuple(n for obj in related["clinical_notes"] if (n := conv.clinical_note(obj))),
            treatment_cases=tuple(cases),
            recalls=tuple(r for obj in related["recalls"] if (r := conv.recall(obj))),
            documents=tuple(d for obj in related["documents"] if (d := conv.document(obj))),
            guarantor_balance=balance,
            referred_by=referred_by,
            medical_alerts=tuple(m for obj in related["medical_alerts"] if (m := conv.medical_alert(obj))),
        )
        return canonical_bundle(bundle)
