"""``dentrix-highlevel demo`` end to end through the entry point: the whole flow, then the pre-state."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
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


def test_every_work_directory_file_is_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    workdir = out / "workdir"
    previous = os.umask(0)  # the child processes inherit it
    try:
        demo = cli("demo", "--patients", "12", "--out", str(out), "--no-progress")
        assert demo.code == 0, str(demo)
        # A report left world-readable (by hand, or an older version): rewriting it must not keep its mode,
        # as opening it with O_TRUNC would.
        loose = workdir / "report.md"
        loose.write_text("old", encoding="utf-8")
        assert stat.S_IMODE(loose.stat().st_mode) == 0o666
        report = cli("report", "--workdir", str(workdir))
        assert report.code == 0, str(report)
    finally:
        os.umask(previous)
    names = {p.name for p in workdir.iterdir()}
    assert {"reconciliation.json", "plan.json", "plan.md", "approval.json", "migration.json"} <= names
    assert {"audit.csv", "audit.jsonl", "ledger.sqlite3", "report.md"} <= names
    assert any(n.startswith("sample-") for n in names)
    modes = {}
    for path in [workdir, *workdir.rglob("*")]:
        assert path.is_dir() or path.is_file(), (
            path
        )  # nothing else (links, pipes) belongs in a work directory
        modes[str(path.relative_to(out))] = stat.S_IMODE(path.lstat().st_mode)
    expected = {name: 0o700 if (out / name).is_dir() else 0o600 for name in modes}
    assert {n: oct(m) for n, m in modes.items()} == {n: oct(m) for n, m in expected.items()}
