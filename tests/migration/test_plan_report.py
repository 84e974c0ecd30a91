"""plan.md: a golden file for a small fixed synthetic practice, and the Markdown rules.

The golden file is ``tests/migration/golden/plan.md``. After an intended change to the report (or to the
default maps, the synthetic practice or the source's issue messages), regenerate it and review the diff::

    UPDATE_GOLDEN=1 /work/venv/bin/python -m pytest tests/migration/test_plan_report.py
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from pathlib import Path

import anyio
import pytest

from dentrix_highlevel.mapping import DefaultMapOptions, ExistingCustomField
from dentrix_highlevel.migration import LocationSnapshot, MigrationPlan, PipelineSnapshot, build_plan
from dentrix_highlevel.migration._plan.report import render_markdown
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

GOLDEN = Path(__file__).parent / "golden" / "plan.md"


def _plan(export: Path) -> MigrationPlan:
    location = LocationSnapshot(
        location_id="ve9EPM428h8vShlRW1KT",
        custom_fields=[
            ExistingCustomField(
                id="cf-1", name="Recall Date", field_key="contact.recall_date", data_type="DATE"
            )
        ],
        folders={"Clinical": "folder-clinical"},
        pipelines=[PipelineSnapshot(id="pl-1", name="Patient Lifecycle", stages=("New Patient", "Active"))],
    )

    async def build() -> MigrationPlan:
        async with GExportSource(export) as source:
            return await build_plan(
                source,
                options=DefaultMapOptions(as_of=dt.datetime(2025, 6, 30, 9, 0)),
                location=location,
                clock=lambda: dt.datetime(2025, 6, 30, 16, 0, tzinfo=dt.UTC),
            )

    return anyio.run(build)


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> MigrationPlan:
    export = tmp_path_factory.mktemp("golden") / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=12, seed=5)), export, dirty=1)
    return _plan(export)


def test_plan_report_matches_the_golden_file(plan: MigrationPlan) -> None:
    text = render_markdown(plan)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    expected = GOLDEN.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), "golden", "now", n=1
            )
        )
        pytest.fail(f"plan.md differs from {GOLDEN.name} (UPDATE_GOLDEN=1 regenerates it):\n{diff[:6000]}")


def test_report_sections_an_admin_needs(plan: MigrationPlan) -> None:
    text = plan.to_markdown()
    for heading in (
        "## Summary",
        "## Before the run: in HighLevel",
        "## Pre-cutover warnings",
        "## Workflows to rebuild in HighLevel",
        "## Policies",
        "## Custom fields",
        "## Field-mapping plan",
        "## Proposals for practice-specific columns (not approved)",
        "## Estimate",
        "## Data availability",
        "## Source issues",
    ):
        assert f"\n{heading}\n" in text, heading
    assert f"`{plan.content_hash}`" in text
    assert (
        "| contact.recall_date | Recall_Date__c | Recall Date | DATE | Clinical | Clinical | reuse |" in text
    )
    assert "Add the stages Recall, Inactive to the pipeline **Patient Lifecycle**." in text
    assert "- Administrative\n- Financial\n- Insurance\n" in text  # folders the admin creates


def test_table_cells_are_escaped(plan: MigrationPlan) -> None:
    import attrs

    from dentrix_highlevel.migration import CutoverWarning

    odd = attrs.evolve(plan, warnings=(CutoverWarning(code="x|y", count=1, message="two\nlines | here"),))
    text = render_markdown(odd)
    assert "| x\\|y | 1 | two lines \\| here |" in text
