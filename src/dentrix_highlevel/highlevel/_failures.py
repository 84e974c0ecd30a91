"""Turning HighLevel's error answers into our exception tree (ids and HighLevel's messages, never bodies)."""

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

__all__ = ["error_for", "messages_of", "retry_after_s", "scrub"]

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{5,}\d")


def scrub(text: str) -> str:
    """HighLevel's messages name fields; redact anything that still looks like an e-mail or a phone."""
    return _DIGITS.sub("<redacted>", _EMAIL.sub("<redacted>", text))[:300]


def messages_of(body: Any) -> tuple[str, ...]:
    if not isinstance(body, dict):
        return ()
    raw = body.get("message")
    if isinstance(raw, str):
        return (scrub(raw),)
    if isinstance(raw, list):
        return tuple(scrub(m) for m in raw if isinstance(m, str))
    return ()


def _auth_reason(message: str) -> str:
    text = message.casefold()
    if "scope" in text:
        return "scope"  # "The token is not authorized for this scope."
    if "version header" in text:
        return "version"
    if "token" in text or "unauthorized" in text:
        return "token"  # "Invalid token: access token is invalid" (also expired)
    return "unknown"


_NOT_FOUND = re.compile(r"\bnot found\b", re.IGNORECASE)


def _says_not_found(messages: tuple[str, ...]) -> bool:
    return len(messages) == 1 and bool(_NOT_FOUND.search(messages[0]))


def retry_after_s(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None  # an HTTP-date: rare for APIs; fall back to our backoff
    return value if value >= 0 else None


def error_for(response: httpx.Response, body: Any, *, method: str, path: str) -> HighLevelError:
    status = response.status_code
    trace_id = (
        body.get("traceId") if isinstance(body, dict) and isinstance(body.get("traceId"), str) else None
    )
    messages = messages_of(body)
    first = messages[0] if messages else response.reason_phrase or "error"
    where: dict[str, Any] = {"method": method, "path": path, "status_code": status, "trace_id": trace_id}
    if status == 401:
        return AuthenticationError(
            f"HighLevel refused the credentials: {first}", reason=_auth_reason(first), **where
        )
    if status == 403:
        return PermissionDeniedError(f"HighLevel denied access: {first}", **where)
    if status == 404 or (status == 400 and _says_not_found(messages)):
        # HighLevel often answers a missing object with 400 "<Thing> not found" (the associations spec
        # declares no 404 at all): that is a not-found, not a malformed request.
        return NotFoundError("not found", **where)
    if status == 429:
        return RateLimitedError("rate limited by HighLevel", retry_after_s=retry_after_s(response), **where)
    if status >= 500:
        return ServerError(f"HighLevel server error {status}", **where)
    if status == 400 and isinstance(body, dict) and "duplicated contacts" in str(body.get("message", "")):
        raw_meta = body.get("meta")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        contact_id = meta.get("contactId") if isinstance(meta.get("contactId"), str) else None
        field = meta.get("matchingField") if isinstance(meta.get("matchingField"), str) else None
        return DuplicateContactError(
            "the location does not allow duplicated contacts",
            contact_id=contact_id,
            matching_field=field,
            messages=messages,
            **where,
        )
    if status in (400, 409, 422):
        shown = "; ".join(messages[:3]) or "no message"
        return ValidationError(f"HighLevel rejected the request: {shown}", messages=messages, **where)
    return HighLevelError(f"unexpected HTTP {status}", **where)
