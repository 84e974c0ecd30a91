"""What the fault and kill tests share: the practice size (CI vs the nightly-style sweep), a client paced to
the sandbox's scaled window with scaled retry delays, and the "run until done, as an operator would" loop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dentrix_highlevel.errors import HighLevelError
from dentrix_highlevel.highlevel import Auth, HighLevelClient, RateBudget, RateLimiter, RetryPolicy
from dentrix_highlevel.migration import Migration, MigrationPolicies, MigrationProgress, RunResult, RunStatus
from dentrix_highlevel.sandbox import Sandbox
from dentrix_highlevel.sources import GExportSource

#: ``DHL_FULL_RELIABILITY=1``: the nightly-style sweep (thousands of patients, >= 20 kill points).
FULL = os.environ.get("DHL_FULL_RELIABILITY") == "1"
PATIENTS = int(os.environ.get("DHL_RELIABILITY_PATIENTS", "2000" if FULL else "60"))
POLICIES = MigrationPolicies(search_lag_s=0.0)
# The sandbox's window is scaled down 100x (100 requests / 100 ms); retry delays are scaled alike.
RETRY = RetryPolicy(base_delay_s=0.005, max_delay_s=0.3, seed=7)


def hl_client(
    sandbox: Sandbox, location: Any, *, auth: Auth | None = None, daily_max: int = 10_000_000
) -> HighLevelClient:
    config = sandbox.config
    budget = RateBudget(
        max_requests=config.rate_max, window_ms=config.rate_window_ms, daily_max=daily_max, daily_reserve=0
    )
    return HighLevelClient(
        location_id=location.location_id,
        auth=auth if auth is not None else location.token,
        transport=sandbox.transport(),
        limiter=RateLimiter(budget),
        retry=RETRY,
        budget=budget,
    )


async def run_until_done(
    export: Path,
    sandbox: Sandbox,
    location: Any,
    workdir: Path,
    *,
    attempts: int = 10,
    auth: Auth | None = None,
    progress: Any = None,
    between: Any = None,
) -> tuple[RunResult, list[str]]:
    """Run (and run again after a failure or a stop) until the run completes with nothing failed.

    Returns the last result and what interrupted the earlier attempts (exception names, stop reasons).
    ``between()`` is called after every unfinished attempt (e.g. to let a day pass).
    """
    interruptions: list[str] = []
    result: RunResult | None = None
    for _ in range(attempts):
        async with (
            hl_client(sandbox, location, auth=auth) as hl,
            GExportSource(export) as source,
            Migration(source, hl, workdir=workdir, policies=POLICIES, progress=progress) as m,
        ):
            m.approve(by="operator")
            try:
                result = await m.run()
            except HighLevelError as exc:
                interruptions.append(type(exc).__name__)
                if between is not None:
                    between()
                continue
            if result.status is RunStatus.COMPLETED and result.reconciliation.totals().failed == 0:
                try:
                    # Re-reads every contact: on a big practice that can meet the day's cap too.
                    checked = await m.reconcile()
                except HighLevelError as exc:
                    interruptions.append(f"reconcile: {type(exc).__name__}")
                    if between is not None:
                        between()
                    continue
                assert checked.ok, checked.mismatches
                return result, interruptions
            interruptions.append(result.stopped_reason or f"{result.reconciliation.totals().failed} failed")
            if between is not None:
                between()
    raise AssertionError(f"no complete run after {attempts} attempts: {interruptions}")


def progress_hook(at: int, action: Any) -> Any:
    """A progress callback that calls ``action()`` once, when ``at`` patients are done."""
    fired: list[bool] = []

    def hook(event: MigrationProgress) -> None:
        if event.done >= at and not fired:
            fired.append(True)
            action()

    return hook
