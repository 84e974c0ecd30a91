# ruff: noqa: S608 -- table and column names come from our own file specs, never from the data.
"""Staging: CSV rows → a private on-disk SQLite index, validated, deduplicated, foreign keys checked.

Memory stays flat in practice size: rows are parsed and inserted in batches, every later step (duplicate keys,
dangling references, bundling) is a SQL query over indexes. Values are stored normalised (ISO dates, plain
decimals, 0/1, ints) so reading them back is cheap. The database holds PHI: the caller creates it in an
owner-only (0o700) directory and the file itself is created 0o600 before SQLite opens it.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from dentrix_highlevel._errors import SourceFileError
from dentrix_highlevel.sources._csv import CsvReject, CsvRow, CsvStream
from dentrix_highlevel.sources._g_export_specs import SPECS_BY_NAME, Col, FileSpec, Kind
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue
from dentrix_highlevel.sources._values import (
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_int,
)

__all__ = ["StagedFile", "Staging", "sort_key"]

_BATCH = 5000
_PARSERS: dict[Kind, tuple[Callable[[str], str], IssueCode]] = {
    Kind.INT: (parse_int, IssueCode.BAD_NUMBER),
    Kind.DECIMAL: (parse_decimal, IssueCode.BAD_NUMBER),
    Kind.BOOL: (parse_bool, IssueCode.BAD_BOOLEAN),
    Kind.DATE: (parse_date, IssueCode.BAD_DATE),
    Kind.DATETIME: (parse_datetime, IssueCode.BAD_DATE),
}
_SQL_TYPE = {Kind.INT: "INTEGER", Kind.BOOL: "INTEGER"}
_TEXT, _NOTE, _KEY, _REF, _NUMBER, _PARSED = range(6)
_MODES = {
    Kind.TEXT: _TEXT,
    Kind.NOTE: _NOTE,
    Kind.KEY: _KEY,
    Kind.REF: _REF,
    Kind.INT: _NUMBER,
    Kind.BOOL: _NUMBER,
    Kind.DECIMAL: _PARSED,
    Kind.DATE: _PARSED,
    Kind.DATETIME: _PARSED,
}


def sort_key(identifier: str) -> str:
    """Order numeric ids numerically and others as text, in one sortable string."""
    return identifier.rjust(20, "0") if identifier.isdigit() else "~" + identifier


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@attrs.define
class StagedFile:
    """Bookkeeping for one staged file (mutable while staging)."""

    spec: FileSpec
    member: str  # the file's name in the folder/zip as found
    encoding: str
    columns: tuple[str, ...] = ()  # known columns present in the header
    extra_columns: tuple[str, ...] = ()
    rows: int = 0  # data rows seen (records + rows that could not be parsed)
    dropped: int = 0
    issues: int = 0

    @property
    def records(self) -> int:
        return self.rows - self.dropped


class Staging:
    """The staging database. Not thread-safe: one thread at a time (the source serialises access)."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        # check_same_thread=False: worker threads take turns (anyio.to_thread), never run concurrently.
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        # The index is disposable: no journal, no fsync. Sorting spills go to memory-bounded temp files.
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("PRAGMA cache_size=-32000")  # ~32 MB page cache, whatever the practice size
        self.staged: dict[str, StagedFile] = {}

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------------------------ staging a file

    def stage_file(self, staged: StagedFile, stream: CsvStream, issues: list[SourceIssue]) -> None:
        spec = staged.spec
        file = staged.member
        index: dict[str, int] = {}
        for i, name in enumerate(stream.header):
            index.setdefault(name.lower(), i)
        for col in spec.columns:
            if col.required and col.name.lower() not in index:
                raise SourceFileError(
                    f"{file} lacks the required column {col.name!r}", file=file, column=col.name
                )
        plan: list[tuple[Col, int]] = [
            (c, index[c.name.lower()]) for c in spec.columns if c.name.lower() in index
        ]
        known = {c.name.lower() for c in spec.columns} | {n.lower() for n in spec.ignored}
        extras = [(name, i) for i, name in enumerate(stream.header) if name and name.lower() not in known]
        staged.columns = tuple(c.name for c, _ in plan)
        staged.extra_columns = tuple(name for name, _ in extras) if spec.keeps_extra else ()
        is_patient = spec.name == "v_patient.csv"
        names = ["_line", "_extra", *(c.name for c in spec.columns)] + (["_sort"] if is_patient else [])
        col_defs = ", ".join(
            f"{_q(n)} {_SQL_TYPE.get(c.kind, 'TEXT')}" for n, c in ((c.name, c) for c in spec.columns)
        )
        extra_defs = ", _sort TEXT" if is_patient else ""
        self.db.execute(f"CREATE TABLE {spec.table} (_line INTEGER, _extra TEXT, {col_defs}{extra_defs})")
        position = {c.name: 2 + k for k, c in enumerate(spec.columns)}
        # One flat tuple per column: the row loop is the hot path of staging (millions of cells).
        steps = [
            (
                i,
                position[c.name],
                _MODES[c.kind],
                c.name,
                _PARSERS[c.kind][0] if c.kind in _PARSERS else None,
                _PARSERS[c.kind][1] if c.kind in _PARSERS else IssueCode.BAD_VALUE,
                c.int_range[0] if c.int_range else -(2**63),
                c.int_range[1] if c.int_range else 2**63 - 1,
                c.choices,
            )
            for c, i in plan
        ]
        key_positions = [(position[k], k) for k in spec.key]
        marks = ", ".join("?" * len(names))
        insert = f"INSERT INTO {spec.table} ({', '.join(_q(n) for n in names)}) VALUES ({marks})"
        width = len(names)
        batch: list[list[object]] = []
        keep_extra = spec.keeps_extra and bool(extras)

        def issue(
            line: int, column: str | None, code: IssueCode, message: str, dropped: bool, key: str | None
        ) -> None:
            staged.issues += 1
            issues.append(
                SourceIssue(
                    file=file,
                    line=line,
                    column=column,
                    code=code,
                    message=message,
                    row_dropped=dropped,
                    record_key=key,
                )
            )

        for item in stream:
            if isinstance(item, SourceIssue):
                staged.issues += 1
                issues.append(item)
                continue
            staged.rows += 1
            if isinstance(item, CsvReject):
                staged.dropped += 1
                staged.issues += 1
                issues.append(item.issue)
                continue
            assert isinstance(item, CsvRow)
            cells = item.cells
            values: list[object] = [None] * width
            values[0] = item.line
            pending: list[tuple[str, IssueCode, str]] = []
            missing: str | None = None
            for i, pos, mode, name, parser, code, low, high, choices in steps:
                raw = cells[i]
                text = raw.rstrip() if mode == _NOTE else raw.strip()
                if not text:
                    if mode == _KEY and missing is None:
                        missing = name
                    continue
                value: object
                if mode <= _KEY:  # text, note, key
                    value = text
                elif mode == _REF:
                    if text == "0":
                        continue
                    value = text
                else:
                    assert parser is not None
                    try:
                        normal = parser(text)
                    except ValueError as exc:
                        pending.append((name, code, f"{name}: {exc}"))
                        continue
                    if mode == _NUMBER:
                        number = int(normal)
                        if not low <= number <= high:
                            pending.append((name, IssueCode.BAD_NUMBER, f"{name}: out of range"))
                            continue
                        value = number
                    else:
                        value = normal
                if choices is not None:
                    probe = value.lower() if isinstance(value, str) else str(value)
                    if probe not in choices:
                        pending.append((name, IssueCode.BAD_CODE, f"{name}: not one of the known codes"))
                        continue
                    value = probe if isinstance(value, str) else value
                values[pos] = value
            key = "/".join(str(values[p]) for p, _ in key_positions if values[p] is not None) or None
            if missing is not None:
                staged.dropped += 1
                issue(
                    item.line,
                    missing,
                    IssueCode.MISSING_VALUE,
                    f"{missing} is blank; the row cannot be used",
                    True,
                    key,
                )
                continue
            for column, code, message in pending:
                issue(item.line, column, code, message, False, key)
            if keep_extra:
                found = {name: cells[i].strip() for name, i in extras if cells[i].strip()}
                if found:
                    values[1] = json.dumps(found, ensure_ascii=False)
            if is_patient:
                pid = str(values[position["patient_id"]])
                fam = values[position["guar_id"]] or pid
                assert isinstance(fam, str)
                values[-1] = f"{sort_key(fam)}|{0 if fam == pid else 1}|{sort_key(pid)}"
            batch.append(values)
            if len(batch) >= _BATCH:
                self._insert(insert, batch)
                batch.clear()
        if batch:
            self._insert(insert, batch)
        self.staged[spec.name] = staged

    def _insert(self, sql: str, batch: list[list[object]]) -> None:
        # One transaction per batch: in autocommit mode every row would be its own transaction.
        self.db.execute("BEGIN")
        self.db.executemany(sql, batch)
        self.db.execute("COMMIT")

    # ------------------------------------------------------------------------------ keys and references

    def check_keys(self, issues: list[SourceIssue]) -> None:
        """Drop duplicate primary keys, index, then report (and drop where needed) dangling references."""
        self.db.execute("BEGIN")
        for staged in self.staged.values():
            spec = staged.spec
            if spec.key:
                cols = ", ".join(_q(k) for k in spec.key)
                self.db.execute(f"CREATE INDEX {spec.table}_key ON {spec.table} ({cols})")
                rows = self.db.execute(
                    f"SELECT rowid, _line, {cols} FROM {spec.table} WHERE rowid NOT IN "
                    f"(SELECT MIN(rowid) FROM {spec.table} GROUP BY {cols})"
                ).fetchall()
                self._drop(
                    staged,
                    rows,
                    issues,
                    None,
                    IssueCode.DUPLICATE_KEY,
                    "duplicate primary key; later row dropped",
                )
            if spec.patient_column and spec.patient_column not in spec.key[:1]:
                self.db.execute(
                    f"CREATE INDEX {spec.table}_patient ON {spec.table} ({_q(spec.patient_column)})"
                )
            if spec.name == "v_patient.csv":
                self.db.execute(f"CREATE INDEX {spec.table}_sort ON {spec.table} (_sort)")
                self.db.execute(f"CREATE INDEX {spec.table}_guar ON {spec.table} (guar_id)")
        for staged in self.staged.values():
            spec = staged.spec
            for fk in spec.foreign_keys:
                target = self.staged.get(fk.target)
                if target is None or fk.column not in staged.columns:
                    continue
                parent = SPECS_BY_NAME[fk.target].table
                key_cols = "".join(f", {_q(k)}" for k in spec.key)
                rows = self.db.execute(
                    f"SELECT rowid, _line{key_cols}, {_q(fk.column)} AS ref FROM {spec.table} c "
                    f"WHERE {_q(fk.column)} IS NOT NULL AND NOT EXISTS "
                    f"(SELECT 1 FROM {parent} p WHERE p.{_q(fk.target_column)} = c.{_q(fk.column)})"
                ).fetchall()
                if fk.drop:
                    self._drop(
                        staged,
                        rows,
                        issues,
                        fk.column,
                        IssueCode.DANGLING_REFERENCE,
                        f"{fk.column} points at no row of {fk.target}; row dropped",
                    )
                else:
                    for row in rows:
                        staged.issues += 1
                        issues.append(
                            SourceIssue(
                                file=staged.member,
                                line=row["_line"],
                                column=fk.column,
                                code=IssueCode.DANGLING_REFERENCE,
                                message=f"{fk.column}={row['ref']} points at no row of {fk.target}",
                                record_key=self._key(spec, row),
                            )
                        )
        self.db.execute("COMMIT")
        self.db.execute("ANALYZE")

    @staticmethod
    def _key(spec: FileSpec, row: sqlite3.Row) -> str | None:
        parts = [str(row[k]) for k in spec.key if row[k] is not None]
        return "/".join(parts) or None

    def _drop(
        self,
        staged: StagedFile,
        rows: Iterable[sqlite3.Row],
        issues: list[SourceIssue],
        column: str | None,
        code: IssueCode,
        message: str,
    ) -> None:
        rowids = []
        for row in rows:
            rowids.append((row["rowid"],))
            staged.dropped += 1
            staged.issues += 1
            issues.append(
                SourceIssue(
                    file=staged.member,
                    line=row["_line"],
                    column=column,
                    code=code,
                    message=message,
                    row_dropped=True,
                    record_key=self._key(staged.spec, row),
                )
            )
        if rowids:
            self.db.executemany(f"DELETE FROM {staged.spec.table} WHERE rowid = ?", rowids)
