"""The report model on a real Redis: figures equal the ledger's, months resolve in the configured
timezone, empty and blocked months, ROI from the config, the optimization rules, one round trip;
and the ``report`` command end to end (formats, Actions outputs, Slack, errors)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
import responses
import yaml

from acme_ci_budget import cli as cli_module
from acme_ci_budget.budget.estimate import build_estimate
from acme_ci_budget.budget.forecast import project_month
from acme_ci_budget.catalog.pricing import min_cacheable_tokens
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.monthly import ReportError, build_report, resolve_month
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

NY = ZoneInfo("America/New_York")
_ROUTING = yaml.safe_load(DEFAULT_CONFIG_TEXT)["workflows"]["dev_assistant"]["routing"]
HAIKU = _ROUTING["default_model"]  # the lab's Haiku role in the shipped config
SONNET = _ROUTING["complex_model"]  # the Sonnet role
# Round per-million prices, so every seeded figure below is exact and easy to check by hand.
PRICES = {
    HAIKU: {"input": 1.0, "output": 5.0, "cache_write": 1.25, "cache_read": 0.1},
    SONNET: {"input": 3.0, "output": 15.0, "cache_write": 3.75, "cache_read": 0.3},
}
WORKFLOW_KEYS = {
    "monthly_spend",
    "monthly_limit",
    "monthly_pct",
    "daily_spend",
    "daily_limit",
    "calls",
    "blocked",
    "tokens",
    "models",
    "estimate_usd",
}


@pytest.fixture
def config(make_config):
    return make_config({"pricing": PRICES}, namespace="rpt")


def _enforcer(config, redis_url, clock):
    return BudgetEnforcer(config, redis_url=redis_url, clock=clock)


def _call(e, wf, model, inp, out, cw=0, cr=0, **kw):
    res = e.reserve(wf, model, inp + cw + cr, max(out, 256), **kw)
    assert res.allowed, res.reason
    return e.settle(res, inp, out, cw, cr)


def seed_known_month(e: BudgetEnforcer, clock: Clock) -> None:
    """November 2026 (New York): exact spend of $0.0566 over two days, one failure, two blocks."""
    clock.at(datetime(2026, 11, 2, 9, 0, tzinfo=NY))
    _call(e, "ci_cd_review", HAIKU, 1000, 200, cw=800)  # $0.003
    clock.at(datetime(2026, 11, 10, 9, 0, tzinfo=NY))
    for _ in range(3):
        _call(e, "ci_cd_review", HAIKU, 1000, 200, cw=800)  # 3 x $0.003
    for _ in range(2):
        _call(e, "dev_assistant", SONNET, 2000, 1000, cr=1000, session_id="s1")  # 2 x $0.0213
    _call(e, "dev_assistant", HAIKU, 1000, 200, session_id="s1")  # $0.002
    failed = e.reserve("dev_assistant", SONNET, 1000, 500, session_id="s1")
    assert e.release(failed, error="529 overloaded")
    assert not e.reserve("dev_assistant", SONNET, 100, 100, session_id="s1", loop_step=99).allowed
    assert not e.reserve("no_such_workflow", HAIKU, 100, 100).allowed


@pytest.fixture
def seeded(config, redis_url):
    clock = Clock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    seed_known_month(e, clock)
    clock.at(datetime(2026, 11, 10, 10, 0, tzinfo=NY))
    return e, clock


# --- figures ------------------------------------------------------------------------------------


def test_report_numbers_equal_the_ledgers_exactly(seeded, config):
    e, clock = seeded
    report = build_report(config, e.redis, "current", clock)
    data = report.to_json()

    assert data["month"] == "2026-11" and data["state"] == "current" and data["days_elapsed"] == 10
    org = data["org"]
    assert org["spend_usd"] == 0.0566
    assert org["budget_usd"] == 800.0
    assert org["pct"] == pytest.approx(0.0566 / 800 * 100)
    assert org["remaining_usd"] == 799.9434
    assert org["reserve_state"] == "normal"
    assert org["calls"] == 7 and org["blocked"] == 2 and org["blocked_unknown_workflow"] == 1

    ci, dev = data["workflows"]["ci_cd_review"], data["workflows"]["dev_assistant"]
    assert set(ci) >= WORKFLOW_KEYS and set(dev) >= WORKFLOW_KEYS
    assert ci["monthly_spend"] == 0.012 and ci["monthly_limit"] == 200.0
    assert ci["daily_spend"] == 0.009 and ci["daily_limit"] == 7.0 and ci["daily_basis"] == "today"
    assert ci["calls"] == 4 and ci["tasks"] == 4 and ci["avg_cost_per_task"] == 0.003
    assert ci["tokens"] == {"input": 4000, "output": 800, "cache_write": 3200, "cache_read": 0, "cache_write_1h": 0}
    assert ci["models"] == {HAIKU: {"calls": 4, "spend_usd": 0.012, "share_pct": 100.0}}
    assert ci["blocked"] == {} and ci["failed"] == 0
    assert ci["daily_spend_by_day"][1] == 0.003 and ci["daily_spend_by_day"][9] == 0.009

    assert dev["monthly_spend"] == 0.0446 and dev["daily_spend"] == 0.0446
    assert dev["calls"] == 3 and dev["sessions"] == 1 and dev["failed"] == 1
    assert dev["blocked"] == {"loop_step_limit_exceeded": 1}
    assert dev["tokens"] == {"input": 5000, "output": 2200, "cache_write": 0, "cache_read": 2000, "cache_write_1h": 0}
    assert dev["cache_hit_pct"] == pytest.approx(2000 * 100 / 7000)
    assert dev["models"][SONNET]["spend_usd"] == 0.0426
    assert dev["models"][SONNET]["share_pct"] == pytest.approx(426 / 446 * 100)
    assert list(dev["models"]) == [SONNET, HAIKU]  # most spend first
    assert dev["avg_cost_per_task"] == 0.0446

    # The same figures the enforcer itself reports, and the stats hash agrees with the counters.
    snap = e.status_snapshot()
    assert org["spend_usd"] == snap["org"]["spend"]
    for wid, status in snap["workflows"].items():
        assert data["workflows"][wid]["monthly_spend"] == status["monthly_spend"]
        assert data["workflows"][wid]["daily_spend"] == status["daily_spend"]
        assert data["workflows"][wid]["health"] == status["health"]
    assert sum(w.stats_cost_nano for w in report.workflows) == report.org.spend_nano


def test_estimate_and_forecast_come_from_the_shared_modules(seeded, config):
    e, clock = seeded
    report = build_report(config, e.redis, "current", clock)
    estimate = {w.workflow_id: w for w in build_estimate(config).workflows}
    for wf in report.workflows:
        assert wf.estimate_nano == estimate[wf.id].cost_nano
        assert wf.estimate_to_date_nano == estimate[wf.id].cost_nano * 10 // 30
    expected = project_month(56_600_000, config.org_monthly_nano, date(2026, 11, 10), {2: 3_000_000, 10: 53_600_000})
    assert report.org.forecast_nano == expected.projected_nano == 169_800_000
    assert report.to_json()["org"]["forecast_usd"] == 0.1698
    assert report.workflow("ci_cd_review").forecast_nano == 12_000_000 * 30 // 10


LAB_ROI_ROLES = {"engineer": (180, 90, 16_200), "qa": (90, 70, 6_300), "pm": (40, 100, 4_000)}


def seed_every_workflow(e: BudgetEnforcer, clock: Clock) -> int:
    """One call in each of the four workflows on 14 October 2026; returns the month's spend in nano-USD."""
    clock.at(datetime(2026, 10, 14, 11, tzinfo=NY))
    _call(e, "ci_cd_review", HAIKU, 4000, 600)  # $0.007
    _call(e, "dev_assistant", SONNET, 2000, 1000, session_id="d1")  # $0.021
    _call(e, "qa_test_gen", SONNET, 2000, 3000)  # $0.051
    _call(e, "pm_assistant", HAIKU, 500, 300, session_id="p1")  # $0.002
    return 81_000_000


def test_roi_reproduces_the_labs_block_for_a_month_every_workflow_ran(config, redis_url):
    clock = Clock(datetime(2026, 10, 1, 12, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    spend = seed_every_workflow(e, clock)
    clock.at(datetime(2026, 11, 1, 0, 30, tzinfo=NY))  # the 1st: the monthly report of the month that ended
    report = build_report(config, e.redis, "previous", clock)
    roi = report.to_json()["roi"]
    assert roi["basis"] == "monthly_hours" and roi["prorated_days"] is None
    assert roi["value_usd"] == roi["month_value_usd"] == 26_500.0  # $16,200 + $6,300 + $4,000
    assert roi["spend_usd"] == spend / 1e9 == report.org.spend_nano / 1e9
    assert roi["net_usd"] == 26_500 - spend / 1e9
    assert roi["net_roi_pct"] == pytest.approx((26_500 - spend / 1e9) / (spend / 1e9) * 100)
    assert roi["multiple"] == pytest.approx(26_500 / (spend / 1e9))
    assert roi["hours_saved"] == 310.0
    for role, (hours, rate, value) in LAB_ROI_ROLES.items():
        line = roi["roles"][role]
        assert (line["hours_saved_per_month"], line["hourly_rate_usd"], line["value_usd"]) == (hours, rate, value)
        assert line["month_value_usd"] == value and line["workflows_ran"] is True
    assert roi["roles"]["engineer"]["workflows"] == ["ci_cd_review", "dev_assistant"]
    assert roi["roles"]["engineer"]["spend_usd"] == 0.028 and roi["roles"]["qa"]["spend_usd"] == 0.051
    assert "fixed monthly hours (roi.basis: monthly_hours)" in roi["basis_note"] and "$26,500.00/month" in roi["basis_note"]


def test_roi_in_every_format_says_its_basis_and_shows_the_multiple(config, redis_url):
    from acme_ci_budget.report.render import render_html, render_markdown, render_text

    clock = Clock(datetime(2026, 10, 1, 12, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    spend = seed_every_workflow(e, clock)
    clock.at(datetime(2026, 11, 1, 0, 30, tzinfo=NY))
    report = build_report(config, e.redis, "previous", clock)
    multiple = f"x{26_500 / (spend / 1e9):,.0f}"  # $26,500 against $0.081: x327,160
    assert multiple == "x327,160"
    text = render_text(report)
    # the multiple first, its basis stated; one rounding (whole percent) for the net ROI in every format
    assert f"ROI: {multiple} the spend (value / AI spend); basis: fixed monthly hours (roi.basis: monthly_hours)" in text
    engineer = next(line for line in text.splitlines() if line.strip().startswith("engineer"))
    assert engineer.split()[-5:] == ["180.0", "$90", "$16,200.00", "$16,200.00", "$0.03"]
    net = f"{report.roi.net_roi_pct:,.0f}%"
    assert f"Value created: $26,500.00   AI spend: $0.08   Net: $26,499.92   ROI: {multiple} the spend (net {net})" in text
    md = render_markdown(report)
    assert "_basis: fixed monthly hours (roi.basis: monthly\\_hours)" in md
    assert "| qa | qa\\_test\\_gen | 90.0 | $70 | $6,300.00 | $6,300.00 | $0.05 |" in md
    assert f"**{multiple} the spend** (net ROI {net})" in md
    # the same columns in the text, Markdown and HTML tables (issue 15 item 10)
    columns = ["Role", "Workflows", "Hours/month", "Rate/h", "Value/month", "Value", "AI spend"]
    header = next(line for line in text.splitlines() if line.strip().startswith("Role"))
    assert [c.strip() for c in re.split(r"\s{2,}", header.strip())] == columns
    assert "| " + " | ".join(columns) + " |" in md
    slack = render_markdown(report, "slack")
    assert "• pm: 40.0 h/month × $100/h = $4,000.00/month" in slack and f"*{multiple} the spend*" in slack
    html = render_html(report)
    assert "Basis: fixed monthly hours (roi.basis: monthly_hours)" in html
    assert f'<div class="label">ROI multiple</div><div class="value">{multiple}</div>' in html
    assert "".join(f'<th scope="col">{c}</th>' for c in columns) in html
    assert f"net ROI {net}" in html
    assert "Value and spend per role" in html


def test_roi_of_a_month_in_progress_counts_the_days_so_far_and_only_roles_that_ran(seeded, config):
    e, clock = seeded  # day 10 of November's 30; only the review and the dev assistant ran
    roi = build_report(config, e.redis, "current", clock).to_json()["roi"]
    assert roi["prorated_days"] == [10, 30] and roi["month_value_usd"] == 26_500.0
    assert roi["roles"]["engineer"]["value_usd"] == 5_400.0  # 180 h x $90 x 10/30
    assert roi["roles"]["engineer"]["hours_saved"] == 60.0
    assert roi["roles"]["qa"]["value_usd"] == 0.0 and roi["roles"]["qa"]["workflows_ran"] is False
    assert roi["roles"]["pm"]["value_usd"] == 0.0
    assert roi["value_usd"] == 5_400.0 and roi["spend_usd"] == 0.0566
    assert roi["net_roi_pct"] == pytest.approx((5_400 - 0.0566) / 0.0566 * 100)
    assert "counted for day 10 of 30 so far" in roi["basis_note"]
    assert "no hours for pm, qa: their workflows did not run" in roi["basis_note"]  # make_config sorts keys


def test_roi_per_task_basis_grows_with_use(seeded, make_config):
    e, clock = seeded
    per_task = {
        "basis": "per_task",
        "roles": {"engineer": {"hourly_rate_usd": 95}, "qa": {"hourly_rate_usd": 70}, "pm": {"hourly_rate_usd": 85}},
        "workflows": {
            "ci_cd_review": {"role": "engineer", "hours_saved_per_task": 0.25},
            "dev_assistant": {"role": "engineer", "hours_saved_per_task": 0.5},
            "qa_test_gen": {"role": "qa", "hours_saved_per_task": 2.0},
            "pm_assistant": {"role": "pm", "hours_saved_per_task": 0.75},
        },
    }
    config = make_config({"pricing": PRICES, "roi": per_task}, namespace="rpt")
    report = build_report(config, e.redis, "current", clock)
    roi = report.to_json()["roi"]
    # ci: 4 tasks x 0.25 h x $95; dev: 1 session x 0.5 h x $95; nothing else ran.
    assert roi["basis"] == "per_task" and roi["prorated_days"] is None
    assert roi["value_usd"] == 142.5
    assert roi["spend_usd"] == 0.0566
    assert roi["net_roi_pct"] == pytest.approx((142.5 - 0.0566) / 0.0566 * 100)
    assert roi["multiple"] == pytest.approx(142.5 / 0.0566)
    assert roi["workflows"]["ci_cd_review"]["tasks"] == 4 and roi["workflows"]["ci_cd_review"]["value_usd"] == 95.0
    assert "roles" not in roi
    assert roi["basis_note"].startswith("per task (roi.basis: per_task)")
    from acme_ci_budget.report.render import render_text

    text = render_text(report)
    assert "ROI: x2,518 the spend (value / AI spend); basis: per task (roi.basis: per_task)" in text
    header = next(line for line in text.splitlines() if line.strip().startswith("Workflow") and "Role" in line)
    assert header.split() == ["Workflow", "Role", "Tasks", "Hours", "saved", "Rate/h", "Value", "AI", "spend"]

    per_task["roles"]["engineer"]["hourly_rate_usd"] = 200
    richer = make_config({"pricing": PRICES, "roi": per_task}, namespace="rpt")
    assert build_report(richer, e.redis, "current", clock).to_json()["roi"]["value_usd"] == 300.0


def test_no_roi_section_means_no_roi(seeded):
    e, clock = seeded
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    del raw["roi"]
    raw.update(namespace="rpt", pricing=PRICES)
    from acme_ci_budget.config import parse_config

    no_roi = parse_config(yaml.safe_dump(raw), "no-roi.yml")
    report = build_report(no_roi, e.redis, "current", clock)
    assert report.roi is None and report.to_json()["roi"] is None


def test_roi_multiple_format():
    from acme_ci_budget.budget.roi import fmt_multiple

    assert [fmt_multiple(m) for m in (50.0, 3354.2, 9.96, 2.54, 0.5, None)] == ["x50", "x3,354", "x10.0", "x2.5", "x0.5", "n/a"]


# --- which month --------------------------------------------------------------------------------


def test_previous_on_the_first_at_0030_reports_the_month_that_just_ended(seeded, config):
    e, clock = seeded
    clock.at(datetime(2026, 12, 1, 0, 30, tzinfo=NY))  # 05:30 UTC: already December in New York
    report = build_report(config, e.redis, "previous", clock)
    assert report.month == "2026-11" and report.state == "complete" and report.days_elapsed == 30
    data = report.to_json()
    assert data["org"]["spend_usd"] == 0.0566 and data["org"]["forecast_usd"] is None
    ci = data["workflows"]["ci_cd_review"]
    # A finished month reports its peak day against the daily limit.
    assert ci["daily_basis"] == "peak_day" and ci["peak_day"] == 10 and ci["daily_spend"] == 0.009
    assert build_report(config, e.redis, "current", clock).month == "2026-12"


def test_month_boundaries_follow_the_configured_timezone():
    late_utc = datetime(2026, 12, 1, 4, 30, tzinfo=UTC)  # still 30 November, 23:30, in New York
    assert resolve_month("current", late_utc, NY) == "2026-11"
    assert resolve_month("previous", late_utc, NY) == "2026-10"
    assert resolve_month("previous", late_utc, UTC) == "2026-11"
    assert resolve_month("previous", datetime(2027, 1, 1, 0, 30, tzinfo=NY), NY) == "2026-12"
    assert resolve_month(" 2026-02 ", late_utc, NY) == "2026-02"
    for bad in ("2026-13", "2026-1", "last", "11/2026"):
        with pytest.raises(ReportError, match="YYYY-MM"):
            resolve_month(bad, late_utc, NY)


def test_empty_month_reports_zeros_and_no_ratios(seeded, config):
    e, clock = seeded
    report = build_report(config, e.redis, "2026-10", clock)
    data = report.to_json()
    assert report.state == "complete" and not report.has_activity
    assert data["org"]["spend_usd"] == 0.0 and data["org"]["remaining_usd"] == 800.0 and data["org"]["calls"] == 0
    for wf in data["workflows"].values():
        assert wf["monthly_spend"] == 0.0 and wf["calls"] == 0 and wf["blocked"] == {} and wf["models"] == {}
        assert wf["cache_hit_pct"] is None and wf["avg_cost_per_task"] is None and wf["peak_day"] is None
        assert wf["health"] == "OK"
    assert data["roi"]["value_usd"] == 0.0 and data["roi"]["net_roi_pct"] is None
    # nothing ran at all: one empty state, no "lower the budget to twice the use" of $0 (issue 15 item 8)
    assert data["has_activity"] is False and data["opportunities"] == []

    future = build_report(config, e.redis, "2027-03", clock)
    assert future.state == "future" and future.days_elapsed == 0
    assert all(w.daily_basis == "none" for w in future.workflows)


def test_a_month_with_blocked_requests_and_unhealthy_workflows(make_config, redis_url):
    config = make_config(
        {
            "pricing": PRICES,
            "workflows": {
                "pm_assistant": {"monthly_usd": 0.01, "daily_usd": 0.01},
                "qa_test_gen": {"monthly_usd": 0.01, "daily_usd": 0.01},
            },
        },
        namespace="blk",
    )
    clock = Clock(datetime(2026, 11, 5, 15, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    # pm: a $0.006 hold, then $0.011 actually spent (recorded though above the hold): the month is gone.
    res = e.reserve("pm_assistant", HAIKU, 1000, 1000)
    e.settle(res, 1000, 2000)
    for _ in range(3):
        assert e.reserve("pm_assistant", HAIKU, 1000, 1000).reason == "monthly_limit_exceeded"
    _call(e, "qa_test_gen", SONNET, 500, 466)  # $0.00849: 84.9% of both its limits
    report = build_report(config, e.redis, "current", clock)
    data = report.to_json()
    pm, qa = data["workflows"]["pm_assistant"], data["workflows"]["qa_test_gen"]
    assert pm["blocked"] == {"monthly_limit_exceeded": 3} and pm["blocked_total"] == 3
    assert pm["monthly_spend"] == 0.011 and pm["monthly_pct"] == pytest.approx(110.0)
    assert pm["health"] == "CRIT" and data["workflows"]["ci_cd_review"]["health"] == "OK"
    # 84.9% spent was WARN; the $0.0015 left is less than one worst-case qa call, so the next one is refused: CRIT.
    assert qa["health"] == "CRIT"
    assert data["org"]["blocked"] == 3
    kinds = [(o["workflow"], o["kind"]) for o in data["opportunities"]]
    assert kinds[0] == ("pm_assistant", "monthly_limit_binding")  # the most urgent first


def test_a_workflow_no_longer_in_the_config_still_counts(make_config, redis_url):
    legacy = {
        "label": "Release notes",
        "monthly_usd": 10,
        "daily_usd": 1,
        "per_task_tokens": {"soft": 1000, "hard": 9000},
        "per_session_tokens": {"soft": 1000, "hard": 9000},
        "routing": {"default_model": HAIKU},
    }
    # the lab's four budgets take the whole $800: the legacy one needs room above it
    old = make_config({"pricing": PRICES, "org": {"monthly_usd": 810}, "workflows": {"legacy_bot": legacy}}, namespace="old")
    clock = Clock(datetime(2026, 11, 5, 15, tzinfo=UTC))
    _call(_enforcer(old, redis_url, clock), "legacy_bot", HAIKU, 1000, 200)  # $0.002
    new = make_config({"pricing": PRICES}, namespace="old")
    report = build_report(new, redis_lib.Redis.from_url(redis_url), "current", clock)
    legacy_report = report.workflow("legacy_bot")
    assert not legacy_report.in_config and legacy_report.monthly_spend_nano == 2_000_000
    assert report.org.spend_nano == 2_000_000
    assert ("legacy_bot", "not_in_config") in [(o.workflow_id, o.kind) for o in report.opportunities]


# --- optimization rules -------------------------------------------------------------------------


def test_rules_flag_complex_model_share_on_common_keywords_and_a_cold_cache(config, redis_url):
    clock = Clock(datetime(2026, 11, 10, 15, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    for s in range(8):  # 8 sessions x 3 turns, mostly Sonnet, the prompt written every turn and never read
        for t in range(3):
            model = HAIKU if t == 2 and s % 2 else SONNET
            _call(e, "dev_assistant", model, 1500, 300, cw=600, session_id=f"s{s}", loop_step=t + 1)
    for _ in range(25):  # single-call reviews on Haiku: nothing for the cache or the router to gain
        _call(e, "ci_cd_review", HAIKU, 2000, 300, cw=800)
    opps = {(o.workflow_id, o.kind): o for o in build_report(config, e.redis, "current", clock).opportunities}
    share = opps[("dev_assistant", "complex_model_share")]
    # of the lab's keywords (architect, design, system, performance, security) only "design" is a common word
    assert "common words (design)" in share.detail and "%" in share.title
    cache = opps[("dev_assistant", "low_cache_hit")]
    assert "0%" in cache.title and "3.0 calls per session" in cache.title
    # the lab's 600-token dev prompt can never be cached on Haiku: the advice says so, not "check cache_control"
    assert f"below {HAIKU}'s {min_cacheable_tokens(HAIKU):,}-token cache minimum" in cache.detail
    assert ("ci_cd_review", "low_cache_hit") not in opps
    assert ("ci_cd_review", "complex_model_share") not in opps


def test_rules_flag_a_daily_limit_binding_most_days_and_a_budget_far_above_use(make_config, redis_url):
    config = make_config(
        {"pricing": PRICES, "workflows": {"pm_assistant": {"daily_usd": 0.01, "monthly_usd": 0.31}}}, namespace="bind"
    )
    clock = Clock(datetime(2026, 10, 1, 15, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    for day in range(1, 21):  # $0.0095 a day: 95% of the daily limit on 20 of October's 31 days
        clock.at(datetime(2026, 10, day, 11, tzinfo=NY))
        _call(e, "pm_assistant", HAIKU, 1000, 1700)
    clock.at(datetime(2026, 11, 1, 0, 30, tzinfo=NY))
    report = build_report(config, e.redis, "previous", clock)
    assert report.month == "2026-10"
    pm = report.workflow("pm_assistant")
    assert pm.days_near_limit == 20 and pm.peak_day_nano == 9_500_000
    opps = {(o.workflow_id, o.kind): o for o in report.opportunities}
    assert "20 of 31 days" in opps[("pm_assistant", "daily_limit_binding")].title
    assert ("qa_test_gen", "budget_slack") in opps and ("pm_assistant", "budget_slack") not in opps


# --- performance shape --------------------------------------------------------------------------


class CountingConnection(redis_lib.Connection):
    """Counts what goes over the wire: one ``send_packed_command`` per round trip."""

    sends = 0

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sends += 1
        return super().send_packed_command(command, check_health)


def test_build_report_reads_in_one_round_trip_without_scanning_events(seeded, config, redis_url, redis_client):
    _, clock = seeded
    pool = redis_lib.ConnectionPool.from_url(redis_url, connection_class=CountingConnection)
    counting = redis_lib.Redis(connection_pool=pool)
    counting.ping()
    redis_client.config_resetstat()
    CountingConnection.sends = 0
    build_report(config, counting, "current", clock)
    assert CountingConnection.sends == 1
    used = {name.removeprefix("cmdstat_") for name in redis_client.info("commandstats")}
    assert "hgetall" in used
    assert not {"xrange", "xrevrange", "xread", "scan", "keys", "hscan", "evalsha", "eval"} & used
    pool.disconnect()


@pytest.mark.cluster
def test_report_on_a_redis_cluster(config, redis_cluster_url):
    from acme_ci_budget.ledger.store import connect

    clock = Clock(datetime(2026, 11, 1, 12, tzinfo=UTC))
    e = _enforcer(config, redis_cluster_url, clock)
    seed_known_month(e, clock)
    clock.at(datetime(2026, 11, 10, 10, 0, tzinfo=NY))
    data = build_report(config, connect(redis_cluster_url), "current", clock).to_json()
    assert data["org"]["spend_usd"] == 0.0566 and data["workflows"]["dev_assistant"]["monthly_spend"] == 0.0446


# --- the CLI ------------------------------------------------------------------------------------

WEBHOOK = "https://hooks.slack.com/services/T000/B000/sekrit-webhook-token"


@pytest.fixture
def cli(monkeypatch):
    """``main`` with the report command registered (the lead adds it to COMMANDS for real)."""
    monkeypatch.setitem(cli_module.COMMANDS, "report", ("report", "report", "Monthly budget and ROI report."))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    for name in ("ACB_MONTH", "ACB_REPORT_FORMAT", "ACB_POST_SLACK", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)

    def run(*args: str) -> int:
        try:
            cli_module.main(list(args))
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return run


@pytest.fixture
def cli_config(tmp_path, redis_url):
    """A config file (namespace 'rcli', round prices, a Slack webhook) and March 2026 seeded in Redis."""
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw.update(namespace="rcli", pricing=PRICES)
    raw["alerts"]["slack_webhook_url"] = WEBHOOK
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    from acme_ci_budget.config import load_config

    config = load_config(path)
    clock = Clock(datetime(2026, 3, 3, 15, tzinfo=UTC))
    e = _enforcer(config, redis_url, clock)
    for _ in range(2):
        _call(e, "ci_cd_review", HAIKU, 1000, 200, cw=800)
    return path, config


def test_cli_json_matches_the_model(cli, cli_config, redis_url, capsys):
    path, config = cli_config
    assert cli("report", "--config", str(path), "--redis-url", redis_url, "--month", "2026-03", "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["month"] == "2026-03" and data["state"] == "complete"
    assert data["org"]["spend_usd"] == 0.006 and data["workflows"]["ci_cd_review"]["calls"] == 2
    expected = build_report(config, redis_lib.Redis.from_url(redis_url), "2026-03", savings=True, previous=True)
    expected = expected.to_json()
    assert {k: v for k, v in data.items() if k != "generated_at"} == {
        k: v for k, v in expected.items() if k != "generated_at"
    }


def test_cli_reads_the_actions_env_and_writes_outputs(cli, cli_config, redis_url, tmp_path, monkeypatch, capsys):
    path, _ = cli_config
    out, summary, runner_temp = tmp_path / "out.txt", tmp_path / "summary.md", tmp_path / "runner"
    runner_temp.mkdir()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("RUNNER_TEMP", str(runner_temp))
    monkeypatch.setenv("ACB_MONTH", "2026-03")
    monkeypatch.setenv("ACB_REPORT_FORMAT", "html")
    monkeypatch.setenv("ACB_POST_SLACK", "")  # the action passes empty inputs through: means "default"
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ACME_BUDGET_CONFIG", str(path))
    assert cli("report") == 0
    written = runner_temp / "acme-budget-report-2026-03.html"
    assert written.read_text().startswith("<!doctype html>")
    assert f"report-path={written}" in out.read_text()
    assert (
        "AI budget and ROI report: March 2026" in summary.read_text() and "| CI/CD code review |" in summary.read_text()
    )
    assert "<!doctype" not in capsys.readouterr().out  # the page went to the file, not the log


def test_cli_output_file_and_text_format(cli, cli_config, redis_url, tmp_path, capsys):
    path, _ = cli_config
    target = tmp_path / "nested" / "report.txt"
    assert cli("report", "--config", str(path), "--redis-url", redis_url, "--month", "2026-03", "-o", str(target)) == 0
    text = target.read_text()
    assert "[OK]   CI/CD code review" in text and "$0.01 / $200.00" in text
    assert "wrote the 2026-03 report (text)" in capsys.readouterr().err


@responses.activate
def test_cli_posts_markdown_to_slack_with_the_artifact_link(cli, cli_config, redis_url, tmp_path, monkeypatch, capsys):
    path, _ = cli_config
    responses.add(responses.POST, WEBHOOK, body="ok", status=200)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/platform")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    code = cli(
        "report",
        "--config",
        str(path),
        "--redis-url",
        redis_url,
        "--month",
        "2026-03",
        "--format",
        "html",
        "--post-slack",
    )
    assert code == 0
    assert len(responses.calls) == 1
    payload = json.loads(responses.calls[0].request.body)
    text = "\n".join(b["text"]["text"] for b in payload["blocks"] if b["type"] == "section")
    assert "*AI budget and ROI report: March 2026*" in text and "🟢 *CI/CD code review*" in text
    assert "|---" not in text and "**" not in text  # Slack mrkdwn: no Markdown tables or double stars
    assert "https://github.com/acme/platform/actions/runs/4242" in payload["blocks"][-1]["elements"][0]["text"]
    captured = capsys.readouterr()
    assert WEBHOOK not in captured.out + captured.err and "sekrit" not in captured.out + captured.err


@responses.activate
def test_cli_slack_failure_is_one_line_without_the_webhook(cli, cli_config, redis_url, capsys):
    path, _ = cli_config
    responses.add(responses.POST, WEBHOOK, body="invalid_blocks", status=400)
    code = cli("report", "--config", str(path), "--redis-url", redis_url, "--month", "2026-03", "--post-slack")
    err = capsys.readouterr().err
    assert code == 2
    assert "Slack webhook answered HTTP 400 (invalid_blocks)" in err and "sekrit" not in err
    assert "Traceback" not in err


def test_cli_errors_are_one_line_and_exit_2(cli, cli_config, redis_url, fresh_redis, capsys, monkeypatch):
    path, _ = cli_config
    assert cli("report", "--config", str(path), "--redis-url", redis_url, "--month", "2026-13") == 2
    assert "YYYY-MM" in capsys.readouterr().err

    raw = yaml.safe_load(path.read_text())
    raw["alerts"]["slack_webhook_url"] = None
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    assert cli("report", "--config", str(path), "--redis-url", redis_url, "--post-slack") == 2
    assert "alerts.slack_webhook_url" in capsys.readouterr().err

    server = fresh_redis(password="hunter2-secret")
    url = server.url
    server.stop()
    assert cli("report", "--config", str(path), "--redis-url", url) == 2
    err = capsys.readouterr().err
    assert "cannot read the budget ledger" in err and "hunter2-secret" not in err and "Traceback" not in err


def _settle_tokens(e: BudgetEnforcer, wf: str, model: str, tokens: tuple[int, int, int, int]) -> None:
    res = e.reserve(wf, model, 2_000, 500)
    e.settle(res, *tokens, latency_ms=10, model=model)


def test_the_report_does_not_read_tokens_by_model_as_workflows(redis_url, redis_client, default_config) -> None:
    """Settle also counts tokens per workflow and model (``tok_in|wf|model``, for ``metrics``)."""
    enforcer = BudgetEnforcer(default_config, redis=redis_client)
    _settle_tokens(enforcer, "dev_assistant", HAIKU, (100, 20, 30, 400))
    report = build_report(default_config, redis_client, clock=enforcer.now)
    ids = [wf.id for wf in report.workflows]
    assert sorted(ids) == sorted(default_config.workflows)
    dev = next(wf for wf in report.workflows if wf.id == "dev_assistant")
    assert dev.tokens["input"] == 100 and dev.tokens["cache_read"] == 400
