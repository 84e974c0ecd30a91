"""Running ``python -m dentrix_highlevel`` as a subprocess, and small export helpers for the CLI tests."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

# The scaled budget of the ``scaled_server`` fixture, given to every migration command.
SCALED = ("--rate-window-ms", "100", "--rate-max", "100")
_OURS = ("HIGHLEVEL_", "ASCEND_", "DENTRIX_")


@attrs.frozen
class Outcome:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:  # what a failed assertion shows
        return f"$ dentrix-highlevel {' '.join(self.args)} -> {self.code}\n{self.stdout}\n{self.stderr}"


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any of our variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(extra or {})
    return env


def start(args: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "dentrix_highlevel", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=environment(env),
    )


def finish(process: subprocess.Popen[str], args: Sequence[str], *, timeout_s: float = 120.0) -> Outcome:
    stdout, stderr = process.communicate(timeout=timeout_s)
    return Outcome(tuple(args), process.returncode, stdout, stderr)


def cli(*args: str, env: Mapping[str, str] | None = None) -> Outcome:
    return finish(start(args, env), args)


def cli_parallel(calls: Sequence[tuple[Sequence[str], Mapping[str, str] | None]]) -> list[Outcome]:
    """Several independent commands at once (the failure cases): the interpreter start-up is the cost."""
    running = [(start(args, env), args) for args, env in calls]
    return [finish(process, args) for process, args in running]


def edit_patient(export: Path, patient_id: str, **columns: str) -> None:
    """Change columns of one patient's row in ``v_patient.csv`` of a G export folder."""
    file = export / "v_patient.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    hit = [row for row in rows if row["patient_id"].strip() == patient_id]
    assert hit, f"patient {patient_id} is not in the export"
    hit[0].update(columns)
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
