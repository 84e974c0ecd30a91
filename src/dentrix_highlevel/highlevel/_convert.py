"""The cattrs converter between HighLevel's JSON and our attrs models.

Reading is tolerant (unknown keys are ignored; HighLevel adds fields without notice) but typed: a missing
or wrongly typed required field becomes :class:`ResponseFormatError` naming the field path, never a
``KeyError`` deep in a caller. Writing is strict: exactly HighLevel's camelCase names, unset fields left
out. A model attribute whose JSON name is not the camelCase of its Python name says so in
``metadata={"json": ...}`` (e.g. ``field_value``, HighLevel's one snake_case input key).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from dentrix_highlevel._errors import ResponseFormatError

__all__ = ["CONVERTER", "json_name", "read", "write"]

T = TypeVar("T")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def json_name(attribute: attrs.Attribute[Any]) -> str:
    explicit = attribute.metadata.get("json")
    return explicit if isinstance(explicit, str) else _camel(attribute.name)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter()

    def structure_str(value: object, _: type) -> str:
        # cattrs' default would turn None or a dict into "None" / "{...}"; ids arrive as str (rarely int).
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise TypeError(f"expected a string, got {type(value).__name__}")

    def structure_bool(value: object, _: type) -> bool:
        if isinstance(value, bool):
            return value
        raise TypeError(f"expected a boolean, got {type(value).__name__}")

    def structure_float(value: object, _: type) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value)  # HighLevel sometimes sends monetary values as numeric strings
        raise TypeError(f"expected a number, got {type(value).__name__}")

    def structure_int(value: object, _: type) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise TypeError(f"expected an integer, got {type(value).__name__}")

    converter.register_structure_hook(str, structure_str)
    converter.register_structure_hook(bool, structure_bool)
    converter.register_structure_hook(float, structure_float)
    converter.register_structure_hook(int, structure_int)

    def structure_factory(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {a.name: override(rename=json_name(a)) for a in attrs.fields(cls)}
        return make_dict_structure_fn(cls, converter, **renames)

    def unstructure_factory(cls: type[Any]) -> Any:
        renames: dict[str, Any] = {a.name: override(rename=json_name(a)) for a in attrs.fields(cls)}
        generated = make_dict_unstructure_fn(cls, converter, **renames)

        def unstructure(obj: Any) -> dict[str, Any]:
            # None means "not set": left out. False/0/"" are real values and are sent.
            return {k: v for k, v in generated(obj).items() if v is not None}

        return unstructure

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


CONVERTER = _make_converter()


def _describe(exc: BaseException, expected: object) -> str:
    # Paths and expected types only: the offending value may be a patient's data.
    if isinstance(exc, KeyError):
        return "required field missing"
    name = getattr(expected, "__name__", None) or repr(expected)
    return f"invalid value ({type(exc).__name__}), expected {name}"


def read(
    body: object,
    cls: type[T],
    *,
    key: str | None = None,
    method: str | None = None,
    path: str | None = None,
) -> T:
    """Structure ``body[key]`` (or ``body``) as ``cls``; any shape problem is a ResponseFormatError."""
    where = f"$.{key}" if key else "$"
    value: object = body
    if key is not None:
        if not isinstance(body, dict) or key not in body:
            raise ResponseFormatError(f"response has no {where}", method=method, path=path)
        value = body[key]
    try:
        return CONVERTER.structure(value, cls)
    except Exception as exc:  # cattrs raises ClassValidationError/KeyError/TypeError/ValueError
        problems = (
            cattrs.transform_error(exc, path=where, format_exception=_describe)
            if isinstance(exc, cattrs.BaseValidationError)
            else []
        )
        detail = "; ".join(problems[:5]) or f"{type(exc).__name__} at {where}"
        raise ResponseFormatError(f"unreadable {cls.__name__}: {detail}", method=method, path=path) from None


def write(model: object) -> dict[str, Any]:
    """Unstructure a request model to HighLevel's JSON body (unset fields omitted)."""
    result = CONVERTER.unstructure(model)
    assert isinstance(result, dict)
    return result
