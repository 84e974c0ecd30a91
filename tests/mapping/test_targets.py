"""Targets: standard fields, custom field definitions, and HighLevel's wire format per dataType."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    CustomFieldTarget,
    DataType,
    FieldCategory,
    HighLevelObject,
    StandardField,
)
from dentrix_highlevel.mapping._targets import ValueRejected, snake_key


def custom(data_type: str, **kw: object) -> CustomFieldTarget:
    return CustomFieldTarget(name="Some Field", data_type=data_type, **kw)  # type: ignore[arg-type]


def test_keys_and_vocabulary_are_derived() -> None:
    field = CustomFieldTarget(name="Recall Date", data_type=DataType.DATE, category="Clinical")
    assert field.field_key == "contact.recall_date"
    assert field.vocabulary_name == "Recall_Date__c"
    assert field.category is FieldCategory.CLINICAL
    assert snake_key("Balance 90+") == "balance_90_plus"
    assert snake_key("Insurance_Member_ID__c") == "insurance_member_id"
    assert snake_key("chartNumber") == "chart_number"
    opp = CustomFieldTarget(name="Case Value", data_type="MONETORY", model="opportunity")
    assert opp.field_key == "opportunity.case_value"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data_type": "DROPDOWN"}, "unknown HighLevel dataType"),
        ({"data_type": "FILE_UPLOAD"}, "cannot be filled"),
        ({"data_type": "TEXTBOX_LIST"}, "cannot be filled"),
        ({"data_type": "SINGLE_OPTIONS"}, "needs picklist options"),
        ({"data_type": "SINGLE_OPTIONS", "options": ["A", "A"]}, "distinct"),
        ({"data_type": "SINGLE_OPTIONS", "options": "AB"}, "not one string"),
        ({"data_type": "TEXT", "options": ["A"]}, "only picklist"),
        ({"data_type": "TEXT", "field_key": "contact.Bad Key"}, "fieldKey"),
        ({"data_type": "TEXT", "field_key": "opportunity.x"}, "fieldKey"),
        ({"data_type": "TEXT", "category": "Clinicall"}, "unknown field category"),
        ({"data_type": "TEXT", "model": "appointment"}, "contacts and opportunities"),
    ],
)
def test_bad_custom_fields_fail_when_built(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        CustomFieldTarget(name="Some Field", **kwargs)  # type: ignore[arg-type]


def test_unknown_standard_field_fails() -> None:
    with pytest.raises(MappingError, match="no standard field 'phoneNumber'"):
        StandardField("phoneNumber")
    with pytest.raises(MappingError, match="no standard field 'firstName'"):
        StandardField("firstName", HighLevelObject.OPPORTUNITY)


@pytest.mark.parametrize(
    ("data_type", "value", "wire"),
    [
        ("TEXT", "abc", "abc"),
        ("LARGE_TEXT", "line1\nline2", "line1\nline2"),
        ("NUMERICAL", 3, 3),
        ("NUMERICAL", Decimal("3.0"), 3),
        ("NUMERICAL", Decimal("3.25"), 3.25),
        ("MONETORY", Decimal("1234.5"), 1234.5),
        ("MONETORY", 0.125, 0.13),
        ("DATE", dt.date(2025, 1, 2), "2025-01-02"),
        ("DATE", dt.datetime(2025, 1, 2, 10, 0), "2025-01-02"),
        ("DATE", "2025-01-02", "2025-01-02"),
    ],
)
def test_custom_field_wire_format(data_type: str, value: object, wire: object) -> None:
    encoded = custom(data_type).encode(value)
    assert encoded == wire
    assert type(encoded) is type(wire)


def test_picklists() -> None:
    single = custom("SINGLE_OPTIONS", options=["Yes", "No"])
    assert single.encode("Yes") == "Yes"
    with pytest.raises(ValueRejected) as caught:
        single.encode("Maybe")
    assert caught.value.code == "not_an_option"
    assert "Maybe" not in caught.value.reason
    multi = custom("MULTIPLE_OPTIONS", options=["A", "B", "C"])
    assert multi.encode(("A", "C")) == ["A", "C"]
    assert multi.encode("B") == ["B"]
    with pytest.raises(ValueRejected):
        multi.encode(("A", "Z"))


@pytest.mark.parametrize(
    ("data_type", "value", "code"),
    [
        ("DATE", "02/01/2025", "bad_date"),
        ("DATE", "2025-13-45", "bad_date"),
        ("NUMERICAL", "12", "wrong_type"),
        ("NUMERICAL", True, "wrong_type"),
        ("TEXT", 12, "wrong_type"),
        ("MONETORY", Decimal("NaN"), "bad_number"),
    ],
)
def test_rejections(data_type: str, value: object, code: str) -> None:
    with pytest.raises(ValueRejected) as caught:
        custom(data_type).encode(value)
    assert caught.value.code == code


def test_standard_datetimes_need_an_offset() -> None:
    start = StandardField("startTime", "appointment")
    aware = dt.datetime(2025, 7, 1, 9, 0, 30, 123, tzinfo=zoneinfo.ZoneInfo("America/Denver"))
    assert start.encode(aware) == "2025-07-01T09:00:30-06:00"
    with pytest.raises(ValueRejected) as caught:
        start.encode(dt.datetime(2025, 7, 1, 9, 0))
    assert caught.value.code == "naive_datetime"


def test_standard_options_and_dnd() -> None:
    assert StandardField("status", "opportunity").encode("open") == "open"
    with pytest.raises(ValueRejected):
        StandardField("status", "opportunity").encode("pending")
    with pytest.raises(ValueRejected) as caught:
        StandardField("dndSettings").encode({"Pager": {"status": "active"}})
    assert caught.value.code == "bad_dnd"
    assert StandardField("tags").additive
    assert not StandardField("phone").additive
