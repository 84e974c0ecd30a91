"""The shared pieces of the command line: exit codes, the work directory file, secrets kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from dentrix_highlevel._errors import (
    AuthenticationError,
    ConfigurationError,
    DailyCapReachedError,
    LedgerError,
    PlanChangedError,
    PlanError,
    PlanNotApprovedError,
    SourceFileError,
    TransportError,
)
from dentrix_highlevel.cli._common import (
    EXIT_INTERNAL,
    EXIT_REFUSED,
    EXIT_STOPPED,
    EXIT_USAGE,
    CliFailure,
    Destination,
    DestinationFlags,
    SourceSpec,
    WorkdirConfig,
    exit_code_for,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (PlanNotApprovedError("not approved"), EXIT_REFUSED),
        (PlanChangedError("changed", changes=["maps"]), EXIT_REFUSED),
        (PlanError("no plan.json"), EXIT_USAGE),
        (ConfigurationError("bad"), EXIT_USAGE),
        (SourceFileError("missing v_patient.csv"), EXIT_USAGE),
        (LedgerError("foreign"), EXIT_USAGE),
        (AuthenticationError("401", method="GET", path="/locations/x", status_code=401), EXIT_USAGE),
        (TransportError("no answer"), EXIT_STOPPED),
        (DailyCapReachedError("cap"), EXIT_STOPPED),
        (KeyboardInterrupt(), EXIT_STOPPED),
        (CliFailure("refused", exit_code=EXIT_REFUSED), EXIT_REFUSED),
    ],
)
def test_each_failure_has_its_exit_code_and_one_sentence(error: BaseException, code: int) -> None:
    got, message = exit_code_for(error)
    assert got == code
    assert "\n" not in message
    assert message.endswith(".") or isinstance(error, CliFailure | KeyboardInterrupt)


def test_a_foreign_exception_shows_only_its_type() -> None:
    code, message = exit_code_for(ValueError("Jane Doe 1980-01-02"))
    assert code == EXIT_INTERNAL
    assert "ValueError" in message
    assert "Jane" not in message


def test_the_token_stays_out_of_repr_and_the_work_directory(tmp_path: Path) -> None:
    flags = DestinationFlags(
        base_url="http://127.0.0.1:1/",
        location_id="loc1",
        token="pit-secret-token",
        rate_max=None,
        rate_window_ms=100,
        daily_max=None,
    )
    destination = flags.resolve(None)
    assert destination.token == "pit-secret-token"
    assert destination.base_url == "http://127.0.0.1:1"
    assert "pit-secret-token" not in repr(destination) + repr(flags)
    spec = SourceSpec(kind="g-export", location=str(tmp_path))
    WorkdirConfig(migration_id="m", source=spec, destination=destination).save(tmp_path / "wd")
    stored = (tmp_path / "wd" / "migration.json").read_text("utf-8")
    assert "pit-secret-token" not in stored
    loaded = WorkdirConfig.load(tmp_path / "wd")
    assert loaded.destination == Destination(
        base_url="http://127.0.0.1:1", location_id="loc1", rate_window_ms=100
    )
    assert loaded.destination.token is None
    assert loaded.source == spec
    assert (tmp_path / "wd" / "migration.json").stat().st_mode & 0o777 == 0o600


def test_a_stored_destination_keeps_its_location(tmp_path: Path) -> None:
    stored = Destination(base_url="https://a", location_id="loc1")
    other = DestinationFlags(
        base_url=None, location_id="loc2", token="t", rate_max=None, rate_window_ms=None, daily_max=None
    )
    with pytest.raises(CliFailure, match="migrates location loc1, not loc2"):
        other.resolve(stored)
    moved = DestinationFlags(
        base_url="https://b", location_id=None, token="t", rate_max=50, rate_window_ms=None, daily_max=None
    )
    resolved = moved.resolve(stored)
    assert (resolved.base_url, resolved.location_id, resolved.rate_max) == ("https://b", "loc1", 50)
    assert resolved.budget().max_requests == 50


def test_source_specs(tmp_path: Path) -> None:
    spec = SourceSpec.parse(f"g-export:{tmp_path}", practice_timezone="America/Denver")
    assert (spec.kind, spec.location, spec.practice_timezone) == ("g-export", str(tmp_path), "America/Denver")
    assert str(SourceSpec.parse("ascend:https://api.example/ascend/")) == "ascend:https://api.example/ascend"
    with pytest.raises(CliFailure):
        SourceSpec.parse("ascend:api.example")
