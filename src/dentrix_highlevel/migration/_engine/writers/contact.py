"""Patients: the contact-point plan (families share e-mails and phones) and one contact write per patient.

HighLevel's upsert matches by e-mail, then phone. Two patients sharing one (a parent's e-mail on a child's
chart) would silently become one contact, so before any write the engine assigns every contact point to one
patient: the first in source order (guarantor first) that carries it, patients already migrated first so
the assignment is stable across runs. Another patient carrying the same value is then, by policy, created as
a separate contact with ``createNewIfDuplicateAllowed`` (location allows duplicates) or created without the
shared value, with a ``conflict`` in the audit log. The practice's own contacts are indexed once (search) so
a patient matching one by e-mail/phone saves that contact's pre-image before the upsert changes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from dentrix_highlevel._errors import (
    AmbiguousWriteError,
    DailyCapReachedError,
    DuplicateContactError,
    HighLevelError,
    NotFoundError,
)
from dentrix_highlevel.highlevel import HighLevelClient, RequestKind, clear_value, value_for_write
from dentrix_highlevel.mapping import MappingResult
from dentrix_highlevel.migration._engine.context import RunContext, content_hash
from dentrix_highlevel.migration._engine.merge import merge_contact
from dentrix_highlevel.migration._engine.policies import FamilyContactPolicy
from dentrix_highlevel.migration._engine.writers.base import Writer, feature
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import PreImage
from dentrix_highlevel.records import PatientBundle

__all__ = [
    "KIND",
    "WRITER",
    "ContactAssignment",
    "ContactIndex",
    "contact_body",
    "index_existing_contacts",
    "patient_key",
    "patient_owner",
    "plan_contact_points",
    "restore_contact",
    "source_claim",
    "with_namespace",
    "write_contact",
]

_POINTS = ("email", "phone")
_NOT_ON_UPDATE = ("gender", "companyName", "locationId", "createNewIfDuplicateAllowed")


def patient_key(patient_id: str) -> str:
    return f"patient:{patient_id}"


def _norm(point: str, value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower() if point == "email" else value.strip()


@attrs.frozen
class ContactIndex:
    """The location's contacts that are not the migration's: contact point -> contact id."""

    by_point: Mapping[tuple[str, str], str]
    ids: frozenset[str] = frozenset()
    """Every contact of the location that was not the migration's when the index was taken."""
    claimed: Mapping[tuple[str, str], str] = attrs.field(factory=dict)
    """Contact points of contacts another migration wrote (they carry a Source System ID this ledger does
    not hold: another practice's patient in a group's shared location). Never merged into: a patient
    sharing one of their points gets it the way a family member would (separate contact, or withheld)."""


def source_claim(ctx: RunContext, custom_fields: Iterable[Any]) -> tuple[str | None, str | None]:
    """(Source System ID, Source Practice ID) of a contact as read (a model or raw dicts), None when unset."""
    state = ctx.state
    values: dict[str, Any] = {}
    for item in custom_fields:
        if isinstance(item, dict):
            fid, value = item.get("id"), item.get("value", item.get("fieldValue"))
        else:
            fid, value = getattr(item, "id", None), getattr(item, "current", None)
        if fid is not None and value not in (None, "", []):
            values[str(fid)] = value
    source_id = values.get(state.source_id_field) if state.source_id_field else None
    namespace = values.get(state.practice_field) if state.practice_field else None
    return (
        str(source_id) if source_id is not None else None,
        str(namespace) if namespace is not None else None,
    )


async def index_existing_contacts(ctx: RunContext) -> ContactIndex:
    owned = {r.destination_id for r in await ctx.db(ctx.ledger.records, "contact") if r.destination_id}
    owned |= {o.destination_id for o in await ctx.db(ctx.ledger.created_objects) if o.kind == "contact"}
    by_point: dict[tuple[str, str], str] = {}
    claimed: dict[tuple[str, str], str] = {}
    ids: set[str] = set()
    async for contact in ctx.hl.contacts.search(page_limit=500):
        if contact.id in owned:
            continue
        source_id, namespace = source_claim(ctx, contact.custom_fields)
        foreign = source_id is not None and namespace != ctx.namespace
        if not foreign:
            ids.add(contact.id)
        for point in _POINTS:
            value = _norm(point, getattr(contact, point))
            if value is None:
                continue
            if foreign:
                claimed.setdefault((point, value), f"contact {contact.id} (practice {namespace or '?'})")
            else:
                by_point.setdefault((point, value), contact.id)
    return ContactIndex(by_point=by_point, ids=frozenset(ids), claimed=claimed)


@attrs.frozen(kw_only=True)
class ContactAssignment:
    """How one patient's contact is written (ids and field names only)."""

    withheld: tuple[str, ...] = ()
    """Contact points left out because another patient holds them."""
    separate: bool = False
    """Sent with ``createNewIfDuplicateAllowed``: a contact of its own despite a shared point."""
    shares_with: str | None = None
    existing_id: str | None = None
    """The practice's pre-existing contact the patient lands on (its pre-image is saved first)."""
    matched_by: str | None = None
    """The contact point ``existing_id`` was matched by (``email`` or ``phone``)."""

    def reason(self) -> str | None:
        if self.withheld:
            return f"{'/'.join(self.withheld)} shared with {self.shares_with}: withheld from this contact"
        if self.separate:
            return f"contact point shared with {self.shares_with}: separate contact (duplicates allowed)"
        return None


def plan_contact_points(
    patients: Iterable[tuple[str, Mapping[str, Any], bool]],
    index: ContactIndex,
    *,
    allow_duplicates: bool,
    policy: FamilyContactPolicy,
    migrated_first: bool = False,
    dedupe_order: tuple[str, ...] = _POINTS,
    only_changed: bool = False,
) -> dict[str, ContactAssignment]:
    """Assign contact points: ``patients`` are (key, contact payload, already migrated) in source order.

    A resumed run of one export assigns in source order, which gives every patient the assignment it had.
    A delta (``migrated_first``) lets patients already in HighLevel keep their points before new ones claim.
    ``only_changed`` leaves out the assignments that are the plain one (a run of a large practice keeps only
    the few that differ).
    """
    # In source order the patients are read as they come, never all held at once (a run's whole practice).
    ordered: Iterable[tuple[str, Mapping[str, Any], bool]] = (
        [p for _, p in sorted(enumerate(patients), key=lambda item: (not item[1][2], item[0]))]
        if migrated_first
        else patients
    )
    plain = ContactAssignment()
    # Another migration's contacts hold their points first, as an earlier family member would.
    claimed: dict[tuple[str, str], str] = dict(index.claimed)
    claimed_existing: dict[str, str] = {}
    out: dict[str, ContactAssignment] = {}
    separate_ok = allow_duplicates and policy is FamilyContactPolicy.AUTO
    for key, payload, migrated in ordered:
        points = {p: v for p in _POINTS if (v := _norm(p, payload.get(p))) is not None}
        withheld: list[str] = []
        separate = False
        shares: str | None = None
        for point, value in points.items():
            owner = claimed.get((point, value))
            if owner is not None:
                shares = shares or owner
                if separate_ok:
                    separate = True
                else:
                    withheld.append(point)
        existing: str | None = None
        matched_by: str | None = None
        if not separate and not migrated:
            for point in dedupe_order:
                if point in withheld or point not in points:
                    continue
                match = index.by_point.get((point, points[point]))
                if match is None:
                    continue
                if match in claimed_existing:
                    # Another patient already lands on this practice contact: never merge two patients.
                    withheld.append(point)
                    shares = shares or claimed_existing[match]
                    continue
                existing, matched_by = match, point
                break
            if existing is not None and not allow_duplicates:
                # A second point that belongs to another of the practice's contacts: HighLevel would drop it
                # (upsert) or refuse the write (duplicate): it stays with that contact, said so.
                for point in points:
                    other = index.by_point.get((point, points[point]))
                    if point not in withheld and other is not None and other != existing:
                        withheld.append(point)
                        shares = shares or f"contact {other}"
        for point, value in points.items():
            if point not in withheld:
                claimed.setdefault((point, value), key)
        if existing is not None:
            claimed_existing[existing] = key
        assignment = ContactAssignment(
            withheld=tuple(sorted(withheld)),
            separate=separate,
            shares_with=shares,
            existing_id=existing,
            matched_by=matched_by,
        )
        if not only_changed or assignment != plain:
            out[key] = assignment
    return out


def contact_body(result: MappingResult, assignment: ContactAssignment) -> dict[str, Any]:
    """The contact payload as sent, without the withheld contact points."""
    body = {k: v for k, v in result.payload.items() if k not in assignment.withheld}
    return body


def patient_owner(ctx: RunContext, bundle: PatientBundle) -> str | None:
    """The HighLevel user id of the patient's primary provider (``provider_users`` policy), else None.

    Setup only fills ``user_ids`` under that policy, so with it off nothing is assigned and the payloads
    (and their content hashes) are exactly what they were before the policy existed.
    """
    if not ctx.policies.provider_users:
        return None
    provider_id = bundle.patient.primary_provider_id
    return ctx.state.user_ids.get(provider_id) if provider_id else None


def _outcome(result: MappingResult, assignment: ContactAssignment) -> tuple[RecordOutcome, str | None]:
    reasons = []
    if assignment.reason():
        reasons.append(assignment.reason() or "")
    if result.issues:
        fields = sorted({i.field for i in result.issues})
        reasons.append("field issues: " + ", ".join(fields))
    partial = bool(result.issues) or bool(assignment.withheld)
    return (RecordOutcome.PARTIAL if partial else RecordOutcome.APPLIED), ("; ".join(reasons) or None)


async def _raw_contact(hl: HighLevelClient, contact_id: str) -> dict[str, Any]:
    body = await hl.call("GET", f"/contacts/{contact_id}", kind=RequestKind.READ)
    contact = body.get("contact")
    return dict(contact) if isinstance(contact, dict) else {}


async def write_contact(
    ctx: RunContext, bundle: PatientBundle, result: MappingResult, assignment: ContactAssignment
) -> str | None:
    """One contact write per patient (a create, or a merge into a contact already there); returns the
    contact id or None (recorded). See ``merge`` for what a write into an existing contact keeps."""
    key = patient_key(bundle.patient_id)
    body = contact_body(result, assignment)
    owner_user = patient_owner(ctx, bundle)
    if owner_user is not None:
        # The provider's user owns the contact; a map that sets assignedTo itself wins.
        body.setdefault("assignedTo", owner_user)
    body = with_namespace(ctx, body)
    digest = content_hash({"body": body, "separate": assignment.separate})
    outcome, reason = _outcome(result, assignment)
    action_if_created = RecordAction.CONFLICT if assignment.withheld else RecordAction.CREATED
    dest = await ctx.db(ctx.ledger.destination_of, "contact", key)

    if dest is not None:

        async def update(contact_id: str) -> None:
            await _put_merged(ctx, contact_id, body, practice=await _pre_image(ctx, contact_id))

        return await ctx.ensure_object(
            kind="contact",
            key=key,
            digest=digest,
            lookup={},
            create=_never,
            update=update,
            outcome=outcome,
            reason=reason,
            action_if_created=action_if_created,
        )
    if assignment.existing_id is not None:
        return await _merge_into(
            ctx,
            key,
            assignment.existing_id,
            body,
            digest,
            outcome,
            reason,
            how=f"same {assignment.matched_by}",
        )
    lookup = {"source_id": bundle.patient_id, "namespace": ctx.namespace}
    began = ctx.wall_clock()
    intent = await ctx.db(ctx.ledger.begin_intent, "contact", key, "create", lookup, run_id=ctx.run_id)
    payload = {**body, "locationId": ctx.hl.location_id}
    state = ctx.state
    # Where duplicates are allowed, every new patient contact is made with createNewIfDuplicateAllowed: a
    # plain upsert racing a family member's separate contact would match it and merge the two patients.
    # Elsewhere a plain create: where the location disallows duplicates, a contact with the patient's
    # e-mail or phone that appeared since the index was taken is answered as a duplicate (and merged into
    # below, with its pre-image), where an upsert would have replaced its tags and fields unseen.
    create_new = bool(body.get("email") or body.get("phone")) and (
        assignment.separate
        or (state.allow_duplicates and ctx.policies.family_contacts is FamilyContactPolicy.AUTO)
    )
    try:
        async with ctx.unsent_abandoned(intent):
            if create_new:
                answer = await ctx.hl.call(
                    "POST",
                    "/contacts/upsert",
                    kind=RequestKind.CREATE,
                    json={**payload, "createNewIfDuplicateAllowed": True},
                    resource="contact",
                    lookup=lookup,
                    ambiguous_statuses=frozenset({400, 422}),
                )
            else:
                answer = await ctx.hl.call(
                    "POST",
                    "/contacts/",
                    kind=RequestKind.CREATE,
                    json=payload,
                    resource="contact",
                    lookup=lookup,
                    ambiguous_statuses=frozenset({400, 422}),
                )
            contact = answer.get("contact") or {}
            contact_id = str(contact["id"])
            created = bool(answer.get("new", True))
    except AmbiguousWriteError:
        found = await ctx.find_existing("contact", lookup, since=began)
        if found is None:
            await ctx.db(ctx.ledger.abandon_intent, intent, reason="ambiguous create: not found on lookup")
            await ctx.record(
                "contact",
                key,
                RecordAction.FAILED,
                RecordOutcome.NOT_APPLIED,
                reason="ambiguous create, not found on lookup: sent again next run",
            )
            return None
        contact_id, created = found, True
    except DuplicateContactError as exc:
        other = exc.contact_id
        holder = await ctx.db(ctx.ledger.owner_of, "contact", other) if other else None
        claim = await _claim(ctx, other) if other is not None and holder is None else (None, None)
        if claim[0] is not None and claim != (bundle.patient_id, ctx.namespace):
            # Another migration's contact (another practice of the location) holds the e-mail or phone:
            # never merged into; reported for a person, like a family member's shared point.
            await ctx.db(
                ctx.ledger.abandon_intent, intent, reason=f"matched contact {other} of another source"
            )
            await ctx.record(
                "contact",
                key,
                RecordAction.CONFLICT,
                RecordOutcome.NOT_APPLIED,
                reason=f"the location's contact {other} carries another source key: not merged, needs review",
            )
            return None
        if other is not None and holder is None and claim[0] is None:
            # A contact with the patient's e-mail or phone came in after the index: the practice's.
            await ctx.db(
                ctx.ledger.abandon_intent, intent, reason=f"the location already has contact {other}"
            )
            field = exc.matching_field or "e-mail or phone"
            return await _merge_into(
                ctx, key, other, body, digest, outcome, reason, how=f"same {field}, seen at the write"
            )
        if other is None or (holder is not None and holder != key):
            await ctx.db(ctx.ledger.abandon_intent, intent, reason=f"refused: {type(exc).__name__}")
            await ctx.fail("contact", key, exc)
            return None
        contact_id, created = other, True  # the create of an earlier attempt, answered as a duplicate
    except DailyCapReachedError:
        await ctx.db(ctx.ledger.abandon_intent, intent, reason="daily cap reached before the write")
        raise
    except HighLevelError as exc:
        await ctx.db(ctx.ledger.abandon_intent, intent, reason=f"refused: {type(exc).__name__}")
        await ctx.fail("contact", key, exc)
        return None
    owner = await ctx.db(ctx.ledger.owner_of, "contact", contact_id)
    if owner is not None and owner != key:
        # HighLevel matched another patient's contact: never merge two patients; report it for a person.
        await ctx.db(ctx.ledger.abandon_intent, intent, reason=f"matched the contact of {owner}")
        await ctx.record(
            "contact",
            key,
            RecordAction.CONFLICT,
            RecordOutcome.NOT_APPLIED,
            reason=f"upsert matched the contact of {owner}: not merged, needs review",
        )
        return None
    await ctx.db(ctx.ledger.complete_intent, intent, destination_id=contact_id, created=created)
    action = action_if_created if created else RecordAction.UPDATED
    await ctx.record("contact", key, action, outcome, destination_id=contact_id, digest=digest, reason=reason)
    return contact_id


async def _pre_image(ctx: RunContext, contact_id: str) -> dict[str, Any] | None:
    """The practice's contact as it was before the migration changed it (None: the migration's own)."""
    pre = await ctx.db(ctx.ledger.pre_image, "contact", contact_id)
    return dict(pre.payload) if pre is not None and isinstance(pre.payload, dict) else None


async def _claim(ctx: RunContext, contact_id: str) -> tuple[str | None, str | None]:
    """The (Source System ID, Source Practice ID) a contact carries: ours when both are this patient's."""
    if ctx.state.source_id_field is None:
        return None, None
    contact = await _raw_contact(ctx.hl, contact_id)
    return source_claim(ctx, contact.get("customFields") or [])


def with_namespace(ctx: RunContext, body: Mapping[str, Any]) -> dict[str, Any]:
    """The contact body with the practice namespace in ``Source Practice ID`` (when the field exists)."""
    field_id = ctx.state.practice_field if ctx.setup is not None else None
    out = dict(body)
    if field_id is None or not ctx.namespace:
        return out
    fields = [
        c for c in out.get("customFields") or [] if not (isinstance(c, dict) and c.get("id") == field_id)
    ]
    out["customFields"] = [*fields, {"id": field_id, "field_value": ctx.namespace}]
    return out


async def _put_merged(
    ctx: RunContext, contact_id: str, body: Mapping[str, Any], *, practice: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """Write ``body`` into a contact that exists, merged with what it holds (``merge``); our own custom
    fields the source no longer has are cleared, each the way its dataType clears. Returns the fields that
    kept the practice's value."""
    state = ctx.state
    current = await _raw_contact(ctx.hl, contact_id)
    merged = merge_contact(body, practice=practice, current=current, policy=ctx.policies.merge)
    payload = {k: v for k, v in merged.body.items() if k not in _NOT_ON_UPDATE}
    # A "" is an invalid number or date to HighLevel, not a clear: each type clears its own way.
    sent = {c.get("id") for c in payload.get("customFields", [])}
    contact_fields = set(state.field_ids.values()) - _opportunity_fields(ctx)
    payload["customFields"] = [
        *payload.get("customFields", []),
        *(
            {"id": fid, "field_value": clear_value(state.field_types.get(fid))}
            for fid in sorted(contact_fields - sent)
            if fid in _values_of(current)
        ),
    ]
    await ctx.hl.call("PUT", f"/contacts/{contact_id}", kind=RequestKind.IDEMPOTENT, json=payload)
    return merged.kept


def _values_of(contact: Mapping[str, Any]) -> set[str]:
    """Ids of the custom fields that hold a value on a contact as read."""
    return {
        str(c["id"])
        for c in contact.get("customFields") or []
        if isinstance(c, dict) and c.get("id") and c.get("value") not in (None, "", [])
    }


async def _merge_into(
    ctx: RunContext,
    key: str,
    contact_id: str,
    body: Mapping[str, Any],
    digest: str,
    outcome: RecordOutcome,
    reason: str | None,
    *,
    how: str,
) -> str | None:
    """The patient lands on the practice's contact: its "before" is kept (first write wins, so a retried
    merge keeps the original), then the merged write; recorded ``updated``."""
    holder = await ctx.db(ctx.ledger.owner_of, "contact", contact_id)
    if holder is not None and holder != key:
        await ctx.record(
            "contact",
            key,
            RecordAction.CONFLICT,
            RecordOutcome.NOT_APPLIED,
            reason=f"the matching contact is {holder}'s: not merged, needs review",
        )
        return None
    practice = await _pre_image(ctx, contact_id)
    try:
        if practice is None:
            practice = await _raw_contact(ctx.hl, contact_id)
            await ctx.db(ctx.ledger.save_pre_image, "contact", contact_id, practice, run_id=ctx.run_id)
        kept = await _put_merged(ctx, contact_id, body, practice=practice)
    except DailyCapReachedError:
        raise
    except HighLevelError as exc:
        await ctx.fail("contact", key, exc, destination_id=contact_id)
        return None
    said = f"merged into the practice's contact ({how})"
    if kept:
        said += f"; kept the practice's {', '.join(kept)}"
    await ctx.record(
        "contact",
        key,
        RecordAction.UPDATED,
        outcome,
        destination_id=contact_id,
        digest=digest,
        reason="; ".join(x for x in (reason, said) if x),
    )
    return contact_id


def _opportunity_fields(ctx: RunContext) -> set[str]:
    opp = ctx.maps.get("opportunity")
    if opp is None:
        return set()
    return {
        ctx.state.field_ids[t.field_key] for t in opp.custom_fields() if t.field_key in ctx.state.field_ids
    }


async def _never() -> str:
    raise AssertionError("a known contact is updated, never created")


KIND = "contact"

# What a contact's pre-image restores (everything a PUT accepts; derived fields follow from these).
_RESTORED = (
    "firstName",
    "lastName",
    "email",
    "phone",
    "address1",
    "city",
    "state",
    "postalCode",
    "website",
    "timezone",
    "dnd",
    "dndSettings",
    "source",
    "country",
    "assignedTo",
    "dateOfBirth",
)


async def restore_contact(ctx: RunContext, pre: PreImage, types: Mapping[str, str | None]) -> None:
    before: dict[str, Any] = dict(pre.payload) if isinstance(pre.payload, dict) else {}
    try:
        now = (await ctx.call("GET", f"/contacts/{pre.destination_id}", kind=RequestKind.READ)).get("contact")
    except NotFoundError:
        await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)  # deleted by the practice since
        return
    current: dict[str, Any] = now if isinstance(now, dict) else {}
    body: dict[str, Any] = {key: before.get(key) for key in _RESTORED}
    body["tags"] = list(before.get("tags") or [])
    old_values = {c["id"]: c.get("value") for c in before.get("customFields") or [] if isinstance(c, dict)}
    fields = [
        {"id": fid, "field_value": value_for_write(types.get(fid), value)}
        for fid, value in old_values.items()
    ]
    fields += [
        {"id": c["id"], "field_value": clear_value(types.get(c["id"]))}
        for c in current.get("customFields") or []
        if isinstance(c, dict) and c.get("id") not in old_values
    ]
    body["customFields"] = fields
    await ctx.call("PUT", f"/contacts/{pre.destination_id}", kind=RequestKind.IDEMPOTENT, json=body)
    await ctx.db(ctx.ledger.mark_restored, pre.kind, pre.destination_id)


async def find_contact(ctx: RunContext, lookup: Mapping[str, str]) -> str | None:
    """The contact with this Source System ID *and* this practice's Source Practice ID (an AND of both
    filters): another practice's patient with the same Dentrix id is never matched."""
    source_id = lookup.get("source_id")
    field_id = ctx.setup.source_id_field if ctx.setup is not None else None
    if source_id is None or field_id is None:
        return None
    # An intent begun before namespaces existed has none: it is this run's practice's.
    namespace = lookup.get("namespace") or ctx.namespace
    filters = [{"field": f"customFields.{field_id}", "operator": "eq", "value": source_id}]
    practice_field = ctx.setup.practice_field if ctx.setup is not None else None
    if practice_field is not None and namespace:
        filters.append({"field": f"customFields.{practice_field}", "operator": "eq", "value": namespace})
    async for contact in ctx.hl.contacts.search(filters=filters, page_limit=10):
        return contact.id
    return None


WRITER = Writer(
    kind=KIND,
    feature=feature(
        "contacts",
        "upsert, read back, update and (rollback) delete patients' contacts; find an interrupted create",
        "POST /contacts/upsert",
        "POST /contacts/",
        "GET /contacts/{contactId}",
        "PUT /contacts/{contactId}",
        "DELETE /contacts/{contactId}",
        "POST /contacts/search",
        "GET /contacts/search/duplicate",
    ),
    count=lambda scope: len(scope.bundles),
    counted_when_none=True,
    find=find_contact,
    searched=True,
    restore=restore_contact,
    in_plan=lambda policies, mapped: True,
)
