"""Through the engine: a work directory whose ledger is foreign (another location's) or corrupt is refused
with ``LedgerError`` before a single request reaches HighLevel. (The ledger's own crash and corruption
sweeps live in tests/migration/test_ledger_sqlite_*.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration._engine_helpers import export
from tests.reliability._support import POLICIES, hl_client

from dentrix_highlevel.errors import LedgerError
from dentrix_highlevel.migration import LEDGER_FILENAME, Migration, RunStatus
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
from dentrix_highlevel.sources import GExportSource

pytestmark = pytest.mark.anyio


async def test_foreign_and_corrupt_ledgers_are_refused_before_any_request(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=4, seed=29)
    sandbox = Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100))
    first, second = sandbox.create_location(), sandbox.create_location()
    workdir = tmp_path / "wd"
    async with (
        hl_client(sandbox, first) as hl,
        GExportSource(practice) as source,
        Migration(source, hl, workdir=workdir, policies=POLICIES) as migration,
    ):
        migration.approve(by="manager")
        assert (await migration.run()).status is RunStatus.COMPLETED

    # The same work directory used for another sub-account: the ledger's identity does not match.
    log = len(sandbox.request_log)
    async with hl_client(sandbox, second) as hl, GExportSource(practice) as source:
        with pytest.raises(LedgerError) as caught:
            async with Migration(source, hl, workdir=workdir, policies=POLICIES):
                pass
    assert second.token not in str(caught.value)
    assert len(sandbox.request_log) == log

    # Bytes torn out of the middle of the ledger: refused, never trusted.
    ledger = workdir / LEDGER_FILENAME
    for suffix in ("-wal", "-shm"):
        (workdir / (LEDGER_FILENAME + suffix)).unlink(missing_ok=True)
    data = bytearray(ledger.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4096] = b"\x00\x10" * 2048
    ledger.write_bytes(bytes(data))

    async def run_again() -> None:
        async with (
            hl_client(sandbox, first) as hl,
            GExportSource(practice) as source,
            Migration(source, hl, workdir=workdir, policies=POLICIES) as migration,
        ):
            migration.approve(by="manager")
            await migration.run()

    with pytest.raises(LedgerError):
        await run_again()
    assert len(sandbox.request_log) == log
