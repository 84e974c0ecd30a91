"""The writer registry (``_engine/writers/registry.py``): one writer per ledger kind, and everything the
engine counts, writes, finds and undoes comes from the writers, so a kind is named in one place."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dentrix_highlevel.mapping import DefaultMapOptions, PracticeSettings, default_maps
from dentrix_highlevel.migration import CalendarLayout, MigrationPolicies
from dentrix_highlevel.migration._engine.writers.base import CountScope
from dentrix_highlevel.migration._engine.writers.registry import (
    WRITERS,
    SourceTally,
    searched_kinds,
    setup_keys,
    source_counts,
    writer,
)
from dentrix_highlevel.migration._plan.scopes import FEATURES, features_for
from dentrix_highlevel.records import PatientBundle
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice


def test_each_kind_has_exactly_one_writer() -> None:
    kinds = [w.kind for w in WRITERS]
    assert len(kinds) == len(set(kinds))
    assert {"contact", "note", "opportunity", "appointment", "task", "document"} <= set(kinds)
    with pytest.raises(ValueError, match="no writer for the ledger kind 'tag'"):
        writer("tag")


def test_setup_writers_are_undone_last_and_searched_kinds_come_from_writers() -> None:
    assert {w.kind for w in WRITERS if w.setup} == {"custom_field", "calendar", "user"}
    assert searched_kinds() == {"contact", "opportunity"}


def test_every_writer_feature_is_in_the_scope_table() -> None:
    names = {f.name for f in FEATURES}
    assert {w.feature.name for w in WRITERS if w.feature is not None} <= names
    everything = MigrationPolicies(
        treatment_tasks=True, upload_documents=True, family_associations=True, provider_users=True
    )
    assert {f.name for f in features_for(everything)} == names


def test_source_counts_come_from_the_writers() -> None:
    practice = SyntheticPractice(SynthConfig(patients=20, seed=5))
    bundles = list(practice.bundles())
    options = DefaultMapOptions()
    policies = MigrationPolicies(treatment_tasks=True, family_associations=True)
    scope = CountScope(
        bundles=bundles,
        maps=default_maps(options).all(),
        policies=policies,
        options=options,
        practice=PracticeSettings(timezone="America/Chicago"),
        providers=tuple(practice.providers),
    )
    counts = source_counts(scope)
    assert counts["contact"] == 20
    assert counts["appointment"] == sum(len(b.appointments) for b in bundles)
    assert counts["relation"] == sum(1 for b in bundles if not b.patient.is_own_guarantor)
    assert counts["calendar"] == len(setup_keys(scope)["calendar"])
    # A sample does not count setup objects.
    sample = source_counts(
        CountScope(
            bundles=bundles[:3],
            maps=scope.maps,
            policies=policies,
            options=options,
            practice=scope.practice,
            providers=scope.providers,
            setup=False,
        )
    )
    assert "custom_field" not in sample
    assert "calendar" not in sample


@pytest.mark.parametrize("layout", list(CalendarLayout))
@pytest.mark.parametrize("setup", [True, False])
def test_counts_added_up_a_chunk_at_a_time_equal_the_counts_of_all(
    layout: CalendarLayout, setup: bool
) -> None:
    # A streaming run counts its bundles as they pass; the result must be the whole practice's counts.
    practice = SyntheticPractice(SynthConfig(patients=60, seed=7))
    bundles = list(practice.bundles())
    options = DefaultMapOptions()
    policies = MigrationPolicies(
        treatment_tasks=True, family_associations=True, upload_documents=True, calendars=layout
    )

    def scope_of(some: Sequence[PatientBundle]) -> CountScope:
        return CountScope(
            bundles=some,
            maps=default_maps(options).all(),
            policies=policies,
            options=options,
            practice=PracticeSettings(timezone="America/Chicago"),
            providers=tuple(practice.providers),
            setup=setup,
        )

    tally = SourceTally(scope_of)
    for at in range(0, len(bundles), 7):
        tally.add(bundles[at : at + 7])
    assert tally.counts() == source_counts(scope_of(bundles))
    kept = tuple(tally.appointments.values())
    assert len(kept) <= sum(len(b.appointments) for b in bundles)
