"""Maps round-trip through a readable JSON file, TOML is read, and an edited file is validated like code."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    Coalesce,
    Collect,
    Computed,
    Constant,
    CustomFieldTarget,
    Default,
    DndFromFlags,
    Email,
    FieldMap,
    FieldRule,
    Join,
    Lookup,
    NameCase,
    Phone,
    PracticeSettings,
    StandardField,
    Sum,
    Tags,
    ToDate,
    Trim,
    dumps_map,
    load_map,
    loads_map,
    map_to_dict,
    save_map,
)


@attrs.frozen
class Pat:
    patient_id: str
    first_name: str | None = None
    home_phone: str | None = None
    mobile_phone: str | None = None
    email: str | None = None
    birth_date: str | None = None
    status: str | None = None
    privacy_flags: int = 0
    b30: Decimal | None = None
    b60: Decimal | None = None
    visits: tuple[str, ...] = ()


def family_key(record: Pat) -> str:
    return f"G{record.patient_id}"


FAMILY = Computed("family_key", family_key, output_type=str)
STATUS = CustomFieldTarget(
    name="Patient Status",
    data_type="SINGLE_OPTIONS",
    options=("Active", "Inactive"),
    category="Administrative",
    vocabulary_name="Patient_Status__c",
)


def sample_map() -> FieldMap:
    return FieldMap(
        name="smile clinic contacts",
        schema=Pat,
        key_path="patient_id",
        rules=[
            FieldRule(
                source="first_name",
                transform=Trim() | NameCase(),
                target=StandardField("firstName"),
                required=True,
            ),
            FieldRule(
                source=Coalesce(["mobile_phone", "home_phone"]),
                transform=Phone(region="US"),
                target=StandardField("phone"),
            ),
            FieldRule(source="email", transform=Email(lowercase=False), target=StandardField("email")),
            FieldRule(
                source="birth_date",
                transform=ToDate(formats=["%d.%m.%Y"]),
                target=StandardField("dateOfBirth"),
            ),
            FieldRule(
                source="privacy_flags",
                transform=DndFromFlags(bits={1: "Call", 4: ["SMS"]}),
                target=StandardField("dndSettings"),
            ),
            FieldRule(
                source="status",
                transform=Lookup({"1": "Active", "3": "Inactive"}, default="Active", on_unknown="default"),
                target=STATUS,
                note="status 2 (non-patient) follows the guarantor policy",
            ),
            FieldRule(
                source=Constant(["Dentrix"]), transform=Tags(prefix="src "), target=StandardField("tags")
            ),
            FieldRule(
                source=Collect(["b30", "b60"]),
                transform=Sum(),
                target=CustomFieldTarget(
                    name="Outstanding Balance", data_type="MONETORY", category="Financial"
                ),
            ),
            FieldRule(
                source="visits",
                transform=Join(limit_chars=100, overflow="note", separator=" | ") | Default(value="none"),
                target=CustomFieldTarget(name="Visit History", data_type="LARGE_TEXT", category="Clinical"),
            ),
            FieldRule(source=FAMILY, target=CustomFieldTarget(name="Guarantor Source ID", data_type="TEXT")),
            FieldRule(
                source=Constant(Decimal("1.50")), target=CustomFieldTarget(name="Copay", data_type="MONETORY")
            ),
            FieldRule(
                source=Constant(dt.date(2020, 1, 1)),
                target=CustomFieldTarget(name="Migrated On", data_type="DATE"),
            ),
        ],
    )


def test_json_round_trip_is_exact(tmp_path: Path) -> None:
    original = sample_map()
    path = save_map(original, tmp_path / "map.json")
    loaded = load_map(path, schema=Pat, computed={"family_key": FAMILY})
    assert loaded == original
    assert loaded.describe() == original.describe()
    assert dumps_map(loaded) == path.read_text(encoding="utf-8")
    record = Pat(
        "9", "ANA", None, "801-555-1234", "A@x.com", "02.07.1984", "3", 5, Decimal("1"), None, ("a", "b")
    )
    practice = PracticeSettings(timezone="America/Denver")
    assert loaded.apply(record, practice=practice) == original.apply(record, practice=practice)


def test_the_file_is_readable_and_spells_transforms_by_name() -> None:
    data = map_to_dict(sample_map())
    assert data["format"] == "dentrix-highlevel-map"
    first, phone = data["rules"][0], data["rules"][1]
    assert first == {
        "target": "firstName",
        "source": "first_name",
        "transforms": ["trim", "name_case"],
        "required": True,
    }
    assert phone["source"] == {"coalesce": ["mobile_phone", "home_phone"]}
    assert phone["transforms"] == [{"phone": {"region": "US"}}]
    status = data["rules"][5]
    assert status["target"]["custom"]["field_key"] == "contact.patient_status"
    assert status["transforms"] == [
        {"lookup": {"table": {"1": "Active", "3": "Inactive"}, "default": "Active", "on_unknown": "default"}}
    ]
    assert data["rules"][4]["transforms"] == [{"dnd_from_flags": {"bits": {"1": ["Call"], "4": ["SMS"]}}}]
    assert data["rules"][9]["source"] == {"computed": "family_key"}
    assert data["rules"][10]["source"] == {"constant": {"decimal": "1.50"}}


TOML_MAP = """
format = "dentrix-highlevel-map"
format_version = 1
object = "contact"
key_path = "patient_id"

[[rules]]
target = "firstName"
source = "first_name"
transforms = ["trim", "name_case"]

[[rules]]
target = "phone"
source = { coalesce = ["mobile_phone", "home_phone"] }
transforms = [{ phone = { region = "US" } }]

[[rules]]
source = "status"
transforms = [{ lookup = { table = { "1" = "Active", "3" = "Inactive" } } }]
[rules.target.custom]
name = "Patient Status"
data_type = "SINGLE_OPTIONS"
options = ["Active", "Inactive"]
"""


def test_toml_is_read_and_validated_like_code() -> None:
    loaded = loads_map(TOML_MAP, format="toml", schema=Pat)
    assert loaded.describe() == [
        "firstName <- first_name | Trim() | NameCase()",
        "phone <- coalesce(mobile_phone, home_phone) | Phone(region='US')",
        "contact.patient_status <- status | Lookup(table={'1': 'Active', '3': 'Inactive'})",
    ]
    result = loaded.apply(Pat("5", "bob", None, "8015551234", status="1"))
    assert result.payload == {
        "firstName": "Bob",
        "phone": "+18015551234",
        "customFields": [{"key": "contact.patient_status", "field_value": "Active"}],
    }


def test_toml_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(TOML_MAP, encoding="utf-8")
    assert len(load_map(path).rules) == 3
    with pytest.raises(MappingError, match=r"\.json"):
        save_map(load_map(path), tmp_path / "out.toml")


def edited(change: dict[str, object], index: int = 0) -> str:
    data = map_to_dict(sample_map())
    data["rules"][index].update(change)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (edited({"transforms": ["trim", "titlecase"]}), "rule 0: transform 1: unknown transform 'titlecase'"),
        (edited({"transforms": [{"trim": {"width": 3}}]}), "bad parameters for 'trim'"),
        (edited({"source": "frist_name"}), "unknown source column"),
        (edited({"target": "phone"}), "duplicate target phone"),
        (edited({"trasforms": []}), "unknown key\\(s\\) trasforms"),
        (
            edited({"target": {"custom": {"name": "X", "data_type": "DROPDOWN"}}}),
            "unknown HighLevel dataType",
        ),
        (edited({"target": {"custom": {"name": "X", "data_type": "TEXT", "colour": "red"}}}), "unknown key"),
        (edited({"transforms": [{"lookup": {"table": {"1": "Former"}}}]}, 5), "not picklist options: Former"),
        (edited({"source": {"computed": "nope"}}, 9), "not registered"),
        (edited({"source": {"constant": {"decimal": "x"}}}, 10), "bad decimal constant"),
        (edited({"transforms": [{"date": "%Y"}]}, 3), "parameters of 'date'"),
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "something-else"}), "not a map file"),
        (json.dumps({"format_version": 99}), "unsupported map format_version"),
    ],
)
def test_edited_files_fail_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(MappingError, match=message):
        loads_map(text, schema=Pat, computed={"family_key": FAMILY})


def test_unnamed_transforms_cannot_be_written() -> None:
    from dentrix_highlevel.mapping import FieldContext, Transform

    @attrs.frozen(repr=False)
    class Shout(Transform[str, str]):
        input_types = (str,)
        output_type = str

        def apply(self, value: str, ctx: FieldContext) -> str | None:
            return value.upper()

    field_map = FieldMap(rules=[FieldRule(source="x", transform=Shout(), target=StandardField("firstName"))])
    assert field_map.apply({"x": "hi"}).payload == {"firstName": "HI"}
    with pytest.raises(MappingError, match="no registered name"):
        map_to_dict(field_map)
