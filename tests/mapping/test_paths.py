"""Source paths: parsing, generic resolution, and checking against a schema when the map is built."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import attrs
import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping._paths import WILDCARD, PathError, check_path, parse_path, resolve


@attrs.frozen
class Member:
    member_id: str | None
    carrier: str


@attrs.frozen
class Person:
    patient_id: str
    home_phone: str | None = None
    birth_date: dt.date | None = None
    extra: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class Bundle:
    patient: Person
    insurance: tuple[Member, ...] = ()
    notes: Sequence[str] = ()


BUNDLE = Bundle(
    Person("7", "801", dt.date(1990, 1, 1), {"Pref. Hygienist": "HYG1"}),
    (Member("M1", "Delta"), Member(None, "Aetna")),
    ("a", "b"),
)


def test_parse() -> None:
    assert parse_path("patient.home_phone") == ("patient", "home_phone")
    assert parse_path("insurance[1].member_id") == ("insurance", 1, "member_id")
    assert parse_path("insurance.*.carrier") == ("insurance", WILDCARD, "carrier")
    assert parse_path('patient.extra["Pref. Hygienist"]') == ("patient", "extra", "Pref. Hygienist")
    assert parse_path("Emergency Contact Phone") == ("Emergency Contact Phone",)


@pytest.mark.parametrize("bad", ["", "a..b", "a.", "a[", "a[x]", ".a", "a]b"])
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(MappingError):
        parse_path(bad)


def test_resolve_over_attrs_mappings_and_sequences() -> None:
    assert resolve(BUNDLE, parse_path("patient.home_phone")) == "801"
    assert resolve(BUNDLE, parse_path("insurance[0].member_id")) == "M1"
    assert resolve(BUNDLE, parse_path("insurance[5].member_id")) is None  # no such coverage: blank
    assert resolve(BUNDLE, parse_path("insurance.*.member_id")) == ("M1",)
    assert resolve(BUNDLE, parse_path("insurance.*.carrier")) == ("Delta", "Aetna")
    assert resolve(BUNDLE, parse_path('patient.extra["Pref. Hygienist"]')) == "HYG1"
    assert resolve({"row": {"a": 1}}, parse_path("row.b")) is None
    assert resolve(BUNDLE, parse_path("notes[-1]")) == "b"


def test_resolve_misfit_raises_path_error_for_the_rule_to_report() -> None:
    with pytest.raises(PathError, match="no field 'nope'"):
        resolve(BUNDLE, parse_path("patient.nope"))
    with pytest.raises(PathError):
        resolve(BUNDLE, parse_path("patient[0]"))
    with pytest.raises(PathError):
        resolve(BUNDLE, parse_path("patient.*"))


def test_check_against_an_attrs_schema() -> None:
    assert check_path(Bundle, parse_path("patient.home_phone"), path="") is str
    assert check_path(Bundle, parse_path("patient.birth_date"), path="") is dt.date
    assert check_path(Bundle, parse_path("insurance[0].member_id"), path="") is str
    assert check_path(Bundle, parse_path("insurance.*.carrier"), path="") is tuple
    assert check_path(Bundle, parse_path("insurance"), path="") is tuple
    assert check_path(Bundle, parse_path('patient.extra["anything"]'), path="") is str


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("patient.home_fone", "Person has no field 'home_fone'"),
        ("insurance.member_id", "is a sequence"),
        ("patient[0]", "not a sequence"),
        ("insurance[0].group", "Member has no field 'group'"),
        ("patient.birth_date.hour", "date with no 'hour'"),
    ],
)
def test_check_names_the_unknown_segment(path: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        check_path(Bundle, parse_path(path), path=path)


def test_check_against_column_names() -> None:
    columns = {"Chart_Number", "Pref. Hygienist"}
    assert check_path(columns, parse_path('["Pref. Hygienist"]'), path="") is str
    with pytest.raises(MappingError, match="unknown source column"):
        check_path(columns, parse_path("Chart_Num"), path="Chart_Num")
    nested = {"row": columns}
    assert check_path(nested, parse_path("row.Chart_Number"), path="") is str


def test_check_against_the_real_patient_bundle() -> None:
    records = pytest.importorskip("dentrix_highlevel.records")
    bundle = records.PatientBundle
    assert check_path(bundle, parse_path("patient.home_phone"), path="") is str
    assert check_path(bundle, parse_path("patient.birth_date"), path="") is dt.date
    assert check_path(bundle, parse_path("procedures.*"), path="") is tuple
    with pytest.raises(MappingError):
        check_path(bundle, parse_path("patient.no_such_column"), path="patient.no_such_column")
