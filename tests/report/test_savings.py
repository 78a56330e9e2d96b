"""What caching saved and what blocks prevented, in dollars, from the ledger's events (issue 15 item 9),
and the month before set side by side. Real Redis, the ledger's own reserve/settle path, round prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import yaml

from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

NY = ZoneInfo("America/New_York")
_ROUTING = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]
HAIKU, SONNET = _ROUTING["default_model"], _ROUTING["complex_model"]
PRICES = {
    HAIKU: {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
    SONNET: {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
}


def test_savings_are_priced_per_call_model_and_blocks_at_their_worst_case(make_config, redis_url):
    config = make_config({"pricing": PRICES, "workflows": {"pm_assistant": {"daily_usd": 0.01}}}, namespace="sav")
    clock = Clock(datetime(2026, 11, 10, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    # 2,000 cache-read tokens on Haiku: $0.90/MTok less than input, $0.0018 saved
    e.settle(e.reserve("dev_assistant", HAIKU, 3000, 500, session_id="a"), 1000, 200, 0, 2000)
    # 8,000 on Sonnet: $2.70/MTok less, $0.0216 saved
    e.settle(e.reserve("dev_assistant", SONNET, 9000, 500, session_id="a"), 1000, 200, 0, 8000)
    # a call without cache reads saves nothing
    e.settle(e.reserve("pm_assistant", HAIKU, 1000, 500), 1000, 200)
    # refused: 1,000 in + 4,000 max out on Haiku is a $0.021 worst case, over what is left of pm's $0.01 day
    assert e.reserve("pm_assistant", HAIKU, 1000, 4000).reason == "daily_limit_exceeded"
    report = build_report(config, e.redis, "current", clock, savings=True)
    s = report.savings
    assert s.cache_saved_nano == 1_800_000 + 21_600_000
    assert s.blocked_worst_case_nano == 21_000_000
    assert s.cache_saved_for("dev_assistant") == 23_400_000 and s.prevented_for("pm_assistant") == 21_000_000
    assert s.complete and s.unpriced == 0
    data = report.to_json()["savings"]
    assert data["cache_saved_usd"] == 0.0234 and data["blocked_worst_case_usd"] == 0.021
    for fmt, needle in (("text", "caching saved $0.02"), ("markdown", "**caching saved** $0.02"),
                        ("html", '<div class="label">Caching saved</div><div class="value">$0.02</div>')):
        assert needle in render(report, fmt), fmt
    assert "blocks prevented $0.02" in render(report, "text")
    # without asking, the report stays one round trip on the counters
    assert build_report(config, e.redis, "current", clock).savings is None


def test_events_of_other_months_do_not_count_and_old_months_say_they_are_partial(make_config, redis_url):
    config = make_config({"pricing": PRICES}, namespace="sav2")
    clock = Clock(datetime(2026, 10, 10, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    e.settle(e.reserve("dev_assistant", HAIKU, 3000, 500, session_id="a"), 1000, 200, 0, 2000)
    clock.at(datetime(2026, 11, 10, 15, tzinfo=UTC))
    assert build_report(config, e.redis, "current", clock, savings=True).savings.cache_saved_nano == 0
    assert build_report(config, e.redis, "2026-10", clock, savings=True).savings.cache_saved_nano == 1_800_000
    retention = config.ledger.retention_days
    clock.at(datetime(2026, 10, 1, 15, tzinfo=UTC).replace(year=2027 if retention < 300 else 2030))
    assert not build_report(config, e.redis, "2026-10", clock, savings=True).savings.complete


def test_the_month_before_is_set_side_by_side_when_it_had_activity(make_config, redis_url):
    config = make_config({"pricing": PRICES}, namespace="prev")
    clock = Clock(datetime(2026, 10, 12, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    e.settle(e.reserve("ci_cd_review", HAIKU, 2000, 500), 20000, 2000)  # October: $0.03
    clock.at(datetime(2026, 11, 3, 15, tzinfo=UTC))
    e.settle(e.reserve("ci_cd_review", HAIKU, 2000, 500), 20000, 8000)  # November: $0.06
    report = build_report(config, e.redis, "current", clock, previous=True)
    assert report.previous is not None and report.previous.month == "2026-10"
    assert report.to_json()["previous"]["spend_usd"] == 0.03
    html = render(report, "html")
    assert "November 2026 next to October 2026" in html
    spend_row = '<th scope="row">Spend</th><td data-label="October 2026">$0.03</td><td data-label="November 2026">$0.06</td>'
    assert spend_row in html
    # a month whose month before was empty has nothing to set beside it
    october = build_report(config, e.redis, "2026-10", clock, previous=True)
    assert october.previous is None and 'id="prev-h"' not in render(october, "html")


def _old_history(e: BudgetEnforcer, months: list[tuple[str, int]]) -> int:
    """Events of earlier months written as a ledger in real use writes them: stream ids at their own time."""
    written = 0
    for month, start_ms in months:
        for i in range(300):
            ts = start_ms + i * 60_000
            e.redis.xadd(e.keys.events(), {"type": "call", "ts_ms": ts, "month": month, "workflow": "dev_assistant",
                                           "model": HAIKU, "input_tokens": 1000, "output_tokens": 100,
                                           "cache_read_input_tokens": 5000, "cost_nano": 1}, id=f"{ts}-0")
            written += 1
    return written


def counting_reads(e: BudgetEnforcer) -> list[int]:
    read: list[int] = []
    xrange = e.redis.xrange

    def counted(*args, **kwargs):
        chunk = xrange(*args, **kwargs)
        read.append(len(chunk))
        return chunk

    e.redis.xrange = counted
    return read


def test_a_month_is_read_from_its_start_not_from_the_whole_retention(make_config, redis_url):
    config = make_config({"pricing": PRICES}, namespace="sav-long")
    e = BudgetEnforcer(config, redis_url=redis_url)
    now = datetime.now(UTC)
    month_start = datetime(now.year, now.month, 1, tzinfo=config.tz)
    months_back = []
    for back in (5, 4, 3):  # three earlier months, each with cache reads that would count if read
        y, m = divmod(now.year * 12 + now.month - 1 - back, 12)
        months_back.append((f"{y}-{m + 1:02d}", int(datetime(y, m + 1, 2, tzinfo=UTC).timestamp() * 1000)))
    old = _old_history(e, months_back)
    e.settle(e.reserve("dev_assistant", HAIKU, 3000, 500, session_id="a"), 1000, 200, 0, 2000)  # this month: real time
    read = counting_reads(e)
    s = build_report(config, e.redis, "current", savings=True).savings
    assert s.cache_saved_nano == 1_800_000 and s.complete  # the old months' reads do not count, as before
    assert 0 < sum(read) < old  # and were not read: the read began at the month's start, less its margin
    assert month_start.timestamp() * 1000 - 2 * 86_400_000 > months_back[-1][1]


def test_a_simulated_month_whose_clock_runs_ahead_of_the_stream_is_read_whole(make_config, redis_url):
    # A simulation of a month after today: its events carry their month but the server's time as ids.
    config = make_config({"pricing": PRICES}, namespace="sav-ahead")
    ahead = datetime.now(UTC).replace(day=10, hour=15) + timedelta(days=120)
    clock = Clock(ahead)
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    e.settle(e.reserve("dev_assistant", HAIKU, 3000, 500, session_id="a"), 1000, 200, 0, 2000)
    e.settle(e.reserve("dev_assistant", SONNET, 9000, 500, session_id="a"), 1000, 200, 0, 8000)
    s = build_report(config, e.redis, "current", clock, savings=True).savings
    assert s.cache_saved_nano == 1_800_000 + 21_600_000
