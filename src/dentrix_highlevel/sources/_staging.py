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
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from pathlib import Path

import attrs

from dentrix_highlevel._errors import SourceFileError
from dentrix_highlevel.sources._csv import CsvColumns, CsvReject, CsvRow, CsvStream
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

_ROWS_PER_INSERT = 256
_MEMO_MAX = 50_000  # distinct texts remembered per column (dates, codes); bounded whatever the practice
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


@attrs.frozen
class _Bad:
    """A value its column refuses: the issue to report (the cell itself is stored as unknown)."""

    column: str
    code: IssueCode
    message: str


class _Memo:
    """What the cells of one numeric, date, reference or coded column become, remembered per text.

    ``resolve`` is a pure function of the stripped text, so a text is parsed once; at most ``_MEMO_MAX``
    texts are kept (then forgotten at once), so memory stays bounded whatever the practice's size."""

    def __init__(self, col: Col) -> None:
        self.mode = _MODES[col.kind]
        parsed = _PARSERS.get(col.kind)
        self.parser: Callable[[str], str] | None = parsed[0] if parsed else None
        self.code = parsed[1] if parsed else IssueCode.BAD_VALUE
        self.low, self.high = col.int_range if col.int_range else (-(2**63), 2**63 - 1)
        self.choices, self.name = col.choices, col.name
        self.known: dict[str, object] = {"": None}
        self.bad: set[str] = set()

    def resolve_column(
        self, column: Sequence[str], order: int, bad_cells: list[tuple[int, int, _Bad]]
    ) -> list[object]:
        """The values of ``column`` (raw cells), noting each refused cell as (row, ``order``, why)."""
        texts = [c.strip() for c in column]
        if self.mode == _REF and self.choices is None:  # nothing to parse or refuse: "0" is no row
            return [t if t and t != "0" else None for t in texts]
        known = self.known
        new = set(texts).difference(known)
        if new:
            if len(known) + len(new) > _MEMO_MAX:
                known.clear()
                known[""] = None
                self.bad.clear()
                new = set(texts)
                new.discard("")
            for text in new:
                value = self.resolve(text)
                known[text] = value
                if type(value) is _Bad:
                    self.bad.add(text)
        values = [known[t] for t in texts]
        if self.bad and not self.bad.isdisjoint(texts):
            for r, value in enumerate(values):
                if type(value) is _Bad:
                    bad_cells.append((r, order, value))
                    values[r] = None
        return values

    def resolve(self, text: str) -> object:
        """What a non-blank cell becomes: the value to store, ``None`` (a zero reference), or a
        :class:`_Bad`."""
        mode, name = self.mode, self.name
        value: object = text
        if mode == _REF:
            if text == "0":
                return None
        elif mode > _REF:
            assert self.parser is not None
            try:
                normal = self.parser(text)
            except ValueError as exc:
                return _Bad(name, self.code, f"{name}: {exc}")
            if mode == _NUMBER:
                number = int(normal)
                if not self.low <= number <= self.high:
                    return _Bad(name, IssueCode.BAD_NUMBER, f"{name}: out of range")
                value = number
            else:
                value = normal
        if self.choices is not None:
            probe = value.lower() if isinstance(value, str) else str(value)
            if probe not in self.choices:
                return _Bad(name, IssueCode.BAD_CODE, f"{name}: not one of the known codes")
            return probe if isinstance(value, str) else value
        return value


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

    def __init__(self, path: Path, *, kept: bool = False) -> None:
        if kept:
            # A complete index a previous command kept: read only, so no reader can change it for the next.
            uri = path.resolve().as_uri() + "?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, isolation_level=None)
        else:
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

    # ------------------------------------------------------------------------- keeping it for later

    def save(self, extra: dict[str, object], issues: Sequence[SourceIssue]) -> None:
        """Store what a later command needs to read this index without staging again: the per-file
        bookkeeping, every issue found and ``extra`` (JSON), in one transaction."""
        files = [
            {
                "spec": f.spec.name,
                "member": f.member,
                "encoding": f.encoding,
                "columns": list(f.columns),
                "extra_columns": list(f.extra_columns),
                "rows": f.rows,
                "dropped": f.dropped,
                "issues": f.issues,
            }
            for f in self.staged.values()
        ]
        self.db.execute("BEGIN")
        self.db.execute("CREATE TABLE _kept_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE _kept_issues (file TEXT, line INTEGER, col TEXT, code TEXT, message TEXT, "
            "dropped INTEGER, record_key TEXT)"
        )
        self.db.executemany(
            "INSERT INTO _kept_meta VALUES (?, ?)",
            [("files", json.dumps(files)), ("extra", json.dumps(extra))],
        )
        self.db.executemany(
            "INSERT INTO _kept_issues VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i.file, i.line, i.column, str(i.code), i.message, int(i.row_dropped), i.record_key)
                for i in issues
            ],
        )
        self.db.execute("COMMIT")

    def load(self) -> tuple[dict[str, object], list[SourceIssue]]:
        """Read back what :meth:`save` stored: ``extra`` and the issues (the bookkeeping into ``staged``).
        A missing table or a malformed value raises (the caller stages again)."""
        meta = {r[0]: json.loads(r[1]) for r in self.db.execute("SELECT name, value FROM _kept_meta")}
        for f in meta["files"]:
            spec = SPECS_BY_NAME[f["spec"]]
            self.staged[spec.name] = StagedFile(
                spec=spec,
                member=str(f["member"]),
                encoding=str(f["encoding"]),
                columns=tuple(f["columns"]),
                extra_columns=tuple(f["extra_columns"]),
                rows=int(f["rows"]),
                dropped=int(f["dropped"]),
                issues=int(f["issues"]),
            )
        codes = {c.value: c for c in IssueCode}
        issues = [
            SourceIssue(
                file=r[0],
                line=r[1],
                column=r[2],
                code=codes.get(r[3], r[3]),
                message=r[4],
                row_dropped=bool(r[5]),
                record_key=r[6],
            )
            for r in self.db.execute("SELECT * FROM _kept_issues ORDER BY rowid")
        ]
        extra = meta["extra"]
        if not isinstance(extra, dict):
            raise ValueError("the kept index's metadata is not an object")
        return extra, issues

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
        col_defs = ", ".join(f"{_q(c.name)} {_SQL_TYPE.get(c.kind, 'TEXT')}" for c in spec.columns)
        extra_defs = ", _sort TEXT" if is_patient else ""
        self.db.execute(f"CREATE TABLE {spec.table} (_line INTEGER, _extra TEXT, {col_defs}{extra_defs})")
        # Staging is the hot path (millions of cells), so it works a block of rows at a time, a column at
        # a time, in comprehensions: plain text and keys are stripped, notes right-stripped, and every
        # other column (numbers, dates, references, codes) goes through a per-column memo of its parser
        # (dates, flags and codes repeat endlessly; a parser is a pure function of the text). Issues are
        # put back into row order (then column order) so they read as if found row by row.
        plain = [(c, i) for c, i in plan if _MODES[c.kind] in (_TEXT, _KEY) and c.choices is None]
        notes = [(c, i) for c, i in plan if _MODES[c.kind] == _NOTE and c.choices is None]
        special = [(c, i) for c, i in plan if (c, i) not in plain and (c, i) not in notes]
        assert not any(c.kind is Kind.KEY for c, _ in special), "a key column with choices"
        order = [c.name for c, _ in (*plain, *notes, *special)]
        names = ["_line", "_extra", *order] + (["_sort"] if is_patient else [])
        slot = {name: 2 + k for k, name in enumerate(order)}
        plain_idx = [i for _, i in plain]
        note_idx = [i for _, i in notes]
        memos = [_Memo(c) for c, _ in special]
        special_idx = [i for _, i in special]
        key_slots = [slot[k] for k in spec.key if k in slot]  # the record key (absent columns: no part)
        required_slots = [(slot[c.name], c.name) for c, _ in plain if c.kind is Kind.KEY]  # plan order
        marks = "(" + ", ".join("?" * len(names)) + ")"
        insert = f"INSERT INTO {spec.table} ({', '.join(_q(n) for n in names)}) VALUES "
        # Many rows per statement: binding is the same, but one step per statement is what SQLite's
        # per-row overhead costs (~40% of the insert time). Bounded by SQLite's limit on parameters.
        limit = self.db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        per = max(1, min(_ROWS_PER_INSERT, limit // len(names)))
        insert_one, insert_many = insert + marks, insert + ", ".join([marks] * per)
        keep_extra = spec.keeps_extra and bool(extras)
        pid_slot = slot.get("patient_id", -1)
        guar_slot = slot.get("guar_id", -1)

        def key_of(out: Sequence[Sequence[object]], r: int) -> str | None:
            return "/".join(str(out[p][r]) for p in key_slots if out[p][r] is not None) or None

        self.db.execute("BEGIN")  # one transaction for the file: the index is rebuilt on any doubt
        for block in stream.blocks():
            found: list[tuple[int, int, SourceIssue]] = []  # (position in the block, column order, issue)
            lines: Sequence[int]
            columns: Sequence[Sequence[str]]
            if isinstance(block, CsvColumns):
                lines, columns = block.lines, block.columns
                staged.rows += len(lines)
            else:
                lines, columns = self._rows_of(block, staged, found)
                if not lines:
                    for _, _, item in found:
                        staged.issues += 1
                        issues.append(item)
                    continue
            count = len(lines)
            out: list[Sequence[object]] = [lines, [None] * count]
            out += [[c.strip() or None for c in columns[i]] for i in plain_idx]
            out += [[c.rstrip() or None for c in columns[i]] for i in note_idx]
            bad_cells: list[tuple[int, int, _Bad]] = []
            for k, (i, memo) in enumerate(zip(special_idx, memos, strict=True)):
                out.append(memo.resolve_column(columns[i], k, bad_cells))
            dropped: set[int] = set()
            for p, name in required_slots:
                column = out[p]
                if None in column:
                    for r, value in enumerate(column):
                        if value is None and r not in dropped:
                            dropped.add(r)
                            found.append(
                                (
                                    r,
                                    -1,
                                    SourceIssue(
                                        file=file,
                                        line=lines[r],
                                        column=name,
                                        code=IssueCode.MISSING_VALUE,
                                        message=f"{name} is blank; the row cannot be used",
                                        row_dropped=True,
                                        record_key=key_of(out, r),
                                    ),
                                )
                            )
            for r, k, bad in bad_cells:
                if r not in dropped:
                    found.append(
                        (
                            r,
                            k,
                            SourceIssue(
                                file=file,
                                line=lines[r],
                                column=bad.column,
                                code=bad.code,
                                message=bad.message,
                                record_key=key_of(out, r),
                            ),
                        )
                    )
            if found:
                found.sort(key=lambda f: (f[0], f[1]))
                for _, _, item in found:
                    staged.issues += 1
                    issues.append(item)
            if keep_extra:
                extra_cells = [(n, columns[i]) for n, i in extras]
                notes_of = [{n: c[r].strip() for n, c in extra_cells if c[r].strip()} for r in range(count)]
                out[1] = [json.dumps(kept, ensure_ascii=False) if kept else None for kept in notes_of]
            if is_patient:
                families = [
                    (str(pid), str(guar or pid))
                    for pid, guar in zip(
                        out[pid_slot], out[guar_slot] if guar_slot >= 0 else [None] * count, strict=True
                    )
                ]
                out.append([f"{sort_key(f)}|{0 if f == p else 1}|{sort_key(p)}" for p, f in families])
            table: Sequence[Sequence[object]] = list(zip(*out, strict=True))
            if dropped:
                staged.dropped += len(dropped)
                table = [row for r, row in enumerate(table) if r not in dropped]
            whole = len(table) // per * per
            if whole:
                self.db.executemany(
                    insert_many,
                    (tuple(chain.from_iterable(table[k : k + per])) for k in range(0, whole, per)),
                )
            if whole < len(table):
                self.db.executemany(insert_one, table[whole:])
        self.db.execute("COMMIT")
        self.staged[spec.name] = staged

    @staticmethod
    def _rows_of(
        items: list[CsvRow | CsvReject | SourceIssue],
        staged: StagedFile,
        found: list[tuple[int, int, SourceIssue]],
    ) -> tuple[list[int], Sequence[Sequence[str]]]:
        """A block of rows, rejects and issues as the lines and columns of its rows; each reject and issue
        goes to ``found`` at the row it precedes (so it sorts before that row's own issues)."""
        rows = [item for item in items if type(item) is CsvRow]
        staged.rows += len(rows)
        if len(rows) != len(items):
            where = 0
            for item in items:
                if type(item) is CsvRow:
                    where += 1
                    continue
                if isinstance(item, CsvReject):
                    staged.rows += 1
                    staged.dropped += 1
                    item = item.issue
                assert isinstance(item, SourceIssue)
                found.append((where, -1, item))
        if not rows:
            return [], []
        return [row.line for row in rows], list(zip(*(row.cells for row in rows), strict=True))

    # ------------------------------------------------------------------------------ keys and references

    def check_keys(self, issues: list[SourceIssue]) -> None:
        """Drop duplicate primary keys, index, then report (and drop where needed) dangling references."""
        self.db.execute("BEGIN")
        for staged in self.staged.values():
            spec = staged.spec
            if spec.key:
                cols = ", ".join(_q(k) for k in spec.key)
                self.db.execute(f"CREATE INDEX {spec.table}_key ON {spec.table} ({cols})")
                # One scan of the new index says whether any key repeats (rarely): only then the query
                # that finds every later duplicate.
                repeated = self.db.execute(
                    f"SELECT 1 FROM {spec.table} GROUP BY {cols} HAVING COUNT(*) > 1 LIMIT 1"
                ).fetchone()
                rows = (
                    self.db.execute(
                        f"SELECT rowid, _line, {cols} FROM {spec.table} WHERE rowid NOT IN "
                        f"(SELECT MIN(rowid) FROM {spec.table} GROUP BY {cols})"
                    ).fetchall()
                    if repeated
                    else []
                )
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
