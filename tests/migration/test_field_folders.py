"""Custom fields go into the admin's existing folder of their category, through ``parentId`` (issue #5)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, export, scaled_sandbox, source

from dentrix_highlevel.mapping import default_maps
from dentrix_highlevel.migration import Migration, MigrationPolicies, RunStatus

pytestmark = pytest.mark.anyio


def test_folders_are_matched_by_category_and_kept_out_of_the_hash_when_unused() -> None:
    policies = MigrationPolicies(field_folders={"clinical": "fold-c", "Insurance": "fold-i"})
    assert policies.folder_for("Clinical") == "fold-c"
    assert policies.folder_for("INSURANCE") == "fold-i"
    assert policies.folder_for("Financial") is None
    assert policies.to_dict()["field_folders"] == {"Insurance": "fold-i", "clinical": "fold-c"}
    assert "field_folders" not in MigrationPolicies().to_dict()
    # The plan file carries policies as plain data; they load back to the same policies.
    assert MigrationPolicies(**policies.to_dict()) == policies


async def test_new_custom_fields_land_in_the_folder_of_their_category(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=6, seed=4)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    folders = {"Clinical": "folderClinical000001", "Insurance": "folderInsurance00001"}
    policies = MigrationPolicies(field_folders=folders, calendar_name=None)
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED
    category_of = {t.field_key: t.category.value for t in default_maps().contact.custom_fields()}
    fields = [
        f for f in sandbox.location(loc.location_id).custom_fields.values() if f["fieldKey"] in category_of
    ]
    assert fields
    for field in fields:
        assert field.get("parentId") == folders.get(category_of[field["fieldKey"]]), field["fieldKey"]
    assert any(f.get("parentId") for f in fields)
    assert any(f.get("parentId") is None for f in fields)  # Financial/Administrative: no folder was made
