"""The migration commands end to end through ``python -m dentrix_highlevel`` against a real sandbox server.

One practice goes plan → refused run → approve → changed plan refused → sample → run → delta (with a
contact deleted in HighLevel behind our back: exit 1, listed) → reconcile → report → rollback, and the
location must then be exactly as before. The failure cases run side by side (start-up is their cost).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import zipfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.cli._cli import SCALED, Outcome, cli, cli_parallel, edit_patient

from dentrix_highlevel.cli._demo import normalised_dump
from dentrix_highlevel.highlevel import HighLevelClient, RequestKind
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _export(tmp_path: Path, *, patients: int, seed: int) -> Path:
    path = tmp_path / "monday"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path)
    return path


def _names(export: Path) -> set[str]:
    """Patient names of the export long enough to be searched for as words in the output."""
    with GExportSource(export) as source:
        bundles = list(source.iter_bundles())
    names = {n for b in bundles for n in (b.patient.first_name, b.patient.last_name) if n and len(n) >= 5}
    assert names
    return names


def _call(server: Any, location: Any, method: str, path: str, **kwargs: Any) -> Any:
    async def go() -> Any:
        async with HighLevelClient(
            location_id=location.location_id, token=location.token, transport=server.sandbox.transport()
        ) as hl:
            return await hl.call(method, path, **kwargs)

    return anyio.run(go)


def _our_contacts(server: Any, location_id: str) -> dict[str, str]:
    """Source patient id -> contact id, read from the sandbox (the Source System ID custom field)."""
    state = server.sandbox.location(location_id)
    field_id = next(
        f["id"] for f in state.custom_fields.values() if f["fieldKey"] == "contact.source_system_id"
    )
    out = {}
    for contact in state.contacts.values():
        for value in contact.get("customFields", []):
            if value["id"] == field_id:
                out[str(value["value"])] = contact["id"]
    return out


def _location_dump(server: Any, location_id: str) -> dict[str, Any]:
    dump: dict[str, Any] = normalised_dump(server.sandbox.dump())["locations"][location_id]
    return dump


def test_a_migration_from_plan_to_rollback(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=24, seed=21)
    location = scaled_server.sandbox.create_location(allow_duplicates=False)
    before = _location_dump(scaled_server, location.location_id)
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = str(tmp_path / "wd")
    outcomes: list[Outcome] = []

    def run(*args: str, expect: int) -> Outcome:
        outcome = cli(*args, "--workdir", wd, env=env)
        outcomes.append(outcome)
        assert outcome.code == expect, str(outcome)
        assert "Traceback" not in outcome.output
        return outcome

    planned = run("plan", "--source", f"g-export:{export}", *SCALED, expect=0)
    assert "24" in planned.stdout
    assert "plan hash" in planned.stdout
    saved = json.loads((tmp_path / "wd" / "migration.json").read_text("utf-8"))
    assert saved["destination"] == {
        "base_url": scaled_server.base_url,
        "location_id": location.location_id,
        "rate_max": 100,
        "rate_window_ms": 100,
        "daily_max": 200_000,
    }
    assert saved["source"]["location"] == str(export)
    assert (tmp_path / "wd" / "plan.md").is_file()

    run("approve", "--by", "office.manager@practice.example", expect=0)

    sampled = run("sample", "--size", "4", expect=0)
    assert "field diff: " in sampled.stdout
    assert "mismatch" not in sampled.stdout
    assert list((tmp_path / "wd").glob("sample-*.csv"))

    # A daily cap reached mid-run: stopped (4), resumable; the same command with the budget back finishes.
    stopped = run("run", "--daily-max", "80", "--no-progress", expect=4)
    assert "stopped before the end: HighLevel's daily request cap reached" in stopped.stdout
    full = run("run", "--daily-max", "200000", expect=0)
    assert re.search(r"run run-\S+: completed", full.stdout)
    assert "total" in full.stdout
    assert "MISMATCH" not in full.stdout

    # Someone deletes a migrated contact in HighLevel; the next export changes that patient.
    contacts = _our_contacts(scaled_server, location.location_id)
    victim = sorted(contacts)[0]
    _call(scaled_server, location, "DELETE", f"/contacts/{contacts[victim]}", kind=RequestKind.IDEMPOTENT)
    tuesday = tmp_path / "tuesday"
    shutil.copytree(export, tuesday)
    edit_patient(tuesday, victim, city="Leadville")
    delta = run("delta", "--source", f"g-export:{tuesday}", "--no-progress", expect=1)
    assert re.search(rf"patient:{victim} \(contact\): HighLevel refused: NotFoundError", delta.stdout)
    assert json.loads((tmp_path / "wd" / "migration.json").read_text("utf-8"))["source"]["location"] == str(
        tuesday
    )

    reconciled = run("reconcile", expect=1)
    assert f"patient:{victim}" in reconciled.stdout
    assert (tmp_path / "wd" / "reconciliation.json").is_file()

    reported = run("report", expect=0)
    report = (tmp_path / "wd" / "report.md").read_text("utf-8")
    assert "office.manager@practice.example" in report
    assert f"patient:{victim}" in report
    assert re.search(r"\| run-\S+ \| run \| completed \|", report)
    assert "1 failed record(s)" in reported.stdout

    rolled = run("rollback", expect=0)
    assert re.search(r"completed; [1-9]\d* created object\(s\) deleted, 0 existing contact", rolled.stdout)
    assert _location_dump(scaled_server, location.location_id) == before

    # Nothing printed a patient's name, and the token is nowhere: not in output, not in the work directory.
    words = set(re.findall(r"\w+", "\n".join(o.output for o in outcomes)))
    assert not words & _names(export)
    assert all(location.token not in o.output for o in outcomes)
    for file in (tmp_path / "wd").iterdir():
        assert location.token.encode() not in file.read_bytes(), file.name


def test_failures_are_one_sentence_and_an_exit_code(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=5, seed=22)
    location = scaled_server.sandbox.create_location(allow_duplicates=False)
    good = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    base = tmp_path / "wd"
    planned = cli("plan", "--source", f"g-export:{export}", "--workdir", str(base), *SCALED, env=good)
    assert planned.code == 0, str(planned)
    shutil.copytree(base, tmp_path / "unapproved")
    shutil.copytree(base, tmp_path / "report")
    approved = cli("approve", "--by", "manager", "--workdir", str(base), env=good)
    assert approved.code == 0, str(approved)
    # Every case gets its own copy: a work directory admits one command at a time (the ledger's lock).
    for name in ("token", "unreachable", "changed", "replan", "other"):
        shutil.copytree(base, tmp_path / name)
    other_practice = tmp_path / "other-export"
    shutil.copytree(export, other_practice)
    manifest = json.loads((other_practice / "manifest.json").read_text("utf-8"))
    manifest["practice"]["id1"] = "OTHER1"
    (other_practice / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    changed_plan = tmp_path / "changed" / "plan.json"
    data = json.loads(changed_plan.read_text("utf-8"))
    data["policies"]["removed_in_source"] = "delete"  # edited by hand after the approval
    changed_plan.write_text(json.dumps(data), "utf-8")

    def wd(name: str) -> tuple[str, str]:
        return ("--workdir", str(tmp_path / name))

    cases: list[tuple[tuple[str, ...], dict[str, str], int, str]] = [
        (("reconcile", *wd("token")), {**good, "HIGHLEVEL_TOKEN": "pit-wrong"}, 2, "Check --token"),
        (("run", "--no-progress", *wd("unapproved")), good, 3, "has not been approved"),
        (
            ("run", "--no-progress", *wd("changed")),
            good,
            3,
            "changed since it was approved by manager (policies)",
        ),
        (
            ("plan", "--source", f"g-export:{export}", "--removed-in-source", "delete", *wd("replan")),
            good,
            0,
            "",
        ),
        (
            ("plan", "--source", f"g-export:{other_practice}", *wd("other")),
            good,
            2,
            "holds the migration of another practice (g:CVFD1, not g:OTHER1); use a new --workdir",
        ),
        (("report", *wd("report")), good, 0, ""),
        # Connection refused: after the client's retries, "stopped, run again" (4); a traceback on request.
        (
            ("reconcile", *wd("unreachable"), "--base-url", "http://127.0.0.1:9", "--debug"),
            good,
            4,
            "--base-url",
        ),
    ]
    results = cli_parallel([(args, env) for args, env, _, _ in cases])
    for (_, _, code, message), outcome in zip(cases, results, strict=True):
        assert outcome.code == code, str(outcome)
        assert message in outcome.stderr, str(outcome)
        assert ("Traceback" in outcome.stderr) is ("--debug" in outcome.args), str(outcome)
        assert location.token not in outcome.output
    by_workdir = {o.args[o.args.index("--workdir") + 1]: o for o in results}
    assert "policies.removed_in_source: 'keep' -> 'delete'" in by_workdir[str(tmp_path / "replan")].stdout
    assert "approval: none yet" in by_workdir[str(tmp_path / "report")].stdout
    # A base URL that did not work is not remembered: the work directory still points at the sandbox.
    saved = json.loads((tmp_path / "unreachable" / "migration.json").read_text("utf-8"))
    assert saved["destination"]["base_url"] == scaled_server.base_url


def test_plan_reads_an_ascend_organisation(scaled_server: Any, tmp_path: Path) -> None:
    from dentrix_highlevel.ascend_emulator import AscendEmulator, AscendEmulatorServer

    location = scaled_server.sandbox.create_location(allow_duplicates=False)
    emulator = AscendEmulator(SyntheticPractice(SynthConfig(patients=6, seed=23)))
    with AscendEmulatorServer(emulator) as ascend:
        env = {
            "HIGHLEVEL_BASE_URL": scaled_server.base_url,
            "HIGHLEVEL_LOCATION_ID": location.location_id,
            "HIGHLEVEL_TOKEN": location.token,
            "ASCEND_CLIENT_ID": emulator.config.client_id,
            "ASCEND_CLIENT_SECRET": emulator.config.client_secret,
            "ASCEND_ORGANIZATION_ID": emulator.config.organization_id,
        }
        wd = tmp_path / "wd"
        args = ("plan", "--source", f"ascend:{ascend.base_url}", "--workdir", str(wd), "--practice-timezone")
        outcome = cli(*args, "America/Denver", *SCALED, env=env)
    assert outcome.code == 0, str(outcome)
    saved = (wd / "migration.json").read_text("utf-8")
    source = json.loads(saved)["source"]
    assert source == {
        "kind": "ascend",
        "location": ascend.base_url,
        "organization_id": emulator.config.organization_id,
        "practice_timezone": "America/Denver",
    }
    assert emulator.config.client_secret not in saved
    assert emulator.config.client_id not in saved
    assert json.loads((wd / "plan.json").read_text("utf-8"))["source"]["patients"] == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--workdir", "{tmp}/empty"), "holds no migration; run `dentrix-highlevel plan"),
        (("plan", "--source", "ftp:/x", "--workdir", "{tmp}/wd"), "use g-export:PATH or ascend:URL"),
        (("plan", "--source", "g-export:{tmp}/nope", "--workdir", "{tmp}/wd"), "does not exist"),
        (("plan", "--source", "g-export", "--workdir", "{tmp}/wd"), "is not g-export:PATH or ascend:URL"),
        (
            ("plan", "--source", "ascend:https://ascend.invalid/api", "--workdir", "{tmp}/wd"),
            "needs ASCEND_CLIENT_ID, ASCEND_CLIENT_SECRET, ASCEND_ORGANIZATION_ID, --practice-timezone",
        ),
        (("sample", "--size", "0", "--workdir", "{tmp}/wd"), "Invalid value for '--size'"),
        (("approve", "--workdir", "{tmp}/wd"), "Missing option '--by'"),
    ],
)
def test_usage_errors_exit_2_before_any_request(args: tuple[str, ...], message: str, tmp_path: Path) -> None:
    # Checked in-process (same ``main``; the subprocess tests above cover the entry point itself).
    from click.testing import CliRunner

    from dentrix_highlevel.cli import main

    env = {"HIGHLEVEL_LOCATION_ID": "loc", "HIGHLEVEL_TOKEN": "pit-x", "ASCEND_CLIENT_ID": None}
    result = CliRunner(env=env).invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "wd").exists()


def _lie_about_size(archive: Path, member: str, factor: float) -> None:
    """Patch ``member``'s uncompressed size in its local header and its central directory entry."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo(member)
    size = int(info.file_size * factor)
    assert data[info.header_offset : info.header_offset + 4] == b"PK\x03\x04"
    struct.pack_into("<I", data, info.header_offset + 22, size)
    entry = data.find(b"PK\x01\x02")
    while entry != -1:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46 : entry + 46 + name_length] == member.encode():
            struct.pack_into("<I", data, entry + 24, size)
            break
        entry = data.find(b"PK\x01\x02", entry + 4)
    else:
        raise AssertionError(f"{member} has no central directory entry")
    archive.write_bytes(bytes(data))


@pytest.mark.parametrize("factor", [0.5, 2.0], ids=["declared_smaller", "declared_larger"])
def test_a_zip_whose_declared_sizes_lie_is_refused_with_exit_2(factor: float, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dentrix_highlevel.cli import main

    archive = tmp_path / "export.zip"
    write_g_export(SyntheticPractice(SynthConfig(patients=6, seed=21)), archive)
    _lie_about_size(archive, "v_patient.csv", factor)
    # Offline: the refusal is the export's own, whatever HighLevel would say (plan reads HighLevel first).
    args = ["plan", "--offline", "--source", f"g-export:{archive}", "--workdir", str(tmp_path / "wd")]
    result = CliRunner(env={"HIGHLEVEL_BASE_URL": None}).invoke(main, args)
    assert result.exit_code == 2, result.output
    assert (
        "v_patient.csv in export.zip does not match the size or CRC its zip headers declare" in result.output
    )
    assert "internal error" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ((), "pass --token or set HIGHLEVEL_TOKEN"),
        (
            ("--token", "pit-x", "--location-id", "someOtherLocation"),
            "migrates location loc1, not someOtherLocation",
        ),
    ],
)
def test_destination_errors_exit_2_before_any_request(
    flags: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from dentrix_highlevel.cli import main
    from dentrix_highlevel.cli._common import Destination, SourceSpec, WorkdirConfig

    destination = Destination(base_url="http://127.0.0.1:9", location_id="loc1")
    spec = SourceSpec(kind="g-export", location=str(tmp_path))
    WorkdirConfig(migration_id="m", source=spec, destination=destination).save(tmp_path / "wd")
    env = {"HIGHLEVEL_LOCATION_ID": None, "HIGHLEVEL_TOKEN": None, "HIGHLEVEL_BASE_URL": None}
    for command in ("approve", "sample", "run", "reconcile", "rollback"):
        args = [command, "--workdir", str(tmp_path / "wd"), *flags]
        result = CliRunner(env=env).invoke(main, [*args, "--by", "x"] if command == "approve" else args)
        assert result.exit_code == 2, result.output
        assert message in result.output


@pytest.mark.parametrize("spec", ["g-export", "ascend:ftp://x"])
def test_a_source_without_a_place_is_a_usage_error(spec: str, tmp_path: Path) -> None:
    from dentrix_highlevel.cli._common import EXIT_USAGE, CliFailure, SourceSpec

    with pytest.raises(CliFailure) as caught:
        SourceSpec.parse(spec)
    assert caught.value.exit_code == EXIT_USAGE


def test_plan_takes_the_calendar_layout_and_treatment_tasks(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=6, seed=21)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    flags = ("--calendars", "provider", "--treatment-tasks", "--task-due-days", "3")
    wd = str(tmp_path / "wd")
    planned = cli("plan", "--source", f"g-export:{export}", "--workdir", wd, *SCALED, *flags, env=env)
    assert planned.code == 0, str(planned)
    policies = json.loads((tmp_path / "wd" / "plan.json").read_text("utf-8"))["policies"]
    assert (policies["calendars"], policies["treatment_tasks"], policies["task_due_days"]) == (
        "provider",
        True,
        3,
    )
    bad = cli("plan", "--source", f"g-export:{export}", "--workdir", wd, "--calendars", "room", env=env)
    assert bad.code == 2
    assert "--calendars" in bad.stderr


def test_plan_takes_upload_documents(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=6, seed=21)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    planned = cli(
        "plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, "--upload-documents", env=env
    )
    assert planned.code == 0, str(planned)
    plan = json.loads((wd / "plan.json").read_text("utf-8"))
    assert plan["policies"]["upload_documents"] is True
    assert plan["documents"]["upload"] == plan["estimate"]["requests"]["documents"] == 2
    assert "## Documents" in (wd / "plan.md").read_text("utf-8")
