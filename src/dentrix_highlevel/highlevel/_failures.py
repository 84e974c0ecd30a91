"""Turning HighLevel's error answers into our exception tree: status, error code, trace id and the names of
the fields at fault, never HighLevel's own sentences.

HighLevel echoes request values in its messages (a 422 carried a patient's name, address and diagnosis),
and what we raise ends up in logs, terminals and the audit. So a message is only ever *read*: a
class-validator sentence (``property X should not exist``, ``X must be an email``) gives its field path
when that path looks like an identifier; a fixed sentence the library relies on ("This location does not
allow duplicated contacts.") gives a category; anything else becomes ``(message withheld)``. The answer
as HighLevel gave it stays on the exception, in memory only, as ``debug_detail``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from dentrix_highlevel._errors import (
    AuthenticationError,
    DuplicateContactError,
    HighLevelError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from dentrix_highlevel._server_text import (
    WITHHELD,
    category_of,
    debug_text,
    describe_messages,
    error_code,
    field_fault,
    safe_trace_id,
)

__all__ = [
    "WITHHELD",
    "debug_text",
    "describe_messages",
    "error_code",
    "error_for",
    "field_fault",
    "raw_messages",
    "retry_after_s",
    "safe_contact_id",
    "safe_trace_id",
    "trace_id_of",
]

# HighLevel's object ids: 20 random letters and digits. Used in request paths and audit reasons, so an
# echoed value in ``meta.contactId`` must not pass for one.
_OBJECT_ID = re.compile(r"[A-Za-z0-9]{16,40}", re.ASCII)
_MATCHING_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}", re.ASCII)


def raw_messages(body: Any) -> tuple[str, ...]:
    """HighLevel's ``message`` (a string or a list of strings) as given: for classifying, never for
    showing."""
    if not isinstance(body, dict):
        return ()
    raw = body.get("message")
    if isinstance(raw, str):
        return (raw,)
    if isinstance(raw, list):
        return tuple(m for m in raw if isinstance(m, str))
    return ()


def trace_id_of(body: Any, response: httpx.Response) -> str | None:
    """The trace id of an answer: the body's ``traceId``, else the ``x-trace-id`` header, when either has
    the shape of one."""
    from_body = safe_trace_id(body.get("traceId")) if isinstance(body, dict) else None
    return from_body or safe_trace_id(response.headers.get("x-trace-id"))


def safe_contact_id(value: object) -> str | None:
    """``value`` when it has the shape of a HighLevel object id (it goes into request paths and reasons)."""
    if isinstance(value, str) and _OBJECT_ID.fullmatch(value):
        return value
    return None


def _auth_reason(messages: tuple[str, ...]) -> str:
    text = " ".join(messages).casefold()
    if "scope" in text:
        return "scope"  # "The token is not authorized for this scope."
    if "version header" in text:
        return "version"
    if "token" in text or "unauthorized" in text:
        return "token"  # "Invalid token: access token is invalid" (also expired)
    return "unknown"


def _says_not_found(messages: tuple[str, ...]) -> bool:
    return len(messages) == 1 and category_of(messages[0]) == "not found"


def retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None  # an HTTP-date: rare for APIs; fall back to our backoff
    return value if value >= 0 else None


def _annotated(error: HighLevelError, *, code: str | None, detail: str) -> HighLevelError:
    error.code = code
    error._debug_detail = detail
    return error


def error_for(
    response: httpx.Response, body: Any, *, method: str, path: str, content: bytes = b""
) -> HighLevelError:
    status = response.status_code
    raw = raw_messages(body)
    shown, fields = describe_messages(raw)
    code = error_code(body)
    detail = debug_text(status, body, content)
    where: dict[str, Any] = {
        "method": method,
        "path": path,
        "status_code": status,
        "trace_id": trace_id_of(body, response),
    }
    said = ", ".join(([code] if code else []) + list(shown[:5])) or f"HTTP {status}"
    if status == 401:
        reason = _auth_reason(raw)
        return _annotated(
            AuthenticationError(f"HighLevel refused the credentials ({reason})", reason=reason, **where),
            code=code,
            detail=detail,
        )
    if status == 403:
        return _annotated(PermissionDeniedError("HighLevel denied access", **where), code=code, detail=detail)
    if status == 404 or (status == 400 and _says_not_found(raw)):
        # HighLevel often answers a missing object with 400 "<Thing> not found" (the associations spec
        # declares no 404 at all): that is a not-found, not a malformed request.
        return _annotated(NotFoundError("not found", **where), code=code, detail=detail)
    if status == 429:
        return _annotated(
            RateLimitedError("rate limited by HighLevel", retry_after_s=retry_after_s(response), **where),
            code=code,
            detail=detail,
        )
    if status >= 500:
        return _annotated(ServerError(f"HighLevel server error {status}", **where), code=code, detail=detail)
    if status == 400 and any(category_of(m) == "duplicate contact" for m in raw):
        raw_meta = body.get("meta") if isinstance(body, dict) else None
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        field = meta.get("matchingField")
        return _annotated(
            DuplicateContactError(
                "the location does not allow duplicated contacts",
                contact_id=safe_contact_id(meta.get("contactId")),
                matching_field=field if isinstance(field, str) and _MATCHING_FIELD.fullmatch(field) else None,
                messages=shown,
                fields=fields,
                **where,
            ),
            code=code,
            detail=detail,
        )
    if status in (400, 409, 422):
        return _annotated(
            ValidationError(
                f"HighLevel rejected the request: {said}", messages=shown, fields=fields, **where
            ),
            code=code,
            detail=detail,
        )
    return _annotated(HighLevelError(f"unexpected HTTP {status}", **where), code=code, detail=detail)
