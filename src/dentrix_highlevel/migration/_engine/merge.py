"""Merging a patient into a contact that is already in HighLevel, without destroying what is there.

HighLevel's contact writes replace: ``tags`` on an upsert or PUT becomes the contact's whole tag set, and
every standard field sent overwrites the stored one. So what is sent is computed here from what the
contact holds:

- **tags** are added, never replaced: the contact's current tags stay, the patient's are added; a tag the
  migration owns (``MergePolicy.owned_tag_prefix``) that the source no longer implies is dropped, unless
  the practice had it before the migration;
- on a contact the practice had (its pre-image is in the ledger), a **standard field** the practice filled
  is kept (fill-empty) unless the plan opts it into ``overwrite``; the migration's identity lives in its
  custom fields, which are always written;
- **DND** only ever gets stricter: a channel the practice or the patient turned off stays off.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from dentrix_highlevel.migration._engine.policies import MERGEABLE_FIELDS, MergePolicy

__all__ = ["ContactMerge", "expected_contact", "is_blank", "merge_contact", "tags_of"]


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def tags_of(contact: Mapping[str, Any] | None) -> list[str]:
    raw = (contact or {}).get("tags") or []
    return [str(t) for t in raw if isinstance(t, str)]


@attrs.frozen(kw_only=True)
class ContactMerge:
    """What to send to a contact, and which standard fields keep the practice's value (names only)."""

    body: dict[str, Any] = attrs.field(repr=False)
    kept: tuple[str, ...] = ()


def _stricter_dnd(ours: Any, theirs: Any) -> Any:
    """Per channel, DND on (``active``) when either side has it on."""
    if not isinstance(theirs, Mapping):
        return ours
    if not isinstance(ours, Mapping):
        return dict(theirs)
    out = {channel: dict(value) if isinstance(value, Mapping) else value for channel, value in theirs.items()}
    for channel, value in ours.items():
        mine = value.get("status") if isinstance(value, Mapping) else None
        held = out.get(channel)
        theirs_status = held.get("status") if isinstance(held, Mapping) else None
        if mine == "active" or theirs_status is None:
            out[channel] = dict(value) if isinstance(value, Mapping) else value
    return out


def _merged_tags(
    ours: Sequence[str], current: Iterable[str], protected: Iterable[str], policy: MergePolicy
) -> list[str]:
    wanted = {t.casefold() for t in ours}
    kept_anyway = {t.casefold() for t in protected}
    out: list[str] = []
    seen: set[str] = set()
    for tag in current:
        folded = tag.casefold()
        if policy.owns_tag(tag) and folded not in wanted and folded not in kept_anyway:
            continue  # ours, and the source no longer implies it
        if folded not in seen:
            seen.add(folded)
            out.append(tag)
    for tag in ours:
        if tag.casefold() not in seen:
            seen.add(tag.casefold())
            out.append(tag)
    return out


def merge_contact(
    body: Mapping[str, Any],
    *,
    practice: Mapping[str, Any] | None,
    current: Mapping[str, Any] | None,
    policy: MergePolicy,
) -> ContactMerge:
    """The body to write. ``practice``: the contact as the practice had it before the migration (its
    pre-image), None for a contact the migration created; ``current``: the contact as it is now (None for
    a contact about to be created: nothing to merge with)."""
    out = dict(body)
    kept: list[str] = []
    if practice is not None:
        for field in MERGEABLE_FIELDS:
            if field in out and not policy.overwrites(field) and not is_blank(practice.get(field)):
                del out[field]
                kept.append(field)
        if "dndSettings" in out or "dndSettings" in practice:
            out["dndSettings"] = _stricter_dnd(out.get("dndSettings"), practice.get("dndSettings"))
            if out["dndSettings"] is None:
                del out["dndSettings"]
        if practice.get("dnd") is True:
            out["dnd"] = True
    if current is not None:
        out["tags"] = _merged_tags(
            [str(t) for t in body.get("tags") or []], tags_of(current), tags_of(practice), policy
        )
    return ContactMerge(body=out, kept=tuple(kept))


def expected_contact(
    body: Mapping[str, Any], *, practice: Mapping[str, Any] | None, policy: MergePolicy
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What a migrated contact must hold, for the sample diff and reconcile: the patient's values, with the
    practice's in the fields it kept; and the names of those fields. (Tags compare as a subset.)"""
    merged = merge_contact(body, practice=practice, current=None, policy=policy)
    expected = dict(merged.body)
    for field in merged.kept:
        expected[field] = (practice or {}).get(field)
    if practice is not None:
        # The practice's own tags must still be there beside the patient's.
        ours = [str(t) for t in body.get("tags") or []]
        folded = {t.casefold() for t in ours}
        expected["tags"] = ours + [t for t in tags_of(practice) if t.casefold() not in folded]
    return expected, merged.kept
