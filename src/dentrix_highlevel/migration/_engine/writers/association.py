"""Family links: each family member's contact related to its guarantor's contact.

One contact–contact association (``family_member``) per location, created once; one relation per member
(ledger key ``patient:<id>/family``), unlinked when the family changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Iterable, Sequence

import attrs

from dentrix_highlevel._errors import NotFoundError
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.writers.base import CountScope, Writer, delete_at, feature, skip
from dentrix_highlevel.migration._engine.writers.contact import patient_key
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.records import PatientBundle

__all__ = [
    "ASSOCIATION_WRITER",
    "FAMILY_ASSOCIATION_KEY",
    "RELATION_WRITER",
    "FamilyMember",
    "family_link_key",
    "family_members",
    "write_family_links",
]

FAMILY_ASSOCIATION_KEY = "family_member"
"""The contact–contact association a family member's contact is linked to its guarantor's contact by."""


def family_link_key(patient_id: str) -> str:
    return f"patient:{patient_id}/family"


@attrs.frozen(slots=True)
class FamilyMember:
    """What a family link needs of a patient (ids only): a run keeps this, not the patient's bundle."""

    patient_id: str
    guarantor_id: str | None
    own_guarantor: bool

    @classmethod
    def of(cls, bundle: PatientBundle) -> FamilyMember:
        patient = bundle.patient
        return cls(bundle.patient_id, patient.guarantor_id, patient.is_own_guarantor)


def family_members(bundles: Sequence[PatientBundle]) -> list[PatientBundle]:
    """The patients that get a family link: those whose guarantor is another patient."""
    return [b for b in bundles if not b.patient.is_own_guarantor]


async def _family_association(ctx: RunContext) -> str | None:
    key = f"association:{FAMILY_ASSOCIATION_KEY}"
    ours = await ctx.db(ctx.ledger.destination_of, "association", key)
    if ours is None:
        existing = await ctx.hl.associations.find(key=FAMILY_ASSOCIATION_KEY)
        if existing is not None:
            # The practice (or another tool) made it: used, never deleted by rollback.
            await ctx.record(
                "association",
                key,
                RecordAction.UNCHANGED,
                RecordOutcome.APPLIED,
                destination_id=existing.id,
                reason="existing association reused",
            )
            return existing.id

    async def create() -> str:
        association = await ctx.hl.associations.create(
            key=FAMILY_ASSOCIATION_KEY,
            first_object_key="contact",
            first_object_label="Family member",
            second_object_key="contact",
            second_object_label="Guarantor",
        )
        return association.id

    return await ctx.ensure_object(
        kind="association",
        key=key,
        digest=content_hash({"key": FAMILY_ASSOCIATION_KEY}),
        lookup={"key": FAMILY_ASSOCIATION_KEY},
        create=create,
        update=None,
    )


async def write_family_links(
    ctx: RunContext, members: Iterable[FamilyMember], *, doomed: Collection[str] = ()
) -> int:
    """``family_associations`` policy: one relation per family member's contact -> its guarantor's contact.

    Runs after every patient's contact is written, so a guarantor later in source order is linked too.
    Each link is ledger-keyed by the member, so nothing is related twice and rollback deletes it; a member
    whose guarantor changed (a delta) gets the old relation replaced by the new one. A relation the
    migration created for a patient who no longer gets one (now their own guarantor; the guarantor has no
    contact, or is in ``doomed``: patient keys whose contacts this delta deletes) is deleted, with an audit
    row saying why. Returns how many relation rows were recorded for patients that are not family members
    (their own guarantors now): the engine adds them to the run's source counts.
    """
    association_id = await _family_association(ctx)
    unlinked = 0
    for patient in members:
        key = family_link_key(patient.patient_id)
        if patient.own_guarantor:
            if await _unlink(ctx, key, "the patient is now their own guarantor", member=False):
                unlinked += 1
            continue
        guarantor_key = patient_key(patient.guarantor_id or "")
        member = await ctx.db(ctx.ledger.destination_of, "contact", patient_key(patient.patient_id))
        guarantor = await ctx.db(ctx.ledger.destination_of, "contact", guarantor_key)
        if guarantor_key in doomed:
            reason = "the guarantor is no longer in the source (contact deleted)"
            if not await _unlink(ctx, key, reason, member=True):
                await skip(ctx, "relation", key, reason)
            continue
        if association_id is None:
            await skip(ctx, "relation", key, "the family association could not be made")
            continue
        if member is None or guarantor is None:
            whose = "the patient" if member is None else "the guarantor"
            reason = f"{whose} has no contact in HighLevel"
            if not await _unlink(ctx, key, reason, member=True):
                await skip(ctx, "relation", key, reason)
            continue
        if member == guarantor:
            reason = "the patient shares the guarantor's contact"
            if not await _unlink(ctx, key, reason, member=True):
                await skip(ctx, "relation", key, reason)
            continue
        ids = {"associationId": association_id, "firstRecordId": member, "secondRecordId": guarantor}

        async def create(member: str = member, guarantor: str = guarantor) -> str:
            assert association_id is not None
            relation = await ctx.hl.associations.create_relation(
                association_id=association_id, first_record_id=member, second_record_id=guarantor
            )
            return relation.id

        async def delete(relation_id: str) -> None:
            await ctx.hl.associations.delete_relation(relation_id)

        # No update: a relation has nothing to change. A new guarantor (or a new contact of either) is a
        # new digest: the old relation is deleted and marked rolled back, and the new one created, so the
        # member is linked to its current guarantor only and rollback deletes only the live relation.
        await ctx.ensure_object(
            kind="relation",
            key=key,
            digest=content_hash(ids),
            lookup=ids,
            create=create,
            update=None,
            replace=delete,
            parent_id=member,
        )
    return unlinked


async def _unlink(ctx: RunContext, key: str, reason: str, *, member: bool) -> bool:
    """Delete the relation the migration created under ``key`` (gone already counts as deleted) and say
    why in the audit log; False when there is none of ours (a practice's relation is never touched).

    A family member keeps a (skipped) record, so a reconcile still accounts for it; a patient who is no
    longer a member keeps none: the audit row is written first, then the retirement drops the record.
    """
    dest = await ctx.db(ctx.ledger.destination_of, "relation", key)
    if dest is None or not await ctx.db(ctx._created_by_us, "relation", dest):
        return False
    with contextlib.suppress(NotFoundError):
        await ctx.hl.associations.delete_relation(dest)
    why = f"{reason}: the migration's relation deleted"
    if member:
        await ctx.db(ctx.ledger.mark_rolled_back, "relation", dest)
        await skip(ctx, "relation", key, why)
    else:
        await ctx.record(
            "relation", key, RecordAction.SKIPPED, RecordOutcome.NOT_APPLIED, destination_id=dest, reason=why
        )
        await ctx.db(ctx.ledger.mark_rolled_back, "relation", dest)
    return True


async def _delete_relation(ctx: RunContext, relation_id: str, _parent: str | None) -> None:
    # The relation delete wants ?locationId, which the client's method adds.
    await ctx.hl.associations.delete_relation(relation_id)


def _relations(scope: CountScope) -> int:
    return len(family_members(scope.bundles)) if scope.policies.family_associations else 0


FEATURE = feature(
    "family associations",
    "the family_member association (found or created) and one relation per family member",
    "GET /associations/key/{key_name}",
    "GET /associations/",
    "POST /associations/",
    "DELETE /associations/{associationId}",
    "POST /associations/relations",
    "GET /associations/relations/{recordId}",
    "DELETE /associations/relations/{relationId}",
)


ASSOCIATION_WRITER = Writer(
    kind="association",
    delete=delete_at(lambda _ctx, association_id, _parent: f"/associations/{association_id}"),
    count=lambda scope: 1 if scope.policies.family_associations else 0,
    feature=FEATURE,
    in_plan=lambda policies, mapped: policies.family_associations,
)
RELATION_WRITER = Writer(
    kind="relation",
    delete=_delete_relation,
    count=_relations,
    feature=FEATURE,
    in_plan=ASSOCIATION_WRITER.in_plan,
)
