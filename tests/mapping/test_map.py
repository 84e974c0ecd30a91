"""Field maps: wrong maps fail when built; applying one gathers every field issue of a record."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import attrs
import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    Coalesce,
    Collect,
    Computed,
    Constant,
    CustomFieldTarget,
    DndFromFlags,
    Email,
    FieldContext,
    FieldMap,
    FieldRule,
    Join,
    Lookup,
    Money,
    NameCase,
    Phone,
    PracticeSettings,
    StandardField,
    Sum,
    Tags,
    ToDate,
    ToDateTime,
    Transform,
    Trim,
)

DENVER = PracticeSettings(timezone="America/Denver")


class Status(enum.StrEnum):
    PATIENT = "1"
    NON_PATIENT = "2"


@attrs.frozen
class Coverage:
    carrier: str
    member_id: str


@attrs.frozen
class Visit:
    when: dt.datetime
    code: str


@attrs.frozen
class Patient:
    patient_id: str
    first_name: str | None = None
    last_name: str | None = None
    home_phone: str | None = None
    mobile_phone: str | None = None
    email: str | None = None
    birth_date: str | None = None
    status: Status | None = None
    privacy_flags: int = 0
    recall_due: dt.date | None = None


@attrs.frozen
class Bundle:
    patient: Patient
    coverage: tuple[Coverage, ...] = ()
    visits: tuple[Visit, ...] = ()
    balance_0_30: Decimal | None = None
    balance_31_60: Decimal | None = None


RECALL = CustomFieldTarget(name="Recall Date", data_type="DATE", category="Clinical")
STATUS = CustomFieldTarget(
    name="Patient Status",
    data_type="SINGLE_OPTIONS",
    options=("Patient", "Non-patient"),
    category="Administrative",
)
BALANCE = CustomFieldTarget(name="Outstanding Balance", data_type="MONETORY", category="Financial")
MEMBER = CustomFieldTarget(name="Insurance Member ID", data_type="TEXT", category="Insurance")
HISTORY = CustomFieldTarget(name="Visit History", data_type="LARGE_TEXT", category="Clinical")


def contact_map() -> FieldMap:
    return FieldMap(
        schema=Bundle,
        key_path="patient.patient_id",
        rules=[
            FieldRule(
                source="patient.first_name", transform=Trim() | NameCase(), target=StandardField("firstName")
            ),
            FieldRule(
                source="patient.last_name", transform=Trim() | NameCase(), target=StandardField("lastName")
            ),
            FieldRule(
                source=Coalesce(["patient.mobile_phone", "patient.home_phone"]),
                transform=Phone(),
                target=StandardField("phone"),
            ),
            FieldRule(source="patient.email", transform=Email(), target=StandardField("email")),
            FieldRule(source="patient.birth_date", transform=ToDate(), target=StandardField("dateOfBirth")),
            FieldRule(
                source="patient.privacy_flags", transform=DndFromFlags(), target=StandardField("dndSettings")
            ),
            FieldRule(
                source=Constant(["Dentrix", "Dental Patient"]), transform=Tags(), target=StandardField("tags")
            ),
            FieldRule(
                source="patient.status",
                transform=Lookup({"1": "Patient", "2": "Non-patient"}),
                target=STATUS,
                required=True,
            ),
            FieldRule(
                source="patient.status",
                transform=Lookup({"1": "active"}, on_unknown="keep") | Tags(),
                target=StandardField("tags"),
            ),
            FieldRule(source="patient.recall_due", target=RECALL),
            FieldRule(source=Collect(["balance_0_30", "balance_31_60"]), transform=Sum(), target=BALANCE),
            FieldRule(source="coverage[0].member_id", transform=Trim(), target=MEMBER),
            FieldRule(
                source="visits",
                transform=Join(template="{when:%Y-%m-%d} {code}", limit_chars=40, overflow="note"),
                target=HISTORY,
            ),
        ],
    )


GOOD = Bundle(
    Patient(
        "1001", "ANA", "o'neil", None, "(801) 555-1234", "Ana@Example.com", "07/02/1984", Status.PATIENT, 1,
        dt.date(2026, 1, 15),
    ),
    (Coverage("Delta", " M-778 "),),
    tuple(Visit(dt.datetime(2024, m, 1, 9), f"D01{m:02d}") for m in range(1, 7)),
    Decimal("10.50"),
    Decimal("4"),
)  # fmt: skip


def test_payload_uses_highlevel_names_and_types() -> None:
    result = contact_map().apply(GOOD, practice=DENVER)
    assert result.ok, result.issues
    payload = dict(result.payload)
    custom = payload.pop("customFields")
    assert payload == {
        "firstName": "Ana",
        "lastName": "O'Neil",
        "phone": "+18015551234",
        "email": "ana@example.com",
        "dateOfBirth": "1984-07-02",
        "dndSettings": {"Call": {"status": "active", "message": "Privacy request carried over from Dentrix"}},
        "tags": ["dentrix", "dental patient", "active"],
    }
    assert custom[:4] == [
        {"key": "contact.patient_status", "field_value": "Patient"},
        {"key": "contact.recall_date", "field_value": "2026-01-15"},
        {"key": "contact.outstanding_balance", "field_value": 14.5},
        {"key": "contact.insurance_member_id", "field_value": "M-778"},
    ]
    history = custom[4]
    assert history["key"] == "contact.visit_history"
    assert len(history["field_value"]) <= 40
    (note,) = result.overflow
    assert note.record_key == "1001"
    assert note.field == "contact.visit_history"
    assert note.text.endswith("2024-06-01 D0106")


def test_field_ids_switch_custom_fields_to_ids() -> None:
    result = contact_map().apply(GOOD, practice=DENVER, field_ids={"contact.recall_date": "abc123XYZ"})
    assert {"id": "abc123XYZ", "field_value": "2026-01-15"} in result.payload["customFields"]


def test_all_field_errors_of_a_record_are_gathered_without_values() -> None:
    bad = Bundle(
        Patient("2002", "  ", None, "555-1234", None, "ana@@example", "31/31/1990", None, 0, None),
        (),
        (),
        Decimal("1"),
        None,
    )
    result = contact_map().apply(bad, practice=DENVER)
    lines = {(i.field, i.source_path, i.code) for i in result.issues}
    assert lines == {
        ("phone", "coalesce(patient.mobile_phone, patient.home_phone)", "incomplete_number"),
        ("email", "patient.email", "invalid_email"),
        ("dateOfBirth", "patient.birth_date", "bad_date"),
        ("contact.patient_status", "patient.status", "missing"),
    }
    assert all(i.record_key == "2002" for i in result.issues)
    text = " ".join(i.line() for i in result.issues) + repr(result)
    for secret in ("555-1234", "ana@@example", "31/31/1990"):
        assert secret not in text
    assert "firstName" not in result.payload  # blank after trimming: left out, not sent empty
    assert result.payload["customFields"] == [{"key": "contact.outstanding_balance", "field_value": 1.0}]


def test_run_time_type_mismatch_without_schema_is_an_issue() -> None:
    loose = FieldMap(rules=[FieldRule(source="when", target=StandardField("firstName"))])
    result = loose.apply({"when": dt.date(2020, 1, 1)}, record_key="r1")
    assert [(i.record_key, i.code) for i in result.issues] == [("r1", "wrong_type")]
    missing = FieldMap(rules=[FieldRule(source="patient.nope", target=StandardField("firstName"))])
    assert missing.apply(GOOD).issues[0].code == "bad_path"


def test_a_transform_that_breaks_is_an_issue_not_a_crash() -> None:
    @attrs.frozen(repr=False)
    class Fragile(Transform[str, str]):
        input_types = (str,)
        output_type = str

        def apply(self, value: str, ctx: FieldContext) -> str | None:
            return value.encode("ascii").decode()  # raises on any accent

    broken = FieldMap(rules=[FieldRule(source="n", transform=Fragile(), target=StandardField("firstName"))])
    assert broken.apply({"n": "Jose"}).payload == {"firstName": "Jose"}
    result = broken.apply({"n": "José"}, record_key="r9")
    assert [(i.code, i.record_key) for i in result.issues] == [("transform_failed", "r9")]
    assert "José" not in result.issues[0].reason
    assert result.payload == {}


def test_a_malformed_value_for_its_target_is_an_issue() -> None:
    dnd = FieldMap(rules=[FieldRule(source="d", target=StandardField("dndSettings"))])
    assert dnd.apply({"d": {"Call": {"status": "active"}}}).payload == {
        "dndSettings": {"Call": {"status": "active"}}
    }
    assert [i.code for i in dnd.apply({"d": {"Call": 5}}).issues] == ["bad_value"]


def test_computed_and_appointment_maps() -> None:
    start = FieldMap(
        object="appointment",
        key_path="id",
        rules=[
            FieldRule(
                source="start", transform=ToDateTime(), target=StandardField("startTime", "appointment")
            ),
            FieldRule(
                source=Computed("title", lambda r: f"Visit {r['id']}", output_type=str),
                target=StandardField("title", "appointment"),
            ),
        ],
    )
    result = start.apply({"id": "A7", "start": "2025-07-01 09:00:00"}, practice=DENVER)
    assert result.payload == {"startTime": "2025-07-01T09:00:00-06:00", "title": "Visit A7"}
    assert result.record_key == "A7"


# --- build-time errors --------------------------------------------------------------------------------


def rule(source: object, target: object, transform: object = None) -> FieldRule:
    return FieldRule(source=source, target=target, transform=transform)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([rule("patient.frist_name", StandardField("firstName"))], "unknown source column"),
        ([rule("patient.first_name", StandardField("firstName"))] * 2, "duplicate target firstName"),
        (
            [rule("patient.first_name", RECALL, ToDate()), rule("patient.last_name", RECALL, ToDate())],
            "duplicate target contact.recall_date",
        ),
        ([rule("patient.birth_date", StandardField("firstName"), ToDate())], "takes str"),
        ([rule("patient.recall_due", StandardField("firstName"), Trim())], "Trim\\(\\) takes str"),
        ([rule("patient.privacy_flags", BALANCE, Trim())], "takes str"),
        ([rule(Constant("Maybe"), STATUS)], "constant does not fit"),
        (
            [rule("patient.status", STATUS, Lookup({"1": "Patient", "2": "Former"}))],
            "not picklist options: Former",
        ),
        ([rule("patient.first_name", StandardField("name", "opportunity"))], "into a contact map"),
        (
            [
                rule("patient.first_name", CustomFieldTarget(name="Pref", data_type="TEXT")),
                rule(
                    "patient.last_name",
                    CustomFieldTarget(name="pref", data_type="TEXT", field_key="contact.pref2"),
                ),
            ],
            "two custom fields are named",
        ),
    ],
)
def test_wrong_maps_fail_when_built(rules: list[object], message: str) -> None:
    with pytest.raises(MappingError, match=message):
        FieldMap(schema=Bundle, rules=rules)  # type: ignore[arg-type]


def test_rule_parts_fail_when_built() -> None:
    with pytest.raises(MappingError, match="source must be"):
        rule(Money(), StandardField("firstName"))
    with pytest.raises(MappingError, match="target must be"):
        rule("patient.first_name", "firstName")
    with pytest.raises(MappingError, match="FieldRule objects"):
        FieldMap(rules=["firstName"])  # type: ignore[list-item]


def test_key_path_is_checked_and_custom_fields_listed() -> None:
    with pytest.raises(MappingError):
        FieldMap(schema=Bundle, key_path="patient.id", rules=[])
    assert [f.field_key for f in contact_map().custom_fields()] == [
        "contact.patient_status",
        "contact.recall_date",
        "contact.outstanding_balance",
        "contact.insurance_member_id",
        "contact.visit_history",
    ]


def test_describe_reads_like_the_plan() -> None:
    lines = contact_map().describe()
    assert lines[0] == "firstName <- patient.first_name | Trim() | NameCase()"
    assert lines[2] == "phone <- coalesce(patient.mobile_phone, patient.home_phone) | Phone()"


def test_transforms_given_as_a_list_are_composed() -> None:
    r = FieldRule(source="x", transform=[Trim(), NameCase()], target=StandardField("firstName"))
    assert repr(r.transform) == "Trim() | NameCase()"
    with pytest.raises(MappingError):
        FieldRule(source="x", transform=[ToDate(), Trim()], target=StandardField("firstName"))
