"""``client.notes``: a contact's notes (no bulk endpoint and no paging: one request per note)."""

from __future__ import annotations

from dentrix_highlevel.highlevel._convert import write
from dentrix_highlevel.highlevel._inputs import NoteInput
from dentrix_highlevel.highlevel._models import Note
from dentrix_highlevel.highlevel._request_kind import RequestKind
from dentrix_highlevel.highlevel._resources._base import Resource, digest, seg

__all__ = ["Notes"]


class Notes(Resource):
    def _path(self, contact_id: str, note_id: str | None = None) -> str:
        base = f"/contacts/{seg(contact_id)}/notes"
        return base if note_id is None else f"{base}/{seg(note_id)}"

    async def list(self, contact_id: str) -> tuple[Note, ...]:
        path = self._path(contact_id)
        return await self._get(path, tuple[Note, ...], key="notes")

    async def get(self, contact_id: str, note_id: str) -> Note:
        path = self._path(contact_id, note_id)
        return await self._get(path, Note, key="note")

    async def create(self, contact_id: str, note: NoteInput) -> Note:
        lookup = {"contactId": contact_id, "bodySha256": digest(note.body)}
        path = self._path(contact_id)
        return await self._create(path, Note, key="note", json=write(note), resource="note", lookup=lookup)

    async def update(self, contact_id: str, note_id: str, note: NoteInput) -> Note:
        path = self._path(contact_id, note_id)
        return await self._put(path, Note, key="note", json=write(note))

    async def delete(self, contact_id: str, note_id: str) -> None:
        await self._client.call("DELETE", self._path(contact_id, note_id), kind=RequestKind.IDEMPOTENT)

    async def find(self, contact_id: str, *, body_sha256: str) -> Note | None:
        """The contact's note whose body hashes to ``body_sha256`` (resolves an ambiguous create)."""
        for note in await self.list(contact_id):
            if note.body is not None and digest(note.body) == body_sha256:
                return note
        return None
