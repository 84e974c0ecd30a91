"""The :class:`AscendEmulator`: a synthetic practice served the way the Ascend API Exchange serves data.

State is plain JSON objects per resource (see ``_shapes``); the ASGI app (``_app``) answers from it. Tests
mutate the practice through :meth:`AscendEmulator.update`, :meth:`add_patient` and :meth:`archive_patient`,
which bump ``lastModified`` to the emulator's ``now``, so delta reads see exactly those changes.
"""

from __future__ import annotations

import copy
import datetime as dt
import secrets
from collections import deque
from collections.abc import Mapping
from typing import Any

import httpx
from starlette.applications import Starlette

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.ascend_emulator._app import build_app
from dentrix_highlevel.ascend_emulator._config import (
    AGING_REPORT_PATH,
    DEFAULT_PATHS,
    AscendEmulatorConfig,
    AscendRequestRecord,
)
from dentrix_highlevel.ascend_emulator._shapes import LOCATION_ID, practice_objects
from dentrix_highlevel.sources._order import id_order
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

__all__ = ["AscendEmulator"]

Json = dict[str, Any]


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
