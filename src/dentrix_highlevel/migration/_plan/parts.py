"""The plan's parts: the value classes a :class:`MigrationPlan` is made of (names, keys, counts and shapes
only, never a patient value). The plan's Markdown report reads them; the plan builds them."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

__all__ = [
    "CollisionReport",
    "CustomFieldPlan",
    "CutoverWarning",
    "DocumentPlan",
    "PipelinePlan",
    "PlannedField",
    "SourceSummary",
    "StagePlan",
    "WorkflowToRebuild",
]


@attrs.frozen(kw_only=True)
class CollisionReport:
    """What the migration will meet of the practice's own data in the sub-account (counts only), by the
    rule the run applies: patients merging into existing contacts (by e-mail / by phone, in the
    location's dedupe order), contact points left with another existing contact, existing opportunities
    and users adopted, and custom-field conflicts."""

    contacts_in_location: int = 0
    merge_by_email: int = 0
    merge_by_phone: int = 0
    points_left_with_existing: int = 0
    opportunities_adopted: int = 0
    users_adopted: int = 0
    field_conflicts: tuple[str, ...] = ()
    read_requests: int = 0
    dedupe_order: tuple[str, ...] = ("email", "phone")

    @property
    def merges(self) -> int:
        return self.merge_by_email + self.merge_by_phone


@attrs.frozen(kw_only=True)
class SourceSummary:
    kind: str  # "g_export", "ascend" or the source's class name
    fingerprint: str
    timezone: str | None
    patients: int


@attrs.frozen(kw_only=True)
class PlannedField:
    """One target field of one map: HighLevel key, the practice's ``__c`` name, type, category, source."""

    map: str
    object: str
    target: str  # standard field name, or the custom field's display name
    field_key: str  # contact.<snake> for custom fields, the API name for standard ones
    vocabulary_name: str | None
    data_type: str
    category: str | None
    custom: bool
    source: str
    transforms: str
    required: bool
    note: str


@attrs.frozen(kw_only=True)
class CustomFieldPlan:
    """A custom field the maps write: ``action`` is ``create``, ``reuse`` (exists with the same type) or
    ``conflict`` (exists with another type, or lacks picklist options; ``reason`` says which)."""

    field_key: str
    name: str
    vocabulary_name: str
    model: str
    data_type: str
    category: str
    options: tuple[str, ...]
    action: str
    folder: str
    folder_id: str | None
    existing_id: str | None = None
    reason: str = ""


@attrs.frozen(kw_only=True)
class StagePlan:
    name: str
    exists: bool


@attrs.frozen(kw_only=True)
class PipelinePlan:
    """The lifecycle pipeline: it must exist before a run (HighLevel's API cannot create pipelines)."""

    name: str
    exists: bool
    pipeline_id: str | None
    stages: tuple[StagePlan, ...]

    @property
    def missing_stages(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.stages if not s.exists)


@attrs.frozen(kw_only=True)
class WorkflowToRebuild:
    """A Dentrix automation the practice rebuilds as a HighLevel workflow, and the field it triggers on."""

    name: str
    trigger: str
    trigger_vocabulary: str | None
    replaces: str


@attrs.frozen(kw_only=True)
class CutoverWarning:
    code: str
    count: int
    message: str


@attrs.frozen(kw_only=True)
class DocumentPlan:
    """What happens to the patients' documents (counts only): hosted URLs carried over in Document Links,
    files uploaded through the media API (``upload_documents``), the rest listed in "Documents To
    Re-upload" for a person, counted by reason. A file is read and verified only at run time: one that is
    unreadable, over 25 MB or fails its SHA-256 is then skipped (with its reason) and stays listed."""

    total: int = 0
    hosted: int = 0
    upload: int = 0
    manual: Mapping[str, int] = attrs.field(factory=dict)
