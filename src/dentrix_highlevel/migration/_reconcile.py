"""Reconciliation of counts: every source record of every kind is accounted for exactly once.

Per object kind: ``source = created + updated + unchanged + skipped + failed``.

Conflicts have their own column and are *also* counted in exactly one of the five buckets, so the sum
stays a partition of the source:

* a conflict whose outcome is PARTIAL was resolved by policy (e.g. the second patient of a family created
  without the e-mail the first one holds): the record is in HighLevel, only the colliding contact point was
  left out, so it counts as **skipped** (what was skipped is the shared value; the reason names the field);
* a conflict whose outcome is NOT_APPLIED was left for a person to decide: it counts as **failed**.

Only counts here; checking destination objects against what was sent is the engine's ``reconcile()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._audit import RecordAction, RecordOutcome

__all__ = ["KindReconciliation", "Reconciliation"]

_BUCKETS = ("created", "updated", "unchanged", "skipped", "failed")


class _ResultRow(Protocol):
    # Both AuditRow and LedgerRecord have these: reconcile one run (audit rows) or the whole migration's
    # latest state (ledger records).
    @property
    def kind(self) -> str: ...
    @property
    def source_key(self) -> str: ...
    @property
    def action(self) -> RecordAction: ...
    @property
    def outcome(self) -> RecordOutcome: ...


def _bucket(action: RecordAction, outcome: RecordOutcome) -> str:
    if action is RecordAction.CONFLICT:
        return "skipped" if outcome is RecordOutcome.PARTIAL else "failed"
    return action.value


def _non_negative(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must not be negative, got {value}")


@attrs.frozen
class KindReconciliation:
    """The counts of one object kind."""

    kind: str
    source: int = attrs.field(validator=_non_negative)
    created: int = attrs.field(default=0, validator=_non_negative)
    updated: int = attrs.field(default=0, validator=_non_negative)
    unchanged: int = attrs.field(default=0, validator=_non_negative)
    skipped: int = attrs.field(default=0, validator=_non_negative)
    failed: int = attrs.field(default=0, validator=_non_negative)
    conflict: int = attrs.field(default=0, validator=_non_negative)
    """Conflicts, already counted inside skipped (resolved) or failed (unresolved)."""

    @property
    def accounted(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped + self.failed

    @property
    def difference(self) -> int:
        """Source records not accounted for (negative: more results than source records)."""
        return self.source - self.accounted

    @property
    def reconciles(self) -> bool:
        return self.difference == 0

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "source": self.source,
            **{bucket: getattr(self, bucket) for bucket in _BUCKETS},
            "conflict": self.conflict,
            "reconciles": self.reconciles,
        }


def _sorted_kinds(kinds: Iterable[KindReconciliation]) -> tuple[KindReconciliation, ...]:
    return tuple(sorted(kinds, key=lambda k: k.kind))


@attrs.frozen
class Reconciliation:
    """Counts per object kind, sorted by kind; ``reconciles`` when every kind does."""

    kinds: tuple[KindReconciliation, ...] = attrs.field(converter=_sorted_kinds)

    @classmethod
    def from_results(cls, rows: Iterable[_ResultRow], *, source_counts: Mapping[str, int]) -> Reconciliation:
        """Count results (audit rows of one run, or ledger records) against the source's counts per kind.

        Each (kind, source_key) counts once: when it appears more than once the last row wins (pass rows
        oldest first). A kind with results but no source count is reported with a source count of 0, so
        it shows up as not reconciling instead of disappearing.
        """
        latest: dict[tuple[str, str], str] = {}
        conflicts: dict[tuple[str, str], bool] = {}
        for row in rows:
            key = (row.kind, row.source_key)
            latest[key] = _bucket(row.action, row.outcome)
            conflicts[key] = row.action is RecordAction.CONFLICT
        counts: dict[str, dict[str, int]] = {
            kind: dict.fromkeys((*_BUCKETS, "conflict"), 0) for kind in source_counts
        }
        for (kind, _), bucket in latest.items():
            per_kind = counts.setdefault(kind, dict.fromkeys((*_BUCKETS, "conflict"), 0))
            per_kind[bucket] += 1
        for (kind, _), is_conflict in conflicts.items():
            counts[kind]["conflict"] += int(is_conflict)
        return cls(
            KindReconciliation(kind=kind, source=source_counts.get(kind, 0), **per_kind)
            for kind, per_kind in counts.items()
        )

    @property
    def reconciles(self) -> bool:
        return all(k.reconciles for k in self.kinds)

    @property
    def mismatched(self) -> tuple[KindReconciliation, ...]:
        return tuple(k for k in self.kinds if not k.reconciles)

    def kind(self, kind: str) -> KindReconciliation | None:
        return next((k for k in self.kinds if k.kind == kind), None)

    def totals(self) -> KindReconciliation:
        """All kinds added up, under the kind name ``total``."""
        return KindReconciliation(
            kind="total",
            source=sum(k.source for k in self.kinds),
            **{name: sum(getattr(k, name) for k in self.kinds) for name in (*_BUCKETS, "conflict")},
        )

    def to_dict(self) -> dict[str, object]:
        return {"reconciles": self.reconciles, "kinds": [k.to_dict() for k in self.kinds]}

    def to_json(self) -> str:
        """What the engine saves beside the audit log."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render(self) -> str:
        """A plain-text table, one line per kind and a total; the last column says OK or the gap."""
        header = ("kind", "source", *_BUCKETS, "conflict", "status")
        lines: list[tuple[str, ...]] = [header]
        for k in (*self.kinds, self.totals()):
            status = "OK" if k.reconciles else f"MISMATCH {k.difference:+d}"
            lines.append(
                (k.kind, str(k.source), *(str(getattr(k, b)) for b in _BUCKETS), str(k.conflict), status)
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]

        def fmt(line: tuple[str, ...]) -> str:
            cells = [
                line[0].ljust(widths[0]),
                *(cell.rjust(w) for cell, w in zip(line[1:-1], widths[1:-1], strict=True)),
            ]
            return "  ".join([*cells, line[-1]]).rstrip()

        rule = "  ".join("-" * w for w in widths)
        body = [fmt(line) for line in lines]
        return "\n".join([body[0], rule, *body[1:-1], rule, body[-1]]) + "\n"

    def __str__(self) -> str:
        return self.render()
