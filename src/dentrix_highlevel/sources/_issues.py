"""``SourceIssue``: one bad row or value found while reading a source, located and value-free."""

from __future__ import annotations

import enum

import attrs

__all__ = ["IssueCode", "SourceIssue"]


class IssueCode(enum.StrEnum):
    """What went wrong with a row or a value. ``SourceIssue.code`` is one of these (a ``str``)."""

    BAD_DATE = "bad_date"  # not YYYY-MM-DD[ HH:MM:SS] nor MM/DD/YYYY[ HH:MM], or not a real date
    BAD_NUMBER = "bad_number"  # an integer or money column that is not a number
    BAD_BOOLEAN = "bad_boolean"  # a 0/1 column with something else
    BAD_CODE = "bad_code"  # a Dentrix-defined code outside its known values (status, gender...)
    MISSING_VALUE = "missing_value"  # a key column is blank: the row cannot be used
    BROKEN_QUOTING = "broken_quoting"  # an unclosed or misplaced '"'; the row's first line is skipped
    COLUMN_COUNT = "column_count"  # a row with more or fewer cells than the header
    INVALID_BYTES = "invalid_bytes"  # bytes not valid in the file's encoding (replaced with U+FFFD)
    DANGLING_REFERENCE = "dangling_reference"  # a foreign key that points at no row
    DUPLICATE_KEY = "duplicate_key"  # a primary key seen before in the same file; the later row is dropped
    MANIFEST_MISMATCH = "manifest_mismatch"  # row count or sha256 differs from manifest.json
    UNSAFE_MEMBER = "unsafe_member"  # a zip member with an absolute or '..' path, skipped
    UNKNOWN_FILE = "unknown_file"  # a file the reader does not know; not read
    BAD_VALUE = "bad_value"  # any other unreadable value (used by adapters for their own shapes)


@attrs.frozen(kw_only=True)
class SourceIssue:
    """A located problem with one row or value.

    ``file`` is the export file (or the Ascend resource), ``line`` the 1-based physical line where the row
    starts (the header is line 1; ``None`` when there is no line, e.g. an API record), ``column`` the column
    (or field) when one is to blame, ``code`` an :class:`IssueCode` value, ``message`` a sentence that names
    columns and ids but never a value. ``row_dropped`` says whether the row was left out of the records
    (structural problems, duplicate keys, rows whose parent is missing) or kept with the bad value unknown.
    ``record_key`` is the row's primary key when it could be read (ids are not PHI).
    """

    file: str
    line: int | None
    column: str | None
    code: str
    message: str
    row_dropped: bool = False
    record_key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.column:
            where += f" [{self.column}]"
        return f"{where}: {self.code}: {self.message}"
