"""Usage-event export: reading the ledger's stream (real Redis), filters, time parsing, JSONL/CSV, the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.commands.events import events as events_command
from acme_ci_budget.config import load_config
from acme_ci_budget.core.errors import UsageError
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from acme_ci_budget.telemetry.monitor_export import CSV_COLUMNS, iter_events, parse_time, write_csv, write_jsonl
from tests.clock import Clock

HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
NY = ZoneInfo("America/New_York")
START = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # 10:00 in New York


@pytest.fixture
def ledger(redis_url: str, make_config) -> BudgetEnforcer:
    """Three days of events: a call (day 1), a failure (day 2), a block (day 3)."""
    clock = Clock(START)
    enforcer = BudgetEnforcer(make_config(), redis_url=redis_url, clock=clock)
    res = enforcer.reserve("dev_assistant", HAIKU, 100, 50, session_id="s1", loop_step=1, user_id="=HYPERLINK(1)")
    enforcer.settle(res, 100, 20, cache_read_input_tokens=7, latency_ms=12, route_reason="keyword 'design'")
    clock.now += timedelta(days=1)
    failed = enforcer.reserve("ci_cd_review", HAIKU, 300, 50, user_id="bo")
    enforcer.release(failed, error="APITimeoutError", latency_ms=300)
    clock.now += timedelta(days=1)
    blocked = enforcer.reserve("dev_assistant", HAIKU, 10, 10, loop_step=99)
    assert not blocked.allowed
    return enforcer


def _all(enforcer: BudgetEnforcer, **filters) -> list[dict]:
    return list(iter_events(enforcer.redis, enforcer.keys.events(), **filters))


def test_events_are_read_oldest_first_and_decoded(ledger: BudgetEnforcer) -> None:
    events = _all(ledger)
    assert [e["type"] for e in events] == ["call", "failure", "block"]
    call = events[0]
    assert call["cost_nano"] == cost_nano(HAIKU, 100, 20, 0, 7)
    assert (call["input_tokens"], call["output_tokens"], call["cache_read_input_tokens"]) == (100, 20, 7)
    assert call["ts_ms"] == int(START.timestamp() * 1000)
    assert (call["workflow"], call["session"], call["loop_step"], call["route_reason"]) == (
        "dev_assistant",
        "s1",
        1,
        "keyword 'design'",
    )
    assert events[1]["reason"] == "APITimeoutError" and events[1]["outcome"] == "error"
    assert events[2]["reason"] == "loop_step_limit_exceeded" and events[2]["cost_nano"] == 0
    assert all(e["id"].count("-") == 1 for e in events)


def test_filters(ledger: BudgetEnforcer) -> None:
    assert [e["type"] for e in _all(ledger, workflow="dev_assistant")] == ["call", "block"]
    assert [e["type"] for e in _all(ledger, types=["failure", "block"])] == ["failure", "block"]
    day2 = int((START + timedelta(days=1)).timestamp() * 1000)
    assert [e["type"] for e in _all(ledger, since_ms=day2)] == ["failure", "block"]
    assert [e["type"] for e in _all(ledger, until_ms=day2)] == ["call"]
    assert [e["type"] for e in _all(ledger, since_ms=day2, until_ms=day2 + 1)] == ["failure"]
    assert _all(ledger, workflow="qa_test_gen") == []


def test_reading_in_batches_sees_every_event_once(ledger: BudgetEnforcer) -> None:
    for n in range(4):
        res = ledger.reserve("pm_assistant", HAIKU, 10, 10, task_id=f"t{n}")
        ledger.settle(res, 10, 1)
    everything = _all(ledger)
    assert len(everything) == 7
    assert [e["id"] for e in _all(ledger, batch=2)] == [e["id"] for e in everything]
    assert [e["id"] for e in _all(ledger, batch=1)] == [e["id"] for e in everything]


def test_parse_time_forms() -> None:
    now = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
    ms = int(now.timestamp() * 1000)
    assert parse_time("24h", now, NY) == ms - 86_400_000
    assert parse_time("7d", now, NY) == ms - 7 * 86_400_000
    assert parse_time("90m", now, NY) == ms - 90 * 60_000
    assert parse_time("2w", now, NY) == ms - 14 * 86_400_000
    # a date is midnight in the configured timezone
    assert parse_time("2026-11-10", now, NY) == int(datetime(2026, 11, 10, 5, 0, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2026-11-10T09:30", now, NY) == int(datetime(2026, 11, 10, 14, 30, tzinfo=UTC).timestamp() * 1000)
    assert parse_time("2026-11-10T09:30+00:00", now, NY) == int(
        datetime(2026, 11, 10, 9, 30, tzinfo=UTC).timestamp() * 1000
    )
    assert parse_time("1762786800000", now, NY) == 1762786800000
    with pytest.raises(UsageError, match=r"--until: cannot read 'yesterday' as a time"):
        parse_time("yesterday", now, NY, "--until")


def test_jsonl_adds_local_time_and_exact_usd(ledger: BudgetEnforcer) -> None:
    out = io.StringIO()
    assert write_jsonl(_all(ledger), out, NY) == 3
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0]["time"] == "2026-11-10T10:00:00.000-05:00"
    nano = cost_nano(HAIKU, 100, 20, 0, 7)
    assert lines[0]["cost_nano"] == nano
    assert Decimal(lines[0]["cost_usd"]) * 1_000_000_000 == nano
    assert lines[2]["cost_usd"] == "0"


def test_csv_has_fixed_columns_and_is_spreadsheet_safe(ledger: BudgetEnforcer) -> None:
    out = io.StringIO()
    assert write_csv(_all(ledger), out, NY) == 3
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    header = out.getvalue().splitlines()[0].split(",")
    assert tuple(header[: len(CSV_COLUMNS)]) == CSV_COLUMNS
    assert [r["type"] for r in rows] == ["call", "failure", "block"]
    assert rows[0]["user"] == "'=HYPERLINK(1)"  # not run as a formula
    assert rows[0]["cost_nano"] == str(cost_nano(HAIKU, 100, 20, 0, 7))
    assert rows[1]["user"] == "bo" and rows[1]["latency_ms"] == "300"
    assert rows[1]["input_tokens"] == ""  # a failure has no usage: empty cell, not 0
    assert rows[2]["reason"] == "loop_step_limit_exceeded"
    assert sum(int(r["cost_nano"]) for r in rows) == cost_nano(HAIKU, 100, 20, 0, 7)


# --- the command ----------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    path = tmp_path / "budget.yml"
    path.write_text(yaml.safe_dump(yaml.safe_load(default_config_path().read_text())))
    return {"REDIS_URL": redis_url, "ACME_BUDGET_CONFIG": str(path)}


def test_cli_jsonl_with_filters(ledger: BudgetEnforcer, cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(events_command, ["--workflow", "dev_assistant"], env=cli_env)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [e["type"] for e in lines] == ["call", "block"]
    result = CliRunner().invoke(events_command, ["--since", "2026-11-11", "--type", "failure"], env=cli_env)
    assert [json.loads(line)["workflow"] for line in result.output.splitlines()] == ["ci_cd_review"]
    result = CliRunner().invoke(events_command, ["--until", "2026-11-11"], env=cli_env)
    assert [json.loads(line)["type"] for line in result.output.splitlines()] == ["call"]


def test_cli_csv_to_a_file(ledger: BudgetEnforcer, cli_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "events.csv"
    result = CliRunner().invoke(events_command, ["--format", "csv", "-o", str(target)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "3 events written to" in result.output
    rows = list(csv.DictReader(target.open()))
    assert [r["type"] for r in rows] == ["call", "failure", "block"]
    assert rows[0]["time"] == "2026-11-10T10:00:00.000-05:00"


def test_cli_bad_time_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(events_command, ["--since", "last tuesday"], env=cli_env)
    assert result.exit_code == 2
    assert "--since" in result.output and "cannot read 'last tuesday' as a time" in result.output


def test_cli_unknown_workflow_warns_but_exports(ledger: BudgetEnforcer, cli_env: dict[str, str]) -> None:
    result = CliRunner().invoke(events_command, ["--workflow", "retired_bot"], env=cli_env)
    assert result.exit_code == 0
    assert "warning: 'retired_bot' is not a workflow" in result.output


def test_cli_repo_filter(ledger: BudgetEnforcer, cli_env: dict[str, str]) -> None:
    other = BudgetEnforcer(ledger.config, redis=ledger.redis, clock=ledger.clock, repo="acme/app")
    other.settle(other.reserve("ci_cd_review", HAIKU, 100, 50), 100, 20)
    result = CliRunner().invoke(events_command, ["--repo", "acme/app"], env=cli_env)
    assert result.exit_code == 0, result.output
    assert [(e["type"], e["repo"]) for e in map(json.loads, result.output.splitlines())] == [("call", "acme/app")]
    result = CliRunner().invoke(events_command, ["--repo", ""], env=cli_env)  # the calls no repository was known for
    assert [json.loads(line)["type"] for line in result.output.splitlines()] == ["call", "failure", "block"]


def test_task_spend_sums_one_prs_reviews_across_pushes(redis_url: str, make_config) -> None:
    # issue 15 item 3: the sticky comment's "This PR so far" is the sum of the PR's review events.
    enforcer = BudgetEnforcer(make_config(), redis_url=redis_url, clock=Clock(START))
    charged = {}
    for task, tokens in (("acme/app#7@h1", 4700), ("acme/app#7@h2", 900), ("acme/app#70@h1", 5000)):
        res = enforcer.reserve("ci_cd_review", HAIKU, tokens, 650, task_id=task)
        charged[task] = enforcer.settle(res, tokens, 650).cost_nano
    failed = enforcer.reserve("ci_cd_review", HAIKU, 100, 50, task_id="acme/app#7@h3")
    enforcer.release(failed, error="APITimeoutError")
    other = enforcer.reserve("dev_assistant", HAIKU, 100, 50, task_id="acme/app#7@h1")  # another workflow
    enforcer.settle(other, 100, 50)

    spend = enforcer.task_spend("acme/app#7@", workflow="ci_cd_review")
    assert spend.cost_nano == charged["acme/app#7@h1"] + charged["acme/app#7@h2"]  # not #70's, not the failure's
    assert (spend.calls, spend.tasks) == (2, 2)
    assert enforcer.task_spend("acme/app#7@").calls == 3  # every workflow when none is named
    assert enforcer.task_spend("acme/app#8@").cost_nano == 0
    # the read starts at not_before_ms (stream ids are the Redis server's clock): a PR opened later has nothing
    assert enforcer.task_spend("acme/app#7@", not_before_ms=(int(datetime.now(UTC).timestamp()) + 3600) * 1000) \
        .cost_nano == 0
    with pytest.raises(ValueError):
        enforcer.task_spend("")
