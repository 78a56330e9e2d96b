"""The report and dashboard show "ledger vs Anthropic: drift X%" once a reconcile of the month has run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis

from acme_ci_budget.budget.reconcile import TOKEN_TYPES, Adjustment
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.ledger.reconcile import record_adjustments, record_result
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from tests.clock import Clock


def test_the_drift_line_in_every_format(redis_url, default_config):
    clock = Clock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    client = redis.Redis.from_url(redis_url)
    before = build_report(default_config, client, "2026-10", clock=clock)
    assert before.reconcile is None and "Ledger vs Anthropic" not in render(before, "text")
    assert json.loads(render(before, "json"))["reconcile"] is None

    e = BudgetEnforcer(default_config, redis=client, clock=clock)
    record_result(e, "2026-10", 98_000_000, 100_000_000)
    model = default_config.workflows["ci_cd_review"].routing.default_model
    record_adjustments(e, "2026-10", [Adjustment("2026-10-09", model, 2_000_000, dict.fromkeys(TOKEN_TYPES, 0))])
    report = build_report(default_config, client, "2026-10", clock=clock)
    assert report.reconcile.drift_text == "-2.00%"
    assert "Ledger vs Anthropic: drift -2.00% (ledger $0.0980, Anthropic $0.1000; adjustments $0.0020)" in render(
        report, "text"
    )
    assert "ledger vs Anthropic**: drift -2.00% (adjustments $0.0020)" in render(report, "markdown")
    assert 'Ledger vs Anthropic</div><div class="value">drift -2.00%</div>' in render(report, "html")
    data = json.loads(render(report, "json"))["reconcile"]
    assert data["drift_pct"] == -2.0 and data["adjustments_usd"] == 0.002
    assert report.org.spend_nano == 2_000_000  # the adjustment is the month's spend, charged to the org
