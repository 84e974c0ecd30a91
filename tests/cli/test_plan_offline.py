"""``plan --offline`` (the export alone, before any HighLevel access exists) and ``plan`` asking HighLevel
before it stages the export."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.cli._cli import SCALED, cli

from dentrix_highlevel.cli._common import EXIT_REFUSED, EXIT_STOPPED, EXIT_USAGE
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _export(tmp_path: Path, patients: int = 12) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=4)), path)
    return path


def test_an_offline_plan_needs_no_highlevel_and_cannot_be_approved(tmp_path: Path) -> None:
    export = _export(tmp_path)
    wd = tmp_path / "offline"
    # No location id, no token, no base URL: nothing to reach.
    planned = cli("plan", "--offline", "--source", f"g-export:{export}", "--workdir", str(wd))
    assert planned.code == 0, str(planned)
    assert "offline" in planned.stdout
    report = (wd / "plan.md").read_text(encoding="utf-8")
    assert "Not yet checked against the sub-account" in report
    assert "## Data availability" in report or "Data Availability" in report
    plan = json.loads((wd / "plan.json").read_text(encoding="utf-8"))
    assert plan["location_id"] is None
    assert plan["preflight"] is None
    assert plan["source"]["patients"] == 12
    assert plan["estimate"]["total_requests"] > 0
    assert not (wd / "migration.json").exists()
    refused = cli("approve", "--workdir", str(wd), "--by", "manager", env={"HIGHLEVEL_TOKEN": "pit-x"})
    assert refused.code == EXIT_REFUSED, str(refused)
    assert "made offline" in refused.output
    assert "Traceback" not in refused.output


def test_an_offline_plan_maps_as_the_checked_plan_will(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path)
    offline = cli("plan", "--offline", "--source", f"g-export:{export}", "--workdir", str(tmp_path / "a"))
    assert offline.code == 0, str(offline)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    online = cli("plan", "--source", f"g-export:{export}", "--workdir", str(tmp_path / "b"), *SCALED, env=env)
    assert online.code == 0, str(online)
    a = json.loads((tmp_path / "a" / "plan.json").read_text(encoding="utf-8"))
    b = json.loads((tmp_path / "b" / "plan.json").read_text(encoding="utf-8"))
    # The same export, maps, options (plan date included) and policies: the same plan hash.
    assert a["as_of"] == b["as_of"]
    assert a["maps"] == b["maps"]
    assert b["location_id"] == location.location_id


def test_plan_checks_the_export_then_asks_highlevel_then_stages(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    env = {"HIGHLEVEL_TOKEN": "pit-x"}
    args = ("--base-url", f"http://127.0.0.1:{port}", "--location-id", "loc1", *SCALED)
    # The export's cheap checks come first: a missing required file is named before any request.
    missing = _export(tmp_path / "missing")
    (missing / "v_patient.csv").unlink()
    first = cli("plan", "--source", f"g-export:{missing}", "--workdir", str(tmp_path / "w1"), *args, env=env)
    assert first.code == EXIT_USAGE, str(first)
    assert "v_patient.csv" in first.output
    # What only staging finds (a bad value deep in a file) waits until HighLevel answered: an unreachable
    # HighLevel is what the user sees (exit 4), and no staging time is spent on it.
    broken = _export(tmp_path / "broken")
    with (broken / "v_patient.csv").open("ab") as handle:
        handle.write(b'"unterminated')
    dead = cli("plan", "--source", f"g-export:{broken}", "--workdir", str(tmp_path / "w2"), *args, env=env)
    assert dead.code == EXIT_STOPPED, str(dead)
    assert not (tmp_path / "w2" / "staging").exists()
