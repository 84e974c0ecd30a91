"""Reading what a server said in an error answer without repeating it: the one place that decides which
parts of HighLevel's and Ascend's error texts may be shown (field names, codes, trace ids) and which are
withheld. Both APIs echo request values in their messages, and what we raise ends up in logs, terminals and
the audit, which the docs call safe to send to support.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

__all__ = [
    "WITHHELD",
    "category_of",
    "debug_text",
    "describe_messages",
    "error_code",
    "field_fault",
    "safe_code",
    "safe_trace_id",
    "shown_or_withheld",
]

#: What a message becomes when it is not one of the shapes we can reduce to a field name or a category.
WITHHELD: Final = "(message withheld)"

# A field path as class-validator prints it: ``email``, ``customFields.0.value``, ``items[2].name``. No
# spaces, dashes or '@', so a name ("Jane Doe"), an address or an e-mail cannot pass for one.
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+|\[[0-9]+\])*", re.ASCII)
_FIELD_MAX = 80

# class-validator's sentence shapes (the tails are the library's constants, not the request's values).
_SHAPES: Final = (
    (re.compile(r"property (\S+) should not exist"), "not allowed"),
    (re.compile(r"(?:each value in )?(\S+) should not be (?:empty|null or undefined)"), "missing"),
    (
        re.compile(
            r"(?:each value in |nested property )?(\S+) "
            r"(?:must|should) (?:not )?(?:be|contain|match|have|only)\b.*",
            re.DOTALL,
        ),
        "invalid",
    ),
)

# Fixed sentences the library acts on: matched to classify, reported only as the category.
_CATEGORIES: Final = (
    (re.compile(r"does not allow duplicated contacts", re.IGNORECASE), "duplicate contact"),
    (re.compile(r"duplicate opportunity", re.IGNORECASE), "duplicate opportunity"),
    (re.compile(r"\bnot found\b", re.IGNORECASE), "not found"),
    (re.compile(r"not authorized for this scope", re.IGNORECASE), "scope not granted"),
    (re.compile(r"version header", re.IGNORECASE), "version header"),
    (re.compile(r"does not have access to this location", re.IGNORECASE), "no access to the location"),
)

# HighLevel's codes are upper snake case (OPPORTUNITY_NO_DUPLICATE); Ascend's lower snake case with an
# underscore (not_found). A bare lower-case word is refused: it could be a first name.
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}|[a-z][a-z0-9]*(?:_[a-z0-9]+)+", re.ASCII)
_CODE_MAX = 64

# Trace ids are UUIDs or long hex: hex cannot spell a name, and 16+ characters with a letter is no date
# or phone number.
_TRACE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?=[0-9]*[a-f])[0-9a-f]{16,64}",
    re.ASCII | re.IGNORECASE,
)

_DEBUG_MAX = 8_000


def field_fault(message: str) -> tuple[str, str] | None:
    """``(field path, kind)`` of a class-validator sentence whose field is a plausible identifier path;
    None for anything else (the message is then not shown at all)."""
    text = message.strip()
    for shape, kind in _SHAPES:
        matched = shape.fullmatch(text)
        if matched is None:
            continue
        field = matched.group(1)
        if len(field) <= _FIELD_MAX and _FIELD.fullmatch(field):
            return field, kind
        return None
    return None


def category_of(message: str) -> str | None:
    """The category of a fixed sentence the library acts on, or None."""
    for pattern, category in _CATEGORIES:
        if pattern.search(message):
            return category
    return None


def describe_messages(messages: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(what may be shown for each message, the field paths at fault), duplicates dropped.

    A field sentence shows as ``"email (invalid)"``, a known fixed sentence as its category, anything
    else as :data:`WITHHELD` (once, last)."""
    shown: list[str] = []
    fields: list[str] = []
    for message in messages:
        fault = field_fault(message)
        if fault is not None:
            text = f"{fault[0]} ({fault[1]})"
            if fault[0] not in fields:
                fields.append(fault[0])
        else:
            text = category_of(message) or WITHHELD
        if text not in shown:
            shown.append(text)
    # What was withheld goes last: the fields at fault are what a reader acts on.
    ordered = [t for t in shown if t != WITHHELD] + [t for t in shown if t == WITHHELD]
    return tuple(ordered), tuple(fields)


def error_code(body: Any) -> str | None:
    """HighLevel's machine error code (``code``/``errorCode``, or an ``error`` in upper snake case), when
    it has the shape of one."""
    if not isinstance(body, dict):
        return None
    for key in ("code", "errorCode", "error"):
        code = safe_code(body.get(key))
        if code is not None:
            return code
    return None


def safe_trace_id(value: object) -> str | None:
    """``value`` when it has the shape of a trace id, else None (a server may echo anything there)."""
    if isinstance(value, str) and _TRACE.fullmatch(value):
        return value
    return None


def debug_text(status: int, body: Any, content: bytes, *, secrets: tuple[str, ...] = ()) -> str:
    """The answer as the server gave it, bounded, with our own ``secrets`` blotted out (a server may echo
    the form we sent): kept on the exception for ``--debug`` on a terminal, never logged nor written."""
    if body is not None:
        try:
            text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(body)
    else:
        text = content[:_DEBUG_MAX].decode("utf-8", errors="replace")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<secret>")
    return f"HTTP {status}: {text[:_DEBUG_MAX]}"


_SHOWN_FAULT = re.compile(r"(\S+) \((?:not allowed|missing|invalid)\)")
_SHOWABLE: Final = frozenset({WITHHELD, *(category for _pattern, category in _CATEGORIES)})


def shown_or_withheld(text: str) -> str:
    """``text`` when it is one of the renderings :func:`describe_messages` makes, else :data:`WITHHELD`.

    For what reaches the audit from an exception built elsewhere (``ValidationError`` is public: code of
    any caller can raise it with HighLevel's raw sentences)."""
    matched = _SHOWN_FAULT.fullmatch(text)
    if matched is not None and len(matched.group(1)) <= _FIELD_MAX and _FIELD.fullmatch(matched.group(1)):
        return text
    return text if text in _SHOWABLE else WITHHELD


def safe_code(value: object) -> str | None:
    """``value`` when it has the shape of an error code."""
    if isinstance(value, str) and len(value) <= _CODE_MAX and _CODE.fullmatch(value):
        return value
    return None
