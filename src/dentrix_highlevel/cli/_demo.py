"""``dentrix-highlevel demo``: a whole migration against the embedded sandbox, in under a minute.

Synthetic practice → G export → plan → automatic approval (demo only) → sample with field diff → full run
→ a second export with edited, added and archived patients → delta → reconcile → rollback → check that the
sub-account is exactly as before (server timestamps aside). The sandbox runs in-process with its rate window
scaled down 100x (100 requests per 100 ms), which the output says. Nothing leaves the process.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import attrs
import click

from dentrix_highlevel.cli._common import (
    EXIT_FAILED_RECORDS,
    EXIT_OK,
    CliFailure,
    Destination,
    ProgressReporter,
    SourceSpec,
    WorkdirConfig,
    compact_table,
    console,
    debug_option,
    rollback_counts,
    run_async,
)
from dentrix_highlevel.cli._options import shown_option

__all__ = ["DEFAULT_PATIENTS", "demo", "normalised_dump"]

DEFAULT_PATIENTS: Final = 120
APPROVER: Final = "demo (automatic approval - demo only)"
_SCALED_WINDOW_MS: Final = 100
_SCALED_MAX: Final = 100
# Server-side stamps a rollback cannot (and need not) restore: the engine's rollback tests drop the same.
_VOLATILE: Final = frozenset(
    {"dateAdded", "dateUpdated", "updatedAt", "createdAt", "lastStatusChangeAt", "lastStageChangeAt"}
)


def normalised_dump(dump: dict[str, Any]) -> dict[str, Any]:
    """A sandbox dump without server timestamps and None-valued keys (HighLevel omits unset fields)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in _VOLATILE and v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(copy.deepcopy(dump))
    return cleaned


def _differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two dumps differ, as paths of keys (ids and key names only, never values)."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}/{key}"
            if key not in after:
                out.append(f"{where} missing after rollback")
            elif key not in before:
                out.append(f"{where} left behind")
            else:
                out += _differences(before[key], after[key], where)
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in _differences(b, a, f"{path}[{i}]")
        ]
    return [] if before == after else [f"{path or '/'} differs"]


#: The reconciliation buckets a summary row shows, in the table's column order.
_COUNTED: Final = ("created", "updated", "unchanged", "conflict", "skipped", "failed")


@attrs.frozen(kw_only=True)
class Step:
    """One row of the summary table (counts and ids only)."""

    name: str
    status: str
    counts: tuple[int, ...]
    """The step's reconciliation totals, one per ``_COUNTED``."""
    requests: int = 0
    seconds: float = 0.0
    summary: str = ""


def simulate_next_export(first: Path, second: Path, *, every: int = 7) -> dict[str, int]:
    """Copy export ``first`` to ``second`` as the practice's next export: every ``every``-th patient gets a
    new city, every ``every``-th (offset) is archived (status 4), and a few new patients are added (copies
    of existing rows with fresh ids and contact points). Returns how many of each."""
    shutil.copytree(first, second)
    file = second / "v_patient.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    counts = Counter[str]()
    for index, row in enumerate(rows):
        if index % every == 1:
            row["city"] = "Leadville"
            counts["edited"] += 1
        elif index % every == 3 and row.get("status", "").strip() == "1":
            row["status"] = "4"  # archived in Dentrix
            counts["archived"] += 1
    ids = [int(r["patient_id"]) for r in rows if r["patient_id"].strip().isdigit()]
    next_id = max(ids, default=1000) + 1
    for offset, base in enumerate(rows[: max(1, len(rows) // 20)]):
        new_id = str(next_id + offset)
        added = dict(base)
        added.update(
            {
                "patient_id": new_id,
                "guar_id": new_id,
                "chart_num": f"N{new_id}",
                "patient_guid": "{" + new_id.rjust(32, "0") + "}",
                "email": f"new-patient-{new_id}@example.org",
                "mobile_phone": "",
                "home_phone": "",
                "work_phone": "",
                "other_phone": "",
            }
        )
        rows.append(added)
        counts["added"] += 1
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    manifest = second / "manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text("utf-8"))
        stamp = data.get("exported_at")
        if isinstance(stamp, str):
            later = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(days=1)
            data["exported_at"] = later.isoformat()
            manifest.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return dict(counts)


def _out_dir(out: Path | None) -> Path:
    if out is None:
        return Path(tempfile.mkdtemp(prefix="dentrix-highlevel-demo-"))
    if out.exists() and any(out.iterdir()):
        raise CliFailure(f"{out} is not empty; choose a new --out folder (the demo never overwrites)")
    out.mkdir(parents=True, exist_ok=True)
    return out


@click.command("demo")
@shown_option(
    "--patients", click.IntRange(min=5, max=5_000), DEFAULT_PATIENTS, "Size of the synthetic practice."
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the exports, the work directory and the reports (default: a new temp folder).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same practice.")
@click.option("--no-progress", is_flag=True, help="Do not draw progress bars.")
@debug_option
def demo(patients: int, out: Path | None, seed: int, no_progress: bool) -> None:
    """Run a whole migration of a synthetic practice against the embedded HighLevel sandbox."""
    try:
        from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
    except ImportError as error:  # pragma: no cover - depends on the install
        raise CliFailure(
            f"the demo needs the 'sandbox' extra: pip install 'dentrix-highlevel[sandbox]' ({error})"
        ) from None
    folder = _out_dir(out)
    console.print(
        f"[bold]dentrix-highlevel demo[/bold]: {patients} synthetic patients (seed {seed}) -> embedded "
        f"HighLevel sandbox. Rate window scaled down 100x for the demo: {_SCALED_MAX} requests per "
        f"{_SCALED_WINDOW_MS} ms (HighLevel allows 100 per 10 s)."
    )
    sandbox = Sandbox(SandboxConfig(rate_window_ms=_SCALED_WINDOW_MS, rate_max=_SCALED_MAX, seed=seed))
    location = sandbox.create_location(allow_duplicates=False)
    runner = _Demo(folder, patients, seed, sandbox, location, progress=not no_progress)
    started = time.monotonic()
    ok = run_async(runner.run)
    table = compact_table("demo summary")
    for name in ("step", "status", *_COUNTED, "requests", "s"):
        table.add_column(name, justify="left" if name in ("step", "status") else "right")
    for step in runner.steps:
        # A rollback's own results are deletions and restores (in its summary), not created/updated counts.
        counts = ["-"] * len(_COUNTED) if step.name == "rollback" else [str(n) for n in step.counts]
        table.add_row(step.name, step.status, *counts, str(step.requests), f"{step.seconds:.1f}")
    console.print(table)
    for step in runner.steps:
        if step.summary:
            console.print(f"  {step.name}: {step.summary}", markup=False)
    workdir = runner.workdir
    console.print(f"finished in {time.monotonic() - started:.1f}s; everything is in {folder}", markup=False)
    for label, path in runner.artefacts.items():
        console.print(f"  {label}: {path}", markup=False)
    console.print(
        f"  summary of the work directory: dentrix-highlevel report --workdir {workdir}", markup=False
    )
    console.print(
        "the sub-account is back to its pre-migration state"
        if runner.restored
        else "the sub-account is NOT back to its pre-migration state: " + "; ".join(runner.leftovers[:10]),
        markup=False,
    )
    sys.exit(EXIT_OK if ok else EXIT_FAILED_RECORDS)


@attrs.define
class _Demo:
    """The demo's steps, run in one event loop; the results land in ``steps``/``artefacts``."""

    folder: Path
    patients: int
    seed: int
    sandbox: Any
    location: Any
    progress: bool = attrs.field(kw_only=True)
    workdir: Path = attrs.field(init=False)
    steps: list[Step] = attrs.field(init=False, factory=list)
    artefacts: dict[str, Path] = attrs.field(init=False, factory=dict)
    restored: bool = attrs.field(init=False, default=False)
    leftovers: list[str] = attrs.field(init=False, factory=list)
    _last: tuple[int, float] = attrs.field(init=False, default=(0, 0.0))

    def __attrs_post_init__(self) -> None:
        self.workdir = self.folder / "workdir"

    async def _measured(self, action: Callable[[], Awaitable[Any]]) -> Any:
        """Run one step; remember its request count and seconds for the summary row."""
        before = len(self.sandbox.request_log)
        started = time.monotonic()
        value = await action()
        self._last = (len(self.sandbox.request_log) - before, time.monotonic() - started)
        return value

    def _add(self, name: str, status: str, reconciliation: Any, summary: str) -> int:
        """The summary row of the step just measured; returns its failed count."""
        requests, seconds = self._last
        totals = reconciliation.totals()
        counts = tuple(int(getattr(totals, bucket)) for bucket in _COUNTED)
        self.steps.append(
            Step(name=name, status=status, counts=counts, requests=requests, seconds=seconds, summary=summary)
        )
        return int(totals.failed)

    def _record(self, name: str, result: Any, *, summary: str = "") -> bool:
        failed = self._add(name, result.status.value, result.reconciliation, summary)
        return bool(result.completed and failed == 0)

    async def run(self) -> bool:
        from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RequestKind
        from dentrix_highlevel.migration import LocationSnapshot, Migration, build_plan
        from dentrix_highlevel.sources import GExportSource
        from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

        first, second = self.folder / "export-1", self.folder / "export-2"
        write_g_export(SyntheticPractice(SynthConfig(patients=self.patients, seed=self.seed)), first)
        console.print(
            f"1. wrote a synthetic Dentrix G export of {self.patients} patients: {first}", markup=False
        )
        budget = RateBudget(
            max_requests=_SCALED_MAX, window_ms=_SCALED_WINDOW_MS, daily_max=200_000, daily_reserve=1_000
        )
        ok = True
        async with (
            HighLevelClient(
                location_id=self.location.location_id,
                token=self.location.token,
                # In-process transport: the base URL only names the sandbox, nothing is sent on a network.
                base_url="http://127.0.0.1:0",
                transport=self.sandbox.transport(),
                budget=budget,
                limiter=RateLimiter(budget),
            ) as hl,
            GExportSource(first) as source,
        ):
            # The practice already uses HighLevel: a walk-in contact, and one patient who is already a
            # contact (the rollback must give that contact its own values back).
            email = next((b.patient.email for b in source.iter_bundles() if b.patient.email), None)
            for n, address in enumerate([email, "walk-in@elsewhere.example"]):
                if address is not None:
                    await hl.call(
                        "POST",
                        "/contacts/",
                        kind=RequestKind.CREATE,
                        json={
                            "locationId": hl.location_id,
                            "email": address,
                            "firstName": f"Existing{n}",
                            "tags": ["vip"],
                        },
                    )
            before = normalised_dump(self.sandbox.dump())
            reporter = ProgressReporter(enabled=self.progress)
            migration = Migration(source, hl, workdir=self.workdir, progress=reporter)
            async with migration:
                snapshot = await LocationSnapshot.read(hl)
                plan = await build_plan(source, options=migration.options, location=snapshot)
                plan.save(self.workdir)
                WorkdirConfig(
                    migration_id="dentrix-highlevel",
                    source=SourceSpec(kind="g-export", location=str(first)),
                    destination=Destination(
                        base_url="http://127.0.0.1:0",
                        location_id=hl.location_id,
                        rate_max=_SCALED_MAX,
                        rate_window_ms=_SCALED_WINDOW_MS,
                    ),
                ).save(self.workdir)
                self.artefacts["plan"] = self.workdir / "plan.md"
                console.print(
                    f"2. plan {plan.content_hash[:12]}: {plan.source.patients} patients, "
                    f"{sum(1 for f in plan.custom_fields if f.action == 'create')} custom fields to create, "
                    f"~{plan.estimate.total_requests} requests",
                    markup=False,
                )
                console.print(
                    "3. [bold yellow]automatic approval - demo only[/bold yellow] "
                    "(a real migration is approved by a person: dentrix-highlevel approve --by NAME)"
                )
                migration.approve(by=APPROVER)

                size = min(10, self.patients)
                with reporter.shown():
                    sample = await self._measured(lambda: migration.sample(size))
                verdicts = _verdicts(sample.report) if sample.report is not None else Counter()
                problems = verdicts.get("mismatch", 0) + verdicts.get("missing", 0)
                ok &= self._record(
                    "sample", sample, summary=f"{sum(verdicts.values())} fields diffed, {problems} wrong"
                )
                ok &= problems == 0
                if sample.report is not None:
                    self.artefacts["sample diff (holds synthetic patient values)"] = sample.report
                console.print(
                    f"4. sample of {size}: field diff {dict(sorted(verdicts.items()))}", markup=False
                )

                with reporter.shown():
                    full = await self._measured(migration.run)
                ok &= self._record("run", full)
                console.print(f"5. full run {full.run_id}: {full.status.value}", markup=False)

                changes = simulate_next_export(first, second)
                console.print(f"6. the practice kept working: next export {second} ({changes})", markup=False)
                async with GExportSource(second) as newer:
                    with reporter.shown():
                        delta = await self._measured(lambda: migration.delta(newer))
                    ok &= self._record(
                        "delta", delta, summary=", ".join(f"{k} {v}" for k, v in sorted(changes.items()))
                    )
                    console.print(f"7. delta {delta.run_id}: {delta.status.value}", markup=False)
                    config = WorkdirConfig.load(self.workdir)
                    attrs.evolve(
                        config,
                        source=SourceSpec(kind="g-export", location=str(second)),
                        history=(str(config.source),),
                    ).save(self.workdir)
                    reconciled = await self._measured(migration.reconcile)
                    self._add(
                        "reconcile",
                        "ok" if reconciled.ok else "MISMATCH",
                        reconciled.reconciliation,
                        f"{reconciled.checked} contacts re-read, {len(reconciled.mismatches)} mismatches",
                    )
                    ok &= reconciled.ok
                    self.artefacts["reconciliation"] = reconciled.path
                    console.print(
                        f"8. reconcile: {'every record accounted for' if reconciled.ok else 'MISMATCH'}",
                        markup=False,
                    )
                    rolled = await self._measured(migration.rollback)
                self.leftovers = _differences(before, normalised_dump(self.sandbox.dump()))
                self.restored = not self.leftovers
                deleted, restored = rollback_counts(migration.ledger)
                state = "pre-state restored" if self.restored else "pre-state NOT restored"
                ok &= self._record(
                    "rollback",
                    rolled,
                    summary=f"{deleted} objects deleted, {restored} contacts restored: {state}",
                )
                ok &= self.restored
                console.print(
                    f"9. rollback {rolled.run_id}: {rolled.status.value}; sandbox dump before == after: "
                    f"{self.restored}",
                    markup=False,
                )
                csv_path, jsonl_path = migration.export_audit()
                self.artefacts["audit log"] = csv_path
                self.artefacts["audit log (JSON lines)"] = jsonl_path
        return bool(ok)


def _verdicts(path: Path) -> Counter[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        return Counter(row.get("verdict", "") for row in csv.DictReader(handle))
