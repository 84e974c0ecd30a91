"""What every resource group shares: the client, the location, and typed reads of answers.

A group reads the client through :class:`ApiCaller` (what it calls) rather than importing
``HighLevelClient``, which builds the groups: the dependency runs one way only.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Protocol, TypedDict, TypeVar, Unpack
from urllib.parse import quote

from dentrix_highlevel._http_limits import PageGuard
from dentrix_highlevel.highlevel._convert import read, write
from dentrix_highlevel.highlevel._request_kind import RequestKind

T = TypeVar("T")

#: Reads the next ``(startAfter, startAfterId)`` from a page's answer, its rows and the params that asked
#: for it; ``None`` when that page was the last.
NextCursor = Callable[[Mapping[str, Any], tuple[T, ...], Mapping[str, Any]], tuple[Any, Any] | None]

__all__ = ["ApiCaller", "CallOptions", "Findable", "Resource", "digest", "seg"]


def seg(value: str) -> str:
    """One path segment (an id or a fieldKey), percent-encoded so it cannot change the path."""
    return quote(value, safe="")


def digest(text: str) -> str:
    """A lookup key for free text (note bodies, task titles): the hash finds it, the text stays out."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CallOptions(TypedDict, total=False):
    """What a request may carry besides its method, path and kind (``HighLevelClient.call``'s keywords;
    a key left out takes the client's default)."""

    json: Any
    params: Mapping[str, Any] | None
    data: Mapping[str, str] | None
    files: Any
    resource: str
    lookup: Mapping[str, str] | None
    ambiguous_statuses: frozenset[int]


class ApiCaller(Protocol):
    """The client as a resource group sees it: its location, its one request path and page guards."""

    @property
    def location_id(self) -> str: ...

    async def call(
        self, method: str, path: str, *, kind: RequestKind, **options: Unpack[CallOptions]
    ) -> dict[str, Any]: ...

    def page_guard(self, method: str, path: str) -> PageGuard: ...


class Findable(Protocol):
    """A request model that says how to find its object again after an ambiguous create."""

    def lookup(self) -> dict[str, str]: ...


class Resource:
    def __init__(self, client: ApiCaller) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(location_id={self._client.location_id!r})"

    @property
    def _location_id(self) -> str:
        return self._client.location_id

    @staticmethod
    def _read(body: Any, cls: type[T], *, key: str | None, method: str, path: str) -> T:
        return read(body, cls, key=key, method=method, path=path)

    async def _request(
        self,
        method: str,
        path: str,
        cls: type[T],
        *,
        key: str | None,
        kind: RequestKind,
        **options: Unpack[CallOptions],
    ) -> T:
        """One request through the client, its answer read as ``cls`` (under ``key``, or the whole body)."""
        body = await self._client.call(method, path, kind=kind, **options)
        return self._read(body, cls, key=key, method=method, path=path)

    async def _get(
        self, path: str, cls: type[T], *, key: str | None, params: Mapping[str, Any] | None = None
    ) -> T:
        return await self._request("GET", path, cls, key=key, kind=RequestKind.READ, params=params)

    async def _create_located(
        self,
        path: str,
        cls: type[T],
        *,
        key: str | None,
        item: Findable,
        resource: str,
        ambiguous_statuses: frozenset[int] = frozenset(),
    ) -> T:
        """A create of ``item`` in the client's location, found again by ``item.lookup()``."""
        return await self._request(
            "POST",
            path,
            cls,
            key=key,
            kind=RequestKind.CREATE,
            json={**write(item), "locationId": self._location_id},
            resource=resource,
            lookup=item.lookup(),
            ambiguous_statuses=ambiguous_statuses,
        )

    async def _list_location(self, path: str, cls: type[T], *, key: str) -> T:
        """A listing of the client's location, named by ``?locationId=``."""
        return await self._get(path, cls, key=key, params={"locationId": self._location_id})

    async def _put(self, path: str, cls: type[T], *, key: str | None, json: Any) -> T:
        return await self._request("PUT", path, cls, key=key, kind=RequestKind.IDEMPOTENT, json=json)

    async def _create(
        self, path: str, cls: type[T], *, key: str | None, json: Any, resource: str, lookup: Mapping[str, str]
    ) -> T:
        """A create: ``resource`` and ``lookup`` find the object again if the answer is lost."""
        return await self._request(
            "POST", path, cls, key=key, kind=RequestKind.CREATE, json=json, resource=resource, lookup=lookup
        )

    async def _start_after_pages(
        self,
        path: str,
        cls: type[tuple[T, ...]],
        *,
        key: str,
        params: dict[str, Any],
        next_cursor: NextCursor[T],
    ) -> AsyncGenerator[T, None]:
        """Every row of a ``GET`` listing that pages by ``startAfter``/``startAfterId`` from its ``meta``;
        the endpoints disagree on how the last page shows, so ``next_cursor`` says."""
        guard = self._client.page_guard("GET", path)
        while True:
            guard.page()
            body = await self._client.call("GET", path, kind=RequestKind.READ, params=params)
            rows = self._read(body, cls, key=key, method="GET", path=path)
            for row in rows:
                yield row
            cursor = next_cursor(body, rows, params)
            if cursor is None:
                return
            guard.cursor(cursor)
            params = {**params, "startAfter": cursor[0], "startAfterId": cursor[1]}
