"""Shared helpers of the engine tests: a synthetic practice as a G export, a sandbox client, dump compare."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from dentrix_highlevel.highlevel import HighLevelClient, RateBudget, RateLimiter, RetryPolicy
from dentrix_highlevel.sandbox import Sandbox
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

# Server-side stamps and derived ids that a rollback cannot (and need not) restore.
_VOLATILE = {"dateAdded", "dateUpdated", "updatedAt", "createdAt", "lastStatusChangeAt", "lastStageChangeAt"}


def export(
    tmp_path: Path, *, patients: int = 30, seed: int = 3, name: str = "export", practice_id: str = "CVFD1"
) -> Path:
    path = tmp_path / name
    config = SynthConfig(patients=patients, seed=seed, practice_id=practice_id)
    write_g_export(SyntheticPractice(config), path)
    return path


def scaled_sandbox(**kwargs: Any) -> Sandbox:
    """A sandbox whose rate window is scaled down 100x (100 requests per 100 ms), so tests run fast."""
    from dentrix_highlevel.sandbox import SandboxConfig

    return Sandbox(SandboxConfig(rate_window_ms=100, rate_max=100), **kwargs)


def client(
    sandbox: Sandbox, location: Any, *, daily_max: int = 200_000, daily_reserve: int = 0
) -> HighLevelClient:
    """A client paced to the sandbox's own (scaled) window; a fresh limiter registry per client."""
    config = sandbox.config
    budget = RateBudget(
        max_requests=config.rate_max,
        window_ms=config.rate_window_ms,
        daily_max=daily_max,
        daily_reserve=daily_reserve,
    )
    return HighLevelClient(
        location_id=location.location_id,
        token=location.token,
        transport=sandbox.transport(),
        limiter=RateLimiter(budget),  # a limiter of its own: a new client is a new day's budget
        retry=RetryPolicy(),
        budget=budget,
    )


def source(path: Path) -> GExportSource:
    return GExportSource(path)


def normalised(dump: dict[str, Any]) -> dict[str, Any]:
    """A dump without server timestamps and with None-valued keys dropped (HighLevel omits unset fields)."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items() if k not in _VOLATILE and v is not None}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean(copy.deepcopy(dump))


def edit_patients(
    path: Path,
    edits: dict[str, dict[str, str]],
    *,
    drop: tuple[str, ...] = (),
    clone: dict[str, str] | None = None,
) -> None:
    """Edit ``v_patient.csv`` of an export in place: ``edits`` patient_id -> {column: value}; ``drop``
    removes patients; ``clone`` {new_id: existing_id} adds a patient copied from another (a new chart)."""
    import csv

    file = path / "v_patient.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    out = []
    for row in rows:
        pid = row["patient_id"].strip()
        if pid in drop:
            continue
        row.update(edits.get(pid, {}))
        out.append(row)
    for new_id, old_id in (clone or {}).items():
        base = dict(next(r for r in rows if r["patient_id"].strip() == old_id))
        base.update(
            {
                "patient_id": new_id,
                "guar_id": new_id,
                "chart_num": f"N{new_id}",
                "patient_guid": "{" + new_id.rjust(32, "0") + "}",
                "email": f"new{new_id}@example.org",
                "mobile_phone": "",
                "home_phone": "",
                "work_phone": "",
                "other_phone": "",
            }
        )
        out.append(base)
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(out)


def contacts_by_source_id(sandbox: Sandbox, location_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every contact of the location grouped by its Source System ID custom value (None: not ours)."""
    loc = sandbox.location(location_id)
    field_id = next(
        (f["id"] for f in loc.custom_fields.values() if f["fieldKey"] == "contact.source_system_id"), None
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for contact in loc.contacts.values():
        value = next((c.get("value") for c in contact.get("customFields", []) if c["id"] == field_id), None)
        out.setdefault(str(value) if value is not None else "", []).append(contact)
    return out


_IGNORED = {
    "id",
    "dateAdded",
    "dateUpdated",
    "locationId",
    "contactId",
    "calendarId",
    "pipelineId",
    "pipelineStageId",
    "updatedAt",
    "createdAt",
    "lastStatusChangeAt",
    "lastStageChangeAt",
}


def canonical(sandbox: Sandbox, location_id: str) -> dict[str, Any]:
    """The location's objects with server ids and stamps left out, keyed by what they belong to."""
    loc = sandbox.location(location_id)
    owner = {
        cid: key
        for key, contacts in contacts_by_source_id(sandbox, location_id).items()
        for c in contacts
        for cid in [c["id"]]
    }

    def clean(obj: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in obj.items() if k not in _IGNORED and v is not None}
        if "customFields" in out:
            out["customFields"] = sorted(
                json.dumps(c.get("value", c.get("fieldValue")), sort_keys=True) for c in out["customFields"]
            )
        return out

    return {
        "contacts": sorted(json.dumps(clean(c), sort_keys=True) for c in loc.contacts.values()),
        "notes": sorted(
            json.dumps([owner.get(n.get("contactId")), n.get("body")]) for n in loc.notes.values()
        ),
        "opportunities": sorted(
            json.dumps([owner.get(o.get("contactId")), clean(o)], sort_keys=True)
            for o in loc.opportunities.values()
        ),
        "events": sorted(
            json.dumps([owner.get(e.get("contactId")), clean(e)], sort_keys=True) for e in loc.events.values()
        ),
        "custom_fields": sorted(f["fieldKey"] for f in loc.custom_fields.values()),
    }
