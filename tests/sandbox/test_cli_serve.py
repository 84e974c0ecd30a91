"""``dentrix-highlevel sandbox serve`` in a subprocess: it prints the location and token, answers a
curl-equivalent request exactly as HighLevel would, and applies its rate-limit options."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from dentrix_highlevel.cli import main
from dentrix_highlevel.sandbox import free_port


@pytest.fixture
def served() -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dentrix_highlevel",
            "sandbox",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--location-id",
            "CliLocation000000001",
            "--token",
            "pit-11111111-2222-4333-8444-555555555555",
            "--rate-max",
            "3",
            "--rate-window-ms",
            "60000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        printed: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("location id", "token", "company id"):
                printed[key.strip()] = value.strip()
            if line.startswith("admin:"):
                break
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base_url}/_sandbox/faults", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield base_url, printed
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_prints_and_answers(served: tuple[str, dict[str, str]]) -> None:
    base_url, printed = served
    assert printed["location id"] == "CliLocation000000001"
    assert printed["token"] == "pit-11111111-2222-4333-8444-555555555555"
    headers = {"Authorization": f"Bearer {printed['token']}", "Version": "2021-07-28"}
    response = httpx.get(f"{base_url}/locations/CliLocation000000001", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["location"]["id"] == "CliLocation000000001"
    assert body["location"]["settings"]["allowDuplicateContact"] is False
    assert response.headers["X-RateLimit-Max"] == "3"
    assert response.headers["X-RateLimit-Interval-Milliseconds"] == "60000"
    statuses = [
        httpx.get(f"{base_url}/locations/CliLocation000000001", headers=headers).status_code for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    no_version = httpx.get(
        f"{base_url}/locations/CliLocation000000001", headers={"Authorization": headers["Authorization"]}
    )
    assert no_version.status_code == 401
    assert no_version.json()["message"] == "version header was not found."


def test_serve_rejects_non_loopback_and_bad_options() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["sandbox", "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback" in result.output
    result = runner.invoke(main, ["sandbox", "serve", "--latency-ms", "fast"])
    assert result.exit_code == 2
    result = runner.invoke(main, ["sandbox", "serve", "--error-rate", "2"])
    assert result.exit_code == 2
    assert "probability" in result.output


def _served_app(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[object, str]:
    """Run ``sandbox serve`` with uvicorn.run captured: the ASGI app it would serve, and its output."""
    import uvicorn

    captured: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: captured.setdefault("app", app))
    result = CliRunner().invoke(main, ["sandbox", "serve", *args])
    assert result.exit_code == 0, result.output
    return captured["app"], result.output


@pytest.mark.anyio
async def test_serve_scopes_limit_the_printed_token(monkeypatch: pytest.MonkeyPatch) -> None:
    app, output = _served_app(
        monkeypatch, "--location-id", "CliLocation000000002", "--scopes", "contacts.readonly,contacts.write"
    )
    token = next(line.split()[-1] for line in output.splitlines() if line.startswith("token:"))
    assert "scopes:      contacts.readonly contacts.write" in output
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    headers = {"Authorization": f"Bearer {token}", "Version": "2021-07-28"}
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
        denied = await client.get("/locations/CliLocation000000002")
        assert denied.status_code == 401
        assert denied.json()["message"] == "The token is not authorized for this scope."
        created = await client.post(
            "/contacts/", json={"locationId": "CliLocation000000002", "firstName": "A"}
        )
        assert created.status_code == 201


def test_serve_refuses_unknown_scopes() -> None:
    result = CliRunner().invoke(main, ["sandbox", "serve", "--scopes", "contacts.readonly,contact.write"])
    assert result.exit_code == 2
    assert "unknown scopes: contact.write" in result.output
