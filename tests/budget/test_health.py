"""CRIT is reachable: a refused call, or less than one worst-case call left, makes a period CRITICAL in
status, the report and the dashboard (alerts: tests/alerts/test_manager.py). Real Redis, the real ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from acme_ci_budget.budget.health import (
    CRIT,
    OK,
    WARN,
    critical_reason,
    health_level,
    org_worst_call_nano,
    worst_call_nano,
)
from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.cli import cli
from acme_ci_budget.config import load_config
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.report.monthly import build_report
from acme_ci_budget.report.render import render
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT

START = datetime(2026, 11, 10, 15, tzinfo=UTC)
WF = "ci_cd_review"


def write_config(tmp_path, **changes) -> Path:
    """ci_cd_review at $250/month and $250/day; its models priced $1 per million tokens in and out, so
    one worst-case call (the per-task hard limit of 40,000 tokens) is exactly $0.04. The org budget is
    pinned at $800 (the org test fills it to the cent), and dev_assistant at $300 so the workflows fit in it."""
    raw = yaml.safe_load(DEFAULT_CONFIG_TEXT)
    raw["org"]["monthly_usd"] = 800
    raw["workflows"]["dev_assistant"]["monthly_usd"] = 300
    routing = raw["workflows"][WF]["routing"]
    models = {routing["default_model"], routing.get("complex_model"), routing.get("simple_model")} - {None}
    raw["namespace"] = changes.pop("namespace", "health")
    raw["pricing"] = {m: {"input": 1, "output": 1} for m in models}
    raw["workflows"][WF].update(
        {"monthly_usd": 250, "daily_usd": changes.pop("daily_usd", 250), "per_task_tokens": {"soft": 20_000, "hard": 40_000}}
    )
    routing["max_tokens"] = {"simple": 1024, "default": 2048, "complex": 4096}
    raw.update(changes)
    path = tmp_path / f"{raw['namespace']}.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture
def config(tmp_path):
    return load_config(write_config(tmp_path))


@pytest.fixture
def ledger(config, redis_url):
    return BudgetEnforcer(config, redis_url=redis_url, clock=Clock(START))


def model(config) -> str:
    return config.workflow(WF).routing.default_model


def spend(e: BudgetEnforcer, usd: str, workflow: str = WF) -> None:
    """Spend exactly ``usd`` at $1 per million tokens (actual above the hold is recorded, as after a long answer).

    The tokens are output: a price override keeps the model's long-context tiers (scaled), and those
    are chosen on the prompt, so a prompt this size would be billed at a long-context multiple."""
    tokens = round(float(usd) * 1_000_000)
    e.settle(e.reserve(workflow, model(e.config), 1000, 1000), 1000, tokens - 1000)


def health_of(e: BudgetEnforcer, workflow: str = WF) -> str:
    return e.status_snapshot()["workflows"][workflow]["health"]


def test_one_worst_case_call_is_the_largest_hold_a_routed_call_takes(config, default_config):
    assert worst_call_nano(config.workflow(WF), config.pricing) == 40_000_000  # 40,000 tokens at $1/M
    wf = default_config.workflow("qa_test_gen")
    out = max(wf.routing.max_tokens.values())
    expected = max(cost_nano(m, wf.per_task_tokens.hard - out, out) for m in wf.routing.models())
    assert worst_call_nano(wf) == expected
    assert org_worst_call_nano(default_config) == max(worst_call_nano(w) for w in default_config.workflows.values())


def test_the_issues_workflow_at_249_998_with_refused_calls_is_crit_not_warn(ledger, config):
    spend(ledger, "249.998")
    for _ in range(3):
        assert ledger.reserve(WF, model(config), 5000, 1000).reason == "monthly_limit_exceeded"
    status = ledger.status_snapshot()["workflows"][WF]
    assert status["monthly_pct"] == pytest.approx(99.9992) and status["health"] == CRIT  # before: WARN
    assert ledger.refusals() == {WF: 3, "dev_assistant": 0, "qa_test_gen": 0, "pm_assistant": 0, "org": 0}
    result = CliRunner().invoke(cli, ["status", "--config", config.path, "--redis-url", ledger.redis_url])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "CI/CD code review" in line)
    assert row.startswith("[CRIT]")


@pytest.mark.parametrize(
    ("usd", "expected"),
    [
        ("199.99", OK),  # below warn_pct (80%)
        ("200.00", WARN),
        ("249.96", WARN),  # exactly one worst-case call ($0.04) left: it still fits
        ("249.9601", CRIT),  # less than one call left: the next call of the largest kind is refused
    ],
)
def test_less_than_one_worst_case_call_left_is_crit(ledger, usd, expected):
    spend(ledger, usd)
    assert health_of(ledger) == expected


def test_holds_count_and_their_release_lowers_health_again(ledger, config):
    spend(ledger, "249.93")
    assert health_of(ledger) == WARN  # $0.07 left: one more call fits
    hold = ledger.reserve(WF, model(config), 10_000, 30_000)  # $0.04 held
    assert hold.allowed
    assert health_of(ledger) == CRIT  # $0.03 left once the $0.04 promised is counted
    ledger.release(hold)
    assert health_of(ledger) == WARN


def test_a_daily_limit_within_one_call_is_crit_and_the_next_day_is_not(tmp_path, redis_url):
    cfg = load_config(write_config(tmp_path, daily_usd=10, namespace="h-day"))
    clock = Clock(START)
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=clock)
    e.settle(e.reserve(WF, model(cfg), 1000, 1000), 1000, 9_990_000 - 1000)  # $9.99 of $10 today (as spend())
    assert e.status_snapshot()["workflows"][WF]["health"] == CRIT
    clock.advance(days=1)
    assert e.status_snapshot()["workflows"][WF]["health"] == OK


def test_a_refusal_by_the_org_budget_makes_every_workflow_crit(tmp_path, redis_url):
    cfg = load_config(write_config(tmp_path, namespace="h-org"))
    e = BudgetEnforcer(cfg, redis_url=redis_url, clock=Clock(START))
    spend(e, "100")  # far from every limit
    huge = e.reserve(WF, model(cfg), 1000, 10_000)
    e.redis.incrby(e.keys.org_held(e.periods()[1]), 699_990_000_000)  # another team's holds fill the org
    assert e.reserve(WF, model(cfg), 1000, 10_000).reason == "total_org_budget_exceeded"
    e.redis.decrby(e.keys.org_held(e.periods()[1]), 699_990_000_000)
    e.release(huge)
    healths = {wf: s["health"] for wf, s in e.status_snapshot()["workflows"].items()}
    assert healths == dict.fromkeys(cfg.workflows, CRIT)


def test_report_and_dashboard_show_crit(ledger, config):
    spend(ledger, "249.998")
    ledger.reserve(WF, model(config), 5000, 1000)
    report = build_report(config, ledger.redis, "current", ledger.clock)
    wf = next(w for w in report.workflows if w.id == WF)
    assert wf.health == CRIT and wf.blocked == {"monthly_limit_exceeded": 1}
    assert "[CRIT] CI/CD code review" in render(report, "text")
    assert 'class="badge CRIT"' in render(report, "html")


def test_health_without_counters_keeps_the_percentage_rule(config):
    org = {"pct": 10.0, "reserve_state": "normal", "in_reserve": False}
    assert health_level(config, 99.99, 50, org).level == WARN
    assert health_level(config, 100, 50, org).level == CRIT
    assert health_level(config, 10, 10, {**org, "in_reserve": True}).level == WARN


def test_critical_reason_texts():
    assert critical_reason("monthly", 100, 0, 1000, 10, refused=2) == "the monthly limit refused 2 call(s) this period"
    assert critical_reason("daily", 0, 0, 0, 10) == ""  # no limit, nothing to judge
    assert critical_reason("daily", 0, 0, 5, 10) == ""  # nothing spent or held yet: an idle budget is not paged on
    assert critical_reason("daily", 0, 1, 5, 10) != ""
    text = critical_reason("daily", 9_990_000_000, 0, 10_000_000_000, 40_000_000)
    assert text == (
        "$0.0100 of the daily limit left ($9.99 spent + $0.00 held of $10.00), less than one worst-case call ($0.0400)"
    )

