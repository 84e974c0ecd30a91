"""Dentrix sources: each yields the typed records of :mod:`dentrix_highlevel.records` as patient bundles.

* :class:`GExportSource` reads a Dentrix G structured export (folder or ``.zip``, SOURCE-NOTES §7).
* :class:`AscendSource` reads a Dentrix Ascend organisation through the API Exchange (SOURCE-NOTES §6).

Bad rows never stop a read: they become :class:`SourceIssue` records (``source.issues``).
"""

from __future__ import annotations

from dentrix_highlevel._http_limits import HttpLimits
from dentrix_highlevel._public import publish
from dentrix_highlevel.sources._ascend_config import AscendCodes, AscendResource, AscendResources, AscendRetry
from dentrix_highlevel.sources._ascend_source import AscendSource
from dentrix_highlevel.sources._g_export import FileCount, GExportSource
from dentrix_highlevel.sources._issues import IssueCode, SourceIssue

__all__ = [
    "AscendCodes",
    "AscendResource",
    "AscendResources",
    "AscendRetry",
    "AscendSource",
    "FileCount",
    "GExportSource",
    "HttpLimits",
    "IssueCode",
    "SourceIssue",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
