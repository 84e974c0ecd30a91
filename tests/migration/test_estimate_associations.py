"""The plan's estimate counts the ``family_associations`` requests: the association's lookup and create,
and one relation per family member; a migration then sends no more association requests than that."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, export, scaled_sandbox, source

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.highlevel import RateBudget
from dentrix_highlevel.mapping import DefaultMapOptions, patient_disposition
from dentrix_highlevel.migration import Migration, MigrationPolicies, RequestCounts, build_plan
from dentrix_highlevel.migration._plan.estimate import (
    ASSOCIATION_SETUP_REQUESTS,
    ComplexityInputs,
    association_requests,
    estimate,
)
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


def test_association_requests_are_setup_plus_one_relation_per_member() -> None:
    assert ASSOCIATION_SETUP_REQUESTS == 2  # GET /associations/key/{key}, POST /associations/
    assert association_requests(0) == 2
    assert association_requests(7) == 9
    with pytest.raises(ConfigurationError):
        association_requests(-1)


def test_associations_are_listed_and_counted_only_when_there_are_some() -> None:
    without = estimate(RequestCounts(contact_upserts=100), RateBudget(), ComplexityInputs())
    assert "associations" not in without.requests
    with_links = estimate(
        RequestCounts(contact_upserts=100, associations=association_requests(40)),
        RateBudget(),
        ComplexityInputs(),
    )
    assert with_links.requests["associations"] == 42
    assert with_links.total_requests == 142
    assert with_links.duration_s == 14.2


async def test_the_plan_counts_family_links_and_the_run_stays_within_them(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=16, seed=5)
    options = DefaultMapOptions()
    with GExportSource(practice) as staged:
        bundles = list(staged.iter_bundles())
    members = [
        b for b in bundles if not b.patient.is_own_guarantor and patient_disposition(b, options).contact
    ]
    assert members, "the synthetic practice has families"
    off = MigrationPolicies(calendar_name=None)
    on = MigrationPolicies(calendar_name=None, family_associations=True)
    async with GExportSource(practice) as plan_source:
        plain = await build_plan(plan_source, options=options, policies=off)
        linked = await build_plan(plan_source, options=options, policies=on)
    assert "associations" not in plain.estimate.requests
    assert linked.estimate.requests["associations"] == 2 + len(members)
    assert linked.estimate.total_requests == plain.estimate.total_requests + 2 + len(members)

    # The migration's association requests: the lookup, the create, one relation per linked member.
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=on, options=options) as migration,
    ):
        migration.approve(by="manager")
        await migration.run()
    sent = [r for r in sandbox.request_log if r.path.startswith("/associations")]
    relations = [r for r in sent if r.method == "POST" and "relations" in r.path]
    assert len(relations) >= 1
    assert len(sent) <= linked.estimate.requests["associations"]
    assert len(sent) - len(relations) == ASSOCIATION_SETUP_REQUESTS
