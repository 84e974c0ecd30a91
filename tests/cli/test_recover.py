"""A lost or copied ledger through the command line (#16 item 1): a deleted ``ledger.sqlite3`` is refused
(exit 3, naming ``recover``) by ``run`` and ``rollback``; ``recover`` rebuilds it from HighLevel, after which
``approve`` + ``run`` make no duplicate and ``rollback`` removes every patient object; a ``cp -a`` copy of
a finished migration's work directory run beside the original makes no duplicate either."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from tests.cli._cli import SCALED, Outcome, cli

from dentrix_highlevel.cli._demo import normalised_dump
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _location_dump(server: Any, location_id: str) -> dict[str, Any]:
    dump: dict[str, Any] = normalised_dump(server.sandbox.dump())["locations"][location_id]
    return dump


def _per_source(server: Any, location_id: str) -> dict[str, Counter[Any]]:
    """Contacts per Source System ID, notes per (contact, body), appointments per (contact, start, title):
    a duplicate is any count above 1."""
    state = server.sandbox.location(location_id)
    field = next(
        (f["id"] for f in state.custom_fields.values() if f["fieldKey"] == "contact.source_system_id"), None
    )
    contacts: Counter[Any] = Counter(
        str(v["value"])
        for c in state.contacts.values()
        for v in c.get("customFields", [])
        if v["id"] == field
    )
    notes: Counter[Any] = Counter((n.get("contactId"), n.get("body")) for n in state.notes.values())
    events: Counter[Any] = Counter(
        (e.get("contactId"), e.get("startTime"), e.get("title")) for e in state.events.values()
    )
    return {"contacts": contacts, "notes": notes, "appointments": events}


def _assert_no_duplicates(server: Any, location_id: str, migrated: dict[str, Counter[Any]]) -> None:
    now = _per_source(server, location_id)
    for kind, counts in now.items():
        assert counts == migrated[kind], f"{kind}: {sum(counts.values())} vs {sum(migrated[kind].values())}"
        assert not counts or max(counts.values()) == 1, f"duplicate {kind}"


def test_a_deleted_ledger_is_refused_recovered_and_rolled_back(scaled_server: Any, tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=12, seed=71)), export)
    # Duplicates allowed, as in many real locations: a lost ledger would create every patient again.
    location = scaled_server.sandbox.create_location(allow_duplicates=True)
    before = _location_dump(scaled_server, location.location_id)
    env = {
        "HIGHLEVEL_BASE_URL": scaled_server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }
    wd = tmp_path / "wd"

    def run(*args: str, expect: int, workdir: Path = wd) -> Outcome:
        outcome = cli(*args, "--workdir", str(workdir), env=env)
        assert outcome.code == expect, str(outcome)
        assert "Traceback" not in outcome.output
        return outcome

    run("plan", "--source", f"g-export:{export}", *SCALED, expect=0)
    run("approve", "--by", "ops@practice.example", expect=0)
    run("run", "--no-progress", expect=0)
    scaled_server.sandbox.settle_search_index()
    migrated = _per_source(scaled_server, location.location_id)
    assert len(migrated["contacts"]) == 12
    assert sum(migrated["notes"].values()) > 0
    assert sum(migrated["appointments"].values()) > 0
    after_run = _location_dump(scaled_server, location.location_id)

    for file in wd.glob("ledger.sqlite3*"):
        file.unlink()
    # The plan and its approval went with the ledger: approving again is what the operator does next.
    run("approve", "--by", "ops@practice.example", expect=0)
    refused = run("run", "--no-progress", expect=3)
    assert f"dentrix-highlevel recover --workdir {wd}" in refused.output
    rolled_empty = run("rollback", "--yes", expect=3)
    assert "recover" in rolled_empty.output
    assert "completed" not in rolled_empty.output
    assert _location_dump(scaled_server, location.location_id) == after_run, "nothing written or deleted"

    recovered = run("recover", expect=0)
    assert "recovered" in recovered.stdout
    run("approve", "--by", "ops@practice.example", expect=0)
    run("run", "--no-progress", expect=0)
    _assert_no_duplicates(scaled_server, location.location_id, migrated)

    # A `cp -a` of the (finished) work directory, run beside the original: nothing is created twice.
    copy = tmp_path / "wd-copy"
    subprocess.run(["cp", "-a", str(wd), str(copy)], check=True)
    scaled_server.sandbox.settle_search_index()
    run("run", "--no-progress", expect=0, workdir=copy)
    run("run", "--no-progress", expect=0)
    _assert_no_duplicates(scaled_server, location.location_id, migrated)

    scaled_server.sandbox.settle_search_index()
    rolled = run("rollback", "--yes", expect=0)
    assert "completed" in rolled.stdout
    after = _location_dump(scaled_server, location.location_id)
    # The location is as it was: every patient object is gone, and so are the setup objects (tags, custom
    # fields, calendars) the first run created, known again from the location's setup record.
    assert after == before
