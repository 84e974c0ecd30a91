"""Hypothesis against the client's response parsing, over real HTTP: a tiny Starlette app of our own answers
every request with the fuzzed body (documented shapes with keys dropped, added or retyped, or any JSON at
all, or not JSON), served through ``httpx.ASGITransport``. The client returns the typed model or raises a
typed ``HighLevelError`` (``ResponseFormatError`` for a 2xx it cannot read) — never a crash deep inside —
and its messages never repeat a value from the body."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dentrix_highlevel.errors import HighLevelError, ResponseFormatError
from dentrix_highlevel.highlevel import ContactInput, HighLevelClient, RateBudget, RateLimiter, RetryPolicy

MARK = "QzQzPHI"


class _Answer:
    """What the app says next (one answer per example)."""

    body: bytes = b"{}"
    status: int = 200


def _app(answer: _Answer) -> Starlette:
    async def anything(request: Request) -> Response:
        await request.body()
        return Response(answer.body, status_code=answer.status, media_type="application/json")

    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(routes=[Route("/{path:path}", anything, methods=methods)])


CONTACT = {
    "id": "c1",
    "locationId": "loc1",
    "firstName": MARK + "first",
    "email": MARK.lower() + "@example.org",
    "phone": "+17205550100",
    "tags": [MARK + "tag"],
    "customFields": [{"id": "f1", "value": MARK + "value"}],
    "dateAdded": "2025-01-01T00:00:00.000Z",
}
SHAPES: dict[str, tuple[dict[str, Any], Callable[[HighLevelClient], Awaitable[Any]]]] = {
    "contact_get": ({"contact": CONTACT}, lambda hl: hl.contacts.get("c1")),
    "contact_upsert": (
        {"new": True, "contact": CONTACT, "traceId": "t1"},
        lambda hl: hl.contacts.upsert(ContactInput(email="a@example.org")),
    ),
    "location_get": (
        {"location": {"id": "loc1", "name": MARK, "timezone": "America/Denver", "settings": {}}},
        lambda hl: hl.locations.get(),
    ),
    "custom_fields": (
        {"customFields": [{"id": "f1", "name": MARK, "fieldKey": "contact.x", "dataType": "TEXT"}]},
        lambda hl: hl.custom_fields.list(model="all"),
    ),
    "pipelines": (
        {"pipelines": [{"id": "p1", "name": MARK, "stages": [{"id": "s1", "name": "New", "position": 0}]}]},
        lambda hl: hl.pipelines.list(),
    ),
    "opportunity_get": (
        {"opportunity": {"id": "o1", "name": MARK, "monetaryValue": 12.5, "status": "open"}},
        lambda hl: hl.opportunities.get("o1"),
    ),
    "notes": ({"notes": [{"id": "n1", "body": MARK + "note"}]}, lambda hl: hl.notes.list("c1")),
    "calendars": ({"calendars": [{"id": "k1", "name": MARK}]}, lambda hl: hl.calendars.list()),
}

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8).map(MARK.__add__),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


@st.composite
def _mutated(draw: st.DrawFn, shape: dict[str, Any]) -> bytes:
    """The documented shape with a few keys dropped, retyped or added; sometimes anything at all."""
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "any_json", "not_json"]))
    if kind == "not_json":
        return draw(st.binary(max_size=30))
    if kind == "any_json":
        return json.dumps(draw(_JSON)).encode()
    body = copy.deepcopy(shape)
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(body) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["drop", "retype", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=6))] = draw(_JSON)
        else:
            parent[path[-1]] = draw(_JSON)
    return json.dumps(body).encode()


async def _ask(name: str, body: bytes, status: int) -> Any:
    answer = _Answer()
    answer.body, answer.status = body, status
    transport = httpx.ASGITransport(app=_app(answer))
    async with HighLevelClient(
        location_id="loc1",
        token="pit-fuzz",
        base_url="https://fuzz.test",
        transport=transport,
        retry=RetryPolicy(max_attempts=1),
        limiter=RateLimiter(RateBudget()),  # a limiter per event loop: each example runs its own loop
    ) as hl:
        return await SHAPES[name][1](hl)


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_the_documented_shapes_read(name: str) -> None:
    """The control: unmutated bodies parse, so the fuzz below starts from shapes the client accepts."""
    result = anyio.run(_ask, name, json.dumps(SHAPES[name][0]).encode(), 200)
    assert result is not None


@pytest.mark.parametrize("name", sorted(SHAPES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), status=st.sampled_from([200, 200, 200, 201, 400, 404, 422, 500]))
def test_fuzzed_bodies_give_typed_errors_that_echo_nothing(
    name: str, data: st.DataObject, status: int
) -> None:
    body = data.draw(_mutated(SHAPES[name][0]))
    failure: HighLevelError | None = None
    try:
        anyio.run(_ask, name, body, status)
    except HighLevelError as exc:  # anything else propagates and fails the example
        failure = exc
    if failure is not None:
        if 200 <= status < 300:
            assert isinstance(failure, ResponseFormatError), type(failure)
        said = f"{failure} {failure!r} {failure.message}"
        assert MARK.lower() not in said.lower()


@pytest.mark.parametrize(
    ("name", "body", "where"),
    [
        ("contact_get", {"contact": {"id": {"nested": MARK}}}, "$.contact.id"),
        ("contact_get", {"contacts": [CONTACT]}, "$.contact"),
        ("contact_upsert", {"new": MARK, "contact": CONTACT}, "$.new"),
        ("pipelines", {"pipelines": [{"name": MARK}]}, "$.pipelines[0].id"),
    ],
)
def test_a_wrong_shape_names_the_field_not_the_value(name: str, body: dict[str, Any], where: str) -> None:
    with pytest.raises(ResponseFormatError) as caught:
        anyio.run(_ask, name, json.dumps(body).encode(), 200)
    assert where in str(caught.value)
    assert MARK.lower() not in str(caught.value).lower()
