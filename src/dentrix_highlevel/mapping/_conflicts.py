"""A custom field the plan writes against the fields the location already has: reuse, or a conflict.

The plan (before approval) and the run's setup (before any write) ask the same question, so a field that
exists with another type, lacks the picklist options the map writes, or shares its name under another
key is refused with the same fix in both places, never written with the wrong shape.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from dentrix_highlevel.mapping._propose import ExistingCustomField
from dentrix_highlevel.mapping._targets import CustomFieldTarget

__all__ = ["FieldMatch", "match_custom_field"]


@attrs.frozen(kw_only=True)
class FieldMatch:
    """``existing``: the location's field with the target's key (reused when there is no conflict).
    ``conflict``: why the target cannot be written as planned, and ``fix``: what the admin can do."""

    existing: ExistingCustomField | None = None
    conflict: str | None = None
    fix: str | None = None


def match_custom_field(target: CustomFieldTarget, fields: Iterable[ExistingCustomField]) -> FieldMatch:
    by_key = None
    by_name = None
    folded = target.name.casefold()
    for field in fields:
        if field.field_key == target.field_key:
            by_key = field
        elif field.name.casefold() == folded and by_name is None:
            by_name = field
    if by_key is not None:
        if by_key.data_type is not target.data_type:
            return FieldMatch(
                existing=by_key,
                conflict=f"exists as {by_key.data_type.value}; the map needs {target.data_type.value}",
                fix=f"rename the practice's field in HighLevel, or map {target.name!r} to a new field key",
            )
        missing = [o for o in target.options if o not in by_key.options]
        if missing:
            return FieldMatch(
                existing=by_key,
                conflict=f"exists but lacks {len(missing)} picklist option(s) the map writes",
                fix="add the options to the field in HighLevel, or map it to a new field key",
            )
        return FieldMatch(existing=by_key)
    if by_name is not None:
        return FieldMatch(
            conflict=f"a field with this name exists under another key ({by_name.field_key})",
            fix=f"map to {by_name.field_key} (if it holds the same thing), or give ours another name",
        )
    return FieldMatch()
