"""A full run under each fault the sandbox can inject ends with the sub-account equal to an undisturbed run's
(canonical dumps: server ids and stamps aside), no duplicate, and an audit log that reconciles.

CI runs a 60-patient practice (the 2-core CI budget); ``DHL_FULL_RELIABILITY=1`` runs 2,000 patients
(``DHL_RELIABILITY_PATIENTS`` overrides either).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.migration._engine_helpers import canonical, contacts_by_source_id, export
from tests.reliability._support import FULL, PATIENTS, progress_hook, run_until_done

from dentrix_highlevel.highlevel import OAuthToken, OAuthTokens
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def scaled(**kwargs: Any) -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100), **kwargs)


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export(tmp_path_factory.mktemp("faults"), patients=PATIENTS, seed=17)


_REFERENCE_REQUESTS: list[int] = []


@pytest.fixture(scope="module")
def undisturbed(practice: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    async def reference() -> dict[str, Any]:
        sandbox = scaled()
        loc = sandbox.create_location()
        await run_until_done(practice, sandbox, loc, tmp_path_factory.mktemp("reference"), attempts=1)
        _REFERENCE_REQUESTS.append(len(sandbox.request_log))
        return canonical(sandbox, loc.location_id)

    return anyio.run(reference)


SPIKE_MS = 3000.0 if FULL else 1000.0
FAULTS: dict[str, FaultConfig] = {
    "429_storm": FaultConfig(storm_after_s=0.0, storm_duration_s=0.8, storm_retry_after_s=0.05),
    "5pct_5xx": FaultConfig(error_rate=0.05, error_after_commit_rate=0.01),
    "timeouts": FaultConfig(timeout_rate=0.04, timeout_s=0.0),
    "connection_resets": FaultConfig(reset_rate=0.04, connect_error_rate=0.02),
    "latency_spikes": FaultConfig(latency_ms=(0.0, 5.0), spike_rate=0.02, spike_ms=SPIKE_MS),
    "4xx_but_created": FaultConfig(created_anyway_rate=0.15),
}


def _assert_converged(sandbox: Sandbox, loc: Any, expected: dict[str, Any]) -> None:
    by_source = contacts_by_source_id(sandbox, loc.location_id)
    assert all(len(v) == 1 for v in by_source.values()), "never a second contact for one patient"
    assert canonical(sandbox, loc.location_id) == expected


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_run_under_fault_converges(
    fault: str, practice: Path, undisturbed: dict[str, Any], tmp_path: Path
) -> None:
    config = FAULTS[fault]
    if fault == "429_storm":
        # The storm starts a few patients into the run (storm_after_s counts from set_faults), whatever
        # time staging took on a loaded machine.
        sandbox = scaled()
        hook = progress_hook(3, lambda: sandbox.set_faults(config))
    else:
        sandbox, hook = scaled(faults=config), None
    loc = sandbox.create_location()
    result, _ = await run_until_done(practice, sandbox, loc, tmp_path / "wd", progress=hook)
    assert result.reconciliation.reconciles, result.reconciliation.render()
    if fault == "429_storm":
        assert any(r.status == 429 and not r.admitted for r in sandbox.request_log), "the storm hit the run"
    if fault != "latency_spikes":
        # Retries and look-ups of ambiguous creates: more requests than the undisturbed run needed.
        assert len(sandbox.request_log) > _REFERENCE_REQUESTS[0], "the fault really happened"
    sandbox.set_faults(FaultConfig())
    _assert_converged(sandbox, loc, undisturbed)


async def test_a_lowered_rate_max_mid_run(
    practice: Path, undisturbed: dict[str, Any], tmp_path: Path
) -> None:
    """The server lowers ``X-RateLimit-Max`` from 100 to 20 a few patients in: the client follows the
    advertised ceiling, and what 429s there are get absorbed."""
    sandbox = scaled()
    loc = sandbox.create_location()
    lowered = FaultConfig(advertised_rate_max=20)
    hook = progress_hook(5, lambda: sandbox.set_faults(lowered))
    result, _ = await run_until_done(practice, sandbox, loc, tmp_path / "wd", progress=hook)
    assert result.reconciliation.reconciles
    assert sandbox.faults.config == lowered, "the ceiling was lowered mid-run"
    late = [r for r in sandbox.request_log if r.admitted]
    assert late
    assert sandbox.max_requests_in_window(admitted_only=True) <= 100
    _assert_converged(sandbox, loc, undisturbed)


async def test_an_expired_oauth_token_mid_run_refreshes_with_rotation(
    practice: Path, undisturbed: dict[str, Any], tmp_path: Path
) -> None:
    sandbox = scaled()
    loc = sandbox.create_location()
    sandbox.register_oauth_app(client_id="dhl-faults", client_secret="cs-faults-secret")
    issued: list[OAuthTokens] = []
    auth = await OAuthToken.from_authorization_code(
        code=sandbox.authorization_code(client_id="dhl-faults", location_id=loc.location_id),
        client_id="dhl-faults",
        client_secret="cs-faults-secret",
        on_refresh=issued.append,
        transport=sandbox.transport(),
    )
    expire: Callable[[], None] = lambda: sandbox.expire_token(issued[-1].access_token)  # noqa: E731
    result, _ = await run_until_done(
        practice, sandbox, loc, tmp_path / "wd", auth=auth, progress=progress_hook(PATIENTS // 3, expire)
    )
    assert result.reconciliation.reconciles
    assert auth.refreshes >= 1
    assert len({t.refresh_token for t in issued}) == len(issued) >= 2, "each refresh rotated the token"
    rejected = [r for r in sandbox.request_log if r.status == 401]
    assert rejected, "a request really met the expired token"
    _assert_converged(sandbox, loc, undisturbed)


async def test_the_daily_cap_stops_the_run_and_the_next_day_resumes(
    practice: Path, undisturbed: dict[str, Any], tmp_path: Path
) -> None:
    """HighLevel's own daily cap (the sandbox's, answered as 429 with ``X-RateLimit-Daily-Remaining: 0``):
    the run stops cleanly; after the day rolls over (an injected clock), running again resumes."""
    shift = [0.0]
    day_s = 86_400.0
    budget = max(120, PATIENTS * 2)
    sandbox = Sandbox(
        SandboxConfig(
            rate_window_ms=100, rate_max=100, daily_max=budget, clock=lambda: time.monotonic() + shift[0]
        )
    )
    loc = sandbox.create_location()

    def next_day() -> None:
        shift[0] += day_s

    result, interruptions = await run_until_done(
        practice, sandbox, loc, tmp_path / "wd", attempts=40, between=next_day
    )
    assert result.reconciliation.reconciles
    assert any("daily" in i.lower() for i in interruptions), interruptions
    assert shift[0] >= day_s, "at least one day passed"
    _assert_converged(sandbox, loc, undisturbed)
