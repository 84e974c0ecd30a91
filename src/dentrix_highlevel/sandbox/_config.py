"""Configuration of the sandbox: its rate budget and clock, and the faults it injects."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs

from dentrix_highlevel._errors import ConfigurationError

__all__ = ["FaultConfig", "SandboxConfig", "Strictness"]

#: HighLevel's documented limits (API-NOTES §12).
DEFAULT_RATE_WINDOW_MS = 10_000
DEFAULT_RATE_MAX = 100
DEFAULT_DAILY_MAX = 200_000
#: "If adding a file, maximum allowed is 25 MB" (spec medias).
DEFAULT_MEDIA_MAX_BYTES = 25 * 1024 * 1024
#: "Updates may take a few seconds to appear in search results" (search doc, API-NOTES §2.5, §13).
DEFAULT_SEARCH_INDEX_LAG_MS = 3_000.0


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ConfigurationError(f"{attribute.name} must be > 0")


def _probability(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"{attribute.name} must be a probability in [0, 1]")


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must be >= 0")


@attrs.frozen(kw_only=True)
class Strictness:
    """Which of HighLevel's refusals the sandbox enforces. All on by default, as on the real API.

    Each switch exists so a test can turn one behaviour off on purpose (``Strictness(query_params=False)``)
    and prove what it guards against; ``Strictness.lenient()`` turns them all off. docs/sandbox.md has the
    fidelity table: each behaviour, its source, and whether it is a guess.

    - ``scopes``: the token needs the operation's scope (401 before any validation).
    - ``versions``: the ``Version`` header must be the one the operation declares (401 otherwise); off,
      any documented version is accepted anywhere.
    - ``body_properties``: a body property the operation does not declare (nor lists as undocumented) is
      a 422; off, unknown properties are dropped silently.
    - ``query_params``: the same for query parameters.
    - ``calendar_teams``: team members per calendarType (required for round robin, collective, class and
      service calendars, exactly one for personal ones), each a user of the location; an appointment's
      ``assignedUserId`` must be on its calendar's team.
    - ``custom_field_types``: custom field values must fit the field's dataType, with one clear rule per
      type (``_contacts_model.clears``); off, the old coercions (``"12"`` for a number) are back.
    - ``upsert_identity``: ``POST /contacts/upsert`` needs an ``email`` or a ``phone`` (400 otherwise).
    - ``search_lag``: the search index lags writes by ``SandboxConfig.search_index_lag_ms``; off, writes are
      searchable at once.
    """

    scopes: bool = True
    versions: bool = True
    body_properties: bool = True
    query_params: bool = True
    calendar_teams: bool = True
    custom_field_types: bool = True
    search_lag: bool = True
    upsert_identity: bool = True

    @classmethod
    def lenient(cls) -> Strictness:
        """Every switch off: the sandbox's behaviour before it was made strict."""
        return cls(**{f.name: False for f in attrs.fields(cls)})


@attrs.frozen(kw_only=True)
class SandboxConfig:
    """How the sandbox behaves apart from faults.

    ``clock`` is a monotonic clock in seconds: it drives the rate windows, the daily cap's day, token
    expiry and the request log. ``wall_clock`` (epoch seconds) only stamps ``dateAdded``/``dateUpdated``.
    Scale ``rate_window_ms``/``rate_max`` (and ``day_length_s``) down for benchmarks.
    """

    rate_window_ms: int = attrs.field(default=DEFAULT_RATE_WINDOW_MS, validator=_positive)
    rate_max: int = attrs.field(default=DEFAULT_RATE_MAX, validator=_positive)
    daily_max: int = attrs.field(default=DEFAULT_DAILY_MAX, validator=_positive)
    day_length_s: float = attrs.field(default=86_400.0, validator=_positive)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    #: Fixes the ids a sandbox mints (and its fault draws). ``None`` (the default): every ``Sandbox`` draws
    #: its own id seed, so two sandboxes in one process never hand out the same location or token; fault
    #: draws then follow seed 0, so a fault scenario plays out the same on every run.
    seed: int | None = None
    media_max_bytes: int = attrs.field(default=DEFAULT_MEDIA_MAX_BYTES, validator=_positive)
    #: HighLevel's search index lags writes ("a few seconds"); 0 makes writes searchable at once. Tests
    #: that seed pre-existing data call ``Sandbox.settle_search_index()`` instead of sleeping.
    search_index_lag_ms: float = attrs.field(default=DEFAULT_SEARCH_INDEX_LAG_MS, validator=_non_negative)
    #: OAuth access tokens live "a day": HighLevel answers ``expires_in: 86399``.
    access_token_ttl_s: float = attrs.field(default=86_399.0, validator=_positive)
    strict: Strictness = attrs.field(factory=Strictness)

    @property
    def effective_search_lag_s(self) -> float:
        """The lag the search endpoints apply: none when ``strict.search_lag`` is off."""
        return self.search_index_lag_ms / 1000 if self.strict.search_lag else 0.0


@attrs.frozen(kw_only=True)
class FaultConfig:
    """Faults injected into HighLevel API calls (never into ``/_sandbox/`` admin routes or ``/oauth``).

    All draws use the sandbox's seeded RNG. Rates are per request probabilities.

    - ``latency_ms``: (min, max) uniform extra latency; ``spike_rate``/``spike_ms`` add rare long waits.
      Latency is an async sleep, so concurrent requests overlap as on a real server.
    - ``error_rate``: answer one of ``error_statuses`` *before* doing anything (nothing is written).
    - ``error_after_commit_rate``: do the write, then answer one of ``error_statuses``.
    - ``created_anyway_rate``: contact create/upsert commits, then answers ``created_anyway_status``
      (HighLevel's "4xx returned but the contact was created anyway", API-NOTES §13).
    - ``timeout_rate``: the request is processed but the answer never arrives in time. In-process the
      transport raises ``httpx.ReadTimeout``; served over a socket the server sleeps ``timeout_s`` first.
    - ``reset_rate``: the connection drops. In-process ``httpx.RemoteProtocolError`` (after the request was
      processed, so a write may have happened); served, the response is cut off mid-body.
    - ``connect_error_rate``: in-process only, ``httpx.ConnectError`` before the request reaches the app.
    - ``storm_after_s``/``storm_duration_s``: a 429 storm: every API request in that period (measured on
      the sandbox clock from when these faults were set) gets 429 with ``Retry-After``.
    - ``advertised_rate_max``: lower the burst max mid-run; it is advertised in ``X-RateLimit-Max`` and
      enforced, like an account whose real limit is below the documented one.
    """

    latency_ms: tuple[float, float] = (0.0, 0.0)
    spike_rate: float = attrs.field(default=0.0, validator=_probability)
    spike_ms: float = attrs.field(default=0.0, validator=_non_negative)
    error_rate: float = attrs.field(default=0.0, validator=_probability)
    error_after_commit_rate: float = attrs.field(default=0.0, validator=_probability)
    error_statuses: tuple[int, ...] = (500, 502, 503)
    created_anyway_rate: float = attrs.field(default=0.0, validator=_probability)
    created_anyway_status: int = 422
    timeout_rate: float = attrs.field(default=0.0, validator=_probability)
    timeout_s: float = attrs.field(default=30.0, validator=_non_negative)
    reset_rate: float = attrs.field(default=0.0, validator=_probability)
    connect_error_rate: float = attrs.field(default=0.0, validator=_probability)
    storm_after_s: float | None = None
    storm_duration_s: float = attrs.field(default=0.0, validator=_non_negative)
    storm_retry_after_s: float = attrs.field(default=1.0, validator=_non_negative)
    advertised_rate_max: int | None = None

    def __attrs_post_init__(self) -> None:
        low, high = self.latency_ms
        if low < 0 or high < low:
            raise ConfigurationError("latency_ms must be (min, max) with 0 <= min <= max")
        if not self.error_statuses or any(not 500 <= s <= 599 for s in self.error_statuses):
            raise ConfigurationError("error_statuses must be a non-empty tuple of 5xx codes")
        if self.created_anyway_status not in (400, 422):
            raise ConfigurationError("created_anyway_status must be 400 or 422")
        if self.advertised_rate_max is not None and self.advertised_rate_max <= 0:
            raise ConfigurationError("advertised_rate_max must be > 0")

    @property
    def any_transport_fault(self) -> bool:
        return self.timeout_rate > 0 or self.reset_rate > 0 or self.connect_error_rate > 0
