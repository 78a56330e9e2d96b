"""Agent runs on the ledger (ledger/agent_runs.py, lua/reserve_run.lua, lua/settle_run.lua) on a real Redis.

The USD hold is the least of the request and the room under every money limit, decided in one script;
the settle prices each model's tokens at our prices, records the agent's estimate beside them, flags
a cost above the hold and charges a run without usage its full hold. Both backends (``ledger_backend``).
"""

from __future__ import annotations

import threading

import pytest

from acme_ci_budget.catalog.pricing import cost_nano
from acme_ci_budget.ledger.agent_runs import MIN_RUN_HOLD_NANO, USAGE_MISSING_MODEL, RunUsage
from acme_ci_budget.ledger.enforcer import DAILY, MONTHLY, ORG_MONTHLY, RELEASED, BudgetEnforcer, SettleError

USD = 1_000_000_000
WF = "dev_assistant"
MONTH, DAY = "2026-11", "2026-11-10"


def models(e: BudgetEnforcer) -> tuple[str, str]:
    routing = e.config.workflow(WF).routing
    return routing.default_model, routing.complex_model


def events(e: BudgetEnforcer) -> list[dict]:
    return [{k.decode(): v.decode() for k, v in f.items()} for _id, f in e.redis.xrange(e.keys.events())]


def counter(e: BudgetEnforcer, key: str) -> int:
    return int(e.redis.get(key) or 0)


def assert_ledger_equals_events(e: BudgetEnforcer) -> None:
    calls = [ev for ev in events(e) if ev["type"] == "call"]
    assert counter(e, e.keys.org_spent(MONTH)) == sum(int(ev["cost_nano"]) for ev in calls)
    assert counter(e, e.keys.wf_spent_day(WF, DAY)) == sum(int(ev["cost_nano"]) for ev in calls if ev["workflow"] == WF)


def base_tier_cost(e: BudgetEnforcer, u: RunUsage) -> int:
    """Our price of one model's usage in a run: the base tier (it is summed over many requests)."""
    counts = (u.input_tokens, u.output_tokens, u.cache_write_tokens, u.cache_read_tokens)
    return cost_nano(u.model, *counts, overrides=e.config.pricing, tier_prompt_tokens=0)


def spend(e: BudgetEnforcer, nano: int) -> None:
    """Spend ``nano`` on the workflow through the run path itself (a run without usage at that hold)."""
    r = e.reserve_run(WF, nano, 60, minimum_nano=nano)
    assert r.allowed and r.held_nano == nano
    e.settle_run(r, None)


def test_the_request_is_held_whole_when_it_fits(enforcer):
    r = enforcer.reserve_run(WF, 2 * USD, 600, task_id="t-1")
    assert r.allowed and r.held_nano == 2 * USD and r.id.startswith("run-")
    assert counter(enforcer, enforcer.keys.wf_held_day(WF, DAY)) == 2 * USD
    assert counter(enforcer, enforcer.keys.org_held(MONTH)) == 2 * USD
    assert r.headroom["daily_remaining_nano"] == 10 * USD  # $12 a day less the hold
    assert enforcer.open_holds() == 1


def test_the_hold_is_cut_to_the_room_left_under_the_day(enforcer):
    spend(enforcer, 11 * USD)  # $1 left of the day's $12
    r = enforcer.reserve_run(WF, 5 * USD, 600)
    assert r.allowed and r.held_nano == 1 * USD
    other = enforcer.reserve_run(WF, 5 * USD, 600)  # the first hold took the room
    assert not other.allowed and other.reason == DAILY and other.held_nano == 0
    [block] = [ev for ev in events(enforcer) if ev["type"] == "block"]
    assert block["reason"] == DAILY and block["requested_nano"] == str(5 * USD) and block["workflow"] == WF


def test_refused_when_the_room_is_below_the_minimum_useful_hold(enforcer):
    spend(enforcer, 12 * USD - MIN_RUN_HOLD_NANO + 1)  # one nano-USD short of the minimum left
    r = enforcer.reserve_run(WF, 2 * USD, 600)
    assert not r.allowed and r.reason == DAILY
    assert counter(enforcer, enforcer.keys.wf_held_day(WF, DAY)) == 0
    # a request smaller than the minimum that fits is held whole: the caller asked for a small run
    small = enforcer.reserve_run(WF, MIN_RUN_HOLD_NANO // 2, 600)
    assert small.allowed and small.held_nano == MIN_RUN_HOLD_NANO // 2


def test_the_tightest_limit_names_the_refusal(make_config, ledger_backend, clock):
    month_bound = make_config({"workflows": {WF: {"monthly_usd": 12}}})
    e = BudgetEnforcer(month_bound, redis_url=ledger_backend, clock=clock)
    spend(e, 12 * USD)
    assert e.reserve_run(WF, USD, 60).reason == MONTHLY  # equal rooms: the month is named before the day
    org_bound = make_config({"org": {"monthly_usd": 700}, "workflows": {WF: {"monthly_usd": 250}}}, namespace="org")
    e2 = BudgetEnforcer(org_bound, redis_url=ledger_backend, clock=clock)
    e2.redis.set(e2.keys.org_spent(MONTH), 700 * USD)
    assert e2.reserve_run(WF, USD, 60).reason == ORG_MONTHLY


def test_settle_prices_each_model_at_our_prices_and_records_the_agents_estimate(enforcer):
    cheap, strong = models(enforcer)
    r = enforcer.reserve_run(WF, 2 * USD, 600, task_id="t-9")
    usage = [RunUsage(strong, 1200, 3400, 15000, 90000, 123_456_789), RunUsage(cheap, 800, 200, 0, 4000, 1_000_000)]
    done = enforcer.settle_run(r, usage, agent_cost_nano=124_456_789, outcome="success")
    priced = [base_tier_cost(enforcer, u) for u in usage]
    assert done.cost_nano == sum(priced) and [line.cost_nano for line in done.lines] == priced
    assert done.settlement.hold_found and done.settlement.over_hold_nano == 0
    assert done.tokens("cache_read_tokens") == 94000 and done.models[0] == strong
    assert counter(enforcer, enforcer.keys.wf_held_day(WF, DAY)) == 0 and enforcer.open_holds() == 0
    calls = [ev for ev in events(enforcer) if ev["type"] == "call"]
    assert [ev["model"] for ev in calls] == [strong, cheap]
    assert calls[0]["agent_cost_nano"] == "123456789" and calls[0]["agent_total_cost_nano"] == "124456789"
    assert calls[0]["task"] == "t-9" and calls[0]["agent_outcome"] == "success" and calls[0]["priced_by"] == "pricing"
    assert calls[0]["held_nano"] == str(2 * USD) and "usage_missing" not in calls[0]
    stats = {k.decode(): int(v) for k, v in enforcer.redis.hgetall(enforcer.keys.stats(MONTH)).items()}
    assert stats[f"calls|{WF}"] == 1 and stats[f"agent_runs|{WF}"] == 1 and stats[f"cost|{WF}|{strong}"] == priced[0]
    assert_ledger_equals_events(enforcer)
    again = enforcer.settle_run(r, usage)  # idempotent by id
    assert again.settlement.duplicate and again.cost_nano == done.cost_nano
    assert_ledger_equals_events(enforcer)


def test_a_cost_above_the_hold_is_recorded_and_flagged(enforcer):
    _cheap, strong = models(enforcer)
    r = enforcer.reserve_run(WF, MIN_RUN_HOLD_NANO, 600)
    usage = [RunUsage(strong, 10_000, 200_000, 0, 0)]
    done = enforcer.settle_run(r, usage)
    expected = base_tier_cost(enforcer, usage[0])
    assert done.cost_nano == expected > r.held_nano
    assert done.settlement.over_hold_nano == expected - r.held_nano
    [call] = [ev for ev in events(enforcer) if ev["type"] == "call"]
    assert call["over_hold_nano"] == str(expected - r.held_nano)
    assert_ledger_equals_events(enforcer)


def test_no_usage_settles_at_the_full_hold_flagged(enforcer):
    r = enforcer.reserve_run(WF, 3 * USD, 600)
    done = enforcer.settle_run(r, None, outcome="crashed")
    assert done.cost_nano == 3 * USD and done.settlement.usage_missing
    [call] = [ev for ev in events(enforcer) if ev["type"] == "call"]
    assert call["usage_missing"] == "1" and call["model"] == USAGE_MISSING_MODEL and call["priced_by"] == "hold"
    assert_ledger_equals_events(enforcer)


def test_a_runs_summed_usage_is_priced_at_the_base_tier_not_the_long_context_one(enforcer):
    cheap, _strong = models(enforcer)
    r = enforcer.reserve_run(WF, USD, 600)
    usage = RunUsage(cheap, 1000, 1000, 0, 2_000_000)  # many turns' cache reads, far above any tier's start
    done = enforcer.settle_run(r, [usage])
    assert done.cost_nano == base_tier_cost(enforcer, usage) < enforcer.usage_cost(cheap, 1000, 1000, 0, 2_000_000)


def test_a_model_without_a_price_is_charged_the_agents_estimate_else_the_hold(enforcer):
    r = enforcer.reserve_run(WF, USD, 600)
    done = enforcer.settle_run(r, [RunUsage("claude-nonexistent-9", 10, 10, 0, 0, 7_000_000)])
    assert done.cost_nano == 7_000_000 and done.lines[0].priced_by == "agent"
    r2 = enforcer.reserve_run(WF, USD, 600)
    assert enforcer.settle_run(r2, [RunUsage("claude-nonexistent-9", 10, 10, 0, 0)]).cost_nano == USD
    assert_ledger_equals_events(enforcer)


def test_another_process_finds_the_run_and_settles_it_after_its_hold_expired(enforcer, clock):
    cheap, _strong = models(enforcer)
    r = enforcer.reserve_run(WF, USD, 60)
    clock.advance(seconds=61)
    enforcer.reserve_run(WF, USD, 60)  # purges the expired hold
    found = enforcer.load_run(r.id)
    assert found is not None and (found.workflow_id, found.day, found.held_nano) == (WF, DAY, USD)
    clock.advance(days=1)  # settled the next day: charged to the day it was reserved on
    done = enforcer.settle_run(found, [RunUsage(cheap, 1000, 1000, 0, 0)])
    assert not done.settlement.hold_found and done.settlement.over_hold_nano == done.cost_nano
    assert counter(enforcer, enforcer.keys.wf_spent_day(WF, DAY)) == done.cost_nano
    assert enforcer.load_run("run-" + "0" * 32) is None
    with pytest.raises(SettleError, match="not a run reservation id"):
        enforcer.load_run("../../etc")


def test_a_run_that_never_started_is_released(enforcer):
    r = enforcer.reserve_run(WF, USD, 600)
    assert enforcer.release(r, error="command not found").status == RELEASED
    assert counter(enforcer, enforcer.keys.wf_held_day(WF, DAY)) == 0
    assert counter(enforcer, enforcer.keys.wf_spent_day(WF, DAY)) == 0


def test_racing_holds_never_exceed_the_room(enforcer):
    spend(enforcer, 9 * USD)  # $3 left of the day
    results = []

    def grab() -> None:
        results.append(enforcer.reserve_run(WF, 1_100_000_000, 600))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [r.held_nano for r in results if r.allowed]
    assert sum(held) == 3 * USD and sorted(held) == [800_000_000, 1_100_000_000, 1_100_000_000]
    assert counter(enforcer, enforcer.keys.wf_held_day(WF, DAY)) == 3 * USD
