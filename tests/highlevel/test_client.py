"""The client's request path against the sandbox: headers, error mapping, retry and ambiguous-write rules,
429 handling, the shared limiter, and keeping tokens and patient data out of logs, reprs and errors."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from dentrix_highlevel.errors import (
    AmbiguousWriteError,
    AuthenticationError,
    DailyCapReachedError,
    DuplicateContactError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    TransportError,
    ValidationError,
)
from dentrix_highlevel.highlevel import (
    ContactInput,
    HighLevelClient,
    NoteInput,
    RateBudget,
    RequestKind,
    RetryPolicy,
    version_for,
)

pytestmark = pytest.mark.anyio

MakeClient = Callable[..., HighLevelClient]


def statuses(sandbox: Any, path_prefix: str = "/") -> list[int]:
    return [r.status for r in sandbox.request_log if r.path.startswith(path_prefix)]


def contacts_in(sandbox: Any) -> int:
    dump = sandbox.dump()
    return sum(len(loc["contacts"]) for loc in dump["locations"].values())


class Recording(httpx.AsyncBaseTransport):
    """Records what went over the wire, then lets the sandbox answer."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


def test_version_header_per_endpoint() -> None:
    assert version_for("/calendars/events/appointments") == "2021-04-15"
    assert version_for("/calendars/") == "2021-04-15"
    assert version_for("/contacts/x/appointments") == "2021-07-28"
    assert version_for("/opportunities/pipelines") == "2021-07-28"


async def test_requests_carry_bearer_and_the_right_version(
    make_client: MakeClient, scaled_sandbox: Any, loc: Any
) -> None:
    wire = Recording(scaled_sandbox.transport())
    async with make_client(transport=wire) as hl:
        await hl.calendars.list()
        await hl.locations.get()
    sent = {r.url.path: r.headers for r in wire.requests}
    assert sent["/calendars/"]["version"] == "2021-04-15"
    assert sent[f"/locations/{loc.location_id}"]["version"] == "2021-07-28"
    assert all(h["authorization"] == f"Bearer {loc.token}" for h in sent.values())
    assert statuses(scaled_sandbox) == [200, 200]


async def test_status_codes_map_to_the_error_tree(make_client: MakeClient, scaled_sandbox: Any) -> None:
    other = scaled_sandbox.create_location()
    async with make_client(auth="pit-not-a-real-token") as hl:
        with pytest.raises(AuthenticationError) as auth:
            await hl.locations.get()
    assert auth.value.status_code == 401
    assert auth.value.trace_id
    async with make_client(auth=other.token) as hl:
        with pytest.raises(PermissionDeniedError):
            await hl.locations.get()
    async with make_client() as hl:
        with pytest.raises(NotFoundError) as missing:
            await hl.contacts.get("noSuchContact0000000")
    assert missing.value.status_code == 404
    assert missing.value.method == "GET"


async def test_unknown_body_keys_come_back_as_field_names(client: HighLevelClient) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.call(
            "POST",
            "/contacts/upsert",
            kind=RequestKind.IDEMPOTENT,
            json={"locationId": client.location_id, "email": "x@example.com", "additionalEmails": ["y"]},
        )
    assert caught.value.status_code == 422
    # The field's name and what is wrong with it, not HighLevel's sentence (which can echo values).
    assert caught.value.messages == ("additionalEmails (not allowed)",)
    assert caught.value.fields == ("additionalEmails",)
    assert "property additionalEmails should not exist" in (caught.value.debug_detail or "")


async def test_idempotent_requests_retry_5xx_until_they_succeed(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(error_rate=0.5))
    async with make_client() as hl:
        for _ in range(5):
            await hl.locations.get()
    seen = statuses(scaled_sandbox)
    assert seen.count(200) == 5
    assert any(s >= 500 for s in seen)


async def test_idempotent_requests_give_up_after_the_policy(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(error_rate=1.0))
    async with make_client(retry=RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.002)) as hl:
        with pytest.raises(ServerError) as caught:
            await hl.locations.get()
    assert caught.value.status_code in (500, 502, 503)
    assert len(scaled_sandbox.request_log) == 3


async def test_idempotent_requests_retry_resets_and_timeouts(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(reset_rate=0.3, timeout_rate=0.3))
    async with make_client() as hl:
        results = [await hl.contacts.upsert(ContactInput(email=f"r{i}@example.com")) for i in range(6)]
    assert len({r.contact.id for r in results}) == 6
    assert contacts_in(scaled_sandbox) == 6  # upsert retried, never duplicated
    assert len(scaled_sandbox.request_log) > 6

    scaled_sandbox.set_faults(FaultConfig(reset_rate=1.0))
    async with make_client(retry=RetryPolicy(max_attempts=2, base_delay_s=0.001, max_delay_s=0.001)) as hl:
        with pytest.raises(TransportError) as caught:
            await hl.locations.get()
    assert "RemoteProtocolError" in str(caught.value)


async def test_create_after_a_reset_is_ambiguous_and_the_lookup_finds_it(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(reset_rate=1.0))
    async with make_client() as hl:
        with pytest.raises(AmbiguousWriteError) as caught:
            await hl.contacts.create(ContactInput(email="amb@example.com", phone="+13035550111"))
        error = caught.value
        assert len(scaled_sandbox.request_log) == 1  # never blindly retried
        assert error.resource == "contact"
        assert error.cause == "RemoteProtocolError"
        assert error.lookup == {"email": "amb@example.com", "phone": "+13035550111"}
        assert "amb@example.com" not in str(error)
        assert "amb@example.com" not in repr(error)
        scaled_sandbox.set_faults(FaultConfig())
        scaled_sandbox.settle_search_index()  # the lookup is a search; HighLevel's index lags writes
        found = await hl.find_created(error)
    assert found is not None
    assert found.email == "amb@example.com"
    assert contacts_in(scaled_sandbox) == 1


async def test_create_answered_422_after_creating_is_ambiguous(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(created_anyway_rate=1.0, created_anyway_status=422))
    async with make_client() as hl:
        with pytest.raises(AmbiguousWriteError) as caught:
            await hl.contacts.create(ContactInput(email="anyway@example.com"))
        assert caught.value.status_code == 422
        assert isinstance(caught.value.__cause__, ValidationError)
        scaled_sandbox.set_faults(FaultConfig())
        scaled_sandbox.settle_search_index()
        found = await hl.find_created(caught.value)
    assert found is not None
    assert contacts_in(scaled_sandbox) == 1


async def test_create_answered_5xx_after_commit_is_ambiguous_for_notes_too(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    async with make_client() as hl:
        contact = (await hl.contacts.upsert(ContactInput(email="note@example.com"))).contact
        scaled_sandbox.set_faults(FaultConfig(error_after_commit_rate=1.0))
        with pytest.raises(AmbiguousWriteError) as caught:
            await hl.notes.create(contact.id, NoteInput(body="Allergic to latex"))
        assert caught.value.resource == "note"
        assert "Allergic" not in str(caught.value.lookup)  # a hash, not the text
        scaled_sandbox.set_faults(FaultConfig())
        note = await hl.find_created(caught.value)
        assert note is not None
        assert note.body == "Allergic to latex"
        missing = AmbiguousWriteError(
            "x", resource="note", lookup={"contactId": contact.id, "bodySha256": "0" * 64}
        )
        assert await hl.find_created(missing) is None


async def test_create_is_retried_when_the_connection_never_opened(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(connect_error_rate=0.6))
    async with make_client(
        retry=RetryPolicy(max_attempts=30, base_delay_s=0.001, max_delay_s=0.002, seed=1)
    ) as hl:
        for i in range(5):
            await hl.contacts.create(ContactInput(email=f"c{i}@example.com"))
    assert contacts_in(scaled_sandbox) == 5  # each exactly once

    scaled_sandbox.set_faults(FaultConfig(connect_error_rate=1.0))
    async with make_client(retry=RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.001)) as hl:
        with pytest.raises(TransportError):
            await hl.contacts.create(ContactInput(email="never@example.com"))
    assert contacts_in(scaled_sandbox) == 5


async def test_a_429_storm_pauses_every_task_and_nothing_is_lost(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(storm_after_s=0.0, storm_duration_s=0.3, storm_retry_after_s=0.1))
    async with make_client(retry=RetryPolicy(max_attempts=50, base_delay_s=0.001, max_delay_s=0.002)) as hl:

        async def one(i: int) -> None:
            # Creates too: a 429 proves HighLevel did not process the request, so they are retried.
            if i % 2:
                await hl.contacts.create(ContactInput(email=f"storm{i}@example.com"))
            else:
                await hl.contacts.upsert(ContactInput(email=f"storm{i}@example.com"))

        async with anyio.create_task_group() as tg:
            for i in range(12):
                tg.start_soon(one, i)
        assert hl.limiter.paused_until > 0
    seen = statuses(scaled_sandbox)
    assert seen.count(200) + seen.count(201) == 12
    assert contacts_in(scaled_sandbox) == 12
    # Without the shared pause each of 12 tasks would retry ~every ms through the 300 ms storm (hundreds
    # of 429s); paused together, each 100 ms Retry-After costs at most one round of in-flight requests.
    assert 1 <= seen.count(429) <= 12 * 4


async def test_a_429_that_outlasts_the_policy_is_rate_limited_error(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    scaled_sandbox.set_faults(FaultConfig(storm_after_s=0.0, storm_duration_s=60.0, storm_retry_after_s=0.01))
    async with make_client(retry=RetryPolicy(max_attempts=2)) as hl:
        with pytest.raises(RateLimitedError) as caught:
            await hl.locations.get()
    assert caught.value.status_code == 429
    assert caught.value.retry_after_s == pytest.approx(0.01)


async def test_daily_cap_stops_at_the_reserve(make_client: MakeClient) -> None:
    from dentrix_highlevel.sandbox import Sandbox, SandboxConfig

    sandbox = Sandbox(SandboxConfig(daily_max=12, rate_window_ms=200, rate_max=20))
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=20, window_ms=200, daily_reserve=4)  # daily_max left at 200,000
    async with make_client(
        transport=sandbox.transport(), auth=loc.token, location_id=loc.location_id, budget=budget
    ) as hl:
        for _ in range(8):
            await hl.locations.get()
        with pytest.raises(DailyCapReachedError) as caught:
            await hl.locations.get()
    # The server's X-RateLimit-Daily-Remaining reached the reserve after 8 requests; we stopped there.
    assert len(sandbox.request_log) == 8
    assert caught.value.remaining == 4


async def test_one_limiter_for_all_clients_of_a_location_keeps_the_server_window(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    async with make_client() as a, make_client() as b:
        assert a.limiter is b.limiter

        async def hammer(hl: HighLevelClient) -> None:
            for _ in range(15):
                await hl.locations.get()

        async with anyio.create_task_group() as tg:
            for hl in (a, b) * 4:
                tg.start_soon(hammer, hl)
    assert statuses(scaled_sandbox).count(200) == 120
    # Two separate limiters would offer 2x the budget (about half the requests refused). Shared, the only
    # possible 429 is a request whose in-process arrival lagged its booking by more than the 10 ms margin
    # (the event loop starved on a loaded 2-core box: a scale artefact of a 200 ms window).
    rejected = statuses(scaled_sandbox).count(429)
    assert rejected <= 2
    assert scaled_sandbox.max_requests_in_window() <= 20 + rejected


async def test_tokens_and_patient_data_stay_out_of_logs_reprs_and_errors(
    make_client: MakeClient, scaled_sandbox: Any, loc: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    secrets = [loc.token, "Zelda", "Quixote", "zq@example.com", "3035550177", "+13035550177"]
    texts: list[str] = []
    caplog.set_level(logging.DEBUG, logger="dentrix_highlevel")
    async with make_client() as hl:
        texts.append(repr(hl))
        texts.append(repr(hl.auth) + str(hl.auth))
        person = ContactInput(
            first_name="Zelda", last_name="Quixote", email="zq@example.com", phone="3035550177"
        )
        texts.append(repr(person))
        result = await hl.contacts.upsert(person)
        texts.append(repr(result))
        await hl.contacts.find_duplicate(email="zq@example.com", phone="3035550177")
        with pytest.raises(DuplicateContactError) as dup:
            await hl.contacts.create(person)
        texts += [str(dup.value), repr(dup.value)]
        scaled_sandbox.set_faults(FaultConfig(reset_rate=1.0))
        with pytest.raises(AmbiguousWriteError) as amb:
            await hl.contacts.create(ContactInput(first_name="Zelda", email="zq@example.com"))
        texts += [str(amb.value), repr(amb.value)]
        scaled_sandbox.set_faults(FaultConfig())
    async with make_client(auth="pit-secret-but-wrong") as bad:
        with pytest.raises(AuthenticationError) as denied:
            await bad.locations.get()
        texts += [str(denied.value), repr(bad)]
    secrets.append("pit-secret-but-wrong")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "/contacts/search/duplicate" in logged
    assert "traceId=" in logged
    for text in [logged, *texts]:
        for secret in secrets:
            assert secret not in text, (secret, text[:200])


async def test_token_shorthand_and_one_credential_only(scaled_sandbox: Any, loc: Any) -> None:
    from dentrix_highlevel.errors import ConfigurationError

    async with HighLevelClient(
        location_id=loc.location_id, token=loc.token, transport=scaled_sandbox.transport()
    ) as hl:
        assert (await hl.locations.get()).id == loc.location_id
    with pytest.raises(ConfigurationError):
        HighLevelClient(location_id=loc.location_id)
    with pytest.raises(ConfigurationError):
        HighLevelClient(location_id=loc.location_id, auth=loc.token, token=loc.token)


async def test_a_lower_advertised_max_lowers_the_clients_ceiling(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    from dentrix_highlevel.sandbox import FaultConfig

    # The account's real limit is below the documented one and the server says so in X-RateLimit-Max.
    scaled_sandbox.set_faults(FaultConfig(advertised_rate_max=8))
    async with make_client() as hl:

        async def reads() -> None:
            for _ in range(10):
                await hl.locations.get()

        async with anyio.create_task_group() as tg:
            for _ in range(6):
                tg.start_soon(reads)
        assert hl.limiter.ceiling == 8
    assert statuses(scaled_sandbox).count(200) == 60
    rejected = statuses(scaled_sandbox).count(429)  # see the shared-limiter test for why not exactly 0
    assert rejected <= 2
    assert scaled_sandbox.max_requests_in_window() <= 8 + rejected


async def test_a_closed_client_releases_its_limiter_for_another_budget(
    make_client: MakeClient, budget: RateBudget
) -> None:
    other = RateBudget(max_requests=budget.max_requests // 2, window_ms=budget.window_ms, burst=2)
    async with make_client() as first:
        with pytest.raises(Exception, match="different RateBudget"):
            make_client(budget=other)  # two open clients of one sub-account share one budget
        await first.locations.get()
    # The first client is closed but still referenced: its hold is released all the same.
    async with make_client(budget=other) as second:
        assert second.limiter is not first.limiter
        assert second.limiter.budget == other
        await second.locations.get()
    async with make_client() as third:  # and back
        assert third.limiter.budget == budget


async def test_a_callers_http_client_is_used_and_left_open(
    make_client: MakeClient, scaled_sandbox: Any
) -> None:
    recording = Recording(scaled_sandbox.transport())
    async with httpx.AsyncClient(transport=recording, timeout=5.0) as mine:
        async with make_client(transport=None, http_client=mine) as hl:
            await hl.locations.get()
        assert not mine.is_closed  # we do not close what we did not open
        (sent,) = recording.requests
        assert sent.headers["Accept"] == "application/json"
        assert sent.headers["User-Agent"].startswith("dentrix-highlevel/")
        assert sent.headers["Authorization"].startswith("Bearer ")
        with pytest.raises(Exception, match="set them on the http_client"):
            make_client(http_client=mine)  # a transport as well: which one would win?
    async with httpx.AsyncClient(follow_redirects=True) as follows:
        with pytest.raises(Exception, match="must not follow redirects"):
            make_client(transport=None, http_client=follows)
