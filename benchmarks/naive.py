"""A naive integration, for comparison: one request per contact, per custom field value and per note.

Goes through our own ``HighLevelClient`` against the same scaled sandbox as ``benchmarks.engine``, with the
same synthetic practice and the same default map: per patient it creates the contact with its standard
fields (``contacts.create``), then sends one ``contacts.update`` per custom field value and one
``notes.create`` per note the engine would create (long-text overflow, Office Journal, clinical notes when
they are Notes). Custom fields are created once per location first, as the engine does. There is no family
handling: a contact refused as a duplicate (HTTP 400) is counted and skipped. Opportunities and appointments
are left out, so the gap to the engine is, if anything, understated.

    python -m benchmarks.naive [--patients N] [--window-ms MS] [--concurrency N]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio

from dentrix_highlevel.errors import DuplicateContactError
from dentrix_highlevel.highlevel import (
    ContactInput,
    CustomFieldInput,
    CustomFieldValue,
    HighLevelClient,
    NoteInput,
    RateBudget,
    RateLimiter,
    RetryPolicy,
)

# The client's own payload reader: it turns the map's camelCase payload into a ContactInput exactly as a
# response would be read, so the naive contact carries the same standard fields as ours.
from dentrix_highlevel.highlevel._convert import read
from dentrix_highlevel.mapping import (
    ClinicalNotesMode,
    DefaultMapOptions,
    FieldMap,
    PracticeSettings,
    default_maps,
    patient_disposition,
)
from dentrix_highlevel.migration import MigrationPolicies
from dentrix_highlevel.records import PatientBundle
from dentrix_highlevel.sandbox import FaultConfig, Sandbox, SandboxConfig
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

RATE_MAX = 100


def kind_of(method: str, path: str) -> str:
    """Which step of the naive integration a request served (paths hold ids only)."""
    if "/notes" in path:
        return "note"
    if path.startswith("/contacts") and method == "POST":
        return "contact_create"
    if path.startswith("/contacts") and method == "PUT":
        return "custom_field_update"
    return "setup"


def note_bodies(
    bundle: PatientBundle,
    maps: Mapping[str, FieldMap],
    overflow: Any,
    *,
    practice: PracticeSettings,
    options: DefaultMapOptions,
    policies: MigrationPolicies,
) -> list[str]:
    """The bodies of the Notes the engine would create for one patient (same rules, same order)."""
    bodies: list[str] = []
    if policies.overflow_notes:
        bodies.extend(f"{item.title}\n\n{item.text}" for item in overflow)
    clinical = maps.get("clinical_note")
    if clinical is not None and options.clinical_notes is not ClinicalNotesMode.FIELD:
        bodies.extend(
            str(clinical.apply(n, practice=practice).payload.get("body") or "") for n in bundle.clinical_notes
        )
    journal = maps.get("journal_note")
    if journal is not None and policies.journal_notes:
        bodies.extend(
            str(journal.apply(e, practice=practice).payload.get("body") or "") for e in bundle.journal
        )
    return [body for body in bodies if body.strip()]


async def run_naive(export: Path, *, window_ms: int, concurrency: int, seed: int = 0) -> dict[str, Any]:
    """Migrate ``export`` the naive way into a fresh scaled sandbox; requests per patient and wall time."""
    sandbox = Sandbox(
        SandboxConfig(rate_window_ms=window_ms, rate_max=RATE_MAX, seed=seed),
        faults=FaultConfig(latency_ms=(5.0, 25.0)),
    )
    loc = sandbox.create_location()
    budget = RateBudget(max_requests=RATE_MAX, window_ms=window_ms, daily_reserve=0)
    options = DefaultMapOptions()
    policies = MigrationPolicies()
    maps = default_maps(options).all()
    contact_map = maps["contact"]
    duplicates = 0
    contacts_created = 0
    async with (
        HighLevelClient(
            location_id=loc.location_id,
            token=loc.token,
            transport=sandbox.transport(),
            budget=budget,
            limiter=RateLimiter(budget),
            retry=RetryPolicy(seed=seed),
            max_connections=concurrency,
        ) as hl,
        GExportSource(export) as source,
    ):
        practice = PracticeSettings(timezone=source.practice_timezone)
        bundles = list(source.iter_bundles())
        patients = source.patient_count
        started = time.perf_counter()
        field_ids: dict[str, str] = {}
        for target in contact_map.custom_fields():
            field = await hl.custom_fields.create(
                CustomFieldInput(
                    name=target.name,
                    data_type=target.data_type.value,
                    model=target.model.value,
                    field_key=target.field_key,
                    options=target.options or None,
                )
            )
            field_ids[target.field_key] = field.id
        send, receive = anyio.create_memory_object_stream[PatientBundle](len(bundles) or 1)
        for bundle in bundles:
            if patient_disposition(bundle, options).contact:
                send.send_nowait(bundle)
        send.close()

        async def one_patient(bundle: PatientBundle) -> None:
            nonlocal duplicates, contacts_created
            result = contact_map.apply(bundle, practice=practice, field_ids=field_ids)
            standard = {k: v for k, v in result.payload.items() if k != "customFields"}
            try:
                contact = await hl.contacts.create(read(standard, ContactInput))
            except DuplicateContactError:
                duplicates += 1
                return
            contacts_created += 1
            for value in result.payload.get("customFields", ()):
                one = CustomFieldValue(
                    id=value.get("id"), key=value.get("key"), field_value=value["field_value"]
                )
                await hl.contacts.update(contact.id, ContactInput(custom_fields=(one,)))
            for body in note_bodies(
                bundle, maps, result.overflow, practice=practice, options=options, policies=policies
            ):
                await hl.notes.create(contact.id, NoteInput(body=body))

        async def worker() -> None:
            async with receive.clone() as jobs:
                async for bundle in jobs:
                    await one_patient(bundle)

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)
        receive.close()
        wall_s = time.perf_counter() - started
    log = sandbox.request_log
    by_kind = Counter(kind_of(r.method, r.path) for r in log)
    status = Counter(r.status for r in log)
    minimum_s = len(log) * window_ms / 1000 / RATE_MAX
    return {
        "patients": patients,
        "requests": len(log),
        "requests_per_patient": round(len(log) / patients, 3) if patients else None,
        "per_patient_by_kind": {k: round(v / patients, 3) for k, v in sorted(by_kind.items())}
        if patients
        else {},
        "duplicates_skipped": duplicates,
        # Per contact actually created: the skipped duplicates cost one request each and nothing more.
        "requests_per_created_contact": round(len(log) / contacts_created, 3) if contacts_created else None,
        "http_429": status.get(429, 0),
        "max_in_window": sandbox.max_requests_in_window(),
        "wall_s": round(wall_s, 2),
        "minimum_s": round(minimum_s, 2),
        "wall_over_minimum": round(wall_s / minimum_s, 3) if minimum_s else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--window-ms", type=int, default=1000, help="the sandbox's (scaled) rate window")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dentrix-highlevel-bench-") as tmp:
        export = Path(tmp) / "export"
        write_g_export(SyntheticPractice(SynthConfig(patients=args.patients, seed=args.seed)), export)
        report = anyio.run(
            lambda: run_naive(export, window_ms=args.window_ms, concurrency=args.concurrency, seed=args.seed)
        )
    print(f"patients              {report['patients']}  ({report['duplicates_skipped']} duplicates skipped)")
    print(f"requests              {report['requests']}  ({report['requests_per_patient']} per patient)")
    for kind, per in report["per_patient_by_kind"].items():
        print(f"  {kind:<20}{per} per patient")
    print(f"429s / max in window  {report['http_429']} / {report['max_in_window']} (budget {RATE_MAX})")
    print(f"wall time             {report['wall_s']} s; wall ÷ minimum {report['wall_over_minimum']}")
    print(json.dumps(report, sort_keys=True))


if __name__ == "__main__":
    main()
