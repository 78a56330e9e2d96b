"""Forecast maths: burn rate, month-end projection and the run-out day, on known spend series."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acme_ci_budget.budget.forecast import day_costs, days_in_month, local_date, project_month

USD = 1_000_000_000
NY = ZoneInfo("America/New_York")


def test_steady_burn_projects_over_budget_and_names_the_run_out_day():
    # November: 30 days. $10/day for 10 days against $200: $300 at month end, out of money on the 20th.
    fc = project_month(100 * USD, 200 * USD, date(2026, 11, 10))
    assert fc.days_in_month == 30
    assert fc.elapsed_days == 10
    assert fc.burn_nano_per_day == 10 * USD
    assert fc.projected_nano == 300 * USD
    assert fc.projected_pct == 150.0
    assert fc.over_budget and not fc.exhausted
    assert fc.runs_out_on == date(2026, 11, 20)


def test_on_track_month_has_no_run_out_day():
    fc = project_month(50 * USD, 200 * USD, date(2026, 11, 10))
    assert fc.projected_nano == 150 * USD
    assert not fc.over_budget
    assert fc.runs_out_on is None


def test_exactly_on_budget_is_not_over_and_runs_out_on_the_last_day():
    fc = project_month(100 * USD, 300 * USD, date(2026, 11, 10))
    assert fc.projected_nano == 300 * USD
    assert not fc.over_budget  # reaching the budget on the last day is the plan, not an overrun
    assert fc.runs_out_on == date(2026, 11, 30)


def test_run_out_day_is_rounded_up_to_the_day_the_budget_is_actually_reached():
    # $7/day for 3 days = $21 against $100: cumulative reaches $98 on day 14, $105 on day 15.
    fc = project_month(21 * USD, 100 * USD, date(2026, 11, 3))
    assert fc.runs_out_on == date(2026, 11, 15)
    assert fc.projected_nano == 210 * USD


def test_february_of_a_leap_year_and_a_31_day_month():
    assert days_in_month(date(2028, 2, 1)) == 29
    assert days_in_month(date(2027, 2, 1)) == 28
    fc = project_month(29 * USD, 20 * USD, date(2028, 2, 1))  # $29 on the 1st of a 29-day month
    assert fc.projected_nano == 29 * 29 * USD
    assert fc.exhausted and fc.runs_out_on == date(2028, 2, 1)
    fc = project_month(31 * USD, 40 * USD, date(2026, 12, 31))
    assert fc.projected_nano == 31 * USD and not fc.over_budget and fc.runs_out_on is None


def test_day_one_is_one_whole_day_of_data():
    fc = project_month(3 * USD, 100 * USD, date(2026, 11, 1))
    assert fc.elapsed_days == 1
    assert fc.projected_nano == 90 * USD
    # ceil(100 / 3) = 34 > 30 days: not this month
    assert fc.runs_out_on is None


def test_already_exhausted_dates_the_crossing_from_the_day_series():
    series = {1: 30 * USD, 2: 30 * USD, 3: 50 * USD, 4: 40 * USD}  # cumulative 30, 60, 110 (>= 100) ...
    fc = project_month(150 * USD, 100 * USD, date(2026, 11, 4), series)
    assert fc.exhausted and fc.over_budget
    assert fc.runs_out_on == date(2026, 11, 3)
    # without the series it can only say "by today"
    assert project_month(150 * USD, 100 * USD, date(2026, 11, 4)).runs_out_on == date(2026, 11, 4)


def test_nothing_spent_and_no_budget():
    fc = project_month(0, 100 * USD, date(2026, 11, 15))
    assert fc.projected_nano == 0 and fc.burn_nano_per_day == 0 and fc.runs_out_on is None and not fc.over_budget
    fc = project_month(5 * USD, 0, date(2026, 11, 15))
    assert not fc.over_budget and not fc.exhausted and fc.runs_out_on is None
    with pytest.raises(ValueError):
        project_month(-1, 100, date(2026, 11, 1))


def test_integer_maths_keeps_nano_exact():
    fc = project_month(1, 3, date(2026, 11, 7))  # 1 nano in 7 days of a 30-day month
    assert fc.projected_nano == 30 // 7
    assert fc.runs_out_on == date(2026, 11, 21)  # ceil(3 * 7 / 1)


def test_local_date_uses_the_configured_timezone():
    utc_early = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 22:00 on Nov 30 in New York
    assert local_date(utc_early, NY) == date(2026, 11, 30)
    assert local_date(utc_early, UTC) == date(2026, 12, 1)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 12, 1), NY)


def test_day_costs_sum_the_stats_fields_of_the_wanted_workflows():
    stats = {
        "day_cost|ci_cd_review|01": 5,
        "day_cost|ci_cd_review|02": 7,
        "day_cost|qa_test_gen|02": 11,
        "cost|ci_cd_review": 12,
        "blocked|ci_cd_review|daily_limit_exceeded": 3,
        "user_cost|alice": 9,
    }
    assert day_costs(stats, ["ci_cd_review"]) == {1: 5, 2: 7}
    assert day_costs(stats, ["ci_cd_review", "qa_test_gen"]) == {1: 5, 2: 18}
    assert day_costs(stats, ["pm_assistant"]) == {}


@given(
    spent=st.integers(min_value=1, max_value=10**15),
    budget=st.integers(min_value=1, max_value=10**15),
    day=st.integers(min_value=1, max_value=30),
)
def test_run_out_day_is_the_first_day_the_projection_reaches_the_budget(spent, budget, day):
    today = date(2026, 11, day)
    fc = project_month(spent, budget, today)
    if spent >= budget:
        assert fc.runs_out_on == today
        return
    # at this pace cumulative spend by the end of day d is spent * d / day
    reached = [d for d in range(day, 31) if spent * d >= budget * day]
    assert fc.runs_out_on == (today.replace(day=reached[0]) if reached else None)
    assert fc.over_budget == (spent * 30 // day > budget)
