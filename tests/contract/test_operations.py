"""The client's operation catalogue (scopes and Version per operation) against HighLevel's official files.

Each operation must exist in the spec at exactly its method and path template; its scope must be the one
the operation's ``security`` declares, or, where the spec declares none, the one HighLevel's published
scope table (``docs/oauth/Scopes.md``) lists for the endpoint; its ``Version`` must be in the spec's enum.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dentrix_highlevel.highlevel import OPERATIONS

#: Operations neither the spec nor the published table gives a scope; ours is an assumption, with why.
ASSUMED = {
    "POST /contacts/bulk/tags/update/{type}": (
        "contacts.write",
        "no security in the spec and no row in Scopes.md; every other contact tag write is contacts.write",
    ),
}

_ROW = re.compile(r"^\|\s*([^|]*?)\s*\|\s*(GET|POST|PUT|DELETE|PATCH)\s+(\S+)\s*\|")


def _spec_operations(openapi_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted((openapi_dir / "apps").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for template, ops in doc.get("paths", {}).items():
            for method, op in ops.items():
                if method in ("get", "post", "put", "delete", "patch"):
                    out[(method.upper(), template)] = op
    return out


def _scope_table(openapi_dir: Path) -> dict[tuple[str, str], str]:
    """(method, path with ``{}`` for each parameter) -> scope, from Scopes.md (rows without a scope name
    continue the scope above them)."""
    table: dict[tuple[str, str], str] = {}
    scope = ""
    for line in (openapi_dir / "docs" / "oauth" / "Scopes.md").read_text(encoding="utf-8").splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        name = match.group(1).replace("&nbsp;", "").strip()
        scope = name or scope
        table[(match.group(2), _shape(match.group(3)))] = scope
    return table


def _shape(path: str) -> str:
    path = re.sub(r":[A-Za-z_]+", "{}", path)
    return re.sub(r"\{[^}]+\}", "{}", path).rstrip("/") or "/"


@pytest.fixture(scope="module")
def spec(openapi_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return _spec_operations(openapi_dir)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_each_operation_has_the_spec_scope_and_version(
    op: Any, spec: dict[tuple[str, str], dict[str, Any]], openapi_dir: Path
) -> None:
    declared = spec.get((op.method, op.path))
    assert declared is not None, f"{op.name} is not an operation of the official spec"
    scopes = {s for entry in declared.get("security", []) for names in entry.values() for s in names}
    if scopes:
        assert op.scope in scopes, (op.name, sorted(scopes))
    elif op.name in ASSUMED:
        assert op.scope == ASSUMED[op.name][0]
        assert _scope_table(openapi_dir).get((op.method, _shape(op.path))) is None, "now published: check it"
    else:
        published = _scope_table(openapi_dir).get((op.method, _shape(op.path)))
        assert published == op.scope, (op.name, published)
    versions = [
        (p.get("schema") or {}).get("enum")
        for p in declared.get("parameters", [])
        if p.get("in") == "header" and p.get("name", "").lower() == "version"
    ]
    assert versions, f"{op.name} declares no Version header"
    assert op.version in (versions[0] or []), (op.name, versions)
