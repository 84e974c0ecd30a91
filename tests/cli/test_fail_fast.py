"""A revoked token or an unreachable HighLevel stops a run at once with the documented exit code (2 for
credentials, 4 for unreachable) and the resume hint; no record is marked failed for the connection's
sake, and the run resumes to completion once the connection is back."""

from __future__ import annotations

import socket
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.cli._cli import SCALED, cli, finish, start

from dentrix_highlevel.migration import SqliteLedger
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer
from dentrix_highlevel.sandbox._state import TokenInfo
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _export(tmp_path: Path, patients: int) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=31)), path)
    return path


def _failed(workdir: Path) -> list[Any]:
    with SqliteLedger.open_existing(workdir) as ledger:
        return [r for r in ledger.audit_rows() if r.action.value == "failed"]


def _wait_for(process: subprocess.Popen[str], log: list[Any], target: int) -> None:
    """Until the sandbox has seen ``target`` requests (or the child ended early)."""
    for _ in range(60_000):
        if len(log) >= target or process.poll() is not None:
            return
        time.sleep(0.002)


def _contacts_per_patient(sandbox: Sandbox, location_id: str) -> Counter[str]:
    state = sandbox.location(location_id)
    field = next(f["id"] for f in state.custom_fields.values() if f["fieldKey"] == "contact.source_system_id")
    return Counter(
        str(v["value"])
        for c in state.contacts.values()
        for v in c.get("customFields", [])
        if v["id"] == field
    )


def test_a_token_revoked_mid_run_stops_with_exit_2_and_resumes(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, 40)
    sandbox = scaled_server.sandbox
    location = sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    assert cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, env=env).code == 0
    assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0

    args = ("run", "--workdir", str(wd), "--no-progress")
    log = sandbox.request_log
    process = start(args, env)
    _wait_for(process, log, len(log) + 60)
    sandbox.expire_token(location.token)  # revoked by the practice's admin mid-run
    outcome = finish(process, args)
    assert outcome.code == 2, str(outcome)
    assert "Traceback" not in outcome.output
    assert "refused the token" in outcome.output or "token" in outcome.stderr
    assert "run the same command again to resume" in outcome.stderr
    assert _failed(wd) == []  # the token's fault, not any record's

    # A new token for the same location: the same command finishes, no patient twice.
    info = sandbox.state.tokens[location.token]
    sandbox.state.tokens["pit-replacement-token"] = TokenInfo(
        kind="pit", location_id=info.location_id, company_id=info.company_id, scopes=info.scopes
    )
    resumed = cli(*args, env={**env, "HIGHLEVEL_TOKEN": "pit-replacement-token"})
    assert resumed.code == 0, str(resumed)
    per_patient = _contacts_per_patient(sandbox, location.location_id)
    assert len(per_patient) == 40
    assert max(per_patient.values()) == 1


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_an_unreachable_highlevel_stops_with_exit_4_before_grinding_through(tmp_path: Path) -> None:
    export = _export(tmp_path, 60)
    wd = tmp_path / "wd"
    with SandboxServer(Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100))) as server:
        assert server.location is not None
        location = server.location
        env = {
            "HIGHLEVEL_BASE_URL": server.base_url,
            "HIGHLEVEL_LOCATION_ID": location.location_id,
            "HIGHLEVEL_TOKEN": location.token,
        }
        assert cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, env=env).code == 0
        assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0
        # HighLevel goes away mid-run: the server stops and its port closes.
        args = ("run", "--workdir", str(wd), "--no-progress")
        log = server.sandbox.request_log
        process = start(args, env)
        _wait_for(process, log, len(log) + 60)
    outcome = finish(process, args)
    assert outcome.code == 4, str(outcome)
    assert "HighLevel unreachable" in outcome.output
    assert "run the same command again to resume" in outcome.output
    assert _failed(wd) == []
    with SqliteLedger.open_existing(wd) as ledger:
        contacts = [r for r in ledger.records("contact") if r.destination_id is not None]
    # Stopped at once: most of the practice was never attempted (they are left for the resume).
    assert len(contacts) < 60

    # A host that was never there: the same, before any record is touched.
    dead = cli(*args, "--base-url", f"http://127.0.0.1:{_closed_port()}", env=env)
    assert dead.code == 4, str(dead)
    assert "Traceback" not in dead.output
    assert _failed(wd) == []
