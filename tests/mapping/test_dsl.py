"""Transforms compose with ``|`` (checked when built), read back as ``repr``, and sources read records."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs
import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    Chain,
    Coalesce,
    Collect,
    Computed,
    Constant,
    Default,
    Email,
    FieldContext,
    Join,
    Lookup,
    Money,
    NameCase,
    PathSource,
    Phone,
    Phones,
    Sum,
    Tags,
    ToDate,
    Transform,
    Trim,
    registered_transforms,
)
from dentrix_highlevel.mapping._paths import PathError


def test_composition_builds_a_flat_chain_and_reads_well() -> None:
    chain = Trim() | NameCase() | Default(value="Unknown")
    assert isinstance(chain, Chain)
    assert len(chain.steps) == 3
    assert repr(chain) == "Trim() | NameCase() | Default(value='Unknown')"
    assert repr(Phone(region="US")) == "Phone(region='US')"
    assert repr(Join(limit_chars=2000, overflow="note")) == "Join(limit_chars=2000, overflow='note')"
    assert (Trim() | NameCase()) == (Trim() | NameCase())
    assert hash(Lookup({1: "A"})) == hash(Lookup({"1": "A"}))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (Money(), Trim()),
        (ToDate(), Email()),
        (Trim(), Sum()),
        (Phones(), Trim()),
        (Tags(), Email()),
    ],
)
def test_incompatible_composition_fails_when_built(left: object, right: object) -> None:
    with pytest.raises(MappingError, match="takes"):
        left | right  # type: ignore[operator]


def test_chain_run_and_blank_handling() -> None:
    chain = Trim() | NameCase()
    assert chain.run("  MARY  ").value == "Mary"
    assert chain.run("   ").value is None
    assert (Trim() | Default(value="n/a")).run("  ").value == "n/a"


def test_chain_gathers_issues_of_every_step() -> None:
    ctx = FieldContext(record_key="42", field="phone", source_path="patient.home_phone")
    assert (Trim() | Phone())("  555-1234 ", ctx) is None
    assert [(i.record_key, i.field, i.source_path, i.code) for i in ctx.issues] == [
        ("42", "phone", "patient.home_phone", "incomplete_number")
    ]


def test_every_ready_transform_is_registered_by_name() -> None:
    names = set(registered_transforms())
    expected = [
        "trim",
        "name_case",
        "text",
        "email",
        "phone",
        "phones",
        "first_phone",
        "extension",
        "date",
        "datetime",
        "format_date",
        "money",
        "sum",
        "lookup",
        "join",
        "tags",
        "has_flag",
        "dnd_from_flags",
        "to_bool",
        "default",
        "first",
    ]
    assert set(expected) <= names


def test_a_transform_name_cannot_be_taken_twice() -> None:
    with pytest.raises(MappingError, match="'phone' is already used by Phone"):

        @attrs.frozen(repr=False)
        class MyPhone(Transform[str, str]):
            name = "phone"

            def apply(self, value: str, ctx: FieldContext) -> str | None:
                return value

    assert registered_transforms()["phone"] is Phone


@attrs.frozen
class Row:
    mobile: str | None
    home: str | None
    b30: Decimal | None = None
    b60: Decimal | None = None
    seen: dt.date | None = None


def test_sources() -> None:
    row = Row(None, "801-555-1234", Decimal("10"), None)
    assert PathSource("home").read(row) == "801-555-1234"
    assert Coalesce(["mobile", "home"]).read(row) == "801-555-1234"
    assert Coalesce(["mobile", "home"]).read(Row("  ", None)) is None
    assert Collect(["b30", "b60"]).read(row) == (Decimal("10"),)
    assert Collect(["b60"]).read(row) is None
    assert Constant("x").read(row) == "x"
    assert Constant(["a", "b"]).value == ("a", "b")
    assert Computed("twice", lambda r: r.home * 2).read(row) == "801-555-1234" * 2
    assert Coalesce(["mobile", "home"]).describe() == "coalesce(mobile, home)"


def test_source_types_come_from_the_schema() -> None:
    assert PathSource("seen").produces(Row) is dt.date
    assert Coalesce(["mobile", "home"]).produces(Row) is str
    assert Coalesce(["mobile", "seen"]).produces(Row) is object
    assert Collect(["b30", "b60"]).produces(Row) is tuple
    assert PathSource("seen").produces(None) is object
    with pytest.raises(MappingError):
        Collect(["b30", "b90"]).produces(Row)


def test_bad_sources_fail_when_built() -> None:
    with pytest.raises(MappingError):
        Coalesce("mobile")  # one string is not a list of paths
    with pytest.raises(MappingError):
        Coalesce([])
    with pytest.raises(MappingError, match="constant"):
        Constant({"a": 1})  # type: ignore[arg-type]
    with pytest.raises(MappingError):
        Constant(["a", 1])  # type: ignore[list-item]


def test_computed_failure_does_not_leak_the_message() -> None:
    def boom(record: Row) -> str:
        raise ValueError(f"secret {record.home}")

    with pytest.raises(PathError) as caught:
        Computed("boom", boom).read(Row(None, "801-555-1234"))
    assert "801" not in str(caught.value)
    assert caught.value.code == "computed_failed"
