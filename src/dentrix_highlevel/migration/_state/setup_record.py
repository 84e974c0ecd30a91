"""What the migration's setup made in a location, kept in the location itself.

Custom fields, calendars and provider users the migration creates, and the tags the location had before
it, are facts a rebuilt ledger (``recover``) cannot read off the objects: HighLevel gives them no creation
date, so a field the first run made looks exactly like one the practice made. Without this record, a
recovered migration reuses them as the practice's own and its rollback keeps them.

So the location holds a second custom value next to the owner record (``ownership``),
``dentrix_highlevel_setup_<namespace>``: compact JSON with the tag catalogue before the migration's first
change (``tags``) and the ledger keys of the setup objects it created (``created``: ``[kind, key]``). A
key is written before its create is sent (an intent, as in the ledger), so a crash between the two can only
name an object that does not exist, which the recovered run looks up and creates. Every run's setup also
adds the setup objects its ledger records as created, so a migration begun before this record existed
gains one. A completed rollback deletes it with the owner record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import anyio
import attrs

from dentrix_highlevel.highlevel import CustomValueInput, HighLevelClient
from dentrix_highlevel.migration._engine.identity import namespace_slug

__all__ = ["SetupRecord", "setup_record_name"]


def setup_record_name(namespace: str) -> str:
    return f"dentrix_highlevel_setup_{namespace_slug(namespace)}"


@attrs.define
class SetupRecord:
    """The location's setup record for one practice namespace, read once per run and written only when it
    gains something."""

    namespace: str
    value_id: str | None = None
    tags_before: tuple[str, ...] | None = None
    created: set[tuple[str, str]] = attrs.field(factory=set)
    _lock: anyio.Lock = attrs.field(factory=anyio.Lock, init=False, repr=False)

    @classmethod
    async def read(cls, hl: HighLevelClient, namespace: str) -> SetupRecord:
        found = await hl.custom_values.find(name=setup_record_name(namespace))
        record = cls(namespace=namespace, value_id=None if found is None else found.id)
        if found is None or not found.value:
            return record
        try:
            data = json.loads(found.value)
        except ValueError:
            return record  # not ours to parse (edited by hand): rewritten whole at the next note
        if isinstance(data, dict):
            tags = data.get("tags")
            if isinstance(tags, list):
                record.tags_before = tuple(str(t) for t in tags)
            for entry in data.get("created") or ():
                if isinstance(entry, list) and len(entry) == 2:
                    record.created.add((str(entry[0]), str(entry[1])))
        return record

    def made(self, kind: str, key: str) -> bool:
        """Whether the migration created (or was about to create) this setup object."""
        return (kind, key) in self.created

    async def note(
        self,
        hl: HighLevelClient,
        *,
        tags_before: Iterable[str] | None = None,
        created: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Add what is new (the tag catalogue only when none is kept yet) and write the record once."""
        async with self._lock:
            new = {entry for entry in created if entry not in self.created}
            tags = tuple(tags_before) if tags_before is not None and self.tags_before is None else None
            if not new and tags is None:
                return
            self.created |= new
            if tags is not None:
                self.tags_before = tags
            body: dict[str, object] = {"created": [list(e) for e in sorted(self.created)]}
            if self.tags_before is not None:
                body["tags"] = list(self.tags_before)
            value = CustomValueInput(
                name=setup_record_name(self.namespace), value=json.dumps(body, separators=(",", ":"))
            )
            if self.value_id is None:
                self.value_id = (await hl.custom_values.create(value)).id
            else:
                await hl.custom_values.update(self.value_id, value)

    async def delete(self, hl: HighLevelClient) -> None:
        if self.value_id is not None:
            await hl.custom_values.delete(self.value_id)
            self.value_id = None
