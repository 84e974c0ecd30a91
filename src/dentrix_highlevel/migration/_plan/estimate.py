"""The plan's estimate: HighLevel requests by kind, the time they take at the location's rate budget, the
days the daily cap spreads them over, and a complexity grade with its reasons.

The arithmetic is deliberately plain so a reviewer can redo it: a run is ``requests ÷ (max_requests per
window)`` long (HighLevel's limit is the wall, DESIGN "Fewest requests"), and each day may spend
``daily_max - daily_reserve`` requests before the engine checkpoints and waits for the reset.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.highlevel import RateBudget

__all__ = [
    "ASSOCIATION_SETUP_REQUESTS",
    "GRADES",
    "REQUEST_KINDS",
    "ComplexityInputs",
    "Estimate",
    "RequestCounts",
    "association_requests",
    "estimate",
]

#: Complexity grades, easiest first.
GRADES: Final = ("A", "B", "C", "D", "E")

REQUEST_KINDS: Final = (
    "setup",
    "contact_upserts",
    "notes",
    "appointments",
    "opportunities",
    "users",
    "documents",
    "tasks",
    "associations",
    "existing_data",
)
#: Kinds listed only when the plan has some (their policies are off by default; plans read as before).
_OPTIONAL_KINDS: Final = frozenset({"documents", "tasks", "associations", "existing_data"})

#: The family association's setup: one lookup by key (``GET /associations/key/…``) and, the first time,
#: one create. Counted as if the location does not have it yet (the plan does not read associations).
ASSOCIATION_SETUP_REQUESTS: Final = 2


def association_requests(family_members: int) -> int:
    """Requests of the ``family_associations`` policy: the association's lookup and create, plus one
    relation (``POST /associations/relations``) per family member whose guarantor is another patient."""
    if family_members < 0:
        raise ConfigurationError("family_members must be >= 0")
    return ASSOCIATION_SETUP_REQUESTS + family_members


def _non_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must be >= 0")


@attrs.frozen(kw_only=True)
class RequestCounts:
    """What the plan counted while reading the source (every figure is a count, none a value)."""

    setup: int = attrs.field(default=0, validator=_non_negative)
    contact_upserts: int = attrs.field(default=0, validator=_non_negative)
    notes: int = attrs.field(default=0, validator=_non_negative)
    appointments: int = attrs.field(default=0, validator=_non_negative)
    opportunities: int = attrs.field(default=0, validator=_non_negative)
    users: int = attrs.field(default=0, validator=_non_negative)
    documents: int = attrs.field(default=0, validator=_non_negative)
    """Media uploads (``upload_documents`` policy): one ``POST /medias/upload-file`` per document file."""
    tasks: int = attrs.field(default=0, validator=_non_negative)
    """Treatment-plan follow-up tasks (``treatment_tasks`` policy): one ``POST`` per open case."""
    associations: int = attrs.field(default=0, validator=_non_negative)
    """Family links (``family_associations`` policy): :func:`association_requests`."""
    existing_data: int = attrs.field(default=0, validator=_non_negative)
    """The practice's own data: the location's contacts read page by page (the collision report, and the
    run's index), a pre-image read per contact merged into, and the adoption of existing opportunities."""

    def by_kind(self) -> dict[str, int]:
        # ``documents``, ``tasks``, ``associations``: only when there are some (plans without those
        # policies read as before).
        return {
            kind: getattr(self, kind)
            for kind in REQUEST_KINDS
            if kind not in _OPTIONAL_KINDS or getattr(self, kind)
        }

    @property
    def total(self) -> int:
        return sum(self.by_kind().values())


@attrs.frozen(kw_only=True)
class ComplexityInputs:
    """The figures the grade looks at besides the request total."""

    patients: int = 0
    source_records: int = 0
    source_issues: int = 0
    unmapped_columns: int = 0
    contact_point_collisions: int = 0
    warnings: int = 0


@attrs.frozen(kw_only=True)
class Estimate:
    """Requests by kind, duration at the rate budget, days under the daily cap, and the grade."""

    requests: Mapping[str, int]
    total_requests: int
    rate_per_s: float
    duration_s: float
    daily_budget: int
    days: int
    grade: str
    reasons: tuple[str, ...]


def _duration_text(seconds: float) -> str:
    minutes = seconds / 60
    if seconds < 90:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def estimate(counts: RequestCounts, budget: RateBudget, inputs: ComplexityInputs) -> Estimate:
    """Duration, days and grade for ``counts`` at ``budget``.

    ``duration_s`` is the request time alone at the burst rate; ``days`` is how many daily budgets the run
    spans (a run over one day also waits for each reset, which the duration leaves out).
    """
    total = counts.total
    rate = budget.max_requests / (budget.window_ms / 1000)
    duration = total / rate
    daily = budget.daily_max - budget.daily_reserve
    days = max(1, math.ceil(total / daily)) if total else 0
    score = 0
    reasons: list[str] = []

    def factor(points: int, reason: str) -> None:
        nonlocal score
        score += points
        reasons.append(f"+{points}: {reason}")

    if inputs.patients >= 50_000:
        factor(2, f"{inputs.patients} patients (50,000 or more)")
    elif inputs.patients >= 10_000:
        factor(1, f"{inputs.patients} patients (10,000 or more)")
    if days > 1:
        factor(1, f"{total} requests exceed one day's budget of {daily}: {days} days with checkpoints")
    if inputs.source_records and inputs.source_issues / inputs.source_records > 0.01:
        share = inputs.source_issues / inputs.source_records
        factor(1, f"{inputs.source_issues} source issues ({share:.1%} of records) to review")
    if inputs.unmapped_columns:
        factor(1, f"{inputs.unmapped_columns} practice-specific column(s) need a decision (proposals)")
    if inputs.patients and inputs.contact_point_collisions / inputs.patients > 0.1:
        share = inputs.contact_point_collisions / inputs.patients
        factor(1, f"{share:.0%} of patients share an e-mail or phone with another patient")
    if inputs.warnings:
        factor(1, f"{inputs.warnings} pre-cutover warning(s) to clear")
    if not reasons:
        reasons.append("+0: small, clean source; every column is covered")
    reasons.append(f"run time about {_duration_text(duration)} at {rate:g} requests/s")
    return Estimate(
        requests=counts.by_kind(),
        total_requests=total,
        rate_per_s=rate,
        duration_s=round(duration, 3),
        daily_budget=daily,
        days=days,
        grade=GRADES[min(score, len(GRADES) - 1)],
        reasons=tuple(reasons),
    )
