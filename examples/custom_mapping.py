"""Customise the default Dentrix -> HighLevel map for one practice, review the change, run a sample.

Starts from ``default_maps()`` and, with the mapping DSL:

* sends two columns only this practice exports (``Pref. Hygienist``, ``Emergency Contact Phone``; they land in
  each patient's ``extra``) to new custom fields;
* replaces the phone rule: this practice keeps current numbers in *home phone*, so home comes first;
* saves the contact map as a file a person can review and edit, loads it back (validated again);
* prints the plan diff against the default map, then migrates a sample with the custom map and counts the
  field-level verdicts of the read-back.

Real destination (the default; a person approves the plan first):

    export HIGHLEVEL_LOCATION_ID=... HIGHLEVEL_TOKEN=...      # HIGHLEVEL_BASE_URL is optional
    python custom_mapping.py --export exports/smile.zip --workdir migrations/smile
    python custom_mapping.py --export exports/smile.zip --workdir migrations/smile --approved-by "J. Doe"

Against the embedded HighLevel sandbox with a synthetic practice:

    python custom_mapping.py --sandbox --patients 30

Output is identifiers, rule names and counts only: never a patient value, never the token.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import attrs

from dentrix_highlevel import GExportSource, HighLevelClient, Migration, RateBudget, build_plan
from dentrix_highlevel.mapping import (
    Coalesce,
    CustomFieldTarget,
    DataType,
    DefaultMapOptions,
    FieldCategory,
    FieldMap,
    FieldRule,
    NameCase,
    Phone,
    StandardField,
    Trim,
    default_computed,
    default_maps,
    load_map,
    save_map,
)
from dentrix_highlevel.records import PatientBundle

# The sandbox scales HighLevel's 10 s burst window down to 100 ms (and the client's budget with it).
SANDBOX_WINDOW_MS = 100
NEW_FIELDS = ("Preferred Hygienist", "Emergency Contact Phone")  # the diff report names fields so

# HighLevel API v2 (HIGHLEVEL_BASE_URL overrides it, e.g. for a sandbox started in a terminal).
HIGHLEVEL_API = "https://services.leadconnectorhq.com"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--export", type=Path, help="the G export (folder or .zip); synthetic if omitted")
    parser.add_argument("--workdir", type=Path, help="work directory (ledger, plan, map file)")
    parser.add_argument("--approved-by", help="who read plan.md and approves it (real destination)")
    parser.add_argument("--sample", type=int, default=8, help="patients in the sample run (default 8)")
    parser.add_argument("--sandbox", action="store_true", help="run against the embedded HighLevel sandbox")
    parser.add_argument("--patients", type=int, default=30, help="synthetic practice size (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic practice seed (default 7)")
    return parser.parse_args(argv)


def custom_contact_map(default: FieldMap) -> FieldMap:
    """The practice's contact map: the default one with a different phone rule and two extra columns."""
    home_first = FieldRule(
        source=Coalesce(["patient.home_phone", "patient.mobile_phone", "patient.work_phone"]),
        transform=Phone(region="US"),
        target=StandardField("phone"),
        note="this practice keeps current numbers in home phone; mobile is often stale",
    )
    hygienist = FieldRule(
        source='patient.extra["Pref. Hygienist"]',
        transform=Trim() | NameCase(),
        target=CustomFieldTarget(
            name="Preferred Hygienist", data_type=DataType.TEXT, category=FieldCategory.CLINICAL
        ),
        note="asked for by the office manager (hygiene scheduling)",
    )
    emergency = FieldRule(
        source='patient.extra["Emergency Contact Phone"]',
        transform=Phone(region="US"),
        target=CustomFieldTarget(
            name="Emergency Contact Phone", data_type=DataType.PHONE, category=FieldCategory.ADMINISTRATIVE
        ),
    )
    rules = [home_first if rule.target == StandardField("phone") else rule for rule in default.rules]
    # attrs.evolve builds a new FieldMap and runs every build-time check again.
    return attrs.evolve(default, name="smile contact map", rules=[*rules, hygienist, emergency])


@contextmanager
def destination(args: argparse.Namespace) -> Iterator[HighLevelClient]:
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

    print(f"sandbox: HighLevel emulator on 127.0.0.1, rate window scaled down to {SANDBOX_WINDOW_MS} ms")
    with SandboxServer(sandbox=Sandbox(SandboxConfig(rate_window_ms=SANDBOX_WINDOW_MS))) as server:
        assert server.location is not None
        yield HighLevelClient(
            base_url=server.base_url,
            location_id=server.location.location_id,
            token=server.location.token,
            budget=RateBudget(window_ms=SANDBOX_WINDOW_MS),
        )


def verdicts(report: Path) -> tuple[Counter[str], Counter[str]]:
    """Verdict counts of the sample's diff report: all fields, and the two new custom fields."""
    every: Counter[str] = Counter()
    new: Counter[str] = Counter()
    with report.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            every[row["verdict"]] += 1
            if row["field"] in NEW_FIELDS:
                new[row["verdict"]] += 1
    return every, new


async def migrate(args: argparse.Namespace, hl: HighLevelClient, export: Path, workdir: Path) -> int:
    async with hl, GExportSource(export) as source:
        # The default options as the engine picks them (as_of = the export's time), so plan and run agree.
        options: DefaultMapOptions = Migration(source, hl, workdir=workdir).options
        defaults = default_maps(options)
        contact = custom_contact_map(defaults.contact)
        for line in contact.describe()[-2:]:
            print("new rule:", line)

        # A file a person can review and edit; loading validates it again.
        await anyio.Path(workdir).mkdir(parents=True, exist_ok=True)
        map_file = save_map(contact, workdir / "smile-contact-map.json")
        loaded = load_map(map_file, schema=PatientBundle, computed=default_computed(options))
        assert loaded.describe() == contact.describe()
        print("map file:", map_file)
        maps = {**defaults.all(), "contact": loaded}

        default_plan = await build_plan(source, options=options)
        plan = await build_plan(source, maps=maps, options=options)
        print(f"plan diff (default {default_plan.content_hash[:12]} -> custom {plan.content_hash[:12]}):")
        for line in default_plan.diff(plan):
            print("  ", line)
        plan.save(workdir)
        print("plan:", workdir / "plan.md")

        approver = "example script (automatic: sandbox only)" if args.sandbox else args.approved_by
        if not approver:
            print("read the plan and the map file, then run again with --approved-by NAME")
            return 0
        async with Migration(source, hl, workdir=workdir, maps=maps, options=options) as migration:
            assert migration.plan_hash() == plan.content_hash
            migration.approve(by=approver)
            sample = await migration.sample(args.sample)
            assert sample.report is not None
            every, new = verdicts(sample.report)
            print(f"sample {sample.run_id}: {sample.status.value}")
            print("field verdicts:", dict(sorted(every.items())))
            print("new custom fields:", dict(sorted(new.items())))
            if args.sandbox:
                undo = await migration.rollback()
                print(f"rollback {undo.run_id}: {undo.status.value}")
            return 0 if every["mismatch"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="custom-mapping-example-") as scratch:
        if args.export is None:
            if not args.sandbox:
                sys.exit("pass --export PATH (or --sandbox for a synthetic practice)")
            from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

            practice = SyntheticPractice(SynthConfig(patients=args.patients, seed=args.seed))
            args.export = Path(scratch) / "export"
            result = write_g_export(practice, args.export)
            print(f"synthetic G export: {result.patients} patients")
        workdir = args.workdir or (Path(scratch) / "workdir" if args.sandbox else None)
        if workdir is None:
            sys.exit("pass --workdir: it keeps the ledger, the plan and the map file")
        with destination(args) as hl:
            return anyio.run(migrate, args, hl, args.export, workdir)


if __name__ == "__main__":
    sys.exit(main())
