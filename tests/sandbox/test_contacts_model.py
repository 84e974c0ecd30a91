"""Properties of the duplicate rules: on a no-duplicates location, no sequence of creates, upserts and
updates ever leaves two contacts sharing an e-mail or a phone."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.sandbox import Sandbox

from ._helpers import make_client

EMAILS = st.sampled_from([None, "a@example.com", "b@example.com", "c@example.com"])
PHONES = st.sampled_from([None, "+13035550001", "(303) 555-0002", "303.555.0003"])
OPS = st.lists(
    st.tuples(st.sampled_from(["create", "upsert", "update"]), EMAILS, PHONES), min_size=1, max_size=12
)


@settings(max_examples=40, deadline=None)
@given(ops=OPS, phone_first=st.booleans())
def test_no_two_contacts_share_an_email_or_phone(
    ops: list[tuple[str, str | None, str | None]], phone_first: bool
) -> None:
    async def run() -> dict[str, Any]:
        sandbox = Sandbox()
        loc = sandbox.create_location(dedupe_order=("phone", "email") if phone_first else ("email", "phone"))
        async with make_client(sandbox, loc.token) as client:
            ids: list[str] = []
            for op, email, phone in ops:
                fields = {k: v for k, v in (("email", email), ("phone", phone)) if v is not None}
                if op == "update" and ids:
                    response = await client.put(f"/contacts/{ids[-1]}", json=fields)
                    assert response.status_code in (200, 400)
                    continue
                path = "/contacts/upsert" if op == "upsert" else "/contacts/"
                response = await client.post(path, json={"locationId": loc.location_id, **fields})
                assert response.status_code in (200, 201, 400), response.text
                if response.status_code == 400 and op == "upsert" and not fields:
                    # An upsert needs an email or a phone to match on (API-NOTES §2.4).
                    assert response.json()["message"] == "Pass at least one of number, email query parameter"
                elif response.status_code == 400:
                    assert response.json()["meta"]["matchingField"] in fields
                else:
                    ids.append(response.json()["contact"]["id"])
        return sandbox.dump()["locations"][loc.location_id]

    state = anyio.run(run)
    emails = [c["email"] for c in state["contacts"] if c.get("email")]
    phones = [c["phone"] for c in state["contacts"] if c.get("phone")]
    assert len(emails) == len(set(emails))
    assert len(phones) == len(set(phones))
