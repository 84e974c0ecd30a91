"""The loop stays free: the file, SQLite and CPU-heavy work of approve, plan, run, reconcile and the audit
export runs in worker threads, never on the event loop's thread (an embedding web service keeps serving).

Checked by where the work runs (the thread), never by how long anything took."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from dentrix_highlevel import GExportSource, HighLevelClient, Migration, RunStatus, build_plan
from dentrix_highlevel.migration import SqliteLedger, _migration
from dentrix_highlevel.migration._plan.availability import AvailabilityCollector
from dentrix_highlevel.migration._plan.migration_plan import _Tally
from dentrix_highlevel.sandbox import Sandbox
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

pytestmark = pytest.mark.anyio


class Threads:
    """Records, per wrapped callable, the threads it ran in."""

    def __init__(self) -> None:
        self.seen: dict[str, set[int]] = {}

    def wrap(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            self.seen.setdefault(name, set()).add(threading.get_ident())
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, recorded)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=6, seed=3)), path)
    return path


async def test_plan_approve_run_and_audit_work_off_the_event_loop(
    export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = Threads()
    threads.wrap(monkeypatch, AvailabilityCollector, "add_bundle")
    threads.wrap(monkeypatch, AvailabilityCollector, "report")
    threads.wrap(monkeypatch, _Tally, "add")
    for name in ("open", "approve_plan", "audit_rows", "finish_run"):
        threads.wrap(monkeypatch, SqliteLedger, name)
    for name in ("write_private", "export_audit", "check_approved"):
        threads.wrap(monkeypatch, _migration, name)
    loop_thread = threading.get_ident()
    sandbox = Sandbox()
    location = sandbox.create_location()
    async with (
        HighLevelClient(
            location_id=location.location_id, token=location.token, transport=sandbox.transport()
        ) as hl,
        GExportSource(export) as source,
        Migration(source, hl, workdir=tmp_path / "work") as migration,
    ):
        await build_plan(source, options=migration.options)
        await migration.aapprove(by="host (sandbox)")
        result = await migration.run()
        csv_path, jsonl_path = await migration.aexport_audit()
        reconciled = await migration.reconcile()

    assert result.status is RunStatus.COMPLETED
    assert csv_path.exists()
    assert jsonl_path.exists()
    assert reconciled.ok
    assert set(threads.seen) == {
        "add_bundle", "report", "add", "open", "approve_plan", "audit_rows", "finish_run",
        "write_private", "export_audit", "check_approved",
    }  # fmt: skip
    on_loop = sorted(name for name, seen in threads.seen.items() if loop_thread in seen)
    assert on_loop == []


def test_the_sync_approve_still_works_for_scripts(export: Path, tmp_path: Path) -> None:
    async def main() -> str:
        sandbox = Sandbox()
        location = sandbox.create_location()
        async with (
            HighLevelClient(
                location_id=location.location_id, token=location.token, transport=sandbox.transport()
            ) as hl,
            GExportSource(export) as source,
            Migration(source, hl, workdir=tmp_path / "work") as migration,
        ):
            return migration.approve(by="script").plan_hash

    assert anyio.run(main)
