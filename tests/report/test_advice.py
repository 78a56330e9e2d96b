"""The report's advice follows from the data (issue 15 item 8): no "twice the use" of $0, no "update the
inventory" when the budget capped the spend, no "binding on 0 of N days ... reached on most days";
an empty month renders one empty state in every format. Real Redis, the ledger's own money path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import yaml

from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

NY = ZoneInfo("America/New_York")
HAIKU = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]["default_model"]
PRICES = {HAIKU: {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1}}


def _call(e, wf, inp, out, **kw):
    res = e.reserve(wf, HAIKU, inp, max(out, 256), **kw)
    assert res.allowed, res.reason
    return e.settle(res, inp, out)


def _opps(report):
    return {(o.workflow_id, o.kind): o for o in report.opportunities}


def test_a_budget_nothing_spent_against_is_not_told_to_shrink_to_twice_zero(make_config, redis_url):
    config = make_config({"pricing": PRICES}, namespace="adv0")
    clock = Clock(datetime(2026, 10, 3, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    _call(e, "ci_cd_review", 1000, 200)  # only the review ran in October
    clock.at(datetime(2026, 11, 2, 12, tzinfo=NY))
    report = build_report(config, e.redis, "2026-10", clock)
    idle = _opps(report)[("pm_assistant", "budget_slack")]
    assert "no spend against its $100.00 budget" in idle.title
    assert "twice the use" not in idle.detail and "$15" not in idle.detail
    # the review spent $0.002: twice that is below its $7 daily limit, so the floor is one day's limit
    review = _opps(report)[("ci_cd_review", "budget_slack")]
    assert "one day's limit" in review.detail and "twice the use" not in review.detail


def test_spend_below_the_estimate_because_of_blocks_is_not_an_inventory_problem(make_config, redis_url):
    # $0.0002 reviews (worst case $0.00138) against a $0.006 day: 24 fit, then the daily limit refuses the rest
    config = make_config({"pricing": PRICES, "workflows": {"ci_cd_review": {"daily_usd": 0.006}}}, namespace="adv1")
    clock = Clock(datetime(2026, 11, 20, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    calls = blocks = 0
    while True:
        res = e.reserve("ci_cd_review", HAIKU, 100, 256)
        if not res.allowed:
            assert res.reason == "daily_limit_exceeded"
            blocks += 1
            if blocks == 5:
                break
            continue
        e.settle(res, 100, 20)
        calls += 1
    report = build_report(config, e.redis, "current", clock)
    wf = report.workflow("ci_cd_review")
    assert wf.calls >= 20 and wf.capped_blocks == 5 and wf.vs_estimate_pct < -50
    assert wf.under_estimate_by_blocks
    est = _opps(report)[("ci_cd_review", "estimate_off")]
    assert "held down by 5 budget blocks" in est.title
    assert "Update the workflow's inventory" not in est.detail
    assert report.to_json()["workflows"]["ci_cd_review"]["under_estimate_by_blocks"] is True
    html = render(report, "html")
    assert 'class="capped"' in html  # an under-estimate caused by blocks is not painted green


def test_daily_blocks_without_days_near_the_limit_do_not_claim_most_days(make_config, redis_url):
    config = make_config({"pricing": PRICES, "workflows": {"pm_assistant": {"daily_usd": 0.01}}}, namespace="adv2")
    clock = Clock(datetime(2026, 11, 20, 15, tzinfo=UTC))
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    _call(e, "pm_assistant", 1000, 200)  # $0.002 of $0.01: 20%, far from 90%
    refused = e.reserve("pm_assistant", HAIKU, 1000, 4000)  # worst case $0.021 does not fit the $0.008 left
    assert refused.reason == "daily_limit_exceeded"
    report = build_report(config, e.redis, "current", clock)
    opp = _opps(report)[("pm_assistant", "daily_limit_binding")]
    assert "binding on 0 of" not in opp.title and "most days" not in opp.detail
    assert "1 requests blocked by the $0.01 daily limit" in opp.title and "0 of 20 days" in opp.title
    assert "max_tokens" in opp.detail


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_an_empty_month_renders_one_empty_state(make_config, redis_url, fmt):
    config = make_config({"pricing": PRICES}, namespace="adv3")
    clock = Clock(datetime(2026, 11, 20, 15, tzinfo=UTC))
    report = build_report(config, BudgetEnforcer(config, redis_url=redis_url, clock=clock).redis, "2026-10", clock)
    out = render(report, fmt)
    if fmt == "json":
        data = json.loads(out)
        assert data["has_activity"] is False and data["opportunities"] == []
        return
    assert out.count("No activity in October 2026") == 1
    # no page of zeros: no workflow table, no estimate table, no charts, no advice
    for absent in ("ESTIMATE VS ACTUAL", "Estimate vs actual", "Model mix", "<svg", "OPTIMIZATION", "Optimization"):
        assert absent not in out, absent
