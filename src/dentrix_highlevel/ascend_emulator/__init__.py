"""A Dentrix Ascend API Exchange emulator on loopback: ``dentrix_highlevel.ascend_emulator``.

It serves a synthetic practice (:mod:`dentrix_highlevel.synth`) with Ascend's OAuth flow, headers,
``{data, warnings, meta}`` envelope, both paginations, the ``filter=`` syntax, a rate limit with 429 +
``Retry-After``, mutations for delta tests and a request log. Only this package imports starlette (the
``sandbox`` extra). See ``docs/ascend.md``.
"""

from __future__ import annotations

from dentrix_highlevel._public import publish
from dentrix_highlevel.ascend_emulator._config import DEFAULT_PATHS, AscendEmulatorConfig, AscendRequestRecord
from dentrix_highlevel.ascend_emulator._emulator import AscendEmulator
from dentrix_highlevel.ascend_emulator._server import AscendEmulatorServer
from dentrix_highlevel.ascend_emulator._shapes import (
    APPOINTMENT_STATUS,
    BOOKING_TYPE,
    LOCATION_ID,
    PATIENT_STATUS,
    alert_id,
    ascend_id,
    contact_method,
    coverage_id,
    operatory_id,
    phone_entries,
    provider_id,
    recall_id,
    utc,
)

__all__ = [
    "APPOINTMENT_STATUS",
    "BOOKING_TYPE",
    "DEFAULT_PATHS",
    "LOCATION_ID",
    "PATIENT_STATUS",
    "AscendEmulator",
    "AscendEmulatorConfig",
    "AscendEmulatorServer",
    "AscendRequestRecord",
    "alert_id",
    "ascend_id",
    "contact_method",
    "coverage_id",
    "operatory_id",
    "phone_entries",
    "provider_id",
    "recall_id",
    "utc",
]

# Public types report their public path (reveal_type, tracebacks, pickles); see _public.
publish(__name__, __all__, globals())
