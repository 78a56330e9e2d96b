"""alerts.conditions: the rules as pure functions of the figures and the config (no Redis, no clock)."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from acme_ci_budget.alerts.alert import BLOCKED, DAILY_CRITICAL, DAILY_WARN, OVER_HOLD, SpendFigures
from acme_ci_budget.alerts.conditions import Conditions, counted

MODEL = "acb-test-model"
TODAY = date(2026, 11, 10)


@pytest.fixture
def rules(make_config):
    return Conditions(
        make_config(
            {
                "namespace": "conditions-test",
                "pricing": {MODEL: {"input": 1000, "output": 1000}},
                "workflows": {"ci_cd_review": {"daily_usd": 10}},
            }
        )
    )


def test_spend_past_the_warning_is_one_frozen_condition_with_its_claim(rules):
    (warn,) = rules.spend("ci_cd_review", TODAY, SpendFigures(8_500_000_000, 8_500_000_000, 8_500_000_000))
    assert warn.alert.condition == DAILY_WARN and warn.claim == (DAILY_WARN, "0.8", "ci_cd_review", "2026-11-10")
    assert warn.period == "day" and warn.group == "daily:ci_cd_review:2026-11-10"
    with pytest.raises(dataclasses.FrozenInstanceError):
        warn.alert = None  # type: ignore[misc]


def test_holds_in_flight_make_the_one_call_critical(rules):
    margin = rules.margin("ci_cd_review")
    spent = 10_000_000_000 - margin  # exactly one worst-case call left: not critical yet
    quiet = rules.spend("ci_cd_review", TODAY, SpendFigures(spent, spent, spent))
    held = rules.spend("ci_cd_review", TODAY, SpendFigures(spent, spent, spent, day_held=1))
    assert DAILY_CRITICAL not in {c.alert.condition for c in quiet}
    assert DAILY_CRITICAL in {c.alert.condition for c in held}


def test_counted_blocks_then_overruns_and_the_new_seen_counts(rules):
    stats = {
        "over_hold|ci_cd_review": 2,
        "over_hold_nano|ci_cd_review": 5,
        "blocked|ci_cd_review|daily_limit_exceeded": 3,
    }
    found, seen = counted(rules, stats, {"blocked|ci_cd_review|daily_limit_exceeded": "1"}, "2026-11-10")
    assert [c.alert.condition for c in found] == [BLOCKED, OVER_HOLD]
    assert "2 requests blocked" in found[0].alert.message
    assert seen == {"blocked|ci_cd_review|daily_limit_exceeded": 3, "over_hold|ci_cd_review": 2}
    assert counted(rules, stats, {k: str(v) for k, v in seen.items()}, "2026-11-10") == ([], {})
    assert counted(rules, stats, {}, "2026-11-10", workflow_id="pm_assistant") == ([], {})
