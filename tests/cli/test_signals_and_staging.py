"""SIGTERM stops a command like Ctrl-C (exit 4, resume hint, no WAL or partial staging left); the export is
staged once into the work directory and reused by the next commands (the completion marker's build id does
not change), removed by a completed rollback and by ``clean``; a command SIGKILLed mid-staging leaves no
reusable copy, and the next command removes its partial one and says so; nothing of the export ever lands
in ``$TMPDIR``."""

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
    """A command's own (partial or temporary) staging directories: never the kept copy."""
    return [
        p
        for place in places
        for p in place.rglob("*")
        if "staging-" in p.name or p.name.startswith("ascend-")
    ]


def _kept(wd: Path) -> list[Path]:
    staging = wd / "staging"
    return sorted(staging.glob("export-*")) if staging.is_dir() else []


def _build_id(wd: Path) -> str:
    """The id of the staging that made the kept copy (the marker's second line): a reuse keeps it."""
    (kept,) = _kept(wd)
    return (kept / "complete").read_text("utf-8").splitlines()[1]


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
    assert len(_kept(wd)) == 1  # the complete copy plan made stays for the command run again
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
        assert len(_kept(wd)) == 1
    else:
        assert per_patient == Counter()
        assert _kept(wd) == [], "a completed rollback removes the staged copy"
    assert _staging_anywhere(wd, temp) == []


def test_the_export_is_staged_once_and_clean_removes_the_copy(scaled_server: Any, tmp_path: Path) -> None:
    wd, env, _location = _prepared(scaled_server, tmp_path)
    temp = Path(env["TMPDIR"])
    (kept,) = _kept(wd)
    assert kept.stat().st_mode & 0o077 == 0
    assert all(p.stat().st_mode & 0o077 == 0 for p in kept.iterdir())
    built = _build_id(wd)  # by plan; approve read it
    for args in (("sample", "--size", "5"), ("run",), ("reconcile",)):
        done = cli(args[0], "--workdir", str(wd), *args[1:], env=env)
        assert done.code == 0, str(done)
        assert _build_id(wd) == built, f"{args[0]} staged the export again"
    assert _staging_anywhere(wd, temp) == []
    assert cli("report", "--workdir", str(wd), env=env).code == 0
    ledger_before = (wd / "ledger.sqlite3").read_bytes()

    cleaned = cli("clean", "--workdir", str(wd), env=env)
    assert cleaned.code == 0, str(cleaned)
    assert kept.name in cleaned.stdout
    assert "report.md" in cleaned.stdout
    assert "the ledger" in cleaned.stdout
    assert _kept(wd) == []
    assert not (wd / "staging").exists()
    assert not (wd / "report.md").exists()
    for name in ("ledger.sqlite3", "migration.json", "plan.json", "approval.json", "reconciliation.json"):
        assert (wd / name).exists(), name
    assert (wd / "ledger.sqlite3").read_bytes() == ledger_before

    again = cli("reconcile", "--workdir", str(wd), env=env)  # stages again, from the export
    assert again.code == 0, str(again)
    assert _build_id(wd) != built
    assert cli("clean", "--workdir", str(tmp_path / "export"), env=env).code == 2  # not a work directory


def test_a_command_killed_mid_staging_leaves_no_reusable_copy_and_the_next_removes_it(tmp_path: Path) -> None:
    # Big enough that staging lasts, so the kill lands while the partial copy is on disk (the test waits
    # for that copy to appear, and checks the kill landed before the completion marker).
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=1500, seed=41)), export)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"TMPDIR": str(temp)}
    wd = tmp_path / "wd"
    args = ("plan", "--offline", "--source", f"g-export:{export}", "--workdir", str(wd))
    process = start(args, env)
    for _ in range(60_000):
        if any((d / "staging.sqlite3").exists() for d in _staging_anywhere(wd)) or process.poll() is not None:
            break
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    finish(process, args)
    assert _kept(wd) == [], "a staging killed before its completion marker is never published"
    left = _staging_anywhere(wd)
    assert left, "the partial copy is inside the work directory"
    staging = wd / "staging"
    assert all(staging in p.parents for p in left)
    assert staging.stat().st_mode & 0o077 == 0
    assert not any(p.name == "complete" for p in left)
    assert _staging_anywhere(temp) == []

    planned = cli(*args, env=env)
    assert planned.code == 0, str(planned)
    assert "removed a staging copy of the export left by a stopped command" in planned.stderr
    assert _staging_anywhere(wd) == []
    assert len(_kept(wd)) == 1
    built = _build_id(wd)
    again = cli(*args, env=env)
    assert again.code == 0, str(again)
    assert "removed a staging copy" not in again.stderr
    assert _build_id(wd) == built, "the complete copy is reused"
    assert _staging_anywhere(temp) == []
