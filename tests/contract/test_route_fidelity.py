"""Every route the sandbox serves declares what its official spec operation declares.

For each served route: the scope (the operation's ``security``; where that names none, the scope
``docs/oauth/Scopes.md`` lists for the endpoint), the ``Version`` header (the operation's enum), the query
parameters (``in: query``) and the request body's properties (JSON or form fields) equal the spec's, plus
the undocumented properties listed in ``sandbox/_undocumented.py``, each with its source. So the sandbox is
never stricter than HighLevel (every declared property is accepted) and never laxer (nothing else is).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dentrix_highlevel.sandbox._app import ALL_ROUTES
from dentrix_highlevel.sandbox._contacts_model import CUSTOM_ITEM_KEYS
from dentrix_highlevel.sandbox._http import ApiRoute
from dentrix_highlevel.sandbox._state import ALL_SCOPES
from dentrix_highlevel.sandbox._undocumented import UNDOCUMENTED, undocumented

from ._specbook import Operation, SpecBook

Json = dict[str, Any]

#: Operations for which neither the spec (no security) nor Scopes.md names a scope: the sandbox's guess.
SCOPE_GUESSES = {
    ("POST", "/contacts/bulk/tags/update/{type}"): "contacts.write",
}
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@pytest.fixture(scope="module")
def book(openapi_dir: Path) -> SpecBook:
    return SpecBook(openapi_dir)


def _shape(path: str) -> str:
    """A path with every parameter as ``{}`` and no trailing slash, so spec, Scopes.md and routes compare."""
    path = re.sub(r"\{[^}]+\}|:[A-Za-z_]+", "{}", path)
    return "/" + path.strip("/")


@pytest.fixture(scope="module")
def scopes_md(openapi_dir: Path) -> dict[tuple[str, str], str]:
    """(METHOD, shaped path) -> scope, from the Scopes.md table (a blank scope cell continues the last)."""
    table: dict[tuple[str, str], str] = {}
    current = ""
    for line in (openapi_dir / "docs" / "oauth" / "Scopes.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not line.lstrip().startswith("|"):
            continue
        scope, endpoint = cells[0], cells[1]
        if scope and scope != "&nbsp;":
            current = scope
        method, _, path = endpoint.partition(" ")
        if method in ("GET", "POST", "PUT", "DELETE", "PATCH") and current:
            table[(method, _shape(path))] = current
    return table


def _concrete(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", template)


def _operation(book: SpecBook, route: ApiRoute) -> Operation:
    op = book.operation(route.method, _concrete(route.path))
    assert op is not None, f"served but not in the spec: {route.method} {route.path}"
    assert _shape(op.template) == _shape(route.path), (route.path, op.template)
    return op


def _resolve(book: SpecBook, op: Operation, node: Any) -> Any:
    doc = book.docs[op.file]
    while isinstance(node, dict) and "$ref" in node:
        file, _, pointer = node["$ref"].partition("#")
        target: Any = doc if not file else book.docs["common/common-schemas.json"]
        for part in pointer.strip("/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _properties(book: SpecBook, op: Operation, schema: Any) -> set[str]:
    schema = _resolve(book, op, schema)
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _properties(book, op, part)
    return names


def _spec_body(book: SpecBook, op: Operation) -> set[str] | None:
    content = op.spec.get("requestBody", {}).get("content")
    if not content:
        return None
    for content_type in ("application/json", *_FORM_TYPES):
        if content_type in content:
            return _properties(book, op, content[content_type].get("schema", {}))
    raise AssertionError(f"unexpected request content types {sorted(content)} in {op.template}")


def _parameters(book: SpecBook, op: Operation) -> list[Json]:
    return [_resolve(book, op, p) for p in op.spec.get("parameters", [])]


def _ids(route: ApiRoute) -> str:
    return f"{route.method} {route.path}"


ROUTES = pytest.mark.parametrize("route", ALL_ROUTES, ids=_ids)


@ROUTES
def test_scope_is_the_specs(book: SpecBook, scopes_md: dict[tuple[str, str], str], route: ApiRoute) -> None:
    op = _operation(book, route)
    declared = {
        scope for requirement in op.spec.get("security") or [] for v in requirement.values() for scope in v
    }
    if route.scope is None:
        assert not declared, f"{route.path} declares {declared} but the sandbox checks no token"
        return
    if declared:
        assert {route.scope} == declared
    elif (route.method, _shape(route.path)) in scopes_md:
        assert route.scope == scopes_md[(route.method, _shape(route.path))]
    else:
        assert route.scope == SCOPE_GUESSES[(route.method, route.path)]
    assert route.scope in ALL_SCOPES


@ROUTES
def test_version_is_the_specs(book: SpecBook, route: ApiRoute) -> None:
    op = _operation(book, route)
    enums = [
        set(p.get("schema", {}).get("enum", []))
        for p in _parameters(book, op)
        if p.get("in") == "header" and p["name"] == "Version"
    ]
    if route.version is None:
        assert enums == []
    else:
        assert enums == [{route.version}]


@ROUTES
def test_query_parameters_are_the_specs(book: SpecBook, route: ApiRoute) -> None:
    op = _operation(book, route)
    spec = {p["name"] for p in _parameters(book, op) if p.get("in") == "query"}
    assert set(route.query) == spec | undocumented(route.method, route.path, "query")


@ROUTES
def test_body_properties_are_the_specs(book: SpecBook, route: ApiRoute) -> None:
    op = _operation(book, route)
    spec = _spec_body(book, op)
    extra = undocumented(route.method, route.path, "body")
    if spec is None:
        assert route.body is None, f"{route.path}: the spec takes no body"
        assert not extra
        return
    assert route.body is not None, f"{route.path}: the spec declares a body"
    assert set(route.body) == spec | extra
    assert route.form == any(t in op.spec["requestBody"]["content"] for t in _FORM_TYPES)


def test_undocumented_properties_are_still_undocumented_and_served(book: SpecBook) -> None:
    served = {(r.method, r.path): r for r in ALL_ROUTES}
    for entry in UNDOCUMENTED:
        assert entry.source.strip(), entry
        route = served[(entry.method, entry.path)]
        op = _operation(book, route)
        if "[]." in entry.name:
            continue  # item keys: test_custom_field_item_keys_are_the_specs
        if entry.where == "query":
            assert entry.name in route.query
            assert entry.name not in {p["name"] for p in _parameters(book, op) if p.get("in") == "query"}
        else:
            assert route.body is not None
            assert entry.name in route.body
            assert entry.name not in (_spec_body(book, op) or set()), f"{entry} is documented now"


def test_every_scope_a_route_checks_is_grantable() -> None:
    assert {r.scope for r in ALL_ROUTES if r.scope is not None} <= set(ALL_SCOPES)
    assert list(ALL_SCOPES) == sorted(set(ALL_SCOPES))


@pytest.mark.parametrize(
    ("method", "path", "model"),
    [
        ("POST", "/contacts/", "contact"),
        ("PUT", "/contacts/{contactId}", "contact"),
        ("POST", "/contacts/upsert", "contact"),
        ("POST", "/opportunities/", "opportunity"),
        ("PUT", "/opportunities/{id}", "opportunity"),
    ],
)
def test_custom_field_item_keys_are_the_specs(book: SpecBook, method: str, path: str, model: str) -> None:
    route = next(r for r in ALL_ROUTES if (r.method, r.path) == (method, path))
    op = _operation(book, route)
    body = _resolve(book, op, op.spec["requestBody"]["content"]["application/json"]["schema"])
    items = _resolve(book, op, body["properties"]["customFields"]["items"])
    spec = set().union(*(_properties(book, op, variant) for variant in items["anyOf"]))
    assert CUSTOM_ITEM_KEYS[model] == spec | undocumented(method, path, within="customFields")
