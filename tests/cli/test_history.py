"""Honest history: reconcile "(all runs)" counts what the attempts did (a no-op rerun does not turn
created into unchanged), a rollback with nothing left prints its own zero totals, and ``plan`` takes the
same lock as ``run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.cli._cli import SCALED, cli

from dentrix_highlevel.migration import SqliteLedger
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def test_reconcile_rollback_and_plan_tell_the_truth(scaled_server: Any, tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=8, seed=61)), export)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    plan = ("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED)
    assert cli(*plan, env=env).code == 0
    assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0
    assert cli("run", "--workdir", str(wd), "--no-progress", env=env).code == 0

    # A plan while another process holds the work directory's lock (a run going on) is refused.
    with SqliteLedger.open_existing(wd, exclusive=True):
        busy = cli(*plan, env=env)
    assert busy.code == 2, str(busy)
    assert "in use by another process" in busy.stderr

    # A rerun that changes nothing: reconcile still counts the contacts as created by the migration.
    assert cli("run", "--workdir", str(wd), "--no-progress", env=env).code == 0
    reconciled = cli("reconcile", "--workdir", str(wd), env=env)
    assert reconciled.code == 0, str(reconciled)
    kinds = {k["kind"]: k for k in json.loads((wd / "reconciliation.json").read_text("utf-8"))["kinds"]}
    assert kinds["contact"]["created"] > 0
    assert kinds["contact"]["unchanged"] == 0

    first = cli("rollback", "--yes", "--workdir", str(wd), env=env)
    assert first.code == 0, str(first)
    assert " 0 created object(s) deleted" not in first.stdout
    again = cli("rollback", "--yes", "--workdir", str(wd), env=env)
    assert again.code == 0, str(again)
    assert "0 created object(s) deleted, 0 existing contact(s) restored" in again.stdout


def test_a_stopped_and_resumed_run_keeps_both_attempts_in_the_report(
    scaled_server: Any, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=8, seed=62)), export)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    plan = ("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED)
    assert cli(*plan, env=env).code == 0
    assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0
    stopped = cli("run", "--workdir", str(wd), "--daily-max", "40", "--no-progress", env=env)
    assert stopped.code == 4, str(stopped)
    resumed = cli("run", "--workdir", str(wd), "--daily-max", "200000", "--no-progress", env=env)
    assert resumed.code == 0, str(resumed)
    reported = cli("report", "--workdir", str(wd), env=env)
    assert reported.code == 0, str(reported)
    report = (wd / "report.md").read_text("utf-8")
    (run_id,) = {r.run_id for r in SqliteLedger.open_existing(wd).runs() if r.mode.value == "run"}
    assert f"| {run_id} | 1 | stopped |" in report
    assert f"| {run_id} | 2 | completed |" in report
