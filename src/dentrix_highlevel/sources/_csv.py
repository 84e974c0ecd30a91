"""A forgiving RFC-4180 reader that locates every row and never gives up on a file.

The standard :mod:`csv` module would let one unclosed quote swallow the rest of a file into a single field,
and it does not say on which physical line a row started. This reader works line by line: rows without a
``"`` are split directly (the common, fast case); a row with quotes is gathered until its quoted fields
close and then parsed strictly by :mod:`csv`. A row whose quotes never close (or close badly) is reported as
``broken_quoting`` on its first line and parsing resumes on the next physical line, so one stray quote costs
one row, not the file. Every physical line ends up in exactly one :class:`CsvRow` or :class:`CsvReject` (or
is blank), which the property tests check.
"""

from __future__ import annotations

import codecs
import csv
from collections import deque
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import NamedTuple

import attrs

from dentrix_highlevel._errors import SourceFileError
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue

__all__ = ["CsvColumns", "CsvReject", "CsvRow", "CsvStream", "normalise_encoding", "sniff_encoding"]

_BOM = codecs.BOM_UTF8
# A quoted field longer than this many physical lines is taken as an unclosed quote (notes are a few KB).
_MAX_RECORD_LINES = 2000
_MAX_RECORD_CHARS = 2_000_000
_BLOCK_LINES = 4096
# Codecs where decoding a block equals decoding its lines one by one (stateless, and b"\n" is always a
# whole character): only these take the block fast path.
_BLOCK_CODECS = frozenset({"utf-8", "cp1252", "latin-1", "iso8859-1", "ascii"})
# The csv module's default field limit (128 KiB) would reject a long quoted note as "broken quoting" and
# lose the patient's row; raise it (process-wide, only ever upwards) to the record limit above.
if csv.field_size_limit() < _MAX_RECORD_CHARS:
    csv.field_size_limit(_MAX_RECORD_CHARS)


class CsvRow(NamedTuple):
    """One parsed row: ``line``..``end_line`` are its physical lines (1-based; the header is line 1).

    A named tuple, not an attrs class: one is made per row of every file, and a tuple is the cheapest."""

    line: int
    end_line: int
    cells: tuple[str, ...]


class CsvColumns(NamedTuple):
    """A block of good single-line rows, by column: ``columns[i][r]`` is cell ``i`` of the row on physical
    line ``lines[r]`` (what :class:`CsvRow` holds by row; cheaper to build and to stage)."""

    lines: list[int]
    columns: list[list[str]]


@attrs.frozen
class CsvReject:
    """A row that could not be parsed; ``issue`` says why (``row_dropped`` is set)."""

    line: int
    end_line: int
    issue: SourceIssue


def normalise_encoding(name: object, *, where: str | None = None, file: str | None = None) -> str:
    """Python's codec name for a declared encoding (``UTF8`` → ``utf-8``, ``windows-1252`` → ``cp1252``).

    ``where`` names the setting (``manifest.json "encoding"``) and ``file`` the file it came from, so a
    bad one is a located error: not a string, not a codec, or a codec that is no text encoding (``rot13``,
    ``hex``, ``base64``, ``zlib_codec`` turn bytes into bytes or text into text, never bytes into text).
    """
    said = f"{where}: " if where else ""
    if not isinstance(name, str) or not name.strip():
        raise SourceFileError(f"{said}the encoding must be a name such as 'utf-8', not {name!r}", file=file)
    try:
        info = codecs.lookup(name)
    except LookupError as exc:
        raise SourceFileError(f"{said}unknown encoding declared: {name!r}", file=file) from exc
    if not getattr(info, "_is_text_encoding", True):
        raise SourceFileError(
            f"{said}{name!r} is not a text encoding (use e.g. 'utf-8' or 'windows-1252')", file=file
        )
    return info.name


def sniff_encoding(head: bytes) -> str:
    """``utf-8-sig`` with a BOM, ``utf-8`` when the head decodes as UTF-8, else Windows-1252."""
    if head.startswith(_BOM):
        return "utf-8-sig"
    # The head may end in the middle of a multi-byte character: only judge complete lines.
    cut = head.rfind(b"\n")
    sample = head if cut < 0 else head[: cut + 1]
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def _ends_in_quote(text: str, in_quote: bool) -> bool:
    """Whether ``text`` (one physical line) leaves a quoted field open, starting in state ``in_quote``.

    A ``"`` opens a quoted field only at the start of a field; elsewhere it is literal (as :mod:`csv` reads
    it). Inside a quoted field ``""`` is an escaped quote and a lone ``"`` closes the field.
    """
    pos = text.find('"')
    while pos >= 0:
        if in_quote:
            if text.startswith('""', pos):
                pos = text.find('"', pos + 2)
                continue
            in_quote = False
        elif pos == 0 or text[pos - 1] == ",":
            in_quote = True
        pos = text.find('"', pos + 1)
    return in_quote


def _decode(raw: bytes, codec: str) -> tuple[str, bool]:
    """One physical line as text, and whether it held bytes that are not text (replaced with U+FFFD)."""
    try:
        text, bad = raw.decode(codec), False
    except UnicodeDecodeError:
        text, bad = raw.decode(codec, errors="replace"), True
    if "\x00" in text:
        # A NUL is never text in an export (a C string cut short, a binary paste): flag it like invalid bytes
        # rather than carry it into HighLevel, where it would end a string early.
        text, bad = text.replace("\x00", "\ufffd"), True
    return text, bad


class CsvStream:
    """Rows of one CSV file, read from its raw lines (bytes) in the given encoding.

    Iterating yields :class:`CsvRow` (cell count equals the header's), :class:`CsvReject` and, for kept rows
    whose bytes were not valid in the encoding, a :class:`SourceIssue` (``invalid_bytes``) just before the
    row. ``header`` holds the trimmed header names.
    """

    def __init__(self, raw_lines: Iterable[bytes], *, file: str, encoding: str) -> None:
        self._file = file
        self._encoding = "utf-8" if encoding == "utf-8-sig" else encoding
        self._source = iter(raw_lines)
        self._line_no = 0
        self._pending: deque[tuple[int, str, bool]] = deque()
        first = self._next_line()
        while first is not None and not first[1].strip():
            first = self._next_line()
        if first is None:
            raise SourceFileError(f"{file} is empty (no header row)", file=file)
        text = first[1]
        if first[2]:
            raise SourceFileError(f"{file}: the header row is not valid {self._encoding}", file=file)
        try:
            header = next(csv.reader([text], strict=True))
        except (csv.Error, StopIteration) as exc:
            raise SourceFileError(f"{file}: the header row cannot be parsed", file=file) from exc
        self.header: tuple[str, ...] = tuple(h.strip() for h in header)
        self.header_line = first[0]

    def _next_line(self) -> tuple[int, str, bool] | None:
        """The next physical line: (number, text without line end, had invalid bytes)."""
        if self._pending:
            return self._pending.popleft()
        raw = next(self._source, None)
        if raw is None:
            return None
        self._line_no += 1
        if self._line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        text, bad = _decode(raw.rstrip(b"\r\n"), self._encoding)
        return self._line_no, text, bad

    def _reject(self, line: int, end_line: int, code: IssueCode, message: str) -> CsvReject:
        issue = SourceIssue(
            file=self._file, line=line, column=None, code=code, message=message, row_dropped=True
        )
        return CsvReject(line, end_line, issue)

    def __iter__(self) -> Iterator[CsvRow | CsvReject | SourceIssue]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[CsvRow | CsvReject | SourceIssue]]:
        """What iterating yields, a block of lines at a time."""
        for block in self.blocks():
            if isinstance(block, CsvColumns):
                cells = list(zip(*block.columns, strict=True))
                yield [CsvRow(line, line, row) for line, row in zip(block.lines, cells, strict=True)]
            else:
                yield block

    def blocks(self) -> Iterator[CsvColumns | list[CsvRow | CsvReject | SourceIssue]]:
        """The file a block of lines at a time, as staging's hot path wants it.

        A block without any ``"`` or NUL that decodes cleanly and whose every row has the header's cell
        count (the common case by far) comes as :class:`CsvColumns`: one decode, one split and one slice
        per column for the whole block. A clean block with a wrong cell count somewhere comes as rows and
        rejects; any other block goes line by line through the full reader.
        """
        ncols = len(self.header)
        commas = ncols - 1
        source = self._source
        fast_codec = self._encoding in _BLOCK_CODECS
        while True:
            if self._pending:
                yield self._slow()
                continue
            raws = list(islice(source, _BLOCK_LINES))
            if not raws:
                return
            first = self._line_no + 1
            self._line_no += len(raws)
            block = b"".join(raws)
            text: str | None = None
            if (
                fast_codec
                and b'"' not in block
                and b"\x00" not in block
                and block.count(b"\n") == len(raws) - (not raws[-1].endswith(b"\n"))
                and all(raw.endswith(b"\n") for raw in raws[:-1])
            ):
                try:
                    text = block.decode(self._encoding)
                except UnicodeDecodeError:
                    text = None
            if text is None:
                codec = self._encoding
                self._pending.extend(
                    (first + k, *_decode(raw.rstrip(b"\r\n"), codec)) for k, raw in enumerate(raws)
                )
                continue
            # Each raw line ends in its only b"\n" (the last may have none): split elements map 1:1.
            pieces = text.split("\n")[: len(raws)]
            if "\r" in text:
                pieces = [piece.rstrip("\r") for piece in pieces]
            kept = [piece for piece in pieces if piece.strip()]
            if len(kept) == len(pieces):
                lines = list(range(first, first + len(pieces)))
            else:
                lines = [line for line, piece in enumerate(pieces, first) if piece.strip()]
            if not kept:
                continue
            if [piece.count(",") for piece in kept].count(commas) == len(kept):
                flat = ",".join(kept).split(",")
                yield CsvColumns(lines, [flat[i::ncols] for i in range(ncols)])
                continue
            out: list[CsvRow | CsvReject | SourceIssue] = []
            for line, row in zip(lines, kept, strict=True):
                cells = row.split(",")
                if len(cells) != ncols:
                    out.append(self._column_count(line, line, len(cells), ncols))
                else:
                    out.append(CsvRow(line, line, tuple(cells)))
            yield out

    def _slow(self) -> list[CsvRow | CsvReject | SourceIssue]:
        """The full reader on the lines in ``_pending`` (quotes, invalid bytes), until they are used up."""
        ncols = len(self.header)
        out: list[CsvRow | CsvReject | SourceIssue] = []
        while self._pending:
            first = self._pending.popleft()
            line, text, bad = first
            if not text.strip():
                continue
            if '"' not in text:
                cells = text.split(",")
                if len(cells) != ncols:
                    out.append(self._column_count(line, line, len(cells), ncols))
                    continue
                if bad:
                    out.append(self._bad_bytes(line, cells))
                out.append(CsvRow(line, line, tuple(cells)))
                continue
            buffer = [first]
            chars = len(text)
            open_quote = _ends_in_quote(text, False)
            while open_quote and len(buffer) < _MAX_RECORD_LINES and chars < _MAX_RECORD_CHARS:
                nxt = self._next_line()
                if nxt is None:
                    break
                buffer.append(nxt)
                chars += len(nxt[1])
                open_quote = _ends_in_quote(nxt[1], True)
            parsed: list[list[str]] | None = None
            if not open_quote:
                try:
                    parsed = list(csv.reader(["\n".join(b[1] for b in buffer)], strict=True))
                except csv.Error:
                    parsed = None
            end = buffer[-1][0]
            if parsed is None or len(parsed) != 1 or (len(parsed[0]) != ncols and len(buffer) > 1):
                # Resume right after the first line: the lines we gathered may be good rows of their own.
                self._pending.extendleft(reversed(buffer[1:]))
                reason = (
                    f"a quoted field over {_MAX_RECORD_CHARS} characters, or an unclosed quote"
                    if chars >= _MAX_RECORD_CHARS
                    else "unclosed or misplaced quote"
                )
                out.append(
                    self._reject(line, line, IssueCode.BROKEN_QUOTING, f"{reason}; this line was skipped")
                )
                continue
            cells = parsed[0]
            if len(cells) != ncols:
                out.append(self._column_count(line, end, len(cells), ncols))
                continue
            if any(b[2] for b in buffer):
                out.append(self._bad_bytes(line, cells))
            out.append(CsvRow(line, end, tuple(cells)))
        return out

    def _column_count(self, line: int, end: int, found: int, expected: int) -> CsvReject:
        return self._reject(
            line, end, IssueCode.COLUMN_COUNT, f"row has {found} cells, the header has {expected}"
        )

    def _bad_bytes(self, line: int, cells: list[str]) -> SourceIssue:
        column = next((self.header[i] for i, c in enumerate(cells) if "\ufffd" in c), None)
        return SourceIssue(
            file=self._file,
            line=line,
            column=column,
            code=IssueCode.INVALID_BYTES,
            message=f"NUL bytes or bytes not valid in {self._encoding} were replaced",
        )
