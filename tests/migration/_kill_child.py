"""A migration run in its own process, for the kill -9 tests: ``python _kill_child.py <json args>``."""

from __future__ import annotations

import json
import sys

import anyio

from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter
from dentrix_highlevel.migration import Migration
from dentrix_highlevel.sources import GExportSource


async def main(args: dict[str, str | int]) -> None:
    budget = RateBudget(max_requests=int(args["rate_max"]), window_ms=int(args["window_ms"]), daily_reserve=0)
    async with (
        HighLevelClient(
            location_id=str(args["location_id"]),
            token=str(args["token"]),
            base_url=str(args["base_url"]),
            budget=budget,
            limiter=RateLimiter(budget),  # a limiter of its own: a new client is a new day's budget
        ) as hl,
        Migration(GExportSource(str(args["export"])), hl, workdir=str(args["workdir"])) as migration,
    ):
        migration.approve(by="kill-test")
        result = await migration.run()
        print(result.status.value, flush=True)


if __name__ == "__main__":
    anyio.run(main, json.loads(sys.argv[1]))
