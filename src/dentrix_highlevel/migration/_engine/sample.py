"""The sample: a stratified pick of patients, and the field-level diff report a practice admin reviews.

Strata: insurance (none / primary / primary+secondary), appointment-history size, clinical complexity
(procedures and notes), family size, and edge cases (no e-mail or phone, non-patient/archived/inactive status,
long text). Patients are taken round-robin across strata, so a small sample still covers every kind present.
The report holds patient values (it is the deliverable): it is written 0o600 into the work directory and
its values appear nowhere else.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from dentrix_highlevel._private_files import open_private
from dentrix_highlevel.migration._engine.diff import FieldDiff
from dentrix_highlevel.migration._state.audit import escape_spreadsheet_cell
from dentrix_highlevel.records import PatientBundle

__all__ = ["REPORT_COLUMNS", "stratified_sample", "stratum", "write_report"]

REPORT_COLUMNS = (
    "source_key",
    "object",
    "destination_id",
    "field",
    "source",
    "expected",
    "actual",
    "verdict",
)


def _bucket(n: int, edges: Sequence[int]) -> int:
    return sum(n > e for e in edges)


def stratum(bundle: PatientBundle) -> tuple[int, ...]:
    ins = bundle.insurance
    insurance = int(getattr(ins, "primary", None) is not None) + int(
        getattr(ins, "secondary", None) is not None
    )
    p = bundle.patient
    edge = int(not p.email) + int(not (p.mobile_phone or p.home_phone or p.work_phone))
    status = p.status.value if p.status is not None else "patient"
    return (
        insurance,
        _bucket(len(bundle.appointments), (0, 3)),
        _bucket(len(bundle.procedures) + len(bundle.clinical_notes), (2, 10)),
        _bucket(len(bundle.family_member_ids), (1, 3)),
        min(edge, 1) + (2 if status != "patient" else 0),
    )


def stratified_sample(bundles: Iterable[PatientBundle], size: int) -> list[PatientBundle]:
    """``size`` patients (or all), round-robin over strata in a deterministic order."""
    groups: dict[tuple[int, ...], list[PatientBundle]] = {}
    for bundle in bundles:
        groups.setdefault(stratum(bundle), []).append(bundle)
    queues = [sorted(groups[k], key=lambda b: b.patient_id) for k in sorted(groups)]
    picked: list[PatientBundle] = []
    depth = 0
    while len(picked) < size and any(depth < len(q) for q in queues):
        for queue in queues:
            if depth < len(queue) and len(picked) < size:
                picked.append(queue[depth])
        depth += 1
    return picked


def write_report(path: Path, rows: Iterable[FieldDiff]) -> Path:
    """CSV, owner-only, escaped against spreadsheet formulas (values come from the practice's data)."""
    with open_private(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REPORT_COLUMNS)
        for row in rows:
            cells = (
                row.source_key,
                row.object,
                row.destination_id,
                row.field,
                row.source,
                row.expected,
                row.actual,
                row.verdict,
            )
            writer.writerow([escape_spreadsheet_cell(c or "") for c in cells])
    return path
