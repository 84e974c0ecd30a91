"""The same client over real sockets: a uvicorn-served sandbox on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from dentrix_highlevel.errors import DuplicateContactError
from dentrix_highlevel.highlevel import ContactInput, HighLevelClient, LimiterRegistry, NoteInput

pytestmark = pytest.mark.anyio


async def test_client_over_loopback_http(sandbox_server: Any) -> None:
    loc = sandbox_server.location
    async with HighLevelClient(
        location_id=loc.location_id,
        auth=loc.token,
        base_url=sandbox_server.base_url,
        limiter_registry=LimiterRegistry(),
        timeout_s=10.0,
    ) as hl:
        result = await hl.contacts.upsert(ContactInput(email="served@example.com", phone="+13035550123"))
        assert result.new is True
        note = await hl.notes.create(result.contact.id, NoteInput(body="over the wire"))
        assert (await hl.notes.get(result.contact.id, note.id)).body == "over the wire"
        with pytest.raises(DuplicateContactError) as caught:
            await hl.contacts.create(ContactInput(email="served@example.com"))
        assert caught.value.contact_id == result.contact.id
        assert len(await hl.calendars.list()) == 0
        assert hl.limiter.daily_sent == 5
    assert [r.status for r in sandbox_server.sandbox.request_log] == [200, 201, 200, 400, 200]
