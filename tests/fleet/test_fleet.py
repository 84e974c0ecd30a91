"""``Fleet`` in process against one sandbox: agency-minted location tokens refreshed as they expire, an
office of another company refused on its own, every office rolled back to exactly how it was, and
nothing secret anywhere in the fleet directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from tests.fleet._helpers import exports, normalised, write_manifest

from dentrix_highlevel.fleet import Fleet, OfficeProgress, OfficeStatus, load_manifest
from dentrix_highlevel.highlevel import OAuthToken, OAuthTokens
from dentrix_highlevel.sandbox import Sandbox, SandboxConfig
from dentrix_highlevel.sandbox._state import TokenInfo

COMPANY = "Company0000000000042"
CLIENT_ID = "agency-app-client"
CLIENT_SECRET = "agency-app-secret-value"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100, search_index_lag_ms=50))


def _agency_tokens(sandbox: Sandbox) -> OAuthTokens:
    sandbox.register_oauth_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    code = sandbox.authorization_code(client_id=CLIENT_ID, company_id=COMPANY)
    saved: list[OAuthTokens] = []

    async def redeem() -> None:
        await OAuthToken.from_authorization_code(
            code=code,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            user_type="Company",
            on_refresh=saved.append,
            transport=sandbox.transport(),
        )

    anyio.run(redeem)
    return saved[0]


def _expire_location_tokens(sandbox: Sandbox) -> int:
    minted = [token for token, info in sandbox.state.tokens.items() if info.kind == "location"]
    for token in minted:
        sandbox.expire_token(token)
    return len(minted)


def _secrets_in(directory: Path, secrets: list[str]) -> list[str]:
    found = []
    for file in directory.rglob("*"):
        if file.is_file():
            data = file.read_bytes()
            found += [f"{file.name}" for secret in secrets if secret.encode() in data]
    return found


def test_agency_minted_offices_refresh_roll_back_and_keep_no_secret(sandbox: Sandbox, tmp_path: Path) -> None:
    names = ("north", "south", "east")
    paths = exports(tmp_path, (*names, "elsewhere"), patients=5)
    locations = {name: sandbox.create_location(company_id=COMPANY) for name in names}
    foreign = sandbox.create_location(company_id="Company0000000000099")
    before = normalised(sandbox.dump())
    agency = _agency_tokens(sandbox)
    offices: list[dict[str, Any]] = [
        {"name": n, "source": f"g-export:{paths[n]}", "location_id": locations[n].location_id, "agency": True}
        for n in names
    ]
    offices.append(
        {
            "name": "elsewhere",
            "source": f"g-export:{paths['elsewhere']}",
            "location_id": foreign.location_id,
            "agency": True,
        }
    )
    manifest = load_manifest(
        write_manifest(
            tmp_path / "group" / "fleet.toml",
            offices,
            base_url="http://127.0.0.1",
            agency={"company_id": COMPANY},
        )
    )
    environ = {
        "HIGHLEVEL_AGENCY_ACCESS_TOKEN": agency.access_token,
        "HIGHLEVEL_AGENCY_REFRESH_TOKEN": agency.refresh_token,
        "HIGHLEVEL_CLIENT_ID": CLIENT_ID,
        "HIGHLEVEL_CLIENT_SECRET": CLIENT_SECRET,
    }
    rotated: list[OAuthTokens] = []
    events: list[OfficeProgress] = []
    fleet = Fleet(
        manifest,
        max_offices=2,
        environ=environ,
        transport=sandbox.transport(),
        on_agency_refresh=rotated.append,
        progress=events.append,
    )

    async def story() -> dict[str, Any]:
        out: dict[str, Any] = {"plan": await fleet.plan()}
        out["approve"] = await fleet.approve(by="ops@group.example", offices=list(names))
        # Every minted location token and the agency token expire: each office mints again, the agency
        # credential refreshes (once, shared by the offices), and nobody notices.
        assert _expire_location_tokens(sandbox) == 3
        sandbox.expire_token(agency.access_token)
        out["run"] = await fleet.run()
        out["reconcile"] = await fleet.reconcile(offices=list(names))
        out["rollback"] = await fleet.rollback(offices=list(names))
        return out

    reports = anyio.run(story)
    statuses = {op: {o.office: o.status for o in r.offices} for op, r in reports.items()}
    assert statuses["plan"] == dict.fromkeys(names, OfficeStatus.OK) | {"elsewhere": OfficeStatus.FAILED}
    assert "token request rejected" in (reports["plan"].offices[3].reason or "")
    assert statuses["run"] == dict.fromkeys(names, OfficeStatus.OK) | {"elsewhere": OfficeStatus.HELD}
    assert statuses["reconcile"] == dict.fromkeys(names, OfficeStatus.OK)
    assert statuses["rollback"] == dict.fromkeys(names, OfficeStatus.OK)
    assert all(fleet.minted[n].exchanges >= 2 for n in names)
    assert len(rotated) == 1
    assert {e.office for e in events} == {*names, "elsewhere"}
    assert any(e.total and e.done == e.total for e in events)

    # Every sub-account is as it was (the foreign one was never touched).
    assert normalised(sandbox.dump()) == before
    # Only minted location tokens acted on the locations: each for its own.
    infos: list[TokenInfo] = [i for i in sandbox.state.tokens.values() if i.kind == "location"]
    assert {i.location_id for i in infos} == {loc.location_id for loc in locations.values()}

    secrets = [agency.access_token, agency.refresh_token, CLIENT_SECRET]
    secrets += [t.access_token for t in rotated] + [t.refresh_token for t in rotated]
    secrets += [token for token, info in sandbox.state.tokens.items() if info.kind == "location"]
    assert _secrets_in(tmp_path / "group", secrets) == []
    assert all(secret not in repr(fleet.minted) for secret in secrets)


def test_missing_credentials_fail_only_their_office(sandbox: Sandbox, tmp_path: Path) -> None:
    paths = exports(tmp_path, ("a", "b"), patients=3)
    a, b = sandbox.create_location(), sandbox.create_location()
    offices = [
        {"name": "a", "source": f"g-export:{paths['a']}", "location_id": a.location_id, "token_env": "PIT_A"},
        {"name": "b", "source": f"g-export:{paths['b']}", "location_id": b.location_id, "token_env": "PIT_B"},
    ]
    manifest = load_manifest(write_manifest(tmp_path / "fleet.toml", offices, base_url="http://127.0.0.1"))
    fleet = Fleet(manifest, environ={"PIT_A": a.token}, transport=sandbox.transport())
    report = anyio.run(fleet.plan)
    assert [o.status for o in report.offices] == [OfficeStatus.OK, OfficeStatus.FAILED]
    assert report.offices[1].reason == "the environment variable PIT_B (the office's token) is not set"
    assert (tmp_path / "fleet-report.json").is_file()
    status = anyio.run(fleet.status)
    assert [o.reason for o in status.offices] == ["planned, not approved", "not planned"]
