"""Field-level comparison of what the plan expects in HighLevel with what HighLevel holds (read by id).

Used by ``sample()`` (its report is the deliverable a practice admin reviews, values included) and by
``reconcile()`` (which keeps only ids, field names and verdicts).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from dentrix_highlevel.mapping import CustomFieldTarget, FieldMap, StandardField

__all__ = ["FieldDiff", "Verdict", "compare_values", "diff_object", "diff_payload"]


class Verdict:
    MATCH = "match"
    MISMATCH = "mismatch"
    MISSING = "missing"
    """Expected a value; HighLevel holds none."""
    WITHHELD = "withheld"
    """Deliberately not sent (a contact point another patient holds)."""
    NOT_SENT = "not_sent"
    """Mapped, but HighLevel's API has no field for it on this object (the plan report says so)."""


@attrs.frozen
class FieldDiff:
    """One mapped field of one migrated object. ``source``/``expected``/``actual`` are values (PHI): they
    belong in the sample report only, so the repr shows the verdict and field name alone."""

    source_key: str
    object: str
    destination_id: str
    field: str
    verdict: str
    source: str | None = attrs.field(default=None, repr=False)
    expected: str | None = attrs.field(default=None, repr=False)
    actual: str | None = attrs.field(default=None, repr=False)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in sorted(value.items()))
    return str(value)


def _as_date(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC).date().isoformat()
    if isinstance(value, str) and len(value) >= 10:
        return value[:10]
    return None


def _instant(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def compare_values(field: str, expected: Any, actual: Any, *, data_type: str | None = None) -> bool:
    """Equal as HighLevel means it: e-mails case-blind, dates by day, instants by instant, tags as a
    subset (a practice's own tags may be there too), DND by channel status, numbers numerically."""
    if expected is None:
        return actual in (None, "", [])
    if actual is None:
        return False
    if field == "email":
        return str(expected).lower() == str(actual).lower()
    if field == "tags":
        return {str(t).lower() for t in expected} <= {str(t).lower() for t in actual}
    if field == "dndSettings" and isinstance(expected, dict) and isinstance(actual, dict):
        return all(
            isinstance(actual.get(ch), dict) and actual[ch].get("status") == (st or {}).get("status")
            for ch, st in expected.items()
        )
    if field in ("dateOfBirth",) or data_type == "DATE":
        return _as_date(expected) == _as_date(actual)
    if field in ("startTime", "endTime", "dueDate"):
        return _instant(expected) == _instant(actual)
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        try:
            return abs(float(expected) - float(actual)) < 1e-6
        except (TypeError, ValueError):
            return False
    if isinstance(expected, list | tuple):
        return [str(x) for x in expected] == [
            str(x) for x in (actual if isinstance(actual, list) else [actual])
        ]
    return str(expected) == str(actual)


def _custom(values: Iterable[Any], field_id: str) -> Any:
    for item in values or ():
        if isinstance(item, dict) and item.get("id") == field_id:
            for name in ("field_value", "value", "fieldValue"):
                if name in item:
                    return item[name]
    return None


def diff_object(
    *,
    field_map: FieldMap,
    record: Any,
    source_key: str,
    destination_id: str,
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
    field_ids: Mapping[str, str],
    withheld: Iterable[str] = (),
    not_sent: Iterable[str] = (),
    extra_keys: Iterable[str] = (),
    server_defaults: Iterable[str] = (),
) -> list[FieldDiff]:
    """One row per mapped field that has a value on either side (plus ``extra_keys`` set by the engine).

    ``server_defaults`` are fields HighLevel fills in itself when a write leaves them out (an untitled
    appointment gets a title): a value there is HighLevel's default, not a mismatch, when none was sent.
    """
    rows: list[FieldDiff] = []
    defaulted = set(server_defaults)
    withheld = set(withheld)
    not_sent = set(not_sent)
    seen: set[str] = set()

    def row(label: str, verdict: str, source_value: str | None, want: Any, have: Any) -> FieldDiff:
        return FieldDiff(
            source_key,
            field_map.object.value,
            destination_id,
            label,
            verdict,
            source_value,
            _text(want),
            _text(have),
        )

    for rule in field_map.rules:
        target = rule.target
        try:
            source_value = _text(rule.source.read(record))
        except Exception:  # a computed source may raise anything; the report then shows no source value
            source_value = None
        data_type = None
        if isinstance(target, CustomFieldTarget):
            field_id = field_ids.get(target.field_key)
            if field_id is None:
                continue
            want = _custom(expected.get("customFields", ()), field_id)
            have = _custom(actual.get("customFields", ()), field_id)
            label = target.name
            data_type = target.data_type.value
        else:
            assert isinstance(target, StandardField)
            if target.name in seen:
                continue  # additive targets (tags) compare once, as a whole
            seen.add(target.name)
            want, have, label = expected.get(target.name), actual.get(target.name), target.name
        if label in not_sent or label in withheld:
            # Left out of the payload: the row shows what HighLevel holds, and nothing was sent to compare.
            verdict, want = (Verdict.NOT_SENT if label in not_sent else Verdict.WITHHELD), None
        elif want is None and label in defaulted:
            continue  # not sent: HighLevel's own default is what it holds
        elif want is None and have in (None, "", []) and source_value is None:
            continue
        elif compare_values(label, want, have, data_type=data_type):
            verdict = Verdict.MATCH
        else:
            verdict = Verdict.MISSING if have in (None, "", []) else Verdict.MISMATCH
        rows.append(row(label, verdict, source_value, want, have))
    for key in extra_keys:
        want, have = expected.get(key), actual.get(key)
        verdict = Verdict.MATCH if compare_values(key, want, have) else Verdict.MISMATCH
        rows.append(row(key, verdict, None, want, have))
    return rows


def diff_payload(
    *,
    object_name: str,
    source_key: str,
    destination_id: str,
    expected: Mapping[str, Any],
    actual: Mapping[str, Any],
) -> list[FieldDiff]:
    """One row per key sent, for objects written without a field map (treatment-plan tasks): what was
    sent is the expectation; the source column stays empty (the payload is built from the whole record)."""
    rows: list[FieldDiff] = []
    for key, want in expected.items():
        have = actual.get(key)
        if compare_values(key, want, have):
            verdict = Verdict.MATCH
        else:
            verdict = Verdict.MISSING if have in (None, "", []) else Verdict.MISMATCH
        rows.append(
            FieldDiff(source_key, object_name, destination_id, key, verdict, None, _text(want), _text(have))
        )
    return rows
