"""The official HighLevel OpenAPI files, loaded from ``../shared`` (never copied), with ``$ref`` resolution
across files and a short, explained list of places where we deliberately deviate from the spec."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

Json = dict[str, Any]

#: (file, JSON pointer, replacement schema, reason). Each one is a spec defect that API-NOTES documents
#: from the real API; everything else validates against the spec as published.
SPEC_EXCEPTIONS: list[tuple[str, str, Json, str]] = [
    *[
        (
            "apps/contacts.json",
            f"/components/schemas/{dto}/properties/dateOfBirth",
            {"type": "string"},
            "declared `type: object`, but its description lists string formats; example '1990-09-25'",
        )
        for dto in ("CreateContactDto", "UpsertContactDto", "UpdateContactDto")
    ],
    *[
        (
            "apps/contacts.json",
            f"/components/schemas/{field}/properties/field_value",
            {"type": "number"},
            "declared `type: object`; API-NOTES §2.2: NUMERICAL/MONETORY take a number (e.g. 100, 100.5)",
        )
        for field in ("NumericField", "MonetoryField")
    ],
    *[
        (
            spec,
            "/components/schemas/CustomFieldSchema/properties/value",
            {},
            "declared string; read values keep their dataType: numbers, string[] for CHECKBOX/"
            "MULTIPLE_OPTIONS, epoch ms for DATE (API-NOTES §2.2, §13)",
        )
        for spec in ("apps/contacts.json", "history/contacts@5f8673c.json")
    ],
    (
        "history/contacts@5f8673c.json",
        "/components/schemas/Contact/properties/searchAfter/items",
        {},
        "declared string[], but the example (and the cursor) is [<number>, '<id>'] (API-NOTES §2.5)",
    ),
    *[
        (
            "apps/calendars.json",
            f"/components/schemas/CalendarEventDTO/properties/{key}",
            {"type": "string"},
            "declared `type: object`; the example and the API return ISO-8601 strings",
        )
        for key in ("startTime", "endTime", "dateAdded", "dateUpdated")
    ],
    (
        "apps/opportunities.json",
        "/components/schemas/PipelinesResponseSchema/properties/stages/items",
        {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}},
        "declared an array of arrays; stages are objects whose id (a UUID) and name clients read "
        "(API-NOTES §6)",
    ),
]

_RELATION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "locationId": {"type": "string"},
        "associationId": {"type": "string"},
        "firstRecordId": {"type": "string"},
        "secondRecordId": {"type": "string"},
    },
    "required": ["id", "associationId", "firstRecordId", "secondRecordId"],
}


def _answer(path: str, method: str, status: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"


SPEC_EXCEPTIONS += [
    *[
        (
            "apps/associations.json",
            f"/components/schemas/{dto}/properties/{key}",
            {"type": "string"},
            "declared `type: object`; the examples ('student', 'contact', 'USER_DEFINED') are strings",
        )
        for dto, key in [
            *[
                (dto, key)
                for dto in ("createAssociationReqDto", "GetPostSuccessfulResponseDto")
                for key in ("firstObjectLabel", "firstObjectKey", "secondObjectLabel", "secondObjectKey")
            ],
            ("GetPostSuccessfulResponseDto", "associationType"),
        ]
    ],
    *[
        (
            "apps/associations.json",
            _answer(path, method, status),
            schema,
            "every relation operation reuses the association DTO (copy-paste in the spec); a relation "
            "answer carries the relation's ids, and a listing wraps its rows (our assumption, API-NOTES §8)",
        )
        for path, method, status, schema in (
            ("/associations/relations", "post", "201", _RELATION),
            (
                "/associations/relations/{recordId}",
                "get",
                "200",
                {
                    "type": "object",
                    "properties": {
                        "relations": {"type": "array", "items": _RELATION},
                        "total": {"type": "integer"},
                    },
                    "required": ["relations"],
                },
            ),
            ("/associations/relations/{relationId}", "delete", "200", _RELATION),
            (
                "/associations/",
                "get",
                "200",
                {
                    "type": "object",
                    "properties": {"associations": {"type": "array"}, "total": {"type": "integer"}},
                    "required": ["associations"],
                },
            ),
        )
    ],
]

_MEDIA_FILE = {
    "type": "object",
    "properties": {
        "_id": {"type": "string"},
        "altId": {"type": "string"},
        "altType": {"type": "string", "enum": ["location"]},
        "name": {"type": "string"},
        "parentId": {"type": "string"},
        "url": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["_id", "altId", "altType", "name", "url"],
}

SPEC_EXCEPTIONS += [
    (
        "apps/medias.json",
        "/components/schemas/GetFilesResponseDTO/properties/files/items",
        _MEDIA_FILE,
        "declared string[], but its own example is one file object (altId, altType, name, parentId, url, "
        "path); the spec names no id key: we read `_id`, HighLevel's media object id (API-NOTES §7; our "
        "assumption, the client also accepts `id`)",
    ),
    (
        "apps/medias.json",
        "/paths/~1medias~1{id}/delete/responses/200",
        {
            "description": "Successful response",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"success": {"type": "boolean"}},
                        "required": ["success"],
                    }
                }
            },
        },
        "the spec documents no body for a deleted file; the sandbox answers `{success: true}` like the "
        "calendar delete (our assumption; the client reads nothing from it, only the status)",
    ),
]

#: Operations where another schema than the current spec's is the right reference.
SCHEMA_OVERRIDES: dict[tuple[str, str, str], tuple[str, str]] = {
    # The current spec has no response schema for search; the 2025-09 revision does (lead's instruction).
    ("POST", "/contacts/search", "200"): (
        "history/contacts@5f8673c.json",
        "/components/schemas/SearchContactSuccessResponseDto",
    ),
    # HEAD requires followers/isRemoveAllFollowers/followersActionType and dropped contactId, yet creating
    # without contactId is a 422 (API-NOTES §6); the 2025-08 DTO matches the API.
    ("POST", "/opportunities/upsert", "request"): (
        "history/opportunities@030b7de.json",
        "/components/schemas/UpsertOpportunityDto",
    ),
}


def _pointer_set(doc: Json, pointer: str, value: Json) -> None:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    node: Any = doc
    for part in parts[:-1]:
        node = node[part]
    if parts[-1] not in node:
        raise KeyError(f"spec exception points nowhere: {pointer}")
    node[parts[-1]] = value


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@attrs.frozen
class Operation:
    file: str
    method: str
    template: str
    spec: Json


class SpecBook:
    def __init__(self, openapi_dir: Path) -> None:
        self.root = openapi_dir
        self.docs: dict[str, Json] = {}
        resources = []
        for path in (
            sorted(openapi_dir.glob("apps/*.json"))
            + sorted(openapi_dir.glob("history/*.json"))
            + [openapi_dir / "common" / "common-schemas.json"]
        ):
            rel = path.relative_to(openapi_dir).as_posix()
            doc = copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))
            for file, pointer, replacement, _reason in SPEC_EXCEPTIONS:
                if file == rel:
                    _pointer_set(doc, pointer, replacement)
            self.docs[rel] = doc
            resources.append(
                (path.resolve().as_uri(), Resource.from_contents(doc, default_specification=DRAFT4))
            )
        self.registry: Registry[Any] = Registry().with_resources(resources)
        self._routes: list[tuple[re.Pattern[str], int, Operation]] = []
        for rel, doc in self.docs.items():
            if not rel.startswith("apps/"):
                continue
            for template, ops in doc.get("paths", {}).items():
                pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$")
                params = template.count("{")
                for method, op in ops.items():
                    if method in ("get", "post", "put", "delete"):
                        self._routes.append((pattern, params, Operation(rel, method.upper(), template, op)))

    def operation(self, method: str, path: str) -> Operation | None:
        matches = [
            (params, op)
            for pattern, params, op in self._routes
            if op.method == method and pattern.match(path)
        ]
        return min(matches, key=lambda m: m[0])[1] if matches else None

    def _uri(self, rel: str) -> str:
        return (self.root / rel).resolve().as_uri()

    def _validator(self, rel: str, pointer: str) -> Callable[[Any], list[str]]:
        schema = {"$ref": f"{self._uri(rel)}#{pointer}"}
        validator = jsonschema.Draft4Validator(schema, registry=self.registry)

        def validate(instance: Any) -> list[str]:
            return [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)
            ]

        return validate

    def response_validator(self, op: Operation, status: int) -> Callable[[Any], list[str]] | None:
        override = SCHEMA_OVERRIDES.get((op.method, op.template, str(status)))
        if override:
            return self._validator(*override)
        content = op.spec.get("responses", {}).get(str(status), {}).get("content", {})
        if "schema" not in content.get("application/json", {}):
            return None
        operation = f"/paths/{_escape(op.template)}/{op.method.lower()}"
        pointer = f"{operation}/responses/{status}/content/application~1json/schema"
        return self._validator(op.file, pointer)

    def request_validator(self, op: Operation, content_type: str) -> Callable[[Any], list[str]] | None:
        override = SCHEMA_OVERRIDES.get((op.method, op.template, "request"))
        if override:
            return self._validator(*override)
        content = op.spec.get("requestBody", {}).get("content", {})
        if "schema" not in content.get(content_type, {}):
            return None
        operation = f"/paths/{_escape(op.template)}/{op.method.lower()}"
        pointer = f"{operation}/requestBody/content/{_escape(content_type)}/schema"
        return self._validator(op.file, pointer)
