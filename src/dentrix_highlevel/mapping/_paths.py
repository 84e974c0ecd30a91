"""Source paths such as ``patient.home_phone``, ``insurance[1].member_id`` or ``procedures.*.adacode``.

A path is resolved generically over attrs instances (attributes), mappings (keys) and sequences (``[n]``
indexes, ``*`` for every item), so maps do not depend on one record module's exact classes. Keys with dots
or spaces are written quoted: ``row["Pref. Hygienist"]``.

When a map is built with a schema (an attrs class, or a collection of column names), every path is checked
against it before any data is read, so an unknown column fails the build and not the run.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import functools
import re
import types
import typing
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final, Literal, Union

import attrs

from dentrix_highlevel._errors import MappingError

__all__ = ["WILDCARD", "PathError", "SourcePath", "check_path", "parse_path", "parsed_path", "resolve"]


class _Wildcard:
    __slots__ = ()

    def __repr__(self) -> str:
        return "*"


WILDCARD: Final = _Wildcard()

Segment = str | int | _Wildcard

_TOKEN = re.compile(
    r"""\s*(?:
        \[\s*(?P<index>-?\d+)\s*\]
      | \[\s*\*\s*\]
      | \[\s*"(?P<dq>[^"]*)"\s*\]
      | \[\s*'(?P<sq>[^']*)'\s*\]
      | (?P<star>\*)
      | (?P<name>[^.\[\]"']+)
    )\s*""",
    re.VERBOSE,
)


class PathError(Exception):
    """A path did not fit the record at run time (reported as a field issue, never raised to users)."""

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def parse_path(text: str) -> tuple[Segment, ...]:
    """Split a path into segments; a malformed path is a :class:`MappingError`."""
    if not isinstance(text, str) or not text.strip():
        raise MappingError("a source path must be a non-empty string")
    segments: list[Segment] = []
    pos = 0
    expect_segment = True
    while pos < len(text):
        if not expect_segment:
            if text[pos] == ".":
                pos += 1
                expect_segment = True
                continue
            if text[pos] != "[":
                raise MappingError(f"malformed source path {text!r} at character {pos}")
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise MappingError(f"malformed source path {text!r} at character {pos}")
        if match.group("index") is not None:
            segments.append(int(match.group("index")))
        elif match.group("dq") is not None:
            segments.append(match.group("dq"))
        elif match.group("sq") is not None:
            segments.append(match.group("sq"))
        elif match.group("name") is not None:
            segments.append(match.group("name").strip())
        else:
            segments.append(WILDCARD)
        pos = match.end()
        expect_segment = False
    if expect_segment:
        raise MappingError(f"malformed source path {text!r}: it ends with a dot")
    return tuple(segments)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Segment, ...]:
    return parse_path(text)


def parsed_path(text: str) -> tuple[Segment, ...]:
    """:func:`parse_path`, remembered: a map reads the same few paths for every record it maps."""
    # Only a str can be remembered (and a non-str is parse_path's error to raise).
    return _parsed(text) if isinstance(text, str) else parse_path(text)


def _step(value: Any, segment: Segment) -> Any:
    if isinstance(segment, int):
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            try:
                return value[segment]
            except IndexError:
                return None  # no secondary insurance is a blank, not an error
        raise PathError("bad_path", f"[{segment}] used on a {type(value).__name__}, which is not a sequence")
    assert isinstance(segment, str)
    if isinstance(value, Mapping):
        # Rows as mappings omit blank columns; a missing key reads as blank (the schema catches typos).
        return value.get(segment)
    # What "an attrs field, or any attribute it has" comes to, asked once: a missing one is an AttributeError.
    try:
        return getattr(value, segment)
    except AttributeError:
        pass
    raise PathError("bad_path", f"a {type(value).__name__} has no field {segment!r}")


def resolve(value: Any, segments: Sequence[Segment]) -> Any:
    """Follow ``segments`` from ``value``. ``None`` on the way gives ``None``; ``*`` gives a tuple."""
    for position, segment in enumerate(segments):
        if value is None:
            return None
        if isinstance(segment, _Wildcard):
            if not isinstance(value, Sequence | Collection) or isinstance(value, str | bytes | Mapping):
                raise PathError("bad_path", f"* used on a {type(value).__name__}, which is not a sequence")
            rest = segments[position + 1 :]
            out: list[Any] = []
            for item in value:
                got = resolve(item, rest)
                if got is None:
                    continue
                if isinstance(got, tuple) and any(isinstance(s, _Wildcard) for s in rest):
                    out.extend(got)
                else:
                    out.append(got)
            return tuple(out)
        value = _step(value, segment)
    return value


def render(segments: Sequence[Segment]) -> str:
    parts: list[str] = []
    for segment in segments:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif isinstance(segment, _Wildcard):
            parts.append("*" if not parts else ".*")
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ ]*", segment) and segment == segment.strip():
            parts.append(segment if not parts else f".{segment}")
        else:
            parts.append(f'["{segment}"]')
    return "".join(parts)


@attrs.frozen
class SourcePath:
    """A parsed source path; ``str()`` gives it back in its canonical spelling."""

    text: str
    segments: tuple[Segment, ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "segments", parsed_path(self.text))

    def read(self, record: Any) -> Any:
        return resolve(record, self.segments)

    def __str__(self) -> str:
        return self.text


# --- schema checking -----------------------------------------------------------------------------------

_SCALARS: Final = (str, int, float, bool, decimal.Decimal, dt.date, dt.datetime, dt.time, bytes)


def _strip_optional(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
        return Any
    if origin is typing.Annotated:
        return _strip_optional(typing.get_args(hint)[0])
    if origin is Literal:
        literals = typing.get_args(hint)
        return type(literals[0]) if literals else Any
    return hint


def _element_hint(hint: Any) -> Any | None:
    """The item type of a sequence hint, or None when ``hint`` is not a sequence."""
    origin = typing.get_origin(hint)
    if origin in (list, tuple, Sequence, Collection, frozenset, set, typing.Sequence):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return args[0] if args else Any
    if hint in (list, tuple):
        return Any
    return None


def _mapping_value_hint(hint: Any) -> Any | None:
    origin = typing.get_origin(hint)
    if origin in (dict, Mapping, typing.Mapping):
        args = typing.get_args(hint)
        return args[1] if len(args) == 2 else Any
    if hint is dict:
        return Any
    return None


def _runtime_type(hint: Any) -> type:
    hint = _strip_optional(hint)
    if hint is Any:
        return object
    if _element_hint(hint) is not None:
        return tuple
    if _mapping_value_hint(hint) is not None:
        return dict
    if isinstance(hint, type):
        return hint
    return object


@functools.cache
def _field_hints(cls: type) -> Mapping[str, Any]:
    # Cached per class: resolving string annotations compiles every one of them (read-only for callers).
    if attrs.has(cls) and not any(isinstance(f.type, str) for f in attrs.fields(cls)):
        # Already resolved (a public type's hints are, before its ``__module__`` moves to its namespace).
        return {f.name: f.type for f in attrs.fields(cls)}
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolved forward references: fall back to what attrs knows, unchecked
        return {f.name: (f.type if isinstance(f.type, type) else Any) for f in attrs.fields(cls)}


def check_path(schema: Any, segments: Sequence[Segment], *, path: str) -> type:
    """Check ``segments`` against ``schema`` and return the runtime type they lead to (``object`` = unknown).

    ``schema`` is an attrs class, a type hint, a mapping of names to schemas, or a collection of column names
    (each leading to ``str``). Raises :class:`MappingError` naming the path and the unknown segment.
    """
    hint: Any = schema
    wildcard = False
    for position, segment in enumerate(segments):
        where = render(segments[:position]) or "the record"
        hint = _strip_optional(hint)
        if hint is Any or hint is object:
            return tuple if wildcard else object
        if isinstance(hint, Mapping):
            if not isinstance(segment, str) or segment not in hint:
                raise MappingError(f"unknown source column {path!r}: {where} has no {render([segment])!r}")
            hint = hint[segment]
            continue
        if isinstance(hint, Collection) and not isinstance(hint, str | type):
            if not isinstance(segment, str) or segment not in hint:
                raise MappingError(f"unknown source column {path!r}: {where} has no column {segment!r}")
            hint = str
            continue
        element = _element_hint(hint)
        if isinstance(segment, int | _Wildcard):
            if element is None:
                raise MappingError(f"source path {path!r}: {where} is not a sequence")
            wildcard = wildcard or isinstance(segment, _Wildcard)
            hint = element
            continue
        if element is not None:
            raise MappingError(
                f"source path {path!r}: {where} is a sequence; pick an item with [n] or all with *"
            )
        value_hint = _mapping_value_hint(hint)
        if value_hint is not None:
            hint = value_hint
            continue
        if isinstance(hint, type) and attrs.has(hint):
            hints = _field_hints(hint)
            if segment not in hints:
                raise MappingError(
                    f"unknown source column {path!r}: {hint.__name__} has no field {segment!r}"
                )
            hint = hints[segment]
            continue
        if isinstance(hint, type) and (issubclass(hint, _SCALARS) or issubclass(hint, enum.Enum)):
            if hasattr(hint, segment):
                hint = Any
                continue
            raise MappingError(f"source path {path!r}: {where} is a {hint.__name__} with no {segment!r}")
        if isinstance(hint, type) and hasattr(hint, segment):
            hint = Any
            continue
        raise MappingError(f"unknown source column {path!r}: {where} has no field {segment!r}")
    return tuple if wildcard else _runtime_type(hint)
