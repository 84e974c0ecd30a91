"""The ledger interface's value classes: identity checks, and reprs that never show patient values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.migration import LedgerIdentity, PendingIntent, PreImage

AT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "changes",
    [{"migration_id": ""}, {"location_id": "loc\n1"}, {"source_fingerprint": "x" * 300}],
)
def test_identity_fields_are_bounded_single_line_ids(changes: dict[str, str]) -> None:
    values = {"migration_id": "m", "location_id": "loc", "source_fingerprint": "g:1"} | changes
    with pytest.raises(ConfigurationError):
        LedgerIdentity(**values)


def test_identity_equality_is_by_value() -> None:
    assert LedgerIdentity(migration_id="m", location_id="l", source_fingerprint="s") == LedgerIdentity(
        migration_id="m", location_id="l", source_fingerprint="s"
    )


def test_value_reprs_show_ids_not_values() -> None:
    intent = PendingIntent(
        intent_id=1,
        run_id="run-1",
        kind="contact",
        source_key="patient:1",
        operation="upsert",
        parent_id=None,
        lookup={"email": "jane.doe@example.org", "phone": "+15555550123"},
        begun_at=AT,
    )
    image = PreImage(
        seq=1,
        kind="contact",
        destination_id="X1",
        run_id="run-1",
        saved_at=AT,
        restored_at=None,
        payload={"firstName": "Jane", "phone": "+15555550123"},
    )
    for text in (repr(intent), str(intent), repr(image), str(image)):
        assert "jane" not in text.lower()
        assert "5555550123" not in text
    assert "lookup_keys=['email', 'phone']" in repr(intent)
    assert "destination_id='X1'" in repr(image)
