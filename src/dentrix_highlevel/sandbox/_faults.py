"""Seeded fault draws: what goes wrong with one request, decided when it arrives."""

from __future__ import annotations

import random

import attrs

from dentrix_highlevel.sandbox._config import FaultConfig

__all__ = ["FAULT_PREFIXES", "FaultDraw", "FaultEngine", "TransportFault"]

#: Only HighLevel data APIs get faults; ``/oauth`` and the ``/_sandbox/`` admin routes never do.
FAULT_PREFIXES = (
    "/contacts",
    "/calendars",
    "/opportunities",
    "/locations",
    "/users",
    "/medias",
    "/workflows",
)


def faultable(path: str) -> bool:
    return path.startswith(FAULT_PREFIXES)


@attrs.frozen(kw_only=True)
class FaultDraw:
    """App-level faults for one request (all off by default)."""

    latency_s: float = 0.0
    error_before: int | None = None
    error_after: int | None = None
    created_anyway: int | None = None
    timeout: bool = False
    reset: bool = False


class TransportFault:
    CONNECT = "connect"
    RESET = "reset"
    TIMEOUT = "timeout"


class FaultEngine:
    """Owns the fault RNG (separate from the id RNG, so faults do not change which ids get minted)."""

    def __init__(self, config: FaultConfig, *, seed: int, set_at_s: float) -> None:
        self.config = config
        self.rng = random.Random(seed ^ 0x5EED_F417)
        self.set_at_s = set_at_s

    def replace(self, config: FaultConfig, *, set_at_s: float) -> None:
        self.config = config
        self.set_at_s = set_at_s

    def storming(self, now_s: float) -> bool:
        after = self.config.storm_after_s
        if after is None:
            return False
        start = self.set_at_s + after
        return start <= now_s < start + self.config.storm_duration_s

    def storm_remaining_s(self, now_s: float) -> float:
        after = self.config.storm_after_s or 0.0
        return max(0.0, self.set_at_s + after + self.config.storm_duration_s - now_s)

    def _hit(self, rate: float) -> bool:
        return rate > 0 and self.rng.random() < rate

    def draw(self, *, contact_commit: bool, transport_faults: bool) -> FaultDraw:
        c = self.config
        low, high = c.latency_ms
        latency_ms = self.rng.uniform(low, high) if high > 0 else 0.0
        if self._hit(c.spike_rate):
            latency_ms += c.spike_ms
        return FaultDraw(
            latency_s=latency_ms / 1000,
            error_before=self.rng.choice(c.error_statuses) if self._hit(c.error_rate) else None,
            error_after=self.rng.choice(c.error_statuses) if self._hit(c.error_after_commit_rate) else None,
            created_anyway=c.created_anyway_status
            if contact_commit and self._hit(c.created_anyway_rate)
            else None,
            timeout=transport_faults and self._hit(c.timeout_rate),
            reset=transport_faults and self._hit(c.reset_rate),
        )

    def draw_transport(self) -> str | None:
        """In-process transport faults: a connect error, or a reset/timeout after the app answered."""
        c = self.config
        if self._hit(c.connect_error_rate):
            return TransportFault.CONNECT
        if self._hit(c.timeout_rate):
            return TransportFault.TIMEOUT
        if self._hit(c.reset_rate):
            return TransportFault.RESET
        return None
