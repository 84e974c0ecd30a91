"""Writing is strict (HighLevel's exact names, values shaped per dataType); reading is tolerant."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from dentrix_highlevel.errors import ConfigurationError, ResponseFormatError
from dentrix_highlevel.highlevel import (
    AppointmentInput,
    Contact,
    ContactInput,
    CustomField,
    CustomFieldValue,
    OpportunityInput,
    TaskInput,
)
from dentrix_highlevel.highlevel._convert import read, write


def field(data_type: str, *options: str) -> CustomField:
    return CustomField(
        id="cf1", name="X", field_key="contact.x", data_type=data_type, picklist_options=options
    )


@pytest.mark.parametrize(
    ("data_type", "value", "wire"),
    [
        ("NUMERICAL", 3, 3),
        ("NUMERICAL", Decimal("4"), 4),
        ("MONETORY", 10.5, 10.5),
        ("MONETORY", Decimal("10.25"), 10.25),
        ("DATE", dt.date(2024, 2, 29), "2024-02-29"),
        ("DATE", dt.datetime(2024, 2, 29, 13, 0), "2024-02-29"),
        ("DATE", "2024-02-29", "2024-02-29"),
        ("CHECKBOX", ("a", "b"), ["a", "b"]),
        ("MULTIPLE_OPTIONS", ["a"], ["a"]),
        ("TEXT", "hello", "hello"),
        ("LARGE_TEXT", "long", "long"),
    ],
)
def test_custom_field_values_take_the_shape_of_their_data_type(data_type: str, value: Any, wire: Any) -> None:
    written = write(CustomFieldValue.typed(data_type, value, id="cf1"))
    assert written == {"id": "cf1", "field_value": wire}
    assert type(written["field_value"]) is type(wire)


@pytest.mark.parametrize(
    ("data_type", "value"),
    [
        ("NUMERICAL", "3"),
        ("NUMERICAL", True),
        ("MONETORY", float("nan")),
        ("DATE", "29/02/2024"),
        ("DATE", 20240229),
        ("CHECKBOX", "a"),
        ("MULTIPLE_OPTIONS", ["a", 1]),
        ("TEXT", 5),
        ("NOPE", "x"),
    ],
)
def test_wrongly_shaped_values_are_refused_without_echoing_them(data_type: str, value: Any) -> None:
    with pytest.raises(ConfigurationError) as caught:
        CustomFieldValue.typed(data_type, value, id="cf1")
    assert repr(value) not in str(caught.value) or data_type == "NOPE"


def test_picklist_values_must_be_existing_options_and_keys_address_by_field_key() -> None:
    assert write(
        CustomFieldValue.for_field(field("SINGLE_OPTIONS", "Delta", "Cigna"), "Delta", by_key=True)
    ) == {
        "key": "contact.x",
        "field_value": "Delta",
    }
    with pytest.raises(ConfigurationError):
        CustomFieldValue.for_field(field("MULTIPLE_OPTIONS", "a", "b"), ["a", "z"])
    with pytest.raises(ConfigurationError):
        CustomFieldValue(id="a", key="b", field_value="x")


def test_contact_input_writes_exact_names_and_omits_unset_fields() -> None:
    contact = ContactInput(
        first_name="Ada",
        postal_code="80202",
        date_of_birth=dt.date(1990, 1, 2),
        tags=["recall"],
        custom_fields=[CustomFieldValue.typed("NUMERICAL", 2, id="cf9")],
        dnd=False,
    )
    assert write(contact) == {
        "firstName": "Ada",
        "postalCode": "80202",
        "dateOfBirth": "1990-01-02",
        "tags": ["recall"],
        "customFields": [{"id": "cf9", "field_value": 2}],
        "dnd": False,
    }
    assert "Ada" not in repr(contact)
    assert "80202" not in repr(contact)
    with pytest.raises(ConfigurationError):
        ContactInput(custom_fields=[{"id": "x", "field_value": 1}])  # type: ignore[list-item]


def test_times_need_an_offset() -> None:
    with pytest.raises(ConfigurationError):
        TaskInput(title="t", due_date=dt.datetime(2024, 1, 1, 9, 0))
    aware = dt.datetime(2024, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    appt = AppointmentInput.historical(calendar_id="c", contact_id="p", start_time=aware)
    assert write(appt) == {
        "calendarId": "c",
        "contactId": "p",
        "startTime": "2024-01-01T09:00:00-07:00",
        "ignoreDateRange": True,
        "ignoreFreeSlotValidation": True,
        "toNotify": False,
    }
    with pytest.raises(ConfigurationError):
        OpportunityInput(pipeline_id="p", name="n", contact_id="c", status="closed")


def test_reading_ignores_unknown_fields_and_reports_bad_shapes_by_path_only() -> None:
    body = {"contact": {"id": "c1", "firstName": "Ada", "brandNewField": {"x": 1}, "tags": ["a"]}}
    contact = read(body, Contact, key="contact")
    assert (contact.id, contact.first_name, contact.tags) == ("c1", "Ada", ("a",))
    with pytest.raises(ResponseFormatError) as missing:
        read({"contact": {"firstName": "Ada"}}, Contact, key="contact", method="GET", path="/contacts/c1")
    assert "$.contact.id" in str(missing.value)
    assert "Ada" not in str(missing.value)
    with pytest.raises(ResponseFormatError) as wrong:
        read({"contact": {"id": None, "dnd": "secret-value"}}, Contact, key="contact")
    assert "secret-value" not in str(wrong.value)
    with pytest.raises(ResponseFormatError):
        read({"contacts": []}, Contact, key="contact")
