"""Security #15, items 2 and 4 for the Ascend client: https only beyond loopback, no proxy from the
environment unless asked for, a body size and an overall deadline per request, and a page budget and
cursor-cycle detection for its listings — against a hostile loopback server."""

from __future__ import annotations

import itertools
from typing import Any

import anyio.abc
import pytest
from tests.reliability._hostile import HostileRequest, dribble, endless_body, hostile_server, send_json

from dentrix_highlevel import HttpLimits
from dentrix_highlevel.errors import AscendError, ConfigurationError
from dentrix_highlevel.sources import AscendRetry, AscendSource
from dentrix_highlevel.sources._ascend_client import AscendClient

SECRET = "ascend-client-secret-value"
MIB = 1024 * 1024
SMALL = HttpLimits(max_response_bytes=MIB, request_deadline_s=1.5, max_pages=50)
_TOKEN_PATH = "/oauth/client_credential/accesstoken"


def client(root: str, *, limits: HttpLimits = SMALL, **options: Any) -> AscendClient:
    return AscendClient(
        base_url=f"{root}/ascend-gateway/api",
        client_id="cid",
        client_secret=SECRET,
        organization_id="org1",
        retry=AscendRetry(max_attempts=1),
        limits=limits,
        **options,
    )


async def _token_or(request: HostileRequest, stream: anyio.abc.ByteStream) -> bool:
    """Answer the token request (True) so the tests reach the listing."""
    if request.path == _TOKEN_PATH:
        await send_json(stream, {"access_token": "ascend-token", "expires_in": "3600"})
        return True
    return False


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"base_url": "http://prod.hs1api.com/ascend-gateway/api"}, "http://prod.hs1api.com"),
        ({"base_url": "http://192.168.1.20/api"}, "http://192.168.1.20"),
        (
            {"base_url": "https://prod.hs1api.com/api", "token_url": "http://auth.example/token"},
            "http://auth.example",
        ),
    ],
)
def test_plain_http_to_a_remote_ascend_host_is_refused(options: dict[str, str], named: str) -> None:
    settings = {"client_id": "cid", "client_secret": SECRET, "organization_id": "org1", **options}
    with pytest.raises(ConfigurationError) as caught:
        AscendClient(**settings)
    assert named in str(caught.value)
    assert SECRET not in str(caught.value)


@pytest.mark.anyio
async def test_the_source_passes_bounds_and_proxy_choice_to_its_client() -> None:
    source = AscendSource(
        base_url="http://127.0.0.1:9/api",  # loopback: an emulator
        client_id="cid",
        client_secret=SECRET,
        organization_id="org1",
        practice_timezone="America/Denver",
        limits=SMALL,
    )
    assert (source.client.limits, source.client.trust_env) == (SMALL, False)
    await source.client.aclose()
    opted = AscendSource(
        base_url="https://test.hs1api.com/api",
        client_id="cid",
        client_secret=SECRET,
        organization_id="org1",
        practice_timezone="America/Denver",
        trust_env=True,
    )
    assert opted.client.trust_env is True
    await opted.client.aclose()


@pytest.mark.anyio
async def test_an_endless_ascend_body_is_cut_at_max_response_bytes() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        if not await _token_or(request, stream):
            await endless_body(stream)

    async with hostile_server(handler) as url:
        ascend = client(url)
        with pytest.raises(AscendError) as caught:
            await ascend.get("patients")
        await ascend.aclose()
    assert "max_response_bytes=1048576" in str(caught.value)
    assert "/ascend-gateway/api/patients" in str(caught.value)


@pytest.mark.anyio
async def test_an_endless_token_answer_is_cut_too() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await endless_body(stream)

    async with hostile_server(handler) as url:
        ascend = client(url)
        with pytest.raises(AscendError, match="max_response_bytes"):
            await ascend.get("patients")
        await ascend.aclose()


@pytest.mark.anyio
async def test_a_slow_loris_ascend_answer_is_cut_at_the_deadline() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        if not await _token_or(request, stream):
            await dribble(stream, every_s=0.2)

    async with hostile_server(handler) as url:
        ascend = client(url, timeout_s=10.0)  # each read is far inside the per-read timeout
        with pytest.raises(AscendError) as caught:
            await ascend.get("patients")
        await ascend.aclose()
    assert "deadline of 1.5 s" in str(caught.value)


async def _pages_fail(answer: Any, *, pagination: str, max_pages: int = 50) -> str:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        if not await _token_or(request, stream):
            await send_json(stream, answer(request))

    async with hostile_server(handler) as url:
        ascend = client(url, limits=HttpLimits(max_pages=max_pages))
        with pytest.raises(AscendError) as caught:
            async for _ in ascend.pages("patients", page_size=1, pagination=pagination):  # type: ignore[arg-type]
                pass
        await ascend.aclose()
    return str(caught.value)


@pytest.mark.anyio
async def test_alternating_last_id_cursors_fail() -> None:
    counter = itertools.count()
    cursors = itertools.cycle("AB")

    def answer(request: HostileRequest) -> Any:
        return {"data": [{"id": next(counter)}], "meta": {"pagination": {"lastId": next(cursors)}}}

    message = await _pages_fail(answer, pagination="keyset")
    assert "repeated a cursor" in message
    assert "/ascend-gateway/api/patients" in message


@pytest.mark.anyio
async def test_alternating_numbered_pages_fail() -> None:
    pages = itertools.cycle(["A", "B"])

    def answer(request: HostileRequest) -> Any:
        return {"data": [{"id": next(pages)}]}

    message = await _pages_fail(answer, pagination="page")
    assert "repeated a cursor" in message


@pytest.mark.anyio
async def test_endless_ascend_pages_stop_at_the_page_budget() -> None:
    counter = itertools.count()

    def answer(request: HostileRequest) -> Any:
        return {"data": [{"id": next(counter)}]}

    message = await _pages_fail(answer, pagination="page", max_pages=5)
    assert "max_pages=5" in message
