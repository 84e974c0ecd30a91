"""Every HighLevel operation the client can send, with the OAuth scope and ``Version`` the official spec
declares for it.

The catalogue is what the scope table in the docs, the migration's required scopes and the preflight are
computed from; ``tests/contract`` checks every entry against the official OpenAPI files (the operation's
``security``, or the scope table HighLevel publishes where the spec declares none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import attrs

__all__ = ["OPERATIONS", "Operation", "operation", "operation_for", "scopes_of"]

_V = "2021-07-28"
_VC = "2021-04-15"


@attrs.frozen(kw_only=True)
class Operation:
    """One HighLevel operation: ``path`` is the spec's template (``/contacts/{contactId}``)."""

    method: str
    path: str
    scope: str
    version: str = _V

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    def matches(self, method: str, path: str) -> bool:
        return (
            method.upper() == self.method
            and _pattern(self.path).fullmatch(path.rstrip("/") or "/") is not None
        )


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template.rstrip("/") or "/")
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _ops(scope: str, version: str, *pairs: str) -> tuple[Operation, ...]:
    out = []
    for pair in pairs:
        method, path = pair.split(" ", 1)
        out.append(Operation(method=method, path=path, scope=scope, version=version))
    return tuple(out)


OPERATIONS: tuple[Operation, ...] = (
    *_ops(
        "contacts.readonly",
        _V,
        "GET /contacts/{contactId}",
        "POST /contacts/search",
        "GET /contacts/search/duplicate",
        "GET /contacts/",
        "GET /contacts/{contactId}/appointments",
        "GET /contacts/{contactId}/notes",
        "GET /contacts/{contactId}/notes/{id}",
        "GET /contacts/{contactId}/tasks",
        "GET /contacts/{contactId}/tasks/{taskId}",
    ),
    *_ops(
        "contacts.write",
        _V,
        "POST /contacts/upsert",
        "POST /contacts/",
        "PUT /contacts/{contactId}",
        "DELETE /contacts/{contactId}",
        "POST /contacts/{contactId}/tags",
        "DELETE /contacts/{contactId}/tags",
        "POST /contacts/bulk/tags/update/{type}",
        "POST /contacts/{contactId}/notes",
        "PUT /contacts/{contactId}/notes/{id}",
        "DELETE /contacts/{contactId}/notes/{id}",
        "POST /contacts/{contactId}/tasks",
        "PUT /contacts/{contactId}/tasks/{taskId}",
        "PUT /contacts/{contactId}/tasks/{taskId}/completed",
        "DELETE /contacts/{contactId}/tasks/{taskId}",
    ),
    *_ops("locations.readonly", _V, "GET /locations/{locationId}"),
    *_ops(
        "locations/tags.readonly",
        _V,
        "GET /locations/{locationId}/tags",
        "GET /locations/{locationId}/tags/{tagId}",
    ),
    *_ops(
        "locations/tags.write",
        _V,
        "POST /locations/{locationId}/tags",
        "PUT /locations/{locationId}/tags/{tagId}",
        "DELETE /locations/{locationId}/tags/{tagId}",
    ),
    *_ops(
        "locations/customFields.readonly",
        _V,
        "GET /locations/{locationId}/customFields",
        "GET /locations/{locationId}/customFields/{id}",
    ),
    *_ops(
        "locations/customFields.write",
        _V,
        "POST /locations/{locationId}/customFields",
        "PUT /locations/{locationId}/customFields/{id}",
        "DELETE /locations/{locationId}/customFields/{id}",
    ),
    *_ops(
        "locations/customValues.readonly",
        _V,
        "GET /locations/{locationId}/customValues",
        "GET /locations/{locationId}/customValues/{id}",
    ),
    *_ops(
        "locations/customValues.write",
        _V,
        "POST /locations/{locationId}/customValues",
        "PUT /locations/{locationId}/customValues/{id}",
        "DELETE /locations/{locationId}/customValues/{id}",
    ),
    *_ops("users.readonly", _V, "GET /users/search", "GET /users/", "GET /users/{userId}"),
    *_ops("users.write", _V, "POST /users/", "PUT /users/{userId}", "DELETE /users/{userId}"),
    *_ops("calendars.readonly", _VC, "GET /calendars/", "GET /calendars/{calendarId}"),
    *_ops(
        "calendars.write",
        _VC,
        "POST /calendars/",
        "PUT /calendars/{calendarId}",
        "DELETE /calendars/{calendarId}",
    ),
    *_ops(
        "calendars/events.readonly",
        _VC,
        "GET /calendars/events",
        "GET /calendars/events/appointments/{eventId}",
    ),
    *_ops(
        "calendars/events.write",
        _VC,
        "POST /calendars/events/appointments",
        "PUT /calendars/events/appointments/{eventId}",
        "DELETE /calendars/events/{eventId}",
    ),
    *_ops(
        "opportunities.readonly",
        _V,
        "GET /opportunities/pipelines",
        "GET /opportunities/search",
        "POST /opportunities/search",
        "GET /opportunities/{id}",
    ),
    *_ops(
        "opportunities.write",
        _V,
        "POST /opportunities/",
        "POST /opportunities/upsert",
        "PUT /opportunities/{id}",
        "PUT /opportunities/{id}/status",
        "DELETE /opportunities/{id}",
    ),
    *_ops("medias.readonly", _V, "GET /medias/files"),
    *_ops("medias.write", _V, "POST /medias/upload-file", "DELETE /medias/{id}"),
    *_ops(
        "associations.readonly",
        _V,
        "GET /associations/",
        "GET /associations/key/{key_name}",
        "GET /associations/{associationId}",
    ),
    *_ops("associations.write", _V, "POST /associations/", "DELETE /associations/{associationId}"),
    *_ops("associations/relation.readonly", _V, "GET /associations/relations/{recordId}"),
    *_ops(
        "associations/relation.write",
        _V,
        "POST /associations/relations",
        "DELETE /associations/relations/{relationId}",
    ),
    *_ops("workflows.readonly", _V, "GET /workflows/"),
    *_ops("oauth.write", _V, "POST /oauth/locationToken"),
)

_BY_NAME = {op.name: op for op in OPERATIONS}
# Literal segments win over parameters: ``/contacts/search`` is not ``/contacts/{contactId}``.
_BY_SPECIFICITY = sorted(OPERATIONS, key=lambda op: -sum(1 for p in op.path.split("/") if p and "{" not in p))


def operation(name: str) -> Operation:
    """The catalogued operation ``"METHOD /template"`` (a KeyError names a typo at import time)."""
    return _BY_NAME[name]


def operation_for(method: str, path: str) -> Operation | None:
    """The operation a concrete request (``GET /contacts/abc``) is an instance of."""
    return next((op for op in _BY_SPECIFICITY if op.matches(method, path)), None)


def scopes_of(operations: Iterable[Operation]) -> tuple[str, ...]:
    return tuple(sorted({op.scope for op in operations}))
