"""The ledger on a real redis-server: every limit and reason, holds, idempotency, periods, faults.

The behavioural tests run on both backends through the ``ledger_backend`` fixture (tests/conftest.py):
a standalone redis-server and a real three-master Redis Cluster (``[cluster]``, marked ``cluster``); the
fault tests (Redis down, fail-open, AOF restart) need a private single server of their own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from acme_ci_budget.catalog.pricing import cost_nano, price_for
from acme_ci_budget.core.money import nano_to_usd
from acme_ci_budget.ledger.enforcer import (
    ALREADY_FINAL,
    DAILY,
    LOOP_STEPS,
    MONTHLY,
    ORG_MONTHLY,
    RELEASED,
    SESSION_TOKENS,
    TASK_TOKENS,
    UNKNOWN_WORKFLOW,
    BudgetEnforcer,
    LedgerUnavailable,
    SettleError,
)
from tests.clock import Clock
from tests.roles import CHEAP, STRONG

# The lab's Haiku and Sonnet roles: the cheap and the strong model of the shipped config (tests/roles.py).
HAIKU, SONNET = CHEAP, STRONG


def events(e: BudgetEnforcer) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in e.redis.xrange(e.keys.events())]


def assert_ledger_equals_events(e: BudgetEnforcer, month: str) -> None:
    """The invariant: org spent == sum of call events' cost == sum of per-workflow stats."""
    calls = [ev for ev in events(e) if ev["type"] == "call"]
    spent = int(e.redis.get(e.keys.org_spent(month)) or 0)
    assert spent == sum(int(ev["cost_nano"]) for ev in calls)
    stats = {k.decode(): int(v) for k, v in e.redis.hgetall(e.keys.stats(month)).items()}
    assert spent == sum(v for k, v in stats.items() if k.startswith("cost|") and k.count("|") == 1)


# --- within limits / the lab's Phase 6 tests in spirit --------------------------------------------


def test_within_limits_allowed_and_cost_exact(enforcer):
    out = enforcer.check_and_record("ci_cd_review", HAIKU, 2800, 500)
    assert out["allowed"] is True
    price = price_for(HAIKU)
    cost = nano_to_usd(int((2800 * price.input + 500 * price.output) * 1000))  # 2800 x input's $/M + 500 x output's
    assert out["cost"] == cost
    assert out["daily_spend_after"] == cost
    assert out["monthly_pct"] == pytest.approx(cost / enforcer.config.workflows["ci_cd_review"].monthly_usd * 100)
    assert_ledger_equals_events(enforcer, "2026-11")


def test_at_the_daily_limit_blocked(make_config, ledger_backend, clock):
    call = cost_nano(HAIKU, 2800, 500)  # each call's hold and cost
    cfg = make_config({"workflows": {"ci_cd_review": {"daily_usd": nano_to_usd(call * 5 // 2)}}})  # 2.5 calls
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    wf = cfg.workflows["ci_cd_review"]
    assert e.check_and_record("ci_cd_review", HAIKU, 2800, 500)["allowed"]
    assert e.check_and_record("ci_cd_review", HAIKU, 2800, 500)["allowed"]  # 2 calls spent
    out = e.check_and_record("ci_cd_review", HAIKU, 2800, 500)  # would be 3 calls: past the 2.5
    assert out == {
        "allowed": False,
        "cost": 0.0,
        "reason": DAILY,
        "daily_spend_after": nano_to_usd(2 * call),
        "monthly_spend_after": nano_to_usd(2 * call),
        "daily_pct": pytest.approx(2 * call / wf.daily_nano * 100),
        "monthly_pct": pytest.approx(2 * call / wf.monthly_nano * 100),
    }
    blocks = [ev for ev in events(e) if ev["type"] == "block"]
    assert [b["reason"] for b in blocks] == [DAILY]
    assert int(e.redis.hget(e.keys.stats("2026-11"), f"blocked|ci_cd_review|{DAILY}")) == 1


# The lab's Phase 6 budget tests, exactly, on the shipped config's roles (a real Redis instead of its mock).


def _role(default_config, tier: str) -> str:
    return getattr(default_config.workflows["dev_assistant"].routing, tier)  # default: Haiku role, complex: Sonnet


def test_lab_phase6_budget_allows_request_within_limits(enforcer, default_config):
    haiku = _role(default_config, "default_model")
    result = enforcer.check_and_record("ci_cd_review", haiku, input_tokens=1000, output_tokens=500)
    assert result["allowed"] is True
    assert result["cost"] == cost_nano(haiku, 1000, 500) / 1e9
    assert_ledger_equals_events(enforcer, "2026-11")


def test_lab_phase6_budget_blocks_request_when_daily_limit_exceeded(enforcer, default_config):
    budget = default_config.workflows["ci_cd_review"]
    haiku, sonnet = _role(default_config, "default_model"), _role(default_config, "complex_model")
    assert budget.daily_usd == 7.0
    # the lab mocks the daily counter at the limit; here real calls spend exactly the daily budget: as many
    # reviews at 1,000 in + 11,000 out (the per-task hard limit) on the Sonnet role as fit, then one for the rest
    per_call = cost_nano(sonnet, 1000, 11_000)
    for _ in range(budget.daily_nano // per_call):
        assert enforcer.check_and_record("ci_cd_review", sonnet, 1000, 11_000)["allowed"]
    left = budget.daily_nano - (budget.daily_nano // per_call) * per_call
    tail = (left - cost_nano(sonnet, 1000, 0)) // cost_nano(sonnet, 0, 1)
    assert enforcer.check_and_record("ci_cd_review", sonnet, 1000, tail)["allowed"]
    assert enforcer.get_all_status()["ci_cd_review"]["daily_spend"] == budget.daily_usd  # at the limit

    result = enforcer.check_and_record("ci_cd_review", haiku, input_tokens=1000, output_tokens=500)
    assert result["allowed"] is False
    assert result["reason"] == "daily_limit_exceeded"
    assert_ledger_equals_events(enforcer, "2026-11")


# --- every limit and its reason -----------------------------------------------------------------


def test_unknown_workflow_is_blocked_never_waved_through(enforcer):
    res = enforcer.reserve("mystery_bot", HAIKU, 10, 10)
    assert not res.allowed and res.reason == UNKNOWN_WORKFLOW
    assert enforcer.open_holds() == 0
    assert events(enforcer)[-1]["reason"] == UNKNOWN_WORKFLOW


def test_org_monthly_limit(make_config, ledger_backend, clock):
    call = cost_nano(HAIKU, 1000, 2000)  # the worst case each reserve below holds, and what its settle costs
    limit = call * 9 // 8  # each workflow's month and day: one such call and an eighth
    workflows = {
        wid: {"monthly_usd": nano_to_usd(limit), "daily_usd": nano_to_usd(limit)}
        for wid in ("ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant")
    }
    cfg = make_config({"org": {"monthly_usd": nano_to_usd(6 * call)}}, workflows=workflows)
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    spent = 0
    for wid in ("ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant"):
        r = e.reserve(wid, HAIKU, 1000, 2000)
        assert r.allowed, r.reason
        spent += e.settle(r, 1000, 2000).cost_nano
    assert spent == 4 * call  # of 6 calls; each workflow has an eighth of a call left, the org two calls:
    # make the org bind first, at the least the config allows (the sum of the workflows' budgets)
    cfg2 = make_config({"org": {"monthly_usd": nano_to_usd(4 * limit)}}, workflows=workflows)
    e2 = BudgetEnforcer(cfg2, redis_url=ledger_backend, clock=clock)
    probe = cost_nano(HAIKU, 100, 1200)
    assert cfg2.org_monthly_nano - spent < probe  # the org has half a call left: not enough for this one
    r = e2.reserve("ci_cd_review", HAIKU, 100, 1200)
    assert not r.allowed and r.reason == ORG_MONTHLY


def test_monthly_limit(make_config, ledger_backend, clock):
    limit = nano_to_usd(cost_nano(HAIKU, 1000, 1500) * 3 // 2)  # room for one such call a month, not two
    cfg = make_config({"workflows": {"pm_assistant": {"monthly_usd": limit, "daily_usd": limit}}})
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    r = e.reserve("pm_assistant", HAIKU, 1000, 1500)
    e.settle(r, 1000, 1500)
    clock.advance(days=1)  # a new day: the daily counter is empty, the month is not
    r2 = e.reserve("pm_assistant", HAIKU, 1000, 1500)
    assert not r2.allowed and r2.reason == MONTHLY


def test_task_token_limit_clamps_then_blocks(enforcer):
    hard = enforcer.config.workflows["ci_cd_review"].per_task_tokens.hard  # the lab's 12,000 tokens
    assert hard == 12_000
    clamped = enforcer.reserve("ci_cd_review", HAIKU, hard - 1000, 4096)
    assert clamped.allowed and clamped.max_output_tokens == 1000 and clamped.requested_max_output_tokens == 4096
    assert clamped.held_nano == cost_nano(HAIKU, hard - 1000, 1000)
    assert any("clamped" in w for w in clamped.warnings)
    assert any("soft limit" in w for w in clamped.warnings)
    blocked = enforcer.reserve("ci_cd_review", HAIKU, hard, 10)
    assert not blocked.allowed and blocked.reason == TASK_TOKENS
    enforcer.release(clamped)
    assert enforcer.open_holds() == 0


def test_session_token_limit_and_soft_warning(make_config, ledger_backend, clock):
    cfg = make_config({"workflows": {"dev_assistant": {"per_session_tokens": {"soft": 3000, "hard": 5000}}}})
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    r1 = e.reserve("dev_assistant", HAIKU, 1500, 1000, session_id="s1")
    e.settle(r1, 1500, 1000)
    assert e.session_tokens("s1") == 2500
    r2 = e.reserve("dev_assistant", HAIKU, 500, 500, session_id="s1")
    assert r2.allowed
    assert any("per-session soft limit" in w for w in r2.warnings)
    e.settle(r2, 500, 500)
    r3 = e.reserve("dev_assistant", HAIKU, 1000, 1000, session_id="s1")  # 3500 + 2000 > 5000
    assert not r3.allowed and r3.reason == SESSION_TOKENS
    # another session is unaffected
    assert e.reserve("dev_assistant", HAIKU, 1000, 1000, session_id="s2").allowed


def test_loop_steps_by_argument_and_by_session_count(make_config, ledger_backend, clock):
    cfg = make_config({"workflows": {"qa_test_gen": {"max_loop_steps": 2}}})
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    assert e.reserve("qa_test_gen", SONNET, 100, 100, loop_step=3).reason == LOOP_STEPS
    for _ in range(2):
        r = e.reserve("qa_test_gen", SONNET, 100, 100, session_id="agent-1")
        assert r.allowed
        e.settle(r, 100, 100)
    r = e.reserve("qa_test_gen", SONNET, 100, 100, session_id="agent-1")
    assert not r.allowed and r.reason == LOOP_STEPS


def test_holds_count_against_limits_until_settled(make_config, ledger_backend, clock):
    hold = cost_nano(HAIKU, 1000, 2000)  # the worst case a reserve of 1000 in, 2000 out holds
    cfg = make_config({"workflows": {"ci_cd_review": {"daily_usd": nano_to_usd(hold * 3 // 2)}}})  # 1.5 holds
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    a = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert a.allowed and a.held_nano == hold
    b = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert not b.allowed and b.reason == DAILY
    assert e.get_all_status()["ci_cd_review"]["held_usd"] == pytest.approx(nano_to_usd(hold))
    assert cost_nano(HAIKU, 1000, 100) + hold <= cfg.workflows["ci_cd_review"].daily_nano
    e.settle(a, 1000, 100)  # actual: 1,900 output tokens' worth less than held; the unused hold comes back
    assert e.reserve("ci_cd_review", HAIKU, 1000, 2000).allowed


# --- idempotency, release, expiry -------------------------------------------------------------


def test_double_settle_changes_nothing(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 1000, 1000, user_id="ana")
    first = enforcer.settle(r, 900, 800, 100, 50)
    second = enforcer.settle(r, 900, 800, 100, 50)
    assert second.duplicate and not first.duplicate
    assert second.cost_nano == first.cost_nano == cost_nano(HAIKU, 900, 800, 100, 50)
    assert int(enforcer.redis.get(enforcer.keys.org_spent("2026-11"))) == first.cost_nano
    assert len([ev for ev in events(enforcer) if ev["type"] == "call"]) == 1
    assert_ledger_equals_events(enforcer, "2026-11")


def test_release_returns_the_hold_and_records_nothing(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 1000, 1000)
    assert enforcer.open_holds() == 1
    assert enforcer.release(r, error="APIStatusError 500").status == RELEASED
    assert enforcer.release(r).status == ALREADY_FINAL  # idempotent
    assert enforcer.open_holds() == 0
    status = enforcer.get_all_status()["dev_assistant"]
    assert status["daily_spend"] == 0 and status["held_usd"] == 0
    failure = events(enforcer)[-1]
    assert failure["type"] == "failure" and failure["cost_nano"] == "0"


def test_settle_after_release_records_the_real_spend_once(enforcer):
    # A timeout released the hold, then the response arrived after all: the money was spent.
    r = enforcer.reserve("dev_assistant", HAIKU, 1000, 1000)
    enforcer.release(r, error="timeout")
    s = enforcer.settle(r, 1000, 200)
    assert s.cost_nano == cost_nano(HAIKU, 1000, 200) and not s.hold_found
    assert enforcer.settle(r, 1000, 200).duplicate
    assert enforcer.release(r).status == ALREADY_FINAL
    assert_ledger_equals_events(enforcer, "2026-11")


def test_expired_hold_is_purged_by_the_next_reserve(make_config, ledger_backend, clock):
    daily = nano_to_usd(cost_nano(HAIKU, 1000, 2000) * 3 // 2)  # room for one hold of 1000 in, 2000 out, not two
    cfg = make_config({"ledger": {"hold_ttl_seconds": 30}, "workflows": {"ci_cd_review": {"daily_usd": daily}}})
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    crashed = e.reserve("ci_cd_review", HAIKU, 1000, 2000)  # the worker dies here
    assert crashed.allowed
    assert not e.reserve("ci_cd_review", HAIKU, 1000, 2000).allowed
    clock.advance(seconds=31)
    after = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert after.allowed
    assert e.open_holds() == 1  # only the new one
    assert any(ev["type"] == "hold_expired" and ev["reservation"] == crashed.id for ev in events(e))


def test_refused_reservation_cannot_be_settled(enforcer):
    r = enforcer.reserve("nope", HAIKU, 1, 1)
    with pytest.raises(SettleError, match="refused"):
        enforcer.settle(r, 1, 1)


def test_negative_usage_is_rejected_before_redis(enforcer):
    r = enforcer.reserve("dev_assistant", HAIKU, 10, 10)
    with pytest.raises(SettleError, match="non-negative"):
        enforcer.settle(r, -1, 10)
    enforcer.release(r)


# --- periods --------------------------------------------------------------------------------


def test_day_rolls_over_at_local_midnight_not_utc(make_config, ledger_backend):
    daily = nano_to_usd(cost_nano(HAIKU, 1000, 2000) * 3 // 2)  # room for one call of 1000 in, 2000 out, not two
    cfg = make_config({"workflows": {"ci_cd_review": {"daily_usd": daily}}}, timezone="America/New_York")
    # 04:30 UTC on Nov 11 is still Nov 10 in New York (UTC-5)
    clock = Clock(datetime(2026, 11, 11, 4, 30, tzinfo=UTC))
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    r = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert r.day == "2026-11-10"
    e.settle(r, 1000, 2000)
    assert not e.reserve("ci_cd_review", HAIKU, 1000, 2000).allowed
    clock.now = datetime(2026, 11, 11, 5, 0, 1, tzinfo=UTC)  # 00:00:01 in New York
    r2 = e.reserve("ci_cd_review", HAIKU, 1000, 2000)
    assert r2.allowed and r2.day == "2026-11-11"


def test_month_rolls_over_in_the_configured_timezone(make_config, ledger_backend):
    limit = nano_to_usd(cost_nano(HAIKU, 1000, 2000) * 3 // 2)  # room for one call of 1000 in, 2000 out, not two
    cfg = make_config(
        {"workflows": {"pm_assistant": {"monthly_usd": limit, "daily_usd": limit}}}, timezone="Asia/Tokyo"
    )
    tokyo = ZoneInfo("Asia/Tokyo")
    clock = Clock(datetime(2026, 11, 30, 23, 0, tzinfo=tokyo))
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    e.settle(e.reserve("pm_assistant", HAIKU, 1000, 2000), 1000, 2000)
    assert not e.reserve("pm_assistant", HAIKU, 1000, 2000).allowed
    clock.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=tokyo)  # still Nov 30 in UTC
    r = e.reserve("pm_assistant", HAIKU, 1000, 2000)
    assert r.allowed and r.month == "2026-12"
    assert e.get_org_status()["spend"] == 0


# --- status and health ------------------------------------------------------------------------


def test_status_keys_health_and_reserve(make_config, ledger_backend, clock):
    # Budgets many worst-case calls wide: with less than one call left a period is CRIT (test_health.py).
    cfg = make_config(
        {"org": {"monthly_usd": 100, "reserve_pct": 0.2}},
        workflows={
            wid: {"monthly_usd": 25, "daily_usd": 25}
            for wid in ("ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant")
        },
    )
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    status = e.get_all_status()
    assert set(status["ci_cd_review"]) >= {
        "daily_spend",
        "daily_limit",
        "daily_pct",
        "monthly_spend",
        "monthly_limit",
        "monthly_pct",
        "health",
        "held_usd",
    }
    assert all(s["health"] == "OK" for s in status.values())
    share = Decimal("0.832")  # of each workflow's $25 budget: $20.80
    target = int(cfg.workflows["pm_assistant"].monthly_nano * share)
    out = (target - cost_nano(HAIKU, 1000, 0)) // cost_nano(HAIKU, 0, 1)
    for wid in ("ci_cd_review", "dev_assistant", "qa_test_gen", "pm_assistant"):
        e.settle(e.reserve(wid, HAIKU, 1000, 5000), 1000, out)  # the output tokens that cost the rest of $20.80
    org = e.get_org_status()
    assert org["reserve_state"] == "reserve" and org["in_reserve"]  # $83.20 > $80
    status = e.get_all_status()
    assert status["pm_assistant"]["health"] == "WARN"
    assert e.pressure("pm_assistant") == (True, pytest.approx(float(share)))


def test_health_looks_at_monthly_and_org_not_daily_alone(make_config, ledger_backend, clock):
    cfg = make_config({"workflows": {"pm_assistant": {"monthly_usd": 20, "daily_usd": 20}}})
    e = BudgetEnforcer(cfg, redis_url=ledger_backend, clock=clock)
    target = cfg.workflows["pm_assistant"].monthly_nano * 84 // 100  # $16.80 = 84%
    out = (target - cost_nano(HAIKU, 1000, 0)) // cost_nano(HAIKU, 0, 1)  # the output tokens that cost the rest
    e.settle(e.reserve("pm_assistant", HAIKU, 1000, 4000), 1000, out)
    clock.advance(days=1)
    s = e.get_all_status()["pm_assistant"]
    assert s["daily_pct"] == 0 and s["monthly_pct"] == pytest.approx(84.0)
    assert s["health"] == "WARN"


# --- Redis faults -----------------------------------------------------------------------------


def test_redis_down_is_a_clear_error(default_config, fresh_redis, clock):
    server = fresh_redis(password="pw-that-must-not-leak")
    e = BudgetEnforcer(default_config, redis_url=server.url, clock=clock)
    server.stop()
    with pytest.raises(LedgerUnavailable) as err:
        e.reserve("ci_cd_review", HAIKU, 100, 100)
    message = str(err.value)
    assert "unreachable" in message and "fail_open" in message
    assert "pw-that-must-not-leak" not in message


def test_fail_open_lets_calls_through_loudly(make_config, fresh_redis, clock, caplog):
    cfg = make_config({"ledger": {"fail_open": True}})
    server = fresh_redis()
    e = BudgetEnforcer(cfg, redis_url=server.url, clock=clock)
    server.stop()
    with caplog.at_level("WARNING"):
        r = e.reserve("ci_cd_review", HAIKU, 100, 100)
        s = e.settle(r, 100, 50)
    assert r.allowed and r.fail_open and r.reason == "ledger_unavailable"
    assert any("UNBUDGETED" in w for w in r.warnings)
    assert s.cost_nano == cost_nano(HAIKU, 100, 50)
    assert "LEDGER UNREACHABLE" in caplog.text


def test_restart_with_aof_loses_nothing(default_config, fresh_redis, clock):
    server = fresh_redis("--appendonly", "yes", "--appendfsync", "always")
    e = BudgetEnforcer(default_config, redis_url=server.url, clock=clock)
    total = 0
    for _ in range(5):
        r = e.reserve("dev_assistant", HAIKU, 1000, 500)
        total += e.settle(r, 1000, 500).cost_nano
    pending = e.reserve("dev_assistant", HAIKU, 1000, 500)
    server.restart()
    e2 = BudgetEnforcer(default_config, redis_url=server.url, clock=clock)
    assert int(e2.redis.get(e2.keys.org_spent("2026-11"))) == total
    assert e2.open_holds() == 1
    total += e2.settle(pending, 1000, 500).cost_nano  # the hold survived the restart too
    assert e2.open_holds() == 0
    assert_ledger_equals_events(e2, "2026-11")
    assert e2.get_org_status()["spend_nano"] == total


def test_scripts_are_reloaded_after_script_flush(enforcer):
    enforcer.redis.script_flush()
    assert enforcer.reserve("ci_cd_review", HAIKU, 10, 10).allowed


def test_one_round_trip_per_reserve_and_settle(enforcer, monkeypatch):
    """Counted on the wire (every packed send a connection makes), whichever path a script takes."""
    import redis

    enforcer.check_and_record("ci_cd_review", HAIKU, 10, 10)  # scripts now cached server-side
    sent = []
    original = redis.connection.Connection.send_packed_command

    def counting(self, command, *args, **kwargs):
        chunks = [command] if isinstance(command, (bytes, str)) else command
        head = chunks[0] if isinstance(chunks[0], bytes) else chunks[0].encode()
        sent.append(head.split(b"\r\n")[2].decode().upper())
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    r = enforcer.reserve("ci_cd_review", HAIKU, 10, 10)
    enforcer.settle(r, 10, 10)
    assert sent == ["EVALSHA", "EVALSHA"]


def test_events_are_kept_when_the_ledger_clock_is_far_from_redis_time(default_config, ledger_backend):
    # A simulated clock years ahead must not make the stream trim everything: retention runs on Redis time.
    future = Clock(datetime(2031, 3, 1, 12, 0, tzinfo=UTC))
    e = BudgetEnforcer(default_config, redis_url=ledger_backend, clock=future)
    e.settle(e.reserve("ci_cd_review", HAIKU, 100, 100), 100, 100)
    e.settle(e.reserve("ci_cd_review", HAIKU, 100, 100), 100, 100)
    assert [ev["type"] for ev in events(e)] == ["call", "call"]


# --- the ledger's API for the layers above (issue 18): they never reach into its keys or connection ---------


def test_events_reads_the_stream_by_workflow_and_time(enforcer, clock):
    enforcer.check_and_record("ci_cd_review", HAIKU, 100, 100)
    enforcer.check_and_record("dev_assistant", HAIKU, 100, 100)
    clock.advance(hours=1)
    later_ms = int(clock.now.timestamp() * 1000)
    enforcer.check_and_record("ci_cd_review", HAIKU, 200, 100)
    enforcer.release(enforcer.reserve("ci_cd_review", HAIKU, 10, 10), "boom")

    every = list(enforcer.events())
    assert [ev["type"] for ev in every] == [ev["type"] for ev in events(enforcer)]  # the whole stream, in order
    assert all(isinstance(ev["ts_ms"], int) for ev in every)
    ci = list(enforcer.events(workflow="ci_cd_review"))
    assert [ev["type"] for ev in ci] == ["call", "call", "failure"]
    recent = list(enforcer.events(later_ms, "ci_cd_review", types=["call"]))
    assert [(ev["type"], ev["input_tokens"]) for ev in recent] == [("call", 200)]
    assert [ev["workflow"] for ev in enforcer.events(until_ms=later_ms, types=["call"])] == [
        "ci_cd_review",
        "dev_assistant",
    ]


def test_month_figures_read_what_status_reads_in_one_round_trip(enforcer, monkeypatch):
    enforcer.check_and_record("ci_cd_review", HAIKU, 2800, 500)
    held = enforcer.reserve("dev_assistant", HAIKU, 1000, 1000)  # left open: a held figure
    enforcer.redis.hset(enforcer.keys.alert("seen", "2026-11"), "blocked|x|y", "3")
    status = enforcer._read_counters()

    sent = []
    original = enforcer.redis.pipeline

    def counting(*args, **kwargs):
        sent.append("pipeline")
        return original(*args, **kwargs)

    monkeypatch.setattr(enforcer.redis, "pipeline", counting)
    figures = enforcer.month_figures("2026-11", "2026-11-10", hashes=[enforcer.keys.alert("seen", "2026-11")])
    assert sent == ["pipeline"]
    assert dict(figures.counters) == {name: status[name] for name in figures.counters}
    assert len(figures.counters) == 2 + 4 * len(enforcer.config.workflows)
    assert figures.counters["dev_assistant:d_held"] == held.held_nano
    raw = {k.decode(): int(v) for k, v in enforcer.redis.hgetall(enforcer.keys.stats("2026-11")).items()}
    assert dict(figures.stats) == raw == enforcer.month_stats("2026-11")
    assert figures.hashes == ({"blocked|x|y": "3"},)
    monthly = enforcer.month_figures("2026-11", "2026-11-10", ["ci_cd_review"], day_held=False).counters
    assert sorted(monthly) == ["ci_cd_review:d_spent", "ci_cd_review:m_held", "ci_cd_review:m_spent", "org_held",
                               "org_spent"]


def test_an_alert_delivery_failure_is_an_event_and_a_count(enforcer, clock):
    enforcer.check_and_record("ci_cd_review", HAIKU, 100, 100)
    ts_ms = int(clock.now.timestamp() * 1000)
    fields = {"type": "alert_delivery_failed", "ts_ms": ts_ms, "cost_nano": 0, "channel": "slack", "status": ""}
    enforcer.record_alert_failure(fields, "2026-11", "slack")
    last = events(enforcer)[-1]
    assert last == {"type": "alert_delivery_failed", "ts_ms": str(ts_ms), "cost_nano": "0", "channel": "slack"}
    assert enforcer.month_stats("2026-11")["alert_failed|slack"] == 1
    assert_ledger_equals_events(enforcer, "2026-11")
    assert enforcer.keys.alert("incidents") == enforcer.keys.incidents()


def test_where_and_ledger_id_never_show_the_password(default_config):
    import redis

    from acme_ci_budget.ledger import journal

    url = "redis://:hunter2-not-shown@127.0.0.1:1/0"
    e = BudgetEnforcer(default_config, redis_url=url, redis=redis.Redis(port=1))  # nothing is sent
    assert "hunter2" not in e.where and "127.0.0.1:1" in e.where
    assert e.ledger_id == journal.ledger_id(url) and "hunter2" not in e.ledger_id


def test_nothing_above_the_ledger_reaches_into_its_keys_or_connection():
    import re
    from pathlib import Path

    import acme_ci_budget

    reach = re.compile(r"\b(enforcer|ledger)\.(keys|redis)\b|\.keys\.[a-z_]+\(")
    root = Path(acme_ci_budget.__file__).parent
    found = [
        f"{path.relative_to(root)}:{n}: {line.strip()}"
        for path in sorted(root.rglob("*.py"))
        if path.relative_to(root).parts[0] != "ledger"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reach.search(line)
    ]
    assert found == []


def test_every_name_the_ledger_exported_still_resolves_to_one_object():
    import acme_ci_budget.ledger as ledger
    from acme_ci_budget.ledger import enforcer, errors, results, status

    for name in ("Reservation", "Settlement", "Release", "RELEASED", "DAILY", "LEDGER_DOWN", "UNKNOWN_RESERVATION"):
        assert getattr(enforcer, name) is getattr(results, name)
    for name in ("LedgerUnavailable", "SettleError", "LedgerArgumentError"):
        assert getattr(enforcer, name) is getattr(errors, name) is getattr(ledger, name)
    assert ledger.Reservation is results.Reservation and ledger.Keys is enforcer.Keys
    assert status.is_connection_error is errors.is_connection_error
    assert enforcer.BudgetEnforcer.check_and_record.__module__ == "acme_ci_budget.ledger.lab"
    assert enforcer.BudgetEnforcer.reset.__module__ == "acme_ci_budget.ledger.admin"
