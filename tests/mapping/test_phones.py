"""Phones to E.164: extensions, multi-number fields, incomplete and invalid numbers."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dentrix_highlevel.errors import MappingError
from dentrix_highlevel.mapping import Extension, FirstPhone, Phone, Phones, PracticeSettings

E164 = re.compile(r"\+[1-9]\d{6,14}")


@pytest.mark.parametrize(
    "raw",
    [
        "(801) 555-1234",
        "801-555-1234",
        "801.555.1234",
        "8015551234",
        "+1 801 555 1234",
        "1-801-555-1234",
        8015551234,
    ],
)
def test_us_formats_become_e164(raw: str | int) -> None:
    out = Phone().run(raw)
    assert out.value == "+18015551234"
    assert out.ok


def test_extension_is_split_off() -> None:
    (number,) = Phones().run("(801) 555-1234 x12").value or ()
    assert number.e164 == "+18015551234"
    assert number.extension == "12"
    assert Phone().run("801-555-1234 ext. 12").value == "+18015551234"
    assert (Phones() | Extension()).run("801-555-1234, ext 907").value == "907"
    assert (Phones() | FirstPhone()).run("801-555-1234 x5").value == "+18015551234"


def test_multi_number_fields_are_split() -> None:
    numbers = Phones().run("801-555-1234 / 801-555-9876").value or ()
    assert [n.e164 for n in numbers] == ["+18015551234", "+18015559876"]
    both = Phones().run("H: 801 555 1234; C: (385) 555-0142").value or ()
    assert [n.e164 for n in both] == ["+18015551234", "+13855550142"]
    out = Phone().run("801-555-1234 or 801-555-9876")
    assert out.value == "+18015551234"
    assert out.codes == ("extra_numbers",)


def test_seven_digits_is_an_issue_not_garbage() -> None:
    out = Phone().run("555-1234")
    assert out.value is None
    assert out.codes == ("incomplete_number",)
    assert "555" not in out.issues[0].reason


@pytest.mark.parametrize("raw", ["123", "000-000-0000", "call mom", "801-555-12345678", "(555) 555-5555x"])
def test_invalid_numbers_are_issues(raw: str) -> None:
    out = Phone().run(raw)
    assert out.value is None
    assert out.codes
    assert out.codes[0] in ("invalid_phone", "incomplete_number")


def test_a_bad_part_beside_a_good_one_is_reported() -> None:
    out = Phones().run("801-555-1234 / 555-12")
    assert [n.e164 for n in out.value or ()] == ["+18015551234"]
    assert out.codes == ("invalid_phone",)


def test_region_comes_from_the_practice_unless_given() -> None:
    uk = PracticeSettings(default_region="GB")
    assert Phone().run("020 7946 0018", practice=uk).value == "+442079460018"
    assert Phone().run("020 7946 0018").value is None
    assert Phone(region="GB").run("020 7946 0018").value == "+442079460018"
    with pytest.raises(MappingError, match="region"):
        Phone(region="XX")


def test_phone_number_repr_hides_the_digits() -> None:
    (number,) = Phones().run("801-555-1234 x12").value or ()
    assert "555" not in repr(number)
    assert "1234" not in repr(number)


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="0123456789()-. +x/;", max_size=40),
        st.from_regex(r"\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}( x\d{1,4})?", fullmatch=True),
    )
)
def test_phone_never_returns_anything_but_valid_e164(raw: str) -> None:
    out = Phone().run(raw)
    if out.value is not None:
        assert E164.fullmatch(out.value)
        assert phonenumbers.is_valid_number(phonenumbers.parse(out.value))
    for number in Phones().run(raw).value or ():
        assert E164.fullmatch(number.e164)
