"""The exception tree: every error the library raises on purpose is a :class:`DentrixHighLevelError`.

The tree, its meaning and the command line's exit codes are drawn in ``dentrix_highlevel._errors``'s
docstring (the API reference shows it).
"""

from __future__ import annotations

from dentrix_highlevel._errors import (
    AmbiguousWriteError,
    AscendError,
    AuthenticationError,
    ConfigurationError,
    DailyCapReachedError,
    DentrixHighLevelError,
    DocumentFileError,
    DuplicateContactError,
    HighLevelError,
    LedgerError,
    MappingError,
    NotFoundError,
    PermissionDeniedError,
    PlanChangedError,
    PlanError,
    PlanNotApprovedError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    SourceError,
    SourceFileError,
    TransportError,
    ValidationError,
)

__all__ = [
    "AmbiguousWriteError",
    "AscendError",
    "AuthenticationError",
    "ConfigurationError",
    "DailyCapReachedError",
    "DentrixHighLevelError",
    "DocumentFileError",
    "DuplicateContactError",
    "HighLevelError",
    "LedgerError",
    "MappingError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlanChangedError",
    "PlanError",
    "PlanNotApprovedError",
    "RateLimitedError",
    "ResponseFormatError",
    "ServerError",
    "SourceError",
    "SourceFileError",
    "TransportError",
    "ValidationError",
]
