"""The :class:`AscendEmulator`: a synthetic practice served the way the Ascend API Exchange serves data.

State is plain JSON objects per resource (see ``_shapes``); the ASGI app (``_app``) answers from it. Tests
mutate the practice through :meth:`AscendEmulator.update`, :meth:`add_patient` and :meth:`archive_patient`,
which bump ``lastModified`` to the emulator's ``now``, so delta reads see exactly those changes.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs
import httpx
from starlette.applications import Starlette

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.ascend_emulator._shapes import LOCATION_ID, practice_objects
from dentrix_highlevel.sources._order import id_order
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

__all__ = ["DEFAULT_PATHS", "AscendEmulator", "AscendEmulatorConfig", "AscendRequestRecord"]

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


class AscendEmulator:
    """A fake Ascend API Exchange serving one synthetic practice.

    ``transport()`` gives an ``httpx`` transport that serves requests in-process (no sockets); ``app`` is
    the ASGI application for any server. Base URL for the adapter: any host plus ``/ascend-gateway/api``
    (e.g. ``https://test.hs1api.com/ascend-gateway/api``); tokens come from
    ``/oauth/client_credential/accesstoken`` on the same host.
    """

    def __init__(
        self, practice: SyntheticPractice | None = None, config: AscendEmulatorConfig | None = None
    ) -> None:
        self.config = config or AscendEmulatorConfig()
        self.practice = practice or SyntheticPractice(SynthConfig(patients=100))
        objects, aging = practice_objects(self.practice)
        self._data: dict[str, dict[str, Json]] = {
            name: {o["id"]: o for o in objs} for name, objs in objects.items()
        }
        self._aging = aging
        self._order: dict[str, tuple[list[str], list[Json]]] = {}
        self.paths = {**DEFAULT_PATHS, **self.config.paths}
        self._by_path = {path: name for name, path in self.paths.items()}
        self._tokens: dict[str, float] = {}
        self._admitted: dict[str, deque[float]] = {}
        self._faults: deque[int] = deque()
        self.request_log: list[AscendRequestRecord] = []
        self.tokens_issued = 0
        from dentrix_highlevel.ascend_emulator._app import build_app

        self._app = build_app(self)

    def __repr__(self) -> str:
        return f"AscendEmulator(patients={len(self._data['patients'])}, requests={len(self.request_log)})"

    @property
    def app(self) -> Starlette:
        return self._app

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process httpx transport over the emulator's ASGI app."""
        return httpx.ASGITransport(app=self._app)

    @property
    def location_id(self) -> str:
        return LOCATION_ID

    # ---- reading state (for the app and for tests) -----------------------------------------------------

    def resource_for(self, path: str) -> str | None:
        if path == AGING_REPORT_PATH:
            return "aging_report"
        return self._by_path.get(path)

    def objects(self, resource: str) -> list[Json]:
        """The resource's objects in id order as served (renamed fields applied). Cached until the next
        mutation and shared: the app serialises them at once; tests that keep one use :meth:`get`."""
        return self._served(resource)[1]

    def sort_keys(self, resource: str) -> list[str]:
        """``id_order`` keys parallel to :meth:`objects` (for ``lastId`` bisection)."""
        return self._served(resource)[0]

    def _served(self, resource: str) -> tuple[list[str], list[Json]]:
        cached = self._order.get(resource)
        if cached is None:
            ids = sorted(self._data[resource], key=id_order)
            renames = self.config.renamed_fields.get(resource, {})
            served = []
            for ident in ids:
                obj = self._data[resource][ident]
                if renames:
                    obj = {renames.get(key, key): value for key, value in obj.items()}
                served.append(obj)
            cached = ([id_order(i) for i in ids], served)
            self._order[resource] = cached
        return cached

    def aging_rows(self) -> list[Json]:
        return copy.deepcopy(self._aging)

    def get(self, resource: str, ident: str) -> Json:
        return copy.deepcopy(self._data[resource][ident])

    # ---- mutations (delta tests) -----------------------------------------------------------------------

    def _stamp(self) -> str:
        now = self.config.now().astimezone(dt.UTC)
        return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"

    def update(self, resource: str, ident: str, changes: Mapping[str, Any]) -> Json:
        """Change fields of one object and bump its ``lastModified``; returns the new object."""
        obj = self._data[resource].get(ident)
        if obj is None:
            raise ConfigurationError(f"no {resource} object {ident}")
        obj.update(copy.deepcopy(dict(changes)))
        self._order.pop(resource, None)
        if "lastModified" in obj or resource in ("patients", "appointments", "patient_procedures"):
            obj["lastModified"] = self._stamp()
        return copy.deepcopy(obj)

    def archive_patient(self, patient_id: str) -> Json:
        """Archive a patient (``patientStatus`` ``ARCHIVED``, a guessed spelling); bumps ``lastModified``."""
        return self.update("patients", patient_id, {"patientStatus": "ARCHIVED"})

    def add_patient(
        self, *, first_name: str, last_name: str, guarantor_id: str | None = None, **fields: Any
    ) -> Json:
        """A new patient (own guarantor unless ``guarantor_id``), stamped now; returns the object."""
        next_id = max(int(i) for i in self._data["patients"]) + 1
        ident = str(next_id)
        guarantor = guarantor_id or ident
        obj: Json = {
            "type": "PatientV1",
            "id": ident,
            "lastModified": self._stamp(),
            "firstName": first_name,
            "lastName": last_name,
            "patientStatus": "NEW",
            "emails": [],
            "phones": [],
            "primaryGuarantor": {"id": guarantor, "type": "PatientV1", "url": ""},
            **fields,
        }
        self._data["patients"][ident] = obj
        self._order.pop("patients", None)
        return copy.deepcopy(obj)

    def add(self, resource: str, obj: Mapping[str, Any]) -> Json:
        """Add any object (it must carry an ``id``); ``lastModified`` is stamped now."""
        item = copy.deepcopy(dict(obj))
        item["lastModified"] = self._stamp()
        self._data[resource][str(item["id"])] = item
        self._order.pop(resource, None)
        return copy.deepcopy(item)

    # ---- tokens, limits, faults ------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self.config.clock() + self.config.token_ttl_s
        self.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        expires = self._tokens.get(token)
        return expires is not None and self.config.clock() < expires

    def expire_tokens(self) -> None:
        """Revoke every token now (the next call with one answers 401)."""
        self._tokens.clear()

    def admit(self, token: str) -> float | None:
        """Count a request against the token's sliding window; ``None`` if admitted, else the seconds until
        it would be."""
        now = self.config.clock()
        window_s = self.config.rate_window_ms / 1000
        admitted = self._admitted.setdefault(token, deque())
        while admitted and admitted[0] <= now - window_s:
            admitted.popleft()
        if len(admitted) >= self.config.rate_max:
            return max(0.001, admitted[0] + window_s - now)
        admitted.append(now)
        return None

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` API calls with ``status`` (e.g. 503) before doing anything else."""
        self._faults.extend([status] * times)

    def take_fault(self) -> int | None:
        return self._faults.popleft() if self._faults else None

    def log(self, record: AscendRequestRecord) -> None:
        self.request_log.append(record)
