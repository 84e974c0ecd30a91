"""``dentrix-highlevel fleet`` end to end through ``python -m dentrix_highlevel`` against a real sandbox
server: three offices, one with a wrong token; approval per office; a changed plan held back; a manifest
error; and a fleet rollback that leaves every sub-account as it was."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.cli._cli import Outcome, cli
from tests.fleet._helpers import exports, normalised, write_manifest

from dentrix_highlevel.sources import GExportSource


@pytest.fixture(scope="module")
def fleet_server() -> Iterator[Any]:
    """A served sandbox with the scaled window and a short search index lag (the default is 3 s)."""
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    config = SandboxConfig(rate_window_ms=100, rate_max=100, search_index_lag_ms=50)
    with SandboxServer(Sandbox(config), create_location=False) as server:
        yield server


def _names(export: Path) -> set[str]:
    with GExportSource(export) as source:
        bundles = list(source.iter_bundles())
    return {n for b in bundles for n in (b.patient.first_name, b.patient.last_name) if n and len(n) >= 5}


def _dump(server: Any, location_id: str) -> dict[str, Any]:
    dump: dict[str, Any] = normalised(server.sandbox.dump())["locations"][location_id]
    return dump


def _fleet(
    tmp_path: Path, server: Any, names: tuple[str, ...]
) -> tuple[Path, dict[str, Any], dict[str, str]]:
    paths = exports(tmp_path, names, patients=6)
    locations = {name: server.sandbox.create_location() for name in names}
    env = {f"PIT_{name.upper()}": loc.token for name, loc in locations.items()}
    offices = [
        {
            "name": name,
            "source": f"g-export:{paths[name]}",
            "location_id": locations[name].location_id,
            "token_env": f"PIT_{name.upper()}",
        }
        for name in names
    ]
    manifest = write_manifest(tmp_path / "group" / "fleet.toml", offices, base_url=server.base_url)
    return manifest, locations, env


def _report(manifest: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((manifest.parent / "fleet-report.json").read_text("utf-8"))
    return data


def _statuses(manifest: Path) -> dict[str, str]:
    return {o["office"]: o["status"] for o in _report(manifest)["offices"]}


def test_three_offices_one_with_a_wrong_token(fleet_server: Any, tmp_path: Path) -> None:
    manifest, locations, env = _fleet(tmp_path, fleet_server, ("north", "south", "east"))
    before = {name: _dump(fleet_server, loc.location_id) for name, loc in locations.items()}
    outcomes: list[Outcome] = []

    def fleet(*args: str, expect: int) -> Outcome:
        outcome = cli("fleet", *args, "--manifest", str(manifest), "--no-progress", env=env)
        outcomes.append(outcome)
        assert outcome.code == expect, str(outcome)
        assert "Traceback" not in outcome.output
        return outcome

    fleet("plan", expect=0)
    assert _statuses(manifest) == {"north": "ok", "south": "ok", "east": "ok"}
    assert (manifest.parent / "north" / "plan.md").is_file()

    fleet("approve", "--by", "ops@group.example", "--office", "north", "--office", "east", expect=0)
    fleet_server.sandbox.expire_token(locations["east"].token)  # east's token is revoked after approval
    # south is planned but not approved: held back (3); east cannot authenticate (2); north completes.
    run = fleet("run", expect=3)
    assert _statuses(manifest) == {"north": "ok", "south": "held", "east": "failed"}
    by_office = {o["office"]: o for o in _report(manifest)["offices"]}
    assert "not been approved" in by_office["south"]["reason"]
    assert "refused the credentials" in by_office["east"]["reason"]
    assert "refused the credentials" in run.stdout

    fleet("approve", "--by", "ops@group.example", "--office", "south", expect=0)
    fleet("run", expect=2)
    report = _report(manifest)
    assert _statuses(manifest) == {"north": "ok", "south": "ok", "east": "failed"}
    south = report["offices"][1]
    assert south["counts"]["created"] > 0
    assert south["requests"] > 0
    assert south["days_left"] == 0
    assert south["approved_by"] == "ops@group.example"

    reconciled = fleet("reconcile", "--office", "north", "--office", "south", expect=0)
    assert "north" in reconciled.stdout
    assert "south" in reconciled.stdout
    status = fleet("status", expect=0)
    assert "last run completed" in status.stdout
    # east was approved; its run was refused at the location's owner check, before a run began.
    assert _report(manifest)["offices"][2]["reason"].startswith("approved")

    # The report and the output: identifiers and counts only, never a patient's name nor a token.
    files = [manifest.parent / "fleet-report.json", manifest.parent / "fleet-report.md"]
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    text = "".join(o.output for o in outcomes) + "".join(f.read_text("utf-8") for f in files)
    names = set().union(*(_names(Path(p)) for p in (tmp_path / "exports").iterdir()))
    assert not [n for n in names if n in text]
    assert not [t for t in env.values() if t in text]

    fleet("rollback", "--yes", "--office", "north", "--office", "south", expect=0)
    for name, loc in locations.items():
        assert _dump(fleet_server, loc.location_id) == before[name], name


def test_a_changed_plan_holds_only_that_office(fleet_server: Any, tmp_path: Path) -> None:
    manifest, _, env = _fleet(tmp_path, fleet_server, ("west", "central"))

    def fleet(*args: str, expect: int) -> Outcome:
        outcome = cli("fleet", *args, "--manifest", str(manifest), "--no-progress", env=env)
        assert outcome.code == expect, str(outcome)
        return outcome

    fleet("plan", expect=0)
    fleet("approve", "--by", "ops@group.example", expect=0)
    # After approval the manifest gives central another calendar: its plan changed, west's did not.
    text = manifest.read_text("utf-8").replace(
        'token_env = "PIT_CENTRAL"', 'token_env = "PIT_CENTRAL"\n[office.policies]\ncalendar_name = "Chairs"'
    )
    manifest.write_text(text, encoding="utf-8")
    fleet("run", expect=3)
    by_office = {o["office"]: o for o in _report(manifest)["offices"]}
    assert by_office["west"]["status"] == "ok"
    assert by_office["central"]["status"] == "held"
    assert "plan changed since it was approved" in by_office["central"]["reason"]
    assert "policies" in by_office["central"]["reason"]


def test_a_manifest_error_is_located_and_exits_2(tmp_path: Path) -> None:
    manifest = tmp_path / "fleet.toml"
    manifest.write_text(
        '[[office]]\nname = "north"\nsource = "g-export:/nowhere"\nlocation_id = "L1"\ntoken_env = "T"\n'
        '[[office]]\nname = "south"\nlocation_id = "L2"\ntoken_env = "T2"\nsource = "g-export:."\n'
        'colour = "blue"\n',
        encoding="utf-8",
    )
    outcome = cli("fleet", "status", "--manifest", str(manifest))
    assert outcome.code == 2, str(outcome)
    assert "fleet.toml: office 'north' (#1): key 'source'" in outcome.stderr
    assert "Traceback" not in outcome.output
