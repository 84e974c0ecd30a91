"""The preflight on the command line, and the held-out check of issue #13: a token granted exactly the
scopes ``docs/highlevel-setup.md`` lists, every optional feature on, a whole runbook with no 401."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.cli._cli import SCALED, cli

from dentrix_highlevel.cli._demo import normalised_dump
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

REPO = Path(__file__).resolve().parents[2]
FEATURE_FLAGS = (
    "--provider-users",
    "--treatment-tasks",
    "--upload-documents",
    "--family-associations",
    "--calendars",
    "provider",
    "--past-appointments",
    "events",
)


def documented_scopes() -> list[str]:
    text = (REPO / "docs" / "highlevel-setup.md").read_text(encoding="utf-8")
    section = text[text.index("### Scopes") : text.index("## 2.")]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def _env(server: Any, location: Any) -> dict[str, str]:
    return {
        "HIGHLEVEL_BASE_URL": server.base_url,
        "HIGHLEVEL_LOCATION_ID": location.location_id,
        "HIGHLEVEL_TOKEN": location.token,
    }


def _export(tmp_path: Path, patients: int = 20, seed: int = 13) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed)), path)
    return path


def test_documented_scopes_and_every_feature_run_the_whole_runbook(
    scaled_server: Any, tmp_path: Path
) -> None:
    scopes = documented_scopes()
    assert "associations.readonly" in scopes
    assert "associations/relation.write" in scopes
    location = scaled_server.sandbox.create_location(scopes=scopes)
    before = normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id]
    env = _env(scaled_server, location)
    wd = str(tmp_path / "wd")
    export = _export(tmp_path)
    start = len(scaled_server.sandbox.request_log)

    def step(*args: str) -> str:
        outcome = cli(*args, "--workdir", wd, env=env)
        assert outcome.code == 0, str(outcome)
        assert "Traceback" not in outcome.output
        return outcome.stdout

    planned = step("plan", "--source", f"g-export:{export}", *SCALED, *FEATURE_FLAGS)
    assert "preflight passed" in planned
    plan_md = (tmp_path / "wd" / "plan.md").read_text("utf-8")
    assert "## Preflight" in plan_md
    assert "**passed**" in plan_md
    assert json.loads((tmp_path / "wd" / "plan.json").read_text("utf-8"))["preflight"]["ok"] is True
    assert "✔ scope associations.readonly" in step("doctor")
    step("approve", "--by", "office.manager@practice.example")
    step("sample", "--size", "4")
    step("run", "--no-progress")
    step("reconcile")
    step("rollback", "--yes", "--no-progress")
    log = scaled_server.sandbox.request_log[start:]
    assert [r for r in log if r.location_id == location.location_id and r.status == 401] == []
    assert normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id] == before


def test_a_failed_preflight_blocks_approval_until_forced_with_a_reason(
    scaled_server: Any, tmp_path: Path
) -> None:
    scopes = [s for s in documented_scopes() if s != "associations.readonly"]
    location = scaled_server.sandbox.create_location(scopes=scopes)
    env = _env(scaled_server, location)
    wd = str(tmp_path / "wd")
    export = _export(tmp_path, patients=8, seed=3)
    planned = cli("plan", "--source", f"g-export:{export}", "--workdir", wd, *SCALED, *FEATURE_FLAGS, env=env)
    assert planned.code == 0, str(planned)
    assert "✘ scope associations.readonly" in planned.stdout
    assert "fix: add associations.readonly" in planned.stdout
    assert "**failed** (1 check(s))" in (tmp_path / "wd" / "plan.md").read_text("utf-8")

    refused = cli("approve", "--by", "manager", "--workdir", wd, env=env)
    assert refused.code == 3, str(refused)
    assert "scope associations.readonly" in refused.stderr
    assert "--force --reason" in refused.stderr
    doctor = cli("doctor", "--workdir", wd, env=env)
    assert doctor.code == 2, str(doctor)
    assert "preflight FAILED (1 check(s))" in doctor.stdout
    no_reason = cli("approve", "--by", "manager", "--force", "--workdir", wd, env=env)
    assert no_reason.code == 2, str(no_reason)

    forced = cli(
        "approve",
        "--by",
        "manager",
        "--force",
        "--reason",
        "relations added by hand",
        "--workdir",
        wd,
        env=env,
    )
    assert forced.code == 0, str(forced)
    assert "forced past a failed preflight" in forced.stdout


def test_a_live_sub_account_in_both_dedupe_orders(scaled_server: Any, tmp_path: Path) -> None:
    """Issue #14's scenario on the command line: every step exits 0; rollback restores the practice's data."""
    import anyio
    from tests.migration.test_live_subaccount import _seed

    for order in ("email,phone", "phone,email"):
        location = scaled_server.sandbox.create_location(dedupe_order=order.split(","))
        export = _export(tmp_path / order.replace(",", "-"), patients=30, seed=17)
        seeded = anyio.run(_seed, scaled_server.sandbox, location, export)
        before = normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id]
        env = _env(scaled_server, location)
        wd = str(tmp_path / order.replace(",", "-") / "wd")
        for args in (
            ("plan", "--source", f"g-export:{export}", *SCALED, "--provider-users", "--dedupe-order", order),
            ("approve", "--by", "manager"),
            ("run", "--no-progress"),
            ("reconcile",),
        ):
            outcome = cli(*args, "--workdir", wd, env=env)
            assert outcome.code == 0, str(outcome)
        plan_md = (Path(wd) / "plan.md").read_text("utf-8")
        assert "existing opportunities adopted (name and value kept) | 1" in plan_md
        lead = scaled_server.sandbox.location(location.location_id).contacts[seeded.lead_email]
        assert {"newsletter", "fb-lead-2025", "dentrix"} <= set(lead["tags"])
        assert lead["source"] == "Facebook Ad"
        rolled = cli("rollback", "--yes", "--no-progress", "--workdir", wd, env=env)
        assert rolled.code == 0, str(rolled)
        assert normalised_dump(scaled_server.sandbox.dump())["locations"][location.location_id] == before
