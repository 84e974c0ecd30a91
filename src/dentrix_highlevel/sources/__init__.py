"""Dentrix sources: each yields the typed records of :mod:`dentrix_highlevel.records` as patient bundles.

* :class:`GExportSource` reads a Dentrix G structured export (folder or ``.zip``, SOURCE-NOTES §7).

Bad rows never stop a read: they become :class:`SourceIssue` records (``source.issues``).
"""

from __future__ import annotations

from dentrix_highlevel.sources._issues import IssueCode, SourceIssue

__all__ = [
    "IssueCode",
    "SourceIssue",
]
