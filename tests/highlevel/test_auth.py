"""Auth flows against the sandbox: PIT, OAuth code + refresh (on expiry and on 401, single-flight, rotated
refresh token persisted), agency → location exchange; secrets never in repr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from dentrix_highlevel.errors import AuthenticationError, ConfigurationError
from dentrix_highlevel.highlevel import (
    AgencyLocationToken,
    HighLevelClient,
    OAuthToken,
    OAuthTokens,
    PrivateIntegrationToken,
)

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., HighLevelClient]
CLIENT_ID, CLIENT_SECRET = "app-123", "shh-secret-value"


class WallClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def oauth_for(sandbox: Any, loc: Any, saved: list[OAuthTokens], clock: WallClock) -> OAuthToken:
    sandbox.register_oauth_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    code = sandbox.authorization_code(client_id=CLIENT_ID, location_id=loc.location_id)
    return await OAuthToken.from_authorization_code(
        code=code,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        on_refresh=saved.append,
        transport=sandbox.transport(),
        clock=clock,
    )


async def test_pit_is_static_and_hidden() -> None:
    pit = PrivateIntegrationToken("pit-abc-123")
    assert "pit-abc-123" not in repr(pit)
    assert "pit-abc-123" not in str(pit)
    with pytest.raises(ConfigurationError):
        PrivateIntegrationToken("pit with spaces")


async def test_oauth_refreshes_on_401_once_for_all_concurrent_tasks(
    make_client: MakeClient, scaled_sandbox: Any, loc: Any
) -> None:
    saved: list[OAuthTokens] = []
    clock = WallClock()
    auth = await oauth_for(scaled_sandbox, loc, saved, clock)
    assert len(saved) == 1
    assert saved[0].location_id == loc.location_id
    async with make_client(auth=auth) as hl:
        await hl.locations.get()
        scaled_sandbox.expire_token(saved[0].access_token)

        async def read() -> None:
            await hl.locations.get()

        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(read)
    assert auth.refreshes == 1
    assert len(saved) == 2
    assert saved[1].refresh_token != saved[0].refresh_token  # rotated, and handed to the callback
    statuses = [r.status for r in scaled_sandbox.request_log if r.path.startswith("/locations")]
    assert statuses.count(200) == 9
    assert 1 <= statuses.count(401) <= 8
    for text in (repr(auth), str(auth)):
        for secret in (saved[1].access_token, saved[1].refresh_token, CLIENT_SECRET):
            assert secret not in text
    assert saved[1].access_token not in repr(saved[1])


async def test_oauth_refreshes_before_expiry_without_a_401(
    make_client: MakeClient, scaled_sandbox: Any, loc: Any
) -> None:
    saved: list[OAuthTokens] = []
    clock = WallClock()
    auth = await oauth_for(scaled_sandbox, loc, saved, clock)
    clock.now = auth.expires_at - 10  # inside the 5-minute refresh margin
    async with make_client(auth=auth) as hl:
        await hl.locations.get()
    assert auth.refreshes == 1
    assert [r.status for r in scaled_sandbox.request_log if r.path.startswith("/locations")] == [200]


async def test_a_refresh_with_a_used_refresh_token_fails_clearly(scaled_sandbox: Any, loc: Any) -> None:
    saved: list[OAuthTokens] = []
    clock = WallClock()
    auth = await oauth_for(scaled_sandbox, loc, saved, clock)
    async with HighLevelClient(
        location_id=loc.location_id, auth=auth, transport=scaled_sandbox.transport()
    ) as hl:
        await auth.refresh(hl.token_endpoint, rejected=saved[0].access_token)
        stale = OAuthToken(
            access_token="oat-stale",
            refresh_token=saved[0].refresh_token,  # already rotated away
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            expires_at=0.0,
            clock=clock,
        )
        with pytest.raises(AuthenticationError) as caught:
            await stale.token(hl.token_endpoint)
    assert saved[0].refresh_token not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


async def test_agency_token_is_exchanged_for_the_location_and_again_after_401(
    make_client: MakeClient, scaled_sandbox: Any, loc: Any
) -> None:
    scaled_sandbox.register_oauth_app(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    code = scaled_sandbox.authorization_code(client_id=CLIENT_ID, company_id=loc.company_id)
    saved: list[OAuthTokens] = []
    agency = await OAuthToken.from_authorization_code(
        code=code,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        user_type="Company",
        on_refresh=saved.append,
        transport=scaled_sandbox.transport(),
    )
    auth = AgencyLocationToken(agency=agency, company_id=loc.company_id, location_id=loc.location_id)
    async with make_client(auth=auth) as hl:
        location = await hl.locations.get()
        assert location.id == loc.location_id
        assert auth.exchanges == 1
        first = await auth.token(hl.token_endpoint)
        scaled_sandbox.expire_token(first)
        await hl.locations.get()
    assert auth.exchanges == 2
    assert first not in repr(auth)
    assert saved[0].access_token not in repr(auth)
    with pytest.raises(ConfigurationError):
        AgencyLocationToken(agency=agency, company_id="", location_id=loc.location_id)
