"""Unit and property tests of the ready transforms (phones are in test_phones)."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import (
    Default,
    DndFromFlags,
    Email,
    First,
    FormatDate,
    HasFlag,
    Join,
    Lookup,
    Money,
    NameCase,
    PracticeSettings,
    Sum,
    Tags,
    Text,
    ToBool,
    ToDate,
    ToDateTime,
    Trim,
)

DENVER = PracticeSettings(timezone="America/Denver")


# --- trim ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Ana  ", "Ana"), ("Ana \t  Lopez\n", "Ana Lopez"), ("   ", None), ("", None), ("a  b  c", "a b c")],
)
def test_trim(raw: str, expected: str | None) -> None:
    assert Trim().run(raw).value == expected


@given(st.text())
def test_trim_is_idempotent_and_leaves_no_outer_or_double_space(text: str) -> None:
    once = Trim().run(text).value
    assert Trim().run(once).value == once
    if once is not None:
        assert once == once.strip()
        assert "  " not in once


# --- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("JOHN", "John"),
        ("john", "John"),
        ("MCDONALD", "McDonald"),
        ("o'neil", "O'Neil"),
        ("O'NEIL", "O'Neil"),
        ("MARY-ANN", "Mary-Ann"),
        ("VAN DER BERG", "van der Berg"),
        ("JOSÉ", "José"),
        ("müller", "Müller"),
        ("henry viii", "Henry VIII"),
        # Mixed case is somebody's deliberate spelling: untouched.
        ("McDonald", "McDonald"),
        ("O'Neil", "O'Neil"),
        ("van der Berg", "van der Berg"),
        ("DeShawn", "DeShawn"),
        ("José", "José"),
        ("Mcdonald", "Mcdonald"),
    ],
)
def test_name_case(raw: str, expected: str) -> None:
    assert NameCase().run(raw).value == expected


@given(st.text(alphabet=st.characters(categories=("Lu", "Ll", "Zs")), min_size=1).filter(str.strip))
def test_name_case_is_idempotent_and_keeps_mixed_case(name: str) -> None:
    fixed = NameCase().run(name).value
    assert fixed is not None
    assert NameCase().run(fixed).value == fixed
    # Only letter case changes; some letters' cases do not round-trip (dotless ı capitalises to I).
    assert (
        fixed.casefold() == name.casefold() or fixed.lower() == name.lower() or fixed.upper() == name.upper()
    )
    if not (name.isupper() or name.islower()):
        assert fixed == name


# --- e-mail -------------------------------------------------------------------------------------------


def test_email_normalises_and_lowercases() -> None:
    out = Email().run("  Ana.Lopez@Example.COM ")
    assert out.value == "ana.lopez@example.com"
    assert out.ok


def test_email_keeps_local_case_when_asked() -> None:
    assert Email(lowercase=False).run("Ana@Example.COM").value == "Ana@example.com"


@pytest.mark.parametrize("raw", ["not-an-email", "ana@", "ana@@x.com", "ana@example.test", "a b@x.com"])
def test_email_invalid_is_an_issue_without_the_value(raw: str) -> None:
    out = Email().run(raw)
    assert out.value is None
    assert "invalid_email" in out.codes
    for issue in out.issues:
        assert raw not in issue.reason


def test_email_several_addresses_keeps_the_first_valid_and_reports_the_rest() -> None:
    out = Email().run("bad@@x.com; ana@example.com, mom@example.com")
    assert out.value == "ana@example.com"
    assert out.codes == ("invalid_email", "multiple_values")


# --- dates --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1984-07-02", dt.date(1984, 7, 2)),
        ("07/02/1984", dt.date(1984, 7, 2)),
        ("1984-07-02 00:00:00", dt.date(1984, 7, 2)),
        (dt.date(1984, 7, 2), dt.date(1984, 7, 2)),
        (dt.datetime(1984, 7, 2, 23, 0), dt.date(1984, 7, 2)),
        # An aware UTC instant late in the day is still the previous day in Denver.
        ("2016-04-21T01:14:04.737Z", dt.date(2016, 4, 20)),
    ],
)
def test_to_date(raw: str | dt.date, expected: dt.date) -> None:
    assert ToDate().run(raw, practice=DENVER).value == expected


def test_to_date_bad_text_is_an_issue() -> None:
    out = ToDate().run("31/31/2020")
    assert out.value is None
    assert out.codes == ("bad_date",)


def test_to_date_extra_formats() -> None:
    assert ToDate(formats=("%d.%m.%Y",)).run("02.07.1984").value == dt.date(1984, 7, 2)


def test_to_datetime_places_naive_local_time_in_the_practice_zone() -> None:
    out = ToDateTime().run("2025-07-01 09:30:00", practice=DENVER)
    assert out.value is not None
    assert out.value.isoformat() == "2025-07-01T09:30:00-06:00"
    winter = ToDateTime().run(dt.datetime(2025, 1, 15, 9, 30), practice=DENVER).value
    assert winter is not None
    assert winter.isoformat() == "2025-01-15T09:30:00-07:00"


def test_to_datetime_converts_aware_input_and_honours_an_explicit_zone() -> None:
    out = ToDateTime().run("2025-07-01T15:00:00.000Z", practice=DENVER).value
    assert out is not None
    assert out.isoformat() == "2025-07-01T09:00:00-06:00"
    ny = ToDateTime(zone="America/New_York").run("2025-07-01 09:00", practice=DENVER).value
    assert ny is not None
    assert ny.isoformat() == "2025-07-01T09:00:00-04:00"


def test_to_datetime_gap_is_an_issue_and_fold_takes_the_first() -> None:
    gap = ToDateTime().run("2025-03-09 02:30:00", practice=DENVER)
    assert gap.value is None
    assert gap.codes == ("nonexistent_local_time",)
    ambiguous = ToDateTime().run("2025-11-02 01:30:00", practice=DENVER).value
    assert ambiguous is not None
    assert ambiguous.utcoffset() == dt.timedelta(hours=-6)


def test_to_datetime_rejects_unknown_zone_when_built() -> None:
    with pytest.raises(MappingError, match="time zone"):
        ToDateTime(zone="Mars/Olympus")


def test_format_date() -> None:
    assert FormatDate(pattern="%m/%d/%Y").run(dt.date(2025, 1, 2)).value == "01/02/2025"


# --- money --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("$1,234.5", Decimal("1234.50")),
        ("(12.00)", Decimal("-12.00")),
        ("12.345", Decimal("12.35")),
        ("-0.004", Decimal("-0.00")),
        (7, Decimal("7.00")),
        (Decimal("3.1"), Decimal("3.10")),
        (0.1, Decimal("0.10")),
        ("15.00-", Decimal("-15.00")),
    ],
)
def test_money(raw: object, expected: Decimal) -> None:
    out = Money().run(raw)
    assert out.value == expected
    assert out.value is not None
    assert out.value.as_tuple().exponent == -2


@pytest.mark.parametrize("raw", ["abc", "1.2.3", "NaN", "$"])
def test_money_bad_is_an_issue(raw: str) -> None:
    out = Money().run(raw)
    assert out.value is None
    assert out.codes == ("bad_money",)


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**9), max_value=10**9))
def test_money_always_has_two_places_and_rounds_half_up(amount: Decimal) -> None:
    out = Money().run(format(amount, "f")).value
    assert out is not None
    assert Money().run(amount).value == out
    assert out.as_tuple().exponent == -2
    assert abs(out - amount) <= Decimal("0.005")


def test_sum_of_aging_buckets() -> None:
    assert Sum().run(("10.00", Decimal("20.5"), None, "")).value == Decimal("30.50")
    bad = Sum().run(("10.00", "x"))
    assert bad.value is None
    assert bad.codes == ("bad_money",)


# --- code tables --------------------------------------------------------------------------------------


class Status(enum.StrEnum):
    ACTIVE = "1"
    ARCHIVED = "4"


def test_lookup_by_text_int_and_enum() -> None:
    table = Lookup({1: "Patient", "2": "Non-patient", "4": "Archived"})
    assert table.run(1).value == "Patient"
    assert table.run(" 2 ").value == "Non-patient"
    assert table.run(Status.ARCHIVED).value == "Archived"
    assert table.run(Decimal("1")).value == "Patient"


def test_lookup_unknown_code_by_rule() -> None:
    assert Lookup({1: "A"}).run(9).codes == ("unknown_code",)
    assert Lookup({1: "A"}, default="Other", on_unknown="default").run(9).value == "Other"
    assert Lookup({1: "A"}, on_unknown="keep").run(9).value == "9"
    with pytest.raises(MappingError, match="needs a default"):
        Lookup({1: "A"}, on_unknown="default")
    with pytest.raises(ValueError, match="bogus"):
        Lookup({1: "A"}, on_unknown="bogus")


def test_lookup_possible_outputs() -> None:
    assert Lookup({1: "A", 2: "B"}).possible_outputs() == {"A", "B"}
    assert Lookup({1: "A"}, default="Z", on_unknown="default").possible_outputs() == {"A", "Z"}
    assert Lookup({1: "A"}, on_unknown="keep").possible_outputs() is None


# --- join ---------------------------------------------------------------------------------------------


@attrs.frozen
class Proc:
    date: dt.date
    code: str
    tooth: str | None = None


PROCS = tuple(Proc(dt.date(2024, 1, d), f"D{1000 + d}", str(d) if d % 2 else None) for d in range(1, 10))


def test_join_with_template_and_order() -> None:
    out = Join(template="{date:%m/%d/%Y} {code}", order_by="date", descending=True).run(PROCS[:3])
    assert out.value == "01/03/2024 D1003; 01/02/2024 D1002; 01/01/2024 D1001"


def test_join_orders_numbers_as_numbers_and_blanks_last() -> None:
    rows = ({"n": 10, "t": "ten"}, {"n": None, "t": "none"}, {"n": 9, "t": "nine"}, {"t": "missing"})
    assert Join(template="{t}", order_by="n").run(rows).value == "nine; ten; none; missing"
    assert Join(template="{t}", order_by="n", descending=True).run(rows).value == "ten; nine; none; missing"
    odd = Join(order_by="n").run(("plain text", {"n": 1}))
    assert odd.codes == ("bad_item",)


def test_join_truncates_whole_items_with_a_marker() -> None:
    out = Join(template="{code}", separator=", ", limit_chars=20).run(PROCS)
    assert out.value == "D1001 … (+8 more)"
    wider = Join(template="{code}", separator=", ", limit_chars=24).run(PROCS)
    assert wider.value == "D1001, D1002 … (+7 more)"
    assert out.ok
    assert not out.overflow


def test_join_spills_the_rest_to_a_note() -> None:
    out = Join(template="{code} #{tooth}", limit_chars=40, overflow="note", note_title="CDT history").run(
        PROCS
    )
    assert out.value is not None
    assert len(out.value) <= 40
    assert out.value.endswith("more in a note)")
    (item,) = out.overflow
    assert item.title == "CDT history"
    kept = out.value.count("D1")
    assert item.items == len(PROCS) - kept
    assert item.text.splitlines()[-1] == "D1009 #9"
    assert "D1009" not in repr(item)


def test_join_issue_overflow_reports() -> None:
    out = Join(limit_chars=12, overflow="issue").run(("alpha", "beta", "gamma", "delta"))
    assert out.value is not None
    assert len(out.value) <= 12
    assert out.codes == ("too_long",)


def test_join_cuts_a_single_long_item() -> None:
    out = Join(limit_chars=10).run("x" * 50)
    assert out.value == "x" * 9 + "…"


def test_join_rejects_bad_templates_when_built() -> None:
    with pytest.raises(MappingError):
        Join(template="{} and {}")
    with pytest.raises(MappingError):
        Join(template="{code")
    with pytest.raises(MappingError):
        Join(limit_chars=0)


@settings(max_examples=150)
@given(
    st.lists(st.text(min_size=0, max_size=40), max_size=12),
    st.integers(min_value=1, max_value=80),
    st.sampled_from(["truncate", "note", "issue"]),
)
def test_join_never_exceeds_its_limit(items: list[str], limit: int, overflow: str) -> None:
    out = Join(limit_chars=limit, overflow=overflow).run(tuple(items))
    if out.value is not None:
        assert len(out.value) <= limit
    if overflow == "note" and out.overflow:
        # Nothing is lost: what is not wholly in the field is in the note.
        kept_whole = [t.strip() for t in items if t.strip() and t.strip() in (out.value or "")]
        assert out.overflow[0].items + len(kept_whole) >= len([t for t in items if t.strip()])


# --- tags, flags, helpers -----------------------------------------------------------------------------


def test_tags_are_lowercased_normalised_and_deduplicated() -> None:
    out = Tags(prefix="dx ").run(["Dental Patient", " dental   patient", "VIP", "", "a,b"])
    assert out.value == ("dx dental patient", "dx vip", "dx a b")


def test_tags_split_text() -> None:
    assert Tags(split_on=";").run("Ortho; Perio ;ortho").value == ("ortho", "perio")


@given(st.lists(st.text(max_size=20), max_size=10))
def test_tags_property(items: list[str]) -> None:
    out = Tags().run(items).value or ()
    assert len(set(out)) == len(out)
    for tag in out:
        assert tag == tag.lower() == tag.strip()
        assert tag
        assert "," not in tag
        assert "  " not in tag


def test_dnd_from_privacy_flags() -> None:
    dnd = DndFromFlags()
    assert dnd.run(0).value is None
    one = dnd.run(1).value
    assert one is not None
    assert set(one) == {"Call"}
    assert one["Call"]["status"] == "active"
    three = dnd.run("3").value
    assert three is not None
    assert set(three) == {"Call", "SMS", "Email"}
    assert DndFromFlags(bits={4: "WhatsApp"}).run(5).value == {
        "WhatsApp": {"status": "active", "message": "Privacy request carried over from Dentrix"}
    }
    assert dnd.run("x").codes == ("bad_flags",)
    with pytest.raises(MappingError, match="DND channel"):
        DndFromFlags(bits={1: ("Pager",)})


def test_has_flag_and_to_bool() -> None:
    assert HasFlag(mask=2).run(6).value is True
    assert HasFlag(mask=1).run(6).value is False
    assert ToBool().run("Y").value is True
    assert ToBool().run(0).value is False
    assert ToBool().run("maybe").codes == ("bad_flag",)


def test_default_first_text() -> None:
    assert Default(value="Unknown").run(None).value == "Unknown"
    assert Default(value="Unknown").run("x").value == "x"
    assert First().run(("", None, "b", "c")).value == "b"
    assert Text().run(Decimal("1.50")).value == "1.50"
    assert Text().run(Status.ACTIVE).value == "1"
    assert Text().run(dt.date(2020, 1, 2)).value == "2020-01-02"


def test_wrong_input_type_is_a_run_time_issue() -> None:
    out = Trim().run(12)  # type: ignore[arg-type]
    assert out.value is None
    assert out.codes == ("wrong_type",)
    assert Money().run(True).codes == ("wrong_type",)
