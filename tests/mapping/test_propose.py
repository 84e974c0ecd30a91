"""The proposer on realistic practice column names; profiles keep shapes, never values."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal

import pytest

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    ColumnProfile,
    DataType,
    ExistingCustomField,
    FieldCategory,
    FuzzyProposer,
    Proposal,
    ProposalAction,
    Proposer,
    ValueShape,
)
from dentrix_highlevel.mapping._propose import shape_of, words_of

N = 120


def practice_columns(seed: int = 7) -> dict[str, list[object]]:
    rng = random.Random(seed)

    def maybe(value: object, fill: float = 0.8) -> object:
        return value if rng.random() < fill else ""

    return {
        "Chart_Number": [f"{rng.randint(0, 99999):05d}" for _ in range(N)],
        "Referred_By": [maybe(rng.choice(["Dr. Smith", "Google", "Yelp", "Dr. Jones"])) for _ in range(N)],
        "Emergency Contact Phone": [maybe(f"(801) 555-{rng.randint(0, 9999):04d}", 0.5) for _ in range(N)],
        "Pref. Hygienist": [maybe(rng.choice(["HYG1", "HYG2", "RDH3"])) for _ in range(N)],
        "Last Perio Date": [
            maybe(f"{rng.randint(1, 12):02d}/{rng.randint(1, 28):02d}/2024", 0.4) for _ in range(N)
        ],
        "Balance 90+": [f"{rng.randint(0, 50000) / 100:.2f}" for _ in range(N)],
        "Spouse Email": [maybe(f"person{rng.randint(0, 500)}@example.com") for _ in range(N)],
        "Ortho Notes": ["bracket check " * rng.randint(1, 30) for _ in range(N)],
        "Visits YTD": [str(rng.randint(0, 6)) for _ in range(N)],
        "Prefers Text": [rng.choice(["Y", "N"]) for _ in range(N)],
        "Nickname": [f"nick{i}" for i in range(N)],
        "Last Cleaning": [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(N)],
        "Copay": [Decimal(rng.randint(0, 9000)) / 100 for _ in range(N)],
        "Legacy Flag": [""] * N,
    }


EXISTING = [
    ExistingCustomField(
        id="f1", name="Referring Dentist", field_key="contact.referring_dentist", data_type="TEXT"
    ),
    ExistingCustomField(
        id="f2",
        name="Preferred Hygienist",
        field_key="contact.preferred_hygienist",
        data_type="SINGLE_OPTIONS",
        options=("HYG1", "HYG2", "RDH3"),
    ),
    ExistingCustomField(
        id="f3", name="Emergency Phone", field_key="contact.emergency_phone", data_type="PHONE"
    ),
    ExistingCustomField(id="f4", name="Last Perio", field_key="contact.last_perio", data_type="TEXT"),
]


def profiles(columns: dict[str, list[object]]) -> list[ColumnProfile]:
    return [
        ColumnProfile.from_values(name, values, source="v_patient.csv") for name, values in columns.items()
    ]


def by_column(proposals: Sequence[Proposal]) -> dict[str, Proposal]:
    return {p.column: p for p in proposals}


@pytest.mark.parametrize(
    ("value", "shape"),
    [
        (None, ValueShape.EMPTY),
        ("  ", ValueShape.EMPTY),
        ("2024-01-02", ValueShape.DATE),
        ("1/2/2024", ValueShape.DATE),
        ("2024-01-02 10:30:00", ValueShape.DATETIME),
        ("01/02/2024 10:30 AM", ValueShape.DATETIME),
        ("12.50", ValueShape.MONEY),
        ("$1,200", ValueShape.MONEY),
        ("3.14159", ValueShape.DECIMAL),
        ("42", ValueShape.INTEGER),
        ("00042", ValueShape.INTEGER),
        (7, ValueShape.INTEGER),
        ("8015551234", ValueShape.PHONE),
        ("(801) 555-1234", ValueShape.PHONE),
        ("ana@example.com", ValueShape.EMAIL),
        ("Y", ValueShape.BOOLEAN),
        (True, ValueShape.BOOLEAN),
        ("HYG1", ValueShape.TEXT),
        ("x" * 300, ValueShape.LONG_TEXT),
        ("line\nline", ValueShape.LONG_TEXT),
        (dt.date(2020, 1, 1), ValueShape.DATE),
        (Decimal("1.50"), ValueShape.MONEY),
    ],
)
def test_shapes(value: object, shape: ValueShape) -> None:
    assert shape_of(value) is shape


def test_profile_counts_without_keeping_values() -> None:
    values = ["801-555-1234", "", None, "801-555-1234", "x@y.com", "0123"]
    profile = ColumnProfile.from_values("Mixed", values, distinct_cap=50)
    assert (profile.rows, profile.filled, profile.distinct, profile.leading_zeros) == (6, 4, 3, 1)
    assert profile.shapes == {ValueShape.EMAIL: 1, ValueShape.INTEGER: 1, ValueShape.PHONE: 2}
    assert profile.fill_rate == pytest.approx(4 / 6)
    assert profile.share(ValueShape.PHONE) == 0.5
    text = repr(profile)
    assert "555" not in text
    assert "x@y.com" not in text
    capped = ColumnProfile.from_values("Ids", (str(i) for i in range(1000)), distinct_cap=10)
    assert capped.distinct_capped
    assert capped.distinct == 10
    assert capped.rows == 1000


def test_words_of_practice_names() -> None:
    assert words_of("Pref. Hygienist") == ["preferred", "hygienist"]
    assert words_of("Recall_Date__c") == ["recall", "date"]
    assert words_of("Balance 90+") == ["balance", "90", "plus"]
    assert words_of("contact.emergencyPhone") == ["emergency", "phone"]


def test_realistic_columns() -> None:
    got = by_column(FuzzyProposer().propose(profiles(practice_columns()), EXISTING))
    expected = {
        # column: (action, field key, dataType, category)
        "Chart_Number": ("create", "contact.chart_number", "TEXT", "Administrative"),
        "Referred_By": ("create", "contact.referred_by", "SINGLE_OPTIONS", "Administrative"),
        "Emergency Contact Phone": ("use_existing", "contact.emergency_phone", "PHONE", "Administrative"),
        "Pref. Hygienist": ("use_existing", "contact.preferred_hygienist", "SINGLE_OPTIONS", "Clinical"),
        "Last Perio Date": ("use_existing", "contact.last_perio", "TEXT", "Clinical"),
        "Balance 90+": ("create", "contact.balance_90_plus", "MONETORY", "Financial"),
        "Spouse Email": ("create", "contact.spouse_email", "EMAIL", "Administrative"),
        "Ortho Notes": ("create", "contact.ortho_notes", "LARGE_TEXT", "Clinical"),
        "Visits YTD": ("create", "contact.visits_ytd", "NUMERICAL", "Administrative"),
        "Prefers Text": ("create", "contact.prefers_text", "SINGLE_OPTIONS", "Administrative"),
        "Nickname": ("create", "contact.nickname", "TEXT", "Administrative"),
        "Last Cleaning": ("create", "contact.last_cleaning", "DATE", "Administrative"),
        "Copay": ("create", "contact.copay", "MONETORY", "Administrative"),
        "Legacy Flag": ("create", "contact.legacy_flag", "TEXT", "Administrative"),
    }
    actual = {c: (p.action.value, p.field_key, p.data_type.value, p.category.value) for c, p in got.items()}
    assert actual == expected
    for proposal in got.values():
        assert 0 < proposal.confidence <= 1
        assert proposal.reason
        assert not proposal.approved
        assert proposal.vocabulary_name == proposal.column


def test_confidence_and_reasons() -> None:
    got = by_column(FuzzyProposer().propose(profiles(practice_columns()), EXISTING))
    assert got["Pref. Hygienist"].existing_field_id == "f2"
    assert got["Pref. Hygienist"].confidence == 1.0
    # A name match whose type disagrees with the values is offered, at lower confidence, with a warning.
    perio = got["Last Perio Date"]
    assert perio.confidence < 0.7
    assert "differs from the values' shape (DATE)" in perio.reason
    assert got["Legacy Flag"].confidence < got["Nickname"].confidence
    assert "empty" in got["Legacy Flag"].reason
    assert got["Chart_Number"].reason.endswith("identifier-like column kept as text")
    assert got["Prefers Text"].options == ("Yes", "No")


def test_reasons_never_quote_values() -> None:
    columns = practice_columns()
    proposals = FuzzyProposer().propose(profiles(columns), EXISTING)
    values = {str(v) for vs in columns.values() for v in vs if str(v).strip() and len(str(v)) > 3}
    for proposal in proposals:
        for value in values:
            assert value not in proposal.reason, (proposal.column, value)


def test_one_existing_field_goes_to_the_best_column_only() -> None:
    columns = [
        ColumnProfile.from_values("Emergency Phone", ["8015551234"] * 5),
        ColumnProfile.from_values("Emergency Phone 2", ["8015551234"] * 5),
    ]
    got = by_column(FuzzyProposer().propose(columns, EXISTING))
    assert got["Emergency Phone"].action is ProposalAction.USE_EXISTING
    assert got["Emergency Phone 2"].action is ProposalAction.CREATE
    assert "already proposed for column 'Emergency Phone'" in got["Emergency Phone 2"].reason


def test_deterministic() -> None:
    first = FuzzyProposer().propose(profiles(practice_columns(3)), EXISTING)
    again = FuzzyProposer().propose(profiles(practice_columns(3)), list(EXISTING))
    assert first == again


def test_proposal_to_target() -> None:
    got = by_column(FuzzyProposer().propose(profiles(practice_columns()), EXISTING))
    balance = got["Balance 90+"].to_target()
    assert (balance.field_key, balance.data_type, balance.category) == (
        "contact.balance_90_plus",
        DataType.MONETORY,
        FieldCategory.FINANCIAL,
    )
    assert balance.vocabulary_name == "Balance 90+"
    with pytest.raises(MappingError, match="picklist needs its options"):
        got["Referred_By"].to_target()
    referred = got["Referred_By"].to_target(options=["Dr. Smith", "Google"])
    assert referred.options == ("Dr. Smith", "Google")


def test_existing_field_from_the_api_shape() -> None:
    field = ExistingCustomField.from_api(
        {
            "id": "abc",
            "name": "Recall Date",
            "fieldKey": "contact.recall_date",
            "dataType": "DATE",
            "picklistOptions": [],
            "parentId": "folder1",
        }
    )
    assert (field.id, field.data_type, field.parent_id) == ("abc", DataType.DATE, "folder1")


def test_the_builtin_proposer_satisfies_the_protocol() -> None:
    proposer: Proposer = FuzzyProposer()
    assert proposer.propose([], EXISTING) == []
