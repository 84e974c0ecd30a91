"""Hypothesis against the transforms and the default maps: any value, of any type, gives a value of the
declared type or None plus field issues; nothing raises, and no issue, repr or reason repeats the value."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dentrix_highlevel.mapping import DefaultMapOptions, PracticeSettings, default_maps
from dentrix_highlevel.mapping._dsl import Transform, registered_transforms
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice

MARK = "QzQzPHI"
PRACTICE = PracticeSettings(timezone="America/Denver")


def _default_instances() -> list[Transform[Any, Any]]:
    out = []
    for name, cls in sorted(registered_transforms().items()):
        try:
            out.append(cls())
        except Exception:  # noqa: S112 -- transforms that need parameters (lookups, joins) are skipped here
            continue
        assert name
    return out


TRANSFORMS = _default_instances()
_MARKED = st.text(max_size=20).map(lambda t: MARK + t)
VALUES = st.one_of(
    st.none(),
    _MARKED,
    st.text(max_size=30),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1, 1, 1)),
    st.datetimes(),
    st.lists(st.one_of(_MARKED, st.integers(), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=5), _MARKED, max_size=3),
)


def test_enough_transforms_are_fuzzed() -> None:
    assert len(TRANSFORMS) >= 10, [type(t).__name__ for t in TRANSFORMS]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=VALUES)
def test_transform_never_raises_and_never_echoes(transform: Transform[Any, Any], value: Any) -> None:
    outcome = transform.run(value, practice=PRACTICE)
    produced = transform.produces()
    if outcome.value is not None and produced is not object:
        assert isinstance(outcome.value, produced), (type(outcome.value), produced)
    text = " ".join([repr(outcome), *(repr(i) + i.reason + i.code for i in outcome.issues)])
    assert MARK.lower() not in text.lower()


_PRACTICE = SyntheticPractice(SynthConfig(patients=12, seed=2))
_BUNDLES = list(_PRACTICE.bundles())
_MAPS = default_maps(DefaultMapOptions(as_of=dt.datetime(2025, 6, 30, 12))).all()
_FIELDS = (
    "first_name",
    "last_name",
    "preferred_name",
    "email",
    "mobile_phone",
    "home_phone",
    "address_line1",
    "city",
    "state",
    "zipcode",
    "note",
    "chart_number",
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(_BUNDLES) - 1),
    edits=st.dictionaries(st.sampled_from(_FIELDS), st.one_of(st.none(), _MARKED, st.text(max_size=40))),
    birth=st.one_of(st.none(), st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2200, 12, 31))),
)
def test_default_maps_take_any_patient_values(
    index: int, edits: dict[str, Any], birth: dt.date | None
) -> None:
    bundle = _BUNDLES[index]
    patient = attrs.evolve(bundle.patient, birth_date=birth, **edits)
    bundle = attrs.evolve(bundle, patient=patient)
    for name, field_map in _MAPS.items():
        if name != "contact" and name != "opportunity":
            continue
        result = field_map.apply(bundle, practice=PRACTICE, field_ids={})
        json.dumps(result.payload, default=_json_default)  # what goes on the wire is JSON
        said = " ".join([repr(result), *(repr(i) + i.reason for i in result.issues)])
        said += " ".join(repr(o) + o.title for o in result.overflow)
        assert MARK.lower() not in said.lower(), name


def _json_default(value: object) -> str:
    if isinstance(value, dt.date | decimal.Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


@pytest.mark.parametrize("amounts", [["9" * 26, "9" * 26, "9" * 26], [10**26], ["1e30"]])
def test_absurd_balances_are_issues_not_crashes(amounts: list[Any]) -> None:
    from dentrix_highlevel.mapping import Money, Sum

    outcome = Sum().run(amounts, practice=PRACTICE)
    assert outcome.value is None
    assert [i.code for i in outcome.issues] == ["bad_money"]
    for amount in amounts:
        money = Money().run(amount, practice=PRACTICE)
        assert (money.value is None) == (len(str(amount)) > 26 or "e" in str(amount))
