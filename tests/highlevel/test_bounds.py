"""Security #15, items 2 and 4 for the HighLevel client: no plain http beyond loopback, no proxy from the
environment unless asked for, and every request and listing bounded — each against a hostile loopback
server (tests/reliability/_hostile.py) with small limits so the tests stay short."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import anyio.abc
import pytest
from tests.reliability._hostile import (
    ConnectionRecorder,
    HostileRequest,
    dribble,
    endless_body,
    hostile_server,
    send_json,
)

from dentrix_highlevel import HighLevelClient, HttpLimits
from dentrix_highlevel.errors import (
    AmbiguousWriteError,
    ConfigurationError,
    HighLevelError,
    ResponseFormatError,
    TransportError,
)
from dentrix_highlevel.highlevel import ContactInput, RateBudget, RateLimiter, RetryPolicy

pytestmark = pytest.mark.anyio

TOKEN = "pit-secret-token-value"
MIB = 1024 * 1024
SMALL = HttpLimits(max_response_bytes=MIB, request_deadline_s=1.5, max_pages=50)


def client(
    base_url: str, *, limits: HttpLimits = SMALL, attempts: int = 1, **options: Any
) -> HighLevelClient:
    return HighLevelClient(
        location_id="loc1",
        token=TOKEN,
        base_url=base_url,
        retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.001, max_delay_s=0.001),
        limiter=RateLimiter(RateBudget()),  # one per test: a limiter belongs to one event loop
        limits=limits,
        **options,
    )


# ---- plain http ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://services.leadconnectorhq.com",
        "http://evil.example:8080",
        "http://10.0.0.5",
        "http://127.0.0.1.evil.example",
        "http://[2001:db8::1]",
        "ftp://127.0.0.1",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        HighLevelClient(location_id="loc1", token=TOKEN, base_url=url)
    assert TOKEN not in str(caught.value)
    if url.startswith("http://"):
        host = url.removeprefix("http://").rsplit(":", 1)[0] if "[" not in url else "2001:db8::1"
        assert f"http://{host}" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://services.leadconnectorhq.com",
        "http://127.0.0.1:8765",
        "http://127.9.8.7",
        "http://localhost:1",
        "http://LOCALHOST.",
        "http://[::1]:8765",
    ],
)
async def test_https_and_loopback_http_are_accepted(url: str) -> None:
    async with HighLevelClient(location_id="loc1", token=TOKEN, base_url=url) as hl:
        assert hl.trust_env is False


async def test_oauth_code_redemption_refuses_plain_http_too() -> None:
    from dentrix_highlevel.highlevel import OAuthToken

    with pytest.raises(ConfigurationError, match=r"http://evil\.example"):
        await OAuthToken.from_authorization_code(
            code="c", client_id="i", client_secret="s", base_url="http://evil.example"
        )


# ---- proxies from the environment ------------------------------------------------------------------------

_PROBE = """
import sys, anyio
from dentrix_highlevel import HighLevelClient, RetryPolicy
async def main():
    async with HighLevelClient(location_id="loc1", token="pit-x", base_url=sys.argv[1],
                               retry=RetryPolicy(max_attempts=1), trust_env=sys.argv[2] == "1") as hl:
        try:
            await hl.locations.get()
        except Exception as exc:
            print(type(exc).__name__)
anyio.run(main)
"""


def _probe(base_url: str, proxy: str, *, trust_env: bool) -> None:
    env = {
        "PATH": "",
        "PYTHONPATH": ":".join(sys.path),
        "HTTPS_PROXY": proxy,
        "HTTP_PROXY": proxy,
        "ALL_PROXY": proxy,
        "NO_PROXY": "",
    }
    subprocess.run(
        [sys.executable, "-c", _PROBE, base_url, "1" if trust_env else "0"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_env_proxies_are_ignored_unless_opted_in() -> None:
    # The environment is the subprocess's own (this process's is left alone); the base URL is a closed
    # loopback port, so the only connection that can reach the recorder is one through the proxy.
    with ConnectionRecorder() as dead:
        closed_url = f"https://127.0.0.1:{dead.port}"
    with ConnectionRecorder() as proxy:
        _probe(closed_url, proxy.url, trust_env=False)
        assert proxy.connections == 0
        _probe(closed_url, proxy.url, trust_env=True)
        assert proxy.connections >= 1  # the control: the environment is read when asked for


# ---- body size -------------------------------------------------------------------------------------------


async def test_an_endless_body_is_cut_at_max_response_bytes() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await endless_body(stream)

    async with hostile_server(handler) as url, client(url, attempts=3) as hl:
        with pytest.raises(ResponseFormatError) as caught:
            await hl.locations.get()
    message = str(caught.value)
    assert "max_response_bytes=1048576" in message
    assert "GET /locations/loc1" in message
    assert hl.requests_sent == 1  # not retried: the same server would send the same body again


async def test_a_declared_huge_body_is_refused_before_reading() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await endless_body(stream, declared_bytes=1536 * MIB)

    async with hostile_server(handler) as url, client(url) as hl:
        with pytest.raises(ResponseFormatError, match="max_response_bytes"):
            await hl.locations.get()


async def test_a_create_with_an_oversized_answer_is_ambiguous() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await endless_body(stream)

    async with hostile_server(handler) as url, client(url) as hl:
        with pytest.raises(AmbiguousWriteError) as caught:
            await hl.contacts.create(ContactInput(email="a@example.com"))
    assert "max_response_bytes" in str(caught.value)
    assert "a@example.com" not in str(caught.value)


# ---- the overall deadline --------------------------------------------------------------------------------


async def test_a_slow_loris_answer_is_cut_at_the_deadline() -> None:
    # One byte every 0.2 s: each read is far inside timeout_s=10, only the overall deadline ends it.
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await dribble(stream, every_s=0.2)

    async with hostile_server(handler) as url, client(url, timeout_s=10.0) as hl:
        with pytest.raises(TransportError) as caught:
            await hl.locations.get()
    assert "deadline of 1.5 s" in str(caught.value)


async def test_a_create_cut_by_the_deadline_is_ambiguous_not_retried() -> None:
    async def handler(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await dribble(stream, every_s=0.2)

    async with hostile_server(handler) as url, client(url, attempts=3, timeout_s=10.0) as hl:
        with pytest.raises(AmbiguousWriteError):
            await hl.contacts.create(ContactInput(email="a@example.com"))
    assert hl.requests_sent == 1


def test_limits_are_checked() -> None:
    with pytest.raises(ConfigurationError):
        HttpLimits(max_response_bytes=0)
    with pytest.raises(ConfigurationError):
        HttpLimits(request_deadline_s=0)
    with pytest.raises(ConfigurationError):
        HttpLimits(max_pages=0)
    assert HttpLimits() == HttpLimits(max_response_bytes=32 * MIB, request_deadline_s=120.0, max_pages=20_000)


# ---- paginators: cycles and the page budget --------------------------------------------------------------


def _alternating() -> Callable[[], str]:
    letters = itertools.cycle("AB")
    return lambda: next(letters)


async def _listing_fails(handler: Any, listing: Callable[[HighLevelClient], Any], **limits: Any) -> str:
    async def serve(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        await send_json(stream, handler(request))

    bounded = HttpLimits(**{"max_pages": 50, **limits})
    async with hostile_server(serve) as url, client(url, limits=bounded) as hl:
        with pytest.raises(ResponseFormatError) as caught:
            async for _ in listing(hl):
                pass
    return str(caught.value)


async def test_contact_search_with_alternating_search_after_cursors_fails() -> None:
    cursor = _alternating()

    def answer(request: HostileRequest) -> Any:
        value = cursor()
        return {"contacts": [{"id": f"c{value}", "searchAfter": [value, 1]}], "total": 10**9}

    message = await _listing_fails(answer, lambda hl: hl.contacts.search(page_limit=1, page_window_rows=1))
    assert "repeated a cursor" in message
    assert "POST /contacts/search" in message


async def test_contact_search_that_never_ends_stops_at_the_page_budget() -> None:
    counter = itertools.count()

    def answer(request: HostileRequest) -> Any:
        n = next(counter)
        return {"contacts": [{"id": f"c{n}", "searchAfter": [n, 1]}]}

    message = await _listing_fails(
        answer, lambda hl: hl.contacts.search(page_limit=1, page_window_rows=1), max_pages=5
    )
    assert "max_pages=5" in message


async def test_legacy_contact_list_with_alternating_cursors_fails() -> None:
    cursor = _alternating()

    def answer(request: HostileRequest) -> Any:
        value = cursor()
        return {"contacts": [{"id": f"c{value}"}], "meta": {"startAfter": 1, "startAfterId": value}}

    message = await _listing_fails(answer, lambda hl: hl.contacts.list_legacy(limit=1))
    assert "repeated a cursor" in message


async def test_opportunity_search_with_alternating_cursors_fails() -> None:
    cursor = _alternating()

    def answer(request: HostileRequest) -> Any:
        value = cursor()
        return {"opportunities": [{"id": f"o{value}"}], "meta": {"startAfter": 1, "startAfterId": value}}

    message = await _listing_fails(answer, lambda hl: hl.opportunities.search(limit=1))
    assert "repeated a cursor" in message
    assert "GET /opportunities/search" in message


async def test_media_files_that_never_end_stop_at_the_page_budget() -> None:
    counter = itertools.count()

    def answer(request: HostileRequest) -> Any:
        return {"files": [{"_id": f"f{next(counter)}", "name": "x"}]}

    message = await _listing_fails(answer, lambda hl: hl.media.files(page_size=1), max_pages=5)
    assert "max_pages=5" in message
    assert "GET /medias/files" in message


async def test_media_files_answering_the_same_page_again_fail() -> None:
    cursor = _alternating()

    def answer(request: HostileRequest) -> Any:
        return {"files": [{"_id": f"f{cursor()}", "name": "x"}]}

    message = await _listing_fails(answer, lambda hl: hl.media.files(page_size=1))
    assert "repeated a cursor" in message


async def test_relations_answering_the_same_page_again_fail() -> None:
    def answer(request: HostileRequest) -> Any:
        relation = {"id": "r1", "associationId": "a1", "firstRecordId": "x", "secondRecordId": "y"}
        return {"relations": [relation]}

    message = await _listing_fails(answer, lambda hl: hl.associations.relations("x", page_limit=1))
    assert "repeated a cursor" in message


# ---- redirects -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_never_followed_and_the_token_never_leaves(status: int) -> None:
    reached: list[HostileRequest] = []

    async def elsewhere(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
        reached.append(request)
        await send_json(stream, {"contact": {"id": "c1"}})

    async with hostile_server(elsewhere) as other:

        async def redirecting(request: HostileRequest, stream: anyio.abc.ByteStream) -> None:
            head = f"HTTP/1.1 {status} Moved\r\nLocation: {other}{request.path}\r\nContent-Length: 0\r\n"
            await stream.send((head + "Connection: close\r\n\r\n").encode())

        async with hostile_server(redirecting) as base, client(base) as hl:
            with pytest.raises(HighLevelError) as caught:
                await hl.contacts.get("c1")
    assert reached == [], "the redirect was followed"
    assert TOKEN not in str(caught.value)
