"""Reconciliation of counts: every source record of every kind is accounted for exactly once.

Per object kind: ``source + removed = created + updated + unchanged + conflict + skipped + failed``, each
record in exactly one of the columns on the right:

* **source** is what the *current* source holds; **removed** counts the records the migration still
  accounts for (in the ledger, or in this run's audit rows) whose source record the current source no
  longer has, e.g. a patient a delta found gone (kept or deleted in HighLevel per
  ``removed_in_source``). They stay in their column on the right (a kept contact is ``skipped`` with the
  reason "no longer in the source"), so nothing leaves the audit log and nothing passes for a source
  record; re-added to the source, they count as source records again;

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
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import attrs

from dentrix_highlevel._errors import ConfigurationError
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome

__all__ = ["BUCKETS", "KindReconciliation", "Reconciliation"]

#: The columns a source record is counted in, in the equation's order (each record in exactly one).
BUCKETS = ("created", "updated", "unchanged", "conflict", "skipped", "failed")
# What ``KindReconciliation.to_dict`` holds, in this order (the equation's, then the verdict).
_DICT_KEYS = ("kind", "source", "removed", *BUCKETS, "reconciles")


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
    """The counts of one object kind: ``source + removed`` records, each in one of ``BUCKETS``."""

    kind: str
    source: int = attrs.field(validator=_non_negative)
    created: int = attrs.field(default=0, validator=_non_negative)
    updated: int = attrs.field(default=0, validator=_non_negative)
    unchanged: int = attrs.field(default=0, validator=_non_negative)
    skipped: int = attrs.field(default=0, validator=_non_negative)
    failed: int = attrs.field(default=0, validator=_non_negative)
    conflict: int = attrs.field(default=0, validator=_non_negative)
    """Written with conflict: in HighLevel without a colliding value (policy); a column of its own."""
    removed: int = attrs.field(default=0, validator=_non_negative)
    """Records accounted for whose source record the current source no longer has (also in a bucket)."""

    @property
    def accounted(self) -> int:
        return sum(getattr(self, bucket) for bucket in BUCKETS)

    @property
    def difference(self) -> int:
        """Records not accounted for (negative: more results than source and removed records)."""
        return self.source + self.removed - self.accounted

    @property
    def reconciles(self) -> bool:
        return self.difference == 0

    @property
    def ok(self) -> bool:
        """This kind reconciles (the common name; see ``Reconciliation.ok``)."""
        return self.reconciles

    def to_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in _DICT_KEYS}


def _sorted_kinds(kinds: Iterable[KindReconciliation]) -> tuple[KindReconciliation, ...]:
    return tuple(sorted(kinds, key=lambda k: k.kind))


@attrs.frozen
class Reconciliation:
    """Counts per object kind, sorted by kind; ``reconciles`` when every kind does."""

    kinds: tuple[KindReconciliation, ...] = attrs.field(converter=_sorted_kinds)

    @classmethod
    def from_results(
        cls,
        rows: Iterable[_ResultRow],
        *,
        source_counts: Mapping[str, int],
        removed: Callable[[str, str], bool] | None = None,
    ) -> Reconciliation:
        """Count results (audit rows of one run, or ledger records) against the source's counts per kind.

        Each (kind, source_key) counts once: when it appears more than once the last row wins (pass rows
        oldest first). A kind with results but no source count is reported with a source count of 0, so
        it shows up as not reconciling instead of disappearing. ``removed(kind, source_key)`` says which
        results are of records the current source no longer has: they count in the ``removed`` column
        (and in their bucket) instead of against ``source_counts``.
        """
        latest: dict[tuple[str, str], str] = {}
        for row in rows:
            latest[(row.kind, row.source_key)] = _bucket(row.action, row.outcome)
        columns = ("removed", *BUCKETS)
        counts: dict[str, dict[str, int]] = {kind: dict.fromkeys(columns, 0) for kind in source_counts}
        for (kind, key), bucket in latest.items():
            per_kind = counts.setdefault(kind, dict.fromkeys(columns, 0))
            per_kind[bucket] += 1
            if removed is not None and removed(kind, key):
                per_kind["removed"] += 1
        return cls(
            KindReconciliation(kind=kind, source=source_counts.get(kind, 0), **per_kind)
            for kind, per_kind in counts.items()
        )

    @property
    def reconciles(self) -> bool:
        return all(k.reconciles for k in self.kinds)

    @property
    def ok(self) -> bool:
        """Every kind reconciles: the library's one word for "everything reconciled" (``RunResult.ok``,
        ``ReconcileResult.ok``); ``reconciles`` stays as its older name."""
        return self.reconciles

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
            removed=sum(k.removed for k in self.kinds),
            **{name: sum(getattr(k, name) for k in self.kinds) for name in BUCKETS},
        )

    def to_dict(self) -> dict[str, object]:
        return {"reconciles": self.reconciles, "kinds": [k.to_dict() for k in self.kinds]}

    def to_json(self) -> str:
        """What the engine saves beside the audit log."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def render(self) -> str:
        """A plain-text table, one line per kind and a total; the last column says OK or the gap."""
        header = ("kind", "source", "removed", *BUCKETS, "status")
        lines: list[tuple[str, ...]] = [header]
        for k in (*self.kinds, self.totals()):
            status = "OK" if k.reconciles else f"MISMATCH {k.difference:+d}"
            lines.append(
                (k.kind, str(k.source), str(k.removed), *(str(getattr(k, b)) for b in BUCKETS), status)
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
