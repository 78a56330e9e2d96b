"""The report's breakdown by repository on a real Redis: its figures equal the ledger's repository counters
and events, calls with no repository known get their own row, and every format shows the section only
when more than one repository (or none known) shared the month."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.core.money import nano_to_usd
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render_html, render_json, render_markdown, render_text
from acme_ci_budget.report.repos import repo_lines
from tests.clock import Clock
from tests.roles import CHEAP

APP, WEB = "acme/app", "acme/web"


def _app_cap_nano() -> int:
    """acme/app's cap: two and a half of ``_calls``' 2000-in/500-out calls at the cheap role's prices."""
    return cost_nano(CHEAP, 2000, 500) * 5 // 2


@pytest.fixture
def config(make_config):
    return make_config({"repos": {APP: {"monthly_usd": nano_to_usd(_app_cap_nano())}}}, namespace="rpt")


@pytest.fixture
def clock():
    return Clock(datetime(2026, 11, 10, 12, tzinfo=UTC))


def _calls(config, redis_url, clock, repo, n, inp=2000, out=500):
    e = BudgetEnforcer(config, redis_url=redis_url, clock=clock, repo=repo)
    settled = []
    for _ in range(n):
        res = e.reserve("ci_cd_review", CHEAP, inp, out)
        if res.allowed:
            settled.append(e.settle(res, inp, out).cost_nano)
    return e, settled


def test_the_breakdown_equals_the_ledger_and_has_a_row_for_no_repository(config, redis_url, clock):
    e, app = _calls(config, redis_url, clock, APP, 8)  # acme/app's cap of 2.5 calls refuses some of these
    _, web = _calls(config, redis_url, clock, WEB, 3)
    _, none = _calls(config, redis_url, clock, None, 2)
    report = build_report(config, e.redis, clock=clock)
    rows = {line.repo: line for line in report.repos}
    assert [line.repo for line in report.repos][-1] == ""  # the unattributed row comes last
    assert rows[APP].spend_nano == sum(app) == int(e.redis.get(e.keys.repo_spent(APP, "2026-11")))
    assert (rows[APP].calls, rows[APP].blocked) == (len(app), 8 - len(app))
    assert rows[APP].blocked_by_reason == {"repo_limit_exceeded": 8 - len(app)}
    assert 0 < len(app) < 8 and rows[APP].cap_nano == _app_cap_nano()
    assert (rows[WEB].spend_nano, rows[WEB].calls, rows[WEB].blocked, rows[WEB].cap_nano) == (sum(web), 3, 0, None)
    assert (rows[""].spend_nano, rows[""].calls, rows[""].blocked) == (sum(none), 2, 0)
    assert sum(line.spend_nano for line in report.repos) == report.org.spend_nano
    # each row == the sum of that repository's call events
    for repo, line in rows.items():
        assert line.spend_nano == sum(ev["cost_nano"] for ev in e.events(repo=repo, types=["call"]))

    data = json.loads(render_json(report))
    assert data["repos"][APP]["blocked"] == 8 - len(app)
    assert data["repos"][""]["calls"] == 2
    text = render_text(report)
    assert "BY REPOSITORY" in text and "acme/app" in text and "(none)" in text
    md = render_markdown(report)
    assert "### By repository" in md and "| acme/web |" in md and "repository cap" in md
    assert "*By repository*" in render_markdown(report, "slack")
    html = render_html(report)
    assert 'id="repo-h"' in html and "acme/app" in html


def test_one_repository_alone_shows_no_breakdown(config, redis_url, clock):
    e, _ = _calls(config, redis_url, clock, WEB, 2)
    report = build_report(config, e.redis, clock=clock)
    assert [line.repo for line in report.repos] == [WEB]
    assert "BY REPOSITORY" not in render_text(report)
    assert "By repository" not in render_markdown(report)
    assert 'id="repo-h"' not in render_html(report)


def test_rows_from_stats_alone():
    stats = {
        "calls|ci_cd_review": 5, "cost|ci_cd_review": 500, "calls|ci_cd_review|m": 5, "cost|ci_cd_review|m": 500,
        "blocked|ci_cd_review|daily_limit_exceeded": 2,
        "repo_calls|a/b": 3, "repo_cost|a/b": 400, "repo_blocked|a/b|daily_limit_exceeded": 1,
    }
    (ab, rest) = repo_lines(stats)
    assert (ab.repo, ab.spend_nano, ab.calls, ab.blocked, ab.share_pct) == ("a/b", 400, 3, 1, 80.0)
    assert (rest.label, rest.spend_nano, rest.calls, rest.blocked) == ("(none)", 100, 2, 1)
