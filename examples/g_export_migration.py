"""Migrate a Dentrix G structured export into a HighLevel sub-account.

Real destination (the default), in two steps — a person reads the plan before anything is written:

    export HIGHLEVEL_LOCATION_ID=... HIGHLEVEL_TOKEN=...      # HIGHLEVEL_BASE_URL is optional
    python g_export_migration.py --export exports/smile.zip --workdir migrations/smile
    # read migrations/smile/plan.md, then:
    python g_export_migration.py --export exports/smile.zip --workdir migrations/smile --approved-by "J. Doe"

Try it first against the embedded HighLevel sandbox with a synthetic practice (nothing leaves the machine):

    python g_export_migration.py --sandbox --patients 40

Output is identifiers and counts only: never a patient value, never the token.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio

from dentrix_highlevel import GExportSource, HighLevelClient, Migration, RateBudget, build_plan

# The sandbox scales HighLevel's 10 s burst window down to 100 ms so a demo takes seconds; the client's
# budget is scaled the same way. Against HighLevel the documented budget (100 requests / 10 s) applies.
SANDBOX_WINDOW_MS = 100

# HighLevel API v2 (HIGHLEVEL_BASE_URL overrides it, e.g. for a sandbox started in a terminal).
HIGHLEVEL_API = "https://services.leadconnectorhq.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--export", type=Path, help="the G export (folder or .zip); synthetic if omitted")
    parser.add_argument("--workdir", type=Path, help="work directory (ledger, plan, audit log)")
    parser.add_argument("--approved-by", help="who read plan.md and approves it (real destination)")
    parser.add_argument("--sample", type=int, default=5, help="patients in the sample run (default 5)")
    parser.add_argument("--rollback", action="store_true", help="undo the migration at the end")
    parser.add_argument("--sandbox", action="store_true", help="run against the embedded HighLevel sandbox")
    parser.add_argument("--patients", type=int, default=40, help="synthetic practice size (default 40)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic practice seed (default 7)")
    return parser.parse_args(argv)


@contextmanager
def destination(args: argparse.Namespace) -> Iterator[HighLevelClient]:
    """A client for the sandbox (started here) or for the HighLevel location named in the environment."""
    if not args.sandbox:
        missing = [n for n in ("HIGHLEVEL_LOCATION_ID", "HIGHLEVEL_TOKEN") if not os.environ.get(n)]
        if missing:
            sys.exit(f"set {', '.join(missing)} (or pass --sandbox)")
        yield HighLevelClient(
            location_id=os.environ["HIGHLEVEL_LOCATION_ID"],
            token=os.environ["HIGHLEVEL_TOKEN"],
            base_url=os.environ.get("HIGHLEVEL_BASE_URL") or HIGHLEVEL_API,
        )
        return
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    print(
        f"sandbox: HighLevel emulator on 127.0.0.1, rate window scaled down to {SANDBOX_WINDOW_MS} ms "
        "(HighLevel: 100 requests per 10 s)"
    )
    sandbox = Sandbox(SandboxConfig(rate_window_ms=SANDBOX_WINDOW_MS))
    with SandboxServer(sandbox=sandbox) as server:
        assert server.location is not None
        print("sandbox location:", server.location.location_id)
        yield HighLevelClient(
            base_url=server.base_url,
            location_id=server.location.location_id,
            token=server.location.token,
            budget=RateBudget(window_ms=SANDBOX_WINDOW_MS),
        )


def synthetic_export(folder: Path, *, patients: int, seed: int) -> Path:
    from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

    path = folder / "export"
    result = write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path)
    print(f"synthetic G export: {result.patients} patients in {len(result.rows)} files")
    return path


async def migrate(args: argparse.Namespace, hl: HighLevelClient, export: Path, workdir: Path) -> int:
    async with hl, GExportSource(export) as source:
        print(f"source: {source.patient_count} patients, practice zone {source.practice_timezone}")
        async with Migration(source, hl, workdir=workdir) as migration:
            plan_file = workdir / "plan.md"
            if not plan_file.exists():
                plan = await build_plan(source, options=migration.options)
                plan.save(workdir)
                print(
                    f"plan {migration.plan_hash()[:12]}: {plan.estimate.total_requests} requests; {plan_file}"
                )
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
                f"reconciled: {check.ok}; contacts re-read: {check.checked}; "
                f"mismatches: {len(check.mismatches)}"
            )
            csv_path, jsonl_path = migration.export_audit()
            print("audit log:", csv_path, jsonl_path)
            if args.rollback or args.sandbox:
                undo = await migration.rollback()
                print(f"rollback {undo.run_id}: {undo.status.value}")
            return 0 if check.ok else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="g-export-example-") as scratch:
        if args.export is None:
            if not args.sandbox:
                sys.exit("pass --export PATH (or --sandbox for a synthetic practice)")
            args.export = synthetic_export(Path(scratch), patients=args.patients, seed=args.seed)
        workdir = args.workdir or (Path(scratch) / "workdir" if args.sandbox else None)
        if workdir is None:
            sys.exit("pass --workdir: it keeps the ledger a re-run resumes from")
        with destination(args) as hl:
            return anyio.run(migrate, args, hl, args.export, workdir)


if __name__ == "__main__":
    sys.exit(main())
