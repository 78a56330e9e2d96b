"""``acme-ci-budget reconcile`` through the CLI's entry point: exit codes 0 / 1 / 2, JSON keys, no key printed."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from acme_ci_budget.catalog.pricing import price_for
from acme_ci_budget.cli import cli as cli_group
from acme_ci_budget.cli import main
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.clock import Clock
from tests.fakes.anthropic_admin import ADMIN_KEY, FakeAdminAPI, UsageRow, prices_from


@pytest.fixture
def setup(redis_url, default_config, monkeypatch):
    haiku = default_config.workflows["ci_cd_review"].routing.default_model
    prices = prices_from(lambda m: price_for(m, default_config.pricing).tier_for(0), [haiku])
    when = datetime(2026, 10, 7, 12, tzinfo=UTC)
    e = BudgetEnforcer(default_config, redis_url=redis_url, clock=Clock(when))
    e.settle(e.reserve("ci_cd_review", haiku, 3000, 400), 3000, 400)
    with FakeAdminAPI([UsageRow(when, haiku, 3000, 400)], prices) as fake:
        monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("REDIS_URL", redis_url)
        yield fake, haiku, when


def cli(*args: str) -> int:
    try:
        main(["reconcile", *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_within_tolerance_exits_0_with_the_issues_json(setup, capsys):
    assert cli("--since", "2026-10-01", "--until", "2026-11-01", "--format", "json") == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    for key in ("period", "tolerance_pct", "ledger_usd", "provider_usd", "drift_usd", "drift_pct", "rows"):
        assert key in data
    (row,) = data["rows"]
    assert row["status"] == "match" and row["day"] == "2026-10-07"
    assert ADMIN_KEY not in out.out + out.err


def test_past_tolerance_exits_1_and_markdown_says_where(setup, capsys):
    fake, haiku, when = setup
    fake.add(UsageRow(when, haiku, 3000, 400))  # billed twice what the ledger saw
    assert cli("--since", "2026-10-01", "--until", "2026-11-01", "--format", "markdown") == 1
    out = capsys.readouterr().out
    assert "| 2026-10-07 | " + haiku in out and "drift" in out and ADMIN_KEY not in out


def test_bad_input_exits_2_with_one_line(setup, capsys, monkeypatch):
    assert cli("--since", "2026-10-05", "--until", "2026-10-01") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--until" in err
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-wrong-secret")
    assert cli("--since", "2026-10-01", "--until", "2026-10-02") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused the admin key" in err and "wrong-secret" not in err
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    assert cli("--month", "2026-10") == 2
    assert "ANTHROPIC_ADMIN_KEY" in capsys.readouterr().err


def test_record_adjustments_then_events_exports_them(setup, capsys):
    fake, haiku, when = setup
    fake.add(UsageRow(when, haiku, 1000, 0))  # billed 1,000 input tokens more than the ledger saw
    period = ("--since", "2026-10-01", "--until", "2026-11-01")
    assert cli(*period, "--record-adjustments") == 1  # what it found was past tolerance...
    assert "adjustments recorded: 1" in capsys.readouterr().out
    assert cli(*period, "--record-adjustments", "--format", "json") == 0  # ...and now the ledger agrees
    assert json.loads(capsys.readouterr().out)["recorded_adjustments"] == []
    exported = CliRunner().invoke(cli_group, ["events", "--type", "adjustment"])
    assert exported.exit_code == 0, exported.output
    (line,) = exported.output.splitlines()
    event = json.loads(line)
    assert event["type"] == "adjustment" and event["model"] == haiku and event["input_tokens"] == 1000
    assert event["reservation"] == f"2026-10-01..2026-11-01|2026-10-07|{haiku}"
