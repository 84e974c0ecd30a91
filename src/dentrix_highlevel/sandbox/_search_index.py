"""A search index that lags writes: what ``POST /contacts/search`` and the other search reads see.

HighLevel's search "may take a few seconds" to show a write (search doc, API-NOTES §2.5/§13): a new
object is missing, an updated one shows its old values, a deleted one still shows. Each write becomes
visible ``lag`` seconds after it happened. Only objects with writes still in flight are tracked, so a
settled index reads the store itself and costs nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["LaggedIndex"]

Json = dict[str, Any]


class LaggedIndex:
    def __init__(self) -> None:
        #: Per object with writes in flight: (visible from, the version written; None = deleted).
        self._pending: dict[str, list[tuple[float, Json | None]]] = {}
        #: What search shows of such an object until its first pending version is visible (None = nothing).
        self._base: dict[str, Json | None] = {}
        self._last_visible_at = 0.0

    def __repr__(self) -> str:
        return f"LaggedIndex(pending={len(self._pending)})"

    def before_write(self, object_id: str, current: Json | None, *, lag_s: float) -> None:
        """Call before changing an object: remembers what search shows of it now."""
        if lag_s > 0 and object_id not in self._pending:
            self._base[object_id] = copy.deepcopy(current)
            self._pending[object_id] = []

    def after_write(self, object_id: str, current: Json | None, *, now_s: float, lag_s: float) -> None:
        """Call after changing (or deleting: ``current`` None) an object: the new version, visible later."""
        if object_id not in self._pending:
            return  # no lag: search reads the store
        visible_at = now_s + max(lag_s, 0.0)
        self._pending[object_id].append((visible_at, copy.deepcopy(current)))
        self._last_visible_at = max(self._last_visible_at, visible_at)

    def settled(self, now_s: float) -> bool:
        """Whether search shows exactly the store (no write still in flight)."""
        self._compact(now_s)
        return not self._pending

    def view(self, store: Mapping[str, Json], now_s: float) -> list[Json]:
        """The objects search shows now, in the store's order, then those it still shows after a delete."""
        if self.settled(now_s):
            return list(store.values())
        out = [obj for object_id, obj in store.items() if object_id not in self._pending]
        out += [doc for doc in (self._base[object_id] for object_id in self._pending) if doc is not None]
        return out

    def settle(self) -> None:
        """Everything written so far is searchable now (a test seam: pre-existing data without sleeping)."""
        self._pending.clear()
        self._base.clear()
        self._last_visible_at = 0.0

    def _compact(self, now_s: float) -> None:
        if not self._pending:
            return
        if self._last_visible_at <= now_s:
            self.settle()
            return
        for object_id, versions in list(self._pending.items()):
            shown = sum(1 for visible_at, _ in versions if visible_at <= now_s)
            if shown == len(versions):
                del self._pending[object_id], self._base[object_id]
            elif shown:
                self._base[object_id] = versions[shown - 1][1]
                self._pending[object_id] = versions[shown:]
