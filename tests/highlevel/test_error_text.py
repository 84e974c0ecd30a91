"""What HighLevel and Ascend say in an error answer never comes back as text: the field names of
class-validator sentences, categories of the fixed sentences the library acts on, error codes and trace ids
of the right shape — and the answer itself only as ``debug_detail``, outside ``str()``/``repr()``."""

from __future__ import annotations

import json
from typing import Any

import anyio
import anyio.lowlevel
import httpx
import pytest

from dentrix_highlevel._server_text import WITHHELD, describe_messages, field_fault, shown_or_withheld
from dentrix_highlevel.errors import AscendError, DuplicateContactError, HighLevelError, ValidationError
from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RequestKind, RetryPolicy
from dentrix_highlevel.highlevel._failures import error_for
from dentrix_highlevel.migration._engine.context import failure_reason
from dentrix_highlevel.sources._ascend_client import AscendClient

PHI = "PHI-MARKER-Jane-Doe-1955"
DX = "diagnosis-MARKER"
_MARKS = ("phi-marker", "diagnosis-marker", "elm street")


def _clean(text: str) -> bool:
    low = text.lower()
    return not any(mark in low for mark in _MARKS)


# ---- field names from class-validator sentences -----------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("property gender should not exist", ("gender", "not allowed")),
        ("property customFields.0.fieldValue should not exist", ("customFields.0.fieldValue", "not allowed")),
        ("firstName should not be empty", ("firstName", "missing")),
        ("locationId should not be null or undefined", ("locationId", "missing")),
        ("email must be an email", ("email", "invalid")),
        ("customFields.0.value must be a string", ("customFields.0.value", "invalid")),
        ("each value in tags must be a string", ("tags", "invalid")),
        ("nested property customFields must be either object or array", ("customFields", "invalid")),
        ("items[2].name must be longer than or equal to 1 characters", ("items[2].name", "invalid")),
        ("dateOfBirth must be a valid ISO 8601 date string", ("dateOfBirth", "invalid")),
        ("source must be one of the following values: a, b", ("source", "invalid")),
    ],
)
def test_class_validator_sentences_give_the_field_path(message: str, expected: tuple[str, str]) -> None:
    assert field_fault(message) == expected


@pytest.mark.parametrize(
    "message",
    [
        f"{PHI} lives at 12 Elm Street; {DX}",
        f"property {PHI} should not exist",  # dashes: not an identifier
        "property Jane Doe should not exist",  # a space: not one token
        "Jane Doe must be an email",
        f"jane.doe@example.org must be an email",  # noqa: F541 -- the '@' is the point
        "property a.b-c should not exist",
        "property " + "x" * 81 + " should not exist",  # longer than any field path
        "Invalid token: access token is invalid",
        "12 Elm Street must",
        "",
    ],
)
def test_anything_else_is_no_field(message: str) -> None:
    assert field_fault(message) is None


def test_messages_are_shown_as_fields_categories_or_withheld() -> None:
    shown, fields = describe_messages(
        (
            "customFields.0.value must be a string",
            "email must be an email",
            f"{PHI} has {DX}",
            "This location does not allow duplicated contacts.",
            "Can not create duplicate opportunity for the contact.",
            f"Contact {PHI} not found",
            "email must be an email",
        )
    )
    assert shown == (
        "customFields.0.value (invalid)",
        "email (invalid)",
        "duplicate contact",
        "duplicate opportunity",
        "not found",
        WITHHELD,
    )
    assert fields == ("customFields.0.value", "email")


def test_only_our_renderings_pass_the_audit_gate() -> None:
    assert shown_or_withheld("email (invalid)") == "email (invalid)"
    assert shown_or_withheld("duplicate opportunity") == "duplicate opportunity"
    assert shown_or_withheld("property email should not exist") == WITHHELD
    assert shown_or_withheld(f"{PHI} (invalid)") == WITHHELD


# ---- errors built from hostile answers --------------------------------------------------------------------


def _hostile_body(status: int) -> dict[str, Any]:
    return {
        "statusCode": status,
        "message": [
            f"{PHI} lives at 12 Elm Street, {DX}",
            "customFields.0.value must be a string",
            "email must be an email",
            f"property {PHI} should not exist",
        ],
        "error": f"{PHI} {DX}",
        "code": f"{PHI}_CODE",
        "traceId": PHI,
        "meta": {"contactId": PHI, "matchingField": PHI, "nested": {"dx": [DX, {"name": PHI}]}},
    }


def _response(status: int, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1/contacts/")
    return httpx.Response(status, json=body, headers=headers or {}, request=request)


_HEADERS = {"x-trace-id": PHI, "retry-after": PHI, "x-phi": DX}


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 429, 500, 503])
def test_no_status_echoes_the_answer(status: int) -> None:
    body = _hostile_body(status)
    error = error_for(_response(status, body, headers=_HEADERS), body, method="POST", path="/contacts/")
    said = f"{error} {error!r} {error.message} {error.trace_id} {error.code} {failure_reason(error)}"
    said += " ".join(getattr(error, "messages", ()))
    assert _clean(said), said
    assert error.trace_id is None
    assert error.status_code == status
    assert error.debug_detail is not None
    assert PHI in error.debug_detail
    assert DX in error.debug_detail


def test_a_422_says_status_and_fields() -> None:
    body = _hostile_body(422)
    error = error_for(_response(422, body), body, method="POST", path="/contacts/")
    assert isinstance(error, ValidationError)
    assert error.messages == ("customFields.0.value (invalid)", "email (invalid)", WITHHELD)
    assert error.fields == ("customFields.0.value", "email")
    assert failure_reason(error) == (
        f"HighLevel refused: ValidationError 422: customFields.0.value (invalid), email (invalid), {WITHHELD}"
    )


def test_a_duplicate_answer_keeps_only_an_id_shaped_contact_id() -> None:
    hostile = {
        "message": "This location does not allow duplicated contacts.",
        "meta": {"contactId": PHI, "matchingField": f"{PHI} email"},
    }
    error = error_for(_response(400, hostile), hostile, method="POST", path="/contacts/")
    assert isinstance(error, DuplicateContactError)
    assert error.contact_id is None
    assert error.matching_field is None
    assert error.messages == ("duplicate contact",)
    genuine = {
        "message": "This location does not allow duplicated contacts.",
        "meta": {"contactId": "ve9EPM428h8vShlRW1KT", "matchingField": "email"},
        "traceId": "0c56e6a0-6e32-4e56-8c72-119d61e0e072",
    }
    error = error_for(_response(400, genuine), genuine, method="POST", path="/contacts/")
    assert isinstance(error, DuplicateContactError)
    assert (error.contact_id, error.matching_field) == ("ve9EPM428h8vShlRW1KT", "email")
    assert error.trace_id == "0c56e6a0-6e32-4e56-8c72-119d61e0e072"


def test_codes_and_trace_ids_of_the_right_shape_are_kept() -> None:
    body = {
        "statusCode": 400,
        "message": "Can not create duplicate opportunity for the contact.",
        "error": "Bad Request",
        "code": "OPPORTUNITY_NO_DUPLICATE",
    }
    response = _response(400, body, headers={"x-trace-id": "5f1c9e2ab34d47e0a1b2c3d4e5f60718"})
    error = error_for(response, body, method="POST", path="/opportunities/")
    assert error.code == "OPPORTUNITY_NO_DUPLICATE"
    assert error.trace_id == "5f1c9e2ab34d47e0a1b2c3d4e5f60718"
    assert "OPPORTUNITY_NO_DUPLICATE" in str(error)
    assert "Can not create" not in str(error)
    assert failure_reason(error) == (
        "HighLevel refused: ValidationError 400: OPPORTUNITY_NO_DUPLICATE, duplicate opportunity"
    )


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("The token is not authorized for this scope.", "scope"),
        ("version header is invalid", "version"),
        (f"Invalid token: {PHI}", "token"),
        (f"{PHI} {DX}", "unknown"),
    ],
)
def test_a_401_is_classified_and_only_the_class_is_said(message: str, reason: str) -> None:
    body = {"statusCode": 401, "message": message}
    error = error_for(_response(401, body), body, method="GET", path="/locations/x")
    assert getattr(error, "reason", None) == reason
    assert str(error).startswith(f"HighLevel refused the credentials ({reason})")
    assert message not in str(error)


def test_a_validation_error_raised_with_raw_text_elsewhere_does_not_reach_the_audit() -> None:
    # ValidationError is public: code of any caller may build one with HighLevel's sentences.
    error = ValidationError("x", messages=(f"{PHI} has {DX}", "email (invalid)"), status_code=422)
    assert failure_reason(error) == f"HighLevel refused: ValidationError 422: {WITHHELD}, email (invalid)"


# ---- the client over a hostile loopback app ---------------------------------------------------------------


def _hostile_transport(status: int, body: Any) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers=_HEADERS)

    return httpx.MockTransport(answer)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
def test_the_client_raises_errors_that_echo_nothing(status: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")

    async def go() -> HighLevelError:
        async with HighLevelClient(
            location_id="loc1",
            token="pit-hostile",
            base_url="http://127.0.0.1:9",
            transport=_hostile_transport(status, _hostile_body(status)),
            retry=RetryPolicy(max_attempts=1),
            limiter=RateLimiter(RateBudget()),
        ) as hl:
            with pytest.raises(HighLevelError) as caught:
                await hl.call("POST", "/contacts/x/notes", kind=RequestKind.CREATE, json={"body": "n"})
            return caught.value

    error = anyio.run(go)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert _clean(f"{error} {error!r} {logged}"), (str(error), logged)
    assert PHI in (error.debug_detail or "")


# ---- Ascend ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "token_status"), [(400, 200), (403, 200), (404, 200), (500, 200), (0, 401)]
)
def test_ascend_errors_echo_nothing(status: int, token_status: int) -> None:
    hostile = {
        "errors": [{"code": "bad_filter", "message": f"{PHI} at 12 Elm Street, {DX}", "detail": {"x": PHI}}],
        "message": PHI,
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/accesstoken"):
            if token_status != 200:
                return httpx.Response(token_status, json={**hostile, "echo": "ascend-secret-1"})
            return httpx.Response(200, json={"access_token": "at-1", "expires_in": "3600"})
        return httpx.Response(status, json=hostile, headers=_HEADERS)

    async def go() -> AscendError:
        client = AscendClient(
            base_url="http://127.0.0.1:9/api",
            client_id="cid",
            client_secret="ascend-secret-1",
            organization_id="org1",
            transport=httpx.MockTransport(answer),
            sleep=lambda _s: anyio.lowlevel.checkpoint(),
        )
        try:
            with pytest.raises(AscendError) as caught:
                await client.get("patients")
        finally:
            await client.aclose()
        return caught.value

    error = anyio.run(go)
    assert _clean(f"{error} {error!r}"), str(error)
    assert error.code == "bad_filter"
    assert "bad_filter" in str(error)
    detail = error.debug_detail or ""
    assert PHI in detail
    assert "ascend-secret-1" not in detail  # our own secret, echoed back, is blotted out even there
    assert json.dumps(hostile) not in str(error)
