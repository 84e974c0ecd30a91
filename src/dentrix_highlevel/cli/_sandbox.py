"""``dentrix-highlevel sandbox serve``: the HighLevel emulator on loopback.

The sandbox modules (starlette, uvicorn) are imported only when the command runs, so the rest of the
command line works without the ``sandbox`` extra.
"""

from __future__ import annotations

import click

from dentrix_highlevel._errors import ConfigurationError

__all__ = ["sandbox"]


def _range_ms(value: str | None) -> tuple[float, float]:
    if value is None:
        return (0.0, 0.0)
    low, sep, high = value.partition(":")
    try:
        pair = (float(low), float(high if sep else low))
    except ValueError:
        raise click.BadParameter("expected MIN:MAX in milliseconds, e.g. 150:400") from None
    return pair


def _storm(value: str | None) -> tuple[float | None, float]:
    if value is None:
        return (None, 0.0)
    after, sep, duration = value.partition(":")
    try:
        return (float(after), float(duration)) if sep else (0.0, float(after))
    except ValueError:
        raise click.BadParameter("expected AFTER_S:DURATION_S (or DURATION_S from start)") from None


def _scopes(value: str | None, known: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--scopes a,b``: None (every scope) when not given; a typo is refused rather than silently denied."""
    if value is None:
        return None
    scopes = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not scopes:
        raise click.BadParameter("give at least one scope, e.g. contacts.readonly,contacts.write")
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        raise click.BadParameter(f"unknown scopes: {', '.join(unknown)} (known: {', '.join(known)})")
    return scopes


@click.group()
def sandbox() -> None:
    """The HighLevel API v2 sandbox (an emulator on loopback)."""


@sandbox.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--location-id", default=None, help="Id of the location to create (default: generated).")
@click.option("--token", default=None, help="Private Integration Token to accept (default: pit-<uuid>).")
@click.option("--allow-duplicates", is_flag=True, help="The location allows duplicate contacts.")
@click.option("--dedupe-order", default="email,phone", show_default=True, help="Upsert matching priority.")
@click.option("--timezone", default="America/Denver", show_default=True)
@click.option("--rate-window-ms", default=10_000, show_default=True, type=int, help="Burst window.")
@click.option("--rate-max", default=100, show_default=True, type=int, help="Requests per burst window.")
@click.option("--daily-max", default=200_000, show_default=True, type=int, help="Requests per day.")
@click.option("--seed", default=0, show_default=True, type=int, help="RNG seed for ids and faults.")
@click.option("--latency-ms", default=None, metavar="MIN:MAX", help="Uniform extra latency per request.")
@click.option("--spike-rate", default=0.0, type=float, help="Probability of a latency spike.")
@click.option("--spike-ms", default=0.0, type=float, help="Extra milliseconds of a spike.")
@click.option("--error-rate", default=0.0, type=float, help="Probability of a 500/502/503 before any work.")
@click.option(
    "--error-after-commit-rate", default=0.0, type=float, help="Probability of a 5xx after a write."
)
@click.option(
    "--created-anyway-rate", default=0.0, type=float, help="Contact create/upsert commits, then 422."
)
@click.option(
    "--timeout-rate", default=0.0, type=float, help="Probability the answer is delayed past a timeout."
)
@click.option(
    "--timeout-s", default=30.0, type=float, show_default=True, help="How long a timed-out answer waits."
)
@click.option("--reset-rate", default=0.0, type=float, help="Probability the connection drops mid-response.")
@click.option("--429-storm", "storm", default=None, metavar="AFTER_S:DURATION_S", help="A period of 429s.")
@click.option("--advertised-rate-max", default=None, type=int, help="Lower X-RateLimit-Max (and enforce it).")
@click.option(
    "--search-lag-ms",
    default=3000.0,
    show_default=True,
    type=float,
    help="Delay before writes show in search (0: at once; POST /_sandbox/search-index/settle on demand).",
)
@click.option(
    "--scopes",
    default=None,
    metavar="SCOPE,SCOPE,…",
    help="Scopes the printed token carries (default: every scope the sandbox checks).",
)
def serve(
    host: str,
    port: int,
    location_id: str | None,
    token: str | None,
    allow_duplicates: bool,
    dedupe_order: str,
    timezone: str,
    rate_window_ms: int,
    rate_max: int,
    daily_max: int,
    seed: int,
    latency_ms: str | None,
    spike_rate: float,
    spike_ms: float,
    error_rate: float,
    error_after_commit_rate: float,
    created_anyway_rate: float,
    timeout_rate: float,
    timeout_s: float,
    reset_rate: float,
    storm: str | None,
    advertised_rate_max: int | None,
    search_lag_ms: float,
    scopes: str | None,
) -> None:
    """Serve the sandbox until Ctrl-C, after printing the location id and token it created."""
    try:
        import uvicorn

        from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
        from dentrix_highlevel.sandbox._state import ALL_SCOPES
    except ImportError as error:  # pragma: no cover - depends on the install
        raise click.UsageError(
            f"the sandbox needs the 'sandbox' extra: pip install 'dentrix-highlevel[sandbox]' ({error})"
        ) from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise click.UsageError("the sandbox serves on loopback only (127.0.0.1, localhost or ::1)")
    storm_after_s, storm_duration_s = _storm(storm)
    granted = _scopes(scopes, ALL_SCOPES)
    try:
        faults = FaultConfig(
            latency_ms=_range_ms(latency_ms),
            spike_rate=spike_rate,
            spike_ms=spike_ms,
            error_rate=error_rate,
            error_after_commit_rate=error_after_commit_rate,
            created_anyway_rate=created_anyway_rate,
            timeout_rate=timeout_rate,
            timeout_s=timeout_s,
            reset_rate=reset_rate,
            storm_after_s=storm_after_s,
            storm_duration_s=storm_duration_s,
            advertised_rate_max=advertised_rate_max,
        )
        config = SandboxConfig(
            rate_window_ms=rate_window_ms,
            rate_max=rate_max,
            daily_max=daily_max,
            seed=seed,
            search_index_lag_ms=search_lag_ms,
        )
        emulator = Sandbox(config, faults=faults)
        info = emulator.create_location(
            location_id=location_id,
            token=token,
            allow_duplicates=allow_duplicates,
            dedupe_order=tuple(part.strip() for part in dedupe_order.split(",") if part.strip()),
            timezone=timezone,
            scopes=granted,
        )
    except ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    base_url = f"http://{host}:{port}"
    # The token is printed on purpose: the user asked the sandbox to create it, and it is fake.
    click.echo(f"HighLevel sandbox on {base_url}")
    click.echo(f"location id: {info.location_id}")
    click.echo(f"company id:  {info.company_id}")
    click.echo(f"token:       {info.token}")
    if granted is not None:
        click.echo(f"scopes:      {' '.join(granted)}")
    click.echo("try:")
    click.echo(
        f'  curl -H "Authorization: Bearer {info.token}" -H "Version: 2021-07-28" '
        f"{base_url}/locations/{info.location_id}"
    )
    click.echo(f"admin: {base_url}/_sandbox/state, /_sandbox/requests (see docs/sandbox.md). Ctrl-C stops.")
    uvicorn.run(emulator.app, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
