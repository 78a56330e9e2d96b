"""The simulation's alert digest: counts by level and condition, the first and the last of each."""

from __future__ import annotations

from datetime import date

from acme_ci_budget.simulate.results import FiredAlert, alert_digest


def fired(day: int, level: str, condition: str, scope: str = "dev_assistant") -> FiredAlert:
    return FiredAlert(date(2026, 6, day), level, condition, scope, "day", f"{condition} on day {day}")


def test_the_digest_counts_each_level_and_condition_with_its_first_and_last():
    alerts = [
        fired(1, "WARNING", "daily_warn"),
        fired(1, "INFO", "session_soft_limit"),
        fired(2, "WARNING", "daily_warn", "ci_cd_review"),
        fired(3, "CRITICAL", "daily_critical"),
        fired(4, "WARNING", "daily_warn"),
        fired(5, "WARNING", "block_daily_limit_exceeded"),
    ]
    digest = alert_digest(alerts)
    # most severe level first; within a level, the condition that fired first comes first
    assert [(g.level, g.condition, g.count) for g in digest] == [
        ("CRITICAL", "daily_critical", 1),
        ("WARNING", "daily_warn", 3),
        ("WARNING", "block_daily_limit_exceeded", 1),
        ("INFO", "session_soft_limit", 1),
    ]
    warn = digest[1]
    assert warn.first == alerts[0] and warn.last == alerts[4]
    assert digest[0].first == digest[0].last == alerts[3]
    assert sum(g.count for g in digest) == len(alerts)
    assert warn.to_json()["last"]["day"] == "2026-06-04"


def test_no_alerts_no_digest():
    assert alert_digest([]) == ()
