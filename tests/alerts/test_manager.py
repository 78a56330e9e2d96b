"""AlertManager on a real redis-server with Slack and PagerDuty behind ``responses``.

Spend is seeded through the real BudgetEnforcer (reserve + settle) with an injected clock. A priced
test model makes amounts exact: one token costs $0.001, so $8.50 is 8,500 tokens.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
import redis as redis_lib
import requests
import responses
import yaml

from acme_ci_budget import AlertManager
from acme_ci_budget.alerts.manager import (
    BLOCKED,
    DAILY_CRITICAL,
    DAILY_WARN,
    EVENT_TYPE_FAILED,
    FORECAST,
    MONTHLY_CRITICAL,
    MONTHLY_WARN,
    ORG_RESERVE,
    PAGERDUTY_EVENTS_URL,
    SESSION_SOFT,
    AlertError,
    slack_payload,
)
from acme_ci_budget.budget.health import worst_call_nano
from acme_ci_budget.ledger.enforcer import DAILY, LOOP_STEPS, BudgetEnforcer
from tests.clock import Clock
from tests.fakes.pagerduty_events import FakePagerDutyEvents
from tests.fakes.slack_webhook import ERRORS, RATE_LIMITED, FakeSlackWebhook
from tests.redis_harness import free_port

MODEL = "acb-test-model"
SLACK_TOKEN = "s3cr3tW3bh00kT0kenXYZ"
SLACK_URL = f"https://hooks.slack.com/services/T0ACME/B0BUDGET/{SLACK_TOKEN}"
PD_KEY = "R0UTINGKEYR0UTINGKEYR0UTINGKEY42"
SECRETS = (SLACK_URL, SLACK_TOKEN, PD_KEY)
START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 10:00 on Nov 10 in New York


def settings(min_level: str = "CRITICAL", **extra) -> dict:
    return {
        "namespace": "alerts-test",
        "pricing": {MODEL: {"input": 1000, "output": 1000}},
        # the amounts below are written against these daily limits, not against whatever the shipped config says
        "workflows": {"ci_cd_review": {"daily_usd": 10}, "pm_assistant": {"daily_usd": 5}},
        "alerts": {"slack_webhook_url": SLACK_URL, "pagerduty_routing_key": PD_KEY, "min_level": min_level, **extra},
    }


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def config(make_config):
    return make_config(settings())


@pytest.fixture
def enforcer(config, redis_url, clock):
    return BudgetEnforcer(config, redis_url=redis_url, clock=clock)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def manager(config, enforcer, sleeps):
    return AlertManager(config, enforcer=enforcer, sleep=sleeps.append)


@pytest.fixture
def http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.POST, SLACK_URL, body="ok", status=200)
        mock.add(responses.POST, PAGERDUTY_EVENTS_URL, json={"status": "success"}, status=202)
        yield mock


def spend(enforcer: BudgetEnforcer, workflow: str, usd: str, session_id: str | None = None):
    """Reserve and settle exactly ``usd`` of the test model through the real ledger."""
    tokens = int(Decimal(usd) * 1000)
    inp = tokens // 2
    res = enforcer.reserve(workflow, MODEL, inp, tokens - inp, session_id=session_id)
    assert res.allowed, res.reason
    return enforcer.settle(res, inp, tokens - inp)


def posts(mock: responses.RequestsMock, url: str) -> list[dict]:
    return [json.loads(c.request.body) for c in mock.calls if c.request.url == url]


def events_of(enforcer: BudgetEnforcer, kind: str) -> list[dict]:
    out = []
    for _id, fields in enforcer.redis.xrange(enforcer.keys.events()):
        ev = {k.decode(): v.decode() for k, v in fields.items()}
        if ev["type"] == kind:
            out.append(ev)
    return out


def conditions(alerts) -> set[tuple[str, str | None]]:
    return {(a.condition, a.workflow_id) for a in alerts}


# --- payload shapes -----------------------------------------------------------------------------


def test_warning_goes_to_slack_as_block_kit_with_spend_percentage_and_period(manager, enforcer, http):
    spend(enforcer, "ci_cd_review", "8.50")  # daily limit $10: 85%
    fired = manager.check("ci_cd_review")

    assert conditions(fired) == {(DAILY_WARN, "ci_cd_review")}
    (alert,) = fired
    assert alert.level == "WARNING" and alert.period == "2026-11-10"
    assert alert.spent_nano == 8_500_000_000 and alert.limit_nano == 10_000_000_000
    assert alert.delivered_to == ("log", "slack") and alert.failed == ()
    assert posts(http, PAGERDUTY_EVENTS_URL) == []

    (body,) = posts(http, SLACK_URL)
    assert body["text"].startswith("WARNING: CI/CD code review (ci_cd_review): daily spend $8.50 of $10.00 (85%)")
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "section"]  # header, message, fields, forecast
    assert body["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "WARNING: daily warn (ci_cd_review)",
        "emoji": True,
    }
    fields = [f["text"] for f in body["blocks"][2]["fields"]]
    assert fields == [
        "*Workflow*\nci_cd_review",
        "*Period*\n2026-11-10",
        "*Spend / limit*\n$8.50 / $10.00",
        "*Percentage*\n85%",
    ]
    assert all(f["type"] == "mrkdwn" for f in body["blocks"][2]["fields"])
    # the month so far ($8.50 in 10 days) heads for $25.50 of $200
    assert body["blocks"][3]["text"]["text"] == (
        "*Forecast*\nMonth-end forecast $25.50 of $200.00 (12.7%) at $0.85/day; on track to stay within budget"
    )


def test_critical_pages_with_a_stable_dedup_key_and_resolves_when_the_next_period_starts(
    manager, enforcer, clock, http
):
    spend(enforcer, "ci_cd_review", "10.00")  # 100% of the daily limit: warn and critical at once
    fired = manager.check()

    # only the critical is sent; the warn it supersedes is claimed so it cannot fire later today
    assert conditions(fired) == {(DAILY_CRITICAL, "ci_cd_review")}
    assert fired[0].delivered_to == ("log", "slack", "pagerduty")
    assert len(posts(http, SLACK_URL)) == 1
    (trigger,) = posts(http, PAGERDUTY_EVENTS_URL)
    dedup = "acme-ci-budget/alerts-test/daily_critical/ci_cd_review/2026-11-10"
    assert trigger["routing_key"] == PD_KEY
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == dedup == fired[0].dedup_key
    payload = trigger["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "acme-ci-budget/alerts-test"
    assert payload["component"] == "ci_cd_review" and payload["class"] == DAILY_CRITICAL
    assert payload["timestamp"] == "2026-11-10T15:00:00Z"
    assert payload["summary"].startswith("CI/CD code review (ci_cd_review): daily spend $10.00 of $10.00 (100%)")
    assert "requests are refused until tomorrow" in payload["summary"]
    assert payload["custom_details"]["spend"] == "$10.00" and payload["custom_details"]["percent"] == "100%"

    assert manager.check() == []  # same day: nothing new, no resolve
    assert len(posts(http, PAGERDUTY_EVENTS_URL)) == 1

    clock.advance(days=1)  # Nov 11 starts at $0, under the threshold
    resolved = manager.check()
    assert [a.condition for a in resolved] == ["daily_critical_resolved"]
    assert resolved[0].delivered_to == ("log", "pagerduty")
    last = posts(http, PAGERDUTY_EVENTS_URL)[-1]
    assert last == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": dedup}

    assert manager.check() == []  # resolved once, not on every later check
    assert AlertManager(manager.config, enforcer=enforcer).check() == []  # nor by another process
    assert len(posts(http, PAGERDUTY_EVENTS_URL)) == 2


def test_monthly_and_org_thresholds_and_the_org_reserve(make_config, redis_url, clock, http):
    cfg = make_config(
        settings(),
        org={"monthly_usd": 20, "reserve_pct": 0.25},
        workflows={
            wf: {"monthly_usd": 5, "daily_usd": 5}
            for wf in ("ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant")
        },
    )
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    manager = AlertManager(cfg, enforcer=ledger, sleep=lambda s: None)
    for wf in cfg.workflows:
        spend(ledger, wf, "3.80")  # 76% each; org $15.20 of $20 (76%), reserve threshold $15
    fired = manager.check()
    assert conditions(fired) == {(ORG_RESERVE, None), (FORECAST, None)} | {(FORECAST, wf) for wf in cfg.workflows}
    reserve = next(a for a in fired if a.condition == ORG_RESERVE)
    assert reserve.message.startswith(
        "Org entered its 25% reserve: monthly spend $15.20 of $20.00 (76%) is past $15.00"
    )

    spend(ledger, "ci_cd_review", "0.40")  # ci at 84%: daily and monthly warn; org $15.60 (78%)
    assert conditions(manager.check()) == {(DAILY_WARN, "ci_cd_review"), (MONTHLY_WARN, "ci_cd_review")}
    spend(ledger, "dev_assistant", "0.40")  # org $16.00: 80% of the org budget
    assert conditions(manager.check()) == {
        (DAILY_WARN, "dev_assistant"),
        (MONTHLY_WARN, "dev_assistant"),
        (MONTHLY_WARN, None),
    }
    spend(ledger, "ci_cd_review", "0.80")  # ci $5.00: 100% of its day and month
    fired = manager.check()
    assert conditions(fired) == {(DAILY_CRITICAL, "ci_cd_review"), (MONTHLY_CRITICAL, "ci_cd_review")}
    monthly = next(a for a in fired if a.condition == MONTHLY_CRITICAL)
    assert "requests are refused until next month" in monthly.message
    assert manager.check() == []


def test_forecast_names_the_day_the_budget_runs_out(make_config, redis_url, clock, http):
    cfg = make_config(settings(), workflows={"ci_cd_review": {"daily_usd": 20}})
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    clock.now = datetime(2026, 11, 1, 14, 0, tzinfo=UTC)
    for _ in range(10):  # $10 a day, Nov 1..10, seeded without checks
        spend(ledger, "ci_cd_review", "10.00")
        clock.advance(days=1)
    clock.now = START
    # today's $10 is in; one more on Nov 10 keeps the series honest: $100 by day 10 of 30
    fired = AlertManager(cfg, enforcer=ledger, sleep=lambda s: None).check("ci_cd_review")
    fc_alert = next(a for a in fired if a.condition == FORECAST and a.workflow_id == "ci_cd_review")
    assert fc_alert.level == "WARNING" and fc_alert.period == "2026-11"
    assert fc_alert.forecast.projected_nano == 300_000_000_000
    assert fc_alert.forecast.runs_out_on.isoformat() == "2026-11-20"
    assert fc_alert.message == (
        "CI/CD code review (ci_cd_review): month-end forecast above budget. "
        "Month-end forecast $300.00 of $200.00 (150%) at $10.00/day; the budget runs out on 2026-11-20"
    )
    (body,) = [b for b in posts(http, SLACK_URL) if "forecast above budget" in b["text"]]
    assert body["blocks"][3]["text"]["text"].endswith("the budget runs out on 2026-11-20")


def test_timezone_decides_the_day_and_the_dedup_key_expires_with_it(manager, enforcer, clock, http):
    clock.now = datetime(2026, 11, 11, 3, 0, tzinfo=UTC)  # still Nov 10 (22:00) in New York
    spend(enforcer, "ci_cd_review", "8.00")
    (alert,) = manager.check()
    assert alert.period == "2026-11-10"
    key = enforcer.keys.p + "alert:daily_warn:0.8:ci_cd_review:2026-11-10"
    # the NY day ends at 05:00 UTC: 2h from the clock, plus a day's margin
    ttl = enforcer.redis.pttl(key)
    assert 25.9 * 3600_000 < ttl <= 26 * 3600_000
    assert key.startswith("acb:{alerts-test}:")  # the namespace's hash tag: one cluster slot


# --- dedup --------------------------------------------------------------------------------------


def test_a_thousand_requests_past_a_threshold_send_exactly_one_message(manager, enforcer, config, redis_url, http):
    spend(enforcer, "ci_cd_review", "7.50")
    assert manager.check("ci_cd_review") == []
    fired = []
    for _ in range(1000):  # $0.001 each: the threshold ($8.00) is crossed by the 500th
        spend(enforcer, "ci_cd_review", "0.001")
        fired += manager.check("ci_cd_review")
    assert conditions(fired) == {(DAILY_WARN, "ci_cd_review")}
    (body,) = posts(http, SLACK_URL)
    assert "daily spend $8.00 of $10.00 (80%)" in body["text"]
    assert int(enforcer.redis.get(enforcer.keys.wf_spent_day("ci_cd_review", "2026-11-10"))) == 8_500_000_000
    # a new process (no local memory) is deduped by Redis
    other = AlertManager(config, redis=redis_lib.Redis.from_url(redis_url), clock=enforcer.clock)
    assert other.check() == []
    assert len(http.calls) == 1


def test_concurrent_processes_send_one_message(config, redis_url, clock, http):
    ledger = BudgetEnforcer(config, redis_url=redis_url, clock=clock)
    spend(ledger, "qa_test_gen", "7.00")  # daily $8: 87.5%
    managers = [
        AlertManager(config, enforcer=BudgetEnforcer(config, redis_url=redis_url, clock=clock), sleep=lambda s: None)
        for _ in range(8)
    ]
    barrier = threading.Barrier(len(managers))
    results: list = []

    def run(m: AlertManager) -> None:
        barrier.wait()
        results.extend(m.check())

    threads = [threading.Thread(target=run, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert conditions(results) == {(DAILY_WARN, "qa_test_gen")}
    assert len(results) == 1
    assert len(posts(http, SLACK_URL)) == 1


def test_blocked_requests_alert_once_per_workflow_reason_and_day(manager, enforcer, clock, http):
    spend(enforcer, "pm_assistant", "5.00")  # the daily limit ($5) is spent
    manager.check()
    http.calls.reset()
    for _ in range(3):
        assert not enforcer.reserve("pm_assistant", MODEL, 10, 10).allowed
    fired = manager.check("pm_assistant")
    assert conditions(fired) == {(BLOCKED, "pm_assistant")}
    (alert,) = fired
    assert alert.reason == DAILY and alert.level == "WARNING"
    assert (
        alert.message == "PM requirements drafting (pm_assistant): 3 requests blocked (daily_limit_exceeded) "
        "since the last check on 2026-11-10"
    )
    (body,) = posts(http, SLACK_URL)
    assert "*Reason*\ndaily_limit_exceeded" in [f["text"] for f in body["blocks"][2]["fields"]]

    enforcer.reserve("pm_assistant", MODEL, 10, 10)
    assert manager.check() == []  # more blocks today: already said
    assert manager.notify_block("pm_assistant", DAILY) is None  # the client's explicit call shares the dedup

    clock.advance(days=1)
    spend(enforcer, "pm_assistant", "5.00")
    http.calls.reset()
    alert = manager.notify_block("pm_assistant", DAILY)  # the client calls this right after a refusal
    assert alert is not None and alert.message.endswith("a request was blocked: daily_limit_exceeded on 2026-11-11")
    assert len(posts(http, SLACK_URL)) == 1


def test_the_clients_check_after_an_unknown_workflow_block_reports_it(manager, enforcer, http):
    assert enforcer.reserve("ghost_bot", MODEL, 10, 10).reason == "unknown_workflow"
    (alert,) = manager.check("ghost_bot")  # what BudgetedClient does after a refusal; no ConfigError
    assert (alert.condition, alert.workflow_id, alert.level) == (BLOCKED, "ghost_bot", "WARNING")
    assert alert.message == (
        "unknown workflow 'ghost_bot': 1 request blocked (unknown_workflow) since the last check on 2026-11-10"
    )
    assert len(posts(http, SLACK_URL)) == 1
    assert manager.check("ghost_bot") == []


def test_guard_blocks_are_info_and_never_reach_slack(manager, enforcer, http):
    alert = manager.notify_block("dev_assistant", LOOP_STEPS)
    assert alert.level == "INFO" and alert.delivered_to == ("log",)
    assert len(http.calls) == 0


def test_session_soft_limit_is_info_once_per_session(manager, http):
    first = manager.notify_session_soft_limit("dev_assistant", "sess-1", 61_000, 60_000)
    assert first.level == "INFO" and first.condition == SESSION_SOFT
    assert first.message == (
        "Developer coding assistant (dev_assistant): session sess-1 used 61,000 tokens, past its soft limit of "
        "60,000; compress or summarise the context"
    )
    assert manager.notify_session_soft_limit("dev_assistant", "sess-1", 70_000, 60_000) is None
    assert manager.notify_session_soft_limit("dev_assistant", "sess-2", 61_000, 60_000) is not None
    assert len(http.calls) == 0  # INFO: log and GitHub only


# --- rollout levels -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("min_level", "channels"),
    [("INFO", ("log",)), ("WARNING", ("log", "slack")), ("CRITICAL", ("log", "slack", "pagerduty"))],
)
def test_min_level_is_the_rollout_stage(make_config, redis_url, clock, http, min_level, channels):
    cfg = make_config(settings(min_level))
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    spend(ledger, "ci_cd_review", "10.00")
    (alert,) = AlertManager(cfg, enforcer=ledger).check()
    assert alert.level == "CRITICAL" and alert.delivered_to == channels
    assert len(posts(http, SLACK_URL)) == ("slack" in channels)
    assert len(posts(http, PAGERDUTY_EVENTS_URL)) == ("pagerduty" in channels)


def test_unconfigured_channels_are_skipped(make_config, redis_url, clock, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("PAGERDUTY_ROUTING_KEY", raising=False)
    cfg = make_config(
        {"alerts": {"min_level": "CRITICAL"}}, namespace="alerts-test", pricing={MODEL: {"input": 1000, "output": 1000}}
    )
    assert cfg.alerts.slack_webhook_url is None
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    spend(ledger, "ci_cd_review", f"{cfg.workflows['ci_cd_review'].daily_usd:.2f}")  # the whole day: critical
    with responses.RequestsMock() as mock:  # any request would fail the test
        (alert,) = AlertManager(cfg, enforcer=ledger).check()
        assert len(mock.calls) == 0
    assert alert.delivered_to == ("log",)


# --- evaluating without delivering -------------------------------------------------------------


def test_deliver_false_evaluates_and_dedups_but_sends_nothing(
    config, enforcer, sleeps, http, monkeypatch, tmp_path, capsys, caplog
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    quiet = AlertManager(config, enforcer=enforcer, sleep=sleeps.append, deliver=False)
    spend(enforcer, "ci_cd_review", "10.00")  # warn and critical at once, as a delivering manager sees them
    with caplog.at_level(logging.DEBUG, logger="acme_ci_budget.alerts"):
        fired = quiet.check()
        blocked = quiet.notify_block("dev_assistant", "daily_limit_exceeded")

    assert conditions(fired) == {(DAILY_CRITICAL, "ci_cd_review")}
    assert fired[0].level == "CRITICAL" and fired[0].spent_nano == 10_000_000_000
    assert fired[0].delivered_to == () and fired[0].failed == ()
    assert blocked is not None and blocked.condition == BLOCKED and blocked.delivered_to == ()
    assert len(http.calls) == 0  # no Slack, no PagerDuty
    assert not summary.exists() and capsys.readouterr().out == ""  # no annotation, no job summary
    assert not [r for r in caplog.records if r.getMessage().startswith("budget alert")]  # no log line

    # dedup still applies: to this manager, and to a delivering one on the same ledger
    assert quiet.check() == []
    assert quiet.notify_block("dev_assistant", "daily_limit_exceeded") is None
    assert AlertManager(config, enforcer=enforcer, sleep=sleeps.append).check() == []
    assert len(http.calls) == 0


def test_deliver_false_leaves_an_open_incident_to_a_delivering_manager(config, enforcer, clock, sleeps, http):
    loud = AlertManager(config, enforcer=enforcer, sleep=sleeps.append)
    quiet = AlertManager(config, enforcer=enforcer, sleep=sleeps.append, deliver=False)
    spend(enforcer, "ci_cd_review", "10.00")
    assert conditions(loud.check()) == {(DAILY_CRITICAL, "ci_cd_review")}
    assert len(posts(http, PAGERDUTY_EVENTS_URL)) == 1

    clock.advance(days=1)
    assert quiet.check() == []  # it would have to send the resolve to claim it
    assert len(posts(http, PAGERDUTY_EVENTS_URL)) == 1
    assert [a.condition for a in loud.check()] == ["daily_critical_resolved"]
    assert posts(http, PAGERDUTY_EVENTS_URL)[-1]["event_action"] == "resolve"


# --- GitHub Actions -----------------------------------------------------------------------------


def test_in_actions_annotations_summary_and_a_run_link(manager, enforcer, http, monkeypatch, tmp_path, capsys):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")
    spend(enforcer, "ci_cd_review", "8.00")
    spend(enforcer, "qa_test_gen", "8.00")
    fired = manager.check()
    assert conditions(fired) == {(DAILY_WARN, "ci_cd_review"), (DAILY_CRITICAL, "qa_test_gen")}
    assert all("github" in a.delivered_to for a in fired)

    # the runner decodes %25 back to %: what it shows is the message as logged
    out = capsys.readouterr().out.replace("%25", "%").splitlines()
    warning = [line for line in out if line.startswith("::warning ")]
    error = [line for line in out if line.startswith("::error ")]
    assert warning == [
        "::warning title=Budget warning%3A daily_warn::CI/CD code review (ci_cd_review): daily spend $8.00 of $10.00 "
        "(80%) on 2026-11-10 crossed the 80% warning threshold. Month-end forecast $24.00 of $200.00 (12%) at "
        "$0.80/day; on track to stay within budget"
    ]
    assert len(error) == 1 and error[0].startswith("::error title=Budget critical%3A daily_critical::QA test")
    lines = summary.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("- **WARNING** `daily_warn` ci_cd_review: CI/CD code review")

    link = "<https://github.com/acme/shop/actions/runs/4242/attempts/2|View the GitHub Actions run>"
    for body in posts(http, SLACK_URL):
        assert body["blocks"][-1] == {"type": "context", "elements": [{"type": "mrkdwn", "text": link}]}
    (trigger,) = posts(http, PAGERDUTY_EVENTS_URL)
    assert trigger["links"] == [
        {"href": "https://github.com/acme/shop/actions/runs/4242/attempts/2", "text": "GitHub Actions run"}
    ]


def test_outside_actions_nothing_is_printed(manager, enforcer, http, capsys, monkeypatch):
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    spend(enforcer, "ci_cd_review", "8.00")
    (alert,) = manager.check()
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert "github" not in alert.delivered_to
    assert "context" not in [b["type"] for b in posts(http, SLACK_URL)[0]["blocks"]]


def test_slack_text_is_escaped_and_stays_json(manager):
    from acme_ci_budget.alerts.manager import Alert

    alert = Alert(
        level="WARNING",
        condition=BLOCKED,
        workflow_id='evil"<!channel>&',
        period="2026-11-10",
        message='a "quoted" <!channel> & <https://x.example|click>\nnew line',
        reason="r",
    )
    body = slack_payload(alert)
    section = body["blocks"][1]["text"]["text"]
    mrkdwn = [body["text"], section] + [f["text"] for f in body["blocks"][2]["fields"]]
    assert all("<!channel>" not in t and "<https://x.example" not in t for t in mrkdwn)
    assert body["blocks"][0]["text"]["type"] == "plain_text"  # Slack does not parse mentions in plain_text
    assert section == ':warning: a "quoted" &lt;!channel&gt; &amp; &lt;https://x.example|click&gt;\nnew line'
    assert body["blocks"][2]["fields"][0]["text"] == '*Workflow*\nevil"&lt;!channel&gt;&amp;'


# --- failures never fail the caller -------------------------------------------------------------


def test_retry_with_backoff_then_give_up_logged_and_counted(manager, enforcer, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, body="internal_error", status=500)
        spend(enforcer, "ci_cd_review", "8.00")
        (alert,) = manager.check()
        assert len(mock.calls) == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff between the three attempts
    assert alert.delivered_to == ("log",) and alert.failed == ("slack",)
    (event,) = events_of(enforcer, EVENT_TYPE_FAILED)
    assert event["channel"] == "slack" and event["condition"] == DAILY_WARN and event["workflow"] == "ci_cd_review"
    assert event["attempts"] == "3" and event["status"] == "500" and event["reason"] == "HTTP 500 internal_error"
    assert event["outcome"] == "error" and event["cost_nano"] == "0"
    stats = enforcer.redis.hgetall(enforcer.keys.stats("2026-11"))
    assert stats[b"alert_failed|slack"] == b"1"
    assert any(
        "slack alert delivery to https://hooks.slack.com/*** failed after 3 attempts: HTTP 500" in r.getMessage()
        for r in caplog.records
    )
    # the claim stands: a Slack outage does not turn into a retry storm on every later request
    with responses.RequestsMock() as mock:
        assert manager.check() == []


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.exceptions.ConnectTimeout("timed out")},
        {"body": requests.exceptions.ConnectionError(f"Max retries exceeded with url: {SLACK_URL}")},
        {"status": 500, "body": "rollup_error"},
        {"status": 503, "body": "upstream"},
        {"status": 429, "body": "rate_limited", "headers": {"Retry-After": "2"}},
    ],
    ids=["timeout", "connection", "500", "503", "429"],
)
def test_transient_failures_are_retried_a_bounded_number_of_times(manager, enforcer, sleeps, failure):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, **failure)
        alert = manager.notify_block("ci_cd_review", DAILY)
        assert len(mock.calls) == 3
    assert alert.failed == ("slack",)
    assert len(sleeps) == 2 and all(s <= 10 for s in sleeps)
    if failure.get("status") == 429:
        assert sleeps == [2.0, 2.0]  # Retry-After within the bound is honoured as given
    assert all(secret not in json.dumps(events_of(enforcer, EVENT_TYPE_FAILED)) for secret in SECRETS)


@pytest.mark.parametrize(
    "error", ["invalid_payload", "invalid_token", "action_prohibited", "no_service", "channel_not_found", "channel_is_archived"]
)
def test_a_slack_refusal_is_not_retried_now_or_later(manager, enforcer, clock, sleeps, error):
    with responses.RequestsMock() as mock:
        slack = FakeSlackWebhook(mock, SLACK_URL)
        slack.fail_next(error)
        alert = manager.notify_block("ci_cd_review", DAILY)
        assert slack.requests == 1 and sleeps == []  # 400/403/404/410: the same message would be refused again
        assert alert.failed == ("slack",)
        (event,) = events_of(enforcer, EVENT_TYPE_FAILED)
        assert event["status"] == str(ERRORS[error]) and event["reason"] == f"HTTP {ERRORS[error]} {error}"
        assert event["attempts"] == "1"
        clock.advance(hours=1)  # long past any redelivery wait: a refusal is final for the period
        assert manager.check() == [] and manager.notify_block("ci_cd_review", DAILY) is None
        assert AlertManager(manager.config, enforcer=enforcer, sleep=sleeps.append).check() == []
        assert slack.requests == 1 and slack.messages == []


def test_a_pagerduty_invalid_event_is_not_retried(make_config, redis_url, clock, sleeps):
    cfg = make_config(settings(pagerduty_routing_key="too-short-key"))  # PagerDuty wants 32 characters
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    manager = AlertManager(cfg, enforcer=ledger, sleep=sleeps.append)
    with responses.RequestsMock() as mock:
        slack, pagerduty = FakeSlackWebhook(mock, SLACK_URL), FakePagerDutyEvents(mock)
        spend(ledger, "ci_cd_review", "10.00")
        (alert,) = manager.check()
        assert pagerduty.requests == 1 and sleeps == []
        assert alert.delivered_to == ("log", "slack") and alert.failed == ("pagerduty",)
        (event,) = events_of(ledger, EVENT_TYPE_FAILED)
        assert event["status"] == "400" and "Length of 'routing_key' is incorrect" in event["reason"]
        clock.advance(hours=1)
        assert manager.check() == []
        assert pagerduty.requests == 1 and len(slack.messages) == 1


def test_a_transient_failure_then_success_is_delivered(manager, enforcer, sleeps):
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, status=503)
        mock.add(responses.POST, SLACK_URL, body="ok", status=200)
        alert = manager.notify_block("ci_cd_review", DAILY)
        assert len(mock.calls) == 2
    assert alert.delivered_to == ("log", "slack") and sleeps == [0.5]
    assert events_of(enforcer, EVENT_TYPE_FAILED) == []


def test_a_500_from_slack_does_not_fail_the_completion(manager, enforcer):
    """The client's sequence: reserve, call, settle, then alerts; a broken Slack changes nothing before it."""
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, status=500)
        mock.add(responses.POST, PAGERDUTY_EVENTS_URL, status=500)
        settled = spend(enforcer, "ci_cd_review", "10.00")
        fired = manager.check("ci_cd_review")  # must return, not raise
        assert manager.notify_block("ci_cd_review", DAILY) is not None
    assert settled.cost_nano == 10_000_000_000 and not settled.duplicate
    assert fired[0].failed == ("slack", "pagerduty")
    assert int(enforcer.redis.get(enforcer.keys.org_spent("2026-11"))) == 10_000_000_000
    stats = enforcer.redis.hgetall(enforcer.keys.stats("2026-11"))
    assert stats[b"alert_failed|slack"] == b"2" and stats[b"alert_failed|pagerduty"] == b"1"


# --- a failed delivery is tried again, only where it failed -----------------------------------


@pytest.fixture
def services():
    """Slack and PagerDuty answering as their docs say (tests/fakes)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield FakeSlackWebhook(mock, SLACK_URL), FakePagerDutyEvents(mock, PAGERDUTY_EVENTS_URL)


def test_a_critical_page_is_not_lost_to_one_429(manager, config, enforcer, clock, sleeps, services):
    slack, pagerduty = services
    pagerduty.throttle(times=3)  # PagerDuty's 429 carries no Retry-After: backoff, then give up for now
    spend(enforcer, "ci_cd_review", "10.00")
    (first,) = manager.check()
    dedup = "acme-ci-budget/alerts-test/daily_critical/ci_cd_review/2026-11-10"
    assert first.condition == DAILY_CRITICAL and first.dedup_key == dedup
    assert first.delivered_to == ("log", "slack") and first.failed == ("pagerduty",)
    assert pagerduty.requests == 3 and sleeps == [0.5, 1.0] and not pagerduty.is_open(dedup)

    assert manager.check() == []  # within the redelivery wait: no retry storm on every model call
    assert pagerduty.requests == 3

    clock.advance(seconds=61)
    # the next check (here a new process, as the next `alerts check` run is) pages; Slack is not told twice
    again = AlertManager(config, enforcer=BudgetEnforcer(config, redis_url=enforcer.redis_url, clock=clock))
    (second,) = again.check()
    assert (second.condition, second.level, second.dedup_key) == (DAILY_CRITICAL, "CRITICAL", dedup)
    assert second.delivered_to == ("log", "pagerduty") and second.failed == ()
    assert pagerduty.is_open(dedup) and len(slack.messages) == 1
    assert again.check() == [] and manager.check() == []
    assert pagerduty.requests == 4 and len(slack.messages) == 1

    clock.advance(days=1)  # the incident the redelivery opened is resolved like any other
    assert [a.condition for a in manager.check()] == ["daily_critical_resolved"]
    assert not pagerduty.is_open(dedup)


def test_when_every_channel_fails_the_next_check_sends_to_every_channel(manager, enforcer, clock, services, caplog):
    slack, pagerduty = services
    slack.fail_next("rollup_error", times=3)
    pagerduty.disconnect(times=3)
    spend(enforcer, "ci_cd_review", "10.00")
    (first,) = manager.check()
    assert first.delivered_to == ("log",) and first.failed == ("slack", "pagerduty")
    caplog.set_level(logging.WARNING)
    clock.advance(seconds=61)
    (second,) = manager.check()
    assert second.delivered_to == ("log", "slack", "pagerduty") and second.condition == DAILY_CRITICAL
    assert len(slack.messages) == 1 and pagerduty.is_open(second.dedup_key)
    assert any("sent again to slack, pagerduty" in r.getMessage() for r in caplog.records)
    assert manager.check() == []
    stats = enforcer.redis.hgetall(enforcer.keys.stats("2026-11"))
    assert stats[b"alert_failed|slack"] == b"1" and stats[b"alert_failed|pagerduty"] == b"1"


def test_a_retry_after_beyond_the_bound_ends_the_attempts_and_sets_the_next_try(manager, enforcer, clock, sleeps, services):
    slack, _ = services
    slack.fail_next(RATE_LIMITED, retry_after=120)  # two minutes: a CLI or a model call must not sleep that long
    alert = manager.notify_block("ci_cd_review", DAILY)
    assert alert.failed == ("slack",) and slack.requests == 1 and sleeps == []
    (event,) = events_of(enforcer, EVENT_TYPE_FAILED)
    assert event["status"] == "429" and event["attempts"] == "1"
    clock.advance(seconds=61)  # past the usual wait, not past Slack's
    assert manager.notify_block("ci_cd_review", DAILY) is None and slack.requests == 1
    clock.advance(seconds=60)
    again = manager.notify_block("ci_cd_review", DAILY)
    assert again is not None and again.delivered_to == ("log", "slack") and len(slack.messages) == 1


def test_concurrent_checks_redeliver_once(config, enforcer, clock, services, redis_url):
    slack, pagerduty = services
    slack.fail_next("rollup_error", times=3)
    spend(enforcer, "qa_test_gen", "7.00")  # 87.5% of $8: a WARNING, Slack only
    (first,) = AlertManager(config, enforcer=enforcer, sleep=lambda s: None).check()
    assert first.failed == ("slack",)
    clock.advance(seconds=61)
    managers = [
        AlertManager(config, enforcer=BudgetEnforcer(config, redis_url=redis_url, clock=clock), sleep=lambda s: None)
        for _ in range(8)
    ]
    barrier = threading.Barrier(len(managers))
    results: list = []

    def run(m: AlertManager) -> None:
        barrier.wait()
        results.extend(m.check())

    threads = [threading.Thread(target=run, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.delivered_to for a in results] == [("log", "slack")]
    assert len(slack.messages) == 1 and pagerduty.requests == 0


def test_a_throttled_resolve_is_sent_by_a_later_check(manager, enforcer, clock, services):
    _, pagerduty = services
    spend(enforcer, "ci_cd_review", "10.00")
    (fired,) = manager.check()
    assert pagerduty.is_open(fired.dedup_key)
    clock.advance(days=1)
    pagerduty.throttle(times=3)
    (resolved,) = manager.check()
    assert resolved.failed == ("pagerduty",) and pagerduty.is_open(fired.dedup_key)
    assert manager.check() == []  # not on every check
    clock.advance(seconds=61)
    (resolved,) = manager.check()
    assert resolved.condition == "daily_critical_resolved" and resolved.delivered_to == ("log", "pagerduty")
    assert not pagerduty.is_open(fired.dedup_key)
    assert manager.check() == []


def test_a_delivery_cut_short_by_a_dying_process_is_taken_over_later(config, enforcer, clock, services):
    slack, _ = services

    def killed(request):  # the runner cancels the job while the webhook POST is in flight
        raise SystemExit(143)

    with responses.RequestsMock() as dying:
        dying.add_callback(responses.POST, SLACK_URL, callback=killed)
        spend(enforcer, "ci_cd_review", "8.50")
        with pytest.raises(SystemExit):
            AlertManager(config, enforcer=enforcer, sleep=lambda s: None).check()
    survivor = AlertManager(config, enforcer=enforcer, sleep=lambda s: None)
    assert survivor.check() == []  # someone is delivering it: wait
    clock.advance(minutes=11)  # the claim is stale: its holder died
    (alert,) = survivor.check()
    assert alert.condition == DAILY_WARN and alert.delivered_to == ("log", "slack")
    assert len(slack.messages) == 1 and survivor.check() == []


def test_an_unreachable_ledger_is_skipped_unless_strict(config, caplog):
    url = f"redis://127.0.0.1:{free_port()}/0"
    manager = AlertManager(config, redis_url=url, clock=Clock(START))
    caplog.set_level(logging.WARNING)
    assert manager.check() == []
    assert manager.notify_block("ci_cd_review", DAILY) is None
    assert any("alert check skipped: ConnectionError" in r.getMessage() for r in caplog.records)
    with pytest.raises(AlertError, match="alert check failed: ConnectionError"):
        manager.check(strict=True)


# --- secrets ------------------------------------------------------------------------------------


def test_no_secret_in_any_log_line_event_error_or_alert(manager, enforcer, clock, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, body=requests.exceptions.ConnectionError(f"failed: {SLACK_URL}"))
        mock.add(
            responses.POST,
            PAGERDUTY_EVENTS_URL,
            status=400,
            json={"status": "invalid event", "errors": [f"routing_key {PD_KEY} is not valid"]},
        )
        spend(enforcer, "ci_cd_review", "10.00")
        fired = manager.check()
        clock.advance(days=1)
        fired += manager.check()
        with pytest.raises(AlertError) as slack_error:
            manager.send_test("slack")
        with pytest.raises(AlertError) as pd_error:
            manager.send_test("pagerduty")
    assert fired and fired[0].failed == ("slack", "pagerduty")
    events = events_of(enforcer, EVENT_TYPE_FAILED)
    assert any("***" in ev["reason"] for ev in events)  # PagerDuty echoed the key back: scrubbed
    captured = capsys.readouterr()
    texts = (
        [r.getMessage() for r in caplog.records]
        + [json.dumps(events), repr(fired), json.dumps([a.to_dict() for a in fired], default=str)]
        + [str(slack_error.value), str(pd_error.value), captured.out, captured.err, repr(manager.config)]
    )
    assert len(caplog.records) >= 4
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


class _Hook(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        _Hook.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def test_urllib3_debug_logs_of_a_real_request_do_not_carry_the_webhook_path(make_config, redis_url, clock, caplog):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        token = "L0calW3bh00kS3cret"
        url = f"http://127.0.0.1:{server.server_port}/services/T1/B1/{token}"
        cfg = make_config(settings(slack_webhook_url=url))
        ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
        caplog.set_level(logging.DEBUG)
        alert = AlertManager(cfg, enforcer=ledger).notify_block("ci_cd_review", DAILY)
    finally:
        server.shutdown()
        server.server_close()
    assert alert.delivered_to == ("log", "slack")
    assert json.loads(_Hook.bodies[-1])["text"].startswith("WARNING: CI/CD code review")
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any('"POST ***' in line for line in urllib3_lines)  # urllib3 logged the request, path scrubbed
    assert all(token not in r.getMessage() for r in caplog.records)


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def run_cli(monkeypatch, capsys):
    from acme_ci_budget import cli

    monkeypatch.setitem(cli.COMMANDS, "alerts", ("alerts", "alerts", "Send a test alert or check alerts now."))

    def run(*args: str) -> tuple[int, str, str]:
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


def _config_file(tmp_path, **alerts) -> str:
    from tests.conftest import DEFAULT_CONFIG_TEXT

    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["namespace"] = "alerts-cli"
    raw["pricing"] = {MODEL: {"input": 1000, "output": 1000}}
    raw["alerts"] = {"min_level": "CRITICAL", **alerts}
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_cli_alerts_test_slack_and_pagerduty(run_cli, tmp_path, http):
    path = _config_file(tmp_path, slack_webhook_url=SLACK_URL, pagerduty_routing_key=PD_KEY)
    code, out, err = run_cli("alerts", "test", "--channel", "slack", "--config", path)
    assert (code, err) == (0, "") and out.startswith("OK: test message delivered to slack")
    (body,) = posts(http, SLACK_URL)
    assert body["text"].startswith("INFO: Test alert from acme-ci-budget")

    code, out, _ = run_cli("alerts", "test", "--channel", "pagerduty", "--config", path)
    assert code == 0
    trigger, resolve = posts(http, PAGERDUTY_EVENTS_URL)
    assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "info"
    assert resolve == {"routing_key": PD_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
    assert all(s not in out for s in SECRETS)


def test_cli_alerts_test_errors_are_one_line_exit_2(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    code, out, err = run_cli("alerts", "test", "--channel", "slack", "--config", _config_file(tmp_path))
    assert code == 2 and out == ""
    assert err.strip().endswith("alerts.slack_webhook_url is not set (e.g. ${SLACK_WEBHOOK_URL})")
    assert len(err.strip().splitlines()) == 1

    path = _config_file(tmp_path, slack_webhook_url=SLACK_URL)
    with responses.RequestsMock() as mock:
        mock.add(responses.POST, SLACK_URL, status=403, body="invalid_token")
        code, out, err = run_cli("alerts", "test", "--channel", "slack", "--config", path)
    assert code == 2
    # a 403 is a refusal: asked once, not three times
    assert err.strip() == "Error: slack test message failed after 1 attempt(s): HTTP 403 invalid_token"
    assert SLACK_TOKEN not in err

    code, _, err = run_cli("alerts", "test", "--channel", "email", "--config", path)
    assert code == 2 and "'email' is not one of 'slack', 'pagerduty'" in err


def test_cli_alerts_check_evaluates_now(run_cli, tmp_path, redis_url, http, make_config):
    path = _config_file(tmp_path, slack_webhook_url=SLACK_URL)
    from acme_ci_budget.config import load_config

    ledger = BudgetEnforcer(load_config(path), redis_url=redis_url)  # the real clock, as the CLI uses
    spend(ledger, "qa_test_gen", "6.50")  # daily $8: 81.25%
    code, out, err = run_cli("alerts", "check", "--config", path, "--redis-url", redis_url, "--format", "json")
    assert code == 0, err
    (alert,) = json.loads(out)
    assert alert["condition"] == DAILY_WARN and alert["workflow_id"] == "qa_test_gen"
    assert alert["percent"] == 81.25 and alert["delivered_to"] == ["log", "slack"]
    assert alert["forecast"]["projected_nano"] > 0

    code, out, _ = run_cli("alerts", "check", "--config", path, "--redis-url", redis_url)
    assert (code, out) == (0, "No new alerts.\n")
    code, _, err = run_cli("alerts", "check", "--config", path, "--redis-url", redis_url, "--workflow", "nope")
    assert code == 2 and "unknown workflow 'nope'" in err

    down = f"redis://127.0.0.1:{free_port()}/0"
    code, _, err = run_cli("alerts", "check", "--config", path, "--redis-url", down)
    assert code == 2 and err.startswith("Error: alert check failed: ConnectionError")


# --- cluster ------------------------------------------------------------------------------------


@pytest.mark.cluster
def test_check_and_dedup_on_a_redis_cluster(config, redis_cluster_url, clock, http):
    ledger = BudgetEnforcer(config, redis_url=redis_cluster_url, clock=clock)
    manager = AlertManager(config, enforcer=ledger)
    spend(ledger, "ci_cd_review", "10.00")
    assert conditions(manager.check()) == {(DAILY_CRITICAL, "ci_cd_review")}
    assert AlertManager(config, enforcer=BudgetEnforcer(config, redis_url=redis_cluster_url, clock=clock)).check() == []
    clock.advance(days=1)
    assert [a.condition for a in manager.check()] == ["daily_critical_resolved"]
    assert len(posts(http, SLACK_URL)) == 1 and len(posts(http, PAGERDUTY_EVENTS_URL)) == 2


# --- CRIT is reachable: a refused call or less than one call left pages (issue 12, item 7) ---------


def test_less_than_one_worst_case_call_left_fires_the_critical_once_and_pages(manager, enforcer, config, http):
    margin = worst_call_nano(config.workflow("ci_cd_review"), config.pricing)
    # Spend up to half a worst-case call below the $10 daily limit: the ledger refuses the next big call, and
    # spend never reaches 100%, so before this only the 80% warning fired.
    usd = Decimal(10_000_000_000 - margin // 2) / Decimal(10**9)
    spend(enforcer, "ci_cd_review", str(usd.quantize(Decimal("0.001"), rounding="ROUND_DOWN")))
    fired = manager.check("ci_cd_review")
    assert conditions(fired) == {(DAILY_CRITICAL, "ci_cd_review")}
    (alert,) = fired
    assert alert.level == "CRITICAL" and alert.delivered_to == ("log", "slack", "pagerduty")
    assert alert.message.startswith("CI/CD code review (ci_cd_review): daily budget critical on 2026-11-10 at 99.")
    assert "of the daily limit left" in alert.message and "less than one worst-case call" in alert.message
    assert "; requests are refused until tomorrow. Month-end forecast" in alert.message
    (trigger,) = posts(http, PAGERDUTY_EVENTS_URL)
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["dedup_key"] == "acme-ci-budget/alerts-test/daily_critical/ci_cd_review/2026-11-10"
    assert manager.check("ci_cd_review") == []  # once per period
    spend(enforcer, "ci_cd_review", "0.001")
    assert manager.check("ci_cd_review") == []


def test_a_monthly_refusal_far_below_the_limit_is_critical(make_config, redis_url, clock, http):
    cfg = make_config(settings(), workflows={"ci_cd_review": {"monthly_usd": 10, "daily_usd": 10}})
    ledger = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    manager = AlertManager(cfg, enforcer=ledger, sleep=lambda s: None)
    spend(ledger, "ci_cd_review", "5.00")
    held = ledger.reserve("ci_cd_review", MODEL, 2450, 2450)  # $4.90 promised to a call in flight
    assert held.allowed
    assert ledger.reserve("ci_cd_review", MODEL, 500, 500).reason == "monthly_limit_exceeded"
    ledger.release(held)  # the call failed: 50% spent, nothing held, yet a call was refused this month
    fired = manager.check()
    assert conditions(fired) == {
        (MONTHLY_CRITICAL, "ci_cd_review"), (BLOCKED, "ci_cd_review"), (FORECAST, "ci_cd_review")
    }
    critical = next(a for a in fired if a.condition == MONTHLY_CRITICAL)
    assert critical.message.startswith(
        "CI/CD code review (ci_cd_review): monthly budget critical in 2026-11 at 50% ($5.00 of $10.00): "
        "the monthly limit refused 1 call(s) this period; requests are refused until next month."
    )
    assert "pagerduty" in critical.delivered_to
    assert ledger.status_snapshot()["workflows"]["ci_cd_review"]["health"] == "CRIT"
    assert manager.check() == []


@pytest.mark.cluster
def test_redelivery_on_a_redis_cluster(config, redis_cluster_url, clock, services):
    slack, pagerduty = services
    pagerduty.throttle(times=3)
    ledger = BudgetEnforcer(config, redis_url=redis_cluster_url, clock=clock)
    manager = AlertManager(config, enforcer=ledger, sleep=lambda s: None)
    spend(ledger, "ci_cd_review", "10.00")
    assert manager.check()[0].failed == ("pagerduty",)
    clock.advance(seconds=61)
    other = AlertManager(config, enforcer=BudgetEnforcer(config, redis_url=redis_cluster_url, clock=clock))
    assert [a.delivered_to for a in other.check()] == [("log", "pagerduty")]
    assert len(slack.messages) == 1 and len(pagerduty.events) == 1
