"""The mapping DSL's building blocks: transforms (composable with ``|``) and value sources.

A transform is a small frozen attrs object: it declares the Python types it takes and the type it
produces, so ``Money() | Trim()`` fails when the map is built, not at record 40,000. At run time it gets a
:class:`FieldContext` to report field issues (never values) and spill overflow text to a Note.

Every transform class has a ``name`` under which maps serialise it (``{"phone": {"region": "US"}}``), and
its attrs fields are its parameters.
"""

from __future__ import annotations

import abc
import datetime as dt
import decimal
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from dentrix_highlevel._errors import MappingError
from dentrix_highlevel.mapping._context import FieldContext, PracticeSettings
from dentrix_highlevel.mapping._paths import PathError, SourcePath, check_path
from dentrix_highlevel.mapping._results import TransformOutcome

__all__ = [
    "Chain",
    "Coalesce",
    "Collect",
    "Computed",
    "Constant",
    "PathSource",
    "Source",
    "Transform",
    "compatible",
    "registered_transforms",
    "type_names",
]

In = TypeVar("In")
Out = TypeVar("Out")
R = TypeVar("R")

_REGISTRY: dict[str, type[Transform[Any, Any]]] = {}


def registered_transforms() -> Mapping[str, type[Transform[Any, Any]]]:
    """Transform classes by their serialised name."""
    return dict(_REGISTRY)


def type_names(types: tuple[type, ...] | type) -> str:
    items = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in items)


def compatible(produced: type, accepted: tuple[type, ...]) -> bool:
    """Can a value of type ``produced`` go where ``accepted`` is expected? ``object`` means unknown: yes."""
    if produced is object or object in accepted:
        return True
    return any(issubclass(produced, a) for a in accepted)


def _is_instance(value: object, accepted: tuple[type, ...]) -> bool:
    if object in accepted:
        return True
    if isinstance(value, bool) and bool not in accepted and not any(a is object for a in accepted):
        # True is an int to Python, not to a practice's money column.
        return False
    return isinstance(value, accepted)


def _param_repr(value: Any) -> str:
    return repr(value.value) if isinstance(value, enum.Enum) else repr(value)


class Transform(abc.ABC, Generic[In, Out]):
    """Base of every transform. Subclasses are ``@attrs.frozen`` and set ``name``, ``input_types``,
    ``output_type`` as plain class attributes and implement :meth:`apply`."""

    __slots__ = ()

    name: ClassVar[str] = ""
    input_types: ClassVar[tuple[type, ...]] = (object,)
    output_type: ClassVar[type] = object
    #: When true, a blank (None) input yields None without calling :meth:`apply`.
    passes_none: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            taken = _REGISTRY.get(cls.name)
            if taken is not None and (taken.__module__, taken.__qualname__) != (
                cls.__module__,
                cls.__qualname__,
            ):
                raise MappingError(f"transform name {cls.name!r} is already used by {taken.__qualname__}")
            # attrs rebuilds slotted classes, so the final (slotted) class registers last and wins.
            _REGISTRY[cls.name] = cls

    @abc.abstractmethod
    def apply(self, value: In, ctx: FieldContext) -> Out | None:
        """Transform one non-blank value of an accepted type; report problems on ``ctx``."""

    def accepts(self) -> tuple[type, ...]:
        return self.input_types

    def produces(self) -> type:
        return self.output_type

    def possible_outputs(self) -> frozenset[object] | None:
        """Every value this transform can produce, when that is a known finite set (code tables)."""
        return None

    def __call__(self, value: In | None, ctx: FieldContext) -> Out | None:
        if value is None:
            if self.passes_none:
                return None
        elif not _is_instance(value, self.accepts()):
            ctx.report(
                "wrong_type",
                f"{self!r} takes {type_names(self.accepts())}, the source gave {type(value).__name__}",
            )
            return None
        return self.apply(value, ctx)  # type: ignore[arg-type]

    def __or__(self, other: Transform[Out, R]) -> Transform[In, R]:
        if not isinstance(other, Transform):
            return NotImplemented
        produced = self.produces()
        if not compatible(produced, other.accepts()):
            raise MappingError(
                f"{other!r} takes {type_names(other.accepts())} but {self!r} gives {produced.__name__}"
            )
        left = self.steps if isinstance(self, Chain) else (self,)
        right = other.steps if isinstance(other, Chain) else (other,)
        return Chain(left + right)

    def run(self, value: In | None, *, practice: PracticeSettings | None = None) -> TransformOutcome[Out]:
        """Apply this transform to one value outside a map and return the value with what it reported."""
        ctx = FieldContext(
            practice=practice or PracticeSettings(), record_key="-", field="-", source_path="-"
        )
        out = self(value, ctx)
        return TransformOutcome(out, tuple(ctx.issues), tuple(ctx.overflow))

    def __repr__(self) -> str:
        # Only the parameters that differ from the defaults: ``Phone()``, ``Join(limit_chars=2000)``.
        shown = ", ".join(f"{k}={_param_repr(v)}" for k, v in self.params().items())
        return f"{type(self).__name__}({shown})"

    def params(self) -> dict[str, Any]:
        """The parameters that differ from their defaults (what a serialised map spells out)."""
        out: dict[str, Any] = {}
        for field in attrs.fields(type(self)):  # type: ignore[arg-type]
            if not field.init:
                continue
            value = getattr(self, field.name)
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if callable(field.converter) and default is not attrs.NOTHING:
                default = field.converter(default)
            if default is attrs.NOTHING or value != default:
                out[field.name] = value
        return out


@attrs.frozen
class Chain(Transform[Any, Any]):
    """Transforms applied left to right (what ``a | b`` builds); a blank stops the chain."""

    steps: tuple[Transform[Any, Any], ...]

    def __attrs_post_init__(self) -> None:
        if not self.steps:
            raise MappingError("a transform chain needs at least one transform")

    def accepts(self) -> tuple[type, ...]:
        return self.steps[0].accepts()

    def produces(self) -> type:
        return self.steps[-1].produces()

    def possible_outputs(self) -> frozenset[object] | None:
        return self.steps[-1].possible_outputs()

    def apply(self, value: Any, ctx: FieldContext) -> Any:
        # A blank does not stop the loop: each step decides (most pass None on; Default fills it).
        for step in self.steps:
            value = step(value, ctx)
        return value

    def __call__(self, value: Any, ctx: FieldContext) -> Any:
        return self.apply(value, ctx)

    def __repr__(self) -> str:
        return " | ".join(repr(step) for step in self.steps)


# --- sources ----------------------------------------------------------------------------------------------


def is_blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, tuple | list):
        return len(value) == 0
    return False


class Source(abc.ABC):
    """Where a field's value comes from."""

    __slots__ = ()

    @abc.abstractmethod
    def read(self, record: Any) -> Any:
        """The raw value from one record (raises ``PathError`` when the record does not fit the path)."""

    @abc.abstractmethod
    def describe(self) -> str:
        """How the source is named in issues and the plan (identifiers only)."""

    @abc.abstractmethod
    def produces(self, schema: Any) -> type:
        """The value type, checked against ``schema`` when there is one (``object`` = unknown)."""


def _one_path(value: str | SourcePath) -> SourcePath:
    return value if isinstance(value, SourcePath) else SourcePath(value)


@attrs.frozen
class PathSource(Source):
    """The value at one path, e.g. ``patient.home_phone``."""

    path: SourcePath = attrs.field(converter=_one_path)

    def read(self, record: Any) -> Any:
        return self.path.read(record)

    def describe(self) -> str:
        return str(self.path)

    def produces(self, schema: Any) -> type:
        if schema is None:
            return object
        return check_path(schema, self.path.segments, path=str(self.path))

    def __repr__(self) -> str:
        return f"PathSource({str(self.path)!r})"


def _paths(values: Sequence[str | SourcePath]) -> tuple[SourcePath, ...]:
    if isinstance(values, str):
        raise MappingError("give several paths as a list, not one string")
    out = tuple(v if isinstance(v, SourcePath) else SourcePath(v) for v in values)
    if not out:
        raise MappingError("at least one source path is needed")
    return out


@attrs.frozen
class Coalesce(Source):
    """The first non-blank of several paths, e.g. mobile, then home, then work phone."""

    paths: tuple[SourcePath, ...] = attrs.field(converter=_paths)

    def read(self, record: Any) -> Any:
        for path in self.paths:
            value = path.read(record)
            if not is_blank(value):
                return value
        return None

    def describe(self) -> str:
        return "coalesce(" + ", ".join(str(p) for p in self.paths) + ")"

    def produces(self, schema: Any) -> type:
        if schema is None:
            return object
        types = {check_path(schema, p.segments, path=str(p)) for p in self.paths}
        return types.pop() if len(types) == 1 else object

    def __repr__(self) -> str:
        return "Coalesce(" + ", ".join(repr(str(p)) for p in self.paths) + ")"


@attrs.frozen
class Collect(Source):
    """The values of several paths as one tuple (blanks left out), e.g. four aging buckets to sum."""

    paths: tuple[SourcePath, ...] = attrs.field(converter=_paths)

    def read(self, record: Any) -> Any:
        values = tuple(v for v in (p.read(record) for p in self.paths) if not is_blank(v))
        return values or None

    def describe(self) -> str:
        return "collect(" + ", ".join(str(p) for p in self.paths) + ")"

    def produces(self, schema: Any) -> type:
        if schema is not None:
            for p in self.paths:
                check_path(schema, p.segments, path=str(p))
        return tuple

    def __repr__(self) -> str:
        return "Collect(" + ", ".join(repr(str(p)) for p in self.paths) + ")"


ConstantValue = str | int | float | bool | decimal.Decimal | dt.date | tuple[str, ...]


def _constant(value: Any) -> ConstantValue:
    if isinstance(value, list):
        value = tuple(value)
    if isinstance(value, tuple):
        if not all(isinstance(v, str) for v in value):
            raise MappingError("a list constant must hold strings only")
        return value
    if isinstance(value, enum.Enum) or not isinstance(
        value, str | int | float | bool | decimal.Decimal | dt.date
    ):
        raise MappingError(
            "a constant must be text, a number, a boolean, a date or a list of text, "
            f"not {type(value).__name__}"
        )
    return value


@attrs.frozen
class Constant(Source):
    """The same value for every record (e.g. the ``Dental_Patient`` flag, a source tag)."""

    value: ConstantValue = attrs.field(converter=_constant)

    def read(self, record: Any) -> Any:
        return self.value

    def describe(self) -> str:
        return "constant"

    def produces(self, schema: Any) -> type:
        return type(self.value)


@attrs.frozen
class Computed(Source):
    """A value computed from the whole record by a named function (serialised by name only)."""

    name: str
    fn: Callable[[Any], Any] = attrs.field(eq=False, repr=False)
    output_type: type = attrs.field(default=object, eq=False, repr=False)

    def read(self, record: Any) -> Any:
        try:
            return self.fn(record)
        except PathError:
            raise
        except Exception as exc:  # the message could quote a value: keep only the class name
            raise PathError(
                "computed_failed", f"computed source {self.name!r} raised {type(exc).__name__}"
            ) from None

    def describe(self) -> str:
        return f"computed:{self.name}"

    def produces(self, schema: Any) -> type:
        return self.output_type
