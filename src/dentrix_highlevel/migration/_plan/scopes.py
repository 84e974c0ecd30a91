"""Which HighLevel operations, and so which token scopes, a migration needs: per feature of its plan.

Each feature lists the operations its steps send (plan, preflight, run, sample, delta, reconcile,
rollback, and the lookups that resolve an interrupted create); the scopes follow from the client's
operation catalogue, whose scopes the contract tests check against HighLevel's official spec.
``tests/migration/test_scopes.py`` records the requests a migration really sends with every feature on
and checks each is declared here, and that the table in ``docs/highlevel-setup.md`` is exactly
:func:`render_scope_table`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from dentrix_highlevel.highlevel import Operation, operation
from dentrix_highlevel.migration._engine.policies import MigrationPolicies

__all__ = [
    "FEATURES",
    "Feature",
    "features_for",
    "render_scope_table",
    "required_operations",
    "required_scopes",
]


@attrs.frozen(kw_only=True)
class Feature:
    """One part of a migration that needs requests of its own."""

    name: str
    why: str
    operations: tuple[Operation, ...]
    optional: bool = False
    """Not needed to migrate: the preflight warns instead of failing when its scopes are missing."""


def _feature(name: str, why: str, *ops: str, optional: bool = False) -> Feature:
    return Feature(name=name, why=why, operations=tuple(operation(o) for o in ops), optional=optional)


CONTACTS = _feature(
    "contacts",
    "upsert, read back, update and (rollback) delete patients' contacts; find an interrupted create",
    "POST /contacts/upsert",
    "POST /contacts/",
    "GET /contacts/{contactId}",
    "PUT /contacts/{contactId}",
    "DELETE /contacts/{contactId}",
    "POST /contacts/search",
    "GET /contacts/search/duplicate",
)
LOCATION = _feature(
    "location",
    "the location's time zone, company id and duplicate-contact settings",
    "GET /locations/{locationId}",
)
TAGS = _feature(
    "tags",
    "the tag catalogue before the run; rollback removes the tags the migration added",
    "GET /locations/{locationId}/tags",
    "POST /locations/{locationId}/tags",
    "DELETE /locations/{locationId}/tags/{tagId}",
)
CUSTOM_FIELDS = _feature(
    "custom fields",
    "find the existing custom fields, create the missing ones; rollback deletes those it created",
    "GET /locations/{locationId}/customFields",
    "POST /locations/{locationId}/customFields",
    "DELETE /locations/{locationId}/customFields/{id}",
)
OWNER_RECORD = _feature(
    "owner record",
    "the location custom values that record which migration owns the location (a lost or copied ledger "
    "is refused; recover rebuilds it) and which setup objects it created; rollback deletes them",
    "GET /locations/{locationId}/customValues",
    "POST /locations/{locationId}/customValues",
    "PUT /locations/{locationId}/customValues/{id}",
    "DELETE /locations/{locationId}/customValues/{id}",
)
NOTES = _feature(
    "notes",
    "overflow, clinical and Office Journal notes on the contact",
    "POST /contacts/{contactId}/notes",
    "PUT /contacts/{contactId}/notes/{id}",
    "GET /contacts/{contactId}/notes",
    "DELETE /contacts/{contactId}/notes/{id}",
)
OPPORTUNITIES = _feature(
    "opportunities",
    "read the lifecycle pipeline's stages; create, move, read back and (rollback) delete opportunities",
    "GET /opportunities/pipelines",
    "POST /opportunities/",
    "PUT /opportunities/{id}",
    "GET /opportunities/{id}",
    "GET /opportunities/search",
    "DELETE /opportunities/{id}",
)
APPOINTMENTS = _feature(
    "appointments",
    "find or create the calendars (their teams), create, read back and (rollback) delete appointments",
    "GET /calendars/",
    "POST /calendars/",
    "GET /calendars/{calendarId}",
    "PUT /calendars/{calendarId}",
    "DELETE /calendars/{calendarId}",
    "POST /calendars/events/appointments",
    "PUT /calendars/events/appointments/{eventId}",
    "GET /calendars/events/appointments/{eventId}",
    "GET /calendars/events",
    "DELETE /calendars/events/{eventId}",
)
PROVIDER_USERS = _feature(
    "provider users",
    "providers become users (an existing user with the provider's e-mail is reused)",
    "GET /users/search",
    "POST /users/",
    "DELETE /users/{userId}",
)
TREATMENT_TASKS = _feature(
    "treatment tasks",
    "one follow-up task per open treatment-plan case",
    "POST /contacts/{contactId}/tasks",
    "PUT /contacts/{contactId}/tasks/{taskId}",
    "PUT /contacts/{contactId}/tasks/{taskId}/completed",
    "GET /contacts/{contactId}/tasks",
    "GET /contacts/{contactId}/tasks/{taskId}",
    "DELETE /contacts/{contactId}/tasks/{taskId}",
)
DOCUMENTS = _feature(
    "document uploads",
    "upload document files to the media library; find an interrupted upload; rollback deletes them",
    "POST /medias/upload-file",
    "GET /medias/files",
    "DELETE /medias/{id}",
)
FAMILY = _feature(
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
WORKFLOWS = _feature(
    "workflow check",
    "the preflight lists published workflows that may fire on migrated contacts",
    "GET /workflows/",
    optional=True,
)

#: Every feature, in the order the scope table lists them.
FEATURES: tuple[Feature, ...] = (
    CONTACTS,
    LOCATION,
    TAGS,
    CUSTOM_FIELDS,
    OWNER_RECORD,
    NOTES,
    OPPORTUNITIES,
    APPOINTMENTS,
    PROVIDER_USERS,
    TREATMENT_TASKS,
    DOCUMENTS,
    FAMILY,
    WORKFLOWS,
)


def features_for(
    policies: MigrationPolicies, maps: Mapping[str, object] | None = None
) -> tuple[Feature, ...]:
    """The features a migration with these policies (and maps, when given) uses."""
    names = set(maps) if maps is not None else None

    def mapped(name: str) -> bool:
        return names is None or name in names

    out = [CONTACTS, LOCATION, TAGS, CUSTOM_FIELDS, OWNER_RECORD]
    if (policies.journal_notes or policies.overflow_notes) or mapped("clinical_note"):
        out.append(NOTES)
    if policies.pipeline_name is not None and mapped("opportunity"):
        out.append(OPPORTUNITIES)
    if policies.calendar_name is not None and mapped("appointment"):
        out.append(APPOINTMENTS)
    if policies.provider_users and mapped("provider_user"):
        out.append(PROVIDER_USERS)
    if policies.treatment_tasks:
        out.append(TREATMENT_TASKS)
    if policies.upload_documents:
        out.append(DOCUMENTS)
    if policies.family_associations:
        out.append(FAMILY)
    out.append(WORKFLOWS)
    return tuple(out)


def required_operations(features: Iterable[Feature]) -> tuple[Operation, ...]:
    seen: dict[str, Operation] = {}
    for feature in features:
        for op in feature.operations:
            seen.setdefault(op.name, op)
    return tuple(seen.values())


def required_scopes(features: Iterable[Feature], *, optional: bool = True) -> tuple[str, ...]:
    """The scopes these features need (``optional=False``: only those a migration cannot do without)."""
    return tuple(sorted({op.scope for f in features if optional or not f.optional for op in f.operations}))


def render_scope_table(features: Iterable[Feature] = FEATURES) -> str:
    """The scope table of ``docs/highlevel-setup.md``: one row per scope, the features that need it."""
    by_scope: dict[str, list[str]] = {}
    optional: dict[str, bool] = {}
    for feature in features:
        for scope in sorted({op.scope for op in feature.operations}):
            names = by_scope.setdefault(scope, [])
            if feature.name not in names:
                names.append(feature.name)
            optional[scope] = optional.get(scope, True) and feature.optional
    lines = ["| Scope | Needed for |", "|---|---|"]
    for scope in sorted(by_scope):
        needed = ", ".join(by_scope[scope]) + (
            " (optional: the preflight warns without it)" if optional[scope] else ""
        )
        lines.append(f"| `{scope}` | {needed} |")
    return "\n".join(lines) + "\n"
