"""SourceIssue: located, value-free, readable."""

from __future__ import annotations

from dentrix_highlevel.sources import IssueCode, SourceIssue


def test_str_locates_the_issue() -> None:
    issue = SourceIssue(
        file="v_patient.csv",
        line=12,
        column="birth_date",
        code=IssueCode.BAD_DATE,
        message="not a real calendar date",
    )
    assert str(issue) == "v_patient.csv:12 [birth_date]: bad_date: not a real calendar date"
    assert issue.code == "bad_date"
    assert not issue.row_dropped
    api = SourceIssue(file="patients", line=None, column=None, code=IssueCode.BAD_VALUE, message="unreadable")
    assert str(api) == "patients: bad_value: unreadable"
