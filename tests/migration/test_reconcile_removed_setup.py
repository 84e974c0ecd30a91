"""The whole-migration reconciliation when setup objects are no longer needed by the current source (issue
#6 follow-up): a provider's calendar whose only appointments were a removed patient's, and a provider user
whose provider left the export, count as ``removed`` (not as a mismatch, not dropped)."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from tests.migration._engine_helpers import client, edit_patients, export, scaled_sandbox, source

from dentrix_highlevel.mapping import DefaultMapOptions
from dentrix_highlevel.migration import (
    Migration,
    MigrationPolicies,
    Reconciliation,
    RemovedInSourcePolicy,
    RunStatus,
)
from dentrix_highlevel.migration._engine.calendar_layout import calendar_specs
from dentrix_highlevel.records import Provider
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio

# Future appointments only (the default), from a fixed date so the test picks the same provider every time.
OPTIONS = DefaultMapOptions(as_of=dt.datetime(2025, 1, 1))


def _drop_provider(path: Path, provider_id: str) -> None:
    file = path / "v_provider.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if r["provider_id"].strip() != provider_id]
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def _removed(rec: Reconciliation) -> dict[str, int]:
    return {k.kind: k.removed for k in rec.kinds if k.removed}


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, str, str]:
    """monday; tuesday without one patient, the only one with future appointments of provider X;
    wednesday without provider X either. Returns the three exports, the patient id and X."""
    base = tmp_path_factory.mktemp("removed-setup")
    monday = export(base, patients=10, seed=21, name="monday")
    with GExportSource(monday) as staged:
        bundles = list(staged.iter_bundles())
        with_email = {p.provider_id for p in staged.providers() if p.email}
    guarantors = {b.patient.guarantor_id for b in bundles}
    patients_of: dict[str, set[str]] = defaultdict(set)
    for bundle in bundles:
        for a in bundle.appointments:
            if (
                a.provider_id
                and not (a.deleted or a.broken)
                and a.start is not None
                and a.start >= OPTIONS.as_of
            ):
                patients_of[a.provider_id].add(bundle.patient_id)
    provider, patient = next(
        (pid, next(iter(ids)))
        for pid, ids in sorted(patients_of.items())
        if len(ids) == 1 and pid in with_email and next(iter(ids)) not in guarantors
    )
    tuesday = base / "tuesday"
    shutil.copytree(monday, tuesday)
    edit_patients(tuesday, {}, drop=(patient,))
    wednesday = base / "wednesday"
    shutil.copytree(tuesday, wednesday)
    _drop_provider(wednesday, provider)
    return monday, tuesday, wednesday, patient, provider


@pytest.mark.parametrize("policy", [RemovedInSourcePolicy.KEEP, RemovedInSourcePolicy.DELETE])
async def test_a_calendar_and_a_user_the_source_no_longer_needs_count_as_removed(
    exports: tuple[Path, Path, Path, str, str], tmp_path: Path, policy: RemovedInSourcePolicy
) -> None:
    monday, tuesday, wednesday, patient, provider = exports
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    policies = MigrationPolicies(calendars="provider", provider_users=True, removed_in_source=policy)
    async with (
        client(sandbox, loc) as hl,
        Migration(
            source(monday), hl, workdir=tmp_path / "wd", policies=policies, options=OPTIONS
        ) as migration,
    ):
        migration.approve(by="manager")
        first = await migration.run()
        assert first.status is RunStatus.COMPLETED
        assert first.reconciliation.reconciles, first.reconciliation.render()
        with GExportSource(monday) as staged:
            providers: list[Provider] = list(staged.providers())
            future = [
                a
                for b in staged.iter_bundles()
                for a in b.appointments
                if not (a.deleted or a.broken) and a.start is not None and a.start >= OPTIONS.as_of
            ]
        theirs = next(
            s for s in calendar_specs(policies, future, providers=providers) if s.provider_id == provider
        )
        assert migration.ledger.record("calendar", f"calendar:{theirs.name}") is not None
        assert migration.ledger.record("user", f"provider:{provider}") is not None
        users = len(migration.ledger.records("user"))

        # The patient leaves: their provider's calendar is no longer needed by the source.
        delta = await migration.delta(source(tuesday))
        assert delta.status is RunStatus.COMPLETED
        assert delta.reconciliation.reconciles, delta.reconciliation.render()
        whole = (await migration.reconcile()).reconciliation
        assert whole.reconciles, whole.render()
        calendar = whole.kind("calendar")
        assert calendar is not None
        assert calendar.removed == 1
        assert calendar.source + calendar.removed == len(migration.ledger.records("calendar"))
        assert _removed(whole)["contact"] == 1
        gone = migration.ledger.record("contact", f"patient:{patient}")
        assert gone is not None
        assert "no longer in the source" in (gone.reason or "")
        assert "user" not in _removed(whole), "every provider is still in the source"

        # The provider leaves the export too: their user is no longer needed by the source.
        delta = await migration.delta(source(wednesday))
        assert delta.status is RunStatus.COMPLETED
        assert delta.reconciliation.reconciles, delta.reconciliation.render()
        whole = (await migration.reconcile()).reconciliation
        assert whole.reconciles, whole.render()
        user = whole.kind("user")
        assert user is not None
        assert (user.removed, user.source + user.removed) == (1, users)
        assert _removed(whole)["calendar"] == 1

        # Both back: source records again, nothing removed.
        again = await migration.delta(source(monday))
        assert again.reconciliation.reconciles, again.reconciliation.render()
        whole = (await migration.reconcile()).reconciliation
        assert whole.reconciles, whole.render()
        assert _removed(whole) == {}
