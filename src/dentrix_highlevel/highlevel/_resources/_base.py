"""What every resource group shares: the client, the location, and typed reads of answers."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from dentrix_highlevel.highlevel._convert import read

if TYPE_CHECKING:
    from dentrix_highlevel.highlevel._client import HighLevelClient

T = TypeVar("T")

__all__ = ["Resource", "digest", "seg"]


def seg(value: str) -> str:
    """One path segment (an id or a fieldKey), percent-encoded so it cannot change the path."""
    return quote(value, safe="")


def digest(text: str) -> str:
    """A lookup key for free text (note bodies, task titles): the hash finds it, the text stays out."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Resource:
    def __init__(self, client: HighLevelClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}(location_id={self._client.location_id!r})"

    @property
    def _location_id(self) -> str:
        return self._client.location_id

    @staticmethod
    def _read(body: Any, cls: type[T], *, key: str | None, method: str, path: str) -> T:
        return read(body, cls, key=key, method=method, path=path)
