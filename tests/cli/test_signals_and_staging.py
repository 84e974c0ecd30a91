"""SIGTERM stops a command like Ctrl-C (exit 4, resume hint, no WAL or staging left); a SIGKILLed run's
staging copy is inside the work directory, and the next command there removes it and says so; nothing of
the export ever lands in ``$TMPDIR``."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from tests.cli._cli import SCALED, cli, finish, start

from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _prepared(server: Any, tmp_path: Path, patients: int = 40) -> tuple[Path, dict[str, str], Any]:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=41)), export)
    location = server.sandbox.create_location()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        "HIGHLEVEL_BASE_URL": server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
        "TMPDIR": str(temp),  # must stay free of any staging copy
    }
    wd = tmp_path / "wd"
    assert cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, env=env).code == 0
    assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0
    return wd, env, location


def _wait_for(process: subprocess.Popen[str], log: list[Any], target: int) -> None:
    for _ in range(60_000):
        if len(log) >= target or process.poll() is not None:
            return
        time.sleep(0.002)


def _staging_anywhere(*places: Path) -> list[Path]:
    return [
        p
        for place in places
        for p in place.rglob("*")
        if "staging-" in p.name or p.name.startswith("ascend-")
    ]


def _contacts_per_patient(server: Any, location_id: str) -> Counter[str]:
    state = server.sandbox.location(location_id)
    field = next(
        (f["id"] for f in state.custom_fields.values() if f["fieldKey"] == "contact.source_system_id"), None
    )
    if field is None:  # rolled back: the field went with the contacts
        return Counter()
    return Counter(
        str(v["value"])
        for c in state.contacts.values()
        for v in c.get("customFields", [])
        if v["id"] == field
    )


@pytest.mark.parametrize("command", ["run", "rollback"])
def test_sigterm_stops_like_ctrl_c_and_the_same_command_resumes(
    command: str, scaled_server: Any, tmp_path: Path
) -> None:
    wd, env, location = _prepared(scaled_server, tmp_path)
    temp = Path(env["TMPDIR"])
    if command == "rollback":
        assert cli("run", "--workdir", str(wd), "--no-progress", env=env).code == 0
    args = (command, "--workdir", str(wd), "--no-progress", *(["--yes"] if command == "rollback" else []))
    log = scaled_server.sandbox.request_log
    process = start(args, env)
    _wait_for(process, log, len(log) + 40)
    assert process.poll() is None, "the command ended before the signal"
    process.send_signal(signal.SIGTERM)
    outcome = finish(process, args)
    assert outcome.code == 4, str(outcome)
    assert "run the same command again to resume" in outcome.output
    assert "Traceback" not in outcome.output
    assert not list(wd.glob("*-wal")), sorted(p.name for p in wd.iterdir())
    assert not list(wd.glob("*-shm")), sorted(p.name for p in wd.iterdir())
    assert _staging_anywhere(wd, temp) == []
    # The interrupted attempt is in the history, as stopped.
    reported = cli("report", "--workdir", str(wd), env=env)
    assert reported.code == 0, str(reported)
    assert f"| {command} | stopped |" in (wd / "report.md").read_text("utf-8")

    resumed = cli(*args, env=env)
    assert resumed.code == 0, str(resumed)
    per_patient = _contacts_per_patient(scaled_server, location.location_id)
    if command == "run":
        assert len(per_patient) == 40
        assert max(per_patient.values()) == 1
    else:
        assert per_patient == Counter()
    assert _staging_anywhere(wd, temp) == []


def test_a_killed_runs_staging_is_in_the_workdir_and_the_next_command_removes_it(
    scaled_server: Any, tmp_path: Path
) -> None:
    wd, env, _location = _prepared(scaled_server, tmp_path)
    temp = Path(env["TMPDIR"])
    args = ("run", "--workdir", str(wd), "--no-progress")
    log = scaled_server.sandbox.request_log
    process = start(args, env)
    _wait_for(process, log, len(log) + 40)
    process.send_signal(signal.SIGKILL)
    finish(process, args)
    left = _staging_anywhere(wd)
    assert left, "a killed run leaves its staging copy (inside the work directory)"
    staging = wd / "staging"
    assert all(staging in p.parents for p in left)
    assert staging.stat().st_mode & 0o077 == 0
    assert _staging_anywhere(temp) == []

    reported = cli("report", "--workdir", str(wd), env=env)
    assert reported.code == 0, str(reported)
    assert "removed a staging copy of the export left by a stopped command" in reported.stderr
    assert _staging_anywhere(wd) == []
    again = cli("report", "--workdir", str(wd), env=env)
    assert "removed a staging copy" not in again.stderr
