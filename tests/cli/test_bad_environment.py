"""Every bad environment is a located error and exit 2, never an internal error (exit 5): a manifest
encoding that is no text encoding, not a string or unknown (named with the manifest key); a read-only work
directory (``report`` says read-only, not corrupt); a full temp directory."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.cli._cli import SCALED, Outcome, cli, environment

from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=8, seed=51)), path)
    return path


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _plan(export: Path, workdir: Path) -> Outcome:
    # Nothing listens there: the export is read (and refused) before any request.
    env = {
        "HIGHLEVEL_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
        "HIGHLEVEL_LOCATION_ID": "loc1",
        "HIGHLEVEL_TOKEN": "pit-test",
    }
    return cli("plan", "--source", f"g-export:{export}", "--workdir", str(workdir), env=env)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("rot13", "is not a text encoding"),
        ("hex", "is not a text encoding"),
        ("base64", "is not a text encoding"),
        ("zlib_codec", "is not a text encoding"),
        (42, "must be a name"),
        ("klingon-8", "unknown encoding"),
    ],
)
def test_a_bad_manifest_encoding_is_named_with_its_key(value: Any, said: str, tmp_path: Path) -> None:
    export = _export(tmp_path)
    manifest_path = export / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest["encoding"] = value
    manifest.pop("files", None)  # the top-level key decides for every file
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    outcome = _plan(export, tmp_path / "wd")
    assert outcome.code == 2, str(outcome)
    assert "Traceback" not in outcome.output
    assert 'manifest.json key "encoding"' in outcome.stderr
    assert said in outcome.stderr


def test_a_bad_per_file_encoding_names_the_file_key(tmp_path: Path) -> None:
    export = _export(tmp_path)
    manifest_path = export / "manifest.json"
    manifest = json.loads(manifest_path.read_text("utf-8"))
    manifest.setdefault("files", {}).setdefault("v_patient.csv", {})["encoding"] = "rot13"
    manifest_path.write_text(json.dumps(manifest), "utf-8")
    outcome = _plan(export, tmp_path / "wd")
    assert outcome.code == 2, str(outcome)
    assert 'manifest.json key "files.v_patient.csv.encoding"' in outcome.stderr


# --- read-only and full places: a read-only bind mount / a tiny tmpfs in a private mount namespace (as
# root, where permissions do not stop writes), else permissions.

_UNSHARE = shutil.which("unshare")


def _namespaces() -> bool:
    if os.geteuid() != 0 or _UNSHARE is None:
        return False
    probe = subprocess.run([_UNSHARE, "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


def _confined(
    args: tuple[str, ...],
    env: dict[str, str],
    *,
    read_only: Path | None = None,
    full: Path | None = None,
    module: bool = True,
) -> Outcome:
    command = [sys.executable, *(["-m", "dentrix_highlevel"] if module else []), *args]
    if not _namespaces():
        if read_only is None:
            pytest.skip("a full file system needs a mount namespace (root)")
        mode = read_only.stat().st_mode
        read_only.chmod(0o500)
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=environment(env), check=False)
        finally:
            read_only.chmod(mode)
        return Outcome(args, done.returncode, done.stdout, done.stderr)
    mounts = []
    if read_only is not None:
        mounts.append(f"mount -o bind,ro '{read_only}' '{read_only}'")
    if full is not None:
        mounts += [
            f"mount -t tmpfs -o size=16k tmpfs '{full}'",
            f"(head -c 1M /dev/zero > '{full}/fill' 2>/dev/null || true)",
        ]
    script = " && ".join([*mounts, 'exec "$@"'])
    done = subprocess.run(
        [_UNSHARE, "-m", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        env=environment(env),
        check=False,
    )
    return Outcome(args, done.returncode, done.stdout, done.stderr)


def test_a_read_only_work_directory_is_named_as_such(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path)
    location = scaled_server.sandbox.create_location()
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    assert cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, env=env).code == 0
    assert cli("approve", "--by", "ops@practice.example", "--workdir", str(wd), env=env).code == 0
    for command in (("run", "--no-progress"), ("report",)):
        outcome = _confined((*command, "--workdir", str(wd)), env, read_only=wd)
        assert outcome.code == 2, str(outcome)
        assert "Traceback" not in outcome.output
        assert "read-only" in outcome.stderr, str(outcome)
        assert "corrupt" not in outcome.stderr


def test_a_full_temp_directory_is_named_and_the_cli_does_not_need_it(tmp_path: Path) -> None:
    export = _export(tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    # The library without a work directory stages in the temp directory: a full one is named.
    snippet = (
        "from dentrix_highlevel.sources import GExportSource\n"
        "from dentrix_highlevel._errors import ConfigurationError\n"
        "try:\n"
        f"    GExportSource({str(export)!r}).stage()\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    outcome = _confined(("-c", snippet), {"TMPDIR": str(temp)}, full=temp, module=False)
    assert "the temp directory" in outcome.stdout, str(outcome)
    assert "is full or not writable" in outcome.stdout


def test_staging_beside_a_full_temp_directory_still_plans(tmp_path: Path) -> None:
    # The command line stages inside the work directory: a full TMPDIR is no obstacle.
    export = _export(tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        "HIGHLEVEL_BASE_URL": f"http://127.0.0.1:{_closed_port()}",
        "HIGHLEVEL_LOCATION_ID": "loc1",
        "HIGHLEVEL_TOKEN": "pit-test",
        "TMPDIR": str(temp),
    }
    args = ("plan", "--source", f"g-export:{export}", "--workdir", str(tmp_path / "wd"))
    outcome = _confined(args, env, full=temp)
    # Staged fine; stopped at the (closed) HighLevel port: exit 4, not a temp-directory error.
    assert outcome.code == 4, str(outcome)
    assert "temp directory" not in outcome.stderr
