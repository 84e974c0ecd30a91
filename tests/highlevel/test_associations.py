"""``client.associations`` over HTTP against the in-process sandbox."""

from __future__ import annotations

from typing import Any

import pytest

from dentrix_highlevel.errors import NotFoundError
from dentrix_highlevel.highlevel import ContactInput, HighLevelClient

pytestmark = pytest.mark.anyio


async def test_association_and_relations_round_trip(client: HighLevelClient, scaled_sandbox: Any) -> None:
    assert await client.associations.find(key="family_member") is None
    association = await client.associations.create(
        key="family_member",
        first_object_key="contact",
        first_object_label="Family member",
        second_object_key="contact",
        second_object_label="Guarantor",
    )
    found = await client.associations.find(key="family_member")
    assert found == association
    assert (association.first_object_key, association.second_object_label) == ("contact", "Guarantor")

    parent = await client.contacts.create(ContactInput(first_name="P"))
    kids = [await client.contacts.create(ContactInput(first_name=f"K{n}")) for n in range(3)]
    relations = [
        await client.associations.create_relation(
            association_id=association.id, first_record_id=kid.id, second_record_id=parent.id
        )
        for kid in kids
    ]
    # A page of 2 makes the listing follow skip/limit across pages.
    listed = [r async for r in client.associations.relations(parent.id, page_limit=2)]
    assert sorted(r.id for r in listed) == sorted(r.id for r in relations)
    found_relation = await client.associations.find_relation(
        association_id=association.id, first_record_id=parent.id, second_record_id=kids[1].id
    )
    assert found_relation == relations[1]

    await client.associations.delete_relation(relations[0].id)
    assert len([r async for r in client.associations.relations(parent.id)]) == 2
    with pytest.raises(NotFoundError):
        await client.associations.delete_relation(relations[0].id)
    await client.associations.delete(association.id)
    assert await client.associations.find(key="family_member") is None
    assert all(loc["relations"] == [] for loc in scaled_sandbox.dump()["locations"].values())
