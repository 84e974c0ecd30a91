"""One migration operation in its own process, for the kill -9 tests.

``python _kill_child.py '<json>'`` with ``op`` run / delta / rollback; prints the run's status when done.
"""

from __future__ import annotations

import json
import sys

import anyio

from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RetryPolicy
from dentrix_highlevel.migration import Migration, MigrationPolicies
from dentrix_highlevel.sources import GExportSource


async def main(args: dict[str, str | int]) -> None:
    budget = RateBudget(max_requests=int(args["rate_max"]), window_ms=int(args["window_ms"]), daily_reserve=0)
    async with (
        HighLevelClient(
            location_id=str(args["location_id"]),
            token=str(args["token"]),
            base_url=str(args["base_url"]),
            budget=budget,
            limiter=RateLimiter(budget),
            retry=RetryPolicy(base_delay_s=0.005, max_delay_s=0.3),
        ) as hl,
        GExportSource(str(args["export"])) as source,
        Migration(
            source, hl, workdir=str(args["workdir"]), policies=MigrationPolicies(search_lag_s=0.0)
        ) as migration,
    ):
        migration.approve(by="kill-test")
        op = args["op"]
        if op == "run":
            result = await migration.run()
        elif op == "delta":
            async with GExportSource(str(args["delta_export"])) as newer:
                result = await migration.delta(newer)
        else:
            result = await migration.rollback()
        print(result.status.value, flush=True)


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
