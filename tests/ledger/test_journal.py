"""Nothing spent is lost: calls the ledger could not record are journaled and replayed once.

A real redis-server that the tests stop and start again (AOF on, so what was recorded before the
outage survives it), the REAL anthropic SDK against the loopback fake Messages API, and the
journal file on disk (``$ACME_BUDGET_JOURNAL``, a fresh one per test, from conftest).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anthropic
import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.cli import main
from acme_ci_budget.client.budgeted import BudgetedClient
from acme_ci_budget.config import load_config
from acme_ci_budget.core.money import fmt_usd
from acme_ci_budget.core.resources import default_config_path
from acme_ci_budget.ledger import journal
from acme_ci_budget.ledger.enforcer import BudgetEnforcer
from tests.clock import Clock
from tests.conftest import DEFAULT_CONFIG_TEXT
from tests.fakes.anthropic_server import FakeAnthropicServer, build_message, handler, ok

API_KEY = "sk-ant-journal-test-key"
HAIKU = load_config(default_config_path()).workflows["dev_assistant"].routing.default_model  # the Haiku role
ASK = [{"role": "user", "content": "hi"}]
NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def server():
    with FakeAnthropicServer() as fake:
        yield fake


@pytest.fixture
def ledger(fresh_redis):
    return fresh_redis("--appendonly", "yes", "--appendfsync", "always")


def _client(config, url: str, server: FakeAnthropicServer, **kwargs) -> BudgetedClient:
    sdk = anthropic.Anthropic(base_url=server.url, api_key=API_KEY, max_retries=0)
    return BudgetedClient(config, redis_url=url, anthropic_client=sdk, alerts=False, **kwargs)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _events(enforcer: BudgetEnforcer) -> list[dict[str, str]]:
    raw = enforcer.redis.xrange(enforcer.keys.events())
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in raw]


def _assert_counters_equal_events(enforcer: BudgetEnforcer, month: str) -> int:
    spent = int(enforcer.redis.get(enforcer.keys.org_spent(month)) or 0)
    assert spent == sum(int(e["cost_nano"]) for e in _events(enforcer) if e["type"] == "call")
    assert int(enforcer.redis.get(enforcer.keys.org_held(month)) or 0) == 0
    assert enforcer.open_holds() == 0
    return spent


def test_a_fail_open_call_is_journaled_announced_and_replayed_once(
    make_config, ledger, server, monkeypatch, tmp_path, capsys
) -> None:
    """Before: its usage was logged as a warning and lost; the ledger never saw the money."""
    summary = tmp_path / "summary.md"
    summary.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    path = journal.journal_path()
    cfg = make_config({"ledger": {"fail_open": True}})
    client = _client(cfg, ledger.url, server)
    server.set_default(ok("fine", input_tokens=1200, output_tokens=80))
    ledger.stop()
    down = client.complete("dev_assistant", ASK, user_id="ana")
    assert not down.budget_blocked and down.content == "fine"
    assert down.budget["fail_open"] is True
    cost = cost_nano(HAIKU, 1200, 80)
    [entry] = _lines(path)
    assert entry["kind"] == "spend" and entry["reservation"] == down.reservation_id
    assert entry["reservation"].startswith("failopen-") and entry["fail_open"] is True
    assert (entry["workflow"], entry["model"], entry["cost_nano"]) == ("dev_assistant", HAIKU, cost)
    assert (entry["input_tokens"], entry["output_tokens"], entry["user"]) == (1200, 80, "ana")
    assert (entry["day"], entry["month"]) == (down.budget["day"], down.budget["month"])
    assert API_KEY not in path.read_text()
    out = capsys.readouterr().out
    assert "::warning title=acme-ci-budget%3A unrecorded spend::" in out and fmt_usd(cost, 6) in out
    assert "Unrecorded spend" in summary.read_text() and fmt_usd(cost, 6) in summary.read_text()

    ledger.start()
    up = client.complete("dev_assistant", ASK)  # reaches Redis: the journal goes in first
    enforcer = client.enforcer
    assert _assert_counters_equal_events(enforcer, up.budget["month"]) == cost + up.cost_nano
    [replayed] = [e for e in _events(enforcer) if e.get("reservation") == entry["reservation"]]
    assert replayed["type"] == "call" and replayed["fail_open"] == "1" and replayed["cost_nano"] == str(cost)
    assert path.read_text() == ""  # every entry recorded: the journal is emptied

    # the same entry replayed again (a copy of the journal, a crash before the marker) charges nothing
    journal.append(journal.JournalEntry.from_dict(entry), path)
    again = journal.replay_pending(enforcer)
    assert (again.replayed, again.duplicates, again.pending) == (0, 1, 0)
    assert _assert_counters_equal_events(enforcer, up.budget["month"]) == cost + up.cost_nano


def test_a_replayed_call_is_charged_to_the_day_it_was_spent(make_config, ledger, server) -> None:
    clock = Clock(datetime(2026, 11, 29, 23, 59, 50, tzinfo=NEW_YORK))
    client = _client(make_config({"ledger": {"fail_open": True}}), ledger.url, server, clock=clock)
    server.set_default(ok("x", input_tokens=500, output_tokens=50))
    ledger.stop()
    client.complete("dev_assistant", ASK)
    clock.advance(seconds=30)  # 00:00:20 on the 30th: a new day when Redis comes back
    ledger.start()
    later = client.complete("dev_assistant", ASK)
    keys, redis = client.enforcer.keys, client.enforcer.redis
    first = cost_nano(HAIKU, 500, 50)
    assert int(redis.get(keys.wf_spent_day("dev_assistant", "2026-11-29"))) == first
    assert int(redis.get(keys.wf_spent_day("dev_assistant", "2026-11-30"))) == later.cost_nano
    assert _assert_counters_equal_events(client.enforcer, "2026-11") == first + later.cost_nano


def test_a_settle_that_fails_after_the_call_is_journaled_and_the_answer_kept(
    make_config, ledger, server, tmp_path
) -> None:
    """Before: the paid-for answer was lost to a redis ConnectionError and the spend was never recorded."""
    cfg = make_config()  # fail_open off: the reserve reached Redis, the settle could not
    client = _client(cfg, ledger.url, server)

    def answer_then_lose_redis(request):
        ledger.stop()
        return build_message(request, "paid for", input_tokens=900, output_tokens=60)

    server.enqueue(handler(answer_then_lose_redis))
    result = client.complete("dev_assistant", ASK)
    assert result.content == "paid for" and result.cost_nano == cost_nano(HAIKU, 900, 60)
    [entry] = _lines(journal.journal_path())
    assert entry["fail_open"] is False and entry["reservation"] == result.reservation_id

    ledger.start()
    config_path = tmp_path / "budget.yml"
    config_path.write_text(DEFAULT_CONFIG_TEXT)  # the config the client ran with: make_config() unchanged
    assert main(["status", "--config", str(config_path), "--redis-url", ledger.url]) is None
    enforcer = BudgetEnforcer(cfg, redis_url=ledger.url)
    # the hold taken before the outage was found and dropped by the replayed settle
    assert _assert_counters_equal_events(enforcer, result.budget["month"]) == result.cost_nano
    [call] = [e for e in _events(enforcer) if e["type"] == "call"]
    assert call["reservation"] == result.reservation_id and "fail_open" not in call
    assert journal.journal_path().read_text() == ""


def test_while_redis_is_still_down_the_journal_is_kept(make_config, ledger, server) -> None:
    cfg = make_config({"ledger": {"fail_open": True}})
    client = _client(cfg, ledger.url, server)
    ledger.stop()
    client.complete("dev_assistant", ASK)
    client.complete("dev_assistant", ASK)  # a fail-open call does not try to replay
    path = journal.journal_path()
    before = path.read_text()
    assert len(_lines(path)) == 2
    result = journal.replay_pending(client.enforcer)
    assert (result.replayed, result.pending) == (0, 2) and result.pending_nano > 0
    assert path.read_text() == before


def test_concurrent_appends_and_a_torn_line(tmp_path, default_config, redis_url) -> None:
    path = tmp_path / "j" / "journal.jsonl"

    def entry(i: int) -> journal.JournalEntry:
        return journal.JournalEntry(
            reservation=f"failopen-{i:04d}", namespace="acme", workflow="dev_assistant", model=HAIKU,
            input_tokens=100, output_tokens=10, cache_creation_input_tokens=0, cache_read_input_tokens=0,
            cost_nano=cost_nano(HAIKU, 100, 10), day="2026-11-29", month="2026-11", ts_ms=0, fail_open=True,
        )

    threads = [threading.Thread(target=journal.append, args=(entry(i), path)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(line["reservation"] for line in _lines(path)) == [f"failopen-{i:04d}" for i in range(40)]
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    with open(path, "a") as handle:
        handle.write('{"kind": "spend", "reservation": "torn-')  # a crash mid-write
    enforcer = BudgetEnforcer(default_config, redis_url=redis_url)
    result = journal.replay_pending(enforcer, path)
    assert (result.replayed, result.replayed_nano) == (40, 40 * cost_nano(HAIKU, 100, 10))
    assert _assert_counters_equal_events(enforcer, "2026-11") == 40 * cost_nano(HAIKU, 100, 10)
    assert path.read_text() != ""  # the torn line is kept for a person to look at, never replayed


def test_where_the_journal_lives(tmp_path) -> None:
    assert journal.journal_path({"ACME_BUDGET_JOURNAL": "/x/j.jsonl"}) == Path("/x/j.jsonl")
    actions = {"GITHUB_ACTIONS": "true", "RUNNER_TEMP": str(tmp_path)}
    assert journal.journal_path(actions) == tmp_path / "acme-ci-budget" / "journal.jsonl"
    local = journal.journal_path({})
    assert local.name == "journal.jsonl" and local.parent == Path(os.environ["ACME_BUDGET_DATA_DIR"])


def test_an_entry_is_replayed_only_into_the_redis_it_was_kept_for(make_config, fresh_redis, server) -> None:
    shared = fresh_redis("--appendonly", "yes", password="journal-pw-must-not-leak")
    cfg = make_config({"ledger": {"fail_open": True}})
    client = _client(cfg, shared.url, server)
    shared.stop()
    client.complete("dev_assistant", ASK)
    path = journal.journal_path()
    assert "journal-pw-must-not-leak" not in path.read_text()
    other = fresh_redis()
    elsewhere = journal.replay_pending(BudgetEnforcer(cfg, redis_url=other.url))
    assert (elsewhere.replayed, elsewhere.pending) == (0, 0)
    assert len(_lines(path)) == 1  # kept for the Redis it belongs to
    shared.start()
    home = journal.replay_pending(BudgetEnforcer(cfg, redis_url=shared.url))
    assert (home.replayed, home.pending) == (1, 0) and path.read_text() == ""
