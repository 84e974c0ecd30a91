"""What the emulator is configured with and records, and what its ASGI app needs of it.

Kept apart from :class:`~dentrix_highlevel.ascend_emulator.AscendEmulator` so the app (``_app``) reads
the emulator through :class:`EmulatorHost` instead of importing the module that builds it.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import attrs

from dentrix_highlevel._errors import ConfigurationError

__all__ = [
    "AGING_REPORT_PATH",
    "DEFAULT_PATHS",
    "AscendEmulatorConfig",
    "AscendRequestRecord",
    "EmulatorHost",
]

Json = dict[str, Any]

#: Where each resource is served (the adapter's defaults; override to test configurable names).
DEFAULT_PATHS: Mapping[str, str] = MappingProxyType(
    {
        "patients": "v1/patients",
        "providers": "v1/providers",
        "operatories": "v1/operatories",
        "locations": "v1/locations",
        "appointments": "v1/appointments",
        "tx_cases": "v1/txcases",
        "patient_procedures": "v0/patientprocedures",
        "practice_procedures": "v0/practiceprocedures",
        "insurance_plans": "v1/insuranceplans",
        "patient_insurance": "v1/patientinsurance",
        "recalls": "v1/recares",
        "clinical_notes": "v1/clinicalnotes",
        "medical_alerts": "v1/medicalalerts",
        "documents": "v1/documents",
        "referral_sources": "v1/referrals",
    }
)
AGING_REPORT_PATH = "v1/agingbalances/report"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen(kw_only=True)
class AscendEmulatorConfig:
    """How the emulator behaves. All limits are per access token.

    ``paths`` replaces where resources are served (e.g. ``{"clinical_notes": "v1/notes"}``);
    ``renamed_fields`` renames top-level JSON keys of a resource (``{"clinical_notes": {"text": "body"}}``);
    ``forbidden`` lists resources answering 403 (vendor not enabled for them). ``clock`` (monotonic seconds)
    drives tokens and the rate limit; ``now`` stamps ``lastModified`` on mutations.
    """

    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"  # noqa: S105 -- a fixed credential of a local fake
    organization_id: str = "5e7b7774c9e1470c0d716320"
    token_ttl_s: int = 3600
    rate_max: int = 100
    rate_window_ms: int = 1000
    default_page_size: int = 100
    max_page_size: int = 500
    paths: Mapping[str, str] = attrs.field(factory=dict)
    renamed_fields: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    forbidden: frozenset[str] = frozenset()
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], dt.datetime] = _utc_now

    def __attrs_post_init__(self) -> None:
        if self.rate_max < 1 or self.rate_window_ms < 1 or self.token_ttl_s < 1:
            raise ConfigurationError("rate_max, rate_window_ms and token_ttl_s must be positive")
        unknown = set(self.paths) - set(DEFAULT_PATHS)
        if unknown:
            raise ConfigurationError(f"unknown resources in paths: {sorted(unknown)}")


@attrs.frozen(kw_only=True)
class AscendRequestRecord:
    """One request the emulator answered (synthetic data only, so the query is kept for assertions)."""

    time_s: float
    method: str
    path: str
    params: Mapping[str, str]
    status: int
    organization_id: str | None


class EmulatorHost(Protocol):
    """What the ASGI app reads and calls on the emulator it serves."""

    @property
    def config(self) -> AscendEmulatorConfig: ...

    @property
    def location_id(self) -> str: ...

    def resource_for(self, path: str) -> str | None: ...

    def objects(self, resource: str) -> list[Json]: ...

    def sort_keys(self, resource: str) -> list[str]: ...

    def aging_rows(self) -> list[Json]: ...

    def issue_token(self) -> str: ...

    def token_valid(self, token: str) -> bool: ...

    def admit(self, token: str) -> float | None: ...

    def take_fault(self) -> int | None: ...

    def log(self, record: AscendRequestRecord) -> None: ...
