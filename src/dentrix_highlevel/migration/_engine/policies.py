"""What a practice decides about the migration beyond the field maps: the engine's policies.

Policies are part of the approved plan (their serialised form goes into ``plan_hash``): changing one after
approval makes ``run()`` refuse with ``PlanChangedError`` naming ``policies``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from dentrix_highlevel._errors import ConfigurationError

__all__ = [
    "MERGEABLE_FIELDS",
    "CalendarLayout",
    "FamilyContactPolicy",
    "MergePolicy",
    "MigrationPolicies",
    "RemovedInSourcePolicy",
]


class FamilyContactPolicy(enum.StrEnum):
    """What to do when two patients share an e-mail or phone (families do; HighLevel dedupes on both)."""

    AUTO = "auto"
    """A separate contact carrying the shared value where the location allows duplicates; otherwise the
    second patient is created without the shared contact point and a ``conflict`` is recorded."""
    WITHHOLD = "withhold"
    """Always create the second patient without the shared contact point (and record a ``conflict``)."""


class RemovedInSourcePolicy(enum.StrEnum):
    """What a delta does with a patient who was migrated but is no longer in the source export."""

    KEEP = "keep"
    """Leave the contact (and everything hanging off it) in HighLevel; the audit log says ``skipped``."""
    DELETE = "delete"
    """Delete the contact the migration created (never a practice's pre-existing contact)."""


class CalendarLayout(enum.StrEnum):
    """Which calendar a migrated appointment is booked into."""

    SINGLE = "single"
    """One calendar, named ``calendar_name``."""
    PROVIDER = "provider"
    """One calendar per provider with migrated appointments (``Dentrix – <id> <name>``); its team member is
    the provider's user under ``provider_users``."""
    OPERATORY = "operatory"
    """One calendar per operatory (chair) with migrated appointments (``Dentrix – <id> <title>``)."""


#: The standard contact fields a patient may share with a contact the practice already has. The practice's
#: value is kept unless the plan opts the field into ``overwrite``; tags are always added to, DND only ever
#: made stricter, and the migration's own identity lives in its custom fields, which it always writes.
MERGEABLE_FIELDS: tuple[str, ...] = (
    "address1",
    "assignedTo",
    "city",
    "companyName",
    "country",
    "dateOfBirth",
    "email",
    "firstName",
    "gender",
    "lastName",
    "name",
    "phone",
    "postalCode",
    "source",
    "state",
    "timezone",
    "website",
)


def _field_names(value: Iterable[str]) -> frozenset[str]:
    names = frozenset(str(v) for v in value)
    unknown = sorted(names - set(MERGEABLE_FIELDS))
    if unknown:
        raise ConfigurationError(
            f"merge overwrite: unknown contact field(s) {', '.join(unknown)} "
            f"(one of {', '.join(MERGEABLE_FIELDS)})"
        )
    return names


@attrs.frozen(kw_only=True)
class MergePolicy:
    """How a patient lands on a contact the practice already has in HighLevel (a marketing lead with the
    patient's e-mail or phone), and on an opportunity that contact already has.

    The safe defaults merge without destroying: every standard field the practice filled is kept
    (fill-empty), unless named in ``overwrite``; the practice's tags stay and the patient's are added;
    DND settings only get stricter (a channel off on either side is off); an existing opportunity in the
    lifecycle pipeline is adopted with its name and value, and moved to the patient's stage only under
    ``move_adopted_opportunities``. Everything changed is kept as a pre-image, so rollback restores it.
    """

    overwrite: frozenset[str] = attrs.field(factory=frozenset, converter=_field_names)
    move_adopted_opportunities: bool = False
    owned_tag_prefix: str = "dentrix"
    """Tags the migration owns (``dentrix`` and ``dentrix …``): one the source no longer implies is removed
    again (a patient who became inactive loses ``dentrix patient``). Other tags are only ever added."""

    def overwrites(self, field: str) -> bool:
        return field in self.overwrite

    def owns_tag(self, tag: str) -> bool:
        prefix = self.owned_tag_prefix.casefold()
        folded = tag.casefold()
        return bool(prefix) and (folded == prefix or folded.startswith(prefix + " "))

    def to_dict(self) -> dict[str, Any]:
        return {
            "overwrite": sorted(self.overwrite),
            "move_adopted_opportunities": self.move_adopted_opportunities,
            "owned_tag_prefix": self.owned_tag_prefix,
        }


def _merge(value: MergePolicy | Mapping[str, Any]) -> MergePolicy:
    return value if isinstance(value, MergePolicy) else MergePolicy(**dict(value))


_DEDUPE_POINTS = ("email", "phone")


def _dedupe(value: Iterable[str]) -> tuple[str, ...]:
    order = tuple(str(v).strip().lower() for v in value)
    if not order or len(set(order)) != len(order) or not set(order) <= set(_DEDUPE_POINTS):
        raise ConfigurationError("dedupe_order must list 'email' and/or 'phone', each once")
    return order


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ConfigurationError(f"{attribute.name} must be >= 0")


_PRACTICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def _practice_id(_: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    # It ends up in a custom field value and in uploaded file names: short, printable, no separators that
    # a search or a file system would read differently.
    if value is not None and not _PRACTICE_ID.fullmatch(value):
        raise ConfigurationError(
            "practice_id must be 1-64 letters, digits, '.', '_', ':' or '-' (starting with a letter or digit)"
        )


def _folders(value: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else (value or ())
    return tuple(sorted((str(name), str(folder_id)) for name, folder_id in items))


@attrs.frozen(kw_only=True)
class MigrationPolicies:
    """The engine's choices; every one is keyword-only with a safe default.

    ``pipeline_name`` must already exist in the location (HighLevel's API cannot create pipelines).
    ``calendar_name`` is the calendar future appointments are booked into (created when missing);
    ``None`` migrates no appointments. ``search_lag_s`` is how long to let HighLevel's search index catch
    up before the first search for an ambiguous contact create's source id; ``ambiguous_lookup_s`` bounds
    the polling that follows.
    """

    family_contacts: FamilyContactPolicy = attrs.field(
        default=FamilyContactPolicy.AUTO, converter=FamilyContactPolicy
    )
    removed_in_source: RemovedInSourcePolicy = attrs.field(
        default=RemovedInSourcePolicy.KEEP, converter=RemovedInSourcePolicy
    )
    pipeline_name: str | None = "Patient Lifecycle"
    calendar_name: str | None = "Dentrix Appointments"
    journal_notes: bool = True
    overflow_notes: bool = True
    search_lag_s: float = attrs.field(default=2.0, validator=_positive)
    ambiguous_lookup_s: float = attrs.field(default=90.0, validator=_positive)
    """How long after an ambiguous contact create (or an interrupted one) its lookup keeps polling the
    search index, with backoff, before the contact counts as never created and is sent again. HighLevel's
    index has been seen to lag a minute; a shorter bound risks a duplicate contact."""
    provider_users: bool = False
    """Create a HighLevel user per provider with an e-mail (reusing a user with that e-mail); rollback
    deletes the users it created. Off by default: users are seats, and a practice usually invites them."""
    family_associations: bool = False
    """Link each family member's contact to its guarantor's contact with a contact–contact association
    (key ``family_member``, created once or reused); rollback deletes the relations and the association
    it created."""
    calendars: CalendarLayout = attrs.field(default=CalendarLayout.SINGLE, converter=CalendarLayout)
    """Calendar layout (needs ``calendar_name``): an appointment without a provider (or operatory) falls
    back to the ``calendar_name`` calendar, created only when some appointment needs it."""
    treatment_tasks: bool = False
    """One follow-up task per open treatment-plan case of a migrated patient, on the patient's contact.
    Off by default: tasks land in staff task lists, so a practice opts in."""
    task_due_days: int = attrs.field(default=7, validator=_positive)
    """A treatment task is due this many days after the plan date (``as_of``), 09:00 practice time."""
    field_folders: tuple[tuple[str, str], ...] = attrs.field(factory=tuple, converter=_folders)
    """Contact custom-field folders the admin made (folder name → HighLevel folder id; a mapping is
    accepted). A new custom field whose category (Clinical, Insurance, Financial, Administrative) names
    one of them is created inside it through ``parentId``: the public API cannot create contact folders."""

    merge: MergePolicy = attrs.field(factory=MergePolicy, converter=_merge)
    """How patients merge into contacts and opportunities the practice already has (see ``MergePolicy``)."""
    dedupe_order: tuple[str, ...] = attrs.field(default=_DEDUPE_POINTS, converter=_dedupe)
    """The location's "Contact Deduplication Preferences": which contact point HighLevel matches first.
    The API does not expose it: read it in Settings → Business Profile; the preflight checks it against
    the location's own answers where it can."""

    upload_documents: bool = False
    """Upload each document that has no hosted URL and whose file is readable in the export through
    HighLevel's media API (before the patient's contact write, whose Document Links then carry its URL);
    rollback deletes the uploaded files. Off: such documents are listed in "Documents To Re-upload"."""
    upload_unverified_documents: bool = False
    """Also upload a document whose export row has no ``sha256``. Off by default: without the export's
    checksum nothing ties the bytes on disk to the file the practice exported, so such a document is
    recorded skipped and listed in "Documents To Re-upload" for a person to check and upload."""

    practice_id: str | None = attrs.field(default=None, validator=_practice_id)
    """The practice namespace of this migration's source keys in HighLevel (``Source Practice ID`` on every
    contact, and in uploaded file names). Default: the source practice's fingerprint (``g:<practice id>``
    or ``ascend:<organization id>``), the same for every export of one practice. Set it when two practices
    that go into one location share a practice id (two offices exported under one Dentrix id), or to give
    a practice a readable name; never change it once a run has written contacts (the ledger refuses)."""

    def folder_for(self, category: str) -> str | None:
        """The folder id for a field category, matched case-insensitively; None when the admin made none."""
        wanted = category.casefold()
        return next((folder_id for name, folder_id in self.field_folders if name.casefold() == wanted), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the plan hash (``search_lag_s`` and ``ambiguous_lookup_s`` are operational knobs,
        not part of the plan)."""
        return {
            "family_contacts": self.family_contacts.value,
            "removed_in_source": self.removed_in_source.value,
            "pipeline_name": self.pipeline_name,
            "calendar_name": self.calendar_name,
            "journal_notes": self.journal_notes,
            "overflow_notes": self.overflow_notes,
            # Only when chosen, so plans approved before this option existed keep their hash.
            **({"provider_users": True} if self.provider_users else {}),
            **({"family_associations": True} if self.family_associations else {}),
            **({"field_folders": dict(self.field_folders)} if self.field_folders else {}),
            **({"upload_documents": True} if self.upload_documents else {}),
            **({"practice_id": self.practice_id} if self.practice_id is not None else {}),
            **({"upload_unverified_documents": True} if self.upload_unverified_documents else {}),
            **({"merge": self.merge.to_dict()} if self.merge != MergePolicy() else {}),
            **({"dedupe_order": list(self.dedupe_order)} if self.dedupe_order != _DEDUPE_POINTS else {}),
            **({"calendars": self.calendars.value} if self.calendars is not CalendarLayout.SINGLE else {}),
            **(
                {"treatment_tasks": True, "task_due_days": self.task_due_days} if self.treatment_tasks else {}
            ),
        }
