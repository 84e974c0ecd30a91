"""Reconciliation of counts: every source record of every kind is accounted for exactly once.

Per object kind: ``source = created + updated + unchanged + conflict + skipped + failed``, each record in
exactly one column:

* **conflict** is "written with conflict": a CONFLICT whose outcome is PARTIAL was resolved by policy (e.g.
  the second patient of a family created without the e-mail the first one holds, or a policy withholding
  a shared contact point): the record is in HighLevel, only the colliding value was left out (the reason
  names the field);
* a CONFLICT whose outcome is NOT_APPLIED was left for a person to decide (an upsert matched another
  patient's contact): nothing was written, so it counts as **failed**.

Only counts here; checking destination objects against what was sent is the engine's ``reconcile()``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Protocol

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._audit import RecordAction, RecordOutcome

__all__ = ["BUCKETS", "KindReconciliation", "Reconciliation"]

#: The columns a source record is counted in, in the equation's order (each record in exactly one).
BUCKETS = ("created", "updated", "unchanged", "conflict", "skipped", "failed")


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
        return "conflict" if outcome is RecordOutcome.PARTIAL else "failed"
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
    """Written with conflict: in HighLevel without a colliding value (policy); a column of its own."""

    @property
    def accounted(self) -> int:
        return sum(getattr(self, bucket) for bucket in BUCKETS)

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
            **{bucket: getattr(self, bucket) for bucket in BUCKETS},
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
        for row in rows:
            latest[(row.kind, row.source_key)] = _bucket(row.action, row.outcome)
        counts: dict[str, dict[str, int]] = {kind: dict.fromkeys(BUCKETS, 0) for kind in source_counts}
        for (kind, _), bucket in latest.items():
            counts.setdefault(kind, dict.fromkeys(BUCKETS, 0))[bucket] += 1
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
            **{name: sum(getattr(k, name) for k in self.kinds) for name in BUCKETS},
        )

    def to_dict(self) -> dict[str, object]:
        return {"reconciles": self.reconciles, "kinds": [k.to_dict() for k in self.kinds]}

    def to_json(self) -> str:
        """What the engine saves beside the audit log."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render(self) -> str:
        """A plain-text table, one line per kind and a total; the last column says OK or the gap."""
        header = ("kind", "source", *BUCKETS, "status")
        lines: list[tuple[str, ...]] = [header]
        for k in (*self.kinds, self.totals()):
            status = "OK" if k.reconciles else f"MISMATCH {k.difference:+d}"
            lines.append((k.kind, str(k.source), *(str(getattr(k, b)) for b in BUCKETS), status))
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
