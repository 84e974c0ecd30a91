"""Hypothesis against the CSV reader: every row that goes in comes out as exactly one record or one located
issue, with its own physical line, and good rows read back cell for cell (quotes, commas, line breaks,
emoji and all) whatever damaged rows sit next to them."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dentrix_highlevel.sources import SourceIssue
from dentrix_highlevel.sources._csv import CsvReject, CsvRow, CsvStream

NCOLS = 4
HEADER = [f"c{i}" for i in range(NCOLS)]
# Free text as practices type it: quotes, commas, line breaks, tabs, emoji, right-to-left marks.
_TEXT = st.text(
    st.one_of(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"),
        st.sampled_from(['"', ",", "\n", "😀", "\u202e", "'", "="]),
    ),
    max_size=12,
)
_FLAT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='",\r\n'), max_size=8)


def _line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


# (kind, cells): good rows may span lines; damaged rows are single-line by construction.
_ROW = st.one_of(
    st.tuples(st.just("good"), st.lists(_TEXT, min_size=NCOLS, max_size=NCOLS)),
    st.tuples(st.just("long"), st.lists(_FLAT, min_size=NCOLS + 1, max_size=NCOLS + 4)),
    st.tuples(st.just("short"), st.lists(_FLAT, min_size=1, max_size=NCOLS - 1)),
    st.tuples(st.just("bytes"), st.lists(_FLAT, min_size=NCOLS, max_size=NCOLS)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(_ROW, max_size=25), bad_column=st.integers(0, NCOLS - 1))
def test_rows_in_equal_records_plus_issues(rows: list[tuple[str, list[str]]], bad_column: int) -> None:
    chunks = [_line(HEADER).encode()]
    expected: list[tuple[str, int, list[str]]] = []
    line = 2
    for kind, cells in rows:
        if kind == "short" and len(cells) == 1 and not cells[0].strip():
            # A lone empty or all-blank cell is a blank line (padded exports have them): no row at all.
            cells = ["x"]
        if kind == "bytes":
            cells = list(cells)
            cells[bad_column] = "\x07" + cells[bad_column]
            raw = _line(cells).encode().replace(b"\x07", b"\xff")
        else:
            raw = _line(cells).encode()
        expected.append((kind, line, cells))
        chunks.append(raw)
        line += raw.count(b"\n")
    stream = CsvStream(b"".join(chunks).splitlines(keepends=True), file="fuzz.csv", encoding="utf-8")
    items = list(stream)
    rows_out = [i for i in items if isinstance(i, CsvRow)]
    rejects = [i for i in items if isinstance(i, CsvReject)]
    issues = [i for i in items if isinstance(i, SourceIssue)]
    assert len(rows_out) + len(rejects) == len(expected), "rows in = records + rejected rows"
    by_line: dict[int, CsvRow | CsvReject] = {i.line: i for i in [*rows_out, *rejects]}
    for kind, start, cells in expected:
        got = by_line[start]
        if kind == "good":
            assert isinstance(got, CsvRow)
            assert list(got.cells) == cells
        elif kind == "bytes":
            assert isinstance(got, CsvRow)
            assert got.cells[bad_column].startswith("\ufffd")
            assert any(i.line == start and i.column == HEADER[bad_column] for i in issues)
        else:
            assert isinstance(got, CsvReject)
            assert got.issue.code == "column_count"
            assert got.issue.file == "fuzz.csv"
    assert all(i.code == "invalid_bytes" for i in issues)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(
        st.one_of(
            _TEXT.map(lambda t: _line([t, t, t, t])),
            st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        ),
        max_size=30,
    )
)
def test_any_mix_never_raises_and_every_issue_is_located(lines: list[str]) -> None:
    data = _line(HEADER).encode() + "\n".join(lines).encode("utf-8", errors="surrogatepass")
    physical = len(data.splitlines())
    for encoding in ("utf-8", "cp1252"):
        stream = CsvStream(data.splitlines(keepends=True), file="fuzz.csv", encoding=encoding)
        for item in stream:
            issue = (
                item.issue if isinstance(item, CsvReject) else item if isinstance(item, SourceIssue) else None
            )
            if issue is not None:
                assert issue.file == "fuzz.csv"
                assert issue.line is not None
                assert 2 <= issue.line <= physical
                assert issue.code in {"broken_quoting", "column_count", "invalid_bytes"}
            else:
                assert isinstance(item, CsvRow)
                assert len(item.cells) == NCOLS
