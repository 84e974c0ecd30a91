"""Maps to and from a readable file a person can edit: JSON (written and read) and TOML (read).

Transforms are written by name, with only the parameters that differ from their defaults::

    {"target": "phone", "source": {"coalesce": ["patient.mobile_phone", "patient.home_phone"]},
     "transforms": ["trim", {"phone": {"region": "US"}}]}

Loading goes through the same constructors as building in Python, so an edited file is validated exactly
like a map built in code (unknown transform, bad dataType, duplicate target … → ``MappingError``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping import _phones, _transforms  # noqa: F401  (registers the transforms)
from dentrix_highlevel.mapping._dsl import (
    Chain,
    Coalesce,
    Collect,
    Computed,
    Constant,
    PathSource,
    Source,
    Transform,
    registered_transforms,
)
from dentrix_highlevel.mapping._map import FieldMap, FieldRule
from dentrix_highlevel.mapping._targets import CustomFieldTarget, StandardField, Target

__all__ = ["dumps_map", "load_map", "loads_map", "map_from_dict", "map_to_dict", "save_map"]

FORMAT: Final = "dentrix-highlevel-map"
FORMAT_VERSION: Final = 1

ComputedRegistry = Mapping[str, Computed | Callable[[Any], Any]]


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _transform_to_data(transform: Transform[Any, Any]) -> Any:
    params = _plain(transform.params())
    return {transform.name: params} if params else transform.name


def _source_to_data(source: Source) -> Any:
    if isinstance(source, PathSource):
        return str(source.path)
    if isinstance(source, Coalesce):
        return {"coalesce": [str(p) for p in source.paths]}
    if isinstance(source, Collect):
        return {"collect": [str(p) for p in source.paths]}
    if isinstance(source, Computed):
        return {"computed": source.name}
    if isinstance(source, Constant):
        value = source.value
        if isinstance(value, decimal.Decimal):
            return {"constant": {"decimal": str(value)}}
        if isinstance(value, dt.date):
            return {"constant": {"date": value.isoformat()}}
        return {"constant": _plain(value)}
    raise MappingError(f"{type(source).__name__} sources cannot be written to a map file")


def _target_to_data(target: Target) -> Any:
    if isinstance(target, StandardField):
        return target.name
    data: dict[str, Any] = {
        "name": target.name,
        "field_key": target.field_key,
        "vocabulary_name": target.vocabulary_name,
        "data_type": target.data_type.value,
        "category": target.category.value,
    }
    if target.options:
        data["options"] = list(target.options)
    return {"custom": data}


def map_to_dict(field_map: FieldMap) -> dict[str, Any]:
    """The map as plain data (what the JSON file holds)."""
    rules = []
    for rule in field_map.rules:
        data: dict[str, Any] = {
            "target": _target_to_data(rule.target),
            "source": _source_to_data(rule.source),
        }
        if rule.transform is not None:
            steps = rule.transform.steps if isinstance(rule.transform, Chain) else (rule.transform,)
            for step in steps:
                if not step.name:
                    raise MappingError(f"{step!r} has no registered name and cannot be written to a map file")
            data["transforms"] = [_transform_to_data(step) for step in steps]
        if rule.required:
            data["required"] = True
        if rule.note:
            data["note"] = rule.note
        rules.append(data)
    out: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "object": field_map.object.value,
    }
    if field_map.name:
        out["name"] = field_map.name
    if field_map.key_path is not None:
        out["key_path"] = field_map.key_path
    out["rules"] = rules
    return out


def dumps_map(field_map: FieldMap) -> str:
    return json.dumps(map_to_dict(field_map), indent=2, ensure_ascii=False) + "\n"


def save_map(field_map: FieldMap, path: str | Path) -> Path:
    """Write the map as JSON (TOML is read-only: the standard library has no TOML writer)."""
    target = Path(path)
    if target.suffix.lower() != ".json":
        raise MappingError(f"maps are written as .json files, not {target.suffix or 'no suffix'}")
    target.write_text(dumps_map(field_map), encoding="utf-8")
    return target


# --- reading --------------------------------------------------------------------------------------------


def _only_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise MappingError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _transform_from_data(data: Any, where: str) -> Transform[Any, Any]:
    params: Mapping[str, Any]
    if isinstance(data, str):
        name, params = data, {}
    elif isinstance(data, Mapping) and len(data) == 1:
        ((name, params),) = data.items()
        if not isinstance(params, Mapping):
            raise MappingError(f"{where}: the parameters of {name!r} must be a table/object")
    else:
        raise MappingError(f"{where}: a transform is a name or {{name: {{parameters}}}}")
    cls = registered_transforms().get(name)
    if cls is None:
        known = ", ".join(sorted(registered_transforms()))
        raise MappingError(f"{where}: unknown transform {name!r}; known: {known}")
    try:
        return cls(**params)
    except MappingError as exc:
        raise MappingError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise MappingError(f"{where}: bad parameters for {name!r} ({exc})") from None


def _source_from_data(data: Any, where: str, computed: ComputedRegistry) -> Source:
    if isinstance(data, str):
        return PathSource(data)
    if not isinstance(data, Mapping) or len(data) != 1:
        raise MappingError(f"{where}: a source is a path or one of coalesce/collect/constant/computed")
    ((kind, value),) = data.items()
    if kind == "coalesce":
        return Coalesce(value)
    if kind == "collect":
        return Collect(value)
    if kind == "computed":
        found = computed.get(value)
        if found is None:
            raise MappingError(
                f"{where}: computed source {value!r} is not registered (pass computed={{...}})"
            )
        return found if isinstance(found, Computed) else Computed(value, found)
    if kind == "constant":
        if isinstance(value, Mapping):
            _only_keys(value, {"decimal", "date"}, where)
            ((tag, text),) = value.items()
            try:
                return Constant(decimal.Decimal(text) if tag == "decimal" else dt.date.fromisoformat(text))
            except (ValueError, ArithmeticError):
                raise MappingError(f"{where}: bad {tag} constant") from None
        return Constant(value)
    raise MappingError(f"{where}: unknown source kind {kind!r}")


def _target_from_data(data: Any, where: str, field_map_object: str) -> Target:
    if isinstance(data, str):
        return StandardField(data, field_map_object)
    if isinstance(data, Mapping) and set(data) == {"custom"} and isinstance(data["custom"], Mapping):
        fields = dict(data["custom"])
        _only_keys(
            fields, {"name", "field_key", "vocabulary_name", "data_type", "category", "options"}, where
        )
        if "name" not in fields or "data_type" not in fields:
            raise MappingError(f"{where}: a custom field needs name and data_type")
        return CustomFieldTarget(model=field_map_object, **fields)
    raise MappingError(f"{where}: a target is a standard field name or {{custom: {{...}}}}")


def map_from_dict(
    data: Mapping[str, Any], *, schema: Any = None, computed: ComputedRegistry | None = None
) -> FieldMap:
    """Build a map from plain data, validating it exactly as building it in code does."""
    if not isinstance(data, Mapping):
        raise MappingError("a map file holds one object/table")
    _only_keys(data, {"format", "format_version", "object", "name", "key_path", "rules"}, "map")
    if data.get("format", FORMAT) != FORMAT:
        raise MappingError(f"not a map file (format {data.get('format')!r})")
    if data.get("format_version", FORMAT_VERSION) != FORMAT_VERSION:
        raise MappingError(f"unsupported map format_version {data.get('format_version')!r}")
    obj = str(data.get("object", "contact"))
    rules = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise MappingError("map: rules must be a list")
    for index, raw in enumerate(raw_rules):
        where = f"rule {index}"
        if not isinstance(raw, Mapping):
            raise MappingError(f"{where}: a rule is an object/table")
        _only_keys(raw, {"target", "source", "transforms", "required", "note"}, where)
        if "target" not in raw or "source" not in raw:
            raise MappingError(f"{where}: a rule needs target and source")
        try:
            transforms = [
                _transform_from_data(t, f"transform {i}") for i, t in enumerate(raw.get("transforms", []))
            ]
            rules.append(
                FieldRule(
                    target=_target_from_data(raw["target"], "target", obj),
                    source=_source_from_data(raw["source"], "source", computed or {}),
                    transform=transforms or None,
                    required=bool(raw.get("required", False)),
                    note=str(raw.get("note", "")),
                )
            )
        except MappingError as exc:
            raise MappingError(f"{where}: {exc}") from None
    return FieldMap(
        rules=rules, object=obj, key_path=data.get("key_path"), name=str(data.get("name", "")), schema=schema
    )


def loads_map(
    text: str, *, format: str = "json", schema: Any = None, computed: ComputedRegistry | None = None
) -> FieldMap:
    """A map from JSON or TOML text."""
    try:
        data = tomllib.loads(text) if format == "toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"the map file is not valid {format.upper()}: {exc}") from None
    return map_from_dict(data, schema=schema, computed=computed)


def load_map(path: str | Path, *, schema: Any = None, computed: ComputedRegistry | None = None) -> FieldMap:
    """Read a ``.json`` or ``.toml`` map file and validate it."""
    source = Path(path)
    suffix = source.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise MappingError(f"map files are .json or .toml, not {suffix or 'no suffix'}")
    return loads_map(source.read_text(encoding="utf-8"), format=suffix[1:], schema=schema, computed=computed)
