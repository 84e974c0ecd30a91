"""The practice namespace: which practice a source key belongs to, wherever it finds an object in HighLevel.

A Dentrix patient id (``1003``) is unique inside one practice only. Two practices migrated into one
location (a dental group merging offices) have overlapping ids, so every lookup that finds a migrated object
again by its source key also matches the practice:

- contacts carry a second engine-owned custom field, ``Source Practice ID`` (``contact.source_practice_id``),
  next to ``Source System ID``; the ambiguous-create lookup searches with an AND of both, and a contact is
  "ours" only when both match. ``Source System ID`` keeps holding the bare Dentrix id, so single-practice
  migrations, their reports and the practice's own saved searches keep working unchanged;
- uploaded documents are named ``dentrix-document-<namespace>-<id>.<ext>``;
- rollback deletes tags and custom fields only when no contact it keeps uses them.

The namespace is ``MigrationPolicies.practice_id`` when set, else the source's practice fingerprint
(``g:<practice id>`` for a G export, ``ascend:<organization id>`` for Ascend): the same for every export of
one practice, so runs, deltas and exports of that practice all land on the same namespace. It is part of
the plan (the fingerprint and the policy are both in the plan hash) and recorded in the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dentrix_highlevel.mapping import CustomFieldTarget, DataType, FieldCategory, FieldMap

__all__ = [
    "PRACTICE_ID_KEY",
    "SOURCE_ID_KEY",
    "SOURCE_PRACTICE_ID",
    "identity_targets",
    "namespace_slug",
    "practice_namespace",
]

SOURCE_ID_KEY = "contact.source_system_id"
PRACTICE_ID_KEY = "contact.source_practice_id"
SOURCE_PRACTICE_ID = CustomFieldTarget(
    name="Source Practice ID",
    data_type=DataType.TEXT,
    category=FieldCategory.ADMINISTRATIVE,
    vocabulary_name="Source_Practice_ID__c",
)
_SLUG = re.compile(r"[^A-Za-z0-9]+")


def practice_namespace(practice_id: str | None, fingerprint: str) -> str:
    """The configured ``practice_id`` (``MigrationPolicies.practice_id``), else the source practice's
    fingerprint."""
    return practice_id or fingerprint


def identity_targets(maps: Mapping[str, FieldMap]) -> tuple[CustomFieldTarget, ...]:
    """The engine-owned custom fields a plan adds to its maps' own: ``Source Practice ID`` wherever the
    contact map writes a ``Source System ID`` (a map without one has no source key in HighLevel)."""
    contact = maps.get("contact")
    if contact is None or not any(t.field_key == SOURCE_ID_KEY for t in contact.custom_fields()):
        return ()
    if any(t.field_key == PRACTICE_ID_KEY for t in contact.custom_fields()):
        return ()  # a map that writes it itself
    return (SOURCE_PRACTICE_ID,)


def namespace_slug(namespace: str) -> str:
    """The namespace as a file name may carry it (letters, digits, ``-``): ``g:CVFD1`` -> ``g-CVFD1``."""
    return _SLUG.sub("-", namespace).strip("-")[:48] or "practice"
