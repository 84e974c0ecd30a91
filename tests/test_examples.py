"""The ``examples/`` run: every script with ``--sandbox`` in a subprocess (notebooks: test_notebooks.py).

The four scripts start at once (they mostly wait on the sandbox's scaled rate window, so running them side by
side keeps this file fast) and each test then checks one script's exit code, its key lines, and that no value
of the synthetic practice (names, e-mails, phones, birthdates) and no sandbox token reached the output.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PATIENTS = 15
SEED = 5
TIMEOUT_S = 240
SCRIPTS: dict[str, list[str]] = {
    "g_export_migration.py": [],
    "ascend_migration.py": [],
    "custom_mapping.py": [],
    "embed_with_progress.py": ["--stop-after", "6"],
}
_HL_ENV = ("HIGHLEVEL_BASE_URL", "HIGHLEVEL_LOCATION_ID", "HIGHLEVEL_TOKEN")
_ASCEND_ENV = (
    "ASCEND_BASE_URL",
    "ASCEND_CLIENT_ID",
    "ASCEND_CLIENT_SECRET",
    "ASCEND_ORGANIZATION_ID",
    "ASCEND_PRACTICE_TIMEZONE",
)


def _clean_env() -> dict[str, str]:
    """The environment without any real destination or source: a script can only reach the sandbox."""
    return {k: v for k, v in os.environ.items() if k not in (*_HL_ENV, *_ASCEND_ENV)}


def patient_values(patients: int, seed: int) -> set[str]:
    """Every name, e-mail, phone (as exported and as E.164 digits) and birthdate of the synthetic practice."""
    values: set[str] = set()
    for bundle in SyntheticPractice(SynthConfig(patients=patients, seed=seed)).bundles():
        p = bundle.patient
        for text in (p.first_name, p.last_name, p.preferred_name, p.email):
            if text and len(text.strip()) >= 2:
                values.add(text.strip())
        for phone in (p.home_phone, p.mobile_phone, p.work_phone, p.other_phone):
            digits = re.sub(r"\D", "", phone or "")
            if len(digits) >= 7:
                values.update({phone or "", digits})
        if p.birth_date is not None:
            values.add(p.birth_date.isoformat())
    return values


def leaked(output: str, values: set[str]) -> list[str]:
    """Which values appear in ``output`` as whole words (so "Hall" does not match "Hallway")."""
    return sorted(v for v in values if re.search(rf"(?<!\w){re.escape(v)}(?!\w)", output))


#: Any Private Integration Token a sandbox minted: every ``Sandbox`` mints fresh ones, so match the shape.
SANDBOX_TOKEN = re.compile(r"pit-[0-9a-f]{8}-[0-9a-f]{4}-")


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, subprocess.CompletedProcess[str]]]:
    started = {
        name: subprocess.Popen(
            [
                sys.executable,
                str(EXAMPLES / name),
                "--sandbox",
                "--patients",
                str(PATIENTS),
                "--seed",
                str(SEED),
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_env(),
        )
        for name, extra in SCRIPTS.items()
    }
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    try:
        for name, process in started.items():
            out, err = process.communicate(timeout=TIMEOUT_S)
            done[name] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        yield done
    finally:
        for process in started.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def secrets() -> set[str]:
    return patient_values(PATIENTS, SEED)


def _check(run: subprocess.CompletedProcess[str], secrets: set[str], *lines: str) -> str:
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    for line in lines:
        assert re.search(line, run.stdout, re.M), f"no line matching {line!r} in:\n{run.stdout}"
    assert leaked(output, secrets) == []
    assert not SANDBOX_TOKEN.search(output)
    return run.stdout


def test_leak_check_finds_a_value() -> None:
    # The checks below are only worth something if the detector fires on a real value.
    values = patient_values(PATIENTS, SEED)
    name = next(iter(sorted(v for v in values if v.isalpha())))
    assert leaked(f"patient {name} migrated", values) == [name]
    assert leaked("nothing here", values) == []
    from dentrix_highlevel.sandbox import Sandbox

    assert SANDBOX_TOKEN.search(f"token {Sandbox().create_location().token} leaked")


def test_g_export_migration(runs: dict[str, subprocess.CompletedProcess[str]], secrets: set[str]) -> None:
    out = _check(
        runs["g_export_migration.py"],
        secrets,
        r"rate window scaled down to 100 ms",
        rf"synthetic G export: {PATIENTS} patients",
        r"approved plan [0-9a-f]{12}",
        r"sample sample-\S+: completed",
        r"run run-\S+: completed",
        r"reconciled: True; contacts re-read: \d+; mismatches: 0",
        r"rollback rollback-\S+: completed",
    )
    assert re.search(rf"contact\s+{PATIENTS}\s", out), out  # the reconciliation table counts every patient


def test_ascend_migration(runs: dict[str, subprocess.CompletedProcess[str]], secrets: set[str]) -> None:
    out = _check(
        runs["ascend_migration.py"],
        secrets,
        rf"Ascend emulator serving a synthetic practice of {PATIENTS} patients",
        rf"plan [0-9a-f]{{12}}: {PATIENTS} patients",
        r"v1/patients: \d+ records, 0 issues",
        r"run run-\S+: completed",
        r"reconciled: True; contacts re-read: \d+; mismatches: 0",
        r"rollback rollback-\S+: completed",
    )
    assert re.search(rf"contact\s+{PATIENTS}\s", out), out


def test_custom_mapping(runs: dict[str, subprocess.CompletedProcess[str]], secrets: set[str]) -> None:
    out = _check(
        runs["custom_mapping.py"],
        secrets,
        r"maps\.contact: rule contact\.preferred_hygienist added",
        r"maps\.contact: rule contact\.emergency_contact_phone added",
        r"maps\.contact: rule phone changed",
        r"map file: \S+smile-contact-map\.json",
        r"sample sample-\S+: completed",
    )
    every = ast.literal_eval(re.search(r"field verdicts: (\{.*\})", out)[1])  # type: ignore[index]
    new = ast.literal_eval(re.search(r"new custom fields: (\{.*\})", out)[1])  # type: ignore[index]
    assert every.get("mismatch", 0) == 0, every
    assert every.get("missing", 0) == 0, every
    assert new.get("match", 0) > 0, new  # the two practice-specific columns landed and read back equal


def test_embed_with_progress(runs: dict[str, subprocess.CompletedProcess[str]], secrets: set[str]) -> None:
    out = _check(
        runs["embed_with_progress.py"],
        secrets,
        r"Stop pressed at \d+/15 patients",
        r"stopped by the user after",
        r"^resuming$",
        r"\d+/15 patients, [\d.]+/s, ETA \d+s",
        r"reconciled: True",
    )
    run_ids = set(re.findall(r"\b(run-\d{8}T\d{6}Z-[0-9a-f]+)\b", out))
    assert len(run_ids) == 1, run_ids  # the resumed run is the same run, not a new one
    ledger = re.search(r"runs in the ledger: (.*)", out)
    assert ledger is not None
    assert ledger[1] == f"{run_ids.pop()}=completed"


def test_scripts_without_a_destination_say_what_to_set(tmp_path: Path) -> None:
    """Without --sandbox and without the environment, each script refuses and names what to set."""
    export = tmp_path / "export"
    export.mkdir()
    started = {}
    for name in SCRIPTS:
        where = ["--workdir", str(tmp_path / name)] + (
            [] if name == "ascend_migration.py" else ["--export", str(export)]
        )
        started[name] = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *where],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_clean_env(),
        )
    errors = {}
    for name, process in started.items():
        out, errors[name] = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 1, (name, out + errors[name])
    for name, err in errors.items():
        assert "HIGHLEVEL_LOCATION_ID" in err, (name, err)
        assert "HIGHLEVEL_TOKEN" in err, (name, err)
        assert "Traceback" not in err, (name, err)
    assert "ASCEND_CLIENT_SECRET" in errors["ascend_migration.py"]
