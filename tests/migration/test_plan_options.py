"""options_from_dict: the map options a plan file holds, back as DefaultMapOptions (and refused by name)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from dentrix_highlevel.errors import ConfigurationError, PlanError
from dentrix_highlevel.mapping import (
    CdtHistoryMode,
    ClinicalNotesMode,
    DefaultMapOptions,
    PastAppointmentsMode,
    PatientPolicy,
)
from dentrix_highlevel.migration import MigrationPlan, build_plan, options_from_dict, options_to_dict
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

AS_OF = dt.datetime(2025, 6, 30, 9, 0)
CHOSEN = DefaultMapOptions(
    as_of=AS_OF,
    past_appointments=PastAppointmentsMode.EVENTS,
    cdt_history=CdtHistoryMode.PER_CODE,
    tracked_codes=("D1110",),
    clinical_notes=ClinicalNotesMode.BOTH,
    long_text_limit_chars=900,
    inactive_after_months=24,
    non_patient=PatientPolicy.SKIP,
    archived=PatientPolicy.CONTACT,
    inactive=PatientPolicy.CONTACT_DND,
)


def test_the_options_round_trip() -> None:
    assert options_from_dict(options_to_dict(CHOSEN), as_of=AS_OF) == CHOSEN
    assert options_from_dict(options_to_dict(DefaultMapOptions(as_of=AS_OF)), as_of=AS_OF) == (
        DefaultMapOptions(as_of=AS_OF)
    )


def test_an_option_left_out_takes_its_default() -> None:
    assert options_from_dict({}, as_of=AS_OF) == DefaultMapOptions(as_of=AS_OF)
    only = options_from_dict({"clinical_notes": "notes"}, as_of=AS_OF)
    assert only == attrs.evolve(DefaultMapOptions(as_of=AS_OF), clinical_notes=ClinicalNotesMode.NOTES)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("past_appointments", "sometimes"),
        ("cdt_history", 1),
        ("non_patient", None),
        ("long_text_limit_chars", 199),
        ("long_text_limit_chars", "4000"),
        ("inactive_after_months", 0),
        ("inactive_after_months", True),
        ("tracked_codes", "D0120"),
        ("tracked_codes", ["D0120", ""]),
        ("recall_weeks", 26),
    ],
)
def test_a_bad_option_is_named_not_echoed(key: str, value: Any) -> None:
    data = options_to_dict(DefaultMapOptions()) | {key: value}
    with pytest.raises(PlanError) as caught:
        options_from_dict(data)
    assert f"plan option {key!r}" in str(caught.value)
    assert str(value) not in str(caught.value).replace(key, "")


def test_the_options_refuse_the_counts_a_plan_file_refuses() -> None:
    # A plan built in code must load back: DefaultMapOptions has the same least values as the plan file.
    with pytest.raises(ConfigurationError, match="inactive_after_months"):
        DefaultMapOptions(inactive_after_months=0)
    with pytest.raises(ConfigurationError, match="long_text_limit_chars"):
        DefaultMapOptions(long_text_limit_chars=199)
    edge = DefaultMapOptions(as_of=AS_OF, inactive_after_months=1, long_text_limit_chars=200)
    assert options_from_dict(options_to_dict(edge), as_of=AS_OF) == edge


def test_a_plan_file_without_options_loads_with_the_defaults(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=3, seed=4)), export)

    async def build() -> MigrationPlan:
        async with GExportSource(export) as source:
            return await build_plan(source, options=DefaultMapOptions(as_of=AS_OF))

    plan = anyio.run(build)
    data = plan.to_dict()
    del data["options"]
    loaded = MigrationPlan.from_dict(data)
    assert loaded.content_hash == plan.content_hash
    assert loaded.map_options() == DefaultMapOptions(as_of=AS_OF)
    with pytest.raises(PlanError, match="options are not an object"):
        MigrationPlan.from_dict(plan.to_dict() | {"options": ["events"]})
