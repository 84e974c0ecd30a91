"""Security #15, item 2 on the command line: plain http beyond loopback ends with exit 2 before anything is
read or sent, naming scheme and host (never the token); ``--use-env-proxy`` is the only way to the proxy
environment, for HighLevel and Ascend alike."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from tests.cli._cli import cli

from dentrix_highlevel.cli._common import (
    EXIT_USAGE,
    AscendCredentials,
    DestinationFlags,
    SourceSpec,
    open_source,
)

TOKEN = "pit-cli-secret-token"


def _plan(tmp_path: Path, *extra: str, source: str | None = None) -> tuple[int, str]:
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    outcome = cli(
        "plan",
        "--source",
        source or f"g-export:{export}",
        "--workdir",
        str(tmp_path / "wd"),
        "--location-id",
        "loc1",
        "--practice-timezone",
        "America/Denver",
        *extra,
        env={"HIGHLEVEL_TOKEN": TOKEN, "ASCEND_CLIENT_SECRET": TOKEN},
    )
    return outcome.code, outcome.output


def test_plan_refuses_a_plain_http_base_url(tmp_path: Path) -> None:
    code, output = _plan(tmp_path, "--base-url", "http://evil.example:8080/")
    assert code == EXIT_USAGE, output
    assert "http://evil.example" in output
    assert TOKEN not in output
    assert not (tmp_path / "wd" / "migration.json").exists()


def test_plan_refuses_a_plain_http_ascend_source(tmp_path: Path) -> None:
    code, output = _plan(tmp_path, source="ascend:http://prod.hs1api.com/ascend-gateway/api")
    assert code == EXIT_USAGE, output
    assert "http://prod.hs1api.com" in output
    assert TOKEN not in output


def test_the_proxy_flag_is_offered() -> None:
    outcome = cli("plan", "--help")
    assert "--use-env-proxy" in outcome.stdout


def _flags(*, use_env_proxy: bool) -> DestinationFlags:
    return DestinationFlags(
        base_url="http://127.0.0.1:8765",  # a sandbox: loopback http is fine
        location_id="loc1",
        token=TOKEN,
        rate_max=None,
        rate_window_ms=None,
        daily_max=None,
        use_env_proxy=use_env_proxy,
    )


@pytest.mark.parametrize("opted", [False, True])
def test_use_env_proxy_reaches_both_clients(opted: bool) -> None:
    destination = _flags(use_env_proxy=opted).resolve(None)
    assert "use_env_proxy" not in destination.to_dict()  # a terminal's choice, not the migration's
    spec = SourceSpec.parse("ascend:https://test.hs1api.com/ascend-gateway/api", practice_timezone="UTC")
    credentials = AscendCredentials(client_id="cid", client_secret=TOKEN, organization_id="org1")

    async def check() -> tuple[bool, bool]:
        source = open_source(spec, credentials, use_env_proxy=destination.use_env_proxy)
        async with destination.client() as hl:
            seen = (hl.trust_env, source.client.trust_env)
        await source.client.aclose()
        return seen

    assert anyio.run(check) == (opted, opted)


@pytest.mark.parametrize(
    ("flag", "env"), [("--token", "HIGHLEVEL_TOKEN"), ("--ascend-client-secret", "ASCEND_CLIENT_SECRET")]
)
def test_a_secret_on_the_command_line_is_warned_about_never_echoed(
    tmp_path: Path, flag: str, env: str
) -> None:
    secret = "pit-visible-in-ps-0001"
    _, output = _plan(tmp_path, flag, secret, "--base-url", "http://evil.example/")
    assert f"warning: {flag} on the command line" in output
    assert f"set {env} in the environment" in output
    assert secret not in output
    _, quiet = _plan(tmp_path, "--base-url", "http://evil.example/")  # the same secrets from the environment
    assert "warning:" not in quiet
