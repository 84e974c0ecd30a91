"""AscendClient over HTTP: OAuth client credentials, refresh, headers, 429/5xx retries, paging guards.

Against the emulator (in-process ASGI) except where a *misbehaving* server is the point: those use a tiny
``httpx.MockTransport`` server function standing in for a broken API.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import anyio
import httpx
import pytest

from dentrix_highlevel.ascend_emulator import AscendEmulator, AscendEmulatorConfig
from dentrix_highlevel.errors import AscendError, ConfigurationError
from dentrix_highlevel.sources import AscendRetry
from dentrix_highlevel.sources._ascend_client import AscendClient
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

BASE_URL = "https://test.hs1api.com/ascend-gateway/api"
SECRET = "emulator-secret"


class FakeTime:
    """A monotonic clock the emulator and the client share; ``sleep`` advances it (and records)."""

    def __init__(self, *, advance_on_sleep: bool = True) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.advance_on_sleep = advance_on_sleep

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance_on_sleep:
            self.now += seconds


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=30, seed=2))


def emulator_for(practice: SyntheticPractice, time: FakeTime, **config: Any) -> AscendEmulator:
    return AscendEmulator(practice, AscendEmulatorConfig(clock=time.clock, **config))


def client_for(
    transport: httpx.AsyncBaseTransport,
    time: FakeTime,
    *,
    secret: str = SECRET,
    org: str | None = None,
    **kw: Any,
) -> AscendClient:
    return AscendClient(
        base_url=BASE_URL,
        client_id="emulator-client",
        client_secret=secret,
        organization_id=org or AscendEmulatorConfig().organization_id,
        transport=transport,
        clock=time.clock,
        sleep=time.sleep,
        **kw,
    )


async def all_ids(client: AscendClient, path: str, **kw: Any) -> list[str]:
    return [str(item["id"]) async for page in client.pages(path, **kw) for item in page.items]


@pytest.mark.anyio
async def test_token_is_reused_then_refreshed_before_it_expires(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time, token_ttl_s=100)
    client = client_for(emulator.transport(), time)
    await client.get("v1/locations")
    await client.get("v1/providers")
    assert emulator.tokens_issued == 1
    time.now += 91  # inside the 10% margin before expiry (expires_in "100" arrived as a string)
    await client.get("v1/providers")
    assert emulator.tokens_issued == 2
    assert all(r.status == 200 for r in emulator.request_log)
    token_calls = [r for r in emulator.request_log if r.method == "POST"]
    assert [r.params for r in token_calls] == [{"grant_type": "client_credentials"}] * 2
    api_calls = [r for r in emulator.request_log if r.method == "GET"]
    assert {r.organization_id for r in api_calls} == {emulator.config.organization_id}
    await client.aclose()


@pytest.mark.anyio
async def test_a_revoked_token_is_renewed_once(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time)
    client = client_for(emulator.transport(), time)
    await client.get("v1/locations")
    emulator.expire_tokens()
    body = await client.get("v1/locations")
    assert body["data"][0]["id"] == emulator.location_id
    assert [r.status for r in emulator.request_log] == [200, 200, 401, 200, 200]
    assert emulator.tokens_issued == 2
    await client.aclose()


@pytest.mark.anyio
async def test_bad_credentials_and_wrong_organization(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time)
    client = client_for(emulator.transport(), time, secret="wrong-secret-value")
    with pytest.raises(AscendError) as caught:
        await client.get("v1/patients")
    error = caught.value
    assert (error.method, error.path, error.status_code) == (
        "POST",
        "/oauth/client_credential/accesstoken",
        401,
    )
    assert "wrong-secret-value" not in str(error)
    assert "wrong-secret-value" not in repr(client)
    await client.aclose()

    other = client_for(emulator.transport(), time, org="000000000000000000000000")
    with pytest.raises(AscendError) as caught:
        await other.get("v1/patients")
    assert caught.value.status_code == 403
    assert "enabled" in str(caught.value)
    assert caught.value.path == "/ascend-gateway/api/v1/patients"
    await other.aclose()


@pytest.mark.anyio
async def test_429_waits_retry_after_and_the_read_completes(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time, rate_max=2, rate_window_ms=1000)
    client = client_for(emulator.transport(), time)
    ids = await all_ids(client, "v1/patients", page_size=5)
    assert ids == sorted(str(p["id"]) for p in emulator.objects("patients"))
    limited = [r for r in emulator.request_log if r.status == 429]
    assert limited
    assert len(time.sleeps) == len(limited)
    # Each wait is exactly what Retry-After said: the window's oldest request leaving it.
    assert all(0 < s <= 1.0 for s in time.sleeps)
    assert emulator.tokens_issued == 1
    await client.aclose()


@pytest.mark.anyio
async def test_429_that_outlasts_the_retries_fails(practice: SyntheticPractice) -> None:
    time = FakeTime(advance_on_sleep=False)  # the window never passes
    emulator = emulator_for(practice, time, rate_max=1, rate_window_ms=1000)
    client = client_for(emulator.transport(), time, retry=AscendRetry(max_attempts=4))
    await client.get("v1/locations")
    with pytest.raises(AscendError) as caught:
        await client.get("v1/locations")
    assert caught.value.status_code == 429
    assert "4 attempts" in str(caught.value)
    assert len(time.sleeps) == 3
    await client.aclose()


@pytest.mark.anyio
async def test_a_retry_after_beyond_max_wait_fails_at_once(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time, rate_max=1, rate_window_ms=900_000)
    client = client_for(emulator.transport(), time, retry=AscendRetry(max_wait_s=60))
    await client.get("v1/locations")
    with pytest.raises(AscendError) as caught:
        await client.get("v1/locations")
    assert caught.value.status_code == 429
    assert time.sleeps == []
    await client.aclose()


@pytest.mark.anyio
async def test_5xx_is_retried_with_bounded_backoff(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time)
    client = client_for(
        emulator.transport(), time, retry=AscendRetry(max_attempts=3, base_delay_s=0.5, seed=1)
    )
    await client.get("v1/locations")
    emulator.fail_next(503, times=2)
    await client.get("v1/locations")
    assert len(time.sleeps) == 2
    assert time.sleeps[0] <= 0.5
    assert time.sleeps[1] <= 1.0
    emulator.fail_next(500, times=3)
    with pytest.raises(AscendError) as caught:
        await client.get("v1/operatories")
    assert (caught.value.method, caught.value.status_code) == ("GET", 500)
    assert caught.value.path == "/ascend-gateway/api/v1/operatories"
    await client.aclose()


def _token_reply(request: httpx.Request) -> httpx.Response | None:
    if request.url.path.endswith("/accesstoken"):
        return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer", "expires_in": 3600})
    return None


@pytest.mark.anyio
async def test_transport_errors_are_retried_for_gets() -> None:
    calls = {"n": 0}

    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        calls["n"] += 1
        if calls["n"] <= 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"data": [], "meta": {"pagination": {"total": 0}}})

    time = FakeTime()
    client = client_for(httpx.MockTransport(server), time, org="org")
    body = await client.get("v1/patients")
    assert body["data"] == []
    assert calls["n"] == 3
    assert len(time.sleeps) == 2
    await client.aclose()


@pytest.mark.anyio
async def test_a_server_that_repeats_a_page_is_caught() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        page = {"data": [{"id": "1"}, {"id": "2"}], "meta": {"pagination": {"total": 99}}}
        return httpx.Response(200, json=page)

    time = FakeTime()
    client = client_for(httpx.MockTransport(server), time, org="org")
    with pytest.raises(AscendError, match="repeated"):
        await all_ids(client, "v1/patients", page_size=2, pagination="page")
    await client.aclose()


@pytest.mark.anyio
async def test_a_cursor_that_does_not_advance_is_caught() -> None:
    served = {"n": 0}

    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        served["n"] += 1
        n = served["n"]
        items = [{"id": str(2 * n)}, {"id": str(2 * n + 1)}]
        return httpx.Response(200, json={"data": items, "meta": {"pagination": {"lastId": "7"}}})

    time = FakeTime()
    client = client_for(httpx.MockTransport(server), time, org="org")
    with pytest.raises(AscendError, match="did not advance"):
        await all_ids(client, "v1/patients", page_size=2)
    await client.aclose()


@pytest.mark.anyio
async def test_bodies_that_are_not_the_envelope_are_errors() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        if request.url.path.endswith("/html"):
            return httpx.Response(200, text="<html>maintenance</html>")
        return httpx.Response(200, content=json.dumps({"items": []}))

    time = FakeTime()
    client = client_for(httpx.MockTransport(server), time, org="org")
    with pytest.raises(AscendError, match="JSON object"):
        await client.get("v1/html")
    with pytest.raises(AscendError, match="envelope"):
        await client.get("v1/patients")
    await client.aclose()


@pytest.mark.anyio
async def test_a_token_reply_without_expiry_is_refused() -> None:
    def server(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "t", "expires_in": "soon"})

    client = client_for(httpx.MockTransport(server), FakeTime(), org="org")
    with pytest.raises(AscendError, match="expires_in"):
        await client.get("v1/patients")
    await client.aclose()


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        AscendClient(base_url="prod.hs1api.com", client_id="a", client_secret="b", organization_id="c")
    with pytest.raises(ConfigurationError):
        AscendClient(base_url=BASE_URL, client_id="a", client_secret="", organization_id="c")
    with pytest.raises(ConfigurationError):
        AscendRetry(max_attempts=0)


@pytest.mark.anyio
async def test_requests_are_paced_when_asked(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time)
    client = client_for(emulator.transport(), time, max_requests_per_s=4)
    for _ in range(5):
        await client.get("v1/locations")
    sent = [r.time_s for r in emulator.request_log]
    assert len(sent) == 6  # the token, then five calls
    assert all(later - earlier >= 0.25 - 1e-9 for earlier, later in itertools.pairwise(sent))
    with pytest.raises(ConfigurationError):
        client_for(emulator.transport(), time, max_requests_per_s=0)
    await client.aclose()


@pytest.mark.anyio
async def test_a_503_with_retry_after_waits_that_long() -> None:
    calls = {"n": 0}

    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        calls["n"] += 1
        if calls["n"] == 1:
            return httpx.Response(503, headers={"Retry-After": "7"}, text="busy")
        return httpx.Response(200, json={"data": []})

    time = FakeTime()
    client = client_for(httpx.MockTransport(server), time, org="org")
    await client.get("v1/patients")
    assert time.sleeps == [7.0]
    await client.aclose()


@pytest.mark.anyio
async def test_concurrent_401s_renew_the_token_once(practice: SyntheticPractice) -> None:
    time = FakeTime()
    emulator = emulator_for(practice, time)
    client = client_for(emulator.transport(), time)
    await client.get("v1/locations")
    emulator.expire_tokens()
    async with anyio.create_task_group() as tg:
        for path in ("v1/locations", "v1/providers", "v1/operatories", "v0/practiceprocedures"):
            tg.start_soon(client.get, path)
    assert emulator.tokens_issued == 2
    assert sum(1 for r in emulator.request_log if r.status == 401) == 4
    await client.aclose()


def _list_server(items: list[dict[str, str]], *, cap: int | None, with_meta: bool) -> httpx.MockTransport:
    """A list API that caps pageSize at ``cap`` (saying so in meta when ``with_meta``), paging by lastId."""

    def server(request: httpx.Request) -> httpx.Response:
        token = _token_reply(request)
        if token is not None:
            return token
        size = int(request.url.params["pageSize"])
        size = min(size, cap) if cap else size
        last = request.url.params.get("lastId")
        start = next((i + 1 for i, item in enumerate(items) if item["id"] == last), 0)
        chunk = items[start : start + size]
        meta = {"pagination": {"pageSize": size, "total": len(items)}} if with_meta else {}
        return httpx.Response(200, json={"data": chunk, "meta": meta})

    return httpx.MockTransport(server)


@pytest.mark.anyio
@pytest.mark.parametrize("with_meta", [True, False])
async def test_a_capped_page_size_does_not_end_the_list_early(with_meta: bool) -> None:
    items = [{"id": str(100 + n)} for n in range(11)]
    client = client_for(_list_server(items, cap=3, with_meta=with_meta), FakeTime(), org="org")
    ids = await all_ids(client, "v1/patients", page_size=5)
    if with_meta:
        assert ids == [item["id"] for item in items]  # the cap (or the total) says: keep going
    else:
        assert ids == ["100", "101", "102"]  # told nothing, a short page is the end (SOURCE-NOTES §6)
    await client.aclose()
