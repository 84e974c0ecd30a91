"""``Fleet.run_on_dask`` on a real ``distributed.LocalCluster`` (worker processes) against a served
sandbox: one task per office; a worker killed mid-office, its task rescheduled, and every office ends
reconciled with no contact created twice. The ledgers on PostgreSQL too (a schema per office)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.cli._cli import cli
from tests.fleet._helpers import exports, write_manifest

from dentrix_highlevel.fleet import Fleet, FleetReport, OfficeProgress, OfficeStatus, load_manifest
from dentrix_highlevel.migration import RunStatus, open_existing_ledger
from dentrix_highlevel.migration._state.open import ledger_exists

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served() -> Iterator[Any]:
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    config = SandboxConfig(rate_window_ms=100, rate_max=100, search_index_lag_ms=50)
    with SandboxServer(Sandbox(config), create_location=False) as server:
        yield server


@pytest.fixture(scope="module")
def cluster(locations: dict[str, Any]) -> Iterator[Any]:
    # Worker processes inherit the environment at spawn: ``locations`` put the offices' tokens there
    # first (PIT_<NAME>), so the workers read them from their own environment, as on a real cluster.
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            worker_dashboard_address=None,
        ) as started,
        distributed.Client(started) as client,
    ):
        yield started, client


@pytest.fixture(scope="module")
def capped() -> Iterator[Any]:
    """A served sandbox whose day lasts 2 s and whose daily cap is 60 requests: an office needs days."""
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer

    config = SandboxConfig(
        rate_window_ms=100, rate_max=100, search_index_lag_ms=50, daily_max=60, day_length_s=2.0
    )
    with SandboxServer(Sandbox(config), create_location=False) as server:
        yield server


@pytest.fixture(scope="module")
def locations(served: Any, capped: Any) -> Iterator[dict[str, Any]]:
    """Locations and their tokens, in the environment before the cluster starts its workers."""
    # Per ledger backend its own offices (and sub-accounts): each test starts from empty locations.
    names = [f"{office}{suffix}" for office in ("north", "south", "east", "west") for suffix in ("", "pg")]
    names.append("hub")
    locations = {name: served.sandbox.create_location() for name in names}
    locations["capped"] = capped.sandbox.create_location()
    names.append("capped")
    saved = {f"PIT_{n.upper()}": os.environ.get(f"PIT_{n.upper()}") for n in names}
    for name, location in locations.items():
        os.environ[f"PIT_{name.upper()}"] = location.token
    try:
        yield locations
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _manifest(
    tmp_path: Path, served: Any, locations: dict[str, Any], names: tuple[str, ...], **kw: Any
) -> Path:
    paths = exports(tmp_path, names, patients=kw.pop("patients", 6))
    offices = [
        {
            "name": name,
            "source": f"g-export:{paths[name]}",
            "location_id": locations[name].location_id,
            "token_env": f"PIT_{name.upper()}",
        }
        for name in names
    ]
    return write_manifest(tmp_path / "group" / "fleet.toml", offices, base_url=served.base_url, **kw)


def _prepare(fleet: Fleet) -> None:
    plan = anyio.run(fleet.plan)
    assert all(o.status is OfficeStatus.OK for o in plan.offices), plan.offices
    approved = anyio.run(lambda: fleet.approve(by="office.manager"))
    assert all(o.status is OfficeStatus.OK for o in approved.offices), approved.offices


def _source_ids(served: Any, location_id: str) -> Counter[str]:
    state = served.sandbox.location(location_id)
    field_id = next(
        f["id"] for f in state.custom_fields.values() if f["fieldKey"] == "contact.source_system_id"
    )
    return Counter(
        str(value["value"])
        for contact in state.contacts.values()
        for value in contact.get("customFields", [])
        if value["id"] == field_id
    )


def _reconciled_without_duplicates(fleet: Fleet, served: Any, names: tuple[str, ...]) -> None:
    reconciled = anyio.run(fleet.reconcile)
    assert [o.status for o in reconciled.offices] == [OfficeStatus.OK] * len(names), reconciled.offices
    for office in fleet.manifest.offices:
        ids = _source_ids(served, office.location_id)
        assert ids
        assert max(ids.values()) == 1, office.name  # no patient's contact created twice


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> str | None:
    """Each office's ledger in its work directory (SQLite), or a schema each on a PostgreSQL server."""
    if request.param == "sqlite":
        return None
    server = request.getfixturevalue("postgres_server")
    return str(server.url(server.create_database()))


def test_one_task_per_office_on_worker_processes(
    served: Any, cluster: Any, locations: dict[str, Any], tmp_path: Path, ledger_url: str | None
) -> None:
    suffix = "pg" if ledger_url else ""
    names = tuple(f"{n}{suffix}" for n in ("north", "south", "east"))
    events: list[OfficeProgress] = []
    fleet = Fleet(
        load_manifest(_manifest(tmp_path, served, locations, names)),
        ledger_url=ledger_url,
        progress=events.append,
    )
    _prepare(fleet)
    events.clear()
    _, client = cluster
    report: FleetReport = anyio.run(lambda: fleet.run_on_dask(client.scheduler.address))
    assert [o.status for o in report.offices] == [OfficeStatus.OK] * 3, report.offices
    assert all(o.counts.get("created", 0) > 0 for o in report.offices)
    # The workers' live progress reached this process: each office's engine phases with their counts,
    # as the in-process fleet shows them, and then the office's end.
    for office in fleet.manifest.offices:
        seen = [e for e in events if e.office == office.name]
        assert all(e.location_id == office.location_id for e in seen)
        engine = [e for e in seen if e.phase.startswith("run ")]
        assert engine, [e.phase for e in seen]
        assert any(e.total > 0 and e.done == e.total for e in engine), engine
        assert seen[-1].phase == OfficeStatus.OK.value
    _reconciled_without_duplicates(fleet, served, names)


def test_a_worker_killed_mid_office_costs_no_duplicate(
    served: Any, cluster: Any, locations: dict[str, Any], tmp_path: Path, ledger_url: str | None
) -> None:
    names = ("westpg" if ledger_url else "west",)
    # A slow budget (10 requests per 100 ms) so the office is still running when its worker is killed.
    manifest = _manifest(
        tmp_path,
        served,
        locations,
        names,
        patients=40,
        defaults={"rate_max": 10, "concurrency": 2},
    )
    fleet = Fleet(load_manifest(manifest), ledger_url=ledger_url)
    _prepare(fleet)
    office = fleet.manifest.offices[0]
    where = fleet.office_ledger(office) or office.workdir
    _, client = cluster
    outcome: dict[str, Any] = {}

    def drive() -> None:
        try:
            outcome["report"] = anyio.run(lambda: fleet.run_on_dask(client.scheduler.address))
        except BaseException as exc:  # the assertion below shows it
            outcome["error"] = exc

    driver = threading.Thread(target=drive)
    driver.start()
    killed = False
    try:
        # Wait until the office's run has recorded some patients (it is mid-office), then kill its worker.
        event = threading.Event()
        while not killed and driver.is_alive():
            event.wait(0.05)
            if not ledger_exists(where):
                continue
            with open_existing_ledger(where) as reader:
                runs = [r for r in reader.runs() if r.mode.value == "run"]
                done = len(reader.records("contact"))
            if not runs or runs[-1].status is not RunStatus.RUNNING or done < 3:
                continue
            processing = client.processing()
            pids = client.run(os.getpid)
            busy = [addr for addr, keys in processing.items() if any(office.name in str(k) for k in keys)]
            if busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed = True
    finally:
        driver.join(timeout=600)
    assert killed, "the office finished before its worker could be killed"
    assert "error" not in outcome, outcome.get("error")
    report: FleetReport = outcome["report"]
    assert [o.status for o in report.offices] == [OfficeStatus.OK], report.offices
    with open_existing_ledger(where) as reader:
        runs = [r for r in reader.runs() if r.mode.value == "run"]
    assert len(runs) == 1  # the rescheduled task resumed the same run, it did not start another
    assert runs[0].status is RunStatus.COMPLETED
    _reconciled_without_duplicates(fleet, served, names)


def test_fleet_run_dask_on_the_command_line(
    served: Any, cluster: Any, locations: dict[str, Any], tmp_path: Path
) -> None:
    manifest = _manifest(tmp_path, served, locations, ("hub",))
    fleet = Fleet(load_manifest(manifest))
    _prepare(fleet)
    _, client = cluster
    outcome = cli(
        "fleet", "run", "--manifest", str(manifest), "--dask", client.scheduler.address, "--no-progress"
    )
    assert outcome.code == 0, str(outcome)
    assert "Traceback" not in outcome.output
    assert locations["hub"].token not in outcome.output
    _reconciled_without_duplicates(fleet, served, ("hub",))
    refused = cli("fleet", "run", "--manifest", str(manifest), "--ledger", "mysql://x/y")
    assert refused.code == 2
    assert "postgresql://" in refused.output


def test_an_office_paused_at_its_daily_cap_is_rescheduled_after_the_reset(
    capped: Any, cluster: Any, locations: dict[str, Any], tmp_path: Path
) -> None:
    manifest = _manifest(
        tmp_path, capped, locations, ("capped",), patients=10, defaults={"daily_max": 60, "rate_max": 10}
    )
    fleet = Fleet(load_manifest(manifest))
    anyio.run(fleet.plan)
    approved = anyio.run(lambda: fleet.approve(by="office.manager", force_reason="a scaled test day"))
    assert approved.offices[0].status is OfficeStatus.OK, approved.offices
    phases: list[str] = []
    fleet_seen = Fleet(load_manifest(manifest), progress=lambda e: phases.append(e.phase))
    _, client = cluster
    # The sandbox's day is 2 s: the fleet submits the paused office again 2.5 s after each pause.
    report: FleetReport = anyio.run(
        lambda: fleet_seen.run_on_dask(client.scheduler.address, daily_reset_s=2.5)
    )
    assert [o.status for o in report.offices] == [OfficeStatus.OK], report.offices
    assert any(p.startswith("paused until ") for p in phases), phases
    office = fleet.manifest.offices[0]
    with open_existing_ledger(office.workdir) as reader:
        runs = [r for r in reader.runs() if r.mode.value == "run"]
    assert len(runs) == 1  # each reschedule resumed the same run
    assert runs[0].status is RunStatus.COMPLETED
    # The run may end with the scaled day's cap nearly spent, and reconcile reads every contact back: it
    # starts on a fresh day (a wait, not a timing assertion), so it never meets the cap it is not testing.
    time.sleep(capped.sandbox.config.day_length_s)
    _reconciled_without_duplicates(fleet, capped, ("capped",))
