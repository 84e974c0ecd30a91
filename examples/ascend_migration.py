"""Migrate a Dentrix Ascend practice (API Exchange) into a HighLevel sub-account.

Real source and destination (the default), from the environment:

    export ASCEND_BASE_URL=https://prod.hs1api.com/ascend-gateway/api
    export ASCEND_CLIENT_ID=... ASCEND_CLIENT_SECRET=... ASCEND_ORGANIZATION_ID=...
    export ASCEND_PRACTICE_TIMEZONE=America/Denver            # the practice's IANA zone
    export HIGHLEVEL_LOCATION_ID=... HIGHLEVEL_TOKEN=...      # HIGHLEVEL_BASE_URL is optional
    python ascend_migration.py --workdir migrations/smile                      # writes plan.md
    python ascend_migration.py --workdir migrations/smile --approved-by "J. Doe"

Against emulators only (an Ascend emulator serving a synthetic practice, the HighLevel sandbox; both on
127.0.0.1, nothing leaves the machine):

    python ascend_migration.py --sandbox --patients 30

Output is identifiers and counts only: never a patient value, never a secret.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import anyio

from dentrix_highlevel import AscendSource, HighLevelClient, Migration, RateBudget, build_plan

# The HighLevel sandbox scales the 10 s burst window down to 100 ms so the example takes seconds; the
# client's budget is scaled the same way. Against HighLevel the documented budget applies.
SANDBOX_WINDOW_MS = 100
ASCEND_ENV = ("ASCEND_BASE_URL", "ASCEND_CLIENT_ID", "ASCEND_CLIENT_SECRET", "ASCEND_ORGANIZATION_ID")

# HighLevel API v2 (HIGHLEVEL_BASE_URL overrides it, e.g. for a sandbox started in a terminal).
HIGHLEVEL_API = "https://services.leadconnectorhq.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, help="work directory (ledger, plan, audit log)")
    parser.add_argument("--approved-by", help="who read plan.md and approves it (real destination)")
    parser.add_argument("--sample", type=int, default=5, help="patients in the sample run (default 5)")
    parser.add_argument("--rollback", action="store_true", help="undo the migration at the end")
    parser.add_argument("--sandbox", action="store_true", help="Ascend emulator + HighLevel sandbox")
    parser.add_argument("--patients", type=int, default=30, help="synthetic practice size (default 30)")
    parser.add_argument("--seed", type=int, default=11, help="synthetic practice seed (default 11)")
    return parser.parse_args(argv)


@contextmanager
def endpoints(args: argparse.Namespace) -> Iterator[tuple[AscendSource, HighLevelClient]]:
    """The Ascend source and the HighLevel client: real ones from the environment, or local emulators."""
    if not args.sandbox:
        needed = (*ASCEND_ENV, "ASCEND_PRACTICE_TIMEZONE", "HIGHLEVEL_LOCATION_ID", "HIGHLEVEL_TOKEN")
        missing = [name for name in needed if not os.environ.get(name)]
        if missing:
            sys.exit(f"set {', '.join(missing)} (or pass --sandbox)")
        source = AscendSource(
            base_url=os.environ["ASCEND_BASE_URL"],
            client_id=os.environ["ASCEND_CLIENT_ID"],
            client_secret=os.environ["ASCEND_CLIENT_SECRET"],
            organization_id=os.environ["ASCEND_ORGANIZATION_ID"],
            practice_timezone=os.environ["ASCEND_PRACTICE_TIMEZONE"],
        )
        hl = HighLevelClient(
            location_id=os.environ["HIGHLEVEL_LOCATION_ID"],
            token=os.environ["HIGHLEVEL_TOKEN"],
            base_url=os.environ.get("HIGHLEVEL_BASE_URL") or HIGHLEVEL_API,
        )
        yield source, hl
        return
    from dentrix_highlevel.ascend_emulator import AscendEmulator, AscendEmulatorServer
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer
    from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

    practice = SyntheticPractice(SynthConfig(patients=args.patients, seed=args.seed))
    print(
        f"sandbox: Ascend emulator serving a synthetic practice of {args.patients} patients; HighLevel "
        f"emulator with its rate window scaled down to {SANDBOX_WINDOW_MS} ms (HighLevel: 100 per 10 s); "
        "both on 127.0.0.1"
    )
    with ExitStack() as stack:
        ascend = stack.enter_context(AscendEmulatorServer(AscendEmulator(practice)))
        highlevel = stack.enter_context(
            SandboxServer(sandbox=Sandbox(SandboxConfig(rate_window_ms=SANDBOX_WINDOW_MS)))
        )
        assert highlevel.location is not None
        config = ascend.emulator.config
        source = AscendSource(
            base_url=ascend.base_url,
            client_id=config.client_id,
            client_secret=config.client_secret,
            organization_id=config.organization_id,
            practice_timezone=practice.config.timezone,
        )
        hl = HighLevelClient(
            base_url=highlevel.base_url,
            location_id=highlevel.location.location_id,
            token=highlevel.location.token,
            budget=RateBudget(window_ms=SANDBOX_WINDOW_MS),
        )
        print("sandbox location:", highlevel.location.location_id)
        yield source, hl


async def migrate(args: argparse.Namespace, source: AscendSource, hl: HighLevelClient, workdir: Path) -> int:
    async with hl, source, Migration(source, hl, workdir=workdir) as migration:
        plan_file = workdir / "plan.md"
        if not plan_file.exists():
            plan = await build_plan(source, options=migration.options)
            plan.save(workdir)
            print(
                f"plan {migration.plan_hash()[:12]}: {plan.source.patients} patients, "
                f"{plan.estimate.total_requests} requests; {plan_file}"
            )
            for path, count in sorted(source.counts.items()):
                print(f"  {path}: {count.records} records, {count.issues} issues")
        approver = "example script (automatic: sandbox only)" if args.sandbox else args.approved_by
        if not approver:
            print("read the plan, then run again with --approved-by NAME")
            return 0
        migration.approve(by=approver)
        print(f"approved plan {migration.plan_hash()[:12]}")
        sample = await migration.sample(args.sample)
        print(f"sample {sample.run_id}: {sample.status.value}; field diff to review: {sample.report}")
        result = await migration.run()
        print(f"run {result.run_id}: {result.status.value}")
        if not result.completed:
            print("stopped:", result.stopped_reason, "- run the script again to resume")
            return 2
        print(result.reconciliation.render())
        check = await migration.reconcile()
        print(
            f"reconciled: {check.ok}; contacts re-read: {check.checked}; mismatches: {len(check.mismatches)}"
        )
        print("audit log:", *migration.export_audit())
        if args.rollback or args.sandbox:
            undo = await migration.rollback()
            print(f"rollback {undo.run_id}: {undo.status.value}")
        return 0 if check.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ascend-example-") as scratch:
        workdir = args.workdir or (Path(scratch) / "workdir" if args.sandbox else None)
        if workdir is None:
            sys.exit("pass --workdir: it keeps the ledger a re-run resumes from")
        with endpoints(args) as (source, hl):
            return anyio.run(migrate, args, source, hl, workdir)


if __name__ == "__main__":
    sys.exit(main())
