"""Every exception dentrix-highlevel raises, in one tree.

::

    DentrixHighLevelError
    ├── ConfigurationError              a setting, flag or argument is wrong before any I/O
    │   └── ManifestError               a fleet manifest is not valid (names file, office and key)
    ├── HighLevelError                  anything HighLevel (or the sandbox) answered badly
    │   ├── TransportError              no usable answer: connection refused/reset, timeout (after retries)
    │   ├── AuthenticationError         401: bad/expired token, missing or invalid Version header
    │   ├── PermissionDeniedError       403: the token has no access to this location
    │   ├── NotFoundError               404
    │   ├── ValidationError             400/422 with HighLevel's messages (never body values)
    │   │   └── DuplicateContactError   400 "This location does not allow duplicated contacts."
    │   ├── RateLimitedError            429 that outlasted the retry policy
    │   │   └── DailyCapReachedError    the daily budget fell to the reserve: checkpoint, resume after reset
    │   ├── AmbiguousWriteError         a create may or may not have happened; carries the lookup keys
    │   ├── ServerError                 5xx that outlasted the retry policy
    │   └── ResponseFormatError         a 2xx body we could not read as the documented shape
    ├── SourceError                     reading Dentrix data failed as a whole
    │   ├── SourceFileError             a required file or column is missing, or a file is unreadable
    │   │   └── DocumentFileError       one document's file cannot be uploaded (path, size, checksum)
    │   └── AscendError                 the Ascend API Exchange answered badly
    ├── MappingError                    a map is wrong when it is built (unknown column, bad target type)
    ├── PlanError
    │   ├── PlanNotApprovedError        run() on a plan nobody approved
    │   └── PlanChangedError            the plan changed since it was approved (names what changed)
    └── LedgerError                     the ledger is corrupt, foreign, or from another migration

Messages carry identifiers (record keys, file/line/column names, request method and path, HighLevel's
``traceId``) and never patient values or tokens: exceptions end up in logs and terminals. Nor what HighLevel
or Ascend said in words (their messages echo request values): only the HTTP status, the error code and the
names of the fields at fault. The server's own answer is kept in memory as ``debug_detail``, which no
``str()``/``repr()`` includes; the command line shows it with ``--debug`` on a terminal only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict, Unpack

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
    "ManifestError",
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


class DentrixHighLevelError(Exception):
    """Base of every error this library raises on purpose."""


class _ServerAnswer:
    """What an error built from a server's answer carries besides its (value-free) message."""

    #: The server's machine error code (``OPPORTUNITY_NO_DUPLICATE``), when it gave one of that shape.
    code: str | None = None
    # The answer as the server gave it. Private and outside str()/repr(): it may hold patient values.
    _debug_detail: str | None = None

    @property
    def debug_detail(self) -> str | None:
        """The server's answer verbatim (bounded), for a person debugging at a terminal. It can hold
        patient data: never log it, write it to a file or send it anywhere."""
        return self._debug_detail


class ConfigurationError(DentrixHighLevelError):
    """A setting, flag or argument is wrong; nothing was sent or read yet."""


class ManifestError(ConfigurationError):
    """A fleet manifest is not valid. ``where`` locates it (``fleet.toml: office 'north' (#2): key
    'location_id'``), ``problem`` says what to change; a manifest names secrets, never holds them."""

    def __init__(self, where: str, problem: str) -> None:
        self.where = where
        self.problem = problem
        super().__init__(f"{where}: {problem}")


class _Request(TypedDict, total=False):
    """Where a HighLevel error happened: the keywords every :class:`HighLevelError` takes and passes up."""

    method: str | None
    path: str | None
    status_code: int | None
    trace_id: str | None


class HighLevelError(_ServerAnswer, DentrixHighLevelError):
    """HighLevel (or the sandbox) gave no usable answer to one request.

    Carries the request's method and path (ids in a path are not PHI), the HTTP status when there was one,
    and HighLevel's ``traceId`` so support can find the request. Never the request or response body.
    """

    def __init__(self, message: str, **request: Unpack[_Request]) -> None:
        # Typed callers are checked by mypy; the rest get the TypeError an explicit keyword list gave.
        if unknown := sorted(request.keys() - _Request.__optional_keys__):
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {unknown}")
        self.message = message
        self.method = request.get("method")
        self.path = request.get("path")
        self.status_code = request.get("status_code")
        self.trace_id = request.get("trace_id")
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.method and self.path:
            parts.append(f"[{self.method} {self.path}")
            if self.status_code is not None:
                parts[-1] += f" -> {self.status_code}"
            parts[-1] += "]"
        if self.trace_id:
            parts.append(f"traceId={self.trace_id}")
        return " ".join(parts)


class TransportError(HighLevelError):
    """No HTTP answer: connection refused or reset, or a timeout, after the retry policy gave up."""


class AuthenticationError(HighLevelError):
    """401: the token is invalid or expired, lacks a scope, or the Version header is missing/invalid.

    ``reason`` says which, from HighLevel's answer: ``"token"``, ``"scope"``, ``"version"`` (or
    ``"unknown"``). A missing scope means the token is valid: the preflight tells the two apart by it.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unknown",
        **request: Unpack[_Request],
    ) -> None:
        self.reason = reason
        super().__init__(message, **request)


class PermissionDeniedError(HighLevelError):
    """403: the token does not have access to this location."""


class NotFoundError(HighLevelError):
    """404: the object does not exist (or no longer does)."""


class ValidationError(HighLevelError):
    """400/409/422: HighLevel rejected the request body.

    ``messages`` is what may be shown of HighLevel's messages, one each: ``"gender (not allowed)"`` for
    ``property gender should not exist``, ``"email (invalid)"``, a category for a sentence the library
    knows (``"duplicate opportunity"``), else ``"(message withheld)"`` — HighLevel's sentences echo values.
    ``fields`` are the names of the fields at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        messages: Sequence[str] = (),
        fields: Sequence[str] = (),
        **request: Unpack[_Request],
    ) -> None:
        self.messages = tuple(messages)
        self.fields = tuple(fields)
        super().__init__(message, **request)


class DuplicateContactError(ValidationError):
    """400: the location does not allow duplicated contacts; ``contact_id`` is the existing contact."""

    def __init__(
        self,
        message: str,
        *,
        contact_id: str | None = None,
        matching_field: str | None = None,
        messages: Sequence[str] = (),
        fields: Sequence[str] = (),
        **request: Unpack[_Request],
    ) -> None:
        self.contact_id = contact_id
        self.matching_field = matching_field
        super().__init__(message, messages=messages, fields=fields, **request)


class RateLimitedError(HighLevelError):
    """429 that outlasted the retry policy. ``retry_after_s`` is the server's hint, when it gave one."""

    def __init__(
        self,
        message: str,
        *,
        retry_after_s: float | None = None,
        **request: Unpack[_Request],
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, **request)


class DailyCapReachedError(RateLimitedError):
    """The sub-account's daily budget is down to the reserve: stop, checkpoint, resume after the reset."""

    def __init__(
        self,
        message: str,
        *,
        remaining: int | None = None,
        retry_after_s: float | None = None,
        **request: Unpack[_Request],
    ) -> None:
        self.remaining = remaining
        super().__init__(message, retry_after_s=retry_after_s, **request)


class AmbiguousWriteError(HighLevelError):
    """A create failed in a way that leaves open whether the object exists.

    Causes: timeout, connection reset, 5xx, or a 4xx after which HighLevel may still have created it.

    It is never retried blindly. ``lookup`` holds what identifies the object (e.g. ``{"email": ...}`` is
    deliberately *not* rendered in the message: only the lookup's keys are), so the caller can find it with
    the client's lookup helpers before deciding to create again.
    """

    def __init__(
        self,
        message: str,
        *,
        resource: str,
        lookup: dict[str, str] | None = None,
        cause: str | None = None,
        **request: Unpack[_Request],
    ) -> None:
        self.resource = resource
        self.lookup = dict(lookup or {})
        self.cause = cause
        super().__init__(message, **request)

    def __repr__(self) -> str:
        # The lookup values can be a patient's e-mail or phone: show only which keys we have.
        return f"AmbiguousWriteError(resource={self.resource!r}, lookup_keys={sorted(self.lookup)!r})"


class ServerError(HighLevelError):
    """5xx that outlasted the retry policy."""


class ResponseFormatError(HighLevelError):
    """A success response whose body is not the documented shape (missing or mistyped fields)."""


class SourceError(DentrixHighLevelError):
    """Reading the Dentrix source failed as a whole (single bad rows are ``SourceIssue`` records instead)."""


class SourceFileError(SourceError):
    """A required file or column is missing, or a file cannot be opened; the message names it."""

    def __init__(self, message: str, *, file: str | None = None, column: str | None = None) -> None:
        self.file = file
        self.column = column
        super().__init__(message)


class DocumentFileError(SourceFileError):
    """One document's file in the export cannot be read for upload; names the document id, never its path
    (file names can hold a patient's name) nor its content. ``reason`` is a short code: ``unsafe_path``,
    ``not_regular`` (a device, FIFO or folder), ``hard_link``, ``missing``, ``too_large``, ``checksum`` or
    ``unreadable``."""

    def __init__(self, message: str, *, document_id: str, reason: str) -> None:
        self.document_id = document_id
        self.reason = reason
        super().__init__(f"document {document_id}: {message}")


class AscendError(_ServerAnswer, SourceError):
    """The Dentrix Ascend API Exchange answered badly (auth, permission, rate limit, server, format).

    The message is ours; Ascend's error code is ``code`` (when it has the shape of one) and its answer is
    only ``debug_detail`` (in memory, never in ``str()``/``repr()``).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status_code = status_code
        where = f" [{method} {path} -> {status_code}]" if method and path else ""
        super().__init__(message + where)


class MappingError(DentrixHighLevelError):
    """A mapping is wrong as built: unknown source column, bad target type, duplicate target."""


class PlanError(DentrixHighLevelError):
    """The migration plan cannot be used as it is."""


class PlanNotApprovedError(PlanError):
    """``run()`` was asked for on a plan that nobody approved."""


class PlanChangedError(PlanError):
    """The plan changed after it was approved; ``changes`` names what changed."""

    def __init__(self, message: str, *, changes: Sequence[str] = ()) -> None:
        self.changes = tuple(changes)
        super().__init__(message)


class LedgerError(DentrixHighLevelError):
    """The ledger cannot be trusted: corrupt, foreign, from another migration, or from a newer version."""


def _publish_errors() -> None:
    # Tracebacks and ``except`` clauses name the public path, dentrix_highlevel.errors.PlanError.
    from dentrix_highlevel._public import publish

    publish("dentrix_highlevel.errors", __all__, globals(), also=("dentrix_highlevel._errors",))


_publish_errors()
