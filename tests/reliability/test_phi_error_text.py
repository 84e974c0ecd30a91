"""A HighLevel that echoes PHI in every error field — ``message`` as a string, a list and an object,
``error``, ``code``, ``traceId``, ``meta`` (nested), the ``x-trace-id`` / ``Retry-After`` headers and one of
its own — refuses the related writes of a migration (notes, tasks, opportunities, appointments) and some
contact creates (as duplicates whose ``meta.contactId`` is PHI). Run through the public API and through the
command line, the markers reach none of: the audit export, the ledger's non-payload cells, the other files
of the work directory, stdout/stderr, log records, exception ``str()``/``repr()``."""

from __future__ import annotations

import itertools
import json
import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.cli._cli import SCALED, cli
from tests.migration._engine_helpers import export, scaled_sandbox

from dentrix_highlevel._loopback_server import LoopbackServer
from dentrix_highlevel.errors import HighLevelError
from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter
from dentrix_highlevel.migration import LocationSnapshot, Migration, MigrationPolicies, build_plan
from dentrix_highlevel.migration._state.sqlite import LEDGER_FILENAME, PAYLOAD_COLUMNS
from dentrix_highlevel.sandbox import Sandbox
from dentrix_highlevel.sources import GExportSource

pytestmark = [pytest.mark.slow]

PHI = "PHI-MARKER-Jane-Doe-1955"
DX = "diagnosis-MARKER"
MARKS = ("phi-marker", "diagnosis-marker", "elm street")

_REFUSED = re.compile(r"^/(contacts/[^/]+/(notes|tasks)|opportunities/|calendars/events/appointments)$")


def _bodies() -> list[tuple[int, Any]]:
    said = f"{PHI}, 12 Elm Street, {DX}"
    return [
        (
            422,
            {
                "statusCode": 422,
                "message": [
                    said,
                    "customFields.0.value must be a string",
                    f"property {PHI} should not exist",
                ],
                "error": said,
                "traceId": PHI,
                "meta": {"patient": said, "nested": {"dx": [DX, {"name": PHI}]}},
            },
        ),
        (400, {"statusCode": 400, "message": said, "error": PHI, "code": f"{PHI}_X", "traceId": said}),
        (409, {"statusCode": 409, "message": {"text": said, "list": [PHI]}, "error": DX}),
        (400, {"statusCode": 400, "message": f"{PHI} not found", "meta": {"contactId": PHI}}),
        (422, {"statusCode": 422, "message": ["email must be an email", said], "errors": [said]}),
    ]


class PhiEcho:
    """ASGI middleware over the sandbox app: refuses the matching writes with PHI in every field."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._answers = itertools.cycle(_bodies())
        self._contacts = itertools.count()
        self.refused = 0

    def _hostile(self, method: str, path: str) -> tuple[int, Any] | None:
        if method != "POST":
            return None
        if _REFUSED.match(path):
            return next(self._answers)
        if path == "/contacts/" and next(self._contacts) % 3 == 1:
            # A duplicate whose "existing contact" is PHI: it must not become a request path or a reason.
            return 400, {
                "statusCode": 400,
                "message": "This location does not allow duplicated contacts.",
                "meta": {"contactId": PHI, "matchingField": f"{PHI} email", "contactName": DX},
                "traceId": PHI,
            }
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        hostile = (
            self._hostile(scope.get("method", ""), scope.get("path", "")) if scope["type"] == "http" else None
        )
        if hostile is None:
            await self.app(scope, receive, send)
            return
        self.refused += 1
        while (await receive()).get("more_body"):
            pass
        status, body = hostile
        headers = [
            (b"content-type", b"application/json"),
            (b"x-trace-id", PHI.encode()),
            (b"retry-after", DX.encode()),
            (b"x-patient", f"{PHI} {DX}".encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def files_text(workdir: Path) -> str:
    return "\n".join(_workdir_texts(workdir).values())


def _found(text: str) -> list[str]:
    low = text.lower()
    return [m for m in MARKS if m in low]


def _ledger_plain(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cells: list[str] = []
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 -- names from sqlite_master
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    if (table, column) not in PAYLOAD_COLUMNS:
                        cells.append(str(value))
    finally:
        db.close()
    return "\n".join(cells)


def _reasons(path: Path) -> list[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [str(r[0]) for r in db.execute("SELECT reason FROM records WHERE reason LIKE 'HighLevel%'")]
    finally:
        db.close()


def _workdir_texts(workdir: Path) -> dict[str, str]:
    """Every file of the work directory but the sample diff (values are its job) and the ledger (read by
    cell, payload columns excepted)."""
    return {
        str(p.relative_to(workdir)): p.read_bytes().decode("utf-8", errors="replace")
        for p in workdir.rglob("*")
        if p.is_file() and not p.name.startswith(("sample-", LEDGER_FILENAME))
    }


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.anyio
async def test_a_migration_through_the_api_repeats_no_error_text(
    tmp_path: Path, all_logs: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location(allow_duplicates=False)
    echo = PhiEcho(sandbox.app)
    config = sandbox.config
    budget = RateBudget(max_requests=config.rate_max, window_ms=config.rate_window_ms, daily_reserve=0)
    workdir = tmp_path / "work"
    texts: list[str] = []
    policies = MigrationPolicies(search_lag_s=0.0)
    async with (
        HighLevelClient(
            location_id=loc.location_id,
            token=loc.token,
            base_url="http://127.0.0.1",
            transport=httpx.ASGITransport(app=echo),
            budget=budget,
            limiter=RateLimiter(budget),
        ) as hl,
        GExportSource(export(tmp_path, patients=12, seed=41)) as source,
    ):
        plan = await build_plan(source, policies=policies, location=await LocationSnapshot.read(hl))
        plan.save(workdir)
        async with Migration(source, hl, workdir=workdir, policies=policies) as migration:
            migration.approve(by="office.manager")
            try:
                result = await migration.run()
                texts += [repr(result)]
            except HighLevelError as exc:
                texts += [str(exc), repr(exc)]
            csv_path, jsonl_path = migration.export_audit()
    assert echo.refused >= 5, "the hostile answers were given (else this test proves nothing)"
    reasons = _reasons(workdir / LEDGER_FILENAME)
    assert reasons, "refusals were recorded"
    # What the audit says instead: the status and the fields at fault.
    assert any("422: customFields.0.value (invalid)" in r for r in reasons), reasons
    out = capsys.readouterr()
    logged = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in all_logs.records)
    assert any("failed" in r.getMessage() for r in all_logs.records), "the refusals were logged"
    everywhere = {
        "texts": "\n".join(texts),
        "stdout": out.out,
        "stderr": out.err,
        "logs": logged,
        "audit": csv_path.read_text("utf-8") + jsonl_path.read_text("utf-8"),
        "ledger": _ledger_plain(workdir / LEDGER_FILENAME),
        **_workdir_texts(workdir),
    }
    for where, text in everywhere.items():
        assert _found(text) == [], f"PHI marker in {where}"


def test_a_migration_through_the_cli_repeats_no_error_text(tmp_path: Path) -> None:
    sandbox = Sandbox(scaled_sandbox().config)
    loc = sandbox.create_location(allow_duplicates=False)
    echo = PhiEcho(sandbox.app)
    with LoopbackServer(echo, host="127.0.0.1", port=None, start_timeout_s=10.0) as server:
        env = {
            "HIGHLEVEL_BASE_URL": f"http://{server.host}:{server.port}",
            "HIGHLEVEL_LOCATION_ID": loc.location_id,
            "HIGHLEVEL_TOKEN": loc.token,
        }
        source = export(tmp_path, patients=8, seed=42)
        wd = ("--workdir", str(tmp_path / "wd"))
        outcomes = [cli("plan", "--source", f"g-export:{source}", *wd, *SCALED, env=env)]
        outcomes.append(cli("approve", "--by", "manager", *wd, env=env))
        outcomes.append(cli("run", "--no-progress", "--debug", *wd, *SCALED, env=env))
        outcomes.append(cli("report", *wd, env=env))
    assert [o.code for o in outcomes[:2]] == [0, 0], [str(o) for o in outcomes]
    for outcome in outcomes:
        assert _found(outcome.output) == [], str(outcome)
    run = outcomes[2]
    assert run.code == 1, str(run)  # finished with failed records, listed
    assert echo.refused >= 5
    assert "customFields.0.value (invalid)" in files_text(tmp_path / "wd"), "the audit names the field"
    workdir = tmp_path / "wd"
    assert _found(_ledger_plain(workdir / LEDGER_FILENAME)) == []
    files = _workdir_texts(workdir)
    assert "audit.csv" in files, sorted(files)
    for name, text in files.items():
        assert _found(text) == [], f"PHI marker in {name}"
