"""Families share e-mails and phones: never two patients in one contact, under both duplicate settings."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, contacts_by_source_id, export, scaled_sandbox, source

from dentrix_highlevel.migration import FamilyContactPolicy, Migration, MigrationPolicies, RecordAction
from dentrix_highlevel.migration._engine.writers.contact import ContactIndex, plan_contact_points

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("families"), patients=20, seed=2)


def _shared(values: list[str | None]) -> int:
    return sum(n for v, n in Counter(v for v in values if v).items() if n > 1)


@pytest.mark.parametrize("allow_duplicates", [False, True])
async def test_family_collisions(practice: Path, tmp_path: Path, allow_duplicates: bool) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(allow_duplicates=allow_duplicates)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd") as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        rows = [r for r in migration.ledger.audit_rows(run_id=result.run_id) if r.kind == "contact"]
    by_source = contacts_by_source_id(sandbox, loc.location_id)
    assert len(by_source) == 20
    assert all(len(v) == 1 for v in by_source.values())
    contacts = [v[0] for v in by_source.values()]
    conflicts = [r for r in rows if r.action is RecordAction.CONFLICT]
    if allow_duplicates:
        # Separate contacts keep the shared e-mail/phone: the practice texts each family member.
        assert _shared([c.get("email") for c in contacts]) + _shared([c.get("phone") for c in contacts]) > 0
        assert conflicts == []
        assert any(r.reason and "separate contact" in r.reason for r in rows)
    else:
        assert _shared([c.get("email") for c in contacts]) == 0
        assert _shared([c.get("phone") for c in contacts]) == 0
        assert conflicts, "the synthetic families share contact points"
        for row in conflicts:
            assert row.reason is not None
            assert "shared with patient:" in row.reason
            assert "@" not in row.reason
    assert result.reconciliation.reconciles


def test_plan_contact_points_prefers_migrated_and_never_merges_into_one_practice_contact() -> None:
    index = ContactIndex(
        by_point={("email", "mum@example.org"): "PRACTICE1", ("phone", "+13035550100"): "PRACTICE1"}
    )
    plan = plan_contact_points(
        [
            ("patient:2", {"email": "kid@example.org", "phone": "+13035550100"}, False),
            ("patient:1", {"email": "Mum@example.org"}, False),
            ("patient:3", {"email": "kid@example.org"}, True),
        ],
        index,
        allow_duplicates=False,
        policy=FamilyContactPolicy.AUTO,
        migrated_first=True,
    )
    assert plan["patient:3"].withheld == ()  # already migrated: keeps what it has
    assert plan["patient:2"].withheld == ("email",)
    assert plan["patient:2"].shares_with == "patient:3"
    assert plan["patient:2"].existing_id == "PRACTICE1"  # lands on the practice's contact by phone
    assert plan["patient:1"].withheld == ("email",)  # that contact is taken: never merge two patients
    assert plan["patient:1"].existing_id is None
    separate = plan_contact_points(
        [("patient:1", {"email": "a@example.org"}, False), ("patient:2", {"email": "a@example.org"}, False)],
        ContactIndex(by_point={}),
        allow_duplicates=True,
        policy=FamilyContactPolicy.AUTO,
    )
    assert separate["patient:2"].separate
    assert separate["patient:2"].withheld == ()
    withhold = plan_contact_points(
        [("patient:1", {"email": "a@example.org"}, False), ("patient:2", {"email": "a@example.org"}, False)],
        ContactIndex(by_point={}),
        allow_duplicates=True,
        policy=FamilyContactPolicy.WITHHOLD,
    )
    assert withhold["patient:2"].withheld == ("email",)


async def test_withhold_policy_on_a_duplicates_location(practice: Path, tmp_path: Path) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(allow_duplicates=True)
    policies = MigrationPolicies(family_contacts=FamilyContactPolicy.WITHHOLD, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        await migration.run()
    contacts = [v[0] for v in contacts_by_source_id(sandbox, loc.location_id).values()]
    assert len(contacts) == 20
    assert _shared([c.get("email") for c in contacts]) == 0
