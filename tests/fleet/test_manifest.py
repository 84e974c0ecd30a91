"""The fleet manifest: shared defaults, per-office overrides, each problem located (file, office, key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dentrix_highlevel.errors import ManifestError
from dentrix_highlevel.fleet import load_manifest
from dentrix_highlevel.migration import CalendarLayout


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "exports" / "north").mkdir(parents=True, exist_ok=True)
    (tmp_path / "exports" / "south").mkdir(parents=True, exist_ok=True)
    path = tmp_path / "fleet.toml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD = """
[defaults]
base_url = "http://127.0.0.1:8080"
rate_max = 50
rate_window_ms = 5000
[defaults.policies]
calendar_name = "Group Appointments"
treatment_tasks = true

[agency]
company_id = "Company0001"

[[office]]
name = "north"
source = "g-export:exports/north"
location_id = "LocNorth"
token_env = "NORTH_PIT"

[[office]]
name = "south"
source = "g-export:exports/south"
location_id = "LocSouth"
agency = true
workdir = "work/s"
[office.policies]
calendars = "provider"
calendar_name = "South Chairs"
"""


def test_defaults_and_overrides(tmp_path: Path) -> None:
    manifest = load_manifest(_write(tmp_path, GOOD))
    assert manifest.base_url == "http://127.0.0.1:8080"
    assert (manifest.rate_max, manifest.rate_window_ms, manifest.daily_max) == (50, 5000, 200_000)
    assert manifest.agency is not None
    assert manifest.agency.company_id == "Company0001"
    assert manifest.agency.refresh_token_env == "HIGHLEVEL_AGENCY_REFRESH_TOKEN"
    north, south = manifest.offices
    assert north.source == f"g-export:{(tmp_path / 'exports' / 'north').resolve()}"
    assert north.workdir == (tmp_path / "north").resolve()
    assert north.token_env == "NORTH_PIT"
    assert not north.agency
    assert north.policies.calendar_name == "Group Appointments"
    assert north.policies.treatment_tasks
    assert south.agency
    assert south.workdir == (tmp_path / "work" / "s").resolve()
    assert south.policies.calendar_name == "South Chairs"
    assert south.policies.calendars is CalendarLayout.PROVIDER
    assert south.policies.treatment_tasks  # shared default kept
    assert [o.name for o in manifest.select(["south"])] == ["south"]
    assert manifest.select(None) == manifest.offices


@pytest.mark.parametrize(
    ("edit", "where", "problem"),
    [
        (
            ('token_env = "NORTH_PIT"', 'tokn_env = "NORTH_PIT"'),
            "office 'north' (#1): key 'tokn_env'",
            "unknown key",
        ),
        (('location_id = "LocSouth"\n', ""), "office 'south' (#2): key 'location_id'", "missing"),
        (
            ('location_id = "LocSouth"', 'location_id = "LocNorth"'),
            "office 'south' (#2): key 'location_id'",
            "north",
        ),
        (('name = "south"', 'name = "north"'), "office 'north' (#2): key 'name'", "the same as office"),
        (
            ("agency = true", 'agency = true\ntoken_env = "X"'),
            "office 'south' (#2): key 'agency'",
            "not both",
        ),
        (('calendars = "provider"', 'calendars = "chairs"'), "office 'south' (#2): policies", "not valid"),
        (
            ('calendars = "provider"', "colour = 1"),
            "office 'south' (#2): key 'policies': key 'colour'",
            "unknown",
        ),
        (("exports/north", "exports/nowhere"), "office 'north' (#1): key 'source'", "does not exist"),
        (
            ("g-export:exports/north", "dropbox:north"),
            "office 'north' (#1): key 'source'",
            "unknown source kind",
        ),
        (("rate_max = 50", "rate_max = 0"), "[defaults]: key 'rate_max'", ">= 1"),
        (('company_id = "Company0001"', ""), "[agency]: key 'company_id'", "missing"),
        (('name = "north"', 'name = "../north"'), "office '../north' (#1): key 'name'", "directory"),
        (
            ('base_url = "http://127.0.0.1:8080"', 'base_url = "http://hl.example"'),
            "[defaults]: key 'base_url'",
            "https",
        ),
    ],
)
def test_located_errors(tmp_path: Path, edit: tuple[str, str], where: str, problem: str) -> None:
    old, new = edit
    assert old in GOOD
    with pytest.raises(ManifestError) as caught:
        load_manifest(_write(tmp_path, GOOD.replace(old, new, 1)))
    message = str(caught.value)
    assert message.startswith(f"fleet.toml: {where}"), message
    assert problem in message


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"fleet.toml: no such file"):
        load_manifest(tmp_path / "fleet.toml")
    with pytest.raises(ManifestError, match=r"fleet.toml: not valid TOML"):
        load_manifest(_write(tmp_path, "[[office]\n"))
    with pytest.raises(ManifestError, match=r"at least one \[\[office\]\]"):
        load_manifest(_write(tmp_path, "[defaults]\nrate_max = 10\n"))
    with pytest.raises(ManifestError, match=r"fleet.toml: key 'offices'"):
        load_manifest(_write(tmp_path, "[[offices]]\nname = 'x'\n"))


def test_each_office_has_its_own_ledger_schema() -> None:
    from dentrix_highlevel.fleet._fleet import office_schema
    from dentrix_highlevel.migration._state.postgres import _SCHEMA_RE

    names = ["north", "North", "north-1", "north_1", "Zahnarzt Müller & Söhne", "x" * 200]
    schemas = [office_schema(n) for n in names]
    assert len(set(schemas)) == len(names)
    assert all(_SCHEMA_RE.fullmatch(s) for s in schemas)
    assert office_schema("north") == office_schema("north")
