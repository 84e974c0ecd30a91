"""``--ledger postgresql://...``: the migration commands keep the ledger on a real PostgreSQL server, the
work directory remembers where (never the password), and a command cannot switch stores under a
migration."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.cli._cli import SCALED, Outcome, cli

from dentrix_highlevel.cli._common import CliFailure, resolve_ledger, url_without_password
from dentrix_highlevel.cli._demo import normalised_dump
from dentrix_highlevel.migration import LEDGER_FILENAME
from dentrix_highlevel.migration._state.postgres import _split_url
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

# Without psycopg these are skipped here; CI installs it (the dev extra), and the server fixture fails there.
psycopg = pytest.importorskip("psycopg")

PASSWORD = "pw-7c1e9b"  # the test server trusts loopback, so any password connects: it must go nowhere


def _with_password(url: str) -> str:
    return url.replace("://dhl_test@", f"://dhl_test:{PASSWORD}@")


def test_a_migration_on_a_postgresql_ledger(scaled_server: Any, postgres_url: str, tmp_path: Path) -> None:
    export = tmp_path / "monday"
    write_g_export(SyntheticPractice(SynthConfig(patients=12, seed=5)), export)
    location = scaled_server.sandbox.create_location(allow_duplicates=False)
    before = normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id]
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"
    outcomes: list[Outcome] = []

    def run(*args: str, expect: int) -> Outcome:
        outcome = cli(*args, "--workdir", str(wd), env=env)
        outcomes.append(outcome)
        assert outcome.code == expect, str(outcome)
        assert "Traceback" not in outcome.output
        return outcome

    url = _with_password(postgres_url)
    run("plan", "--source", f"g-export:{export}", "--ledger", url, *SCALED, expect=0)
    saved = json.loads((wd / "migration.json").read_text("utf-8"))
    assert saved["ledger"] == postgres_url  # remembered, without the password
    # The next commands find the ledger without --ledger; one of them gives it again, as is allowed.
    run("approve", "--by", "office.manager@practice.example", expect=0)
    full = run("run", "--ledger", url, "--no-progress", expect=0)
    assert re.search(r"run run-\S+: completed", full.stdout)
    run("reconcile", expect=0)
    run("report", expect=0)
    assert re.search(r"\| run-\S+ \| run \| completed \|", (wd / "report.md").read_text("utf-8"))
    assert not (wd / LEDGER_FILENAME).exists()

    conninfo, schema = _split_url(postgres_url)
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(f"SELECT count(*) FROM {schema}.records WHERE kind = 'contact'").fetchone()  # noqa: S608
    assert row is not None
    assert row[0] == 12

    # Another place is refused: a fresh ledger would create every patient again.
    elsewhere = postgres_url.rsplit("=", 1)[0] + "=" + schema + "_x"
    refused = run("run", "--ledger", elsewhere, "--no-progress", expect=2)
    assert "keeps this migration's ledger at" in refused.output

    rolled = run("rollback", expect=0)
    assert "completed" in rolled.stdout
    assert normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id] == before

    assert all(PASSWORD not in o.output for o in outcomes)
    for file in wd.rglob("*"):
        if file.is_file():
            assert PASSWORD.encode() not in file.read_bytes(), file.name


def test_a_workdir_with_an_sqlite_ledger_keeps_it(tmp_path: Path) -> None:
    (tmp_path / LEDGER_FILENAME).write_bytes(b"")
    with pytest.raises(CliFailure, match="leave out --ledger"):
        resolve_ledger(tmp_path, None, "postgresql://u@h/db")
    with pytest.raises(CliFailure, match="postgresql://"):
        resolve_ledger(tmp_path, None, "sqlite:///x")
    assert resolve_ledger(tmp_path, None, None) is None
    assert resolve_ledger(tmp_path, "postgresql://u@h/db", None) == "postgresql://u@h/db"


def test_a_url_kept_in_a_file_has_no_password() -> None:
    assert (
        url_without_password("postgresql://u:secret@h:5433/db?schema=s")
        == "postgresql://u@h:5433/db?schema=s"
    )
    assert url_without_password("postgresql://h/db") == "postgresql://h/db"
