"""The Ascend emulator over HTTP (in-process ASGI): auth, headers, envelope, paging, filters, limits, log,
mutations, and the synthetic practice it serves."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dentrix_highlevel.ascend_emulator import (
    AscendEmulator,
    AscendEmulatorConfig,
    ascend_id,
    phone_entries,
    utc,
)
from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.records import Patient
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

HOST = "https://test.hs1api.com"
API = "/ascend-gateway/api"
TOKEN = "/oauth/client_credential/accesstoken"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def practice() -> SyntheticPractice:
    return SyntheticPractice(SynthConfig(patients=40, seed=5))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emulator(practice: SyntheticPractice, clock: Clock) -> AscendEmulator:
    return AscendEmulator(practice, AscendEmulatorConfig(clock=clock, rate_max=5, rate_window_ms=1000))


@pytest.fixture
async def http(emulator: AscendEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=HOST) as client:
        yield client


async def token(http: httpx.AsyncClient, emulator: AscendEmulator) -> dict[str, str]:
    reply = await http.post(
        TOKEN,
        params={"grant_type": "client_credentials"},
        data={"client_id": emulator.config.client_id, "client_secret": emulator.config.client_secret},
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == "3600"
    return {
        "Authorization": f"Bearer {body['access_token']}",
        "Organization-ID": emulator.config.organization_id,
    }


@pytest.mark.anyio
async def test_token_endpoint_checks_grant_and_credentials(
    http: httpx.AsyncClient, emulator: AscendEmulator
) -> None:
    good = {"client_id": emulator.config.client_id, "client_secret": emulator.config.client_secret}
    assert (await http.post(TOKEN, params={"grant_type": "password"}, data=good)).status_code == 400
    bad = {"client_id": emulator.config.client_id, "client_secret": "nope"}
    refused = await http.post(TOKEN, params={"grant_type": "client_credentials"}, data=bad)
    assert refused.status_code == 401
    assert refused.json()["ErrorCode"] == "invalid_client"
    await token(http, emulator)
    assert emulator.tokens_issued == 1


@pytest.mark.anyio
async def test_api_calls_need_a_bearer_token_and_the_organization(
    http: httpx.AsyncClient, emulator: AscendEmulator, clock: Clock
) -> None:
    headers = await token(http, emulator)
    no_token = await http.get(
        f"{API}/v1/patients", headers={"Organization-ID": emulator.config.organization_id}
    )
    assert no_token.status_code == 401
    assert no_token.json()["fault"]["detail"]["errorcode"] == "oauth.v2.InvalidAccessToken"
    no_org = await http.get(f"{API}/v1/patients", headers={"Authorization": headers["Authorization"]})
    assert no_org.status_code == 400
    assert no_org.json()["errors"][0]["code"] == "missing_organization"
    other_org = await http.get(f"{API}/v1/patients", headers={**headers, "Organization-ID": "f" * 24})
    assert other_org.status_code == 403
    assert (await http.get(f"{API}/v1/nothing", headers=headers)).status_code == 404
    assert (await http.get(f"{API}/v1/patients", headers=headers)).status_code == 200
    clock.now += 3600  # the token's lifetime
    assert (await http.get(f"{API}/v1/patients", headers=headers)).status_code == 401
    assert [r.status for r in emulator.request_log] == [200, 401, 400, 403, 404, 200, 401]


@pytest.mark.anyio
async def test_envelope_and_both_paginations(
    http: httpx.AsyncClient, emulator: AscendEmulator, clock: Clock
) -> None:
    headers = await token(http, emulator)
    everyone = [p["id"] for p in emulator.objects("patients")]
    first = (await http.get(f"{API}/v1/patients", headers=headers, params={"page": 2, "pageSize": 15})).json()
    assert set(first) == {"data", "warnings", "meta"}
    assert first["warnings"] == []
    assert first["meta"]["pagination"] == {"page": 2, "pageSize": 15, "total": 40, "lastId": everyone[29]}
    assert [p["id"] for p in first["data"]] == everyone[15:30]
    clock.now += 1
    keyset = (
        await http.get(f"{API}/v1/patients", headers=headers, params={"lastId": everyone[29], "pageSize": 15})
    ).json()
    assert [p["id"] for p in keyset["data"]] == everyone[30:]
    assert keyset["meta"]["pagination"]["lastId"] == everyone[-1]
    too_big = await http.get(f"{API}/v1/patients", headers=headers, params={"pageSize": 10_000})
    assert too_big.status_code == 400


@pytest.mark.anyio
async def test_filters_over_http(
    http: httpx.AsyncClient, emulator: AscendEmulator, practice: SyntheticPractice
) -> None:
    headers = await token(http, emulator)
    bundle = next(b for b in practice.bundles() if len([a for a in b.appointments if not a.deleted]) >= 2)
    pid = ascend_id(bundle.patient_id)
    reply = await http.get(f"{API}/v1/appointments", headers=headers, params={"filter": f"patient.id=={pid}"})
    served = reply.json()["data"]
    assert sorted(a["id"] for a in served) == sorted(
        ascend_id(a.appointment_id) for a in bundle.appointments if not a.deleted
    )
    both = f"patient.id->[{pid},{ascend_id('1001')}],duration>=60"
    reply = await http.get(f"{API}/v1/appointments", headers=headers, params={"filter": both})
    assert all(
        a["duration"] >= 60 and a["patient"]["id"] in (pid, ascend_id("1001")) for a in reply.json()["data"]
    )
    bad = await http.get(f"{API}/v1/appointments", headers=headers, params={"filter": "patient.id->[1"})
    assert bad.status_code == 400


@pytest.mark.anyio
async def test_rate_limit_answers_429_with_retry_after(
    http: httpx.AsyncClient, emulator: AscendEmulator, clock: Clock
) -> None:
    headers = await token(http, emulator)
    statuses = []
    for step in range(7):
        clock.now += 0.1 if step else 0
        statuses.append((await http.get(f"{API}/v1/locations", headers=headers)).status_code)
    assert statuses == [200] * 5 + [429, 429]
    limited = await http.get(f"{API}/v1/locations", headers=headers)
    assert limited.status_code == 429
    # The oldest admitted request (at t=50.0) leaves the 1 s window at 51.0; it is now 50.6.
    assert float(limited.headers["Retry-After"]) == pytest.approx(0.4)
    clock.now += 0.4
    assert (await http.get(f"{API}/v1/locations", headers=headers)).status_code == 200


@pytest.mark.anyio
async def test_mutations_bump_last_modified_for_delta_filters(
    practice: SyntheticPractice, clock: Clock
) -> None:
    stamp = dt.datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    emulator = AscendEmulator(practice, AscendEmulatorConfig(clock=clock, now=lambda: stamp))
    target = emulator.objects("patients")[3]["id"]
    emulator.update("patients", target, {"lastName": "Changed"})
    archived = emulator.objects("patients")[5]["id"]
    emulator.archive_patient(archived)
    added = emulator.add_patient(first_name="Nova", last_name="Person")
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=HOST) as http:
        headers = await token(http, emulator)
        reply = await http.get(
            f"{API}/v1/patients", headers=headers, params={"filter": "lastModified>=2031-01-01T00:00:00Z"}
        )
    changed = {p["id"]: p for p in reply.json()["data"]}
    assert set(changed) == {target, archived, added["id"]}
    assert changed[target]["lastModified"] == "2031-05-06T07:08:09.123Z"
    assert changed[archived]["patientStatus"] == "ARCHIVED"
    assert changed[added["id"]]["primaryGuarantor"]["id"] == added["id"]
    with pytest.raises(ConfigurationError):
        emulator.update("patients", "404", {"lastName": "x"})


@pytest.mark.anyio
async def test_aging_report_filters_by_location(http: httpx.AsyncClient, emulator: AscendEmulator) -> None:
    headers = await token(http, emulator)
    here = await http.get(
        f"{API}/v1/agingbalances/report",
        headers=headers,
        params={"filter": f"location.id=={emulator.location_id},page==1", "pageSize": 500},
    )
    data = here.json()["data"]
    assert data["type"] == "AgingBalanceReportV1"
    assert data["patientReports"]
    assert data["balance"] == pytest.approx(sum(r["balance"] for r in data["patientReports"]))
    for row in data["patientReports"]:
        assert row["balance"] == pytest.approx(row["current"] + row["over30"] + row["over60"] + row["over90"])
    elsewhere = await http.get(
        f"{API}/v1/agingbalances/report", headers=headers, params={"filter": "location.id==1"}
    )
    assert elsewhere.json()["data"]["patientReports"] == []


def test_served_practice_matches_the_synthetic_one(practice: SyntheticPractice) -> None:
    emulator = AscendEmulator(practice)
    bundles = list(practice.bundles())
    assert len(emulator.objects("patients")) == len(bundles)
    kept = sum(1 for b in bundles for a in b.appointments if not a.deleted)
    unattached = len(list(practice.unattached_appointments()))
    assert len(emulator.objects("appointments")) == kept + unattached
    assert len(emulator.objects("patient_procedures")) == sum(len(b.procedures) for b in bundles)
    # One summer and one winter appointment: Denver is UTC-6 in July and UTC-7 in January.
    tz = __import__("zoneinfo").ZoneInfo("America/Denver")
    assert utc(dt.datetime(2025, 7, 1, 9, 0), tz) == "2025-07-01T15:00:00.000Z"
    assert utc(dt.datetime(2025, 1, 15, 9, 30), tz) == "2025-01-15T16:30:00.000Z"
    appointment = next(a for b in bundles for a in b.appointments if not a.deleted and a.start)
    served = emulator.get("appointments", ascend_id(appointment.appointment_id))
    assert appointment.start is not None
    assert appointment.length_min is not None
    assert served["start"] == utc(appointment.start, tz)
    assert served["end"] == utc(appointment.start + dt.timedelta(minutes=appointment.length_min), tz)
    assert served["duration"] == appointment.length_min


def test_phones_become_digits_with_extensions_apart() -> None:
    patient = Patient(
        patient_id="1001",
        home_phone="(801) 555-0123 x45",
        work_phone="801.555.0199",
        work_ext="12",
        mobile_phone="555-0100",
    )
    entries: list[dict[str, Any]] = phone_entries(patient)
    assert [(e["phoneType"], e["number"], e["extension"], e["isPrimary"]) for e in entries] == [
        ("HOME", "8015550123", "45", True),
        ("WORK", "8015550199", "12", False),
        ("MOBILE", "5550100", "", False),
    ]


def test_configuration_is_checked() -> None:
    with pytest.raises(ConfigurationError):
        AscendEmulatorConfig(rate_max=0)
    with pytest.raises(ConfigurationError):
        AscendEmulatorConfig(paths={"x-rays": "v1/xrays"})
