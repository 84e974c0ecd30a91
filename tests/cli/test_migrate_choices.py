"""Every practice choice the plan hashes, from the ``plan`` command's flags to what ``run`` writes.

The map options (past appointments, CDT history, clinical notes, long-text limit, inactivity, patient
policies) and the policies ``family_associations`` / ``journal_notes`` / ``overflow_notes`` are chosen on
``plan``, stored in ``plan.json`` and used by every later command; a plan made without them hashes as
before, and a hand-edited option is refused by name.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import anyio
from tests.cli._cli import SCALED, cli, cli_parallel

from dentrix_highlevel.mapping import DefaultMapOptions
from dentrix_highlevel.migration import build_plan, options_to_dict
from dentrix_highlevel.records import AppointmentStatusMeaning, PatientBundle, PatientStatus
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export


def _export(tmp_path: Path, *, patients: int, seed: int) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path)
    return path


def _bundles(export: Path) -> list[PatientBundle]:
    with GExportSource(export) as source:
        return list(source.iter_bundles())


def _env(server: Any) -> tuple[Any, dict[str, str]]:
    location = server.sandbox.create_location()
    return location, {
        "HIGHLEVEL_BASE_URL": server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }


def _plan_json(workdir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((workdir / "plan.json").read_text("utf-8"))
    return data


def _bookable(bundle: PatientBundle) -> int:
    """Appointments that become events when past ones do too (deleted and broken ones never do)."""
    return sum(
        1
        for a in bundle.appointments
        if not a.deleted
        and not a.broken
        and a.start is not None
        and a.status_meaning is not AppointmentStatusMeaning.BROKEN
    )


def test_the_chosen_options_and_policies_reach_the_run(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=8, seed=21)
    bundles = _bundles(export)
    kept = [b for b in bundles if b.patient.status is not PatientStatus.INACTIVE]
    assert 0 < len(kept) < len(bundles)  # the practice has inactive patients for --inactive skip
    location, env = _env(scaled_server)
    wd = tmp_path / "wd"
    flags = (
        *("--past-appointments", "events", "--clinical-notes", "notes", "--family-associations"),
        *("--inactive", "skip", "--no-overflow-notes", "--no-journal-notes"),
        *("--cdt-history", "per_code", "--tracked-code", "d1110", "--tracked-code", "D0120"),
        *("--tracked-code", "D1110", "--long-text-limit-chars", "500", "--inactive-after-months", "12"),
    )
    planned = cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, *flags, env=env)
    assert planned.code == 0, str(planned)
    plan = _plan_json(wd)
    assert plan["options"] == {
        "past_appointments": "events",
        "cdt_history": "per_code",
        "tracked_codes": ["D1110", "D0120"],
        "clinical_notes": "notes",
        "long_text_limit_chars": 500,
        "inactive_after_months": 12,
        "non_patient": "contact_no_opportunity",
        "archived": "contact_dnd",
        "inactive": "skip",
    }
    policies = plan["policies"]
    assert (policies["family_associations"], policies["journal_notes"], policies["overflow_notes"]) == (
        True,
        False,
        False,
    )
    approved = cli("approve", "--by", "manager", "--workdir", str(wd), env=env)
    assert approved.code == 0, str(approved)
    ran = cli("run", "--no-progress", "--workdir", str(wd), env=env)
    assert ran.code == 0, str(ran)  # not refused: the run rebuilt exactly the approved options

    state = scaled_server.sandbox.location(location.location_id)
    assert len(state.contacts) == len(kept)  # the inactive patients were skipped
    # Past appointments became events too: every bookable appointment of a migrated patient, past or not.
    as_of = dt.datetime.fromisoformat(plan["as_of"])
    past = sum(1 for b in kept for a in b.appointments if a.start is not None and a.start < as_of)
    assert past > 0
    assert len(state.events) == sum(_bookable(b) for b in kept)
    # Clinical notes became Notes, and nothing else did (no journal, no overflow Notes).
    texts = [n.text.strip() for b in kept for n in b.clinical_notes if n.text and n.text.strip()]
    bodies = [str(note.get("body", "")) for note in state.notes.values()]
    assert len(bodies) == len(texts) > 0
    assert all(any(text in body for body in bodies) for text in texts)
    # A family relation per migrated member whose guarantor is migrated as well.
    ids = {b.patient.patient_id for b in kept}
    members = sum(1 for b in kept if not b.patient.is_own_guarantor and b.patient.guarantor_id in ids)
    assert members > 0
    assert len(state.relations) == members
    # CDT history per tracked code: a date field for each chosen code, none for a default-only code.
    names = {f["name"] for f in state.custom_fields.values()}
    assert {"Last D1110 Date", "Last D0120 Date"} <= names
    assert "Last D0150 Date" not in names
    assert location.token not in planned.output + approved.output + ran.output


def test_a_plan_without_the_new_flags_hashes_as_before(scaled_server: Any, tmp_path: Path) -> None:
    export = _export(tmp_path, patients=5, seed=22)
    _, env = _env(scaled_server)
    wd = tmp_path / "wd"
    planned = cli("plan", "--source", f"g-export:{export}", "--workdir", str(wd), *SCALED, env=env)
    assert planned.code == 0, str(planned)
    plan = _plan_json(wd)

    async def library_plan() -> str:
        async with GExportSource(export) as source:
            built = await build_plan(source, options=DefaultMapOptions())
        return built.content_hash

    assert plan["options"] == options_to_dict(DefaultMapOptions())
    assert plan["content_hash"] == anyio.run(library_plan)

    # Hand-edited plan files, each in its own copy of the work directory.
    edits: dict[str, Any] = {
        "notes": ("clinical_notes", "sometimes"),
        "limit": ("long_text_limit_chars", 50),
        "codes": ("tracked_codes", "D0120"),
        "unknown": ("recall_weeks", 26),
    }
    for name, (key, value) in edits.items():
        shutil.copytree(wd, tmp_path / name)
        data = _plan_json(tmp_path / name)
        data["options"][key] = value
        (tmp_path / name / "plan.json").write_text(json.dumps(data), "utf-8")
    # A plan file from before an option existed (here: before all of them) runs with the defaults.
    shutil.copytree(wd, tmp_path / "old")
    data = _plan_json(tmp_path / "old")
    del data["options"]
    (tmp_path / "old" / "plan.json").write_text(json.dumps(data), "utf-8")

    def at(name: str) -> tuple[str, str]:
        return ("--workdir", str(tmp_path / name))

    cases = [
        (("approve", "--by", "manager", *at("notes")), 2, "plan option 'clinical_notes' is not valid"),
        (("run", "--no-progress", *at("limit")), 2, "'long_text_limit_chars' is not valid"),
        (("reconcile", *at("codes")), 2, "plan option 'tracked_codes' is not valid"),
        (("report", *at("unknown")), 2, "plan option 'recall_weeks' is not an option"),
        (("approve", "--by", "manager", *at("old")), 0, ""),
        (("plan", "--source", f"g-export:{export}", *at("wd"), "--tracked-code", "X12"), 2, "CDT code"),
        (
            ("plan", "--source", f"g-export:{export}", *at("wd"), "--long-text-limit-chars", "10"),
            2,
            "--long-text-limit-chars",
        ),
    ]
    results = cli_parallel([(args, env) for args, _, _ in cases])
    for (_, code, message), outcome in zip(cases, results, strict=True):
        assert outcome.code == code, str(outcome)
        assert message in outcome.stderr, str(outcome)
        assert "Traceback" not in outcome.output
        assert "sometimes" not in outcome.output  # the bad value is named by its option, not echoed
    assert "plan.json" in results[0].stderr
