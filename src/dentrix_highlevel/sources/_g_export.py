"""``GExportSource``: a Dentrix G structured export (folder or ``.zip``, SOURCE-NOTES §7) as patient bundles.

Reading happens in two steps. *Staging* streams every CSV once into a private SQLite index (validating
values, dropping duplicate keys, checking references; every bad row becomes a :class:`SourceIssue`).
*Bundling* then walks patients in a stable order (families together, guarantor first) a chunk at a time.
Both are synchronous SQLite work; the async surface runs them in a worker thread so an event loop never
blocks: ``async for bundle in source.bundles(): ...``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import stat
import threading
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import anyio
import anyio.to_thread
import attrs

from dentrix_highlevel._errors import ConfigurationError, DocumentFileError, SourceFileError
from dentrix_highlevel.records import (
    Appointment,
    AppointmentStatusCode,
    AppointmentType,
    CodeDefinition,
    Document,
    Employer,
    InsurancePlan,
    Operatory,
    PatientBundle,
    PracticeInfo,
    ProcedureCode,
    Provider,
    RecallType,
    ReferralSource,
    Staff,
)
from dentrix_highlevel.sources._csv import CsvStream, normalise_encoding, sniff_encoding
from dentrix_highlevel.sources._g_export_build import BundleBuilder, SharedTables
from dentrix_highlevel.sources._g_export_specs import FILE_SPECS, REQUIRED_FILES, SPECS_BY_NAME, FileSpec
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue
from dentrix_highlevel.sources._staging import StagedFile, Staging
from dentrix_highlevel.sources._staging_dirs import (
    COMPLETE_MARKER,
    KEPT_PREFIX,
    new_staging_dir,
    remove_kept_staging,
)

__all__ = ["FileCount", "GExportSource"]

_log = logging.getLogger(__name__)

_HEAD_BYTES = 256 * 1024
#: Part of every kept staging's content key: bump it when what staging stores changes shape, so a copy
#: kept by an older version is staged again rather than misread.
_KEPT_FORMAT = 1
_HASH_CHUNK = 1 << 20
_READ_HINT = 1 << 20
#: HighLevel's media API takes at most 25 MB per file (API-NOTES §7): a larger document is refused here.
MAX_DOCUMENT_BYTES = 25 * 1024 * 1024
_RATIO_FLOOR_BYTES = 1 << 20  # tiny members may compress absurdly well; only judge the ratio above 1 MiB
#: What ``zipfile`` raises when a member's data disagrees with its headers (bad CRC, a stream that ends
#: before or runs past the declared size, corrupt deflate data).
_ZIP_READ_ERRORS = (zipfile.BadZipFile, EOFError, zlib.error)


@attrs.frozen(kw_only=True)
class FileCount:
    """Per-file figures for the availability report (no values, only counts and column names)."""

    file: str
    present: bool
    required: bool
    rows: int = 0  # data rows in the file (records + rows that could not be used)
    records: int = 0
    dropped: int = 0
    issues: int = 0
    encoding: str | None = None
    columns: tuple[str, ...] = ()  # known columns present
    extra_columns: tuple[str, ...] = ()  # unknown columns kept in the records' ``extra``


def _file_issue(file: str, code: IssueCode, message: str, *, row_dropped: bool = False) -> SourceIssue:
    """An issue about a whole member of the export (it has no line or column to point at)."""
    return SourceIssue(file=file, line=None, column=None, code=code, message=message, row_dropped=row_dropped)


class _Archive:
    """The export's files, from a folder or a zip, opened safely."""

    def __init__(
        self,
        path: Path,
        *,
        max_uncompressed_bytes: int,
        max_compression_ratio: float,
        issues: list[SourceIssue],
    ) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._members: dict[str, str] = {}  # lower-case base name -> member/file name
        self._max_bytes = max_uncompressed_bytes
        if path.is_dir():
            for item in sorted(path.iterdir()):
                if item.is_file():
                    self._members.setdefault(item.name.lower(), item.name)
            return
        if not path.is_file():
            raise SourceFileError(f"export not found: {path.name}", file=path.name)
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceFileError(
                f"{path.name} is not a readable folder or zip file", file=path.name
            ) from exc
        total = 0
        for info in self._zip.infolist():
            if info.is_dir():
                continue
            name = info.filename
            parts = PurePosixPath(name.replace("\\", "/")).parts
            if name.startswith(("/", "\\")) or ".." in parts or PureWindowsPath(name).drive:
                issues.append(
                    _file_issue(
                        name,
                        IssueCode.UNSAFE_MEMBER,
                        "absolute or parent-relative path in the zip; member not read",
                        row_dropped=True,
                    )
                )
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _RATIO_FLOOR_BYTES and ratio > max_compression_ratio:
                raise SourceFileError(
                    f"{name} expands {ratio:.0f}x (limit {max_compression_ratio:.0f}x): likely a zip bomb",
                    file=name,
                )
            total += info.file_size
            if total > max_uncompressed_bytes:
                raise SourceFileError(
                    f"the zip expands beyond {max_uncompressed_bytes} bytes: refusing it", file=path.name
                )
            self._members.setdefault(parts[-1].lower(), name)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    @property
    def is_zip(self) -> bool:
        return self._zip is not None

    def find(self, name: str) -> str | None:
        return self._members.get(name.lower())

    def names(self) -> list[str]:
        return list(self._members.values())

    def read_bytes(self, member: str) -> bytes:
        return b"".join(self.lines(member))

    def head(self, member: str) -> bytes:
        if self._zip is not None:
            try:
                with self._zip.open(member) as fh:
                    return fh.read(_HEAD_BYTES)
            except _ZIP_READ_ERRORS as exc:
                raise self._lying(member) from exc
        with open(self.path / member, "rb") as fh:
            return fh.read(_HEAD_BYTES)

    def lines(self, member: str, sha: Any = None) -> Iterator[bytes]:
        """Raw lines (with their endings), counting bytes against the limit and hashing as they pass.

        A zip member is read no further than the size its headers declare: the size and ratio checks in
        ``__init__`` judged the declared sizes, so data beyond them (a crafted zip, a bomb in disguise) is
        refused with a :class:`SourceFileError` naming the member, as is a stream that ends early or fails
        its CRC (``zipfile`` reports those as ``BadZipFile`` / ``EOFError`` / ``zlib.error``)."""
        seen = 0
        limit = self._max_bytes
        if self._zip is not None:
            limit = min(limit, self._zip.getinfo(member).file_size)
        opener = self._zip.open(member) if self._zip is not None else open(self.path / member, "rb")  # noqa: SIM115
        try:
            with opener as fh:
                # A block of lines at a time: counting and hashing per line cost more than parsing them.
                # A block that crosses the limit is refused before any of it is yielded.
                while block := fh.readlines(_READ_HINT):
                    seen += sum(map(len, block))
                    if seen > limit:
                        if self._zip is not None and limit < self._max_bytes:
                            raise self._lying(member)
                        raise SourceFileError(
                            f"{member} expands beyond the size limit: refusing it", file=member
                        )
                    if sha is not None:
                        sha.update(b"".join(block))
                    yield from block
            if self._zip is not None and seen != self._zip.getinfo(member).file_size:
                raise self._lying(member)  # less data than declared: the headers are not this file's
        except _ZIP_READ_ERRORS as exc:
            if self._zip is None:
                raise
            raise self._lying(member) from exc

    def _lying(self, member: str) -> SourceFileError:
        return SourceFileError(
            f"{member} in {self.path.name} does not match the size or CRC its zip headers declare "
            "(a damaged or crafted zip): refusing it",
            file=member,
        )


class GExportSource:
    """A Dentrix G structured export: a folder or ``.zip`` with ``manifest.json`` and one CSV per object.

    ``practice_timezone`` overrides the manifest's IANA zone; ``encoding`` overrides the manifest's (else it
    is sniffed per file: UTF-8 with or without BOM, else Windows-1252). The staging index goes into a new
    owner-only directory under ``staging_dir`` (default: the system temp dir) and is deleted by
    :meth:`close` (or leaving ``with`` / ``async with``). ``chunk_size`` is how many patients are bundled per
    worker-thread call.

    In a work directory (:meth:`use_staging_dir`, which a ``Migration`` calls) the staged copy is kept
    after :meth:`close` and reused by the next source of the same export while its content key matches
    (see :meth:`use_staging_dir`).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        practice_timezone: str | None = None,
        encoding: str | None = None,
        staging_dir: str | os.PathLike[str] | None = None,
        chunk_size: int = 64,
        max_uncompressed_bytes: int = 64 * 1024**3,
        max_compression_ratio: float = 200.0,
        patient_attach_types: frozenset[int] = frozenset({1}),
    ) -> None:
        if chunk_size < 1:
            raise ConfigurationError("chunk_size must be at least 1")
        self._path = Path(path)
        self._tz_override = practice_timezone
        self._encoding_override = (
            normalise_encoding(encoding, where="the encoding option") if encoding is not None else None
        )
        self._staging_parent = Path(staging_dir) if staging_dir is not None else None
        self._chunk_size = chunk_size
        self._max_bytes = max_uncompressed_bytes
        self._max_ratio = max_compression_ratio
        self._attach_types = patient_attach_types
        self._lock = threading.Lock()
        self._issues: list[SourceIssue] = []
        self._staging: Staging | None = None
        self._staging_dir: Path | None = None
        self._keep = False  # stage into the work directory's kept copy (use_staging_dir)
        self._kept = False  # the open index is a kept copy: close() leaves it for the next command
        self._builder: BundleBuilder | None = None
        self._shared: SharedTables | None = None
        self._manifest: dict[str, Any] = {}
        self._timezone: str | None = None
        self._closed = False
        self._root = ""  # the folder inside a zip that holds the export's files ("" at the top)
        self._documents_zip: zipfile.ZipFile | None = None

    def __repr__(self) -> str:
        return f"GExportSource({self._path.name!r}, staged={self._builder is not None})"

    # ------------------------------------------------------------------------------------ lifecycle

    def __enter__(self) -> GExportSource:
        self.stage()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> GExportSource:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def open(self) -> None:
        """Stage the export in a worker thread (no-op once staged)."""
        if self._builder is None:
            await anyio.to_thread.run_sync(self.stage)

    def close(self) -> None:
        """Close and delete the staging index (it holds PHI)."""
        with self._lock:
            self._closed = True
            if self._staging is not None:
                self._staging.close()
                self._staging = None
            if self._staging_dir is not None:
                if not self._kept:
                    shutil.rmtree(self._staging_dir, ignore_errors=True)
                self._staging_dir = None
            self._builder = None
            if self._documents_zip is not None:
                self._documents_zip.close()
                self._documents_zip = None

    def use_staging_dir(self, directory: str | os.PathLike[str]) -> None:
        """Stage under ``directory``, a work directory's ``staging`` folder, unless ``staging_dir`` was
        given elsewhere (a migration passes its own, so the export's copy stays with its other private
        files). No effect once staged.

        There the staged copy is kept: the next source of the same export (plan, approve, sample, run,
        delta, reconcile) reads it instead of staging again, while the export's *content key* matches:
        the name, size, modification time and SHA-256 of every file of the export (of the zip itself
        for a ``.zip``), with the options that change what staging produces and the library version.
        A copy is published (renamed to ``export-<key>``) only after its completion marker is written,
        so a staging killed mid-way is never reused; the work directory keeps one, the newest."""
        with self._lock:
            if self._staging is not None:
                return
            where = Path(directory)
            if self._staging_parent is None:
                self._staging_parent = where
            if os.path.abspath(self._staging_parent) == os.path.abspath(where):
                self._keep = True

    # -------------------------------------------------------------------------------------- staging

    def stage(self) -> None:
        """Read every file of the export into the staging index. Idempotent; synchronous."""
        with self._lock:
            if self._builder is not None:
                return
            if self._closed:
                raise SourceFileError("this source is closed", file=self._path.name)
            issues: list[SourceIssue] = []
            archive = _Archive(
                self._path,
                max_uncompressed_bytes=self._max_bytes,
                max_compression_ratio=self._max_ratio,
                issues=issues,
            )
            try:
                key = self._content_key(archive) if self._keep else None
                if key is not None and self._reuse(key[0]):
                    return
                self._stage(archive, issues)
                # Published only if no file moved while it was read: the copy is then that content's.
                if key is not None and self._signature(archive) == key[1]:
                    self._publish(key[0])
            except BaseException:
                if self._staging is not None:
                    self._staging.close()
                    self._staging = None
                if self._staging_dir is not None and not self._kept:
                    shutil.rmtree(self._staging_dir, ignore_errors=True)
                self._staging_dir = None
                raise
            finally:
                archive.close()

    # ---------------------------------------------------------------------------- the kept copy

    def _export_files(self, archive: _Archive) -> list[Path]:
        if archive.is_zip:
            return [self._path]
        return [self._path / name for name in sorted(archive.names())]

    def _signature(self, archive: _Archive) -> list[tuple[str, int, int]]:
        """Name, size and modification time of every file of the export: cheap, and checked again
        after staging (a file that changed while it was read is not published)."""
        out = []
        for path in self._export_files(archive):
            info = path.stat()
            out.append((path.name, info.st_size, info.st_mtime_ns))
        return out

    def _content_key(self, archive: _Archive) -> tuple[str, list[tuple[str, int, int]]]:
        """The export's content key (hex) and the signature it was taken on: sizes and mtimes, and a
        streaming SHA-256 of every byte (a copy that kept its mtime still differs), with the options that
        change what staging produces, the kept format and the library version."""
        from dentrix_highlevel._version import __version__

        signature = self._signature(archive)
        sha = hashlib.sha256()
        options = [_KEPT_FORMAT, __version__, self._tz_override, self._encoding_override]
        sha.update(json.dumps([options, self._max_bytes, self._max_ratio, signature]).encode())
        for path in self._export_files(archive):
            with open(path, "rb") as fh:
                while chunk := fh.read(_HASH_CHUNK):
                    sha.update(chunk)
            sha.update(b"\0")
        return sha.hexdigest(), signature

    def _kept_dir(self, key: str) -> Path:
        assert self._staging_parent is not None
        return self._staging_parent / f"{KEPT_PREFIX}{key[:32]}"

    def _reuse(self, key: str) -> bool:
        """Open the kept copy of this content key, if a complete one is there. An incomplete, damaged or
        not owner-only one is removed (it holds PHI and is useless) and the export staged again."""
        kept = self._kept_dir(key)
        try:
            complete = (kept / COMPLETE_MARKER).read_text("utf-8").splitlines()[:1] == [key]
            private = kept.stat().st_mode & 0o077 == 0 and not kept.is_symlink()
        except (OSError, UnicodeDecodeError):
            complete = private = False
        if not (complete and private):
            shutil.rmtree(kept, ignore_errors=True)
            return False
        staging: Staging | None = None
        try:
            staging = Staging(kept / "staging.sqlite3", kept=True)
            extra, issues = staging.load()
            manifest, timezone, root = extra["manifest"], extra["timezone"], extra["root"]
            if not (isinstance(manifest, dict) and isinstance(timezone, str) and isinstance(root, str)):
                raise ValueError("the kept index's metadata has the wrong shape")
            self._manifest, self._timezone, self._root = manifest, timezone, root
            self._staging, self._staging_dir, self._kept = staging, kept, True
            self._finish(issues)
        except (sqlite3.Error, LookupError, ValueError, TypeError, OSError):
            _log.warning("the kept staging copy %s is unreadable: staging the export again", kept.name)
            if staging is not None:
                staging.close()
            self._staging, self._staging_dir, self._kept = None, None, False
            self._builder = self._shared = None
            shutil.rmtree(kept, ignore_errors=True)
            return False
        _log.info("reusing the staged copy of the export (%s)", kept.name)
        return True

    def _publish(self, key: str) -> None:
        """Keep the finished index for the next command: bookkeeping saved, data on disk, the completion
        marker written last, then the directory renamed to ``export-<key>``; older kept copies go. Any
        failure leaves it a temporary index (removed on close): never a reason to fail the command."""
        assert self._staging is not None
        assert self._staging_dir is not None
        built, kept = self._staging_dir, self._kept_dir(key)
        try:
            extra: dict[str, object] = {
                "manifest": self._manifest,
                "timezone": self._timezone,
                "root": self._root,
            }
            self._staging.save(extra, self._issues)
            _fsync(built / "staging.sqlite3")
            fd = os.open(built / COMPLETE_MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                # The key, then this build's own id: a test (or an operator) can tell a reuse from a
                # new staging of the same content.
                os.write(fd, f"{key}\n{uuid.uuid4().hex}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            built.rename(kept)  # fails if another command published the same copy first: ours stays temp
        except (OSError, sqlite3.Error) as exc:
            _log.warning("the staged copy is not kept for the next command (%s)", type(exc).__name__)
            return
        self._staging_dir, self._kept = kept, True
        remove_kept_staging(kept.parent, but=kept)

    def check(self) -> None:
        """The export's cheap checks, without staging it: the manifest, the practice's time zone, the
        required files and every declared encoding (each error located as staging would locate it). A
        command runs them before it asks HighLevel anything, and stages only after."""
        with self._lock:
            if self._builder is not None:
                return
            archive = _Archive(
                self._path,
                max_uncompressed_bytes=self._max_bytes,
                max_compression_ratio=self._max_ratio,
                issues=[],
            )
            try:
                self._read_manifest(archive)
                for spec, _, declared in self._present_files(archive):
                    self._declared_encoding(spec, declared)
            finally:
                archive.close()

    def _present_files(self, archive: _Archive) -> Iterator[tuple[FileSpec, str, dict[str, Any]]]:
        """Each file of the format the export holds: its spec, its member and what the manifest declares
        for it (by the member's own name, else the spec's)."""
        files = self._manifest.get("files") if isinstance(self._manifest.get("files"), dict) else {}
        assert isinstance(files, dict)
        for spec in FILE_SPECS:
            member = next((m for m in (archive.find(n) for n in (spec.name, *spec.aliases)) if m), None)
            if member is not None:
                declared = files.get(PurePosixPath(member).name) or files.get(spec.name) or {}
                yield spec, member, declared if isinstance(declared, dict) else {}

    def _read_manifest(self, archive: _Archive) -> str | None:
        """Read and check ``manifest.json``, the time zone and the required files; returns the manifest's
        member name (None: read without one)."""
        manifest_member = archive.find("manifest.json")
        if manifest_member is not None:
            try:
                manifest = json.loads(archive.read_bytes(manifest_member).decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SourceFileError("manifest.json is not valid JSON", file="manifest.json") from exc
            if not isinstance(manifest, dict):
                raise SourceFileError("manifest.json is not a JSON object", file="manifest.json")
            self._manifest = manifest
        elif self._tz_override is None:
            raise SourceFileError(
                "manifest.json is missing (pass practice_timezone= to read an export without one)",
                file="manifest.json",
            )
        timezone = self._tz_override or self._manifest.get("practice_timezone")
        if not isinstance(timezone, str) or not timezone:
            raise SourceFileError("manifest.json has no practice_timezone", file="manifest.json")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigurationError(f"unknown practice time zone: {timezone!r}") from exc
        self._timezone = timezone
        anchor = manifest_member or archive.find("v_patient.csv")
        folder = PurePosixPath(anchor.replace("\\", "/")).parent if anchor else PurePosixPath(".")
        self._root = "" if str(folder) == "." else f"{folder}/"
        for name in REQUIRED_FILES:
            spec = SPECS_BY_NAME[name]
            if not any(archive.find(n) for n in (name, *spec.aliases)):
                raise SourceFileError(f"the export lacks the required file {name}", file=name)
        return manifest_member

    def _stage(self, archive: _Archive, issues: list[SourceIssue]) -> None:
        manifest_member = self._read_manifest(archive)
        self._staging_dir = new_staging_dir("dentrix-highlevel-staging-", self._staging_parent)
        self._staging = Staging(self._staging_dir / "staging.sqlite3")
        known = set()
        for spec, member, declared in self._present_files(archive):
            known.add(member)
            self._stage_file(archive, spec, member, declared, issues)
        for member in archive.names():
            if member not in known and member != manifest_member and member.lower().endswith(".csv"):
                issues.append(
                    _file_issue(
                        member, IssueCode.UNKNOWN_FILE, "not a file of the Dentrix G export format; not read"
                    )
                )
        self._staging.check_keys(issues)
        self._finish(issues)

    def _finish(self, issues: list[SourceIssue]) -> None:
        """The shared tables and the bundle builder on a staged index (just built, or kept)."""
        assert self._staging is not None
        timezone = self._timezone
        assert timezone is not None
        present = set(self._staging.staged)
        self._shared = SharedTables(self._staging.db, present, timezone)
        practice = self._manifest.get("practice") if isinstance(self._manifest.get("practice"), dict) else {}
        assert isinstance(practice, dict)
        self._shared.practice = attrs.evolve(
            self._shared.practice,
            practice_id=str(practice["id1"]) if practice.get("id1") else None,
            name=self._shared.practice.name or (str(practice["name"]) if practice.get("name") else None),
        )
        builder = BundleBuilder(self._staging.db, present, self._shared, timezone)
        builder.patient_attach_types = self._attach_types
        self._issues = issues
        self._builder = builder

    def _declared_encoding(self, spec: FileSpec, declared: dict[str, Any]) -> str | None:
        """The encoding a file is read with when one is given (None: sniff it). A declared encoding is
        checked where it is declared (42, "rot13" or a typo is named with its key, never silently
        replaced by sniffing)."""
        if self._encoding_override is not None:
            return self._encoding_override
        if declared.get("encoding") is not None:
            where = f'manifest.json key "files.{spec.name}.encoding"'
            return normalise_encoding(declared["encoding"], where=where, file="manifest.json")
        if self._manifest.get("encoding") is not None:
            where = 'manifest.json key "encoding"'
            return normalise_encoding(self._manifest["encoding"], where=where, file="manifest.json")
        return None

    def _stage_file(
        self,
        archive: _Archive,
        spec: FileSpec,
        member: str,
        declared: dict[str, Any],
        issues: list[SourceIssue],
    ) -> None:
        assert self._staging is not None
        encoding = self._declared_encoding(spec, declared) or sniff_encoding(archive.head(member))
        sha = hashlib.sha256()
        stream = CsvStream(archive.lines(member, sha), file=member, encoding=encoding)
        staged = StagedFile(spec=spec, member=member, encoding=encoding)
        self._staging.stage_file(staged, stream, issues)
        rows = declared.get("rows")
        if isinstance(rows, int) and rows != staged.rows:
            issues.append(
                _file_issue(
                    member,
                    IssueCode.MANIFEST_MISMATCH,
                    f"manifest.json says {rows} rows, the file has {staged.rows}",
                )
            )
        digest = declared.get("sha256")
        if isinstance(digest, str) and digest.lower() != sha.hexdigest():
            issues.append(
                _file_issue(
                    member,
                    IssueCode.MANIFEST_MISMATCH,
                    "sha256 differs from manifest.json: the file changed after export",
                )
            )

    # ------------------------------------------------------------------------------------ reading

    def _ready(self) -> tuple[BundleBuilder, SharedTables]:
        if self._builder is None or self._shared is None:
            self.stage()
        assert self._builder is not None
        assert self._shared is not None
        return self._builder, self._shared

    def _chunk(
        self, after: str, modified_since: dt.datetime | None, *, survey: bool = False
    ) -> tuple[str | None, list[PatientBundle]]:
        builder, _ = self._ready()
        with self._lock:
            rows = builder.db.execute(
                "SELECT * FROM t_v_patient WHERE _sort > ? ORDER BY _sort LIMIT ?", (after, self._chunk_size)
            ).fetchall()
            if not rows:
                return None, []
            bundles = list(builder.survey_bundles(rows) if survey else builder.bundles(rows))
        if modified_since is not None:
            bundles = [b for b in bundles if b.modified_at is None or b.modified_at >= modified_since]
        return rows[-1]["_sort"], bundles

    def _local(self, when: dt.datetime | None) -> dt.datetime | None:
        """Aware datetimes are converted to the practice's naive local time (how Dentrix stamps changes)."""
        if when is None or when.tzinfo is None:
            return when
        self._ready()
        assert self._timezone is not None
        return when.astimezone(ZoneInfo(self._timezone)).replace(tzinfo=None)

    async def bundles(self, *, modified_since: dt.datetime | None = None) -> AsyncIterator[PatientBundle]:
        """Every patient's bundle, families together (guarantor first), chunks read in a worker thread.

        ``modified_since`` keeps bundles whose newest change stamp is at or after it (bundles without any
        stamp are kept: the export cannot tell they did not change).
        """
        await self.open()
        since = self._local(modified_since)
        cursor: str | None = ""
        while cursor is not None:
            cursor, chunk = await anyio.to_thread.run_sync(self._chunk, cursor, since)
            # Handed out and let go of one by one: a bundle lives as long as its consumer keeps it, not
            # until the chunk is done (every bundle a chunk holds is heap a full garbage collection walks,
            # with the caller's event loop waiting on the interpreter lock).
            chunk.reverse()
            while chunk:
                yield chunk.pop()

    async def survey_bundles(self) -> AsyncIterator[PatientBundle]:
        """Every patient in the order of :meth:`bundles`, as a *survey bundle*: the patient record and the
        patient's appointments exactly as :meth:`bundles` gives them, every other part empty.

        For a quick first pass over a large practice (a run's contact-point assignment and calendars read
        only these), about three times faster than :meth:`bundles`. Not for mapping other parts, for
        ``content_hash()`` or for change stamps: those need the whole bundle.
        """
        await self.open()
        cursor: str | None = ""
        while cursor is not None:
            cursor, chunk = await anyio.to_thread.run_sync(
                functools.partial(self._chunk, cursor, None, survey=True)
            )
            chunk.reverse()
            while chunk:
                yield chunk.pop()

    def iter_bundles(self, *, modified_since: dt.datetime | None = None) -> Iterator[PatientBundle]:
        """The synchronous twin of :meth:`bundles`."""
        since = self._local(modified_since)
        cursor: str | None = ""
        while cursor is not None:
            cursor, chunk = self._chunk(cursor, since)
            chunk.reverse()
            while chunk:
                yield chunk.pop()

    def get_bundle(self, patient_id: str) -> PatientBundle | None:
        builder, _ = self._ready()
        with self._lock:
            rows = builder.db.execute(
                "SELECT * FROM t_v_patient WHERE patient_id = ?", (patient_id,)
            ).fetchall()
            return next(builder.bundles(rows), None) if rows else None

    @property
    def issues(self) -> tuple[SourceIssue, ...]:
        self._ready()
        return tuple(self._issues)

    @property
    def counts(self) -> dict[str, FileCount]:
        """Per-file counts for every file of the format (present or not), keyed by the format's file name."""
        self._ready()
        assert self._staging is not None
        out: dict[str, FileCount] = {}
        for spec in FILE_SPECS:
            staged = self._staging.staged.get(spec.name)
            if staged is None:
                out[spec.name] = FileCount(file=spec.name, present=False, required=spec.required)
            else:
                out[spec.name] = FileCount(
                    file=staged.member,
                    present=True,
                    required=spec.required,
                    rows=staged.rows,
                    records=staged.records,
                    dropped=staged.dropped,
                    issues=staged.issues,
                    encoding=staged.encoding,
                    columns=staged.columns,
                    extra_columns=staged.extra_columns,
                )
        return out

    @property
    def patient_count(self) -> int:
        builder, _ = self._ready()
        with self._lock:
            return int(builder.db.execute("SELECT COUNT(*) FROM t_v_patient").fetchone()[0])

    @property
    def practice_timezone(self) -> str:
        self._ready()
        assert self._timezone is not None
        return self._timezone

    @property
    def practice(self) -> PracticeInfo:
        return self._ready()[1].practice

    @property
    def manifest(self) -> dict[str, Any]:
        """The export's manifest as read (ids, counts and hashes; no patient values)."""
        self._ready()
        return dict(self._manifest)

    # ------------------------------------------------------------------------- non-patient objects

    def providers(self) -> tuple[Provider, ...]:
        return tuple(self._ready()[1].providers.values())

    def staff(self) -> tuple[Staff, ...]:
        return self._ready()[1].staff

    def operatories(self) -> tuple[Operatory, ...]:
        return tuple(self._ready()[1].operatories.values())

    def appointment_statuses(self) -> tuple[AppointmentStatusCode, ...]:
        return tuple(self._ready()[1].statuses.values())

    def appointment_types(self) -> tuple[AppointmentType, ...]:
        return tuple(self._ready()[1].appointment_types.values())

    def procedure_codes(self) -> tuple[ProcedureCode, ...]:
        return tuple(self._ready()[1].procedure_codes.values())

    def insurance_plans(self) -> tuple[InsurancePlan, ...]:
        return tuple(self._ready()[1].plans.values())

    def referral_sources(self) -> tuple[ReferralSource, ...]:
        return tuple(self._ready()[1].referrals.values())

    def recall_types(self) -> tuple[RecallType, ...]:
        return tuple(self._ready()[1].recall_types.values())

    def employers(self) -> tuple[Employer, ...]:
        return tuple(self._ready()[1].employers.values())

    def code_definitions(self) -> tuple[CodeDefinition, ...]:
        """Payment, adjustment and billing types, document types, referral specialties, medical alerts."""
        return self._ready()[1].code_definitions()

    def unattached_appointments(self) -> tuple[Appointment, ...]:
        """Appointments booked without a Family File record (``patient_id`` 0): new patients never entered."""
        builder, _ = self._ready()
        with self._lock:
            rows = builder.db.execute(
                "SELECT * FROM t_v_appointment WHERE patient_id IS NULL ORDER BY rowid"
            ).fetchall()
            return tuple(builder.appointment(r) for r in rows)

    # ---------------------------------------------------------------------------------- documents

    def read_document(self, document: Document, *, max_bytes: int = MAX_DOCUMENT_BYTES) -> bytes:
        """The bytes of a document's file from the export's ``documents/`` folder (folder or zip).

        Refuses, with a :class:`DocumentFileError` naming the document id (never the path, which can
        hold a patient's name, nor the content): a path that leaves ``documents/`` (absolute, ``..``, a
        drive, or a real path outside the real ``documents/`` once every link is resolved, ``documents``
        itself included), anything but a regular file, a hard link, a missing file, one over ``max_bytes``
        (HighLevel's 25 MB by default), and one whose SHA-256 differs from the export's ``sha256`` column.
        A blank ``sha256`` is not checked here: the upload step refuses such a document unless the policy
        ``upload_unverified_documents`` says otherwise. Synchronous.
        """
        self._ready()
        doc_id = document.document_id
        relative = _document_path(document)
        if self._path.is_dir():
            data = self._read_document_file(doc_id, relative, max_bytes)
        else:
            with self._lock:
                data = self._read_document_member(doc_id, relative, max_bytes)
        expected = (document.sha256 or "").strip().lower()
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise DocumentFileError(
                "the file's SHA-256 differs from the export's: not uploaded",
                document_id=doc_id,
                reason="checksum",
            )
        return data

    def _read_document_file(self, doc_id: str, relative: PurePosixPath, max_bytes: int) -> bytes:
        """Read one file below ``documents/`` of a folder export, refusing anything that is not a plain,
        singly-linked file of the export itself.

        Containment is judged on real paths: the export root, ``documents`` and the file are all resolved
        (every link followed), ``documents`` must lie inside the real root and the file inside the real
        ``documents``. Resolving the base *through* a symlinked ``documents`` (to a home directory, or to
        ``/proc/self``) would otherwise make anything it points at look like part of the export. The file is
        then opened component by component from the real root with ``O_NOFOLLOW`` (a link swapped in after
        the check is refused, not followed) and judged on ``fstat`` of the opened descriptor, so what is
        read is what was checked.
        """
        try:
            root = self._path.resolve(strict=True)
            docs = (root / "documents").resolve(strict=True)
            target = docs.joinpath(*relative.parts).resolve(strict=True)
        except FileNotFoundError:
            raise DocumentFileError(
                "the file is not in the export's documents/", document_id=doc_id, reason="missing"
            ) from None
        except (OSError, RuntimeError) as exc:  # a link loop, a permission error
            raise DocumentFileError(
                "the file cannot be opened", document_id=doc_id, reason="unreadable"
            ) from exc
        if docs == root or not docs.is_relative_to(root):
            raise DocumentFileError(
                "the export's documents/ folder is a link leaving the export: refused",
                document_id=doc_id,
                reason="unsafe_path",
            )
        if not target.is_relative_to(docs):
            raise DocumentFileError(
                "the file's real path leaves the export's documents/ folder: refused",
                document_id=doc_id,
                reason="unsafe_path",
            )
        fd = _open_below(root, target.relative_to(root), doc_id)
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DocumentFileError(
                    "the file is not a regular file (a device, a pipe or a folder): refused",
                    document_id=doc_id,
                    reason="not_regular",
                )
            if info.st_nlink > 1:
                # Another name for the same bytes may live anywhere on the file system (a hard link to a
                # key or a database): a document of the export has exactly one.
                raise DocumentFileError(
                    "the file is a hard link (more than one name for its data): refused",
                    document_id=doc_id,
                    reason="hard_link",
                )
            if info.st_size > max_bytes:
                raise _too_large(doc_id, max_bytes)
            try:
                data = fh.read(max_bytes + 1)
            except OSError as exc:
                raise DocumentFileError(
                    "the file cannot be read", document_id=doc_id, reason="unreadable"
                ) from exc
        if len(data) > max_bytes:
            raise _too_large(doc_id, max_bytes)
        if len(data) != info.st_size:
            # A size that moves while it is read is not the file the export listed.
            raise DocumentFileError(
                "the file changed while it was read", document_id=doc_id, reason="unreadable"
            )
        return data

    def _read_document_member(self, doc_id: str, relative: PurePosixPath, max_bytes: int) -> bytes:
        if self._documents_zip is None:
            try:
                self._documents_zip = zipfile.ZipFile(self._path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DocumentFileError(
                    "the export cannot be opened", document_id=doc_id, reason="unreadable"
                ) from exc
        member = f"{self._root}documents/{relative}"
        try:
            info = self._documents_zip.getinfo(member)
        except KeyError:
            raise DocumentFileError(
                "the file is not in the export", document_id=doc_id, reason="missing"
            ) from None
        if info.is_dir():
            raise DocumentFileError("the file is not in the export", document_id=doc_id, reason="missing")
        if info.file_size > max_bytes:
            raise _too_large(doc_id, max_bytes)
        try:
            with self._documents_zip.open(info) as fh:
                # The declared size can lie (a crafted zip): never read more than the limit allows.
                data = fh.read(max_bytes + 1)
        except (*_ZIP_READ_ERRORS, OSError, RuntimeError) as exc:
            raise DocumentFileError(
                "the file cannot be read", document_id=doc_id, reason="unreadable"
            ) from exc
        if len(data) > max_bytes:
            raise _too_large(doc_id, max_bytes)
        return data


def _open_below(root: Path, relative: PurePosixPath | Path, doc_id: str) -> int:
    """An fd for ``root/relative`` opened one component at a time with ``O_NOFOLLOW``: no symlink anywhere
    below ``root`` is followed, even one created after the real path was checked. ``O_NONBLOCK`` keeps a
    FIFO from hanging the open (it is then refused by ``fstat``)."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    directory = getattr(os, "O_DIRECTORY", 0)
    nonblock = getattr(os, "O_NONBLOCK", 0)
    parts = relative.parts
    try:
        fd = os.open(root, os.O_RDONLY | directory)
    except OSError as exc:
        raise DocumentFileError(
            "the export cannot be opened", document_id=doc_id, reason="unreadable"
        ) from exc
    try:
        for part in parts[:-1]:
            parent = fd
            try:
                fd = os.open(part, os.O_RDONLY | directory | nofollow, dir_fd=parent)
            finally:
                os.close(parent)
        parent = fd
        try:
            fd = os.open(parts[-1], os.O_RDONLY | nofollow | nonblock, dir_fd=parent)
        finally:
            os.close(parent)
    except OSError as exc:
        # ELOOP / ENOTDIR: a component became a symlink after the check; anything else is unreadable.
        raise DocumentFileError(
            "the file cannot be opened without following a link: refused",
            document_id=doc_id,
            reason="unsafe_path",
        ) from exc
    return fd


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _too_large(doc_id: str, max_bytes: int) -> DocumentFileError:
    return DocumentFileError(
        f"the file is larger than {max_bytes} bytes (HighLevel's upload limit)",
        document_id=doc_id,
        reason="too_large",
    )


def _document_path(document: Document) -> PurePosixPath:
    """The file's path inside ``documents/`` (a leading ``documents/`` is accepted), or a refusal."""
    doc_id = document.document_id
    raw = (document.file_path or "").strip()
    if not raw:
        raise DocumentFileError("the export has no file for it", document_id=doc_id, reason="missing")
    text = raw.replace("\\", "/")
    if text.startswith("/") or PureWindowsPath(raw).drive or ":" in text:
        raise DocumentFileError(
            "the file path is absolute: refused", document_id=doc_id, reason="unsafe_path"
        )
    parts = [p for p in PurePosixPath(text).parts if p not in ("", ".")]
    if ".." in parts:
        raise DocumentFileError(
            "the file path leaves the export's documents/ folder", document_id=doc_id, reason="unsafe_path"
        )
    if parts and parts[0].lower() == "documents":
        parts = parts[1:]
    if not parts:
        raise DocumentFileError("the export has no file for it", document_id=doc_id, reason="missing")
    return PurePosixPath(*parts)
