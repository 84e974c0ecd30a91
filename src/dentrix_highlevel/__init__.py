"""dentrix-highlevel: move a dental practice's data from Dentrix into HighLevel.

The public API is what ``__all__`` lists; everything in a module whose name starts with ``_`` is private.
"""

from __future__ import annotations

from dentrix_highlevel._errors import (
    AmbiguousWriteError,
    AscendError,
    AuthenticationError,
    ConfigurationError,
    DailyCapReachedError,
    DentrixHighLevelError,
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
from dentrix_highlevel._version import __version__

__all__ = [
    "AmbiguousWriteError",
    "AscendError",
    "AuthenticationError",
    "ConfigurationError",
    "DailyCapReachedError",
    "DentrixHighLevelError",
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
    "__version__",
]
