"""The scopes a migration needs are computed from what it sends, not kept by hand.

With every optional feature on and a token granted exactly the computed scopes, a whole runbook (sample,
run, delta, reconcile, rollback) meets no 401 and no 422 (nothing beyond what the spec declares), and
every request it sends is an operation its features declare. (The table in ``docs/highlevel-setup.md``
is generated from the same code: tests/test_docs.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from dentrix_highlevel import Migration, MigrationPolicies
from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, operation_for
from dentrix_highlevel.mapping import DefaultMapOptions, PastAppointmentsMode
from dentrix_highlevel.migration._plan.scopes import (
    FEATURES,
    features_for,
    required_operations,
    required_scopes,
)

from ._engine_helpers import export, scaled_sandbox, source

pytestmark = pytest.mark.anyio


#: Every optional feature on (the held-out configuration of issue #13).
EVERYTHING = MigrationPolicies(
    provider_users=True,
    treatment_tasks=True,
    upload_documents=True,
    family_associations=True,
    calendars="provider",
    search_lag_s=0.05,
    ambiguous_lookup_s=2.0,
)


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.seen.append((request.method, request.url.path, response.status_code))
        return response


def test_features_follow_the_policies() -> None:
    plain = {f.name for f in features_for(MigrationPolicies())}
    assert {"contacts", "notes", "opportunities", "appointments"} <= plain
    assert not plain & {"provider users", "treatment tasks", "document uploads", "family associations"}
    assert {f.name for f in features_for(EVERYTHING)} == {f.name for f in FEATURES}
    none = MigrationPolicies(pipeline_name=None, calendar_name=None)
    assert "opportunities.write" not in required_scopes(features_for(none))
    assert "calendars/events.write" not in required_scopes(features_for(none))


async def test_a_token_with_exactly_the_computed_scopes_runs_the_whole_runbook(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=24, seed=11)
    sandbox = scaled_sandbox()
    features = features_for(EVERYTHING)
    scopes = required_scopes(features)
    loc = sandbox.create_location(scopes=scopes)
    recorder = Recorder(sandbox.transport())
    budget = RateBudget(max_requests=100, window_ms=100)
    options = DefaultMapOptions(past_appointments=PastAppointmentsMode.EVENTS)
    async with (
        HighLevelClient(
            location_id=loc.location_id,
            token=loc.token,
            transport=recorder,
            limiter=RateLimiter(budget),
            budget=budget,
        ) as hl,
        Migration(
            source(practice), hl, workdir=tmp_path / "wd", policies=EVERYTHING, options=options
        ) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.sample(5)).reconciliation.reconciles
        assert (await migration.run()).reconciliation.reconciles
        assert (await migration.delta()).reconciliation.reconciles
        assert (await migration.reconcile()).ok
        await migration.rollback()
    refused = [(m, p) for m, p, status in recorder.seen if status in (401, 403)]
    assert refused == []
    # The strict sandbox answers 422 to any body property or query parameter the operation's spec does
    # not declare (beyond the listed undocumented ones; tests/contract/test_route_fidelity.py proves the
    # routes declare exactly that), so no 422 means no request broke the official OpenAPI files.
    unprocessable = [(m, p) for m, p, status in recorder.seen if status == 422]
    assert unprocessable == []
    declared = {op.name for op in required_operations(features)}
    sent: dict[str, Any] = {}
    for method, path, _ in recorder.seen:
        op = operation_for(method, path)
        assert op is not None, f"{method} {path} is not in the operation catalogue"
        sent[op.name] = op
    assert set(sent) <= declared, sorted(set(sent) - declared)
    # Every scope granted was used by something the features declare; none is granted for nothing.
    assert {op.scope for op in sent.values()} <= set(scopes)
