"""Field rules and the field map: where each value comes from, how it is transformed, where it goes.

A :class:`FieldMap` validates itself when it is built (before any I/O): duplicate targets, a target of
another object, a source path the schema does not have, a transform chain whose types do not meet, a
constant or code table whose values are not among a picklist's options. Applying it to one record never
raises for bad data: every field problem of that record is gathered into the result.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping._context import FieldContext, PracticeSettings
from dentrix_highlevel.mapping._dsl import (
    Constant,
    PathSource,
    Source,
    Transform,
    compatible,
    type_names,
)
from dentrix_highlevel.mapping._paths import PathError, SourcePath, check_path
from dentrix_highlevel.mapping._results import MappingResult
from dentrix_highlevel.mapping._targets import (
    CustomFieldTarget,
    HighLevelObject,
    StandardField,
    Target,
    ValueRejected,
)

__all__ = ["FieldMap", "FieldRule"]


def _source(value: Source | str) -> Source:
    if isinstance(value, Source):
        return value
    if isinstance(value, str):
        return PathSource(value)
    raise MappingError(f"a rule's source must be a path or a Source, not {type(value).__name__}")


def _transform(
    value: Transform[Any, Any] | Sequence[Transform[Any, Any]] | None,
) -> Transform[Any, Any] | None:
    if value is None or isinstance(value, Transform):
        return value
    steps = list(value)
    if not steps:
        return None
    if not all(isinstance(s, Transform) for s in steps):
        raise MappingError("a rule's transforms must be Transform objects")
    chain = steps[0]
    for step in steps[1:]:
        chain = chain | step
    return chain


def _target(value: Target) -> Target:
    if not isinstance(value, StandardField | CustomFieldTarget):
        raise MappingError(
            f"a rule's target must be a StandardField or CustomFieldTarget, not {type(value).__name__}"
        )
    return value


@attrs.frozen(kw_only=True)
class FieldRule:
    """One target field: its ``source``, the ``transform`` chain (optional) and the HighLevel ``target``.

    ``required`` turns a blank result into a field issue; ``note`` says why the rule is as it is (it shows
    in the plan a person reviews).
    """

    target: Target = attrs.field(converter=_target)
    source: Source = attrs.field(converter=_source)
    transform: Transform[Any, Any] | None = attrs.field(default=None, converter=_transform)
    required: bool = False
    note: str = ""

    def describe(self) -> str:
        """``firstName <- patient.first_name | Trim() | NameCase()``: how the plan shows this rule."""
        chain = f" | {self.transform!r}" if self.transform is not None else ""
        return f"{self.target.label} <- {self.source.describe()}{chain}"

    def check(self, schema: Any) -> None:
        """Build-time checks of this rule on its own (the map checks what involves several rules)."""
        produced = self.source.produces(schema)
        where = f"rule for {self.target.label}"
        if self.transform is not None:
            if not compatible(produced, self.transform.accepts()):
                raise MappingError(
                    f"{where}: {self.transform!r} takes {type_names(self.transform.accepts())} but "
                    f"{self.source.describe()} gives {produced.__name__}"
                )
            produced = self.transform.produces()
        if not compatible(produced, self.target.accepts()):
            raise MappingError(
                f"{where}: the target takes {type_names(self.target.accepts())} "
                f"but the rule gives {produced.__name__}"
            )
        if isinstance(self.source, Constant) and self.transform is None:
            try:
                self.target.encode(self.source.value)
            except ValueRejected as exc:
                raise MappingError(f"{where}: the constant does not fit: {exc.reason}") from None
        options = self.target.options
        outputs = self.transform.possible_outputs() if self.transform is not None else None
        if options and outputs is not None:
            strays = sorted(str(o) for o in outputs if o not in options)
            if strays:
                raise MappingError(
                    f"{where}: {len(strays)} code table value(s) are not picklist options: "
                    + ", ".join(strays)
                )

    def value(self, record: Any, ctx: FieldContext) -> Any:
        """The encoded value for one record, or None (blank or failed; failures are on ``ctx``)."""
        try:
            raw = self.source.read(record)
        except PathError as exc:
            ctx.report(exc.code, exc.reason)
            return None
        issues_before = len(ctx.issues)
        try:
            value = self.transform(raw, ctx) if self.transform is not None else raw
        except Exception as exc:
            # One odd value must not stop a run of thousands; the class name says what, never the value.
            ctx.report("transform_failed", f"{type(exc).__name__} in {self.transform!r}")
            return None
        if value is None or (isinstance(value, str) and not value.strip()) or value == ():
            if self.required and len(ctx.issues) == issues_before:
                ctx.report("missing", f"{self.target.label} is required and the source is blank")
            return None
        try:
            return self.target.encode(value)
        except ValueRejected as exc:
            ctx.report(exc.code, exc.reason)
        except (TypeError, ValueError, ArithmeticError) as exc:
            ctx.report("bad_value", f"{self.target.label} could not take the value ({type(exc).__name__})")
        return None


def _rules(value: Sequence[FieldRule]) -> tuple[FieldRule, ...]:
    rules = tuple(value)
    if not all(isinstance(r, FieldRule) for r in rules):
        raise MappingError("a field map holds FieldRule objects only")
    return rules


@attrs.frozen(kw_only=True)
class FieldMap:
    """The rules that build one HighLevel object from one source record.

    ``schema`` (an attrs record class, or a collection of column names) lets the map check every source path
    when it is built; ``key_path`` names the record's source id, used in every issue line.
    """

    rules: tuple[FieldRule, ...] = attrs.field(converter=_rules)
    object: HighLevelObject = attrs.field(default=HighLevelObject.CONTACT, converter=HighLevelObject)
    key_path: str | None = None
    name: str = ""
    schema: Any = attrs.field(default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        seen: dict[tuple[str, ...], int] = {}
        names: dict[str, str] = {}
        for position, rule in enumerate(self.rules):
            target = rule.target
            target_object = target.object if isinstance(target, StandardField) else target.model
            if target_object is not self.object:
                raise MappingError(
                    f"rule {position} writes {target_object.value} field {target.label} into a "
                    f"{self.object.value} map"
                )
            identity = target.identity()
            if identity in seen and not target.additive:
                raise MappingError(f"duplicate target {target.label} (rules {seen[identity]} and {position})")
            seen.setdefault(identity, position)
            if isinstance(target, CustomFieldTarget):
                other = names.setdefault(target.name.casefold(), target.field_key)
                if other != target.field_key:
                    raise MappingError(
                        f"two custom fields are named {target.name!r} ({other}, {target.field_key})"
                    )
            rule.check(self.schema)
        if self.key_path is not None:
            key = SourcePath(self.key_path)
            if self.schema is not None:
                check_path(self.schema, key.segments, path=self.key_path)

    def custom_fields(self) -> tuple[CustomFieldTarget, ...]:
        """The custom fields this map writes (what must exist in the location before a run)."""
        return tuple(r.target for r in self.rules if isinstance(r.target, CustomFieldTarget))

    def describe(self) -> list[str]:
        """One readable line per rule, in order."""
        return [rule.describe() for rule in self.rules]

    def record_key(self, record: Any) -> str:
        if self.key_path is None:
            return "?"
        try:
            value = SourcePath(self.key_path).read(record)
        except PathError:
            return "?"
        return "?" if value is None else str(value)

    def apply(
        self,
        record: builtins.object,  # a PatientBundle, an attrs record or a mapping: what SourcePath reads
        *,
        practice: PracticeSettings | None = None,
        field_ids: Mapping[str, str] | None = None,
        record_key: str | None = None,
    ) -> MappingResult:
        """Map one record. ``field_ids`` (fieldKey → custom field id) makes custom fields go by ``id``,
        otherwise by ``key``. Never raises for bad data: field problems are in ``result.issues``."""
        practice = practice or PracticeSettings()
        key = record_key if record_key is not None else self.record_key(record)
        payload: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        issues = []
        overflow = []
        for rule in self.rules:
            ctx = FieldContext(
                practice=practice, record_key=key, field=rule.target.label, source_path=rule.source.describe()
            )
            value = rule.value(record, ctx)
            issues.extend(ctx.issues)
            overflow.extend(ctx.overflow)
            if value is None:
                continue
            target = rule.target
            if isinstance(target, CustomFieldTarget):
                field_id = (field_ids or {}).get(target.field_key)
                ref = {"id": field_id} if field_id else {"key": target.field_key}
                custom.append({**ref, "field_value": value})
            elif target.additive:
                merged = payload.setdefault(target.name, [])
                merged.extend(v for v in value if v not in merged)
            else:
                payload[target.name] = value
        if custom:
            payload["customFields"] = custom
        return MappingResult(key, self.object.value, payload, tuple(issues), tuple(overflow))
