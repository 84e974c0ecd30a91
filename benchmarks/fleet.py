"""How close does a fleet of offices come to the sum of their rate budgets?

Writes ``--offices`` small synthetic practices as G exports, makes as many locations in one sandbox with
100 requests per ``--window-ms`` per location (HighLevel's 10 s by default), and runs ``Fleet`` plan →
approve → run → reconcile → rollback over them. The sandbox runs in a process of its own and the fleet
talks HTTP to it on loopback, as a real HighLevel is another machine (``--in-process`` serves it from the
fleet's process through its transport, as before: then the sandbox's CPU counts against the fleet's).
``--dask-workers N`` runs the offices as ``fleet run --dask`` does, on N local worker processes. Prints a
short table, then ONE JSON line:

- ``fleet_rate_utilization``: requests the run sent per second over its *sending period* (the first to
  the last request of ``fleet run``, all offices) ÷ (offices × the per-location budget rate). The same
  definition as before. 1.0 is every location at its budget the whole time; it stays below because each
  office's setup requests are sequential and offices finish at different times.
- ``command_rate_utilization``: the same over the whole ``fleet run`` (from the call to its return:
  opening every office before its first request, and the last office's end after its last one): stricter.
- ``size_bound``: mean ÷ largest office's requests (``office_requests_min_max``): the most
  ``fleet_rate_utilization`` can be even with every office at exactly its budget from the same instant,
  as the sending period lasts as long as the largest office.
- ``office_rate_utilization_mean``: each office against its own budget over its own sending period, averaged.
- ``client_cpu_ms_per_request`` / ``client_cpu_share_of_run``: CPU of the fleet's process(es) during
  the run (workers included) per request, and ÷ the run's wall time (near 1.0 × processes: CPU-bound).
  ``sandbox_cpu_ms_per_request``: the sandbox process's own.
- ``http_429``: answers 429 during the whole benchmark (the limiters keep it at 0).
- ``peak_rss_mb_per_office``: the fleet process's peak RSS ÷ offices.
- ``reconciled_offices`` / ``rolled_back_clean``: every office reconciles, and the rollback leaves every
  sub-account exactly as it was (a normalised dump compare); ``not_ok`` names any office that did not.

    python -m benchmarks.fleet [--offices 20] [--patients 30] [--window-ms 10000] [--dask-workers 2]

The figures are ratios that transfer between machines, never wall-clock targets; a busy machine lowers
them. What limits them is CPU: a request costs the fleet's process about 5 ms of CPU over loopback HTTP
(client, engine and ledger; about 7 ms summed over the processes with Dask), so 20 offices at HighLevel's
budget (200 requests/s) need about the one core a Python process can use; offices on several processes
(``--dask-workers``) share the machine's cores. On a machine whose cores other work keeps busy, no setting
reaches the budget. And the offices' sizes: see ``size_bound``.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import anyio

from dentrix_highlevel.fleet import Fleet, OfficeStatus, load_manifest
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig, SandboxServer
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

RATE_MAX = 100
_VOLATILE = {"dateAdded", "dateUpdated", "updatedAt", "createdAt", "lastStatusChangeAt", "lastStageChangeAt"}


def _normalised(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalised(v) for k, v in value.items() if k not in _VOLATILE and v is not None}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def _manifest(
    root: Path, offices: list[tuple[str, Path, str]], *, base_url: str, window_ms: int, concurrency: int
) -> Path:
    lines = [
        "[defaults]",
        f'base_url = "{base_url}"',
        f"rate_max = {RATE_MAX}",
        f"rate_window_ms = {window_ms}",
        f"concurrency = {concurrency}",
        "[defaults.policies]",
        "search_lag_s = 0.06",
        "ambiguous_lookup_s = 5.0",
    ]
    for name, export, location_id in offices:
        lines += [
            "[[office]]",
            f'name = "{name}"',
            f'source = "g-export:{export}"',
            f'location_id = "{location_id}"',
            f'token_env = "PIT_{name.upper().replace("-", "_")}"',
        ]
    path = root / "fleet" / "fleet.toml"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Served:
    """The sandbox the fleet talks to, in this process (its transport) or in a process of its own (HTTP on
    loopback, as a real HighLevel is another machine): the same questions either way."""

    def __init__(self, sandbox: Sandbox | None, conn: Connection | None, base_url: str) -> None:
        self._sandbox, self._conn, self.base_url = sandbox, conn, base_url

    def ask(self, command: str, *args: Any) -> Any:
        if self._sandbox is not None:
            return _answer(self._sandbox, command, args)
        assert self._conn is not None
        self._conn.send((command, args))
        return self._conn.recv()

    def transport(self) -> Any:
        return self._sandbox.transport() if self._sandbox is not None else None


def _answer(sandbox: Sandbox, command: str, args: tuple[Any, ...]) -> Any:
    if command == "clock":
        return sandbox.config.clock()
    if command == "cpu":
        return time.process_time()
    if command == "locations":
        return [
            (info.location_id, info.token)
            for info in (sandbox.create_location(name=f"Office {i + 1}") for i in range(args[0]))
        ]
    if command == "log":  # (time, location, status) of every request: identifiers only
        return [(r.time_s, str(r.location_id), r.status) for r in sandbox.request_log]
    if command == "dump":
        return sandbox.dump()
    if command == "max_in_window":
        return sandbox.max_requests_in_window(location_id=args[0])
    raise ValueError(command)


def _serve(config: dict[str, Any], conn: Connection) -> None:
    """The child process: the sandbox on loopback, answering the benchmark's questions on ``conn``."""
    sandbox = Sandbox(SandboxConfig(**config))
    with SandboxServer(sandbox, create_location=False) as server:
        conn.send(server.base_url)
        while True:
            command, args = conn.recv()
            if command == "stop":
                return
            conn.send(_answer(sandbox, command, args))


@contextmanager
def _sandbox(config: dict[str, Any], *, in_process: bool) -> Iterator[_Served]:
    if in_process:
        yield _Served(Sandbox(SandboxConfig(**config)), None, "http://127.0.0.1")
        return
    # spawn, not fork: the parent may hold threads and an event loop a fork would copy half of.
    parent, child = multiprocessing.get_context("spawn").Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(config, child), daemon=True)
    process.start()
    try:
        yield _Served(None, parent, parent.recv())
    finally:
        parent.send(("stop", ()))
        process.join(timeout=30)


def _workers_cpu(cluster: Any) -> float:
    if cluster is None:
        return 0.0
    return float(sum(cluster.run(time.process_time).values()))


@contextmanager
def _cluster(workers: int, offices: int, environ: dict[str, str]) -> Iterator[Any]:
    """``workers`` Dask worker processes on this machine (None for none): the run's offices spread over
    several processes, each with its own interpreter lock, as ``fleet run --dask`` does on a cluster.
    A task is one office, so a worker has a thread per office it holds: all offices run at once."""
    if not workers:
        yield None
        return
    import importlib
    import os

    distributed: Any = importlib.import_module("distributed")  # untyped: through Any
    # Workers read the offices' tokens from their own environment, inherited when they start.
    os.environ.update(environ)
    with (
        distributed.LocalCluster(
            n_workers=workers,
            processes=True,
            threads_per_worker=-(-offices // workers),
            dashboard_address=None,
            worker_dashboard_address=None,
            silence_logs=40,
        ) as started,
        distributed.Client(started) as client,
    ):
        yield client


async def _story(fleet: Fleet, sandbox: _Served, cluster: Any) -> dict[str, Any]:
    await fleet.plan()
    await fleet.approve(by="benchmark")
    started_s = sandbox.ask("clock")
    started, cpu, served_cpu = time.perf_counter(), time.process_time(), sandbox.ask("cpu")
    workers_cpu = _workers_cpu(cluster)
    run = await (fleet.run_on_dask(cluster.scheduler.address) if cluster is not None else fleet.run())
    wall_s = time.perf_counter() - started
    cpu_s, served_cpu_s = time.process_time() - cpu, sandbox.ask("cpu") - served_cpu
    cpu_s += _workers_cpu(cluster) - workers_cpu
    ended_s = sandbox.ask("clock")
    window = [r for r in sandbox.ask("log") if started_s <= r[0] <= ended_s]
    per_location: dict[str, list[float]] = {}
    for time_s, location_id, _ in window:
        per_location.setdefault(location_id, []).append(time_s)
    reconcile = await fleet.reconcile()
    rollback = await fleet.rollback()
    return {
        "run": run,
        "reconcile": reconcile,
        "rollback": rollback,
        "sent": [r[0] for r in window],
        "per_location": per_location,
        "started_s": started_s,
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "served_cpu_s": served_cpu_s,
    }


def run_fleet(
    offices: int,
    patients: int,
    *,
    window_ms: int,
    concurrency: int,
    max_offices: int,
    seed: int,
    in_process: bool = False,
    dask_workers: int = 0,
) -> dict[str, Any]:
    config = {"rate_window_ms": window_ms, "rate_max": RATE_MAX, "search_index_lag_ms": 50}
    with (
        _sandbox(config, in_process=in_process) as sandbox,
        tempfile.TemporaryDirectory(prefix="dentrix-highlevel-fleet-bench-") as tmp,
    ):
        root = Path(tmp)
        entries, environ = [], {}
        for i, (location_id, token) in enumerate(sandbox.ask("locations", offices)):
            name = f"office-{i + 1:02d}"
            export = root / "exports" / name
            write_g_export(SyntheticPractice(SynthConfig(patients=patients, seed=seed + i)), export)
            environ[f"PIT_{name.upper().replace('-', '_')}"] = token
            entries.append((name, export, location_id))
        before = _normalised(copy.deepcopy(sandbox.ask("dump")))
        manifest = load_manifest(
            _manifest(root, entries, base_url=sandbox.base_url, window_ms=window_ms, concurrency=concurrency)
        )
        fleet = Fleet(manifest, max_offices=max_offices, environ=environ, transport=sandbox.transport())
        with _cluster(dask_workers, offices, environ) as cluster:
            story = anyio.run(_story, fleet, sandbox, cluster)
        after = _normalised(copy.deepcopy(sandbox.ask("dump")))
        log = sandbox.ask("log")
        max_in_window = max(sandbox.ask("max_in_window", location_id) for _, _, location_id in entries)
    sent: list[float] = story["sent"]
    period_s = (max(sent) - min(sent)) if len(sent) > 1 else 0.0
    budget_rate = offices * RATE_MAX / (window_ms / 1000)
    achieved = len(sent) / period_s if period_s else 0.0
    # Each office against its own budget over its own sending period: what the tail of offices finishing
    # at different times hides in the fleet-wide figure.
    per_office = [
        len(times) / (max(times) - min(times)) / (RATE_MAX / (window_ms / 1000))
        for times in story["per_location"].values()
        if len(times) > 1 and max(times) > min(times)
    ]
    # Offices differ in size: even each at exactly its budget from the same instant, the fleet's sending
    # period lasts as long as the largest office, so the fleet-wide figure cannot pass mean ÷ max.
    sizes = [len(times) for times in story["per_location"].values()]
    statuses = Counter(status for _, _, status in log)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if sys.platform == "darwin":  # bytes there, kilobytes on Linux
        peak_rss_mb /= 1024
    completed = [o for o in story["run"].offices if o.status is OfficeStatus.OK]
    # Which offices did not end well, and why (the fleet's one-sentence reasons: identifiers only).
    not_ok = {
        f"{command} {o.office}": f"{o.status.value}: {o.reason}"
        for command in ("run", "reconcile", "rollback")
        for o in story[command].offices
        if o.status is not OfficeStatus.OK
    }
    return {
        "offices": offices,
        "patients_per_office": patients,
        "completed_offices": len(completed),
        "not_ok": not_ok,
        "reconciled_offices": sum(1 for o in story["reconcile"].offices if o.status is OfficeStatus.OK),
        "rolled_back_clean": after == before
        and all(o.status is OfficeStatus.OK for o in story["rollback"].offices),
        "fleet_rate_utilization": round(achieved / budget_rate, 3),
        "office_rate_utilization_mean": round(sum(per_office) / len(per_office), 3) if per_office else None,
        "achieved_requests_per_s": round(achieved, 1),
        "budget_requests_per_s": round(budget_rate, 1),
        "run_requests": len(sent),
        "office_requests_min_max": [min(sizes), max(sizes)] if sizes else None,
        "size_bound": round(sum(sizes) / len(sizes) / max(sizes), 3) if sizes else None,
        "run_wall_s": round(story["wall_s"], 2),
        "http_429": statuses.get(429, 0),
        "max_in_window_per_location": max_in_window,
        "command_rate_utilization": round(len(sent) / story["wall_s"] / budget_rate, 3),
        "first_request_after_s": round(min(sent) - story["started_s"], 2) if sent else None,
        "client_cpu_ms_per_request": round(1000 * story["cpu_s"] / max(1, len(sent)), 3),
        "client_cpu_share_of_run": round(story["cpu_s"] / story["wall_s"], 2),
        "sandbox_cpu_ms_per_request": None
        if in_process
        else round(1000 * story["served_cpu_s"] / max(1, len(sent)), 3),
        "peak_rss_mb_per_office": round(peak_rss_mb / offices, 1),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "scale": {"window_ms": window_ms, "rate_max": RATE_MAX, "max_offices": max_offices},
        "sandbox": "in-process" if in_process else "own process",
        "dask_workers": dask_workers,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--offices", type=int, default=20)
    parser.add_argument("--patients", type=int, default=30, help="patients per office")
    parser.add_argument("--window-ms", type=int, default=10_000, help="the rate window (HighLevel: 10000)")
    parser.add_argument("--concurrency", type=int, default=8, help="patients in flight per office")
    parser.add_argument("--max-offices", type=int, default=None, help="offices in flight (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dask-workers",
        type=int,
        default=0,
        help="run the offices on this many local Dask worker processes (fleet run --dask)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="serve the sandbox in this process (its transport) instead of a process of its own",
    )
    args = parser.parse_args(argv)
    result = run_fleet(
        args.offices,
        args.patients,
        window_ms=args.window_ms,
        concurrency=args.concurrency,
        max_offices=args.max_offices or args.offices,
        seed=args.seed,
        in_process=args.in_process,
        dask_workers=args.dask_workers,
    )
    print(
        f"{result['offices']} offices x {result['patients_per_office']} patients, {RATE_MAX} requests per "
        f"{args.window_ms} ms per location (scaled)"
    )
    print(
        f"rate ÷ fleet budget   {result['fleet_rate_utilization']} "
        f"({result['achieved_requests_per_s']} of {result['budget_requests_per_s']} requests/s)"
    )
    print(f"429 responses         {result['http_429']}")
    print(f"reconciled / rollback {result['reconciled_offices']} / clean={result['rolled_back_clean']}")
    print(f"peak RSS per office   {result['peak_rss_mb_per_office']} MB")
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
