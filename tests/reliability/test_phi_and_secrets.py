"""The whole flow (plan → approve → sample → run → delta → reconcile → rollback) on a practice whose every PHI
value is a unique marker, over OAuth with a token that expires mid-run (refresh-token rotation) and with
faults that make the engine log and raise: no marker and no secret appears anywhere but where values
belong (the payloads HighLevel receives, the sample diff report, the ledger's payload columns)."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import stat
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.migration._engine_helpers import scaled_sandbox
from tests.reliability._corpus import PATIENT_FILE, _encode_row, _set, rewrite
from tests.reliability._markers import find_markers, marker_export

from dentrix_highlevel.errors import ConfigurationError, HighLevelError
from dentrix_highlevel.highlevel import (
    ContactInput,
    HighLevelClient,
    OAuthToken,
    OAuthTokens,
    RateBudget,
    RateLimiter,
)
from dentrix_highlevel.migration import (
    LocationSnapshot,
    Migration,
    MigrationPolicies,
    MigrationProgress,
    RunStatus,
    build_plan,
)
from dentrix_highlevel.migration._state.sqlite import LEDGER_FILENAME, PAYLOAD_COLUMNS
from dentrix_highlevel.sandbox import FaultConfig
from dentrix_highlevel.sources import GExportSource

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
CLIENT_SECRET = "cs-0d5e9b0c7f3a4e21a6b8c9d0e1f2a3b4"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def root_debug() -> Iterator[_Capture]:
    capture = _Capture()
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


def _ledger_text(path: Path) -> tuple[str, str]:
    """(every non-payload cell, every payload cell) of the ledger as text."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    plain: list[str] = []
    payload: list[str] = []
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = db.execute(f'SELECT * FROM "{table}"')  # noqa: S608 -- names from sqlite_master
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    (payload if (table, column) in PAYLOAD_COLUMNS else plain).append(str(value))
    finally:
        db.close()
    return "\n".join(plain), "\n".join(payload)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_no_phi_and_no_secret_leaks_through_the_whole_flow(
    tmp_path: Path, root_debug: _Capture, capsys: pytest.CaptureFixture[str]
) -> None:
    export, markers = marker_export(tmp_path)
    tomorrow = tmp_path / "markers-tomorrow"
    shutil.copytree(export, tomorrow)
    rewrite(
        tomorrow,
        PATIENT_FILE,
        lambda key, cells, header: (
            [_encode_row(_set(header, cells, "city", "Qz1002ctnew"))] if key == "1002" else None
        ),
    )
    markers.add("qz1002ctnew")

    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    sandbox.register_oauth_app(client_id="dhl-reliability", client_secret=CLIENT_SECRET)
    issued: list[OAuthTokens] = []
    auth = await OAuthToken.from_authorization_code(
        code=sandbox.authorization_code(client_id="dhl-reliability", location_id=loc.location_id),
        client_id="dhl-reliability",
        client_secret=CLIENT_SECRET,
        on_refresh=issued.append,
        transport=sandbox.transport(),
    )
    config = sandbox.config
    budget = RateBudget(max_requests=config.rate_max, window_ms=config.rate_window_ms, daily_reserve=0)
    workdir = tmp_path / "work"
    staging = tmp_path / "staging"
    texts: list[str] = []  # everything a person or a log collector could see
    progress: list[MigrationProgress] = []
    expired: list[str] = []

    def on_progress(event: MigrationProgress) -> None:
        progress.append(event)
        if event.done == 5 and not expired:
            # The access token dies mid-run: the client must refresh (rotating the refresh token) and go on.
            expired.append(issued[-1].access_token)
            sandbox.expire_token(issued[-1].access_token)

    policies = MigrationPolicies(search_lag_s=0.0)
    async with HighLevelClient(
        location_id=loc.location_id,
        auth=auth,
        transport=sandbox.transport(),
        budget=budget,
        limiter=RateLimiter(budget),
    ) as hl:
        source = GExportSource(export, staging_dir=staging)
        async with source, GExportSource(tomorrow, staging_dir=staging) as tomorrow_source:
            # The staging indexes hold PHI: owner-only while they exist.
            staged_dirs = list(staging.iterdir())
            assert len(staged_dirs) == 2
            assert all(_mode(d) == 0o700 for d in staged_dirs)
            assert all(_mode(p) == 0o600 for d in staged_dirs for p in d.iterdir())
            plan = await build_plan(source, policies=policies, location=await LocationSnapshot.read(hl))
            plan.save(workdir)
            texts += [plan.to_markdown(), repr(plan)[:100_000]]
            texts += [repr(b) for b in source.iter_bundles()] + [str(i) for i in source.issues]
            async with Migration(
                source, hl, workdir=workdir, policies=policies, progress=on_progress
            ) as migration:
                migration.approve(by="office.manager")
                sampled = await migration.sample(4)
                assert sampled.report is not None
                sandbox.set_faults(
                    FaultConfig(error_rate=0.03, created_anyway_rate=0.15, error_after_commit_rate=0.03)
                )
                result = None
                for _attempt in range(8):
                    try:
                        result = await migration.run()
                    except HighLevelError as exc:
                        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
                        continue
                    if result.status is RunStatus.COMPLETED and result.reconciliation.totals().failed == 0:
                        break
                assert result is not None
                assert result.status is RunStatus.COMPLETED
                sandbox.set_faults(FaultConfig())
                assert expired, "the token expired mid-run"
                assert auth.refreshes >= 1
                delta = await migration.delta(tomorrow_source)
                assert delta.status is RunStatus.COMPLETED
                checked = await migration.reconcile()
                assert checked.ok, checked.mismatches
                # Values sent to HighLevel: the markers really flowed (so their absence elsewhere means
                # something), including the delta's change.
                dump = repr(sandbox.dump())
                assert len(find_markers(dump, markers)) > len(markers) // 3
                assert "Qz1002ctnew" in dump
                sample_text = sampled.report.read_text(encoding="utf-8")
                assert find_markers(sample_text, markers), "the sample diff shows values: that is its job"
                assert _mode(sampled.report) == 0o600
                # Our own misuse errors name the problem, never the value.
                for bad in (
                    lambda: hl.contacts.find_duplicate(phone="call me maybe"),
                    lambda: hl.contacts.upsert(ContactInput(first_name="Qz9999fn")),
                ):
                    with pytest.raises(ConfigurationError) as caught:
                        await bad()
                    texts += [str(caught.value), repr(caught.value)]
                # HighLevel's duplicate search takes the e-mail and phone in the query string: it must not
                # reach a log line (httpx logs every request URL at INFO). It is a search: settle first.
                sandbox.settle_search_index()
                assert await hl.contacts.find_duplicate(email="qz1001em@example.org") is not None
                await hl.contacts.find_duplicate(phone="(720) 555-1001")
                markers |= {"call me maybe", "qz9999fn"}
                rolled = await migration.rollback()
                assert rolled.status is RunStatus.COMPLETED
                csv_path, jsonl_path = migration.export_audit()
                texts += [repr(migration), repr(hl), repr(auth), repr(source), repr(result), repr(delta)]
                texts += [e.line() for e in progress] + [repr(e) for e in progress]
        assert not staging.exists() or not any(staging.iterdir()), "the staging index is deleted on close"

    out = capsys.readouterr()
    texts += [out.out, out.err, *root_debug.lines]
    assert root_debug.lines, "the flow logged at DEBUG (else this test proves nothing about logs)"
    audit = csv_path.read_text(encoding="utf-8") + jsonl_path.read_text(encoding="utf-8")
    plain, payload = _ledger_text(workdir / LEDGER_FILENAME)
    other_files = {
        p.name: p.read_bytes().decode("utf-8", errors="replace")
        for p in workdir.iterdir()
        if p.is_file() and not p.name.startswith(("sample-", LEDGER_FILENAME))
    }
    everywhere = {"texts": "\n".join(texts), "audit": audit, "ledger": plain, **other_files}
    for where, text in everywhere.items():
        assert find_markers(text, markers) == [], f"PHI marker(s) in {where}"

    # Secrets: every access and refresh token ever issued, and the client secret.
    secrets = {CLIENT_SECRET} | {t.access_token for t in issued} | {t.refresh_token for t in issued}
    assert len(issued) >= 2, "the first pair and at least one rotation"
    assert len({t.refresh_token for t in issued}) == len(issued), "every refresh rotated the refresh token"
    all_bytes = b"".join(p.read_bytes() for p in workdir.rglob("*") if p.is_file())
    for secret in secrets:
        assert secret not in everywhere["texts"] + audit + plain + payload
        assert secret.encode() not in all_bytes
        assert secret not in repr(issued)

    # Owner-only: the work directory and what in it holds PHI.
    assert _mode(workdir) == 0o700
    for path in workdir.iterdir():
        if path.name.startswith((LEDGER_FILENAME, "sample-", "audit")):
            assert _mode(path) == 0o600, path.name


async def test_reprs_of_credentials_hide_tokens() -> None:
    token = OAuthToken(
        access_token="at-secret-1",
        refresh_token="rt-secret-2",
        client_id="app",
        client_secret=CLIENT_SECRET,
        expires_at=0.0,
    )
    pair = OAuthTokens(access_token="at-secret-1", refresh_token="rt-secret-2", expires_at=0.0)
    client = HighLevelClient(location_id="loc1", auth=token)
    pit = HighLevelClient(location_id="loc1", token="pit-secret-3")
    text = " ".join(repr(x) + str(x) for x in (token, pair, client, pit, pit.auth))
    await client.aclose()
    await pit.aclose()
    for secret in ("at-secret-1", "rt-secret-2", CLIENT_SECRET, "pit-secret-3"):
        assert secret not in text
