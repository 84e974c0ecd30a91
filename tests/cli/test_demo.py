"""``dentrix-highlevel demo`` end to end through the entry point: the whole flow, then the pre-state."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from tests.cli._cli import cli

from dentrix_highlevel.cli._demo import simulate_next_export
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def test_demo_runs_the_whole_migration_and_restores_the_location(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    outcome = cli("demo", "--patients", "12", "--out", str(out), "--no-progress")
    assert outcome.code == 0, str(outcome)
    text = outcome.stdout
    assert "automatic approval - demo only" in text
    assert "Rate window scaled down 100x" in text
    for step in ("sample", "run", "delta", "reconcile", "rollback"):
        assert re.search(rf"^\s*{step}\s+(completed|ok)\s", text, re.MULTILINE), step
    assert "every record accounted for" in text
    _check_summary_table(text, out / "workdir" / "audit.csv")
    assert "the sub-account is back to its pre-migration state" in text
    assert re.search(r"rollback: [1-9]\d* objects deleted, 1 contacts restored: pre-state restored", text)
    workdir = out / "workdir"
    for name in ("plan.md", "plan.json", "audit.csv", "audit.jsonl", "reconciliation.json", "migration.json"):
        assert (workdir / name).is_file(), name
        assert str(workdir / name) in text or name in ("plan.json", "migration.json")
    assert list(workdir.glob("sample-*.csv"))
    # The work directory is a normal one: the offline report reads it, and the delta's export is recorded.
    config = json.loads((workdir / "migration.json").read_text("utf-8"))
    assert config["source"]["location"] == str(out / "export-2")
    assert config["history"] == [f"g-export:{out / 'export-1'}"]
    report = cli("report", "--workdir", str(workdir))
    assert report.code == 0, str(report)
    assert re.search(r"\| delta-\S+ \| delta \| completed \|", (workdir / "report.md").read_text("utf-8"))

    again = cli("demo", "--patients", "12", "--out", str(out))
    assert again.code == 2
    assert "is not empty; choose a new --out folder" in again.stderr


_COUNTS = ("created", "updated", "unchanged", "conflict", "skipped", "failed")


def _check_summary_table(text: str, audit_csv: Path) -> None:
    """The summary table has the conflict column, and each run's row adds up: every source record the run
    saw (one audit row each) is in exactly one of created/updated/unchanged/conflict/skipped/failed."""
    header = next(line.split() for line in text.splitlines() if re.match(r"^\s*step\s+status\s", line))
    assert header == ["step", "status", *_COUNTS, "requests", "s"]
    rows = {}
    for line in text.splitlines():
        cells = line.split()
        if len(cells) == len(header) and cells[0] in ("sample", "run", "delta", "reconcile", "rollback"):
            rows[cells[0]] = dict(zip(header, cells, strict=True))
    assert set(rows) == {"sample", "run", "delta", "reconcile", "rollback"}
    assert all(rows["rollback"][name] == "-" for name in _COUNTS)
    with audit_csv.open(encoding="utf-8", newline="") as handle:
        audit = Counter(row["run_id"].split("-", 1)[0] for row in csv.DictReader(handle))
    for step in ("sample", "run", "delta"):
        counted = sum(int(rows[step][name]) for name in _COUNTS)
        assert counted == audit[step] > 0, (step, rows[step], audit[step])
    assert sum(int(rows["reconcile"][name]) for name in _COUNTS) > 0


def test_the_next_export_edits_archives_and_adds_patients(tmp_path: Path) -> None:
    first = tmp_path / "one"
    write_g_export(SyntheticPractice(SynthConfig(patients=40, seed=5)), first)
    counts = simulate_next_export(first, tmp_path / "two")
    with GExportSource(first) as old, GExportSource(tmp_path / "two") as new:
        before = {b.patient_id: b for b in old.iter_bundles()}
        after = {b.patient_id: b for b in new.iter_bundles()}
    added = set(after) - set(before)
    assert len(added) == counts["added"] == 2
    changed = [pid for pid in before if before[pid].content_hash() != after[pid].content_hash()]
    assert len(changed) == counts["edited"] + counts["archived"]
    assert sum(1 for pid in changed if after[pid].patient.city == "Leadville") == counts["edited"]
    assert counts["archived"] >= 1
    assert after[min(added)].patient.email != before[min(before)].patient.email
