"""The registered writers, and what the engine, the source counts, reconcile and rollback ask of them.

Adding a kind of object is one new writer module (with its :class:`~.base.Writer`) and one line in
:data:`WRITERS`; nothing else in the engine names the kind. The order matters twice: the patient's objects
are written in it (after the contact), and rollback deletes the objects it created newest first, but the
setup ones (``Writer.setup``) after all the others.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence

import attrs

from dentrix_highlevel._errors import NotFoundError
from dentrix_highlevel.migration._engine.context import RunContext
from dentrix_highlevel.migration._engine.diff import FieldDiff
from dentrix_highlevel.migration._engine.writers import (
    appointment,
    association,
    calendar,
    contact,
    custom_field,
    document,
    note,
    opportunity,
    task,
    user,
)
from dentrix_highlevel.migration._engine.writers.base import CountScope, PatientObjects, Writer
from dentrix_highlevel.migration._engine.writers.calendar import keep_calendar_appointments
from dentrix_highlevel.records import Appointment, PatientBundle

__all__ = [
    "WRITERS",
    "SourceTally",
    "finders",
    "read_back_patient_objects",
    "searched_kinds",
    "setup_keys",
    "source_counts",
    "undo",
    "write_patient_objects",
    "writer",
]

WRITERS: tuple[Writer, ...] = (
    contact.WRITER,
    custom_field.WRITER,
    calendar.WRITER,
    user.WRITER,
    note.WRITER,
    opportunity.WRITER,
    appointment.WRITER,
    task.WRITER,
    document.WRITER,
    association.ASSOCIATION_WRITER,
    association.RELATION_WRITER,
)
_BY_KIND: Mapping[str, Writer] = {w.kind: w for w in WRITERS}


def writer(kind: str) -> Writer:
    """The writer of a ledger kind; a kind no writer declares is a ledger this version cannot handle."""
    try:
        return _BY_KIND[kind]
    except KeyError:
        raise ValueError(f"no writer for the ledger kind {kind!r}") from None


def source_counts(scope: CountScope) -> dict[str, int]:
    """How many source records of each kind the run had to account for, per writer."""
    counts: dict[str, int] = {}
    for w in WRITERS:
        if w.setup_keys is not None:
            n = len(w.setup_keys(scope)) if scope.setup else 0
        else:
            n = w.count(scope) if w.count is not None else 0
        if n or w.counted_when_none:
            counts[w.kind] = n
    return counts


class SourceTally:
    """:func:`source_counts` of a run's bundles, added up a chunk at a time, so a run never holds them all.

    A writer's count is a fixed part (what it counts of no bundle: the family association) plus a part per
    bundle, so each chunk adds its count less the fixed part. The calendars a setup makes come from the
    first migrated appointment of each calendar group, which the tally keeps (``appointments``).
    """

    def __init__(self, scope_of: Callable[[Sequence[PatientBundle]], CountScope]) -> None:
        # One scope, given each chunk's bundles: building it asks the source for its providers.
        empty = self._empty = scope_of(())
        self._fixed = {
            w.kind: w.count(empty) for w in WRITERS if w.count is not None and w.setup_keys is None
        }
        self._sums = dict.fromkeys(self._fixed, 0)
        self.appointments: dict[str, Appointment] = {}
        """The first migrated appointment of each calendar group, in source order."""

    def add(self, bundles: Sequence[PatientBundle]) -> None:
        scope = attrs.evolve(self._empty, bundles=bundles)
        for kind, fixed in self._fixed.items():
            count = _BY_KIND[kind].count
            assert count is not None
            self._sums[kind] += count(scope) - fixed
        keep_calendar_appointments(
            scope.policies, scope.options, (a for b in bundles for a in b.appointments), self.appointments
        )

    def counts(self) -> dict[str, int]:
        """The same as ``source_counts`` of every bundle added."""
        scope = attrs.evolve(self._empty, appointments=tuple(self.appointments.values()))
        counts: dict[str, int] = {}
        for w in WRITERS:
            if w.setup_keys is not None:
                n = len(w.setup_keys(scope)) if scope.setup else 0
            else:
                n = self._fixed[w.kind] + self._sums[w.kind] if w.count is not None else 0
            if n or w.counted_when_none:
                counts[w.kind] = n
        return counts


def setup_keys(scope: CountScope) -> dict[str, frozenset[str]]:
    """The source keys of the setup objects made from the source (calendars, provider users) by kind."""
    return {w.kind: w.setup_keys(scope) for w in WRITERS if w.setup_keys is not None}


async def write_patient_objects(ctx: RunContext, objects: PatientObjects) -> None:
    """Everything of one patient besides the contact; without a contact each is recorded as skipped."""
    for w in WRITERS:
        if w.write_for_patient is not None:
            await w.write_for_patient(ctx, objects)


async def read_back_patient_objects(ctx: RunContext, bundle: PatientBundle) -> list[FieldDiff]:
    """The field-level diff of one patient's objects besides the contact, per writer (the sample)."""
    rows: list[FieldDiff] = []
    for w in WRITERS:
        if w.read_back is not None:
            rows += await w.read_back(ctx, bundle)
    return rows


async def undo(ctx: RunContext, kind: str, destination_id: str, parent_id: str | None) -> None:
    """Delete one object the migration created and mark it rolled back in the ledger (rollback, and a delta
    deleting a patient gone from the source). Already gone (404) counts as deleted: a resumed step, or
    deleted by hand."""
    with contextlib.suppress(NotFoundError):
        await writer(kind).delete(ctx, destination_id, parent_id)
    await ctx.db(ctx.ledger.mark_rolled_back, kind, destination_id)


def searched_kinds() -> frozenset[str]:
    """The kinds found again by searches that lag writes (looked for with backoff)."""
    return frozenset(w.kind for w in WRITERS if w.searched)


def finders() -> dict[str, Callable[[RunContext, Mapping[str, str]], Awaitable[str | None]]]:
    """The kinds found again by a lookup of their own instead of the client's ``find_created``."""
    return {w.kind: w.find for w in WRITERS if w.find is not None}
