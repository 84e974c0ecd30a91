"""The forgiving CSV reader: located rows, one-row recovery from broken quotes, and property tests."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dentrix_highlevel.errors import SourceFileError
from dentrix_highlevel.sources._csv import CsvReject, CsvRow, CsvStream, normalise_encoding, sniff_encoding
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue


def _stream(data: bytes, encoding: str = "utf-8") -> tuple[CsvStream, list[CsvRow | CsvReject | SourceIssue]]:
    stream = CsvStream(data.splitlines(keepends=True), file="t.csv", encoding=encoding)
    return stream, list(stream)


def test_rows_carry_their_physical_lines_and_multiline_notes_survive() -> None:
    data = b'id,note\r\n1,plain\r\n2,"two\nlines, with comma"\r\n3,"say ""hi"""\r\n'
    stream, items = _stream(data)
    assert stream.header == ("id", "note")
    assert items == [
        CsvRow(2, 2, ("1", "plain")),
        CsvRow(3, 4, ("2", "two\nlines, with comma")),
        CsvRow(5, 5, ("3", 'say "hi"')),
    ]


def test_an_unclosed_quote_costs_one_row_not_the_file() -> None:
    data = b'id,name,note\n1,"Smith,ok\n2,Jones,"fine"\n3,Lee,x\n'
    _, items = _stream(data)
    rejects = [i for i in items if isinstance(i, CsvReject)]
    rows = [i for i in items if isinstance(i, CsvRow)]
    assert [r.issue.code for r in rejects] == [IssueCode.BROKEN_QUOTING]
    assert rejects[0].line == 2
    assert rejects[0].issue.row_dropped
    assert [r.cells[0] for r in rows] == ["2", "3"]


def test_a_quote_inside_an_unquoted_field_is_literal() -> None:
    _, items = _stream(b'id,name\n1,O"Neil\n')
    assert items == [CsvRow(2, 2, ("1", 'O"Neil'))]


def test_a_misplaced_closing_quote_is_broken_quoting() -> None:
    _, items = _stream(b'id,name\n1,"ab"cd\n2,ok\n')
    assert isinstance(items[0], CsvReject)
    assert items[0].issue.code == IssueCode.BROKEN_QUOTING
    assert items[1] == CsvRow(3, 3, ("2", "ok"))


def test_wrong_cell_count_is_located() -> None:
    _, items = _stream(b"a,b,c\n1,2\n1,2,3,4\n1,2,3\n")
    codes = [(i.line, i.issue.code) for i in items if isinstance(i, CsvReject)]
    assert codes == [(2, IssueCode.COLUMN_COUNT), (3, IssueCode.COLUMN_COUNT)]
    assert "2 cells" in items[0].issue.message  # type: ignore[union-attr]


def test_invalid_bytes_are_replaced_and_reported_with_their_column() -> None:
    _, items = _stream(b"id,note\n1,ok \xff here\n")
    issue, row = items
    assert isinstance(issue, SourceIssue)
    assert issue.code == IssueCode.INVALID_BYTES
    assert issue.column == "note"
    assert not issue.row_dropped
    assert isinstance(row, CsvRow)
    assert "\ufffd" in row.cells[1]


def test_bom_is_stripped_and_blank_lines_skipped() -> None:
    stream, items = _stream(b"\xef\xbb\xbfid,x\r\n\r\n1,a\r\n   \r\n", encoding="utf-8-sig")
    assert stream.header == ("id", "x")
    assert items == [CsvRow(3, 3, ("1", "a"))]


def test_empty_file_and_bad_header_are_file_errors() -> None:
    with pytest.raises(SourceFileError, match="empty"):
        CsvStream([b"\n", b"  \n"], file="v_patient.csv", encoding="utf-8")
    with pytest.raises(SourceFileError, match="header"):
        CsvStream([b'"a,b\n'], file="v_patient.csv", encoding="utf-8")


def test_cp1252_text_decodes() -> None:
    _, items = _stream("id,name\n1,Muñoz Brontë\n".encode("cp1252"), encoding="cp1252")
    assert items == [CsvRow(2, 2, ("1", "Muñoz Brontë"))]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xef\xbb\xbfid\n", "utf-8-sig"),
        ("id\nMuñoz\n".encode(), "utf-8"),
        ("id\nMuñoz\n".encode("cp1252"), "cp1252"),
        ("id\nMu\u00f1".encode()[:-1], "utf-8"),  # cut in the middle of a character: judge whole lines
    ],
)
def test_sniff_encoding(head: bytes, expected: str) -> None:
    assert sniff_encoding(head) == expected


def test_normalise_encoding() -> None:
    assert normalise_encoding("UTF8") == "utf-8"
    assert normalise_encoding("windows-1252") == "cp1252"
    with pytest.raises(SourceFileError, match="unknown encoding"):
        normalise_encoding("klingon-8")


# NUL is not text in an export: the reader flags it (see test_a_nul_byte_is_a_located_issue).
_CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=30)


def test_a_nul_byte_is_a_located_issue() -> None:
    _, items = _stream(b"c0,c1\nok,fine\nMa\x00ry,x\n", "utf-8")
    rows = [i for i in items if isinstance(i, CsvRow)]
    issues = [i for i in items if isinstance(i, SourceIssue)]
    assert [list(r.cells) for r in rows] == [["ok", "fine"], ["Ma\ufffdry", "x"]]
    assert [(i.line, i.column, i.code) for i in issues] == [(3, "c0", "invalid_bytes")]
    assert "Ma" not in issues[0].message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ncols=st.integers(2, 6), data=st.data())
def test_property_well_formed_csv_reads_back_exactly(ncols: int, data: st.DataObject) -> None:
    rows = data.draw(st.lists(st.lists(_CELL, min_size=ncols, max_size=ncols), max_size=20))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator=data.draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow([f"c{i}" for i in range(ncols)])
    writer.writerows(rows)
    encoding = data.draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    _, items = _stream(buf.getvalue().encode(encoding), encoding)
    assert all(isinstance(i, CsvRow) for i in items)
    assert [list(i.cells) for i in items if isinstance(i, CsvRow)] == rows


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=400), encoding=st.sampled_from(["utf-8", "cp1252"]))
def test_property_any_bytes_every_line_is_a_row_or_an_issue(body: bytes, encoding: str) -> None:
    """Whatever the bytes, nothing raises and every non-blank line belongs to exactly one row or reject."""
    data = b"a,b,c\n" + body
    _, items = _stream(data, encoding)
    covered: list[int] = []
    for item in items:
        if isinstance(item, CsvRow | CsvReject):
            covered.extend(range(item.line, item.end_line + 1))
            if isinstance(item, CsvRow):
                assert len(item.cells) == 3
    assert len(covered) == len(set(covered)), "a line was read twice"
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        text = raw.rstrip(b"\r\n").decode(encoding, errors="replace")
        if number > 1 and text.strip():
            assert number in covered, f"line {number} was dropped silently"
