"""The writer interface: what each writer of a HighLevel object declares, and what writers share.

A writer is one module per object the migration writes (``contact``, ``note``, ``opportunity`` ...). Its
:class:`Writer` says, for its ledger kind, what the engine, the source counts, reconcile and rollback need
to know without naming the kind: how many source records of the kind a run accounts for, how one of the
patient's objects is written, how an interrupted create is found again, and how a created object is undone
(deleted, or kept when rollback must not delete it) or a changed one restored. ``registry`` lists them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs

from dentrix_highlevel.highlevel import Operation, RequestKind, operation
from dentrix_highlevel.mapping import DefaultMapOptions, FieldMap, PracticeSettings
from dentrix_highlevel.migration._engine.context import RunContext
from dentrix_highlevel.migration._engine.diff import FieldDiff
from dentrix_highlevel.migration._engine.policies import MigrationPolicies
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import PreImage
from dentrix_highlevel.records import Appointment, PatientBundle, Provider

__all__ = ["CountScope", "Feature", "PatientObjects", "Usage", "Writer", "delete_at", "feature", "skip"]


@attrs.frozen(kw_only=True)
class Feature:
    """One part of a migration that needs requests of its own."""

    name: str
    why: str
    operations: tuple[Operation, ...]
    optional: bool = False
    """Not needed to migrate: the preflight warns instead of failing when its scopes are missing."""


def feature(name: str, why: str, *ops: str, optional: bool = False) -> Feature:
    """A :class:`Feature` of these operations (``"METHOD /path"`` as in the client's catalogue)."""
    return Feature(name=name, why=why, operations=tuple(operation(o) for o in ops), optional=optional)


@attrs.frozen(kw_only=True)
class CountScope:
    """What the source counts are computed from: the bundles of the run, and the plan's maps and settings."""

    bundles: Sequence[PatientBundle]
    maps: Mapping[str, FieldMap]
    policies: MigrationPolicies
    options: DefaultMapOptions
    practice: PracticeSettings
    providers: Sequence[Provider]
    setup: bool = True
    """Whether setup objects (custom fields, calendars, users) count: a sample counts only patients'."""
    appointments: Sequence[Appointment] | None = None
    """The appointments the calendars are counted from, when not the bundles' (a streaming run keeps only
    the first of each calendar: ``keep_calendar_appointments``)."""


@attrs.frozen(kw_only=True)
class PatientObjects:
    """One patient's objects besides the contact: the bundle, the contact's id (None: no contact, so each
    object is recorded skipped), and the contact map's overflow (long text that becomes notes)."""

    bundle: PatientBundle
    contact_id: str | None
    overflow: Any


@attrs.frozen(kw_only=True)
class Usage:
    """What the contacts the location keeps after a rollback still use (custom field ids holding a value)."""

    fields: frozenset[str]


Delete = Callable[[RunContext, str, str | None], Awaitable[None]]
"""Delete one created object: (context, its id, the id of the object it hangs off, e.g. a note's contact)."""


@attrs.frozen(kw_only=True)
class Writer:
    """One kind of object the migration writes, as the engine, reconcile and rollback see it."""

    kind: str
    """The ledger kind: the name appears in the writer's module and the registry, nowhere else."""
    count: Callable[[CountScope], int] | None = None
    """How many source records of this kind a run accounts for (source counts, reconcile, the estimate)."""
    counted_when_none: bool = False
    """Counted even at 0 (the contacts: a run with no patient still says so); other kinds only when some."""
    setup_keys: Callable[[CountScope], frozenset[str]] | None = None
    """A setup object made from the source (a calendar, a provider user): the source keys the run needs.
    Its count is their number; one no longer needed is the reconciliation's ``removed``."""
    write_for_patient: Callable[[RunContext, PatientObjects], Awaitable[None]] | None = None
    """Write one patient's objects of this kind (after the contact), in registry order."""
    find: Callable[[RunContext, Mapping[str, str]], Awaitable[str | None]] | None = None
    """Find an interrupted create again by its lookup (None: the client's ``find_created`` for the kind)."""
    searched: bool = False
    """Found again by a search, which lags writes: looked for with backoff before it counts as absent."""
    setup: bool = False
    """A setup object other objects hang off: undone after all of them."""
    keep: Callable[[RunContext, str, Usage], Awaitable[bool]] | None = None
    """Rollback keeps this created object (still in use by what the location keeps)."""
    read_back: Callable[[RunContext, PatientBundle], Awaitable[list[FieldDiff]]] | None = None
    """Re-read a patient's objects of this kind and compare them with what the plan sends (the sample)."""
    restore: Callable[[RunContext, PreImage, Mapping[str, str | None]], Awaitable[None]] | None = None
    """Put a changed object back to its pre-image (given the location's custom field types by id)."""
    feature: Feature | None = None
    """The requests it sends, for the scope table and the preflight (writers may share one)."""
    delete: Delete = attrs.field(default=attrs.Factory(lambda self: _feature_delete(self), takes_self=True))
    """Undo a created object (rollback, a patient gone from the source); already gone counts as deleted.
    By default the ``DELETE`` operation of its feature; a feature with none or several needs one given."""
    in_plan: Callable[[MigrationPolicies, Callable[[str], bool]], bool] | None = None
    """Whether a plan with these policies (and maps: ``mapped(name)``) uses it; None: always."""


def _feature_delete(writer: Writer) -> Delete:
    """The writer's feature's one ``DELETE`` operation (none or several: the writer says its delete)."""
    deletes = [op for op in writer.feature.operations if op.method == "DELETE"] if writer.feature else []
    if len(deletes) != 1:
        raise ValueError(f"the {writer.kind} writer needs a delete: its feature has {len(deletes)} DELETEs")
    return delete_at(_filled(deletes[0].path))


_PARAMETER = re.compile(r"\{([^}]+)\}")


def _filled(template: str) -> Callable[[RunContext, str, str | None], str]:
    """A catalogue path (``/contacts/{contactId}/notes/{id}``) for one object: its last parameter is the
    object's id, ``{locationId}`` the run's location, any other the id of the object it hangs off."""
    *outer, last = _PARAMETER.findall(template)

    def path(ctx: RunContext, destination_id: str, parent_id: str | None) -> str:
        values = {name: ctx.hl.location_id if name == "locationId" else f"{parent_id}" for name in outer}
        values[last] = destination_id
        return _PARAMETER.sub(lambda m: values[m.group(1)], template)

    return path


def delete_at(path: Callable[[RunContext, str, str | None], str], *, with_body: bool = False) -> Delete:
    """A :data:`Delete` that sends ``DELETE path`` (``with_body``: an empty JSON body, which HighLevel's
    event delete requires)."""

    async def delete(ctx: RunContext, destination_id: str, parent_id: str | None) -> None:
        await ctx.call(
            "DELETE",
            path(ctx, destination_id, parent_id),
            kind=RequestKind.IDEMPOTENT,
            json={} if with_body else None,
        )

    return delete


async def skip(ctx: RunContext, kind: str, key: str, reason: str) -> None:
    """The record is not written (no contact, nothing to send, not migrated): the audit log says why."""
    await ctx.record(kind, key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, reason=reason)
