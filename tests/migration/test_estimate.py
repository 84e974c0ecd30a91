"""The estimate's arithmetic: duration at the rate budget, days under the daily cap, the complexity grade."""

from __future__ import annotations

import pytest

from dentrix_highlevel.errors import ConfigurationError
from dentrix_highlevel.highlevel import RateBudget
from dentrix_highlevel.migration import RequestCounts
from dentrix_highlevel.migration._plan.estimate import ComplexityInputs, estimate

BUDGET = RateBudget()  # 100 per 10 s, 200,000 a day, 1,000 kept in reserve


def test_duration_is_requests_over_the_burst_rate() -> None:
    counts = RequestCounts(
        setup=40, contact_upserts=1000, notes=300, appointments=150, opportunities=900, users=10
    )
    result = estimate(counts, BUDGET, ComplexityInputs(patients=1000))
    assert result.total_requests == 2400
    assert dict(result.requests) == {
        "setup": 40,
        "contact_upserts": 1000,
        "notes": 300,
        "appointments": 150,
        "opportunities": 900,
        "users": 10,
    }
    assert result.rate_per_s == 10.0
    assert result.duration_s == 240.0
    assert (result.daily_budget, result.days) == (199_000, 1)


@pytest.mark.parametrize(
    ("total", "days"),
    [(0, 0), (1, 1), (199_000, 1), (199_001, 2), (398_000, 2), (1_000_000, 6)],
)
def test_days_under_the_daily_cap(total: int, days: int) -> None:
    assert estimate(RequestCounts(contact_upserts=total), BUDGET, ComplexityInputs()).days == days


def test_a_scaled_budget_changes_rate_and_days() -> None:
    budget = RateBudget(max_requests=20, window_ms=200, daily_max=500, daily_reserve=100, burst=5)
    result = estimate(RequestCounts(notes=1000), budget, ComplexityInputs())
    assert result.rate_per_s == 100.0
    assert result.duration_s == 10.0
    assert result.days == 3  # 400 a day


def test_a_small_clean_practice_is_grade_a() -> None:
    result = estimate(
        RequestCounts(contact_upserts=200), BUDGET, ComplexityInputs(patients=200, source_records=2000)
    )
    assert result.grade == "A"
    assert result.reasons[0].startswith("+0")
    assert "20 s" in result.reasons[-1]


def test_each_factor_raises_the_grade_and_says_why() -> None:
    inputs = ComplexityInputs(
        patients=60_000,
        source_records=100_000,
        source_issues=5_000,
        unmapped_columns=3,
        contact_point_collisions=12_000,
        warnings=2,
    )
    result = estimate(RequestCounts(contact_upserts=300_000), BUDGET, inputs)
    assert result.grade == "E"
    text = "\n".join(result.reasons)
    for fragment in (
        "60000 patients",
        "2 days",
        "5000 source issues",
        "3 practice-specific",
        "20% of patients",
        "2 pre-cutover",
    ):
        assert fragment in text
    medium = estimate(
        RequestCounts(contact_upserts=100), BUDGET, ComplexityInputs(patients=12_000, warnings=1)
    )
    assert medium.grade == "C"


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="notes"):
        RequestCounts(notes=-1)
